/*
 * gate.c - the Moodle upgrade gate's steps: Moodle's own CLI (maintenance
 * mode, cache purge) run on a fleet's instance.
 */
#include "deploy_private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLS MDEPLOY_ERROR_CLASS_DEPLOY

/*
 * Moodle's own CLI on the first running instance of fleet `target`:
 * maintenance on or off (a shared dataroot makes it apply to every fleet),
 * or purging caches (theme and JavaScript revisions bumped). A release
 * without the script (not a Moodle tree) skips it.
 */
int mdeploy_deploy__s_moodle_cli(mdeploy_deploy__run *r, const char *target, void *arg)
{
	const char *what = arg;
	const char *script = !strcmp(what, "purge-caches") ? "admin/cli/purge_caches.php" : "admin/cli/maintenance.php";
	const char *flag = !strcmp(what, "maintenance-on") ? "--enable" : !strcmp(what, "maintenance-off") ? "--disable" : NULL;
	mdeploy_exec_options eo = MDEPLOY_EXEC_OPTIONS_INIT;
	mdeploy_exec_result *res = NULL;
	inst_list l;
	char cwd[1100], path[1200];
	size_t i;
	int rc;

	if ((rc = mdeploy_deploy__instances(r, target, &l)))
		return rc;
	for (i = 0; i < l.n && !l.running[i]; i++)
		;
	if (i == l.n)
		return mdeploy__error_set(MDEPLOY_ECONFLICT, CLS, "fleet %s has no running instance for %s", target, what);
	snprintf(cwd, sizeof(cwd), "%s/current", l.root[i]);
	snprintf(path, sizeof(path), "%s/%s", cwd, script);
	if (!mdeploy__path_exists(path)) {
		mdeploy__log(r->ctx, MDEPLOY_LOG_WARN, "deploy", "%s: %s: no %s in the release; skipped", r->id, what, script);
		return 0;
	}
	{
		const char *argv[] = { "php", script, flag ? flag : NULL, NULL };
		eo.cwd = cwd;
		eo.search_path = 1;
		eo.merge_stderr = 1;
		eo.timeout_ms = 600000;
		if ((rc = mdeploy_exec_run(&res, argv, &eo)))
			return rc;
	}
	if (!mdeploy_exec_result_success(res))
		rc = mdeploy__error_set(MDEPLOY_EHOOK, CLS, "%s on %s: php %s %s %s: %.400s", what, l.id[i], script,
		                        flag ? flag : "", mdeploy_exec_result_describe(res), mdeploy_exec_result_stdout(res, NULL));
	mdeploy_exec_result_free(res);
	return rc;
}

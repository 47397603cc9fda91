/* The agent's public API as an orchestrator uses it: open, install,
 * run-event, rollback, status, and the error codes it promises. */
#include "mdeploy_private.h"
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void write_file(const char *dir, const char *name, const char *content, mode_t mode)
{
	char path[1024];
	FILE *f;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	fputs(content, f);
	fclose(f);
	chmod(path, mode);
}

/* A revision whose hooks append "EVENT" to SHARED/trace; fails at `fail` if given. */
static char *mkrev(const char *tmp, const char *name, const char *fail)
{
	static const char *const events[] = { "ApplicationStop", "BeforeInstall", "AfterInstall",
	                                      "ApplicationStart", "ValidateService" };
	mdeploy__buf spec = MDEPLOY__BUF_INIT;
	char *dir = mdeploy__sprintf("%s/%s", tmp, name), *scripts = mdeploy__sprintf("%s/scripts", dir);
	size_t i;

	mdeploy__mkdir_p(scripts, 0755);
	mdeploy__buf_puts(&spec, "version: 0.0\nos: linux\nhooks:\n");
	for (i = 0; i < MDEPLOY__ARRAY_SIZE(events); i++)
		mdeploy__buf_printf(&spec, "  %s:\n    - location: scripts/hook.sh\n      timeout: 20\n", events[i]);
	write_file(dir, "appspec.yml", mdeploy__buf_cstr(&spec), 0644);
	write_file(scripts, "hook.sh",
	           "#!/bin/sh\necho \"$LIFECYCLE_EVENT\" >>\"$MDEPLOY_SHARED_DIR/trace\"\n"
	           "[ ! -f \"$MDEPLOY_RELEASE_DIR/fail-$LIFECYCLE_EVENT\" ] || { echo failing; exit 4; }\n", 0755);
	if (fail) {
		char n[64];
		snprintf(n, sizeof(n), "fail-%s", fail);
		write_file(dir, n, "", 0644);
	}
	mdeploy__buf_dispose(&spec);
	free(scripts);
	return dir;
}

static char *trace(mdeploy_agent *a)
{
	char *path = mdeploy__sprintf("%s/shared/trace", mdeploy_agent_root(a)), *data = NULL, *p;
	if (mdeploy__file_read(&data, NULL, path) != 0)
		data = mdeploy__strdup("");
	unlink(path);
	free(path);
	for (p = data; *p; p++)
		if (*p == '\n')
			*p = ' ';
	return data;
}

int main(void)
{
	const char *tmp = test_tmpdir();
	char *root = mdeploy__sprintf("%s/root", tmp);
	char *r1 = mkrev(tmp, "r1", NULL), *r2 = mkrev(tmp, "r2", NULL), *bad = mkrev(tmp, "bad", "ValidateService");
	mdeploy_agent_options o;
	mdeploy_agent_deployment d;
	mdeploy_agent *a = NULL, *b = NULL;
	const mdeploy_agent_history_entry *h;
	char *t;
	int rc;

	plan_lazy();

	is_int(0, mdeploy_agent_options_init(&o, MDEPLOY_AGENT_OPTIONS_VERSION), "options_init");
	is_int(MDEPLOY_EVERSION, mdeploy_agent_options_init(&o, 99), "options_init: unknown version");
	is_int(0, mdeploy_agent_deployment_init(&d, MDEPLOY_AGENT_DEPLOYMENT_VERSION), "deployment_init");
	ok(d.run_once_hooks == 1, "once hooks run by default");
	o.keep_releases = 2;
	is_int(0, mdeploy_agent_open(&a, root, &o), "open creates the root");
	ok(mdeploy_agent_live(a) == NULL && mdeploy_agent_last_successful(a) == NULL, "fresh root: nothing live");

	d.deployment_id = "../evil";
	is_int(MDEPLOY_EINVALID, mdeploy_agent_install(a, r1, &d), "a deployment id with a slash is refused");

	d.deployment_id = "d-AAAAAAAA1";
	rc = mdeploy_agent_install(a, r1, &d);
	is_int(0, rc, "install from a directory (%s)", rc ? mdeploy_error_last()->message : "ok");
	t = trace(a);
	is_str("BeforeInstall AfterInstall ApplicationStart ValidateService ", t, "first install: events in order");
	free(t);
	is_str("d-AAAAAAAA1", mdeploy_agent_live(a), "live after install");
	is_int(MDEPLOY_ECONFLICT, mdeploy_agent_install(a, r1, &d), "installing the live deployment again: conflict");

	/* The orchestrator's way: one event at a time. */
	d.deployment_id = "d-AAAAAAAA2";
	is_int(MDEPLOY_ECONFLICT, mdeploy_agent_run_event(a, "AfterInstall", NULL, &d), "AfterInstall before DownloadBundle: conflict");
	is_int(MDEPLOY_EINVALID, mdeploy_agent_run_event(a, "DownloadBundle", NULL, &d), "DownloadBundle without a source");
	is_int(MDEPLOY_EINVALID, mdeploy_agent_run_event(a, "BlockTraffic", NULL, &d), "BlockTraffic is not the agent's");
	is_int(0, mdeploy_agent_run_event(a, "ApplicationStop", NULL, &d), "run ApplicationStop");
	is_str("d-AAAAAAAA2", mdeploy_agent_pending(a), "deployment in progress");
	is_int(0, mdeploy_agent_run_event(a, "DownloadBundle", r2, &d), "run DownloadBundle");
	is_int(0, mdeploy_agent_run_event(a, "BeforeInstall", NULL, &d), "run BeforeInstall");
	is_str("d-AAAAAAAA1", mdeploy_agent_live(a), "still the old release before Install");
	/* Another handle on the same root cannot work while this one holds the lock... */
	is_int(0, mdeploy_agent_open(&b, root, NULL), "second handle opens");
	is_int(0, mdeploy_agent_run_event(a, "Install", NULL, &d), "run Install");
	is_str("d-AAAAAAAA2", mdeploy_agent_live(a), "new release live after Install");
	is_int(0, mdeploy_agent_run_event(a, "AfterInstall", NULL, &d), "run AfterInstall");
	is_int(0, mdeploy_agent_run_event(a, "ApplicationStart", NULL, &d), "run ApplicationStart");
	is_int(0, mdeploy_agent_run_event(a, "ValidateService", NULL, &d), "run ValidateService");
	is_str("d-AAAAAAAA2", mdeploy_agent_last_successful(a), "ValidateService makes it the last successful");
	is_str("d-AAAAAAAA1", mdeploy_agent_previous(a), "previous");
	ok(mdeploy_agent_pending(a) == NULL, "nothing in progress");
	t = trace(a);
	is_str("ApplicationStop BeforeInstall AfterInstall ApplicationStart ValidateService ", t,
	       "run-event: each event's scripts");
	free(t);

	/* A failure at ValidateService. */
	d.deployment_id = "d-AAAAAAAA3";
	rc = mdeploy_agent_install(a, bad, &d);
	is_int(MDEPLOY_EHOOK, rc, "failing hook: MDEPLOY_EHOOK");
	like(mdeploy_error_last()->message, "ValidateService: script 'scripts/hook.sh' exited with status 4", "message");
	like(mdeploy_error_last()->message, "| failing", "message has the output");
	is_str("d-AAAAAAAA2", mdeploy_agent_live(a), "previous release live");
	h = mdeploy_agent_history_at(a, mdeploy_agent_history_count(a) - 1);
	ok(h && !strcmp(h->deployment_id, "d-AAAAAAAA3") && !strcmp(h->status, "Failed") &&
	   !strcmp(h->event, "ValidateService") && h->finished >= h->started && h->started > 0,
	   "history: failed at ValidateService");
	ok(h && h->log_path && strstr(h->log_path, "/logs/d-AAAAAAAA3.log"), "history: log path");
	free(trace(a));

	is_int(0, mdeploy_agent_refresh(b), "refresh another handle");
	is_str("d-AAAAAAAA2", mdeploy_agent_live(b), "other handle sees the live release");

	is_int(0, mdeploy_agent_rollback(a, NULL), "rollback");
	is_str("d-AAAAAAAA1", mdeploy_agent_live(a), "rollback: previous release live");
	is_str("d-AAAAAAAA1", mdeploy_agent_last_successful(a), "rollback: last successful");
	t = trace(a);
	is_str("ApplicationStop ApplicationStart ValidateService ", t, "rollback: stop old, start previous");
	free(t);
	is_int(MDEPLOY_ENOTFOUND, mdeploy_agent_rollback(a, NULL), "nothing further to roll back to");

	d.deployment_id = "d-AAAAAAAA4";
	is_int(0, mdeploy_agent_install(a, r2, &d), "install after rollback");
	/* keep_releases 2: the failed d-3 and rolled-back d-2 go before d-1, the rollback target. */
	is_int(2, (long long)mdeploy_agent_release_count(a), "keep_releases 2");
	is_str("d-AAAAAAAA1", mdeploy_agent_release_at(a, 0), "kept: the previous one");
	is_str("d-AAAAAAAA4", mdeploy_agent_release_at(a, 1), "kept: the live one");
	free(trace(a));

	/* Bundles: signed by a trusted key installs; unsigned or untrusted does not. */
	{
		mdeploy_bundle_create_options bo = MDEPLOY_BUNDLE_CREATE_OPTIONS_INIT;
		char *priv = mdeploy__sprintf("%s/k.pem", tmp), *pub = mdeploy__sprintf("%s/k.pub", tmp);
		char *priv2 = mdeploy__sprintf("%s/k2.pem", tmp), *pub2 = mdeploy__sprintf("%s/k2.pub", tmp);
		char *signed_b = mdeploy__sprintf("%s/signed.tar.zst", tmp);
		char *unsigned_b = mdeploy__sprintf("%s/unsigned.tgz", tmp);
		char *sroot = mdeploy__sprintf("%s/sroot", tmp);
		const char *keys[] = { pub, NULL }, *other[] = { pub2, NULL };
		mdeploy_agent *s = NULL;

		is_int(0, mdeploy_key_generate(priv, pub, NULL), "key pair");
		is_int(0, mdeploy_key_generate(priv2, pub2, NULL), "another key pair");
		bo.signing_key = priv;
		is_int(0, mdeploy_bundle_create(signed_b, r2, &bo), "signed bundle");
		is_int(0, mdeploy_bundle_create(unsigned_b, r1, NULL), "unsigned bundle");
		o.trusted_keys = keys;
		is_int(0, mdeploy_agent_open(&s, sroot, &o), "agent requiring signed bundles");
		d.deployment_id = "d-SIGNED001";
		rc = mdeploy_agent_install(s, signed_b, &d);
		is_int(0, rc, "signed bundle installs (%s)", rc ? mdeploy_error_last()->message : "ok");
		is_str("d-SIGNED001", mdeploy_agent_live(s), "signed bundle live");
		d.deployment_id = "d-UNSIGNED1";
		ok(mdeploy_agent_install(s, unsigned_b, &d) != 0, "unsigned bundle refused");
		diag("%s", mdeploy_error_last()->message);
		is_str("d-SIGNED001", mdeploy_agent_live(s), "unsigned refused: previous release live");
		mdeploy_agent_free(s);
		s = NULL;
		o.trusted_keys = other;
		is_int(0, mdeploy_agent_open(&s, sroot, &o), "agent trusting another key");
		d.deployment_id = "d-SIGNED002";
		ok(mdeploy_agent_install(s, signed_b, &d) != 0, "bundle signed by an untrusted key refused");
		is_str("d-SIGNED001", mdeploy_agent_live(s), "untrusted refused: previous release live");
		mdeploy_agent_free(s);
		free(priv); free(pub); free(priv2); free(pub2); free(signed_b); free(unsigned_b); free(sroot);
		free(trace(a));
	}

	mdeploy_agent_free(b);
	mdeploy_agent_free(a);
	mdeploy_agent_free(NULL);
	free(root);
	free(r1);
	free(r2);
	free(bad);
	return done();
}

/* The shared library as a program sees it: only public headers. */
#include <mdeploy.h>
#include "tap.h"

#include <string.h>

int main(void)
{
	int maj = -1, min = -1, pat = -1;
	const char *argv[] = { "/bin/echo", "linked", NULL };
	mdeploy_exec_result *r = NULL;
	const mdeploy_dependency *d;
	size_t n = 0, i;
	int found_git = 0;

	plan_lazy();
	is_str(MDEPLOY_VERSION_STRING, mdeploy_version(&maj, &min, &pat), "runtime version matches headers");
	is_int(MDEPLOY_VERSION_MAJOR, maj, "major");
	is_int(MDEPLOY_VERSION_MINOR, min, "minor");
	is_int(MDEPLOY_VERSION_PATCH, pat, "patch");
	d = mdeploy_dependencies(&n);
	is_int(7, (long long)n, "seven dependencies listed");
	for (i = 0; i < n; i++)
		if (!strcmp(d[i].name, "libgit2") && d[i].version && *d[i].version)
			found_git = 1;
	ok(found_git, "libgit2 version reported");
	is_int(0, mdeploy_exec_run(&r, argv, NULL), "exec through the shared library");
	is_str("linked\n", r ? mdeploy_exec_result_stdout(r, NULL) : NULL, "output");
	mdeploy_exec_result_free(r);
	is_str("timed out", mdeploy_strerror(MDEPLOY_ETIMEOUT), "strerror");
	return done();
}

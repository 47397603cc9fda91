/* https credentials come from git's credential helpers when no token is set. */
#include "mdeploy_private.h"
#include "source_private.h"
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void)
{
	char home[1024], cfg[1100], helper[1100], seen[1100], text[4096];
	char *user = NULL, *pass = NULL, *got = NULL;
	size_t len;

	plan_lazy();
	snprintf(home, sizeof(home), "%s", test_tmpdir());
	snprintf(helper, sizeof(helper), "%s/helper.sh", home);
	snprintf(seen, sizeof(seen), "%s/seen", home);
	snprintf(cfg, sizeof(cfg), "%s/.gitconfig", home);
	snprintf(text, sizeof(text), "#!/bin/sh\ncat >'%s'\necho username=alice\necho password=s3cret\n", seen);
	mdeploy__file_write_atomic(helper, text, strlen(text), 0755);
	snprintf(text, sizeof(text), "[credential]\n\thelper = %s\n", helper);
	mdeploy__file_write_atomic(cfg, text, strlen(text), 0644);
	setenv("HOME", home, 1);
	unsetenv("GIT_CONFIG_GLOBAL");
	setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
	unsetenv("XDG_CONFIG_HOME");

	is_int(0, mdeploy__git_credential_fill("https://git.example.org/moodle/moodle.git", &user, &pass),
	       "a helper's credentials are found");
	is_str("alice", user, "user");
	is_str("s3cret", pass, "password");
	ok(mdeploy__file_read(&got, &len, seen) == 0, "the helper was asked");
	like(got ? got : "", "protocol=https\nhost=git.example.org\n", "with protocol and host (git adds the path only with credential.useHttpPath)");
	free(user);
	free(pass);
	free(got);

	is_int(MDEPLOY_ENOTFOUND, mdeploy__git_credential_fill("/srv/git/moodle", &user, &pass),
	       "no helper for a local path");
	snprintf(text, sizeof(text), "[credential]\n\thelper = \"!f() { exit 0; }; f\"\n");
	mdeploy__file_write_atomic(cfg, text, strlen(text), 0644);
	is_int(MDEPLOY_ENOTFOUND, mdeploy__git_credential_fill("https://git.example.org/x.git", &user, &pass),
	       "a helper that knows nothing: not found, and no prompt");
	ok(user == NULL && pass == NULL, "nothing returned");
	return done();
}

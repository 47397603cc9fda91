/*
 * tmp.c - temporaries left by an interrupted writer or extraction.
 *
 * bundle create writes BUNDLE.tmp-XXXXXX and extraction fills
 * .DIR.tmp-XXXXXX beside its destination; both hold an exclusive flock on
 * their temporary for as long as they run, which the kernel drops however
 * the process ends (SIGKILL, a crash). A later run towards the same bundle
 * or directory removes every such temporary it can lock: nobody is using
 * it. One younger than two seconds is left alone, as another run may have
 * just created it and not yet taken its lock.
 */
#include "bundle_private.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int mdeploy_bundle__tmp_lock(int fd)
{
	return flock(fd, LOCK_EX | LOCK_NB) == 0 ? 0 : -1;
}

/* Give back the owner's rights on directories an extraction made read-only. */
static void writable(const char *path)
{
	struct stat st;
	DIR *d;
	struct dirent *de;
	if (lstat(path, &st) < 0 || !S_ISDIR(st.st_mode))
		return;
	if ((st.st_mode & 0700) != 0700)
		(void)chmod(path, (st.st_mode & 07777) | 0700);
	if (!(d = opendir(path)))
		return;
	while ((de = readdir(d)) != NULL) {
		char *child;
		if (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN)
			continue;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if ((child = mdeploy__path_join(path, de->d_name))) {
			writable(child);
			free(child);
		}
	}
	closedir(d);
}

void mdeploy_bundle__tmp_sweep(const char *dir, const char *prefix)
{
	size_t plen = strlen(prefix);
	DIR *d = opendir(dir && *dir ? dir : ".");
	struct dirent *de;
	time_t now = time(NULL);

	if (!d)
		return;
	while ((de = readdir(d)) != NULL) {
		struct stat st;
		char *path;
		int fd;
		if (strncmp(de->d_name, prefix, plen) != 0 || strlen(de->d_name) != plen + 6)
			continue;
		if (!(path = dir && *dir ? mdeploy__path_join(dir, de->d_name) : mdeploy__strdup(de->d_name)))
			break;
		fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
		if (fd >= 0 && fstat(fd, &st) == 0 && (S_ISDIR(st.st_mode) || S_ISREG(st.st_mode)) &&
		    st.st_ctime < now - 2 && mdeploy_bundle__tmp_lock(fd) == 0) {
			writable(path);
			(void)mdeploy__rm_rf(path);
		}
		if (fd >= 0)
			close(fd);
		free(path);
	}
	closedir(d);
	mdeploy_error_clear();
}

/*
 * install.c - the Install event: the atomic `current` switch, the appspec
 * files section (with file_exists_behavior and a cleanup list), permissions,
 * and release retention.
 */
#include "agent_private.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

int mdeploy_agent__switch(mdeploy_agent *a, const char *id)
{
	char *cur = mdeploy__path_join(a->root, "current");
	char *tmp = mdeploy__sprintf("%s/.current.tmp.%ld", a->root, (long)getpid());
	char *target = id ? mdeploy__sprintf("releases/%s", id) : NULL;
	int rc = 0;

	if (!cur || !tmp || (id && !target)) {
		rc = MDEPLOY_ENOMEM;
		goto out;
	}
	if (!id) {
		if (unlink(cur) < 0 && errno != ENOENT)
			rc = mdeploy__error_os(MDEPLOY_ERROR_CLASS_AGENT, "cannot remove '%s'", cur);
		goto out;
	}
	unlink(tmp);
	/* rename(2) over the old link is atomic: readers see old or new, never neither. */
	if (symlink(target, tmp) < 0) {
		rc = mdeploy__error_os(MDEPLOY_ERROR_CLASS_AGENT, "cannot create link '%s'", tmp);
		goto out;
	}
	if (rename(tmp, cur) < 0) {
		rc = mdeploy__error_os(MDEPLOY_ERROR_CLASS_AGENT, "cannot switch '%s' to %s", cur, target);
		unlink(tmp);
		goto out;
	}
	sync_dir(a->root);
	mdeploy__log(a->ctx, MDEPLOY_LOG_INFO, "agent", "current -> %s", target);
out:
	free(cur);
	free(tmp);
	free(target);
	return rc;
}

static int copy_file(const char *src, const char *dst, mode_t mode)
{
	char buf[65536];
	int in, out, rc = 0;
	ssize_t n;

	if ((in = open(src, O_RDONLY | O_CLOEXEC)) < 0)
		return mdeploy__error_os(MDEPLOY_ERROR_CLASS_AGENT, "cannot open '%s'", src);
	if ((out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0) {
		rc = mdeploy__error_os(MDEPLOY_ERROR_CLASS_AGENT, "cannot create '%s'", dst);
		close(in);
		return rc;
	}
	while ((n = read(in, buf, sizeof(buf))) != 0) {
		char *p = buf;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = mdeploy__error_os(MDEPLOY_ERROR_CLASS_AGENT, "cannot read '%s'", src);
			break;
		}
		while (n > 0) {
			ssize_t w = write(out, p, (size_t)n);
			if (w < 0) {
				if (errno == EINTR)
					continue;
				rc = mdeploy__error_os(MDEPLOY_ERROR_CLASS_AGENT, "cannot write '%s'", dst);
				break;
			}
			p += w;
			n -= w;
		}
		if (rc)
			break;
	}
	if (!rc && fchmod(out, mode & 07777) < 0)
		rc = mdeploy__error_os(MDEPLOY_ERROR_CLASS_AGENT, "cannot chmod '%s'", dst);
	if (close(out) < 0 && !rc)
		rc = mdeploy__error_os(MDEPLOY_ERROR_CLASS_AGENT, "cannot write '%s'", dst);
	close(in);
	return rc;
}

static int copy_link(const char *src, const char *dst)
{
	char target[PATH_MAX];
	ssize_t n = readlink(src, target, sizeof(target) - 1);
	if (n < 0)
		return mdeploy__error_os(MDEPLOY_ERROR_CLASS_AGENT, "cannot read link '%s'", src);
	target[n] = '\0';
	if (symlink(target, dst) < 0)
		return mdeploy__error_os(MDEPLOY_ERROR_CLASS_AGENT, "cannot create link '%s'", dst);
	return 0;
}

int mdeploy_agent__copy_tree(const char *src, const char *dst)
{
	struct stat st;
	DIR *d;
	struct dirent *de;
	int rc = 0;

	if (lstat(src, &st) < 0)
		return mdeploy__error_os(MDEPLOY_ERROR_CLASS_AGENT, "cannot read '%s'", src);
	if (S_ISLNK(st.st_mode))
		return copy_link(src, dst);
	if (S_ISREG(st.st_mode))
		return copy_file(src, dst, st.st_mode);
	if (!S_ISDIR(st.st_mode))
		return 0; /* sockets, fifos, devices have no place in a release */
	if (mkdir(dst, 0700) < 0 && errno != EEXIST)
		return mdeploy__error_os(MDEPLOY_ERROR_CLASS_AGENT, "cannot create directory '%s'", dst);
	if (!(d = opendir(src)))
		return mdeploy__error_os(MDEPLOY_ERROR_CLASS_AGENT, "cannot open directory '%s'", src);
	while (!rc && (de = readdir(d)) != NULL) {
		char *s, *t;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		s = mdeploy__path_join(src, de->d_name);
		t = mdeploy__path_join(dst, de->d_name);
		rc = s && t ? mdeploy_agent__copy_tree(s, t) : MDEPLOY_ENOMEM;
		free(s);
		free(t);
	}
	closedir(d);
	if (!rc && chmod(dst, st.st_mode & 07777) < 0)
		rc = mdeploy__error_os(MDEPLOY_ERROR_CLASS_AGENT, "cannot chmod '%s'", dst);
	return rc;
}

/* ---- files section ---------------------------------------------------- */

struct files_run {
	mdeploy_agent *a;
	mdeploy_file_exists_behavior feb;
	json_t *previous;  /* paths the last install placed: they may be replaced */
	json_t *files;     /* what this install places */
	json_t *dirs;      /* directories this install created */
	int check_only;
};

static int in_list(json_t *list, const char *path)
{
	size_t i;
	json_t *v;
	json_array_foreach(list, i, v)
		if (json_is_string(v) && !strcmp(json_string_value(v), path))
			return 1;
	return 0;
}

/* Copy src (file, link or directory) to dst, honouring file_exists_behavior. */
static int place(struct files_run *r, const char *src, const char *dst)
{
	struct stat st, dt;
	int exists, rc = 0;

	if (lstat(src, &st) < 0)
		return mdeploy__error_os(MDEPLOY_ERROR_CLASS_AGENT, "files: cannot read '%s'", src);
	exists = lstat(dst, &dt) == 0;
	if (S_ISDIR(st.st_mode)) {
		DIR *d;
		struct dirent *de;
		if (exists && !S_ISDIR(dt.st_mode))
			return mdeploy__error_set(MDEPLOY_EEXISTS, MDEPLOY_ERROR_CLASS_AGENT,
			                          "files: '%s' exists and is not a directory", dst);
		if (!exists && !r->check_only) {
			if (mkdir(dst, st.st_mode & 07777) < 0)
				return mdeploy__error_os(MDEPLOY_ERROR_CLASS_AGENT, "files: cannot create directory '%s'", dst);
			json_array_append_new(r->dirs, json_string(dst));
		}
		if (!(d = opendir(src)))
			return mdeploy__error_os(MDEPLOY_ERROR_CLASS_AGENT, "files: cannot open '%s'", src);
		while (!rc && (de = readdir(d)) != NULL) {
			char *s, *t;
			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			s = mdeploy__path_join(src, de->d_name);
			t = mdeploy__path_join(dst, de->d_name);
			rc = s && t ? place(r, s, t) : MDEPLOY_ENOMEM;
			free(s);
			free(t);
		}
		closedir(d);
		return rc;
	}
	if (exists && !in_list(r->previous, dst)) {
		switch (r->feb) {
		case MDEPLOY_FILE_EXISTS_DISALLOW:
			return mdeploy__error_set(MDEPLOY_EEXISTS, MDEPLOY_ERROR_CLASS_AGENT,
			                          "files: '%s' already exists and was not installed by the previous "
			                          "deployment (file_exists_behavior: DISALLOW)", dst);
		case MDEPLOY_FILE_EXISTS_RETAIN:
			if (!r->check_only)
				mdeploy__log(r->a->ctx, MDEPLOY_LOG_INFO, "agent", "files: keeping existing '%s' (RETAIN)", dst);
			return 0;
		case MDEPLOY_FILE_EXISTS_OVERWRITE:
			break;
		}
	}
	if (r->check_only)
		return 0;
	{
		char *tmp = mdeploy__sprintf("%s.mdeploy-tmp", dst);
		if (!tmp)
			return MDEPLOY_ENOMEM;
		unlink(tmp);
		rc = S_ISLNK(st.st_mode) ? copy_link(src, tmp) : S_ISREG(st.st_mode) ? copy_file(src, tmp, st.st_mode) : 0;
		if (!rc && (S_ISLNK(st.st_mode) || S_ISREG(st.st_mode)) && rename(tmp, dst) < 0)
			rc = mdeploy__error_os(MDEPLOY_ERROR_CLASS_AGENT, "files: cannot install '%s'", dst);
		if (rc)
			unlink(tmp);
		free(tmp);
	}
	if (!rc && (S_ISLNK(st.st_mode) || S_ISREG(st.st_mode)))
		json_array_append_new(r->files, json_string(dst));
	return rc;
}

static char *resolve(const char *release_dir, const char *path)
{
	if (path[0] == '/')
		return mdeploy__strdup(path);
	return mdeploy__path_join(release_dir, path);
}

/* A ".." component: the path could leave where it is joined. */
static int has_dotdot(const char *path)
{
	const char *s = path;
	while ((s = strstr(s, "..")) != NULL) {
		if ((s == path || s[-1] == '/') && (s[2] == '\0' || s[2] == '/'))
			return 1;
		s += 2;
	}
	return 0;
}

/* `path` is `root` or under it (both resolved). */
static int within(const char *root, const char *path)
{
	size_t n = strlen(root);
	return !strncmp(root, path, n) && (path[n] == '\0' || path[n] == '/');
}

/* The directory holding `path` resolves inside `root`: no symlinked parent leads out. */
static int parent_within(const char *root, const char *path)
{
	char *dir = mdeploy__strdup(path), *slash, *real = NULL, *rroot = realpath(root, NULL);
	int ok = 0;
	if (dir && rroot && (slash = strrchr(dir, '/')) != NULL) {
		*slash = '\0';
		real = realpath(*dir ? dir : "/", NULL);
		ok = real && within(rroot, real);
	}
	free(dir);
	free(real);
	free(rroot);
	return ok;
}

/* mkdir -p that records each directory it creates, so they are ours (cleanup, permissions). */
static int mkdirs_recorded(struct files_run *r, const char *dir)
{
	char *p = mdeploy__strdup(dir), *s;
	int rc = 0;
	if (!p)
		return MDEPLOY_ENOMEM;
	for (s = p + 1;; s++) {
		if (*s == '/' || *s == '\0') {
			char c = *s;
			*s = '\0';
			if (!mdeploy__path_exists(p)) {
				if (mkdir(p, 0755) < 0 && errno != EEXIST) {
					rc = mdeploy__error_os(MDEPLOY_ERROR_CLASS_AGENT, "files: cannot create directory '%s'", p);
					break;
				}
				json_array_append_new(r->dirs, json_string(p));
			}
			*s = c;
			if (!c)
				break;
		}
	}
	free(p);
	return rc;
}

static int mappings(struct files_run *r, const mdeploy_appspec *spec, const char *release_dir)
{
	size_t i;
	int rc = 0;

	for (i = 0; !rc && i < mdeploy_appspec_file_count(spec); i++) {
		const mdeploy_appspec_file *f = mdeploy_appspec_file_at(spec, i);
		const char *s = f->source;
		char *src, *dst, *target = NULL;
		struct stat st;

		while (*s == '/')
			s++;
		src = *s ? mdeploy__path_join(release_dir, s) : mdeploy__strdup(release_dir);
		dst = resolve(release_dir, f->destination);
		if (!src || !dst) {
			rc = MDEPLOY_ENOMEM;
		} else if (has_dotdot(f->source)) {
			rc = mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_AGENT,
			                        "%s:%d: files[%zu]: source '%s' leaves the revision ('..'); "
			                        "sources must stay inside it", mdeploy_appspec_name(spec), f->line, i,
			                        f->source);
		} else if (lstat(src, &st) < 0) {
			rc = mdeploy__error_set(MDEPLOY_ENOTFOUND, MDEPLOY_ERROR_CLASS_AGENT,
			                        "%s: files[%zu]: source '%s' is not in the bundle",
			                        mdeploy_appspec_name(spec), i, f->source);
		} else if (*s && !parent_within(release_dir, src)) {
			rc = mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_AGENT,
			                        "%s:%d: files[%zu]: source '%s' leaves the revision through a "
			                        "symbolic link; sources must stay inside it",
			                        mdeploy_appspec_name(spec), f->line, i, f->source);
		} else if (!r->check_only && (rc = mkdirs_recorded(r, dst)) != 0) {
			;
		} else if (S_ISDIR(st.st_mode)) {
			rc = place(r, src, dst);
		} else {
			const char *base = strrchr(src, '/');
			if (!(target = mdeploy__path_join(dst, base ? base + 1 : src)))
				rc = MDEPLOY_ENOMEM;
			else
				rc = place(r, src, target);
		}
		free(src);
		free(dst);
		free(target);
	}
	return rc;
}

static void cleanup_previous(mdeploy_agent *a, json_t *inst)
{
	json_t *files = json_object_get(inst, "files"), *dirs = json_object_get(inst, "dirs"), *v;
	size_t i;

	json_array_foreach(files, i, v)
		if (json_is_string(v) && unlink(json_string_value(v)) < 0 && errno != ENOENT)
			mdeploy__log(a->ctx, MDEPLOY_LOG_WARN, "agent", "files: cannot remove '%s': %s",
			             json_string_value(v), strerror(errno));
	/* Deepest first: directories were recorded parent before child. */
	for (i = json_array_size(dirs); i-- > 0;) {
		v = json_array_get(dirs, i);
		if (json_is_string(v))
			rmdir(json_string_value(v)); /* only when empty: others may have put files there */
	}
}

int mdeploy_agent__install_files(mdeploy_agent *a, const mdeploy_appspec *spec, const char *release_dir,
                                 const char *id, int force_overwrite)
{
	json_t *prev = json_object_get(a->state, "installed_files");
	json_t *empty = json_array();
	struct files_run r;
	int rc;

	memset(&r, 0, sizeof(r));
	r.a = a;
	r.feb = force_overwrite ? MDEPLOY_FILE_EXISTS_OVERWRITE : mdeploy_appspec_file_exists_behavior(spec);
	r.previous = json_is_object(prev) ? json_object_get(prev, "files") : NULL;
	if (!r.previous)
		r.previous = empty;
	r.files = json_array();
	r.dirs = json_array();
	if (!empty || !r.files || !r.dirs) {
		rc = mdeploy__error_oom();
		goto out;
	}
	/* Check first, so DISALLOW fails before anything is removed or copied. */
	r.check_only = 1;
	if ((rc = mappings(&r, spec, release_dir)) != 0)
		goto out;
	r.check_only = 0;
	if (json_is_object(prev))
		cleanup_previous(a, prev);
	rc = mappings(&r, spec, release_dir);
	/* Record even a partial copy, so the next install cleans it up. */
	json_object_set_new(a->state, "installed_files",
	                    json_pack("{s:s, s:O, s:O}", "deployment_id", id, "files", r.files, "dirs", r.dirs));
	{
		int src = mdeploy_agent__save(a);
		if (!rc)
			rc = src;
	}
out:
	json_decref(empty);
	json_decref(r.files);
	json_decref(r.dirs);
	return rc;
}

/* ---- permissions ------------------------------------------------------ */

static int run_tool(mdeploy_agent *a, const char *const *argv)
{
	mdeploy_exec_options o = MDEPLOY_EXEC_OPTIONS_INIT;
	mdeploy_exec_result *res = NULL;
	int rc;

	o.search_path = 1;
	o.merge_stderr = 1;
	o.timeout_ms = 60000;
	if ((rc = mdeploy_exec_run(&res, argv, &o)) != 0) {
		if (rc == MDEPLOY_ENOTFOUND)
			rc = mdeploy__error_set(MDEPLOY_EUNSUPPORTED, MDEPLOY_ERROR_CLASS_AGENT,
			                        "permissions: '%s' is not installed (apt-get install -y acl)", argv[0]);
		mdeploy_exec_result_free(res);
		return rc;
	}
	if (!mdeploy_exec_result_success(res))
		rc = mdeploy__error_set(MDEPLOY_ERROR, MDEPLOY_ERROR_CLASS_AGENT, "permissions: '%s %s' %s: %s",
		                        argv[0], argv[1], mdeploy_exec_result_describe(res),
		                        mdeploy_exec_result_stdout(res, NULL));
	mdeploy_exec_result_free(res);
	(void)a;
	return rc;
}

struct perm_ids {
	uid_t uid;
	gid_t gid;
	char *acl;      /* "e1,e2" for setfacl -m on directories */
	char *file_acl; /* the same without default entries, which only directories take */
	int selinux;
};

static int apply_one(mdeploy_agent *a, const mdeploy_appspec_permission *p, const struct perm_ids *ids,
                     const char *path, const struct stat *st)
{
	int rc = 0;

	if ((p->owner || p->group) && lchown(path, ids->uid, ids->gid) < 0)
		return mdeploy__error_os(MDEPLOY_ERROR_CLASS_AGENT, "permissions: cannot chown '%s'", path);
	if (p->mode >= 0 && !S_ISLNK(st->st_mode) && chmod(path, (mode_t)p->mode) < 0)
		return mdeploy__error_os(MDEPLOY_ERROR_CLASS_AGENT, "permissions: cannot chmod '%s'", path);
	if ((S_ISDIR(st->st_mode) ? ids->acl : ids->file_acl) && !S_ISLNK(st->st_mode)) {
		const char *argv[] = { "setfacl", "-m", S_ISDIR(st->st_mode) ? ids->acl : ids->file_acl, path, NULL };
		if ((rc = run_tool(a, argv)) != 0)
			return rc;
	}
	if (p->context_type && ids->selinux) {
		const char *argv[12];
		int n = 0;
		argv[n++] = "chcon";
		if (p->context_user) { argv[n++] = "-u"; argv[n++] = p->context_user; }
		argv[n++] = "-t"; argv[n++] = p->context_type;
		if (p->context_range) { argv[n++] = "-l"; argv[n++] = p->context_range; }
		argv[n++] = path;
		argv[n] = NULL;
		rc = run_tool(a, argv);
	}
	return rc;
}

static int matches(const mdeploy_appspec_permission *p, const char *path, const struct stat *st)
{
	const char *base = strrchr(path, '/');
	size_t i;

	base = base ? base + 1 : path;
	if (S_ISDIR(st->st_mode) ? !(p->types & MDEPLOY_APPSPEC_TYPE_DIRECTORY)
	                         : !(p->types & MDEPLOY_APPSPEC_TYPE_FILE))
		return 0;
	if (strcmp(p->pattern, "**") && fnmatch(p->pattern, base, 0) != 0)
		return 0;
	for (i = 0; p->except[i]; i++)
		if (fnmatch(p->except[i], base, 0) == 0 || fnmatch(p->except[i], path, 0) == 0)
			return 0;
	return 1;
}

/*
 * What this deployment installed: the release directory and what the
 * files section placed or created. Permissions touch nothing else, as the
 * CodeDeploy agent does: a host file under an object is left alone.
 */
struct scope {
	const char *release_dir;
	json_t *files, *dirs;
};

static int installed(const struct scope *sc, const char *path)
{
	return within(sc->release_dir, path) || in_list(sc->files, path) || in_list(sc->dirs, path);
}

static int walk(mdeploy_agent *a, const mdeploy_appspec_permission *p, const struct perm_ids *ids, const char *dir,
                const struct scope *sc)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int rc = 0;

	if (!d)
		return mdeploy__error_os(MDEPLOY_ERROR_CLASS_AGENT, "permissions: cannot open '%s'", dir);
	while (!rc && (de = readdir(d)) != NULL) {
		struct stat st;
		char *path;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (!(path = mdeploy__path_join(dir, de->d_name))) {
			rc = MDEPLOY_ENOMEM;
			break;
		}
		if (lstat(path, &st) == 0) {
			if (matches(p, path, &st) && installed(sc, path))
				rc = apply_one(a, p, ids, path, &st);
			if (!rc && S_ISDIR(st.st_mode))
				rc = walk(a, p, ids, path, sc);
		}
		free(path);
	}
	closedir(d);
	return rc;
}

int mdeploy_agent__apply_permissions(mdeploy_agent *a, const mdeploy_appspec *spec, const char *release_dir)
{
	size_t i, k;
	int rc = 0;
	int selinux = mdeploy__path_exists("/sys/fs/selinux/enforce");
	json_t *inst = json_object_get(a->state, "installed_files");
	struct scope sc = { release_dir, json_object_get(inst, "files"), json_object_get(inst, "dirs") };

	for (i = 0; !rc && i < mdeploy_appspec_permission_count(spec); i++) {
		const mdeploy_appspec_permission *p = mdeploy_appspec_permission_at(spec, i);
		struct perm_ids ids = { (uid_t)-1, (gid_t)-1, NULL, NULL, selinux };
		mdeploy__buf acl = MDEPLOY__BUF_INIT, facl = MDEPLOY__BUF_INIT;
		char *obj = resolve(release_dir, p->object);
		struct stat st;

		if (!obj)
			return MDEPLOY_ENOMEM;
		if (has_dotdot(p->object) || (within(release_dir, obj) && !parent_within(release_dir, obj))) {
			rc = mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_AGENT,
			                        "%s:%d: permissions[%zu]: object '%s' leaves %s ('..' or a symbolic link)",
			                        mdeploy_appspec_name(spec), p->line, i, p->object,
			                        p->object[0] == '/' ? "what it names" : "the revision");
			free(obj);
			break;
		}
		if (p->owner) {
			struct passwd *pw = getpwnam(p->owner);
			if (!pw) {
				rc = mdeploy__error_set(MDEPLOY_ENOTFOUND, MDEPLOY_ERROR_CLASS_AGENT,
				                        "%s:%d: permissions[%zu]: owner '%s' does not exist on this host",
				                        mdeploy_appspec_name(spec), p->line, i, p->owner);
				free(obj);
				break;
			}
			ids.uid = pw->pw_uid;
		}
		if (p->group) {
			struct group *gr = getgrnam(p->group);
			if (!gr) {
				rc = mdeploy__error_set(MDEPLOY_ENOTFOUND, MDEPLOY_ERROR_CLASS_AGENT,
				                        "%s:%d: permissions[%zu]: group '%s' does not exist on this host",
				                        mdeploy_appspec_name(spec), p->line, i, p->group);
				free(obj);
				break;
			}
			ids.gid = gr->gr_gid;
		}
		for (k = 0; p->acls[k]; k++) {
			mdeploy__buf_printf(&acl, "%s%s", acl.size ? "," : "", p->acls[k]);
			if (strncmp(p->acls[k], "d:", 2) && strncmp(p->acls[k], "default:", 8))
				mdeploy__buf_printf(&facl, "%s%s", facl.size ? "," : "", p->acls[k]);
		}
		ids.acl = acl.size ? acl.ptr : NULL;
		ids.file_acl = facl.size ? facl.ptr : NULL;
		if (p->context_type && !selinux)
			mdeploy__log(a->ctx, MDEPLOY_LOG_WARN, "agent",
			             "permissions[%zu]: SELinux is not enabled here; context of '%s' left alone", i, obj);
		if (lstat(obj, &st) < 0)
			rc = mdeploy__error_os(MDEPLOY_ERROR_CLASS_AGENT, "%s:%d: permissions[%zu]: object '%s'",
			                       mdeploy_appspec_name(spec), p->line, i, obj);
		else if (S_ISDIR(st.st_mode)) {
			/*
			 * pattern "**" covers the object itself (when this deployment
			 * made it); other patterns only what is under it.
			 */
			if (!strcmp(p->pattern, "**") && (p->types & MDEPLOY_APPSPEC_TYPE_DIRECTORY) && installed(&sc, obj))
				rc = apply_one(a, p, &ids, obj, &st);
			if (!rc)
				rc = walk(a, p, &ids, obj, &sc);
		}
		else if (!installed(&sc, obj))
			rc = mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_AGENT,
			                        "%s:%d: permissions[%zu]: object '%s' was not installed by this "
			                        "deployment; permissions apply only to what it installed",
			                        mdeploy_appspec_name(spec), p->line, i, obj);
		else if (p->types & MDEPLOY_APPSPEC_TYPE_FILE)
			rc = apply_one(a, p, &ids, obj, &st);
		mdeploy__buf_dispose(&acl);
		mdeploy__buf_dispose(&facl);
		free(obj);
	}
	return rc;
}

/* ---- retention -------------------------------------------------------- */

int mdeploy_agent__prune(mdeploy_agent *a)
{
	const char *last = mdeploy_agent__str(a->state, "last_successful");
	const char *pending = mdeploy_agent_pending(a);
	json_t *order = json_object_get(a->state, "releases");
	char *live = mdeploy_agent__read_live(a);
	size_t count = 0, i;
	json_t *v;
	int rc = 0, pass;

	/* Forget ids whose directory is gone. */
	for (i = 0; i < json_array_size(order);) {
		char *dir = mdeploy_agent__release_dir(a, json_string_value(json_array_get(order, i)));
		int exists = dir && mdeploy__is_dir(dir);
		free(dir);
		if (exists)
			i++;
		else
			json_array_remove(order, i);
	}
	count = json_array_size(order);
	/* Failed and rolled-back releases go first, oldest first; then the
	 * oldest successful ones, so a rollback target outlives a failure. */
	for (pass = 0; pass < 2 && !rc; pass++)
	for (i = 0; count > a->keep && i < json_array_size(order);) {
		const char *id;
		char *dir;
		v = json_array_get(order, i);
		id = json_string_value(v);
		if ((live && !strcmp(id, live)) || (last && !strcmp(id, last)) || (pending && !strcmp(id, pending)) ||
		    (pass == 0 && in_list(json_object_get(a->state, "successes"), id))) {
			i++;
			continue;
		}
		if (!(dir = mdeploy_agent__release_dir(a, id))) {
			rc = MDEPLOY_ENOMEM;
			break;
		}
		mdeploy__log(a->ctx, MDEPLOY_LOG_INFO, "agent", "removing old release %s", id);
		rc = mdeploy__rm_rf(dir);
		free(dir);
		if (rc)
			break;
		json_array_remove(order, i);
		count--;
	}
	free(live);
	return rc;
}

/*
 * extract.c - safe extraction into a temporary directory renamed into place.
 *
 * Every path is opened component by component from the root with
 * O_NOFOLLOW, so no entry can be written through a symlink, whatever the
 * archive did before; files are created with O_EXCL, so nothing is
 * replaced. The scan refuses unsafe names, link targets and types.
 */
#include "bundle_private.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

struct fixup {
	char *path;
	unsigned int mode;
	int64_t mtime;
};

struct extract {
	const char *bundle_path;
	int rootfd;
	/* The directories of the last path, from the top: dirs[i] is the
	 * descriptor of names[0]/.../names[i]. A walk in path order reuses
	 * the common part instead of opening every component again. */
	int *dirs;
	char **names;
	size_t depth, adirs;
	int fd;            /* file being written */
	const char *cur;   /* its path */
	/* The process's umask, when known (-1: not): a file created with a
	 * mode the umask leaves whole needs no fchmod. */
	int umask;
	int mode_set;      /* the file being written has its mode */
	struct fixup *fix;
	size_t nfix, afix;
	const char *dest;
	/* Free space: what the filesystem had at the start, and what the
	 * headers seen so far declared (checked once for a whole manifest). */
	uint64_t avail, block, declared;
	int whole_checked;
};

int mdeploy_bundle_extract_options_init(mdeploy_bundle_extract_options *opts, unsigned int version)
{
	mdeploy_bundle_extract_options d = MDEPLOY_BUNDLE_EXTRACT_OPTIONS_INIT;
	int rc = mdeploy__options_check(version, MDEPLOY_BUNDLE_EXTRACT_OPTIONS_VERSION,
	                                "mdeploy_bundle_extract_options");
	if (rc)
		return rc;
	*opts = d;
	opts->version = version;
	return 0;
}

static int add_fixup(struct extract *x, const char *path, unsigned int mode, int64_t mtime)
{
	if (x->nfix == x->afix) {
		size_t na = x->afix ? x->afix * 2 : 256;
		struct fixup *nf = realloc(x->fix, na * sizeof(*nf));
		if (!nf)
			return mdeploy__error_oom();
		x->fix = nf;
		x->afix = na;
	}
	if (!(x->fix[x->nfix].path = mdeploy__strdup(path)))
		return MDEPLOY_ENOMEM;
	x->fix[x->nfix].mode = mode;
	x->fix[x->nfix].mtime = mtime;
	x->nfix++;
	return 0;
}

static int entry_error(struct extract *x, const char *path, const char *what)
{
	return mdeploy__error_os(MDEPLOY_ERROR_CLASS_BUNDLE, "%s: '%s': %s", x->bundle_path, path, what);
}

static void dirs_truncate(struct extract *x, size_t depth)
{
	while (x->depth > depth) {
		x->depth--;
		close(x->dirs[x->depth]);
		free(x->names[x->depth]);
	}
}

/* A descriptor of the directory `dir` (relative, "" for the root), created
 * as needed, each component opened with O_NOFOLLOW from its parent: never
 * through a symlink. Borrowed: valid until the next call. */
static int open_dir(struct extract *x, const char *dir, const char *entry, int *out)
{
	const char *p = dir;
	size_t k = 0;
	int rc = 0;

	/* Keep the directories `dir` shares with the last one. */
	while (*p && k < x->depth) {
		size_t n = strcspn(p, "/");
		if (strlen(x->names[k]) != n || strncmp(x->names[k], p, n) != 0)
			break;
		k++;
		p += n;
		if (*p == '/')
			p++;
	}
	dirs_truncate(x, k);
	while (*p) {
		size_t n = strcspn(p, "/");
		int cur = x->depth ? x->dirs[x->depth - 1] : x->rootfd, next;
		char *comp = mdeploy__sprintf("%.*s", (int)n, p);
		if (!comp)
			return MDEPLOY_ENOMEM;
		if (x->depth == x->adirs) {
			size_t na = x->adirs ? x->adirs * 2 : 16;
			int *nd = realloc(x->dirs, na * sizeof(*nd));
			char **nn = nd ? realloc(x->names, na * sizeof(*nn)) : NULL;
			if (nd)
				x->dirs = nd;
			if (nn)
				x->names = nn;
			if (!nd || !nn) {
				free(comp);
				return mdeploy__error_oom();
			}
			x->adirs = na;
		}
		next = openat(cur, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0 && errno == ENOENT) {
			if (mkdirat(cur, comp, 0700) < 0) {
				free(comp);
				return entry_error(x, entry, "cannot create its directory");
			}
			/* A directory the archive implies but does not list. */
			{
				char *rel = mdeploy__sprintf("%.*s", (int)(p + n - dir), dir);
				if (!rel || add_fixup(x, rel, 0755, -1)) {
					free(rel);
					free(comp);
					return MDEPLOY_ENOMEM;
				}
				free(rel);
			}
			next = openat(cur, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		}
		if (next < 0) {
			free(comp);
			if (errno == ELOOP || errno == ENOTDIR)
				return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_BUNDLE,
				                          "%s: '%s': its path passes through a symlink or a non-directory",
				                          x->bundle_path, entry);
			return entry_error(x, entry, "cannot open its directory");
		}
		x->dirs[x->depth] = next;
		x->names[x->depth++] = comp;
		p += n;
		if (*p == '/')
			p++;
	}
	(void)rc;
	*out = x->depth ? x->dirs[x->depth - 1] : x->rootfd;
	return 0;
}

/* Splits `path` into its directory's descriptor and its last component. */
static int open_parent(struct extract *x, const char *path, int *dirfd, const char **leaf)
{
	const char *slash = strrchr(path, '/');
	char *dir;
	int rc;
	if (!slash) {
		*leaf = path;
		return open_dir(x, "", path, dirfd);
	}
	*leaf = slash + 1;
	if (!(dir = mdeploy__sprintf("%.*s", (int)(slash - path), path)))
		return MDEPLOY_ENOMEM;
	rc = open_dir(x, dir, path, dirfd);
	free(dir);
	return rc;
}

static int exists_error(struct extract *x, const char *path)
{
	return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_BUNDLE,
	                          "%s: '%s' appears twice or collides with another entry", x->bundle_path, path);
}

static int x_begin(const mdeploy_bundle__item *it, const char *link, void *payload)
{
	struct extract *x = payload;
	const char *leaf, *tleaf;
	int dfd, tfd, rc;

	if (link) {
		char *lcopy = mdeploy__strdup(link);
		if (!lcopy)
			return MDEPLOY_ENOMEM;
		rc = open_parent(x, lcopy, &tfd, &tleaf);
		/* open_dir() descriptors last until its next call: dup the target's. */
		if (!rc && (tfd = fcntl(tfd, F_DUPFD_CLOEXEC, 0)) < 0)
			rc = entry_error(x, it->path, "cannot open the link target's directory");
		if (!rc) {
			rc = open_parent(x, it->path, &dfd, &leaf);
			if (!rc && linkat(tfd, tleaf, dfd, leaf, 0) < 0)
				rc = errno == EEXIST ? exists_error(x, it->path) : entry_error(x, it->path, "cannot create hard link");
			close(tfd);
		}
		free(lcopy);
		return rc;
	}
	if ((rc = open_parent(x, it->path, &dfd, &leaf)) != 0)
		return rc;
	switch (it->type) {
	case MDEPLOY_BUNDLE_ENTRY_DIR:
		if (mkdirat(dfd, leaf, 0700) < 0) {
			struct stat st;
			if (errno != EEXIST)
				return entry_error(x, it->path, "cannot create directory");
			if (fstatat(dfd, leaf, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
				return exists_error(x, it->path);
		}
		return 0;
	case MDEPLOY_BUNDLE_ENTRY_SYMLINK:
		if (symlinkat(it->target, dfd, leaf) < 0)
			return errno == EEXIST ? exists_error(x, it->path) : entry_error(x, it->path, "cannot create symlink");
		return 0;
	default:
		/* Its own mode from the start (the temporary tree is 0700:
		 * nobody else sees it). */
		x->fd = openat(dfd, leaf, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, it->mode & 0777);
		if (x->fd < 0)
			return errno == EEXIST ? exists_error(x, it->path) : entry_error(x, it->path, "cannot create file");
		x->mode_set = x->umask >= 0 && !(it->mode & 0777 & (unsigned int)x->umask);
		x->cur = it->path;
		return 0;
	}
}

static int x_data(const void *buf, size_t len, void *payload)
{
	struct extract *x = payload;
	const char *p = buf;
	while (len) {
		ssize_t n = write(x->fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return entry_error(x, x->cur, "cannot write");
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int x_end(const mdeploy_bundle__item *it, int64_t mtime, void *payload)
{
	struct extract *x = payload;
	if (it->type == MDEPLOY_BUNDLE_ENTRY_DIR)
		return add_fixup(x, it->path, it->mode & 0777, mtime);
	if (it->type == MDEPLOY_BUNDLE_ENTRY_FILE && x->fd >= 0) {
		struct timespec ts[2];
		int fd = x->fd;
		ts[0].tv_sec = ts[1].tv_sec = (time_t)mtime;
		ts[0].tv_nsec = ts[1].tv_nsec = 0;
		x->fd = -1;
		if ((!x->mode_set && fchmod(fd, it->mode & 0777) < 0) || futimens(fd, ts) < 0) {
			close(fd);
			return entry_error(x, it->path, "cannot set mode and time");
		}
		if (close(fd) < 0)
			return entry_error(x, it->path, "cannot write");
	}
	return 0;
}

static int write_meta(struct extract *x, const char *name, const char *data, size_t len)
{
	const char *leaf;
	int dfd, fd, rc;
	if ((rc = open_parent(x, name, &dfd, &leaf)) != 0)
		return rc;
	fd = openat(dfd, leaf, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return entry_error(x, name, "cannot create");
	x->fd = fd;
	x->cur = name;
	rc = x_data(data, len, x);
	x->fd = -1;
	if (fchmod(fd, 0644) < 0 && !rc)
		rc = entry_error(x, name, "cannot chmod");
	if (close(fd) < 0 && !rc)
		rc = entry_error(x, name, "cannot write");
	return rc;
}

/* The umask, from /proc (umask(2) cannot read it without setting it, which
 * would race with other threads of the caller); -1 when unknown. */
static int read_umask(void)
{
	FILE *f = fopen("/proc/self/status", "re");
	char line[256];
	int m = -1;
	unsigned int v;
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Umask: %o", &v) == 1) {
			m = (int)(v & 0777);
			break;
		}
	fclose(f);
	return m;
}

static void human(char *out, size_t n, uint64_t v)
{
	if (v >= (1ULL << 30))
		snprintf(out, n, "%.1f GiB (%llu bytes)", (double)v / (1ULL << 30), (unsigned long long)v);
	else if (v >= (1ULL << 20))
		snprintf(out, n, "%.1f MiB (%llu bytes)", (double)v / (1ULL << 20), (unsigned long long)v);
	else
		snprintf(out, n, "%llu bytes", (unsigned long long)v);
}

/*
 * Refuse before writing what the filesystem cannot hold: the manifest's
 * sizes (each file rounded up to a block, a block per entry for its inode's
 * share) against the space free at the start; without a manifest, each
 * file's declared size as its header arrives.
 */
static int x_declared(uint64_t bytes, uint64_t entries, int whole, const char *path, void *payload)
{
	struct extract *x = payload;
	uint64_t need = bytes + (entries + 1) * x->block;
	char a[64], b[64];

	if (!x->avail || (!whole && x->whole_checked))
		return 0;
	if (whole)
		x->whole_checked = 1;
	else
		need = x->declared + bytes + x->block;
	if (need <= x->avail) {
		if (!whole)
			x->declared = need;
		return 0;
	}
	human(a, sizeof(a), need);
	human(b, sizeof(b), x->avail);
	if (whole)
		return mdeploy__error_set(MDEPLOY_ECONFLICT, MDEPLOY_ERROR_CLASS_BUNDLE,
		                          "%s: needs %s (%llu entries) but the filesystem of '%s' has %s free: "
		                          "nothing extracted", x->bundle_path, a, (unsigned long long)entries,
		                          x->dest, b);
	return mdeploy__error_set(MDEPLOY_ECONFLICT, MDEPLOY_ERROR_CLASS_BUNDLE,
	                          "%s: '%s': the files so far need %s but the filesystem of '%s' has %s free: "
	                          "nothing extracted", x->bundle_path, path, a, x->dest, b);
}

static int apply_fixups(struct extract *x)
{
	size_t i;
	/* Last entry for a path wins; apply deepest first so that a read-only
	 * directory does not stop its children's times being set. */
	for (i = x->nfix; i-- > 0;) {
		struct fixup *f = &x->fix[i];
		if (f->mtime >= 0) {
			struct timespec ts[2];
			ts[0].tv_sec = ts[1].tv_sec = (time_t)f->mtime;
			ts[0].tv_nsec = ts[1].tv_nsec = 0;
			if (utimensat(x->rootfd, f->path, ts, AT_SYMLINK_NOFOLLOW) < 0)
				return entry_error(x, f->path, "cannot set time");
		}
	}
	for (i = 0; i < x->nfix; i++)
		if (fchmodat(x->rootfd, x->fix[i].path, x->fix[i].mode, 0) < 0)
			return entry_error(x, x->fix[i].path, "cannot set mode");
	return 0;
}

int mdeploy_bundle_extract(const char *bundle_path, const char *dest_dir,
                           const mdeploy_bundle_extract_options *opts)
{
	mdeploy_bundle_extract_options d = MDEPLOY_BUNDLE_EXTRACT_OPTIONS_INIT;
	mdeploy_bundle__scan_hooks hooks = { x_begin, x_data, x_end, x_declared, NULL };
	mdeploy_bundle__scan s;
	struct extract x;
	char *tmp = NULL, *parent = NULL, *slash;
	const char *base;
	size_t i;
	int rc, fixed = 0;

	if (!opts)
		opts = &d;
	if ((rc = mdeploy__options_check(opts->version, MDEPLOY_BUNDLE_EXTRACT_OPTIONS_VERSION,
	                                 "mdeploy_bundle_extract_options")) != 0)
		return rc;
	if (!bundle_path || !dest_dir || !*dest_dir)
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_BUNDLE, "a bundle and a destination are required");
	if (mdeploy__path_exists(dest_dir))
		return mdeploy__error_set(MDEPLOY_EEXISTS, MDEPLOY_ERROR_CLASS_BUNDLE, "'%s' already exists", dest_dir);
	memset(&x, 0, sizeof(x));
	x.bundle_path = bundle_path;
	x.rootfd = x.fd = -1;
	memset(&s, 0, sizeof(s));

	if (!(parent = mdeploy__strdup(dest_dir)))
		return MDEPLOY_ENOMEM;
	while (strlen(parent) > 1 && parent[strlen(parent) - 1] == '/')
		parent[strlen(parent) - 1] = '\0';
	if ((slash = strrchr(parent, '/')) != NULL) {
		base = slash + 1;
		*slash = '\0';
		tmp = mdeploy__sprintf("%s/.%s.tmp-XXXXXX", slash == parent ? "" : parent, base);
	} else {
		tmp = mdeploy__sprintf(".%s.tmp-XXXXXX", parent);
	}
	if (!tmp) {
		free(parent);
		return MDEPLOY_ENOMEM;
	}
	{
		/* What an interrupted extraction to the same place left (tmp.c). */
		const char *b = strrchr(tmp, '/') ? strrchr(tmp, '/') + 1 : tmp;
		char *dir = b > tmp ? mdeploy__sprintf("%.*s", (int)(b - tmp), tmp) : NULL;
		char *prefix = mdeploy__sprintf("%.*s", (int)(strlen(b) - 6), b);
		if (prefix && (dir || b == tmp))
			mdeploy_bundle__tmp_sweep(dir, prefix);
		free(dir);
		free(prefix);
	}
	if (!mkdtemp(tmp)) {
		rc = mdeploy__error_os(MDEPLOY_ERROR_CLASS_BUNDLE, "cannot create a directory beside '%s'", dest_dir);
		free(tmp);
		free(parent);
		return rc;
	}
	if ((x.rootfd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		rc = mdeploy__error_os(MDEPLOY_ERROR_CLASS_BUNDLE, "cannot open '%s'", tmp);
		goto out;
	}
	(void)mdeploy_bundle__tmp_lock(x.rootfd);
	{
		struct statvfs vfs;
		if (fstatvfs(x.rootfd, &vfs) == 0 && vfs.f_frsize) {
			x.avail = (uint64_t)vfs.f_bavail * vfs.f_frsize;
			x.block = vfs.f_bsize ? vfs.f_bsize : 4096;
			/* 0 means unknown: a filesystem that reports nothing free is full. */
			if (!x.avail)
				x.avail = 1;
		}
	}
	x.dest = dest_dir;
	x.umask = read_umask();
	hooks.payload = &x;
	s.hash = 1;
	s.hooks = &hooks;
	s.operation = "extract";
	s.max_entries = opts->max_entries;
	s.max_total_size = opts->max_total_size;
	s.progress_cb = opts->progress_cb;
	s.payload = opts->payload;
	if ((rc = mdeploy_bundle__scan_run(&s, bundle_path)) != 0)
		goto out;
	if ((rc = mdeploy_bundle__scan_check(&s, bundle_path, opts->trusted_keys, 0, opts->require_manifest)) != 0)
		goto out;
	if (s.manifest && opts->version >= 2 && opts->keep_manifest) {
		if (mkdirat(x.rootfd, MDEPLOY_BUNDLE__META_DIR, 0755) < 0 && errno != EEXIST) {
			rc = entry_error(&x, MDEPLOY_BUNDLE__META_DIR, "cannot create");
			goto out;
		}
		if ((rc = add_fixup(&x, MDEPLOY_BUNDLE__META_DIR, 0755, -1)) != 0 ||
		    (rc = write_meta(&x, MDEPLOY_BUNDLE__MANIFEST, s.manifest, s.manifest_len)) != 0 ||
		    (s.signature && (rc = write_meta(&x, MDEPLOY_BUNDLE__SIGNATURE, s.signature, s.signature_len)) != 0))
			goto out;
	}
	fixed = 1;
	if ((rc = apply_fixups(&x)) != 0)
		goto out;
	if (fchmod(x.rootfd, 0755) < 0 || syncfs(x.rootfd) < 0) {
		rc = mdeploy__error_os(MDEPLOY_ERROR_CLASS_BUNDLE, "cannot finish '%s'", tmp);
		goto out;
	}
	if ((rc = mdeploy__interrupt_check(bundle_path)) != 0)
		goto out;
	if (renameat2(AT_FDCWD, tmp, AT_FDCWD, dest_dir, RENAME_NOREPLACE) < 0) {
		if ((errno == EINVAL || errno == ENOSYS) && !mdeploy__path_exists(dest_dir) && rename(tmp, dest_dir) == 0)
			goto out;
		rc = errno == EEXIST ? mdeploy__error_set(MDEPLOY_EEXISTS, MDEPLOY_ERROR_CLASS_BUNDLE,
		                                          "'%s' already exists", dest_dir)
		                     : mdeploy__error_os(MDEPLOY_ERROR_CLASS_BUNDLE, "cannot rename '%s' to '%s'", tmp, dest_dir);
	}
out:
	if (x.fd >= 0)
		close(x.fd);
	dirs_truncate(&x, 0);
	free(x.dirs);
	free(x.names);
	if (rc) {
		/* Directories may have lost their write bit: give it back to remove them. */
		if (fixed && x.rootfd >= 0)
			for (i = 0; i < x.nfix; i++)
				(void)fchmodat(x.rootfd, x.fix[i].path, 0700, 0);
		mdeploy__rm_rf(tmp);
	}
	if (x.rootfd >= 0)
		close(x.rootfd);
	for (i = 0; i < x.nfix; i++)
		free(x.fix[i].path);
	free(x.fix);
	mdeploy_bundle__scan_dispose(&s);
	free(tmp);
	free(parent);
	return rc;
}

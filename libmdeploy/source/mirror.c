/*
 * mirror.c - one bare git mirror per remote URL under <state>/mirrors/.
 *
 * Crash safety: a first clone is made in <mirror>.tmp-<pid> and renamed
 * into place, so a mirror directory is either absent or a repository.
 * A later fetch writes packs and refs the way git does (temporary file,
 * then rename); a kill -9 can leave git's *.lock files behind, which the
 * next fetch removes while it holds the mirror's own lock, and which is
 * why two mdeploy processes never fetch one mirror at the same time.
 */
#include "source_private.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static int is_remote_url(const char *url)
{
	const char *colon, *slash;
	if (strstr(url, "://"))
		return 1;
	/* scp-like user@host:path (a colon before any slash) */
	colon = strchr(url, ':');
	slash = strchr(url, '/');
	return colon && (!slash || colon < slash) && colon != url;
}

char *mdeploy__mirror_url(const char *url, const char *base_dir)
{
	char *joined, resolved[PATH_MAX];
	if (is_remote_url(url))
		return mdeploy__strdup(url);
	joined = url[0] == '/' ? mdeploy__strdup(url) : mdeploy__path_join(base_dir ? base_dir : ".", url);
	if (!joined)
		return NULL;
	if (realpath(joined, resolved)) {
		free(joined);
		return mdeploy__strdup(resolved);
	}
	/* Does not exist: fetching will say so; still key it by an absolute path. */
	if (joined[0] != '/' && getcwd(resolved, sizeof(resolved))) {
		char *abs = mdeploy__path_join(resolved, joined[0] == '.' && joined[1] == '/' ? joined + 2 : joined);
		free(joined);
		return abs;
	}
	return joined;
}

char *mdeploy__mirror_path(mdeploy_ctx *ctx, const char *url)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0, i;
	char hex[17], name[64];
	const char *base, *end;
	size_t n, k = 0;

	if (!EVP_Digest(url, strlen(url), md, &mdlen, EVP_sha256(), NULL))
		return NULL;
	for (i = 0; i < 8; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	/* A readable hint of which repository it is: the last path part. */
	end = url + strlen(url);
	while (end > url && (end[-1] == '/'))
		end--;
	base = end;
	while (base > url && base[-1] != '/' && base[-1] != ':')
		base--;
	n = (size_t)(end - base);
	if (n > 4 && !strncmp(end - 4, ".git", 4))
		n -= 4;
	for (i = 0; i < n && k < 40; i++) {
		char c = base[i];
		name[k++] = (char)(((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		                    c == '-' || c == '_' || c == '.') ? c : '_');
	}
	name[k] = '\0';
	return mdeploy__sprintf("%s/mirrors/%s-%s.git", mdeploy_ctx_state_dir(ctx), hex, k ? name : "repo");
}

/* ---- credentials and progress ------------------------------------------ */

/*
 * Ask git's credential helpers, as `git fetch` would: run `git credential
 * fill` with the URL's protocol, host and path on stdin and read back
 * username= and password=. Never prompts (GIT_TERMINAL_PROMPT=0).
 */
int mdeploy__git_credential_fill(const char *url, char **user, char **pass)
{
	const char *scheme_end = strstr(url, "://"), *host, *path;
	mdeploy__buf in = MDEPLOY__BUF_INIT, out = MDEPLOY__BUF_INIT;
	int to_child[2] = { -1, -1 }, from_child[2] = { -1, -1 }, status, rc = MDEPLOY_ENOTFOUND;
	pid_t pid;
	char chunk[1024], *line, *save = NULL;
	ssize_t n;

	*user = *pass = NULL;
	if (!scheme_end)
		return MDEPLOY_ENOTFOUND;
	host = scheme_end + 3;
	if (strchr(host, '@') && strchr(host, '@') < (strchr(host, '/') ? strchr(host, '/') : host + strlen(host)))
		host = strchr(host, '@') + 1;
	path = strchr(host, '/');
	mdeploy__buf_printf(&in, "protocol=%.*s\nhost=%.*s\n", (int)(scheme_end - url), url,
	                    (int)(path ? (size_t)(path - host) : strlen(host)), host);
	if (path && path[1])
		mdeploy__buf_printf(&in, "path=%s\n", path + 1);
	mdeploy__buf_puts(&in, "\n");
	if (!in.ptr || pipe(to_child) != 0 || pipe(from_child) != 0)
		goto out;
	if ((pid = fork()) < 0)
		goto out;
	if (pid == 0) {
		static char *const argv[] = { (char *)"git", (char *)"credential", (char *)"fill", NULL };
		int devnull = open("/dev/null", O_WRONLY);
		dup2(to_child[0], 0);
		dup2(from_child[1], 1);
		if (devnull >= 0)
			dup2(devnull, 2);
		close(to_child[1]);
		close(from_child[0]);
		setenv("GIT_TERMINAL_PROMPT", "0", 1);
		setenv("GIT_ASKPASS", "/bin/false", 1);
		unsetenv("SSH_ASKPASS");
		execvp("git", argv);
		_exit(127);
	}
	close(to_child[0]);
	close(from_child[1]);
	to_child[0] = from_child[1] = -1;
	if (write(to_child[1], in.ptr, in.size) != (ssize_t)in.size) {
		/* the helper went away; its status says why */
	}
	close(to_child[1]);
	to_child[1] = -1;
	while ((n = read(from_child[0], chunk, sizeof(chunk))) > 0 || (n < 0 && errno == EINTR))
		if (n > 0)
			mdeploy__buf_put(&out, chunk, (size_t)n);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || !out.ptr)
		goto out;
	for (line = strtok_r(out.ptr, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (!strncmp(line, "username=", 9) && !*user)
			*user = mdeploy__strdup(line + 9);
		else if (!strncmp(line, "password=", 9) && !*pass)
			*pass = mdeploy__strdup(line + 9);
	}
	if (*pass)
		rc = 0;
	else {
		free(*user);
		*user = NULL;
	}
out:
	if (to_child[0] >= 0) close(to_child[0]);
	if (to_child[1] >= 0) close(to_child[1]);
	if (from_child[0] >= 0) close(from_child[0]);
	if (from_child[1] >= 0) close(from_child[1]);
	if (out.ptr)
		memset(out.ptr, 0, out.size); /* it held a password */
	mdeploy__buf_dispose(&in);
	mdeploy__buf_dispose(&out);
	return rc;
}

struct fetch_state {
	mdeploy_ctx *ctx;
	const char *url;
	int attempts;
	int aborted;
	uint64_t last_ms;
};

static int credentials_cb(git_credential **out, const char *url, const char *user_from_url,
                          unsigned int allowed, void *payload)
{
	struct fetch_state *st = payload;
	const char *user;

	if (++st->attempts > 3)
		return GIT_EAUTH; /* the same credentials will not start working */
	if (allowed & GIT_CREDENTIAL_SSH_KEY) {
		const char *key = getenv("MDEPLOY_SSH_KEY");
		user = user_from_url ? user_from_url : "git";
		if (key && *key)
			return git_credential_ssh_key_new(out, user, NULL, key, getenv("MDEPLOY_SSH_PASSPHRASE"));
		return git_credential_ssh_key_from_agent(out, user);
	}
	if (allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT) {
		const char *token = getenv("MDEPLOY_GIT_TOKEN");
		if (!token || !*token) {
			char *u = NULL, *p = NULL;
			int r;
			if (st->attempts == 1 && mdeploy__git_credential_fill(url, &u, &p) == 0) {
				r = git_credential_userpass_plaintext_new(out, u ? u : (user_from_url ? user_from_url : ""), p);
				free(u);
				memset(p, 0, strlen(p));
				free(p);
				return r;
			}
			git_error_set_str(GIT_ERROR_NET, "authentication required; set MDEPLOY_GIT_TOKEN "
			                  "or configure a git credential helper");
			return GIT_EAUTH;
		}
		user = user_from_url ? user_from_url : getenv("MDEPLOY_GIT_USER");
		return git_credential_userpass_plaintext_new(out, user && *user ? user : "x-access-token", token);
	}
	if (allowed & GIT_CREDENTIAL_USERNAME)
		return git_credential_username_new(out, user_from_url ? user_from_url : "git");
	return GIT_PASSTHROUGH;
}

static int progress_cb(const git_indexer_progress *p, void *payload)
{
	struct fetch_state *st = payload;
	uint64_t now = mdeploy__now_ms();
	int done = p->received_objects == p->total_objects && p->indexed_deltas == p->total_deltas;
	if (!done && now - st->last_ms < 100)
		return 0;
	st->last_ms = now;
	if (mdeploy__progress(st->ctx, "fetch", st->url, "objects", p->received_objects,
	                      p->total_objects, p->received_bytes, 0) != 0) {
		st->aborted = 1;
		return -1;
	}
	return 0;
}

/* ---- locking and clean-up ------------------------------------------------ */

static int lock_mirror(int *fd_out, mdeploy_ctx *ctx, const char *mirror)
{
	char *lockfile = mdeploy__sprintf("%s.lock", mirror);
	int fd, rc = 0;

	if (!lockfile)
		return mdeploy__error_oom();
	fd = open(lockfile, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = mdeploy__error_os(MDEPLOY_ERROR_CLASS_SOURCE, "cannot open %s", lockfile);
		free(lockfile);
		return rc;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		mdeploy__log(ctx, MDEPLOY_LOG_INFO, "source", "waiting for another mdeploy using %s", mirror);
		while (flock(fd, LOCK_EX) != 0) {
			if (errno != EINTR) {
				rc = mdeploy__error_os(MDEPLOY_ERROR_CLASS_SOURCE, "cannot lock %s", lockfile);
				close(fd);
				free(lockfile);
				return rc;
			}
		}
	}
	free(lockfile);
	*fd_out = fd;
	return 0;
}

/* Remove *.lock files git left in a mirror when a fetch was killed. */
static void remove_stale_locks(mdeploy_ctx *ctx, const char *dir, int depth)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	if (!d)
		return;
	while ((de = readdir(d))) {
		char *p;
		size_t n = strlen(de->d_name);
		struct stat st;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (!(p = mdeploy__path_join(dir, de->d_name)))
			break;
		if (lstat(p, &st) == 0) {
			if (S_ISDIR(st.st_mode) && depth < 8 && strcmp(de->d_name, "objects") != 0)
				remove_stale_locks(ctx, p, depth + 1);
			else if (S_ISREG(st.st_mode) && n > 5 && !strcmp(de->d_name + n - 5, ".lock")) {
				mdeploy__log(ctx, MDEPLOY_LOG_WARN, "source",
				             "removing %s left by an interrupted fetch", p);
				unlink(p);
			}
		}
		free(p);
	}
	closedir(d);
}

/* Remove <mirror>.tmp-* left by a clone that was killed. */
static void remove_stale_clones(const char *mirror)
{
	char *dir = mdeploy__strdup(mirror), *slash, *base;
	DIR *d;
	struct dirent *de;
	size_t bl;
	if (!dir || !(slash = strrchr(dir, '/'))) {
		free(dir);
		return;
	}
	*slash = '\0';
	base = slash + 1;
	bl = strlen(base);
	if ((d = opendir(dir))) {
		while ((de = readdir(d))) {
			if (!strncmp(de->d_name, base, bl) && !strncmp(de->d_name + bl, ".tmp-", 5)) {
				char *p = mdeploy__path_join(dir, de->d_name);
				if (p)
					mdeploy__rm_rf(p);
				free(p);
			}
		}
		closedir(d);
	}
	free(dir);
}

/* ---- fetch ------------------------------------------------------------------ */

static int do_fetch(mdeploy_ctx *ctx, git_repository *repo, const char *url, int lock_fd)
{
	static char heads[] = "+refs/heads/*:refs/heads/*";
	static char tags[] = "+refs/tags/*:refs/tags/*";
	char *specs[] = { heads, tags };
	git_strarray refspecs = { specs, 2 };
	git_fetch_options fo;
	git_remote_create_options ro;
	struct fetch_state st = { ctx, url, 0, 0, 0 };
	git_remote *remote = NULL;
	const git_indexer_progress *stats;
	int rc;

	/* Paths, file:// and git://: git(1) when installed, see gitfetch.c. */
	if ((rc = mdeploy__gitcli_fetch(ctx, git_repository_path(repo), url, lock_fd)) <= 0)
		return rc;
	git_fetch_options_init(&fo, GIT_FETCH_OPTIONS_VERSION);
	/* Anonymous, and without url.*.insteadOf rewriting: the URL in
	 * mdeploy.yml is the one fetched (and libgit2 1.5 leaks memory
	 * matching those config keys). */
	git_remote_create_options_init(&ro, GIT_REMOTE_CREATE_OPTIONS_VERSION);
	ro.repository = repo;
	ro.flags = GIT_REMOTE_CREATE_SKIP_INSTEADOF | GIT_REMOTE_CREATE_SKIP_DEFAULT_FETCHSPEC;
	if ((rc = git_remote_create_with_opts(&remote, url, &ro)) != 0)
		return mdeploy__git_error(rc, "cannot fetch %s", url);
	fo.callbacks.credentials = credentials_cb;
	fo.callbacks.transfer_progress = progress_cb;
	fo.callbacks.payload = &st;
	fo.prune = GIT_FETCH_PRUNE;
	fo.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_ALL;
	rc = git_remote_fetch(remote, &refspecs, &fo, "mdeploy fetch");
	if (rc != 0) {
		if (st.aborted)
			rc = mdeploy__error_set(MDEPLOY_EUSER, MDEPLOY_ERROR_CLASS_CALLBACK, "fetch of %s aborted", url);
		else
			rc = mdeploy__git_error(rc, "cannot fetch %s", url);
		git_remote_free(remote);
		return rc;
	}
	stats = git_remote_stats(remote);
	rc = mdeploy__progress(ctx, "fetch", url, "objects", stats->received_objects,
	                       stats->total_objects, stats->received_bytes, 1);
	git_remote_free(remote);
	return rc;
}

int mdeploy__mirror_fetch(mdeploy_ctx *ctx, const char *url)
{
	char *mirror = NULL, *tmp = NULL, *dir = NULL;
	git_repository *repo = NULL;
	int fd = -1, rc;

	mdeploy__git_init();
	if (!is_remote_url(url) && !mdeploy__path_exists(url))
		return mdeploy__error_set(MDEPLOY_ENOTFOUND, MDEPLOY_ERROR_CLASS_SOURCE,
		                          "cannot fetch %s: no such repository", url);
	if ((rc = mdeploy_ctx_ensure_state_dir(ctx)) != 0)
		return rc;
	if (!(mirror = mdeploy__mirror_path(ctx, url)) || !(dir = mdeploy__strdup(mirror))) {
		rc = mdeploy__error_oom();
		goto out;
	}
	*strrchr(dir, '/') = '\0';
	if ((rc = mdeploy__mkdir_p(dir, 0700)) != 0)
		goto out;
	if ((rc = lock_mirror(&fd, ctx, mirror)) != 0)
		goto out;
	remove_stale_clones(mirror);
	if (mdeploy__is_dir(mirror)) {
		remove_stale_locks(ctx, mirror, 0);
		if ((rc = git_repository_open_bare(&repo, mirror)) != 0) {
			rc = mdeploy__git_error(rc, "mirror %s of %s is damaged; remove it and fetch again",
			                        mirror, url);
			goto out;
		}
		mdeploy__log(ctx, MDEPLOY_LOG_DEBUG, "source", "fetching %s into %s", url, mirror);
		rc = do_fetch(ctx, repo, url, fd);
		goto out;
	}
	if (!(tmp = mdeploy__sprintf("%s.tmp-%ld", mirror, (long)getpid()))) {
		rc = mdeploy__error_oom();
		goto out;
	}
	mdeploy__log(ctx, MDEPLOY_LOG_INFO, "source", "cloning %s", url);
	if ((rc = git_repository_init(&repo, tmp, 1)) != 0) {
		rc = mdeploy__git_error(rc, "cannot create mirror %s", tmp);
		goto out;
	}
	if ((rc = do_fetch(ctx, repo, url, fd)) != 0) {
		git_repository_free(repo);
		repo = NULL;
		mdeploy__rm_rf(tmp);
		goto out;
	}
	git_repository_free(repo);
	repo = NULL;
	if (rename(tmp, mirror) != 0) {
		rc = mdeploy__error_os(MDEPLOY_ERROR_CLASS_SOURCE, "cannot move %s into place", tmp);
		mdeploy__rm_rf(tmp);
	}
out:
	git_repository_free(repo);
	if (fd >= 0)
		close(fd); /* releases the flock */
	free(mirror);
	free(tmp);
	free(dir);
	return rc;
}

int mdeploy__mirror_open(git_repository **out, mdeploy_ctx *ctx, const char *url)
{
	char *mirror = mdeploy__mirror_path(ctx, url);
	int rc;
	mdeploy__git_init();
	if (!mirror)
		return mdeploy__error_oom();
	if (!mdeploy__is_dir(mirror)) {
		rc = mdeploy__error_set(MDEPLOY_ENOTFOUND, MDEPLOY_ERROR_CLASS_SOURCE,
		                        "%s has not been fetched; run 'mdeploy source fetch'", url);
	} else if ((rc = git_repository_open_bare(out, mirror)) != 0) {
		rc = mdeploy__git_error(rc, "cannot open mirror %s of %s", mirror, url);
	}
	free(mirror);
	return rc;
}

static int is_full_sha(const char *s)
{
	size_t i;
	for (i = 0; s[i]; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return i == GIT_OID_HEXSZ;
}

int mdeploy__mirror_resolve(git_oid *commit, git_oid *tree, git_repository *repo, const char *ref,
                            const char *url)
{
	static const char *const forms[] = { "refs/tags/%s", "refs/heads/%s" };
	git_object *obj = NULL;
	git_commit *c = NULL;
	size_t i;
	int rc;

	if (is_full_sha(ref)) {
		git_oid oid;
		git_oid_fromstr(&oid, ref);
		if ((rc = git_commit_lookup(&c, repo, &oid)) != 0)
			return mdeploy__error_set(MDEPLOY_ENOTFOUND, MDEPLOY_ERROR_CLASS_SOURCE,
			                          "commit %s is not in %s (not on any branch or tag there)",
			                          ref, url);
	} else {
		for (i = 0; i < MDEPLOY__ARRAY_SIZE(forms) && !obj; i++) {
			char *name = mdeploy__sprintf(forms[i], ref);
			if (!name)
				return mdeploy__error_oom();
			git_reference *gref = NULL;
			if (git_reference_lookup(&gref, repo, name) != 0 ||
			    git_reference_peel(&obj, gref, GIT_OBJECT_ANY) != 0)
				obj = NULL;
			git_reference_free(gref);
			free(name);
		}
		if (!obj)
			return mdeploy__error_set(MDEPLOY_ENOTFOUND, MDEPLOY_ERROR_CLASS_SOURCE,
			                          "no tag or branch '%s' in %s", ref, url);
		rc = git_object_peel((git_object **)&c, obj, GIT_OBJECT_COMMIT);
		git_object_free(obj);
		if (rc != 0)
			return mdeploy__git_error(rc, "'%s' in %s is not a commit", ref, url);
	}
	git_oid_cpy(commit, git_commit_id(c));
	if (tree)
		git_oid_cpy(tree, git_commit_tree_id(c));
	git_commit_free(c);
	return 0;
}

int mdeploy__mirror_reachable(git_repository *repo, const git_oid *commit)
{
	git_reference_iterator *it = NULL;
	git_reference *ref;
	git_oid *tips = NULL;
	size_t n = 0, alloc = 0;
	int found = 0;

	if (git_reference_iterator_new(&it, repo) != 0)
		return 0;
	while (!found && git_reference_next(&ref, it) == 0) {
		git_object *obj = NULL;
		if (git_reference_peel(&obj, ref, GIT_OBJECT_COMMIT) == 0) {
			if (git_oid_equal(git_object_id(obj), commit)) {
				found = 1;
			} else {
				if (n == alloc) {
					git_oid *t = realloc(tips, (alloc = alloc ? alloc * 2 : 64) * sizeof(*t));
					if (!t) {
						git_object_free(obj);
						git_reference_free(ref);
						break;
					}
					tips = t;
				}
				git_oid_cpy(&tips[n++], git_object_id(obj));
			}
			git_object_free(obj);
		}
		git_reference_free(ref);
	}
	git_reference_iterator_free(it);
	if (!found && n)
		found = git_graph_reachable_from_any(repo, commit, tips, n) == 1;
	free(tips);
	return found;
}

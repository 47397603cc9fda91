/*
 * agent.c - the agent handle: root layout, lock, state file, status, and
 * recovery after a crash.
 */
#include "agent_private.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int mdeploy_agent_options_init(mdeploy_agent_options *opts, unsigned int version)
{
	mdeploy_agent_options def = MDEPLOY_AGENT_OPTIONS_INIT;
	int rc;
	if ((rc = mdeploy__options_check(version, MDEPLOY_AGENT_OPTIONS_VERSION, "mdeploy_agent_options")) != 0)
		return rc;
	*opts = def;
	opts->version = version;
	return 0;
}

int mdeploy_agent_deployment_init(mdeploy_agent_deployment *d, unsigned int version)
{
	mdeploy_agent_deployment def = MDEPLOY_AGENT_DEPLOYMENT_INIT;
	int rc;
	if ((rc = mdeploy__options_check(version, MDEPLOY_AGENT_DEPLOYMENT_VERSION, "mdeploy_agent_deployment")) != 0)
		return rc;
	*d = def;
	d->version = version;
	return 0;
}

int mdeploy_agent__valid_id(const char *id)
{
	size_t n;
	if (!id || !*id || (n = strlen(id)) > 64 || !strcmp(id, ".") || !strcmp(id, ".."))
		return 0;
	if (!((id[0] >= 'a' && id[0] <= 'z') || (id[0] >= 'A' && id[0] <= 'Z') || (id[0] >= '0' && id[0] <= '9')))
		return 0;
	return strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

const char *mdeploy_agent__str(json_t *obj, const char *key)
{
	json_t *v = obj ? json_object_get(obj, key) : NULL;
	return json_is_string(v) ? json_string_value(v) : NULL;
}

int mdeploy_agent__set_str(json_t *obj, const char *key, const char *value)
{
	if (json_object_set_new(obj, key, value ? json_string(value) : json_null()) < 0)
		return mdeploy__error_oom();
	return 0;
}

char *mdeploy_agent__release_dir(const mdeploy_agent *a, const char *id)
{
	return mdeploy__path_join(a->releases_dir, id);
}

char *mdeploy_agent__read_live(const mdeploy_agent *a)
{
	char *link = mdeploy__path_join(a->root, "current"), buf[PATH_MAX];
	ssize_t n;
	const char *base;

	if (!link)
		return NULL;
	n = readlink(link, buf, sizeof(buf) - 1);
	free(link);
	if (n <= 0)
		return NULL;
	buf[n] = '\0';
	base = strrchr(buf, '/');
	base = base ? base + 1 : buf;
	return mdeploy_agent__valid_id(base) ? mdeploy__strdup(base) : NULL;
}

static void free_status(mdeploy_agent *a)
{
	size_t i;
	for (i = 0; i < a->nhist; i++)
		free(a->hist_logs[i]);
	free(a->hist_logs);
	free(a->hist);
	a->hist = NULL;
	a->hist_logs = NULL;
	a->nhist = 0;
	for (i = 0; i < a->nreleases; i++)
		free(a->releases[i]);
	free(a->releases);
	a->releases = NULL;
	a->nreleases = 0;
	free(a->live);
	a->live = NULL;
}

static int cmp_release(const void *x, const void *y, void *st)
{
	/* Install order from the state; unknown ones (not from us) sort first by name. */
	json_t *order = st;
	const char *const *sx = x, *const *sy = y;
	long ix = -1, iy = -1;
	size_t i;
	json_t *v;
	json_array_foreach(order, i, v) {
		if (json_is_string(v) && !strcmp(json_string_value(v), *sx)) ix = (long)i;
		if (json_is_string(v) && !strcmp(json_string_value(v), *sy)) iy = (long)i;
	}
	if (ix != iy)
		return ix < iy ? -1 : 1;
	return strcmp(*sx, *sy);
}

/* Rebuild the borrowed views (history, releases, live) from the state. */
int mdeploy_agent__build_status(mdeploy_agent *a)
{
	json_t *hist = json_object_get(a->state, "history"), *h;
	DIR *d;
	struct dirent *de;
	size_t i, cap = 0;

	free_status(a);
	a->live = mdeploy_agent__read_live(a);
	if (json_is_array(hist) && json_array_size(hist)) {
		a->hist = calloc(json_array_size(hist), sizeof(*a->hist));
		a->hist_logs = calloc(json_array_size(hist), sizeof(*a->hist_logs));
		if (!a->hist || !a->hist_logs)
			return mdeploy__error_oom();
		json_array_foreach(hist, i, h) {
			mdeploy_agent_history_entry *e = &a->hist[a->nhist];
			if (!(e->deployment_id = mdeploy_agent__str(h, "deployment_id")))
				continue;
			e->status = mdeploy_agent__str(h, "status");
			e->event = mdeploy_agent__str(h, "event");
			e->message = mdeploy_agent__str(h, "message");
			e->started = (int64_t)json_integer_value(json_object_get(h, "started"));
			e->finished = (int64_t)json_integer_value(json_object_get(h, "finished"));
			a->hist_logs[a->nhist] = mdeploy__sprintf("%s/%s.log", a->logs_dir, e->deployment_id);
			e->log_path = a->hist_logs[a->nhist];
			a->nhist++;
		}
	}
	if ((d = opendir(a->releases_dir)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (de->d_name[0] == '.' || !mdeploy_agent__valid_id(de->d_name))
				continue;
			if (a->nreleases == cap) {
				char **n = realloc(a->releases, (cap = cap ? cap * 2 : 16) * sizeof(*n));
				if (!n) {
					closedir(d);
					return mdeploy__error_oom();
				}
				a->releases = n;
			}
			if (!(a->releases[a->nreleases] = strdup(de->d_name))) {
				closedir(d);
				return mdeploy__error_oom();
			}
			a->nreleases++;
		}
		closedir(d);
		if (a->nreleases > 1)
			qsort_r(a->releases, a->nreleases, sizeof(char *), cmp_release,
			        json_object_get(a->state, "releases"));
	}
	return 0;
}

static int load_state(mdeploy_agent *a)
{
	json_error_t jerr;
	json_t *st;

	if (!mdeploy__path_exists(a->state_path)) {
		st = json_pack("{s:i, s:n, s:[], s:[], s:n, s:[], s:n}", "format", 1, "last_successful",
		               "successes", "releases", "pending", "history", "installed_files");
		if (!st)
			return mdeploy__error_oom();
	} else if (!(st = json_load_file(a->state_path, 0, &jerr)) || !json_is_object(st)) {
		json_decref(st);
		return mdeploy__error_set(MDEPLOY_ECORRUPT, MDEPLOY_ERROR_CLASS_AGENT,
		                          "%s:%d:%d: agent state is damaged: %s", a->state_path, jerr.line,
		                          jerr.column, jerr.text);
	}
	if (!json_is_array(json_object_get(st, "successes")))
		json_object_set_new(st, "successes", json_array());
	if (!json_is_array(json_object_get(st, "releases")))
		json_object_set_new(st, "releases", json_array());
	if (!json_is_array(json_object_get(st, "history")))
		json_object_set_new(st, "history", json_array());
	json_decref(a->state);
	a->state = st;
	return 0;
}

int mdeploy_agent__save(mdeploy_agent *a)
{
	char *s = json_dumps(a->state, JSON_INDENT(2) | JSON_SORT_KEYS);
	int rc;
	if (!s)
		return mdeploy__error_oom();
	rc = mdeploy__file_write_atomic(a->state_path, s, strlen(s), 0600);
	free(s);
	if (rc)
		mdeploy__error_prefix("cannot save agent state");
	return rc;
}

int mdeploy_agent_open(mdeploy_agent **out, const char *root, const mdeploy_agent_options *opts)
{
	mdeploy_agent_options def = MDEPLOY_AGENT_OPTIONS_INIT;
	mdeploy_agent *a;
	char *abs = NULL;
	int rc;

	if (!out || !root || !*root)
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_AGENT, "mdeploy_agent_open: no root directory");
	*out = NULL;
	if (!opts)
		opts = &def;
	if ((rc = mdeploy__options_check(opts->version, MDEPLOY_AGENT_OPTIONS_VERSION, "mdeploy_agent_options")) != 0)
		return rc;
	if ((rc = mdeploy__mkdir_p(root, 0755)) != 0)
		return rc;
	if (!(abs = realpath(root, NULL)))
		return mdeploy__error_os(MDEPLOY_ERROR_CLASS_AGENT, "cannot resolve '%s'", root);
	if (!(a = calloc(1, sizeof(*a)))) {
		free(abs);
		return mdeploy__error_oom();
	}
	a->root = abs;
	a->lock_fd = -1;
	a->ctx = opts->ctx;
	a->keep = opts->keep_releases ? opts->keep_releases : 5;
	a->kill_grace_ms = opts->kill_grace_ms ? opts->kill_grace_ms : 3000;
	a->drain_ms = opts->drain_ms ? opts->drain_ms : 500;
	a->trusted_keys = opts->trusted_keys;
	if (!(a->releases_dir = mdeploy__path_join(abs, "releases")) ||
	    !(a->logs_dir = mdeploy__path_join(abs, "logs")) ||
	    !(a->state_path = mdeploy__path_join(abs, "state.json")) ||
	    !(a->lock_path = mdeploy__path_join(abs, "agent.lock")) ||
	    !(a->shared_dir = opts->shared_dir ? mdeploy__strdup(opts->shared_dir) : mdeploy__path_join(abs, "shared"))) {
		mdeploy_agent_free(a);
		return MDEPLOY_ENOMEM;
	}
	if ((rc = mdeploy__mkdir_p(a->releases_dir, 0755)) != 0 || (rc = mdeploy__mkdir_p(a->logs_dir, 0750)) != 0 ||
	    (rc = mdeploy__mkdir_p(a->shared_dir, 0755)) != 0 || (rc = load_state(a)) != 0 ||
	    (rc = mdeploy_agent__build_status(a)) != 0) {
		mdeploy_agent_free(a);
		return rc;
	}
	*out = a;
	return 0;
}

void mdeploy_agent_free(mdeploy_agent *a)
{
	if (!a)
		return;
	mdeploy_agent__unlock(a);
	free_status(a);
	json_decref(a->state);
	free(a->root);
	free(a->releases_dir);
	free(a->logs_dir);
	free(a->state_path);
	free(a->lock_path);
	free(a->shared_dir);
	free(a);
}

int mdeploy_agent__lock(mdeploy_agent *a)
{
	int rc;
	if (a->lock_fd >= 0)
		return 0;
	if ((a->lock_fd = open(a->lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0)
		return mdeploy__error_os(MDEPLOY_ERROR_CLASS_AGENT, "cannot open '%s'", a->lock_path);
	if (flock(a->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;
		close(a->lock_fd);
		a->lock_fd = -1;
		if (e == EWOULDBLOCK)
			return mdeploy__error_set(MDEPLOY_ELOCKED, MDEPLOY_ERROR_CLASS_AGENT,
			                          "another agent is working in '%s'", a->root);
		errno = e;
		return mdeploy__error_os(MDEPLOY_ERROR_CLASS_AGENT, "cannot lock '%s'", a->lock_path);
	}
	/* Another process may have changed things since we opened. */
	if ((rc = load_state(a)) != 0 || (rc = mdeploy_agent__recover(a)) != 0 || (rc = mdeploy_agent__build_status(a)) != 0) {
		mdeploy_agent__unlock(a);
		return rc;
	}
	return 0;
}

void mdeploy_agent__unlock(mdeploy_agent *a)
{
	if (a->lock_fd >= 0) {
		close(a->lock_fd);
		a->lock_fd = -1;
	}
}

int mdeploy_agent__history(mdeploy_agent *a, const char *id, const char *status,
                           const char *event, const char *message)
{
	json_t *hist = json_object_get(a->state, "history"), *h = NULL, *v;
	size_t i;
	int64_t now = (int64_t)time(NULL);

	json_array_foreach(hist, i, v) {
		const char *vid = mdeploy_agent__str(v, "deployment_id");
		if (vid && !strcmp(vid, id))
			h = v;
	}
	if (!h) {
		if (!(h = json_pack("{s:s, s:I, s:I}", "deployment_id", id, "started", (json_int_t)now, "finished",
		                    (json_int_t)0)))
			return mdeploy__error_oom();
		json_array_append_new(hist, h);
		while (json_array_size(hist) > MDEPLOY_AGENT_HISTORY_MAX)
			json_array_remove(hist, 0);
	} else if (status && !strcmp(status, "InProgress")) {
		json_object_set_new(h, "started", json_integer((json_int_t)now));
		json_object_del(h, "message");
	}
	if (status)
		mdeploy_agent__set_str(h, "status", status);
	if (event)
		mdeploy_agent__set_str(h, "event", event);
	if (message)
		mdeploy_agent__set_str(h, "message", message);
	if (status)
		json_object_set_new(h, "finished", json_integer(strcmp(status, "InProgress") ? (json_int_t)now : 0));
	return 0;
}

int mdeploy_agent__recover(mdeploy_agent *a)
{
	json_t *p = json_object_get(a->state, "pending");
	const char *id, *mode, *prev, *event;
	char *live, *msg;
	int rc = 0;
	DIR *d;
	struct dirent *de;

	/* Half-copied releases of a crashed DownloadBundle. */
	if ((d = opendir(a->releases_dir)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			/* Every hidden entry is ours: .staging-<id> and extraction temps. */
			if (de->d_name[0] == '.' && strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
				char *s = mdeploy__path_join(a->releases_dir, de->d_name);
				if (s)
					mdeploy__rm_rf(s);
				free(s);
			}
		}
		closedir(d);
	}
	if (!json_is_object(p))
		return 0;
	mode = mdeploy_agent__str(p, "mode");
	/* A run-event deployment spans processes: only a whole install that
	 * holds the lock for its life can be known dead by our holding it. */
	if (!mode || strcmp(mode, "install"))
		return 0;
	id = mdeploy_agent__str(p, "deployment_id");
	prev = mdeploy_agent__str(p, "previous_live");
	event = mdeploy_agent__str(p, "event");
	live = mdeploy_agent__read_live(a);
	if (id && live && !strcmp(live, id)) {
		if ((rc = mdeploy_agent__switch(a, prev)) != 0) {
			free(live);
			return rc;
		}
		mdeploy__log(a->ctx, MDEPLOY_LOG_WARN, "agent", "%s was interrupted during %s; %s is live again",
		             id, event ? event : "install", prev ? prev : "no release");
	}
	free(live);
	msg = mdeploy__sprintf("the agent stopped during %s (killed or crashed); %s", event ? event : "the install",
	                       prev ? "the previous release was made live again" : "no release was live before");
	if (!msg)
		return MDEPLOY_ENOMEM;
	if (id)
		rc = mdeploy_agent__history(a, id, "Interrupted", event, msg);
	free(msg);
	if (!rc)
		rc = mdeploy_agent__set_str(a->state, "pending", NULL);
	if (!rc)
		rc = mdeploy_agent__save(a);
	return rc;
}

int mdeploy_agent_refresh(mdeploy_agent *a)
{
	int rc;
	if ((rc = load_state(a)) != 0)
		return rc;
	return mdeploy_agent__build_status(a);
}

const char *mdeploy_agent_root(const mdeploy_agent *a) { return a->root; }
const char *mdeploy_agent_live(const mdeploy_agent *a) { return a->live; }

const char *mdeploy_agent_last_successful(const mdeploy_agent *a)
{
	return mdeploy_agent__str(a->state, "last_successful");
}

const char *mdeploy_agent_previous(const mdeploy_agent *a)
{
	json_t *succ = json_object_get(a->state, "successes");
	const char *last = mdeploy_agent_last_successful(a);
	size_t i = json_array_size(succ);

	while (i-- > 0) {
		const char *id = json_string_value(json_array_get(succ, i));
		char *dir;
		int exists;
		if (!id || (last && !strcmp(id, last)))
			continue;
		if (!(dir = mdeploy_agent__release_dir(a, id)))
			return NULL;
		exists = mdeploy__is_dir(dir);
		free(dir);
		if (exists)
			return id;
	}
	return NULL;
}

const char *mdeploy_agent_pending(const mdeploy_agent *a)
{
	return mdeploy_agent__str(json_object_get(a->state, "pending"), "deployment_id");
}

size_t mdeploy_agent_history_count(const mdeploy_agent *a) { return a->nhist; }

const mdeploy_agent_history_entry *mdeploy_agent_history_at(const mdeploy_agent *a, size_t i)
{
	return i < a->nhist ? &a->hist[i] : NULL;
}

size_t mdeploy_agent_release_count(const mdeploy_agent *a) { return a->nreleases; }

const char *mdeploy_agent_release_at(const mdeploy_agent *a, size_t i)
{
	return i < a->nreleases ? a->releases[i] : NULL;
}

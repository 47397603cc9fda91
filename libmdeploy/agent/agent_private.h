/* agent_private.h - internals shared by the agent's files. */
#ifndef MDEPLOY_AGENT_PRIVATE_H
#define MDEPLOY_AGENT_PRIVATE_H

#include "mdeploy_private.h"
#include "mdeploy/agent.h"
#include "mdeploy/appspec.h"
#include "mdeploy/exec.h"

#include <jansson.h>

#define MDEPLOY_AGENT_HISTORY_MAX 50

struct mdeploy_agent {
	char *root;
	char *releases_dir;
	char *logs_dir;
	char *state_path;
	char *lock_path;
	char *shared_dir;
	mdeploy_ctx *ctx;
	unsigned int keep;
	unsigned int kill_grace_ms;
	unsigned int drain_ms;
	const char *const *trusted_keys; /* borrowed from the options */
	int lock_fd;            /* -1 when not held */
	json_t *state;
	char *live;             /* from the `current` link */
	mdeploy_agent_history_entry *hist;
	char **hist_logs;
	size_t nhist;
	char **releases;        /* on disk, oldest first */
	size_t nreleases;
};

/* output.c: the deployment log and what hooks print to it */
void mdeploy_agent__log_line(int fd, const char *fmt, ...) MDEPLOY_FORMAT_PRINTF(2, 3);
/* ROOT/logs/<id>.log opened for appending; -1 when it cannot be. */
int mdeploy_agent__open_log(mdeploy_agent *a, const char *id);
/* The payload of mdeploy_agent__output_cb(): zero it, set fd and mask. */
typedef struct mdeploy_agent__output {
	int fd;
	int ansi;
	const char *const *mask;   /* secrets to mask: then output goes out by whole lines */
	mdeploy__buf line;         /* the line being masked */
} mdeploy_agent__output;
int mdeploy_agent__output_cb(mdeploy_exec_stream stream, const char *data, size_t len, void *payload);
/* Write what is left and free the line buffer. */
void mdeploy_agent__output_end(mdeploy_agent__output *ls);
/* `s` with every value of `mask` replaced by "***"; NULL when out of memory. */
char *mdeploy_agent__mask(const char *const *mask, const char *s);
/* The last `n` lines of `s`, each prefixed for an error message. */
void mdeploy_agent__tail_lines(mdeploy__buf *out, const char *s, int n);

/* agent.c */
int mdeploy_agent__lock(mdeploy_agent *a);
void mdeploy_agent__unlock(mdeploy_agent *a);
int mdeploy_agent__save(mdeploy_agent *a);
const char *mdeploy_agent__str(json_t *obj, const char *key);
int mdeploy_agent__set_str(json_t *obj, const char *key, const char *value);
char *mdeploy_agent__release_dir(const mdeploy_agent *a, const char *id);
char *mdeploy_agent__read_live(const mdeploy_agent *a);
/* Find or append the history entry of `id` and update it. */
int mdeploy_agent__history(mdeploy_agent *a, const char *id, const char *status,
                           const char *event, const char *message);
/* Put things right after a crashed agent. Lock held. */
int mdeploy_agent__recover(mdeploy_agent *a);
int mdeploy_agent__valid_id(const char *id);
/* Rebuild the borrowed status views after the state changed. */
int mdeploy_agent__build_status(mdeploy_agent *a);

/* install.c */
/* Point ROOT/current at releases/<id> (NULL: remove it) by renaming a new link over it. */
int mdeploy_agent__switch(mdeploy_agent *a, const char *id);
/* Copy a directory tree (files, directories, symlinks, modes). */
int mdeploy_agent__copy_tree(const char *src, const char *dst);
/* The files section: remove what the last install placed, copy this revision's. */
int mdeploy_agent__install_files(mdeploy_agent *a, const mdeploy_appspec *spec, const char *release_dir,
                                 const char *id, int force_overwrite);
int mdeploy_agent__apply_permissions(mdeploy_agent *a, const mdeploy_appspec *spec, const char *release_dir);
/* Remove releases beyond `keep`, never the live, last successful or pending one. */
int mdeploy_agent__prune(mdeploy_agent *a);

#endif

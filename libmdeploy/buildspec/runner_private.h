/*
 * runner_private.h - what the buildspec runner's files share: the run's
 * state and result, its environment (runner_env.c), its log
 * (runner.c) and the artifacts it makes (runner_artifacts.c).
 */
#ifndef MDEPLOY_BUILD_RUNNER_PRIVATE_H
#define MDEPLOY_BUILD_RUNNER_PRIVATE_H

#include "build_private.h"

#include <stdio.h>

struct mdeploy_build_result {
	mdeploy_build_status status;
	char *id;
	char *log_path;
	char *reason;
	uint64_t duration_ms;
	mdeploy_build_phase phases[BS_NPHASES];
	char **exported_names;
	char **exported_values;
	size_t nexported;
	mdeploy_build_artifact *artifacts;
	size_t nartifacts;
};

struct env {
	char **v;       /* "NAME=value", NULL-terminated (execve's envp) */
	size_t n, cap;
	size_t *slots;  /* open addressing by name: index into v + 1, 0 = empty */
	size_t nslots;  /* a power of two, at least twice n */
};
#define MDEPLOY_BUILD__ENV_INIT { NULL, 0, 0, NULL, 0 }

struct line_buf {
	mdeploy__buf b;
};

struct run {
	mdeploy_ctx *ctx;
	const mdeploy_build_options *opts;
	mdeploy_buildspec *spec;
	mdeploy_build_result *res;
	mdeploy_build__mask mask;
	struct env env;
	char *src_dir;          /* absolute */
	char *release_json;     /* <src_dir>/.mdeploy-release.json, when exported by the source stage */
	char *cwd;
	char *shell;
	char *work;             /* scripts and state files */
	FILE *log;
	uint64_t deadline;      /* monotonic ms */
	const char *phase;
	struct line_buf lines[2];
	int aborted;            /* the output callback said stop */
	mdeploy__buf tail;      /* recent output of this phase attempt, for RETRY-regex */
	int *groups;            /* process groups of the commands run: ended with the build */
	size_t ngroups;
};

/* runner_env.c: the commands' environment, "NAME=value" strings. */
int mdeploy_build__env_set(struct env *e, const char *name, const char *value);
const char *mdeploy_build__env_get(const struct env *e, const char *name);
void mdeploy_build__env_dispose(struct env *e);
int mdeploy_build__env_put_kv(struct env *e, const char *kv);

/* runner.c: a line of the build log (and the log callback). */
void mdeploy_build__log_line(struct run *r, const char *phase, const char *fmt, ...) MDEPLOY_FORMAT_PRINTF(3, 4);

/* runner_artifacts.c: check that an artifact set can be collected (links,
 * patterns) without writing anything; bundle one artifact set of the
 * buildspec into *out; put a made bundle in the artifact store (*store
 * opened once). A build stores nothing until every bundle is made. */
int mdeploy_build__check_artifact(struct run *r, const mdeploy_build__artifact *art);
int mdeploy_build__make_artifact(struct run *r, const mdeploy_build__artifact *art, mdeploy_build_artifact *out);
int mdeploy_build__store_artifact(struct run *r, mdeploy_build_artifact *a, mdeploy_artifacts **store);

#endif

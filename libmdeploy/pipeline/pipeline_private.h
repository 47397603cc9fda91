/* pipeline_private.h - internals of the pipeline module. */
#ifndef MDEPLOY_PIPELINE_PRIVATE_H
#define MDEPLOY_PIPELINE_PRIVATE_H

#include "mdeploy_private.h"
#include "yaml_private.h"
#include "mdeploy/pipeline.h"

#include <jansson.h>

struct mdeploy_pipeline__doc;

/* A webhook of notifications: (notify.c). */
struct mdeploy_pipeline__notify_raw {
	char *url, *format;
	char **events;
	unsigned int events_count;
};

struct mdeploy_pipeline {
	char *path;
	char *display;
	char *text;                  /* the YAML as read: executions keep a copy */
	char *name;
	char *project;               /* relative paths are taken from here */
	mdeploy__yaml yaml;
	struct mdeploy_pipeline__doc *doc;
	mdeploy_pipeline_mode mode;
	mdeploy_pipeline_variable *vars;
	size_t nvars;
	mdeploy_pipeline_stage *stages;
	size_t nstages;
	mdeploy_pipeline_action *actions; /* all of them, stage by stage */
	size_t nactions;
	char (*fields)[48];          /* storage for actions[i].field */
	const struct mdeploy_pipeline__notify_raw *notify; /* borrowed from doc */
	size_t nnotify;
};

/* definition.c: load from text (an execution's stored copy). */
int mdeploy_pipeline__load_text(mdeploy_pipeline **out, const char *text, size_t len,
                                const char *path, const char *display);

/* Output variables an action of `type` sets (NULL-terminated; shell: none fixed). */
const char *const *mdeploy_pipeline__type_variables(mdeploy_pipeline_action_type type);

/* vars.c: call `cb` for each #{ns.name} in `text`; non-zero stops and is returned. */
int mdeploy_pipeline__refs(const char *text,
                           int (*cb)(const char *ns, size_t nslen, const char *name, size_t namelen,
                                     void *payload),
                           void *payload);
/* vars.c: #{ns.name} -> ${MDEPLOY_REF_N} with env[N] = "MDEPLOY_REF_N=value" (free each and env). */
int mdeploy_pipeline__substitute_env(char **out, char ***env, const char *text,
                                     mdeploy_pipeline_lookup_cb lookup, void *payload);
/* A valid namespace or variable name: [A-Za-z0-9_-]+. */
int mdeploy_pipeline__ident_ok(const char *s, size_t len);

/* execution.c */
int mdeploy_pipeline__uuid(char out[37]);
/* A full id or a unique prefix -> the full id. */
int mdeploy_pipeline__resolve_id(mdeploy_store *store, const char *id, char out[37]);

/* create.c */
int mdeploy_pipeline__create(mdeploy_store *store, const mdeploy_pipeline *p,
                             const mdeploy_pipeline_run_options *opts, char id[37]);
/* {"variables": {...}, "pipeline": {...}, NAMESPACE: {...}} for substitution. */
json_t *mdeploy_pipeline__namespaces(mdeploy_store *store, const mdeploy_pipeline *p, const char *id);
/* mdeploy_pipeline_lookup_cb over such an object. */
const char *mdeploy_pipeline__lookup(const char *ns, const char *name, void *payload);

/* runner.c: mark an execution nobody drives (or whose actions ended) Stopped. */
int mdeploy_pipeline__finish_stop(mdeploy_ctx *ctx, mdeploy_store *store, const char *id);
/* runner.c: become the runner of execution `id` (refused while a live process
 * drives it), load the definition it was started with and drive it to its
 * end. *storep may be reopened (around forks). */
int mdeploy_pipeline__run_existing(mdeploy_ctx *ctx, mdeploy_store **storep, const char *id, unsigned int poll_ms);
/* SQL: an execution that has not ended. */
#define MDEPLOY_PIPELINE__NOT_FINAL " status NOT IN ('Succeeded', 'Failed', 'Stopped', 'Superseded')"

/* notify.c: the notifications: schema, its checks, and sending `event`
 * ("approval", "failed", "succeeded") to the webhooks that want it. */
extern const cyaml_schema_value_t mdeploy_pipeline__notify_schema;
void mdeploy_pipeline__notify_check(const struct mdeploy_pipeline__notify_raw *n, size_t count,
                                    mdeploy__yaml_problems *probs);
void mdeploy_pipeline__notify(mdeploy_ctx *ctx, mdeploy_store *store, const mdeploy_pipeline *p, const char *id,
                              const char *event, const char *action, const char *detail);

/* worker.c: run action `idx` in this (forked) process, record it, _exit. */
void mdeploy_pipeline__worker(mdeploy_ctx *ctx, const mdeploy_pipeline *p, const char *id, size_t idx)
	__attribute__((noreturn));

/* artifact.c: pipeline artifacts in the artifact store (mdeploy/artifacts.h). */
/* Pack directory `dir` and put it as "pipeline.PIPELINE.NAME"; its sha256 in `digest`. */
int mdeploy_pipeline__artifact_put(mdeploy_ctx *ctx, const char *pipeline, const char *name,
                                   const char *dir, char digest[65]);
/* Fetch (digest checked) and unpack artifact `digest` into `dest`, which must not exist. */
int mdeploy_pipeline__artifact_get(mdeploy_ctx *ctx, const char *digest, const char *dest);

#endif

/*
 * mdeploy/log.h - how the library reports what it does.
 *
 * The library never prints. Log lines and progress go to callbacks that the
 * caller registers on a context (mdeploy/context.h).
 */
#ifndef MDEPLOY_LOG_H
#define MDEPLOY_LOG_H

#include "common.h"

MDEPLOY_BEGIN_DECL

typedef enum {
	MDEPLOY_LOG_ERROR = 0,
	MDEPLOY_LOG_WARN  = 1,
	MDEPLOY_LOG_INFO  = 2,
	MDEPLOY_LOG_DEBUG = 3,
	MDEPLOY_LOG_TRACE = 4
} mdeploy_log_level;

/* A log line, without a trailing newline. Return non-zero to abort (MDEPLOY_EUSER). */
typedef int (*mdeploy_log_cb)(mdeploy_log_level level, const char *component,
                              const char *message, void *payload);

/*
 * Progress of a long operation. `total` is 0 when unknown. `unit` says
 * what current/total count ("objects", "bytes", "files", "instances",
 * "steps"). `done` is set once on the final report of an operation.
 */
typedef struct mdeploy_progress {
	unsigned int version;
	const char *operation;  /* "fetch", "bundle", "deploy" ... */
	const char *subject;    /* what is worked on, e.g. a remote URL; may be NULL */
	const char *unit;
	uint64_t current;
	uint64_t total;
	uint64_t bytes;         /* bytes moved so far when meaningful, else 0 */
	int done;
} mdeploy_progress;

#define MDEPLOY_PROGRESS_VERSION 1

/* Return non-zero to abort the operation (it fails with MDEPLOY_EUSER). */
typedef int (*mdeploy_progress_cb)(const mdeploy_progress *progress, void *payload);

MDEPLOY_END_DECL

#endif

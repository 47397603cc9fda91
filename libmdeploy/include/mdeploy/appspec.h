/*
 * mdeploy/appspec.h - appspec.yml as AWS CodeDeploy reads it for
 * EC2/on-premises deployments.
 *
 * Recognised: version (must be 0.0), os (linux; windows is valid for
 * CodeDeploy but not supported here), files (source, destination),
 * file_exists_behavior (DISALLOW, OVERWRITE, RETAIN), permissions (object,
 * pattern, except, owner, group, mode, acls, context, type) and hooks
 * (event name -> list of location, timeout, runas). Unknown keys are
 * ignored, as CodeDeploy does. mdeploy extension, ignored by CodeDeploy: a
 * hook script may say `scope: once` (run on exactly one instance per
 * deployment).
 *
 * Loading validates everything; the first problem is reported as
 * MDEPLOY_EINVALID (MDEPLOY_EUNSUPPORTED for os: windows) with a message
 * naming file, line, column and field:
 *   "appspec.yml:12:16: hooks.AfterInstall[0].timeout: timeout must be a
 *    positive integer, not 'abc'"
 *
 * Every string and struct returned is borrowed from the appspec and valid
 * until mdeploy_appspec_free(). A loaded appspec is read-only and may be
 * shared between threads.
 */
#ifndef MDEPLOY_APPSPEC_H
#define MDEPLOY_APPSPEC_H

#include "common.h"

MDEPLOY_BEGIN_DECL

typedef struct mdeploy_appspec mdeploy_appspec;

typedef enum {
	MDEPLOY_FILE_EXISTS_DISALLOW = 0, /* the default: fail the deployment */
	MDEPLOY_FILE_EXISTS_OVERWRITE = 1,
	MDEPLOY_FILE_EXISTS_RETAIN = 2
} mdeploy_file_exists_behavior;

/* Default and largest timeout of a hook script, in seconds. */
#define MDEPLOY_APPSPEC_TIMEOUT_DEFAULT 3600u

typedef struct mdeploy_appspec_file {
	const char *source;      /* relative to the bundle root; "/" is all of it */
	const char *destination; /* on the instance */
	int line;                /* 1-based position in the appspec */
} mdeploy_appspec_file;

typedef struct mdeploy_appspec_hook {
	const char *location;    /* relative to the bundle root */
	unsigned int timeout;    /* seconds, MDEPLOY_APPSPEC_TIMEOUT_DEFAULT if not given */
	const char *runas;       /* NULL: the agent's user */
	int scope_once;          /* `scope: once` */
	int line;
} mdeploy_appspec_hook;

/* Bits of mdeploy_appspec_permission.types. */
#define MDEPLOY_APPSPEC_TYPE_FILE      1
#define MDEPLOY_APPSPEC_TYPE_DIRECTORY 2

typedef struct mdeploy_appspec_permission {
	const char *object;          /* required */
	const char *pattern;         /* "**" when not given */
	const char *const *except;   /* NULL-terminated, never NULL */
	const char *owner;           /* NULL: unchanged */
	const char *group;           /* NULL: unchanged */
	int mode;                    /* -1: unchanged, else 0..07777 */
	const char *const *acls;     /* NULL-terminated, never NULL */
	const char *context_name;    /* SELinux context; all NULL when not given */
	const char *context_user;
	const char *context_type;
	const char *context_range;
	unsigned int types;          /* MDEPLOY_APPSPEC_TYPE_* bits; both when not given */
	int line;
} mdeploy_appspec_permission;

/*
 * Parse an appspec from memory. `name` is used in messages ("appspec.yml"
 * when NULL). Returns 0, MDEPLOY_EINVALID, MDEPLOY_EUNSUPPORTED or
 * MDEPLOY_ENOMEM.
 */
MDEPLOY_EXTERN(int) mdeploy_appspec_parse(mdeploy_appspec **out, const char *data, size_t len,
                                          const char *name);

/*
 * Load from `path`: an appspec file, a directory holding appspec.yml (or
 * appspec.yaml), or a bundle archive (tar, tar.gz, tar.zst, zip ...) whose
 * root holds one. The archive is only read, never extracted. Messages name
 * the file as "PATH" or "ARCHIVE!appspec.yml". MDEPLOY_ENOTFOUND when there
 * is no appspec.
 */
MDEPLOY_EXTERN(int) mdeploy_appspec_load(mdeploy_appspec **out, const char *path);

/* Accepts NULL. */
MDEPLOY_EXTERN(void) mdeploy_appspec_free(mdeploy_appspec *spec);

/* The name used in messages. */
MDEPLOY_EXTERN(const char *) mdeploy_appspec_name(const mdeploy_appspec *spec);
MDEPLOY_EXTERN(const char *) mdeploy_appspec_version(const mdeploy_appspec *spec);
MDEPLOY_EXTERN(const char *) mdeploy_appspec_os(const mdeploy_appspec *spec);
MDEPLOY_EXTERN(mdeploy_file_exists_behavior)
	mdeploy_appspec_file_exists_behavior(const mdeploy_appspec *spec);

MDEPLOY_EXTERN(size_t) mdeploy_appspec_file_count(const mdeploy_appspec *spec);
/* NULL when out of range. */
MDEPLOY_EXTERN(const mdeploy_appspec_file *) mdeploy_appspec_file_at(const mdeploy_appspec *spec, size_t i);

MDEPLOY_EXTERN(size_t) mdeploy_appspec_permission_count(const mdeploy_appspec *spec);
MDEPLOY_EXTERN(const mdeploy_appspec_permission *)
	mdeploy_appspec_permission_at(const mdeploy_appspec *spec, size_t i);

/* Events named under `hooks`, in file order (any name is accepted, as CodeDeploy does). */
MDEPLOY_EXTERN(size_t) mdeploy_appspec_event_count(const mdeploy_appspec *spec);
MDEPLOY_EXTERN(const char *) mdeploy_appspec_event_at(const mdeploy_appspec *spec, size_t i);
/* Scripts of `event` (0 when the event has none). */
MDEPLOY_EXTERN(size_t) mdeploy_appspec_hook_count(const mdeploy_appspec *spec, const char *event);
MDEPLOY_EXTERN(const mdeploy_appspec_hook *)
	mdeploy_appspec_hook_at(const mdeploy_appspec *spec, const char *event, size_t i);

/*
 * The CodeDeploy lifecycle events of an EC2/on-premises deployment in the
 * order they run, NULL-terminated: ApplicationStop, DownloadBundle,
 * BeforeInstall, Install, AfterInstall, ApplicationStart, ValidateService,
 * BeforeBlockTraffic, BlockTraffic, AfterBlockTraffic, BeforeAllowTraffic,
 * AllowTraffic, AfterAllowTraffic. DownloadBundle, Install, BlockTraffic
 * and AllowTraffic are done by the agent or orchestrator: hooks listed
 * under them never run.
 */
MDEPLOY_EXTERN(const char *const *) mdeploy_appspec_lifecycle_events(void);

MDEPLOY_END_DECL

#endif

/*
 * mdeploy/errors.h - return codes and per-thread error detail.
 *
 * Every function that can fail returns int: 0 on success, a negative
 * MDEPLOY_E* code otherwise. Codes are never renumbered; new ones are only
 * appended. After a failure, mdeploy_error_last() describes what failed and
 * where, e.g. "appspec.yml:12:5: hooks.AfterInstall[0]: timeout must be a
 * positive integer".
 */
#ifndef MDEPLOY_ERRORS_H
#define MDEPLOY_ERRORS_H

#include "common.h"

MDEPLOY_BEGIN_DECL

typedef enum {
	MDEPLOY_OK          =   0,
	MDEPLOY_ERROR       =  -1, /* generic failure */
	MDEPLOY_ENOMEM      =  -2, /* out of memory */
	MDEPLOY_EINVALID    =  -3, /* invalid input: file, argument, document */
	MDEPLOY_ENOTFOUND   =  -4, /* a named thing does not exist */
	MDEPLOY_EEXISTS     =  -5, /* a thing that must not exist does */
	MDEPLOY_EOS         =  -6, /* a system call failed */
	MDEPLOY_ETIMEOUT    =  -7, /* a deadline passed */
	MDEPLOY_ELOCKED     =  -8, /* a lock is held by someone else */
	MDEPLOY_EUSER       =  -9, /* a callback returned non-zero */
	MDEPLOY_EVERSION    = -10, /* options struct version not supported */
	MDEPLOY_ECONFLICT   = -11, /* state does not allow the operation */
	MDEPLOY_EVERIFY     = -12, /* signature or digest mismatch */
	MDEPLOY_ENETWORK    = -13, /* network or remote failure */
	MDEPLOY_EHOOK       = -14, /* a hook, command or child process failed */
	MDEPLOY_EUNSUPPORTED= -15, /* valid, but not supported here */
	MDEPLOY_ECORRUPT    = -16, /* stored data is damaged */
	MDEPLOY_EAUTH       = -17  /* authentication or permission refused */
} mdeploy_error_code;

/* Which subsystem reported the error. Only appended to. */
typedef enum {
	MDEPLOY_ERROR_CLASS_NONE = 0,
	MDEPLOY_ERROR_CLASS_OS,
	MDEPLOY_ERROR_CLASS_NOMEMORY,
	MDEPLOY_ERROR_CLASS_INVALID,
	MDEPLOY_ERROR_CLASS_CONFIG,
	MDEPLOY_ERROR_CLASS_EXEC,
	MDEPLOY_ERROR_CLASS_GIT,
	MDEPLOY_ERROR_CLASS_SOURCE,
	MDEPLOY_ERROR_CLASS_BUILD,
	MDEPLOY_ERROR_CLASS_BUNDLE,
	MDEPLOY_ERROR_CLASS_CRYPTO,
	MDEPLOY_ERROR_CLASS_AGENT,
	MDEPLOY_ERROR_CLASS_DEPLOY,
	MDEPLOY_ERROR_CLASS_PIPELINE,
	MDEPLOY_ERROR_CLASS_PROVIDER,
	MDEPLOY_ERROR_CLASS_STORE,
	MDEPLOY_ERROR_CLASS_NET,
	MDEPLOY_ERROR_CLASS_CALLBACK
} mdeploy_error_class;

typedef struct mdeploy_error {
	int code;            /* an mdeploy_error_code */
	int klass;           /* an mdeploy_error_class */
	const char *message; /* never NULL */
} mdeploy_error;

/*
 * The last error reported on the calling thread. Never NULL: with no error
 * it returns an entry whose code is MDEPLOY_OK and message is "no error".
 * The pointer stays valid until the next libmdeploy call on this thread.
 */
MDEPLOY_EXTERN(const mdeploy_error *) mdeploy_error_last(void);

/* Forget the calling thread's last error. */
MDEPLOY_EXTERN(void) mdeploy_error_clear(void);

/*
 * Record an error from caller code (for example a callback that wants to
 * explain why it aborted). Returns `code` so it can be returned directly.
 */
MDEPLOY_EXTERN(int) mdeploy_error_set(int code, int klass, const char *fmt, ...)
	MDEPLOY_FORMAT_PRINTF(3, 4);

/* A short, static text for a code ("not found"). Unknown codes give "unknown error". */
MDEPLOY_EXTERN(const char *) mdeploy_strerror(int code);

/* A short, static name for a class ("config"). */
MDEPLOY_EXTERN(const char *) mdeploy_error_class_name(int klass);

/*
 * Ask the operations running in this process that write a bundle or a tree
 * (bundle create, extract, verify and the agent's extraction) to stop: at
 * the next entry or data chunk they fail with MDEPLOY_EUSER ("interrupted")
 * and remove what they wrote, as on any failure; nothing half-written is
 * left and nothing already in place is touched. Async-signal-safe: meant to
 * be called from a SIGTERM/SIGINT handler. The request stays until
 * mdeploy_interrupt_clear(); mdeploy_interrupted() tells whether it is set.
 */
MDEPLOY_EXTERN(void) mdeploy_interrupt(void);
MDEPLOY_EXTERN(int) mdeploy_interrupted(void);
MDEPLOY_EXTERN(void) mdeploy_interrupt_clear(void);

MDEPLOY_END_DECL

#endif

/*
 * mdeploy/exec.h - run a child process the way hooks and build commands need.
 *
 * The child runs in its own process group with stdin on /dev/null. Its
 * stdout and stderr are captured (the last `capture_max` bytes of each are
 * kept) and streamed to an optional callback. On timeout the whole process
 * group gets SIGTERM, then SIGKILL after `kill_grace_ms`. When the direct
 * child exits but a background process it started still holds stdout or
 * stderr open, the caller waits at most `drain_ms` for the pipes and then
 * returns: a daemon started by a hook never hangs a deployment.
 *
 * Thread-safety: mdeploy_exec_run() may be called from several threads at
 * once; a result belongs to the thread that holds it.
 */
#ifndef MDEPLOY_EXEC_H
#define MDEPLOY_EXEC_H

#include "common.h"

MDEPLOY_BEGIN_DECL

typedef struct mdeploy_exec_result mdeploy_exec_result;

typedef enum {
	MDEPLOY_EXEC_STDOUT = 1,
	MDEPLOY_EXEC_STDERR = 2
} mdeploy_exec_stream;

/* Output as it arrives, in chunks (not lines). Non-zero aborts: the group is killed. */
typedef int (*mdeploy_exec_output_cb)(mdeploy_exec_stream stream, const char *data,
                                      size_t len, void *payload);

typedef struct mdeploy_exec_options {
	unsigned int version;
	const char *cwd;              /* NULL: the caller's */
	const char *const *env;       /* NULL-terminated "K=V" list; NULL: inherit */
	unsigned int timeout_ms;      /* 0: no timeout */
	unsigned int kill_grace_ms;   /* TERM to KILL; default 3000 */
	unsigned int drain_ms;        /* wait for pipes after the child exits; default 500 */
	size_t capture_max;           /* bytes kept per stream (the tail); default 65536 */
	int merge_stderr;             /* non-zero: stderr goes to the stdout pipe */
	int search_path;              /* non-zero: look argv[0] up in PATH */
	mdeploy_exec_output_cb output_cb;
	void *payload;
	/* Run as this user (name or numeric uid) with its groups, HOME, USER,
	 * LOGNAME and SHELL. NULL: as the caller. Needs privileges to change. */
	const char *user;
} mdeploy_exec_options;

#define MDEPLOY_EXEC_OPTIONS_VERSION 1
#define MDEPLOY_EXEC_OPTIONS_INIT { MDEPLOY_EXEC_OPTIONS_VERSION, NULL, NULL, 0, 3000, 500, 65536, 0, 0, NULL, NULL, NULL }

MDEPLOY_EXTERN(int) mdeploy_exec_options_init(mdeploy_exec_options *opts, unsigned int version);

/*
 * Run argv[0] with argv, wait for it (or its timeout), and return its
 * result in *out (free with mdeploy_exec_result_free()). `opts` may be NULL.
 *
 * Returns 0 whenever the child was started and waited for, whatever its exit
 * status: look at the result. Returns MDEPLOY_EOS (or MDEPLOY_ENOTFOUND for a
 * missing program) when it could not be started, MDEPLOY_EUSER when the
 * output callback aborted (a result is still returned).
 */
MDEPLOY_EXTERN(int) mdeploy_exec_run(mdeploy_exec_result **out, const char *const *argv,
                                     const mdeploy_exec_options *opts);

MDEPLOY_EXTERN(void) mdeploy_exec_result_free(mdeploy_exec_result *result);

/* Exit status if the child exited, else -1. */
MDEPLOY_EXTERN(int) mdeploy_exec_result_exit_code(const mdeploy_exec_result *result);
/* Signal that ended the child, else 0. */
MDEPLOY_EXTERN(int) mdeploy_exec_result_signal(const mdeploy_exec_result *result);
/* Non-zero when the timeout fired and the group was killed. */
MDEPLOY_EXTERN(int) mdeploy_exec_result_timed_out(const mdeploy_exec_result *result);
/* Non-zero when the child exited with 0 and did not time out. */
MDEPLOY_EXTERN(int) mdeploy_exec_result_success(const mdeploy_exec_result *result);
/* Non-zero when output pipes were still held open by a leftover process at return. */
MDEPLOY_EXTERN(int) mdeploy_exec_result_pipes_abandoned(const mdeploy_exec_result *result);
/* Wall time from start to return, in milliseconds. */
MDEPLOY_EXTERN(uint64_t) mdeploy_exec_result_duration_ms(const mdeploy_exec_result *result);
/* The command's process id, also the id of its process group (what it left
 * running in the background is in that group, unless it left the group). */
MDEPLOY_EXTERN(int) mdeploy_exec_result_pid(const mdeploy_exec_result *result);
/* Captured output (NUL-terminated, borrowed); `len` may be NULL. */
MDEPLOY_EXTERN(const char *) mdeploy_exec_result_stdout(const mdeploy_exec_result *result, size_t *len);
MDEPLOY_EXTERN(const char *) mdeploy_exec_result_stderr(const mdeploy_exec_result *result, size_t *len);
/* Non-zero when the capture dropped the start of a stream. */
MDEPLOY_EXTERN(int) mdeploy_exec_result_truncated(const mdeploy_exec_result *result);

/* A one-line description: "exited with status 3", "killed by signal 9 after timeout of 5000 ms". */
MDEPLOY_EXTERN(const char *) mdeploy_exec_result_describe(const mdeploy_exec_result *result);

MDEPLOY_END_DECL

#endif

/* Process execution: capture, exit status, timeouts on the whole process
 * group, and a background child holding stdout open. */
#include "mdeploy_private.h"
#include "tap.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static mdeploy_exec_result *sh(const char *script, mdeploy_exec_options *o, int *rc_out)
{
	const char *argv[] = { "/bin/sh", "-c", script, NULL };
	mdeploy_exec_result *r = NULL;
	int rc = mdeploy_exec_run(&r, argv, o);
	if (rc_out)
		*rc_out = rc;
	if (rc && rc != MDEPLOY_EUSER)
		diag("exec failed: %s", mdeploy_error_last()->message);
	return r;
}

/* Alive means running or stopped; a zombie waiting for its reaper is dead. */
static int alive(pid_t pid)
{
	char path[64], buf[512], *p;
	FILE *f;
	if (kill(pid, 0) < 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (!(f = fopen(path, "r")))
		return 0;
	p = fgets(buf, sizeof(buf), f);
	fclose(f);
	if (!p || !(p = strrchr(buf, ')')))
		return 0;
	return p[2] != 'Z' && p[2] != 'X';
}

static int wait_dead(pid_t pid, int ms)
{
	while (ms > 0 && alive(pid)) {
		usleep(20000);
		ms -= 20;
	}
	return !alive(pid);
}

static pid_t read_pid(const char *path)
{
	char *s = NULL;
	pid_t pid = 0;
	int i;
	for (i = 0; i < 100 && !pid; i++) {
		if (mdeploy__file_read(&s, NULL, path) == 0) {
			pid = (pid_t)atoi(s);
			free(s);
		}
		if (!pid)
			usleep(20000);
	}
	return pid;
}

struct cb_state {
	mdeploy__buf seen;
	int abort_on;
	int calls;
};

static int on_output(mdeploy_exec_stream stream, const char *data, size_t len, void *payload)
{
	struct cb_state *s = payload;
	s->calls++;
	mdeploy__buf_put(&s->seen, stream == MDEPLOY_EXEC_STDOUT ? "[o]" : "[e]", 3);
	mdeploy__buf_put(&s->seen, data, len);
	return s->abort_on && s->calls >= s->abort_on;
}

int main(void)
{
	mdeploy_exec_options o;
	mdeploy_exec_result *r;
	char script[8192], pidfile[4200];
	const char *tmp = test_tmpdir();
	int rc;
	uint64_t t0, took;
	pid_t bg;

	plan_lazy();

	/* Basic capture and exit codes. */
	mdeploy_exec_options_init(&o, MDEPLOY_EXEC_OPTIONS_VERSION);
	r = sh("echo hello; echo oops >&2; exit 3", &o, &rc);
	is_int(0, rc, "a failing child is still a successful run");
	is_int(3, mdeploy_exec_result_exit_code(r), "exit status");
	ok(!mdeploy_exec_result_success(r), "non-zero is not success");
	is_str("hello\n", mdeploy_exec_result_stdout(r, NULL), "stdout captured");
	is_str("oops\n", mdeploy_exec_result_stderr(r, NULL), "stderr captured separately");
	is_str("exited with status 3", mdeploy_exec_result_describe(r), "describe exit");
	mdeploy_exec_result_free(r);

	o.merge_stderr = 1;
	r = sh("echo a; echo b >&2; echo c", &o, NULL);
	is_str("a\nb\nc\n", mdeploy_exec_result_stdout(r, NULL), "merge_stderr keeps order in one stream");
	mdeploy_exec_result_free(r);
	o.merge_stderr = 0;

	r = sh("kill -USR1 $$", &o, NULL);
	is_int(SIGUSR1, mdeploy_exec_result_signal(r), "death by signal reported");
	is_int(-1, mdeploy_exec_result_exit_code(r), "no exit code after a signal");
	like(mdeploy_exec_result_describe(r), "killed by signal", "describe signal");
	mdeploy_exec_result_free(r);

	/* stdin is closed (/dev/null): cat must not wait for input. */
	o.timeout_ms = 5000;
	r = sh("cat; echo done", &o, NULL);
	is_str("done\n", mdeploy_exec_result_stdout(r, NULL), "stdin is /dev/null");
	ok(!mdeploy_exec_result_timed_out(r), "cat did not block on stdin");
	mdeploy_exec_result_free(r);

	/* Own process group. */
	r = sh("echo $$; cut -d' ' -f5 /proc/$$/stat", &o, NULL);
	{
		int pid = 0, pgrp = -1;
		sscanf(mdeploy_exec_result_stdout(r, NULL), "%d %d", &pid, &pgrp);
		ok(pid > 0 && pid == pgrp, "child leads its own process group (pid %d, pgrp %d)", pid, pgrp);
		ok(pgrp != (int)getpgrp(), "child is not in the caller's group");
	}
	mdeploy_exec_result_free(r);

	/* cwd and environment. */
	o.cwd = tmp;
	r = sh("pwd", &o, NULL);
	snprintf(script, sizeof(script), "%s\n", tmp);
	is_str(script, mdeploy_exec_result_stdout(r, NULL), "cwd honoured");
	mdeploy_exec_result_free(r);
	o.cwd = "/nonexistent/dir";
	{
		const char *argv[] = { "/bin/true", NULL };
		r = NULL;
		rc = mdeploy_exec_run(&r, argv, &o);
		is_int(MDEPLOY_ENOTFOUND, rc, "missing cwd is an error");
		like(mdeploy_error_last()->message, "/nonexistent/dir", "error names the directory");
		ok(r == NULL, "no result when it could not start");
	}
	o.cwd = NULL;
	{
		const char *env[] = { "FOO=bar", "PATH=/usr/bin:/bin", NULL };
		o.env = env;
		r = sh("echo \"$FOO:${HOME:-unset}\"", &o, NULL);
		is_str("bar:unset\n", mdeploy_exec_result_stdout(r, NULL), "explicit environment replaces the caller's");
		mdeploy_exec_result_free(r);
		o.env = NULL;
	}

	/* Missing program. */
	{
		const char *argv[] = { "/nonexistent/program", NULL };
		r = NULL;
		rc = mdeploy_exec_run(&r, argv, &o);
		is_int(MDEPLOY_ENOTFOUND, rc, "missing program: ENOTFOUND");
		like(mdeploy_error_last()->message, "cannot run '/nonexistent/program'", "error names the program");
		const char *argv2[] = { "mdeploy-no-such-program", NULL };
		o.search_path = 1;
		rc = mdeploy_exec_run(&r, argv2, &o);
		is_int(MDEPLOY_ENOTFOUND, rc, "missing program in PATH: ENOTFOUND");
		o.search_path = 0;
	}

	/* Timeout kills the whole group, including background children. */
	snprintf(pidfile, sizeof(pidfile), "%s/bg1.pid", tmp);
	snprintf(script, sizeof(script), "sleep 60 & echo $! > %s; wait", pidfile);
	o.timeout_ms = 300;
	t0 = mdeploy__now_ms();
	r = sh(script, &o, NULL);
	took = mdeploy__now_ms() - t0;
	ok(mdeploy_exec_result_timed_out(r), "timeout reported");
	ok(!mdeploy_exec_result_success(r), "timed out is not success");
	like(mdeploy_exec_result_describe(r), "timed out after 300 ms", "describe timeout");
	ok(took < 4000, "returned soon after the timeout (%llu ms)", (unsigned long long)took);
	bg = read_pid(pidfile);
	ok(bg > 0 && wait_dead(bg, 3000), "background child in the group was killed (pid %d)", (int)bg);
	mdeploy_exec_result_free(r);

	/* A script that ignores TERM gets KILL after the grace period. */
	snprintf(pidfile, sizeof(pidfile), "%s/bg2.pid", tmp);
	snprintf(script, sizeof(script), "trap '' TERM; sleep 60 & echo $! > %s; wait; wait", pidfile);
	o.timeout_ms = 200;
	o.kill_grace_ms = 300;
	t0 = mdeploy__now_ms();
	r = sh(script, &o, NULL);
	took = mdeploy__now_ms() - t0;
	ok(mdeploy_exec_result_timed_out(r), "TERM-ignoring script timed out");
	ok(took >= 450 && took < 4000, "killed after TERM grace (%llu ms)", (unsigned long long)took);
	bg = read_pid(pidfile);
	ok(bg > 0 && wait_dead(bg, 3000), "TERM-ignoring background child killed too");
	mdeploy_exec_result_free(r);
	o.kill_grace_ms = 3000;

	/* The CodeDeploy agent bug: a daemon started by the hook keeps stdout
	 * open. The child has exited; we must not wait for the daemon. */
	snprintf(pidfile, sizeof(pidfile), "%s/bg3.pid", tmp);
	snprintf(script, sizeof(script), "sleep 60 & echo $! > %s; echo started; exit 0", pidfile);
	o.timeout_ms = 20000;
	o.drain_ms = 300;
	t0 = mdeploy__now_ms();
	r = sh(script, &o, &rc);
	took = mdeploy__now_ms() - t0;
	is_int(0, rc, "run with a lingering child");
	ok(mdeploy_exec_result_success(r), "exit 0 is success even though stdout is still held");
	ok(!mdeploy_exec_result_timed_out(r), "did not wait until the timeout");
	ok(took < 3000, "returned within the drain time (%llu ms)", (unsigned long long)took);
	ok(mdeploy_exec_result_pipes_abandoned(r), "reports abandoned pipes");
	is_str("started\n", mdeploy_exec_result_stdout(r, NULL), "output before exit kept");
	bg = read_pid(pidfile);
	ok(bg > 0 && alive(bg), "a daemon started on success is left running");
	if (bg > 0)
		kill(bg, SIGKILL);
	mdeploy_exec_result_free(r);

	/* Output callback: streaming and abort. */
	{
		struct cb_state s = { MDEPLOY__BUF_INIT, 0, 0 };
		o.output_cb = on_output;
		o.payload = &s;
		o.timeout_ms = 5000;
		r = sh("echo one; echo two >&2", &o, &rc);
		is_int(0, rc, "callback run");
		like(mdeploy__buf_cstr(&s.seen), "[o]one", "callback saw stdout");
		like(mdeploy__buf_cstr(&s.seen), "[e]two", "callback saw stderr");
		mdeploy_exec_result_free(r);
		mdeploy__buf_clear(&s.seen);
		s.calls = 0;
		s.abort_on = 1;
		t0 = mdeploy__now_ms();
		r = sh("echo first; sleep 30; echo never", &o, &rc);
		took = mdeploy__now_ms() - t0;
		is_int(MDEPLOY_EUSER, rc, "callback abort gives EUSER");
		ok(r != NULL, "a result is still returned after abort");
		ok(took < 5000, "abort kills the child promptly (%llu ms)", (unsigned long long)took);
		if (r)
			like(mdeploy_exec_result_describe(r), "aborted", "describe abort");
		mdeploy_exec_result_free(r);
		mdeploy__buf_dispose(&s.seen);
		o.output_cb = NULL;
		o.payload = NULL;
	}

	/* Capture keeps the tail. */
	o.capture_max = 1000;
	r = sh("i=0; while [ $i -lt 2000 ]; do echo line-$i; i=$((i+1)); done", &o, NULL);
	{
		size_t len;
		const char *s = mdeploy_exec_result_stdout(r, &len);
		ok(len <= 2000, "capture bounded (%zu bytes)", len);
		ok(mdeploy_exec_result_truncated(r), "truncation reported");
		like(s, "line-1999\n", "tail kept");
	}
	mdeploy_exec_result_free(r);
	o.capture_max = 65536;

	/* runas */
	if (geteuid() == 0) {
		o.user = "nobody";
		r = sh("id -u; echo $USER $HOME", &o, &rc);
		is_int(0, rc, "run as nobody");
		like(r ? mdeploy_exec_result_stdout(r, NULL) : "", "65534\nnobody", "uid and USER switched");
		mdeploy_exec_result_free(r);
	} else {
		skip(2, "runas needs root");
	}
	o.user = "mdeploy-no-such-user";
	r = NULL;
	{
		const char *argv[] = { "/bin/true", NULL };
		rc = mdeploy_exec_run(&r, argv, &o);
	}
	is_int(MDEPLOY_ENOTFOUND, rc, "unknown user refused");
	like(mdeploy_error_last()->message, "mdeploy-no-such-user", "error names the user");
	o.user = NULL;

	return done();
}

/*
 * exec.c - run a child in its own process group, capture its output, and
 * enforce a timeout on the whole group.
 *
 * Two problems shape this file. A hook that starts a daemon leaves a
 * process holding our stdout pipe, so "wait for EOF" would hang forever:
 * we watch the direct child's exit (pidfd when the kernel has it, a short
 * poll tick otherwise) and give the pipes only `drain_ms` more. And a
 * timed-out script's children must die with it, so the child leads its
 * own process group and we signal the group, not the pid.
 */
#include "mdeploy_private.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

struct mdeploy_exec_result {
	int status;          /* raw waitpid status */
	int pid;             /* the child, leader of its own process group */
	int reaped;
	int timed_out;
	int aborted;
	int abandoned;
	int truncated;
	unsigned int timeout_ms;
	uint64_t duration_ms;
	mdeploy__buf out;
	mdeploy__buf err;
	char describe[160];
};

int mdeploy_exec_options_init(mdeploy_exec_options *opts, unsigned int version)
{
	mdeploy_exec_options tmpl = MDEPLOY_EXEC_OPTIONS_INIT;
	int rc = mdeploy__options_check(version, MDEPLOY_EXEC_OPTIONS_VERSION, "mdeploy_exec_options");
	if (rc)
		return rc;
	*opts = tmpl;
	opts->version = version;
	return 0;
}

void mdeploy_exec_result_free(mdeploy_exec_result *r)
{
	if (!r)
		return;
	mdeploy__buf_dispose(&r->out);
	mdeploy__buf_dispose(&r->err);
	free(r);
}

int mdeploy_exec_result_exit_code(const mdeploy_exec_result *r)
{
	return r->reaped && WIFEXITED(r->status) ? WEXITSTATUS(r->status) : -1;
}

int mdeploy_exec_result_signal(const mdeploy_exec_result *r)
{
	return r->reaped && WIFSIGNALED(r->status) ? WTERMSIG(r->status) : 0;
}

int mdeploy_exec_result_timed_out(const mdeploy_exec_result *r) { return r->timed_out; }
int mdeploy_exec_result_pipes_abandoned(const mdeploy_exec_result *r) { return r->abandoned; }
int mdeploy_exec_result_truncated(const mdeploy_exec_result *r) { return r->truncated; }
uint64_t mdeploy_exec_result_duration_ms(const mdeploy_exec_result *r) { return r->duration_ms; }
int mdeploy_exec_result_pid(const mdeploy_exec_result *r) { return r->pid; }

int mdeploy_exec_result_success(const mdeploy_exec_result *r)
{
	return !r->timed_out && !r->aborted && mdeploy_exec_result_exit_code(r) == 0;
}

const char *mdeploy_exec_result_stdout(const mdeploy_exec_result *r, size_t *len)
{
	if (len)
		*len = r->out.size;
	return mdeploy__buf_cstr(&r->out);
}

const char *mdeploy_exec_result_stderr(const mdeploy_exec_result *r, size_t *len)
{
	if (len)
		*len = r->err.size;
	return mdeploy__buf_cstr(&r->err);
}

const char *mdeploy_exec_result_describe(const mdeploy_exec_result *r)
{
	mdeploy_exec_result *w = (mdeploy_exec_result *)r;

	if (r->timed_out)
		snprintf(w->describe, sizeof(w->describe),
		         "timed out after %u ms; process group killed", r->timeout_ms);
	else if (r->aborted)
		snprintf(w->describe, sizeof(w->describe), "aborted by caller; process group killed");
	else if (!r->reaped)
		snprintf(w->describe, sizeof(w->describe), "was not waited for");
	else if (WIFEXITED(r->status))
		snprintf(w->describe, sizeof(w->describe), "exited with status %d", WEXITSTATUS(r->status));
	else if (WIFSIGNALED(r->status))
		snprintf(w->describe, sizeof(w->describe), "killed by signal %d (%s)",
		         WTERMSIG(r->status), strsignal(WTERMSIG(r->status)));
	else
		snprintf(w->describe, sizeof(w->describe), "ended with status 0x%x", r->status);
	return r->describe;
}

/* Keep only the last `max` bytes: hook failures are explained by their end. */
static int capture(mdeploy_exec_result *r, mdeploy__buf *b, const char *data, size_t len, size_t max)
{
	int rc;
	if (max == 0)
		return 0;
	if (len >= max) {
		data += len - max;
		len = max;
		mdeploy__buf_clear(b);
		r->truncated = 1;
	}
	if ((rc = mdeploy__buf_put(b, data, len)) != 0)
		return rc;
	if (b->size > 2 * max) {
		memmove(b->ptr, b->ptr + (b->size - max), max);
		b->size = max;
		b->ptr[max] = '\0';
		r->truncated = 1;
	}
	return 0;
}

static int pidfd_open_compat(pid_t pid)
{
#ifdef SYS_pidfd_open
	return (int)syscall(SYS_pidfd_open, pid, 0);
#else
	(void)pid;
	errno = ENOSYS;
	return -1;
#endif
}

/* Everything the child needs, computed before fork: after fork only
 * async-signal-safe calls are allowed. */
struct child_plan {
	const char *const *argv;
	char **envp;
	const char *cwd;
	int search_path;
	int switch_user;
	uid_t uid;
	gid_t gid;
	gid_t *groups;
	int ngroups;
	int out_w, err_w, status_w, devnull;
};

struct child_failure {
	int stage; /* 1 chdir, 2 setgroups/setgid/setuid, 3 exec, 4 dup */
	int err;
};

static void child_fail(int fd, int stage)
{
	struct child_failure f;
	ssize_t n;
	f.stage = stage;
	f.err = errno;
	n = write(fd, &f, sizeof(f));
	(void)n;
	_exit(127);
}

static void run_child(const struct child_plan *p)
{
	sigset_t none;
	int sig;

	setpgid(0, 0);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (sig = 1; sig < 32; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			signal(sig, SIG_DFL);
	if (dup2(p->devnull, 0) < 0 || dup2(p->out_w, 1) < 0 || dup2(p->err_w, 2) < 0)
		child_fail(p->status_w, 4);
	if (p->cwd && chdir(p->cwd) < 0)
		child_fail(p->status_w, 1);
	if (p->switch_user) {
		if (setgroups((size_t)p->ngroups, p->groups) < 0 || setgid(p->gid) < 0 || setuid(p->uid) < 0)
			child_fail(p->status_w, 2);
	}
	if (p->search_path)
		execvpe(p->argv[0], (char *const *)p->argv, p->envp);
	else
		execve(p->argv[0], (char *const *)p->argv, p->envp);
	child_fail(p->status_w, 3);
}

/* Copy `base` (NULL-terminated) replacing keys named in `over`. */
static char **env_with(const char *const *base, char **over, size_t nover)
{
	size_t n = 0, i, j, k = 0;
	char **envp;

	while (base && base[n])
		n++;
	if (!(envp = calloc(n + nover + 1, sizeof(char *))))
		return NULL;
	for (i = 0; i < n; i++) {
		const char *eq = strchr(base[i], '=');
		size_t kl = eq ? (size_t)(eq - base[i]) : strlen(base[i]);
		int replaced = 0;
		for (j = 0; j < nover; j++)
			if (!strncmp(over[j], base[i], kl) && over[j][kl] == '=')
				replaced = 1;
		if (!replaced)
			envp[k++] = (char *)base[i];
	}
	for (j = 0; j < nover; j++)
		envp[k++] = over[j];
	envp[k] = NULL;
	return envp;
}

static int resolve_user(struct child_plan *plan, const char *user, char **over, size_t *nover)
{
	struct passwd pwbuf, *pw = NULL;
	char buf[4096], *end;
	long uid;
	int ngroups = 64;

	errno = 0;
	uid = strtol(user, &end, 10);
	if (*user && !*end)
		getpwuid_r((uid_t)uid, &pwbuf, buf, sizeof(buf), &pw);
	else
		getpwnam_r(user, &pwbuf, buf, sizeof(buf), &pw);
	if (!pw)
		return mdeploy__error_set(MDEPLOY_ENOTFOUND, MDEPLOY_ERROR_CLASS_EXEC,
		                          "user '%s' does not exist", user);
	plan->uid = pw->pw_uid;
	plan->gid = pw->pw_gid;
	if (plan->uid == getuid() && plan->gid == getgid() && geteuid() == getuid()) {
		plan->switch_user = 0;
	} else {
		plan->switch_user = 1;
		for (;;) {
			gid_t *g = realloc(plan->groups, (size_t)ngroups * sizeof(gid_t));
			int n = ngroups;
			if (!g)
				return mdeploy__error_oom();
			plan->groups = g;
			if (getgrouplist(pw->pw_name, pw->pw_gid, plan->groups, &n) >= 0) {
				plan->ngroups = n;
				break;
			}
			if (n <= ngroups)
				n = ngroups * 2;
			ngroups = n;
		}
	}
	over[(*nover)++] = mdeploy__sprintf("HOME=%s", pw->pw_dir);
	over[(*nover)++] = mdeploy__sprintf("USER=%s", pw->pw_name);
	over[(*nover)++] = mdeploy__sprintf("LOGNAME=%s", pw->pw_name);
	over[(*nover)++] = mdeploy__sprintf("SHELL=%s", pw->pw_shell && *pw->pw_shell ? pw->pw_shell : "/bin/sh");
	for (size_t i = 0; i < *nover; i++)
		if (!over[i])
			return MDEPLOY_ENOMEM;
	return 0;
}

static void close_fd(int *fd)
{
	if (*fd >= 0) {
		close(*fd);
		*fd = -1;
	}
}

int mdeploy_exec_run(mdeploy_exec_result **out, const char *const *argv,
                     const mdeploy_exec_options *opts)
{
	mdeploy_exec_options defaults = MDEPLOY_EXEC_OPTIONS_INIT;
	struct child_plan plan;
	mdeploy_exec_result *r = NULL;
	char *over[8] = { 0 };
	size_t nover = 0, i;
	int out_p[2] = { -1, -1 }, err_p[2] = { -1, -1 }, st_p[2] = { -1, -1 };
	int devnull = -1, pidfd = -1, rc = 0;
	pid_t pid;
	uint64_t start, deadline = 0, kill_at = 0, drain_until = 0;
	size_t cap;
	struct child_failure failure;
	ssize_t n;

	*out = NULL;
	if (!opts)
		opts = &defaults;
	if ((rc = mdeploy__options_check(opts->version, MDEPLOY_EXEC_OPTIONS_VERSION, "mdeploy_exec_options")))
		return rc;
	if (!argv || !argv[0] || !*argv[0])
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_EXEC, "no program to run");
	cap = opts->capture_max;

	memset(&plan, 0, sizeof(plan));
	plan.argv = argv;
	plan.cwd = opts->cwd;
	plan.search_path = opts->search_path;
	if (opts->user && (rc = resolve_user(&plan, opts->user, over, &nover)) != 0)
		goto done;
	if (!(plan.envp = env_with(opts->env ? opts->env : (const char *const *)environ, over, nover))) {
		rc = mdeploy__error_oom();
		goto done;
	}
	if (!(r = calloc(1, sizeof(*r)))) {
		rc = mdeploy__error_oom();
		goto done;
	}
	r->timeout_ms = opts->timeout_ms;

	if (pipe2(out_p, O_CLOEXEC) < 0 || (!opts->merge_stderr && pipe2(err_p, O_CLOEXEC) < 0) ||
	    pipe2(st_p, O_CLOEXEC) < 0 || (devnull = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0) {
		rc = mdeploy__error_os(MDEPLOY_ERROR_CLASS_EXEC, "cannot set up pipes for '%s'", argv[0]);
		goto done;
	}
	plan.out_w = out_p[1];
	plan.err_w = opts->merge_stderr ? out_p[1] : err_p[1];
	plan.status_w = st_p[1];
	plan.devnull = devnull;

	start = mdeploy__now_ms();
	pid = fork();
	if (pid < 0) {
		rc = mdeploy__error_os(MDEPLOY_ERROR_CLASS_EXEC, "cannot fork for '%s'", argv[0]);
		goto done;
	}
	if (pid == 0)
		run_child(&plan);
	/* Also set it here so a kill(-pid) right after fork cannot miss. */
	setpgid(pid, pid);
	r->pid = (int)pid;
	close_fd(&out_p[1]);
	close_fd(&err_p[1]);
	close_fd(&st_p[1]);
	close_fd(&devnull);

	n = read(st_p[0], &failure, sizeof(failure));
	close_fd(&st_p[0]);
	if (n == (ssize_t)sizeof(failure)) {
		int status;
		waitpid(pid, &status, 0);
		errno = failure.err;
		if (failure.stage == 3)
			rc = mdeploy__error_os(MDEPLOY_ERROR_CLASS_EXEC, "cannot run '%s'", argv[0]);
		else if (failure.stage == 1)
			rc = mdeploy__error_os(MDEPLOY_ERROR_CLASS_EXEC, "cannot run '%s': cannot enter '%s'",
			                       argv[0], opts->cwd);
		else if (failure.stage == 2)
			rc = mdeploy__error_os(MDEPLOY_ERROR_CLASS_EXEC, "cannot run '%s' as user '%s'",
			                       argv[0], opts->user);
		else
			rc = mdeploy__error_os(MDEPLOY_ERROR_CLASS_EXEC, "cannot run '%s'", argv[0]);
		goto done;
	}

	pidfd = pidfd_open_compat(pid);
	if (opts->timeout_ms)
		deadline = start + opts->timeout_ms;

	while (!r->reaped || out_p[0] >= 0 || err_p[0] >= 0) {
		struct pollfd pfd[3];
		int nfds = 0, wait_ms = -1, prc;
		uint64_t now = mdeploy__now_ms();

		if (!r->reaped) {
			int status;
			pid_t w = waitpid(pid, &status, WNOHANG);
			if (w == pid) {
				r->reaped = 1;
				r->status = status;
				close_fd(&pidfd);
				drain_until = now + opts->drain_ms;
				/* A killed group's leftovers get the same treatment. */
				continue;
			}
		}
		if (!r->timed_out && !r->aborted && deadline && now >= deadline) {
			r->timed_out = 1;
			kill(-pid, SIGTERM);
			kill_at = now + opts->kill_grace_ms;
		}
		if (kill_at && now >= kill_at) {
			kill(-pid, SIGKILL);
			kill_at = 0;
		}
		if (r->reaped && now >= drain_until) {
			if (out_p[0] >= 0 || err_p[0] >= 0)
				r->abandoned = 1;
			break;
		}

		if (out_p[0] >= 0) { pfd[nfds].fd = out_p[0]; pfd[nfds].events = POLLIN; nfds++; }
		if (err_p[0] >= 0) { pfd[nfds].fd = err_p[0]; pfd[nfds].events = POLLIN; nfds++; }
		if (!r->reaped) {
			if (pidfd >= 0) {
				pfd[nfds].fd = pidfd; pfd[nfds].events = POLLIN; nfds++;
			} else {
				wait_ms = 10;
			}
		}
#define LIMIT(t) do { uint64_t t_ = (t); int ms_ = t_ > now ? (int)(t_ - now) : 0; \
		if (wait_ms < 0 || ms_ < wait_ms) wait_ms = ms_; } while (0)
		if (deadline && !r->timed_out && !r->aborted) LIMIT(deadline);
		if (kill_at) LIMIT(kill_at);
		if (r->reaped) LIMIT(drain_until);
#undef LIMIT
		prc = poll(pfd, (nfds_t)nfds, wait_ms);
		if (prc < 0) {
			if (errno == EINTR)
				continue;
			rc = mdeploy__error_os(MDEPLOY_ERROR_CLASS_EXEC, "poll failed while running '%s'", argv[0]);
			kill(-pid, SIGKILL);
			waitpid(pid, &r->status, 0);
			r->reaped = 1;
			break;
		}
		for (i = 0; i < (size_t)nfds; i++) {
			int *fdp;
			mdeploy__buf *b;
			mdeploy_exec_stream stream;
			char chunk[16384];

			if (!pfd[i].revents || pfd[i].fd == pidfd)
				continue;
			if (pfd[i].fd == out_p[0]) {
				fdp = &out_p[0]; b = &r->out; stream = MDEPLOY_EXEC_STDOUT;
			} else {
				fdp = &err_p[0]; b = &r->err; stream = MDEPLOY_EXEC_STDERR;
			}
			n = read(*fdp, chunk, sizeof(chunk));
			if (n < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (n <= 0) {
				close_fd(fdp);
				continue;
			}
			if ((rc = capture(r, b, chunk, (size_t)n, cap)) != 0) {
				kill(-pid, SIGKILL);
				break;
			}
			if (opts->output_cb && !r->aborted &&
			    opts->output_cb(stream, chunk, (size_t)n, opts->payload) != 0) {
				r->aborted = 1;
				kill(-pid, SIGTERM);
				kill_at = mdeploy__now_ms() + opts->kill_grace_ms;
			}
		}
		if (rc)
			break;
	}
	if (!r->reaped) {
		/* Only reached on an internal error above: never leave a zombie. */
		waitpid(pid, &r->status, 0);
		r->reaped = 1;
	}
	r->duration_ms = mdeploy__now_ms() - start;
	if (!rc && r->aborted)
		rc = mdeploy__error_set(MDEPLOY_EUSER, MDEPLOY_ERROR_CLASS_CALLBACK,
		                        "output callback aborted '%s'", argv[0]);

done:
	close_fd(&out_p[0]); close_fd(&out_p[1]);
	close_fd(&err_p[0]); close_fd(&err_p[1]);
	close_fd(&st_p[0]); close_fd(&st_p[1]);
	close_fd(&devnull);
	close_fd(&pidfd);
	for (i = 0; i < nover; i++)
		free(over[i]);
	free(plan.envp);
	free(plan.groups);
	if (r && (rc == 0 || rc == MDEPLOY_EUSER)) {
		*out = r;
	} else {
		mdeploy_exec_result_free(r);
	}
	return rc;
}

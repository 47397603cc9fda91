/*
 * output.c - the deployment log (ROOT/logs/<id>.log): timestamped lines of
 * the agent's own, and what hooks print, without terminal escape sequences
 * and with the deployment's secrets masked.
 */
#include "agent_private.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void utc_now(char *buf, size_t n)
{
	time_t t = time(NULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void mdeploy_agent__log_line(int fd, const char *fmt, ...)
{
	char ts[32], buf[2048];
	va_list ap;
	int n;

	if (fd < 0)
		return;
	utc_now(ts, sizeof(ts));
	n = snprintf(buf, sizeof(buf), "[%s] ", ts);
	va_start(ap, fmt);
	n += vsnprintf(buf + n, sizeof(buf) - (size_t)n, fmt, ap);
	va_end(ap);
	if (n >= (int)sizeof(buf) - 1)
		n = (int)sizeof(buf) - 2;
	buf[n++] = '\n';
	if (write(fd, buf, (size_t)n) < 0) {
		/* The log is best effort; the deployment result does not depend on it. */
	}
}

int mdeploy_agent__open_log(mdeploy_agent *a, const char *id)
{
	char *path = mdeploy__sprintf("%s/%s.log", a->logs_dir, id);
	int fd;
	if (!path)
		return -1;
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	free(path);
	return fd;
}

/* `s` with every value of `mask` replaced by "***"; NULL when out of memory. */
char *mdeploy_agent__mask(const char *const *mask, const char *s)
{
	mdeploy__buf b = MDEPLOY__BUF_INIT;
	const char *p = s;
	size_t i;
	if (!mask || !mask[0])
		return mdeploy__strdup(s);
	while (*p) {
		size_t best = 0;
		for (i = 0; mask[i]; i++) {
			size_t n = strlen(mask[i]);
			if (n > best && !strncmp(p, mask[i], n))
				best = n;
		}
		if (best) {
			mdeploy__buf_puts(&b, "***");
			p += best;
		} else {
			mdeploy__buf_put(&b, p, 1);
			p++;
		}
	}
	mdeploy__buf_puts(&b, "");
	return b.ptr ? mdeploy__buf_detach(&b) : NULL;
}

static void write_clean(mdeploy_agent__output *ls, const char *data, size_t len);

/* Masked output leaves by whole lines (a secret split across reads is caught). */
static void flush_line(mdeploy_agent__output *ls)
{
	char *m;
	if (!ls->line.size)
		return;
	m = mdeploy_agent__mask(ls->mask, mdeploy__buf_cstr(&ls->line));
	if (m)
		write_clean(ls, m, strlen(m));
	else
		write_clean(ls, "(output line not written: out of memory)\n", 41);
	if (m) {
		memset(m, 0, strlen(m));
		free(m);
	}
	memset(ls->line.ptr, 0, ls->line.size);
	ls->line.size = 0;
}

/* A hook's output goes to a file: no terminal escape sequences (colours) in it. */
int mdeploy_agent__output_cb(mdeploy_exec_stream stream, const char *data, size_t len, void *payload)
{
	mdeploy_agent__output *ls = payload;
	(void)stream;
	if (ls->mask && ls->mask[0]) {
		while (len) {
			const char *nl = memchr(data, '\n', len);
			size_t n = nl ? (size_t)(nl - data) + 1 : len;
			mdeploy__buf_put(&ls->line, data, n);
			if (nl)
				flush_line(ls);
			data += n;
			len -= n;
		}
		return 0;
	}
	write_clean(ls, data, len);
	return 0;
}

static void write_clean(mdeploy_agent__output *ls, const char *data, size_t len)
{
	char buf[8192];
	while (ls->fd >= 0 && len) {
		size_t n = len < sizeof(buf) ? len : sizeof(buf), m;
		memcpy(buf, data, n);
		m = mdeploy__ansi_strip(&ls->ansi, buf, n);
		if (m && write(ls->fd, buf, m) < 0) {
			/* best effort, as above */
		}
		data += n;
		len -= n;
	}
}

void mdeploy_agent__output_end(mdeploy_agent__output *ls)
{
	flush_line(ls);
	mdeploy__buf_dispose(&ls->line);
}

/* The last `n` lines of `s`, each prefixed for the error message. */
void mdeploy_agent__tail_lines(mdeploy__buf *out, const char *s, int n)
{
	const char *end = s + strlen(s), *p = end;
	int lines = 0;

	while (p > s && (p[-1] == '\n' || p[-1] == '\r'))
		p--;
	end = p;
	while (p > s) {
		if (p[-1] == '\n' && ++lines == n)
			break;
		p--;
	}
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		mdeploy__buf_printf(out, "\n    | %.*s", (int)len, p);
		p += len + (nl ? 1 : 0);
	}
}

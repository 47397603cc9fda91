/* tap.c - see tap.h. */
#include "tap.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int planned = -1, current, failed, lazy;
static char tmpdir[4096];

void plan(int n)
{
	planned = n;
	printf("1..%d\n", n);
	fflush(stdout);
}

void plan_lazy(void)
{
	lazy = 1;
}

void plan_skip_all(const char *reason)
{
	printf("1..0 # SKIP %s\n", reason);
	exit(0);
}

static int report(int cond, const char *fmt, va_list ap)
{
	current++;
	printf("%sok %d - ", cond ? "" : "not ", current);
	vprintf(fmt, ap);
	printf("\n");
	fflush(stdout);
	if (!cond)
		failed++;
	return cond;
}

int ok(int cond, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	report(cond, fmt, ap);
	va_end(ap);
	return cond;
}

int is_int(long long expected, long long got, const char *fmt, ...)
{
	va_list ap;
	int cond = expected == got;
	va_start(ap, fmt);
	report(cond, fmt, ap);
	va_end(ap);
	if (!cond)
		diag("    expected: %lld\n         got: %lld", expected, got);
	return cond;
}

int is_str(const char *expected, const char *got, const char *fmt, ...)
{
	va_list ap;
	int cond = (expected && got) ? strcmp(expected, got) == 0 : expected == got;
	va_start(ap, fmt);
	report(cond, fmt, ap);
	va_end(ap);
	if (!cond)
		diag("    expected: '%s'\n         got: '%s'", expected ? expected : "(null)",
		     got ? got : "(null)");
	return cond;
}

int like(const char *got, const char *needle, const char *fmt, ...)
{
	va_list ap;
	int cond = got && needle && strstr(got, needle) != NULL;
	va_start(ap, fmt);
	report(cond, fmt, ap);
	va_end(ap);
	if (!cond)
		diag("    expected to contain: '%s'\n                    got: '%s'", needle,
		     got ? got : "(null)");
	return cond;
}

void diag(const char *fmt, ...)
{
	char buf[8192], *line, *save = NULL;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fflush(stdout);
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		fprintf(stderr, "# %s\n", line);
	fflush(stderr);
}

void skip(int n, const char *fmt, ...)
{
	char reason[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	while (n-- > 0) {
		current++;
		printf("ok %d # SKIP %s\n", current, reason);
	}
	fflush(stdout);
}

static void cleanup_tmpdir(void)
{
	char cmd[4200];
	if (tmpdir[0] && !getenv("TEST_KEEP_TMP")) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
		if (system(cmd) != 0)
			fprintf(stderr, "# could not remove %s\n", tmpdir);
	}
}

const char *test_tmpdir(void)
{
	const char *base = getenv("TMPDIR");
	if (tmpdir[0])
		return tmpdir;
	snprintf(tmpdir, sizeof(tmpdir), "%s/mdeploy-test-XXXXXX", base && *base ? base : "/tmp");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		exit(99);
	}
	atexit(cleanup_tmpdir);
	return tmpdir;
}

const char *test_srcpath(const char *rel)
{
	static char buf[4][4096];
	static int i;
	const char *src = getenv("top_srcdir");
	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", src && *src ? src : ".", rel);
	return buf[i];
}

int done(void)
{
	if (lazy && planned < 0)
		printf("1..%d\n", current);
	else if (planned >= 0 && planned != current)
		diag("planned %d tests but ran %d", planned, current);
	fflush(stdout);
	return failed || (planned >= 0 && planned != current) ? 1 : 0;
}

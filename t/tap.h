/*
 * tap.h - a small TAP producer for mdeploy's C tests.
 *
 * plan(n) or plan_lazy(); ok/is_int/is_str/like print "ok N - name" or
 * "not ok N - name" with what was expected and what came instead as
 * diagnostics; done() prints a lazy plan and returns the exit status.
 */
#ifndef MDEPLOY_TAP_H
#define MDEPLOY_TAP_H

#include <stddef.h>

void plan(int n);
void plan_lazy(void);
void plan_skip_all(const char *reason);
int ok(int cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int is_int(long long expected, long long got, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int is_str(const char *expected, const char *got, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* `got` contains `needle`. */
int like(const char *got, const char *needle, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void skip(int n, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int done(void);

/* A fresh directory for this test, removed at exit. */
const char *test_tmpdir(void);
/* Path to a file under $srcdir (where t/ sources live). */
const char *test_srcpath(const char *rel);

#endif

/* Error API: codes, texts, last error per thread, errno mapping. */
#include "mdeploy_private.h"
#include "tap.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static void *other_thread(void *arg)
{
	const mdeploy_error *e = mdeploy_error_last();
	int *seen = arg;
	seen[0] = e->code;
	mdeploy__error_set(MDEPLOY_ETIMEOUT, MDEPLOY_ERROR_CLASS_EXEC, "thread error");
	seen[1] = mdeploy_error_last()->code;
	return NULL;
}

int main(void)
{
	const mdeploy_error *e;
	int seen[2] = { 99, 99 };
	pthread_t th;
	char *data;
	int rc;

	plan_lazy();

	mdeploy_error_clear();
	e = mdeploy_error_last();
	ok(e != NULL, "error_last never returns NULL");
	is_int(MDEPLOY_OK, e->code, "no error: code 0");
	is_str("no error", e->message, "no error: message");

	rc = mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_CONFIG,
	                        "%s:%d:%d: %s: must be a positive integer", "appspec.yml", 12, 5, "timeout");
	is_int(MDEPLOY_EINVALID, rc, "error_set returns its code");
	e = mdeploy_error_last();
	is_int(MDEPLOY_EINVALID, e->code, "last error code");
	is_int(MDEPLOY_ERROR_CLASS_CONFIG, e->klass, "last error class");
	is_str("appspec.yml:12:5: timeout: must be a positive integer", e->message, "message says what and where");
	is_str("config", mdeploy_error_class_name(e->klass), "class name");

	mdeploy__error_prefix("deploying '%s'", "d-ABC");
	is_str("deploying 'd-ABC': appspec.yml:12:5: timeout: must be a positive integer",
	       mdeploy_error_last()->message, "prefix keeps the original detail");

	is_str("not found", mdeploy_strerror(MDEPLOY_ENOTFOUND), "strerror ENOTFOUND");
	is_str("success", mdeploy_strerror(0), "strerror 0");
	is_str("unknown error", mdeploy_strerror(-999), "strerror unknown negative");
	is_str("unknown error", mdeploy_strerror(5), "strerror positive");
	is_str("not authorized", mdeploy_strerror(MDEPLOY_EAUTH), "strerror last code");
	/* Codes are part of the ABI: pin a few numbers. */
	is_int(-4, MDEPLOY_ENOTFOUND, "ENOTFOUND is -4 forever");
	is_int(-9, MDEPLOY_EUSER, "EUSER is -9 forever");
	is_int(-10, MDEPLOY_EVERSION, "EVERSION is -10 forever");

	ok(pthread_create(&th, NULL, other_thread, seen) == 0, "start thread");
	pthread_join(th, NULL);
	is_int(MDEPLOY_OK, seen[0], "a new thread starts with no error");
	is_int(MDEPLOY_ETIMEOUT, seen[1], "the thread sees its own error");
	is_int(MDEPLOY_EINVALID, mdeploy_error_last()->code, "this thread's error is untouched");

	rc = mdeploy__file_read(&data, NULL, "/nonexistent/mdeploy/file");
	is_int(MDEPLOY_ENOTFOUND, rc, "ENOENT maps to ENOTFOUND");
	like(mdeploy_error_last()->message, "/nonexistent/mdeploy/file", "OS error names the path");
	like(mdeploy_error_last()->message, strerror(ENOENT), "OS error gives the system's reason");
	ok(data == NULL, "no output on failure");

	rc = mdeploy_error_set(MDEPLOY_EUSER, MDEPLOY_ERROR_CLASS_CALLBACK, "stopped by %s", "caller");
	is_int(MDEPLOY_EUSER, rc, "public error_set returns its code");
	is_str("stopped by caller", mdeploy_error_last()->message, "public error_set message");

	mdeploy_error_clear();
	is_int(0, mdeploy_error_last()->code, "clear resets");

	{
		/* A very long message is cut, never overflows. */
		char *big = malloc(10000);
		memset(big, 'x', 9999);
		big[9999] = '\0';
		mdeploy__error_set(MDEPLOY_ERROR, MDEPLOY_ERROR_CLASS_NONE, "%s", big);
		ok(strlen(mdeploy_error_last()->message) < 4096, "long message truncated safely");
		mdeploy__error_prefix("%s", big);
		ok(strlen(mdeploy_error_last()->message) < 4096, "long prefix truncated safely");
		free(big);
	}
	return done();
}

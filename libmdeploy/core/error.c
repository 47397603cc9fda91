/* error.c - return codes and the per-thread last error. */
#include "mdeploy_private.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ERROR_MSG_MAX 4096

/*
 * The message lives in a fixed thread-local buffer so that reporting an
 * out-of-memory condition never needs memory.
 */
static _Thread_local char error_msg[ERROR_MSG_MAX];
static _Thread_local mdeploy_error last_error = { 0, 0, NULL };

static const char *const code_text[] = {
	"success",                        /*   0 */
	"failed",                         /*  -1 */
	"out of memory",                  /*  -2 */
	"invalid input",                  /*  -3 */
	"not found",                      /*  -4 */
	"already exists",                 /*  -5 */
	"system error",                   /*  -6 */
	"timed out",                      /*  -7 */
	"locked",                         /*  -8 */
	"aborted by callback",            /*  -9 */
	"unsupported options version",    /* -10 */
	"conflict",                       /* -11 */
	"verification failed",            /* -12 */
	"network error",                  /* -13 */
	"command failed",                 /* -14 */
	"unsupported",                    /* -15 */
	"corrupt data",                   /* -16 */
	"not authorized",                 /* -17 */
};

static const char *const class_text[] = {
	"none", "os", "nomemory", "invalid", "config", "exec", "git", "source",
	"build", "bundle", "crypto", "agent", "deploy", "pipeline", "provider",
	"store", "net", "callback",
};

const char *mdeploy_strerror(int code)
{
	if (code > 0 || (size_t)-code >= MDEPLOY__ARRAY_SIZE(code_text))
		return "unknown error";
	return code_text[-code];
}

const char *mdeploy_error_class_name(int klass)
{
	if (klass < 0 || (size_t)klass >= MDEPLOY__ARRAY_SIZE(class_text))
		return "unknown";
	return class_text[klass];
}

const mdeploy_error *mdeploy_error_last(void)
{
	if (last_error.code == 0) {
		last_error.klass = MDEPLOY_ERROR_CLASS_NONE;
		last_error.message = "no error";
		return &last_error;
	}
	last_error.message = error_msg;
	return &last_error;
}

void mdeploy_error_clear(void)
{
	last_error.code = 0;
	last_error.klass = 0;
	error_msg[0] = '\0';
}

int mdeploy__error_setv(int code, int klass, const char *fmt, va_list ap)
{
	if (code == 0)
		code = MDEPLOY_ERROR;
	last_error.code = code;
	last_error.klass = klass;
	if (fmt) {
		/* Through a copy: an argument may be the last message itself
		 * (error_set(rc, klass, "%s", mdeploy_error_last()->message)). */
		char tmp[sizeof(error_msg)];
		vsnprintf(tmp, sizeof(tmp), fmt, ap);
		memcpy(error_msg, tmp, sizeof(tmp));
	} else
		snprintf(error_msg, sizeof(error_msg), "%s", mdeploy_strerror(code));
	return code;
}

int mdeploy__error_set(int code, int klass, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	mdeploy__error_setv(code, klass, fmt, ap);
	va_end(ap);
	return code;
}

int mdeploy_error_set(int code, int klass, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	mdeploy__error_setv(code, klass, fmt, ap);
	va_end(ap);
	return code;
}

int mdeploy__error_os(int klass, const char *fmt, ...)
{
	int saved = errno, code;
	size_t n;
	va_list ap;

	switch (saved) {
	case ENOENT: code = MDEPLOY_ENOTFOUND; break;
	case EEXIST: code = MDEPLOY_EEXISTS; break;
	case ENOMEM: code = MDEPLOY_ENOMEM; break;
	case EACCES: case EPERM: code = MDEPLOY_EAUTH; break;
	case ETIMEDOUT: code = MDEPLOY_ETIMEOUT; break;
	default: code = MDEPLOY_EOS; break;
	}
	va_start(ap, fmt);
	mdeploy__error_setv(code, klass, fmt, ap);
	va_end(ap);
	n = strlen(error_msg);
	snprintf(error_msg + n, sizeof(error_msg) - n, ": %s", strerror(saved));
	errno = saved;
	return code;
}

int mdeploy__error_oom(void)
{
	return mdeploy__error_set(MDEPLOY_ENOMEM, MDEPLOY_ERROR_CLASS_NOMEMORY, "out of memory");
}

void mdeploy__error_prefix(const char *fmt, ...)
{
	char prefix[1024], tmp[ERROR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	{
		size_t pl = strnlen(prefix, sizeof(prefix)), ml = strnlen(error_msg, sizeof(error_msg));
		if (pl > sizeof(tmp) - 3)
			pl = sizeof(tmp) - 3;
		memcpy(tmp, prefix, pl);
		memcpy(tmp + pl, ": ", 2);
		if (ml > sizeof(tmp) - pl - 3)
			ml = sizeof(tmp) - pl - 3;
		memcpy(tmp + pl + 2, error_msg, ml);
		tmp[pl + 2 + ml] = '\0';
	}
	memcpy(error_msg, tmp, sizeof(error_msg));
}

int mdeploy__options_check(unsigned int version, unsigned int max, const char *name)
{
	if (version < 1 || version > max)
		return mdeploy__error_set(MDEPLOY_EVERSION, MDEPLOY_ERROR_CLASS_INVALID,
			"%s: options version %u is not supported (this library knows 1 to %u)",
			name, version, max);
	return 0;
}

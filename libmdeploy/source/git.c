/* git.c - libgit2 set-up and error translation shared by the source module. */
#include "source_private.h"

#include <pthread.h>
#include <stdarg.h>

static pthread_once_t git_once = PTHREAD_ONCE_INIT;

static void git_init_once(void)
{
	/* Balanced never: libgit2's global state lives as long as the process. */
	git_libgit2_init();
}

void mdeploy__git_init(void)
{
	pthread_once(&git_once, git_init_once);
}

int mdeploy__git_error(int gitrc, const char *fmt, ...)
{
	const git_error *ge = git_error_last();
	mdeploy__buf b = MDEPLOY__BUF_INIT;
	int code, klass = MDEPLOY_ERROR_CLASS_GIT;
	va_list ap;

	va_start(ap, fmt);
	mdeploy__buf_vprintf(&b, fmt, ap);
	va_end(ap);
	switch (gitrc) {
	case GIT_ENOTFOUND: code = MDEPLOY_ENOTFOUND; break;
	case GIT_EEXISTS: code = MDEPLOY_EEXISTS; break;
	case GIT_ELOCKED: code = MDEPLOY_ELOCKED; break;
	case GIT_EAUTH: code = MDEPLOY_EAUTH; break;
	case GIT_EUSER: code = MDEPLOY_EUSER; break;
	case GIT_ECERTIFICATE: code = MDEPLOY_EAUTH; break;
	default:
		code = MDEPLOY_ERROR;
		if (ge && (ge->klass == GIT_ERROR_NET || ge->klass == GIT_ERROR_SSH ||
		           ge->klass == GIT_ERROR_HTTP || ge->klass == GIT_ERROR_SSL)) {
			code = MDEPLOY_ENETWORK;
			klass = MDEPLOY_ERROR_CLASS_NET;
		}
	}
	code = mdeploy__error_set(code, klass, "%s%s%s", b.ptr ? b.ptr : "git",
	                          ge && ge->message ? ": " : "", ge && ge->message ? ge->message : "");
	mdeploy__buf_dispose(&b);
	return code;
}

/* git.c - libgit2 set-up and error translation shared by the source module. */
#include "source_private.h"

#include <pthread.h>
#include <stdarg.h>
#include <string.h>

static pthread_once_t git_once = PTHREAD_ONCE_INIT;

static void git_init_once(void)
{
	/* Balanced never: libgit2's global state lives as long as the process. */
	git_libgit2_init();
	/* Pack windows are mapped on demand and kept up to this much; the
	 * default (8 GiB) let a walk of a whole release keep every byte of the
	 * pack mapped, resident memory included. Reading goes on regardless. */
	git_libgit2_opts(GIT_OPT_SET_MWINDOW_SIZE, (size_t)32 << 20);
	git_libgit2_opts(GIT_OPT_SET_MWINDOW_MAPPED_LIMIT, (size_t)64 << 20);
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

/*
 * Look `rev` up as a full commit id, then as a reference (git's
 * shorthand rules), and only then with git_revparse_single(). libgit2
 * 1.5's revparse leaks pcre2 match data for every plain name it tries as
 * a describe string, so the common cases avoid it.
 */
int mdeploy__git_lookup(git_object **out, git_repository *repo, const char *rev)
{
	git_reference *ref = NULL;
	git_oid oid;
	size_t n = strlen(rev);
	int rc;

	*out = NULL;
	if (n == GIT_OID_HEXSZ && git_oid_fromstr(&oid, rev) == 0)
		return git_object_lookup(out, repo, &oid, GIT_OBJECT_ANY);
	if (git_reference_dwim(&ref, repo, rev) == 0) {
		rc = git_reference_peel(out, ref, GIT_OBJECT_ANY);
		git_reference_free(ref);
		return rc;
	}
	return git_revparse_single(out, repo, rev);
}

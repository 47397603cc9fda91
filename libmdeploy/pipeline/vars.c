/* vars.c - #{namespace.name} references and their substitution. */
#include "pipeline_private.h"

#include <stdlib.h>
#include <string.h>

int mdeploy_pipeline__ident_ok(const char *s, size_t len)
{
	size_t i;
	if (len == 0 || len > 100)
		return 0;
	for (i = 0; i < len; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

/*
 * Each "#{" opens a reference that must close with "}" and hold
 * "NS.NAME"; anything else is a malformed reference (reported with ns NULL).
 */
int mdeploy_pipeline__refs(const char *text,
                           int (*cb)(const char *ns, size_t nslen, const char *name, size_t namelen,
                                     void *payload),
                           void *payload)
{
	const char *s = text, *open, *close, *dot;
	int rc;

	while (s && (open = strstr(s, "#{")) != NULL) {
		open += 2;
		close = strchr(open, '}');
		dot = close ? memchr(open, '.', (size_t)(close - open)) : NULL;
		if (!close || !dot || !mdeploy_pipeline__ident_ok(open, (size_t)(dot - open)) ||
		    !mdeploy_pipeline__ident_ok(dot + 1, (size_t)(close - dot - 1))) {
			size_t n = close ? (size_t)(close - open) : strlen(open);
			return cb(NULL, 0, open, n, payload);
		}
		if ((rc = cb(open, (size_t)(dot - open), dot + 1, (size_t)(close - dot - 1), payload)) != 0)
			return rc;
		s = close + 1;
	}
	return 0;
}

int mdeploy_pipeline_substitute(char **out, const char *text, mdeploy_pipeline_lookup_cb lookup,
                                void *payload)
{
	mdeploy__buf b = MDEPLOY__BUF_INIT;
	const char *s = text, *open, *close, *dot;
	char ns[101], name[101];

	*out = NULL;
	if (!text)
		return 0;
	while ((open = strstr(s, "#{")) != NULL) {
		const char *v;
		mdeploy__buf_put(&b, s, (size_t)(open - s));
		close = strchr(open + 2, '}');
		dot = close ? memchr(open + 2, '.', (size_t)(close - open - 2)) : NULL;
		if (!close || !dot || !mdeploy_pipeline__ident_ok(open + 2, (size_t)(dot - open - 2)) ||
		    !mdeploy_pipeline__ident_ok(dot + 1, (size_t)(close - dot - 1))) {
			mdeploy__buf_dispose(&b);
			return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_PIPELINE,
			                          "malformed variable reference '%.*s' (expected #{namespace.name})",
			                          close ? (int)(close - open + 1) : (int)strlen(open), open);
		}
		memcpy(ns, open + 2, (size_t)(dot - open - 2));
		ns[dot - open - 2] = '\0';
		memcpy(name, dot + 1, (size_t)(close - dot - 1));
		name[close - dot - 1] = '\0';
		if (!(v = lookup(ns, name, payload))) {
			mdeploy__buf_dispose(&b);
			return mdeploy__error_set(MDEPLOY_ENOTFOUND, MDEPLOY_ERROR_CLASS_PIPELINE,
			                          "variable '#{%s.%s}' has no value", ns, name);
		}
		mdeploy__buf_puts(&b, v);
		s = close + 1;
	}
	mdeploy__buf_puts(&b, s);
	if (!(*out = mdeploy__buf_detach(&b)))
		return mdeploy__error_oom();
	return 0;
}

/*
 * For shell commands: a value never becomes shell text. Each reference is
 * replaced by ${MDEPLOY_REF_N} and its value handed over in the environment
 * (`env`, NULL-terminated "NAME=VALUE" strings), so the shell expands it
 * like any variable and evaluates nothing in it: a tag named v1$(touch x)
 * is just a string. Not quoted here: quotes added around a reference that
 * stands inside the command's own double quotes would end them.
 */
int mdeploy_pipeline__substitute_env(char **out, char ***env, const char *text,
                                     mdeploy_pipeline_lookup_cb lookup, void *payload)
{
	mdeploy__buf b = MDEPLOY__BUF_INIT;
	const char *s = text, *open, *close, *dot;
	char **vars = NULL, **refs = NULL;
	size_t n = 0, i;
	int rc = 0;

	*out = NULL;
	*env = NULL;
	if (!text)
		return 0;
	while ((open = strstr(s, "#{")) != NULL) {
		const char *v;
		char ns[101], name[101];
		mdeploy__buf_put(&b, s, (size_t)(open - s));
		close = strchr(open + 2, '}');
		dot = close ? memchr(open + 2, '.', (size_t)(close - open - 2)) : NULL;
		if (!close || !dot || !mdeploy_pipeline__ident_ok(open + 2, (size_t)(dot - open - 2)) ||
		    !mdeploy_pipeline__ident_ok(dot + 1, (size_t)(close - dot - 1))) {
			rc = mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_PIPELINE,
			                        "malformed variable reference '%.*s' (expected #{namespace.name})",
			                        close ? (int)(close - open + 1) : (int)strlen(open), open);
			goto out;
		}
		memcpy(ns, open + 2, (size_t)(dot - open - 2));
		ns[dot - open - 2] = '\0';
		memcpy(name, dot + 1, (size_t)(close - dot - 1));
		name[close - dot - 1] = '\0';
		if (!(v = lookup(ns, name, payload))) {
			rc = mdeploy__error_set(MDEPLOY_ENOTFOUND, MDEPLOY_ERROR_CLASS_PIPELINE,
			                        "variable '#{%s.%s}' has no value", ns, name);
			goto out;
		}
		for (i = 0; i < n; i++)
			if (!strncmp(refs[i], open, (size_t)(close - open + 1)) && refs[i][close - open + 1] == '\0')
				break;
		if (i == n) {
			char **nv = realloc(vars, (n + 2) * sizeof(*nv)), **nr;
			if (nv) {
				vars = nv;
				vars[n] = vars[n + 1] = NULL;
			}
			nr = nv ? realloc(refs, (n + 1) * sizeof(*nr)) : NULL;
			if (nr) {
				refs = nr;
				refs[n] = NULL;
			}
			if (!nv || !nr || !(vars[n] = mdeploy__sprintf("MDEPLOY_REF_%zu=%s", n, v)) ||
			    !(refs[n] = strndup(open, (size_t)(close - open + 1)))) {
				if (nr)
					n++;
				rc = mdeploy__error_oom();
				goto out;
			}
			n++;
		}
		mdeploy__buf_printf(&b, "${MDEPLOY_REF_%zu}", i);
		s = close + 1;
	}
	mdeploy__buf_puts(&b, s);
	if (!(*out = mdeploy__buf_detach(&b)))
		rc = mdeploy__error_oom();
out:
	for (i = 0; i < n; i++)
		free(refs[i]);
	free(refs);
	if (rc) {
		mdeploy__buf_dispose(&b);
		for (i = 0; vars && vars[i]; i++)
			free(vars[i]);
		free(vars);
		return rc;
	}
	*env = vars;
	return 0;
}

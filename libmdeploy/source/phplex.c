/*
 * phplex.c - tokens of the PHP in version.php files (see phpver.h).
 */
#include "phpver_private.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int mdeploy__lex_fail(mdeploy__lexer *lx, unsigned int line, const char *fmt, ...)
{
	mdeploy__buf b = MDEPLOY__BUF_INIT;
	va_list ap;
	int rc;
	va_start(ap, fmt);
	mdeploy__buf_vprintf(&b, fmt, ap);
	va_end(ap);
	rc = mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_SOURCE, "%s:%u: %s", lx->name,
	                        line, b.ptr ? b.ptr : "out of memory");
	mdeploy__buf_dispose(&b);
	return rc;
}

const char *mdeploy__lex_describe(const mdeploy__lexer *lx)
{
	static __thread char buf[96];
	switch (lx->type) {
	case T_EOF: return "end of file";
	case T_VAR: snprintf(buf, sizeof(buf), "'$%.60s'", lx->text); return buf;
	case T_IDENT: case T_NUMBER: snprintf(buf, sizeof(buf), "'%.60s'", lx->text); return buf;
	case T_STRING: case T_ISTRING: return "a string";
	case T_CLOSE_TAG: return "'?>'";
	default: snprintf(buf, sizeof(buf), "'%s'", lx->punct); return buf;
	}
}

static int skip_space(mdeploy__lexer *lx)
{
	while (lx->p < lx->end) {
		char c = *lx->p;
		if (c == '\n') {
			lx->line++;
			lx->p++;
		} else if (isspace((unsigned char)c)) {
			lx->p++;
		} else if (c == '#' || (c == '/' && lx->p + 1 < lx->end && lx->p[1] == '/')) {
			/* A line comment ends at the newline or at ?>. */
			while (lx->p < lx->end && *lx->p != '\n' &&
			       !(*lx->p == '?' && lx->p + 1 < lx->end && lx->p[1] == '>'))
				lx->p++;
		} else if (c == '/' && lx->p + 1 < lx->end && lx->p[1] == '*') {
			unsigned int start = lx->line;
			lx->p += 2;
			while (lx->p + 1 < lx->end && !(lx->p[0] == '*' && lx->p[1] == '/')) {
				if (*lx->p == '\n')
					lx->line++;
				lx->p++;
			}
			if (lx->p + 1 >= lx->end)
				return mdeploy__lex_fail(lx, start, "unterminated comment");
			lx->p += 2;
		} else {
			break;
		}
	}
	return 0;
}

int mdeploy__lex_next(mdeploy__lexer *lx)
{
	const char *s;
	int rc;

	free(lx->text);
	lx->text = NULL;
	lx->punct[0] = '\0';
	if ((rc = skip_space(lx)) != 0)
		return rc;
	lx->tline = lx->line;
	if (lx->p >= lx->end) {
		lx->type = T_EOF;
		return 0;
	}
	s = lx->p;
	if (*s == '$' && s + 1 < lx->end && (isalpha((unsigned char)s[1]) || s[1] == '_')) {
		const char *e = s + 1;
		while (e < lx->end && (isalnum((unsigned char)*e) || *e == '_'))
			e++;
		lx->type = T_VAR;
		lx->text = strndup(s + 1, (size_t)(e - s - 1));
		lx->p = e;
	} else if (isalpha((unsigned char)*s) || *s == '_' || *s == '\\') {
		const char *e = s + 1;
		while (e < lx->end && (isalnum((unsigned char)*e) || *e == '_' || *e == '\\'))
			e++;
		lx->type = T_IDENT;
		lx->text = strndup(s, (size_t)(e - s));
		lx->p = e;
	} else if (isdigit((unsigned char)*s) || (*s == '.' && s + 1 < lx->end && isdigit((unsigned char)s[1]))) {
		const char *e = s;
		mdeploy__buf b = MDEPLOY__BUF_INIT;
		while (e < lx->end && (isalnum((unsigned char)*e) || *e == '.' || *e == '_')) {
			if (*e != '_')
				mdeploy__buf_put(&b, e, 1);
			e++;
		}
		lx->type = T_NUMBER;
		lx->text = mdeploy__buf_detach(&b);
		lx->p = e;
	} else if (*s == '\'' || *s == '"') {
		char q = *s;
		const char *e = s + 1;
		int interp = 0;
		mdeploy__buf b = MDEPLOY__BUF_INIT;
		unsigned int start = lx->line;
		while (e < lx->end && *e != q) {
			if (*e == '\n')
				lx->line++;
			if (*e == '\\' && e + 1 < lx->end) {
				char n = e[1];
				if (q == '\'' ) {
					if (n == '\'' || n == '\\') {
						mdeploy__buf_put(&b, &n, 1);
						e += 2;
						continue;
					}
				} else {
					const char *map = strchr("nrt\\$\"", n);
					if (n == '$') {
						/* An escaped '$' is no variable: marked for interpolation. */
						mdeploy__buf_put(&b, "\x01", 1);
						e += 2;
						continue;
					}
					if (map) {
						char out = n == 'n' ? '\n' : n == 'r' ? '\r' : n == 't' ? '\t' : n;
						mdeploy__buf_put(&b, &out, 1);
						e += 2;
						continue;
					}
				}
			} else if (q == '"' && (*e == '$' || *e == '{') && e + 1 < lx->end &&
			           (isalpha((unsigned char)e[1]) || e[1] == '_' || e[1] == '$')) {
				interp = 1;
			}
			mdeploy__buf_put(&b, e, 1);
			e++;
		}
		if (e >= lx->end) {
			mdeploy__buf_dispose(&b);
			return mdeploy__lex_fail(lx, start, "unterminated string");
		}
		lx->type = interp ? T_ISTRING : T_STRING;
		if (!interp && b.ptr) {
			/* No variable in it: an escaped '$' is just a '$'. */
			char *x;
			for (x = b.ptr; (x = memchr(x, '\x01', b.size - (size_t)(x - b.ptr))) != NULL; x++)
				*x = '$';
		}
		lx->text = b.ptr ? mdeploy__buf_detach(&b) : mdeploy__strdup("");
		lx->p = e + 1;
	} else if (*s == '?' && s + 1 < lx->end && s[1] == '>') {
		lx->type = T_CLOSE_TAG;
		lx->p += 2;
	} else {
		static const char *const three[] = { "===", "!==", "?\?=" };
		static const char *const two[] = { "->", "=>", "||", "&&", "::", "==", "!=", "<=", ">=", "??",
		                                   ".=", "+=", "-=", "*=", "<>" };
		size_t i;
		lx->type = T_PUNCT;
		for (i = 0; i < 3; i++) {
			if (lx->end - s >= 3 && !memcmp(s, three[i], 3)) {
				memcpy(lx->punct, three[i], 4);
				lx->p += 3;
				return 0;
			}
		}
		for (i = 0; i < MDEPLOY__ARRAY_SIZE(two); i++) {
			if (lx->end - s >= 2 && s[0] == two[i][0] && s[1] == two[i][1]) {
				memcpy(lx->punct, two[i], 3);
				lx->p += 2;
				return 0;
			}
		}
		lx->punct[0] = *s;
		lx->punct[1] = '\0';
		lx->p++;
	}
	if ((lx->type == T_VAR || lx->type == T_IDENT || lx->type == T_NUMBER) && !lx->text)
		return mdeploy__error_oom();
	return 0;
}

int mdeploy__lex_is(const mdeploy__lexer *lx, const char *p)
{
	return lx->type == T_PUNCT && !strcmp(lx->punct, p);
}

int mdeploy__lex_ident(const mdeploy__lexer *lx, const char *name)
{
	return lx->type == T_IDENT && !strcasecmp(lx->text, name);
}

int mdeploy__lex_expect(mdeploy__lexer *lx, const char *p, const char *what)
{
	if (!mdeploy__lex_is(lx, p))
		return mdeploy__lex_fail(lx, lx->tline, "expected %s, found %s", what, mdeploy__lex_describe(lx));
	return mdeploy__lex_next(lx);
}

int mdeploy__lex_start(mdeploy__lexer *lx, const char *name, const char *text, size_t len)
{
	const char *open = text;
	memset(lx, 0, sizeof(*lx));
	lx->name = name;
	lx->line = 1;
	lx->end = text + len;
	if (len >= 3 && !memcmp(open, "\xEF\xBB\xBF", 3))
		open += 3;
	while (open < lx->end && isspace((unsigned char)*open)) {
		if (*open == '\n')
			lx->line++;
		open++;
	}
	if (lx->end - open < 5 || strncasecmp(open, "<?php", 5) != 0)
		return mdeploy__lex_fail(lx, lx->line, "does not start with <?php");
	lx->p = open + 5;
	return mdeploy__lex_next(lx);
}

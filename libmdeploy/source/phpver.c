/*
 * phpver.c - parse Moodle's version.php files without running PHP.
 * See phpver.h for the accepted language.
 */
#include "phpver.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum {
	T_EOF, T_VAR, T_IDENT, T_NUMBER, T_STRING, T_PUNCT, T_CLOSE_TAG
} tok_type;

struct lexer {
	const char *name;
	const char *p, *end;
	unsigned int line;
	/* current token */
	tok_type type;
	char *text;        /* VAR (without $), IDENT, NUMBER, STRING value */
	char punct[4];     /* "->", "=>", "||", "(", ... */
	unsigned int tline;
};

static int fail(struct lexer *lx, unsigned int line, const char *fmt, ...) MDEPLOY_FORMAT_PRINTF(3, 4);
static int fail(struct lexer *lx, unsigned int line, const char *fmt, ...)
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

static const char *describe(const struct lexer *lx)
{
	static __thread char buf[96];
	switch (lx->type) {
	case T_EOF: return "end of file";
	case T_VAR: snprintf(buf, sizeof(buf), "'$%.60s'", lx->text); return buf;
	case T_IDENT: case T_NUMBER: snprintf(buf, sizeof(buf), "'%.60s'", lx->text); return buf;
	case T_STRING: return "a string";
	case T_CLOSE_TAG: return "'?>'";
	default: snprintf(buf, sizeof(buf), "'%s'", lx->punct); return buf;
	}
}

static int skip_space(struct lexer *lx)
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
				return fail(lx, start, "unterminated comment");
			lx->p += 2;
		} else {
			break;
		}
	}
	return 0;
}

static int next(struct lexer *lx)
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
					if (map) {
						char out = n == 'n' ? '\n' : n == 'r' ? '\r' : n == 't' ? '\t' : n;
						mdeploy__buf_put(&b, &out, 1);
						e += 2;
						continue;
					}
				}
			} else if (q == '"' && (*e == '$' || *e == '{') && e + 1 < lx->end &&
			           (isalpha((unsigned char)e[1]) || e[1] == '_' || e[1] == '$')) {
				mdeploy__buf_dispose(&b);
				return fail(lx, lx->line, "a double-quoted string with a variable in it "
				            "is not a constant value");
			}
			mdeploy__buf_put(&b, e, 1);
			e++;
		}
		if (e >= lx->end) {
			mdeploy__buf_dispose(&b);
			return fail(lx, start, "unterminated string");
		}
		lx->type = T_STRING;
		lx->text = b.ptr ? mdeploy__buf_detach(&b) : mdeploy__strdup("");
		lx->p = e + 1;
	} else if (*s == '?' && s + 1 < lx->end && s[1] == '>') {
		lx->type = T_CLOSE_TAG;
		lx->p += 2;
	} else {
		static const char *const two[] = { "->", "=>", "||", "&&", "::", "==", "!=" };
		size_t i;
		lx->type = T_PUNCT;
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

static int is_punct(const struct lexer *lx, const char *p)
{
	return lx->type == T_PUNCT && !strcmp(lx->punct, p);
}

static int is_ident(const struct lexer *lx, const char *name)
{
	return lx->type == T_IDENT && !strcasecmp(lx->text, name);
}

static int expect(struct lexer *lx, const char *p, const char *what)
{
	if (!is_punct(lx, p))
		return fail(lx, lx->tline, "expected %s, found %s", what, describe(lx));
	return next(lx);
}

static void pv_free(mdeploy__pv *v)
{
	size_t i;
	if (!v)
		return;
	for (i = 0; i < v->count; i++) {
		pv_free(v->keys[i]);
		pv_free(v->values[i]);
	}
	free(v->keys);
	free(v->values);
	free(v->text);
	free(v);
}

/* Constants Moodle's version.php files use, with their values from lib/setuplib.php. */
static const struct { const char *name; double value; } constants[] = {
	{ "MATURITY_ALPHA", 50 }, { "MATURITY_BETA", 100 }, { "MATURITY_RC", 150 },
	{ "MATURITY_STABLE", 200 }, { "ANY_VERSION", -1 }, { "true", 1 }, { "false", 0 },
	{ "null", 0 },
};

static int parse_value(struct lexer *lx, mdeploy__pv **out, int depth);

static int parse_array(struct lexer *lx, mdeploy__pv *v, const char *close, int depth)
{
	int rc;
	while (!is_punct(lx, close)) {
		mdeploy__pv *a = NULL, *b = NULL;
		void *nk, *nv;
		if ((rc = parse_value(lx, &a, depth + 1)) != 0)
			return rc;
		if (is_punct(lx, "=>")) {
			if ((rc = next(lx)) != 0 || (rc = parse_value(lx, &b, depth + 1)) != 0) {
				pv_free(a);
				return rc;
			}
		} else {
			b = a;
			a = NULL;
		}
		nk = realloc(v->keys, (v->count + 1) * sizeof(*v->keys));
		if (nk)
			v->keys = nk;
		nv = realloc(v->values, (v->count + 1) * sizeof(*v->values));
		if (nv)
			v->values = nv;
		if (!nk || !nv) {
			pv_free(a);
			pv_free(b);
			return mdeploy__error_oom();
		}
		v->keys[v->count] = a;
		v->values[v->count++] = b;
		if (is_punct(lx, ",")) {
			if ((rc = next(lx)) != 0)
				return rc;
		} else if (!is_punct(lx, close)) {
			return fail(lx, lx->tline, "expected ',' or '%s' in array, found %s", close, describe(lx));
		}
	}
	return next(lx);
}

static int parse_value(struct lexer *lx, mdeploy__pv **out, int depth)
{
	mdeploy__pv *v;
	int rc = 0, neg = 0;
	size_t i;

	*out = NULL;
	if (depth > 32)
		return fail(lx, lx->tline, "arrays nested too deeply");
	if (is_punct(lx, "-")) {
		neg = 1;
		if ((rc = next(lx)) != 0)
			return rc;
		if (lx->type != T_NUMBER)
			return fail(lx, lx->tline, "expected a number after '-', found %s", describe(lx));
	}
	if (!(v = calloc(1, sizeof(*v))))
		return mdeploy__error_oom();
	v->line = lx->tline;
	switch (lx->type) {
	case T_NUMBER: {
		char *end;
		const char *t = lx->text;
		v->type = MDEPLOY__PV_NUMBER;
		if (t[0] == '0' && (t[1] == 'x' || t[1] == 'X' || t[1] == 'b' || t[1] == 'B' ||
		                    (isdigit((unsigned char)t[1]) && !strchr(t, '.')))) {
			rc = fail(lx, lx->tline, "number '%s' is not decimal; version numbers must be", t);
			break;
		}
		v->num = strtod(t, &end);
		if (*end || end == t) {
			rc = fail(lx, lx->tline, "'%s' is not a number", t);
			break;
		}
		if (neg)
			v->num = -v->num;
		v->text = neg ? mdeploy__sprintf("-%s", t) : mdeploy__strdup(t);
		rc = v->text ? next(lx) : MDEPLOY_ENOMEM;
		break;
	}
	case T_STRING:
		v->type = MDEPLOY__PV_STRING;
		v->text = lx->text;
		lx->text = NULL;
		rc = next(lx);
		if (rc == 0 && is_punct(lx, "."))
			rc = fail(lx, lx->tline, "string concatenation is not a constant value");
		break;
	case T_IDENT:
		if (is_ident(lx, "array")) {
			v->type = MDEPLOY__PV_ARRAY;
			if ((rc = next(lx)) == 0 && (rc = expect(lx, "(", "'(' after array")) == 0)
				rc = parse_array(lx, v, ")", depth);
			break;
		}
		if (is_ident(lx, "new")) {
			if ((rc = next(lx)) != 0)
				break;
			if (!is_ident(lx, "stdClass") && !is_ident(lx, "\\stdClass")) {
				rc = fail(lx, lx->tline, "only 'new stdClass()' is allowed here, found %s",
				          describe(lx));
				break;
			}
			v->type = MDEPLOY__PV_OBJECT;
			if ((rc = next(lx)) == 0 && is_punct(lx, "(") && (rc = next(lx)) == 0)
				rc = expect(lx, ")", "')'");
			break;
		}
		for (i = 0; i < MDEPLOY__ARRAY_SIZE(constants); i++)
			if (!strcmp(lx->text, constants[i].name) ||
			    (i >= 5 && !strcasecmp(lx->text, constants[i].name)))
				break;
		if (i == MDEPLOY__ARRAY_SIZE(constants)) {
			rc = fail(lx, lx->tline, "unknown constant or function '%s'", lx->text);
			break;
		}
		v->type = MDEPLOY__PV_CONST;
		v->num = constants[i].value;
		v->text = lx->text;
		lx->text = NULL;
		if ((rc = next(lx)) == 0 && (is_punct(lx, "(") || is_punct(lx, "::")))
			rc = fail(lx, v->line, "a function or method call is not a constant value");
		break;
	case T_PUNCT:
		if (is_punct(lx, "[")) {
			v->type = MDEPLOY__PV_ARRAY;
			if ((rc = next(lx)) == 0)
				rc = parse_array(lx, v, "]", depth);
			break;
		}
		/* fall through */
	default:
		rc = fail(lx, lx->tline, "expected a value, found %s", describe(lx));
		break;
	}
	if (rc == 0 && lx->type == T_PUNCT && strchr("+-*/.?", lx->punct[0]) && !lx->punct[1])
		rc = fail(lx, lx->tline, "an expression with '%s' is not a constant value", lx->punct);
	if (rc != 0) {
		pv_free(v);
		return rc;
	}
	*out = v;
	return 0;
}

/* defined('MOODLE_INTERNAL') || die(); and its spellings. */
static int parse_guard(struct lexer *lx)
{
	int rc;
	unsigned int line = lx->tline;
	if ((rc = next(lx)) != 0 || (rc = expect(lx, "(", "'('")) != 0)
		return rc;
	if (lx->type != T_STRING)
		return fail(lx, lx->tline, "expected a constant name in defined(), found %s", describe(lx));
	if ((rc = next(lx)) != 0 || (rc = expect(lx, ")", "')'")) != 0)
		return rc;
	if (!is_punct(lx, "||") && !is_ident(lx, "or"))
		return fail(lx, line, "expected defined(...) || die()");
	if ((rc = next(lx)) != 0)
		return rc;
	if (!is_ident(lx, "die") && !is_ident(lx, "exit"))
		return fail(lx, lx->tline, "expected die() or exit() after defined(...) ||, found %s",
		            describe(lx));
	if ((rc = next(lx)) != 0)
		return rc;
	if (is_punct(lx, "(")) {
		if ((rc = next(lx)) != 0)
			return rc;
		if (lx->type == T_STRING && (rc = next(lx)) != 0)
			return rc;
		if ((rc = expect(lx, ")", "')'")) != 0)
			return rc;
	}
	return 0;
}

static int add_assign(mdeploy__phpfile *f, char *var, char *prop, mdeploy__pv *value, unsigned int line)
{
	mdeploy__php_assign *a = realloc(f->assigns, (f->count + 1) * sizeof(*a));
	if (!a)
		return mdeploy__error_oom();
	f->assigns = a;
	a[f->count].var = var;
	a[f->count].prop = prop;
	a[f->count].value = value;
	a[f->count].line = line;
	f->count++;
	return 0;
}

int mdeploy__phpver_parse(mdeploy__phpfile **out, const char *name, const char *text, size_t len)
{
	struct lexer lx;
	mdeploy__phpfile *f;
	const char *open;
	int rc = 0;

	*out = NULL;
	memset(&lx, 0, sizeof(lx));
	lx.name = name;
	lx.line = 1;
	lx.end = text + len;
	/* Only whitespace may precede <?php (a BOM too). */
	open = text;
	if (len >= 3 && !memcmp(open, "\xEF\xBB\xBF", 3))
		open += 3;
	while (open < lx.end && isspace((unsigned char)*open)) {
		if (*open == '\n')
			lx.line++;
		open++;
	}
	if (lx.end - open < 5 || strncasecmp(open, "<?php", 5) != 0)
		return fail(&lx, lx.line, "does not start with <?php");
	lx.p = open + 5;
	if (!(f = calloc(1, sizeof(*f))))
		return mdeploy__error_oom();
	if ((rc = next(&lx)) != 0)
		goto out;
	while (lx.type != T_EOF && rc == 0) {
		unsigned int line = lx.tline;
		if (lx.type == T_CLOSE_TAG) {
			/* Only whitespace may follow: anything else would be output. */
			const char *q = lx.p;
			while (q < lx.end && isspace((unsigned char)*q))
				q++;
			if (q != lx.end)
				rc = fail(&lx, line, "text after '?>'");
			break;
		}
		if (is_punct(&lx, ";")) {
			rc = next(&lx);
		} else if (is_ident(&lx, "defined")) {
			if ((rc = parse_guard(&lx)) == 0)
				rc = expect(&lx, ";", "';'");
		} else if (is_ident(&lx, "declare")) {
			/* declare(strict_types=1); */
			if ((rc = next(&lx)) != 0 || (rc = expect(&lx, "(", "'('")) != 0)
				break;
			while (rc == 0 && !is_punct(&lx, ")") && lx.type != T_EOF)
				rc = next(&lx);
			if (rc == 0 && (rc = expect(&lx, ")", "')'")) == 0)
				rc = expect(&lx, ";", "';'");
		} else if (lx.type == T_VAR) {
			char *var = lx.text, *prop = NULL;
			mdeploy__pv *v = NULL;
			lx.text = NULL;
			if ((rc = next(&lx)) == 0 && is_punct(&lx, "->")) {
				if ((rc = next(&lx)) == 0) {
					if (lx.type != T_IDENT)
						rc = fail(&lx, lx.tline, "expected a property name after '->', found %s",
						          describe(&lx));
					else {
						prop = lx.text;
						lx.text = NULL;
						rc = next(&lx);
					}
				}
			}
			if (rc == 0 && !is_punct(&lx, "="))
				rc = fail(&lx, lx.tline, "expected '=' after $%s%s%s, found %s", var,
				          prop ? "->" : "", prop ? prop : "", describe(&lx));
			if (rc == 0 && (rc = next(&lx)) == 0 && (rc = parse_value(&lx, &v, 0)) == 0 &&
			    (rc = expect(&lx, ";", "';' after the value")) == 0 &&
			    (rc = add_assign(f, var, prop, v, line)) == 0)
				continue;
			free(var);
			free(prop);
			pv_free(v);
		} else {
			rc = fail(&lx, line, "expected an assignment like $plugin->version = ...; found %s",
			          describe(&lx));
		}
	}
out:
	free(lx.text);
	if (rc != 0) {
		mdeploy__phpver_free(f);
		return rc;
	}
	*out = f;
	return 0;
}

void mdeploy__phpver_free(mdeploy__phpfile *f)
{
	size_t i;
	if (!f)
		return;
	for (i = 0; i < f->count; i++) {
		free(f->assigns[i].var);
		free(f->assigns[i].prop);
		pv_free(f->assigns[i].value);
	}
	free(f->assigns);
	free(f);
}

const mdeploy__php_assign *mdeploy__phpver_get(const mdeploy__phpfile *f, const char *var,
                                               const char *prop)
{
	size_t i = f->count;
	while (i-- > 0) {
		const mdeploy__php_assign *a = &f->assigns[i];
		if (strcmp(a->var, var) != 0)
			continue;
		if ((prop == NULL) != (a->prop == NULL))
			continue;
		if (!prop || !strcmp(a->prop, prop))
			return a;
	}
	return NULL;
}

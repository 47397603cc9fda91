/*
 * phpexpr.c - expressions of version.php, evaluated as they are read
 * (see phpver.h); the functions they call are in phpcall.c.
 */
#include "phpver_private.h"

#include <stdio.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>
#include <strings.h>

/* Constants of lib/setuplib.php that version.php files use. */
static const struct { const char *name; double value; } builtins[] = {
	{ "MATURITY_ALPHA", 50 }, { "MATURITY_BETA", 100 }, { "MATURITY_RC", 150 },
	{ "MATURITY_STABLE", 200 }, { "ANY_VERSION", -1 },
};

#define MAX_NESTING 64

/* A name character of a variable in a string. */
static int namech(char c)
{
	return c == '_' || ((c | 32) >= 'a' && (c | 32) <= 'z') || (c >= '0' && c <= '9') || (unsigned char)c >= 0x80;
}

#define unknown mdeploy__php_unknown
#define find mdeploy__php_find
#define bind mdeploy__php_bind
#define read_var mdeploy__php_read_var
#define var_name mdeploy__php_var_name
#define env_copy mdeploy__php_env_copy
#define env_clear mdeploy__php_env_clear
#define merge mdeploy__php_merge

static int oom_if_null(mdeploy__pv **out, mdeploy__pv *v)
{
	*out = v;
	return v ? 0 : mdeploy__error_oom();
}

/* ---- expressions --------------------------------------------------------- */

static int parse_array(struct mdeploy__php_ev *ev, const char *close, unsigned int line, mdeploy__pv **out)
{
	mdeploy__pv *arr = mdeploy__pv_new(MDEPLOY__PV_ARRAY, NULL, 0, line);
	int rc = 0;
	if (!arr)
		return mdeploy__error_oom();
	if (++ev->nesting > MAX_NESTING) {
		mdeploy__pv_free(arr);
		return FAIL("arrays nested too deeply");
	}
	while (rc == 0 && !IS(close)) {
		mdeploy__pv *k = NULL, *v = NULL;
		if ((rc = mdeploy__php_parse_expr(ev, &v)) != 0)
			break;
		if (IS("=>")) {
			k = v;
			v = NULL;
			if ((rc = NEXT()) != 0 || (rc = mdeploy__php_parse_expr(ev, &v)) != 0) {
				mdeploy__pv_free(k);
				mdeploy__pv_free(v);
				break;
			}
		}
		if ((rc = mdeploy__pv_array_set(arr, k, v)) != 0)
			break;
		if (IS(","))
			rc = NEXT();
		else if (!IS(close))
			rc = FAIL("expected ',' or '%s' in array, found %s", close, mdeploy__lex_describe(LX));
	}
	ev->nesting--;
	if (rc == 0)
		rc = NEXT();
	if (rc) {
		mdeploy__pv_free(arr);
		return rc;
	}
	*out = arr;
	return 0;
}

/* "text $var {$obj->prop}" with the values we know. */
static int interpolate(struct mdeploy__php_ev *ev, const char *s, unsigned int line, mdeploy__pv **out)
{
	mdeploy__buf b = MDEPLOY__BUF_INIT;
	int rc = 0;
	*out = NULL;
	while (*s && !*out && !rc) {
		int brace = s[0] == '{' && s[1] == '$';
		if ((s[0] == '$' && namech(s[1]) && !(s[1] >= '0' && s[1] <= '9')) || brace) {
			const char *p = s + (brace ? 2 : 1), *e = p;
			char *var, *prop = NULL, *str;
			mdeploy__pv *v = NULL;
			while (*e && namech(*e))
				e++;
			var = strndup(p, (size_t)(e - p));
			if (e[0] == '-' && e[1] == '>') {
				const char *q = e + 2;
				while (*q && namech(*q))
					q++;
				if (q > e + 2) {
					prop = strndup(e + 2, (size_t)(q - e - 2));
					e = q;
				}
			}
			if (brace && *e != '}') {
				*out = unknown(ev, line, "a string with an expression in it");
				free(var);
				free(prop);
				break;
			}
			if (brace)
				e++;
			rc = var ? read_var(ev, var_name(ev, var), prop, line, &v) : mdeploy__error_oom();
			free(var);
			free(prop);
			if (rc)
				break;
			if (!(str = mdeploy__pv_str(v))) {
				*out = v->type == MDEPLOY__PV_UNKNOWN ? v : unknown(ev, line, "a string with an array in it");
				if (*out != v)
					mdeploy__pv_free(v);
				break;
			}
			mdeploy__buf_puts(&b, str);
			free(str);
			mdeploy__pv_free(v);
			s = e;
			continue;
		}
		mdeploy__buf_put(&b, *s == '\x01' ? "$" : s, 1);
		s++;
	}
	if (!rc && !*out)
		*out = mdeploy__pv_new(MDEPLOY__PV_STRING, b.ptr ? b.ptr : "", 0, line);
	mdeploy__buf_dispose(&b);
	return rc ? rc : *out ? 0 : mdeploy__error_oom();
}

static int parse_primary_(struct mdeploy__php_ev *ev, mdeploy__pv **out);

/* A primary expression; on an error *out is NULL (a value parsed before the
 * lexer failed on the next token is freed here, not left to the caller). */
static int parse_primary(struct mdeploy__php_ev *ev, mdeploy__pv **out)
{
	int rc;
	*out = NULL;
	if ((rc = parse_primary_(ev, out)) != 0 && *out) {
		mdeploy__pv_free(*out);
		*out = NULL;
	}
	return rc;
}

static int parse_primary_(struct mdeploy__php_ev *ev, mdeploy__pv **out)
{
	unsigned int line = LX->tline;
	int rc;
	size_t i;

	*out = NULL;
	switch (LX->type) {
	case T_NUMBER: {
		const char *t = LX->text;
		char *end;
		double d;
		if (t[0] == '0' && (t[1] == 'x' || t[1] == 'X' || t[1] == 'b' || t[1] == 'B' ||
		                    (t[1] >= '0' && t[1] <= '9' && !strchr(t, '.'))))
			return FAIL("number '%s' is not decimal; version numbers must be", t);
		d = strtod(t, &end);
		if (*end || end == t)
			return FAIL("'%s' is not a number", t);
		if (!(*out = mdeploy__pv_new(MDEPLOY__PV_NUMBER, t, d, line)))
			return mdeploy__error_oom();
		return NEXT();
	}
	case T_STRING:
		if (!(*out = mdeploy__pv_new(MDEPLOY__PV_STRING, LX->text, 0, line)))
			return mdeploy__error_oom();
		return NEXT();
	case T_ISTRING:
		if ((rc = interpolate(ev, LX->text, line, out)) != 0)
			return rc;
		return NEXT();
	case T_VAR: {
		char *var = LX->text;
		LX->text = NULL;
		if ((rc = NEXT()) == 0 && IS("->")) {
			if ((rc = NEXT()) == 0 && LX->type != T_IDENT)
				rc = FAIL("expected a property name after '->', found %s", mdeploy__lex_describe(LX));
			if (rc == 0) {
				char *prop = LX->text;
				LX->text = NULL;
				if ((rc = NEXT()) == 0 && IS("("))
					rc = FAIL("a method call is not supported in version.php");
				if (rc == 0)
					rc = read_var(ev, var_name(ev, var), prop, line, out);
				free(prop);
			}
		} else if (rc == 0) {
			rc = read_var(ev, var_name(ev, var), NULL, line, out);
		}
		free(var);
		return rc;
	}
	case T_IDENT: {
		char *name;
		if (IDENT("array")) {
			if ((rc = NEXT()) != 0 || (rc = EXPECT("(", "'(' after array")) != 0)
				return rc;
			return parse_array(ev, ")", line, out);
		}
		if (IDENT("new")) {
			if ((rc = NEXT()) != 0)
				return rc;
			if (!IDENT("stdClass") && !IDENT("\\stdClass"))
				return FAIL("only 'new stdClass()' is allowed here, found %s", mdeploy__lex_describe(LX));
			if ((rc = NEXT()) == 0 && IS("(") && (rc = NEXT()) == 0)
				rc = EXPECT(")", "')'");
			return rc ? rc : oom_if_null(out, mdeploy__pv_new(MDEPLOY__PV_OBJECT, NULL, 0, line));
		}
		if (IDENT("isset") || IDENT("empty")) {
			int isset = IDENT("isset");
			mdeploy__pv *v = NULL;
			if ((rc = NEXT()) != 0 || (rc = EXPECT("(", "'('")) != 0 || (rc = mdeploy__php_parse_expr(ev, &v)) != 0 ||
			    (rc = EXPECT(")", "')'")) != 0) {
				mdeploy__pv_free(v);
				return rc;
			}
			if (v->type == MDEPLOY__PV_UNKNOWN)
				*out = v;
			else {
				*out = isset ? mdeploy__pv_bool(!mdeploy__pv_is_null(v), line)
				             : mdeploy__pv_bool(!mdeploy__pv_truth(v), line);
				mdeploy__pv_free(v);
			}
			return *out ? 0 : mdeploy__error_oom();
		}
		if (IDENT("die") || IDENT("exit")) {
			if ((rc = NEXT()) != 0)
				return rc;
			if (IS("(") && (rc = NEXT()) == 0) {
				mdeploy__pv *v = NULL;
				if (!IS(")") && (rc = mdeploy__php_parse_expr(ev, &v)) != 0)
					return rc;
				mdeploy__pv_free(v);
				if ((rc = EXPECT(")", "')'")) != 0)
					return rc;
			}
			/* The file stops here: the rest is read, not run. */
			ev->skip = 1;
			return oom_if_null(out, mdeploy__pv_null(line));
		}
		if (IDENT("__DIR__") || IDENT("__FILE__")) {
			char *p = IDENT("__FILE__") ? mdeploy__sprintf("/%s", ev->file) : NULL;
			if (!p) {
				const char *s = strrchr(ev->file, '/');
				p = mdeploy__sprintf("/%.*s", s ? (int)(s - ev->file) : 0, ev->file);
			}
			*out = p ? mdeploy__pv_new(MDEPLOY__PV_STRING, p, 0, line) : NULL;
			free(p);
			return *out ? NEXT() : mdeploy__error_oom();
		}
		if (IDENT("__LINE__")) {
			*out = mdeploy__pv_number(line, line);
			return *out ? NEXT() : mdeploy__error_oom();
		}
		name = LX->text;
		LX->text = NULL;
		if ((rc = NEXT()) != 0) {
			free(name);
			return rc;
		}
		if (IS("(")) {
			rc = mdeploy__php_call(ev, name, line, out);
		} else if (IS("::")) {
			if ((rc = NEXT()) == 0 && LX->type != T_IDENT && LX->type != T_VAR)
				rc = FAIL("expected a name after '::', found %s", mdeploy__lex_describe(LX));
			if (rc == 0 && (rc = NEXT()) == 0 && IS("("))
				rc = FAIL("a static method call is not supported in version.php");
			if (rc == 0)
				rc = oom_if_null(out, unknown(ev, line, "it uses %s::..., a class constant only PHP can read", name));
		} else if (!strcasecmp(name, "true") || !strcasecmp(name, "false")) {
			rc = oom_if_null(out, mdeploy__pv_bool(!strcasecmp(name, "true"), line));
		} else if (!strcasecmp(name, "null")) {
			rc = oom_if_null(out, mdeploy__pv_null(line));
		} else {
			struct mdeploy__php_binding *c = find(ev->env->c, ev->env->nc, name);
			for (i = 0; i < MDEPLOY__ARRAY_SIZE(builtins); i++)
				if (!strcmp(name, builtins[i].name))
					break;
			if (c)
				rc = oom_if_null(out, c->maybe ? unknown(ev, line, "constant %s is defined under a condition "
				                                         "only PHP can decide", name)
				                               : mdeploy__pv_copy(c->v));
			else if (i < MDEPLOY__ARRAY_SIZE(builtins))
				rc = oom_if_null(out, mdeploy__pv_new(MDEPLOY__PV_CONST, name, builtins[i].value, line));
			else
				rc = oom_if_null(out, unknown(ev, line, "it uses constant %s, which is not defined in the "
				                              "files read", name));
		}
		free(name);
		return rc;
	}
	case T_PUNCT:
		if (IS("[")) {
			if ((rc = NEXT()) != 0)
				return rc;
			return parse_array(ev, "]", line, out);
		}
		if (IS("(")) {
			if ((rc = NEXT()) != 0)
				return rc;
			if (LX->type == T_IDENT && LX->p < LX->end && *LX->p == ')' &&
			    (IDENT("int") || IDENT("integer") || IDENT("float") || IDENT("double") ||
			     IDENT("string") || IDENT("bool") || IDENT("boolean"))) {
				char kind = (char)(LX->text[0] | 32);
				mdeploy__pv *v = NULL;
				double d;
				char *str;
				if ((rc = NEXT()) != 0 || (rc = NEXT()) != 0 || (rc = parse_primary(ev, &v)) != 0)
					return rc;
				if (v->type == MDEPLOY__PV_UNKNOWN) {
					*out = v;
				} else if (kind == 's') {
					str = mdeploy__pv_str(v);
					*out = str ? mdeploy__pv_new(MDEPLOY__PV_STRING, str, 0, line)
					           : unknown(ev, line, "a cast of an array to string");
					free(str);
					mdeploy__pv_free(v);
				} else if (kind == 'b') {
					*out = mdeploy__pv_bool(mdeploy__pv_truth(v) == 1, line);
					mdeploy__pv_free(v);
				} else {
					*out = mdeploy__pv_num(v, &d) == 0 ? mdeploy__pv_number(kind == 'i' && d > -9e18 && d < 9e18 ? (double)(long long)d : d, line)
					                                   : unknown(ev, line, "a cast PHP would do with warnings");
					mdeploy__pv_free(v);
				}
				return *out ? 0 : mdeploy__error_oom();
			}
			if ((rc = mdeploy__php_parse_expr(ev, out)) != 0)
				return rc;
			return EXPECT(")", "')'");
		}
		/* fall through */
	default:
		return FAIL("expected a value, found %s", mdeploy__lex_describe(LX));
	}
}

/* Postfix [key]: an element of an array. */
static int parse_postfix(struct mdeploy__php_ev *ev, mdeploy__pv **out)
{
	int rc = parse_primary(ev, out);
	while (rc == 0 && IS("[")) {
		mdeploy__pv *k = NULL, *v = *out, *r = NULL;
		unsigned int line = LX->tline;
		size_t i;
		if ((rc = NEXT()) != 0 || (rc = mdeploy__php_parse_expr(ev, &k)) != 0 || (rc = EXPECT("]", "']'")) != 0) {
			mdeploy__pv_free(k);
			break;
		}
		if (v->type == MDEPLOY__PV_UNKNOWN) {
			mdeploy__pv_free(k);
			continue;
		}
		if (k->type == MDEPLOY__PV_UNKNOWN) {
			r = k;
			k = NULL;
		} else if (v->type == MDEPLOY__PV_ARRAY) {
			char *ks = mdeploy__pv_str(k);
			for (i = 0; ks && i < v->count; i++) {
				char *x = v->keys[i] ? mdeploy__pv_str(v->keys[i]) : mdeploy__sprintf("%zu", i);
				int eq = x && !strcmp(x, ks);
				free(x);
				if (eq)
					break;
			}
			r = ks && i < v->count ? mdeploy__pv_copy(v->values[i]) : mdeploy__pv_null(line);
			free(ks);
		} else {
			r = unknown(ev, line, "it indexes something that is not an array");
		}
		mdeploy__pv_free(k);
		mdeploy__pv_free(v);
		if (!(*out = r))
			return mdeploy__error_oom();
	}
	return rc;
}

static int parse_unary(struct mdeploy__php_ev *ev, mdeploy__pv **out)
{
	unsigned int line = LX->tline;
	int rc;
	if (IS("!") || IS("-") || IS("+")) {
		char op = LX->punct[0];
		mdeploy__pv *v = NULL;
		double d;
		if ((rc = NEXT()) != 0 || (rc = parse_unary(ev, &v)) != 0) {
			mdeploy__pv_free(v);
			return rc;
		}
		if (v->type == MDEPLOY__PV_UNKNOWN) {
			*out = v;
			return 0;
		}
		if (op == '!')
			*out = mdeploy__pv_bool(!mdeploy__pv_truth(v), line);
		else if (mdeploy__pv_num(v, &d) != 0)
			*out = unknown(ev, line, "'%c' on something that is not a number", op);
		else if (v->type == MDEPLOY__PV_NUMBER && op == '-')
			*out = (v->text[0] == '-') ? mdeploy__pv_number(-d, line)
			                           : mdeploy__pv_new(MDEPLOY__PV_NUMBER, NULL, -d, line);
		else
			*out = mdeploy__pv_number(op == '-' ? -d : d, line);
		if (*out && op == '-' && v->type == MDEPLOY__PV_NUMBER && !(*out)->text)
			(*out)->text = mdeploy__sprintf("-%s", v->text);   /* "-1.50" as written */
		mdeploy__pv_free(v);
		return *out && (*out)->text ? 0 : mdeploy__error_oom();
	}
	if ((rc = parse_postfix(ev, out)) != 0) {
		mdeploy__pv_free(*out);
		*out = NULL;
	}
	return rc;
}

enum { L_MUL, L_ADD, L_CAT, L_CMP, L_EQ, L_AND, L_OR, L_LEVELS };

static int op_level(struct mdeploy__php_ev *ev)
{
	if (LX->type != T_PUNCT)
		return -1;
	if (IS("*") || IS("/") || IS("%"))
		return L_MUL;
	if (IS("+") || IS("-"))
		return L_ADD;
	if (IS("."))
		return L_CAT;
	if (IS("<") || IS(">") || IS("<=") || IS(">="))
		return L_CMP;
	if (IS("==") || IS("!=") || IS("===") || IS("!==") || IS("<>"))
		return L_EQ;
	if (IS("&&"))
		return L_AND;
	if (IS("||"))
		return L_OR;
	return -1;
}

mdeploy__pv *mdeploy__php_binary(struct mdeploy__php_ev *ev, const char *op, mdeploy__pv *a, mdeploy__pv *b, unsigned int line)
{
	double x, y;
	char *s, *t;
	mdeploy__pv *r;
	if (a->type == MDEPLOY__PV_UNKNOWN)
		return mdeploy__pv_copy(a);
	if (b->type == MDEPLOY__PV_UNKNOWN)
		return mdeploy__pv_copy(b);
	if (!strcmp(op, ".")) {
		s = mdeploy__pv_str(a);
		t = mdeploy__pv_str(b);
		r = s && t ? mdeploy__pv_new(MDEPLOY__PV_STRING, NULL, 0, line) : NULL;
		if (r && !(r->text = mdeploy__sprintf("%s%s", s, t))) {
			mdeploy__pv_free(r);
			r = NULL;
		}
		if (!r && (!s || !t))
			r = unknown(ev, line, "it joins an array to a string");
		free(s);
		free(t);
		return r;
	}
	if (!strcmp(op, "===") || !strcmp(op, "!=="))
		return mdeploy__pv_bool(mdeploy__pv_equal(a, b) == (op[0] == '='), line);
	if (mdeploy__pv_num(a, &x) != 0 || mdeploy__pv_num(b, &y) != 0) {
		if ((!strcmp(op, "==") || !strcmp(op, "!=")) && a->type == MDEPLOY__PV_STRING && b->type == MDEPLOY__PV_STRING)
			return mdeploy__pv_bool(!strcmp(a->text, b->text) == (op[0] == '='), line);
		return unknown(ev, line, "'%s' on values PHP would have to convert", op);
	}
	switch (op[0]) {
	case '+': return mdeploy__pv_number(x + y, line);
	case '-': return mdeploy__pv_number(x - y, line);
	case '*': return mdeploy__pv_number(x * y, line);
	case '/': return y == 0 ? unknown(ev, line, "a division by zero") : mdeploy__pv_number(x / y, line);
	case '%':
		/* PHP takes % on integers; a float beyond them (or NaN) has no integer value we could know. */
		if (!(fabs(x) < 9.2e18) || !(fabs(y) < 9.2e18))
			return unknown(ev, line, "'%%' on a number beyond PHP's integers");
		return (long long)y == 0 ? unknown(ev, line, "a division by zero")
		                         : mdeploy__pv_number((double)((long long)x % (long long)y), line);
	case '<': return mdeploy__pv_bool(op[1] == '=' ? x <= y : op[1] == '>' ? x != y : x < y, line);
	case '>': return mdeploy__pv_bool(op[1] == '=' ? x >= y : x > y, line);
	case '=': return mdeploy__pv_bool(x == y, line);
	default: return mdeploy__pv_bool(x != y, line);   /* != */
	}
}

/* Runs the parse of the right-hand side of && / || (or a branch) on a
 * copy of the environment when whether it runs is unknown. */
static int parse_maybe(struct mdeploy__php_ev *ev, int (*fn)(struct mdeploy__php_ev *, mdeploy__pv **, int), int arg, mdeploy__pv **out,
                       unsigned int line)
{
	struct mdeploy__php_env copy, *saved = ev->env;
	int rc;
	if (ev->skip)
		return fn(ev, out, arg);
	if ((rc = env_copy(&copy, ev->env)) != 0)
		return rc;
	ev->env = &copy;
	rc = fn(ev, out, arg);
	ev->env = saved;
	/* die() on a path that may not run does not stop the file. */
	ev->skip = 0;
	if (rc) {
		env_clear(&copy);
		return rc;
	}
	return merge(ev, &copy, line);
}

static int parse_binary_(struct mdeploy__php_ev *ev, mdeploy__pv **out, int level);

/* Like every parse_* function: on an error, nothing is left in *out. */
static int parse_binary(struct mdeploy__php_ev *ev, mdeploy__pv **out, int level)
{
	int rc = parse_binary_(ev, out, level);
	if (rc) {
		mdeploy__pv_free(*out);
		*out = NULL;
	}
	return rc;
}

static int parse_binary_(struct mdeploy__php_ev *ev, mdeploy__pv **out, int level)
{
	int rc = level == 0 ? parse_unary(ev, out) : parse_binary(ev, out, level - 1);
	while (rc == 0 && op_level(ev) == level) {
		char op[4];
		unsigned int line = LX->tline;
		mdeploy__pv *r = NULL, *res;
		int truth = -1, was_skip = ev->skip;
		memcpy(op, LX->punct, sizeof(op));
		if ((rc = NEXT()) != 0)
			break;
		if (level == L_AND || level == L_OR) {
			truth = mdeploy__pv_truth(*out);
			if (truth == (level == L_OR)) {
				/* Short circuit: the right side is read, not run. */
				ev->skip = 1;
				rc = parse_binary(ev, &r, level - 1);
				ev->skip = was_skip;
				mdeploy__pv_free(r);
				mdeploy__pv_free(*out);
				*out = mdeploy__pv_bool(level == L_OR, line);
			} else if (truth < 0) {
				rc = parse_maybe(ev, parse_binary, level - 1, &r, line);
				mdeploy__pv_free(r);   /* the result stays the left side's UNKNOWN */
			} else {
				rc = parse_binary(ev, &r, level - 1);
				if (rc == 0) {
					int t = mdeploy__pv_truth(r);
					mdeploy__pv_free(*out);
					*out = t < 0 ? r : mdeploy__pv_bool(t, line);
					if (t >= 0)
						mdeploy__pv_free(r);
				}
			}
			if (rc == 0 && !*out)
				rc = mdeploy__error_oom();
			continue;
		}
		if ((rc = level == 0 ? parse_unary(ev, &r) : parse_binary(ev, &r, level - 1)) != 0) {
			mdeploy__pv_free(r);
			break;
		}
		res = mdeploy__php_binary(ev, op, *out, r, line);
		mdeploy__pv_free(*out);
		mdeploy__pv_free(r);
		if (!(*out = res))
			rc = mdeploy__error_oom();
	}
	return rc;
}

static int parse_ternary_(struct mdeploy__php_ev *ev, mdeploy__pv **out);

/* ?: and ??; on an error nothing is left in *out. */
static int parse_ternary(struct mdeploy__php_ev *ev, mdeploy__pv **out)
{
	int rc = parse_ternary_(ev, out);
	if (rc) {
		mdeploy__pv_free(*out);
		*out = NULL;
	}
	return rc;
}

static int parse_ternary_(struct mdeploy__php_ev *ev, mdeploy__pv **out)
{
	unsigned int line = LX->tline;
	int rc = parse_binary(ev, out, L_LEVELS - 1), was_skip = ev->skip;
	if (rc)
		return rc;
	if (IS("??")) {
		mdeploy__pv *r = NULL;
		int known = (*out)->type != MDEPLOY__PV_UNKNOWN, isnull = mdeploy__pv_is_null(*out);
		if ((rc = NEXT()) != 0)
			return rc;
		ev->skip = was_skip || (known && !isnull);
		rc = parse_ternary(ev, &r);
		ev->skip = was_skip;
		if (rc == 0 && known && isnull) {
			mdeploy__pv_free(*out);
			*out = r;
			r = NULL;
		}
		mdeploy__pv_free(r);
		return rc;
	}
	if (IS("?")) {
		mdeploy__pv *a = NULL, *b = NULL;
		int t = mdeploy__pv_truth(*out), elvis;
		if ((rc = NEXT()) != 0)
			return rc;
		elvis = IS(":");
		if (!elvis) {
			ev->skip = was_skip || t == 0;
			rc = mdeploy__php_parse_expr(ev, &a);
			ev->skip = was_skip;
		}
		if (rc == 0 && (rc = EXPECT(":", "':'")) == 0) {
			ev->skip = was_skip || t == 1;
			rc = parse_ternary(ev, &b);
			ev->skip = was_skip;
		}
		if (rc == 0) {
			mdeploy__pv *pick = t == 1 ? (elvis ? NULL : a) : t == 0 ? b : NULL;
			if (t == 1 && elvis) {
				/* $x ?: $y with $x true: $x. */
			} else if (pick) {
				mdeploy__pv_free(*out);
				*out = pick == a ? a : b;
				if (pick == a)
					a = NULL;
				else
					b = NULL;
			} else if (t < 0 && !elvis && a && b && mdeploy__pv_equal(a, b)) {
				mdeploy__pv_free(*out);
				*out = a;
				a = NULL;
			} else if (t < 0 && (*out)->type != MDEPLOY__PV_UNKNOWN) {
				mdeploy__pv_free(*out);
				*out = unknown(ev, line, "it is chosen by a condition only PHP can decide");
				if (!*out)
					rc = mdeploy__error_oom();
			}   /* else: the condition's own UNKNOWN says why */
		}
		mdeploy__pv_free(a);
		mdeploy__pv_free(b);
	}
	return rc;
}

/* Lowest: the keywords `and`, `or`. */
int mdeploy__php_parse_expr(struct mdeploy__php_ev *ev, mdeploy__pv **out)
{
	int rc;
	if (++ev->nesting > MAX_NESTING) {
		ev->nesting--;
		return FAIL("expression nested too deeply");
	}
	rc = parse_ternary(ev, out);
	while (rc == 0 && (IDENT("and") || IDENT("or"))) {
		int is_or = IDENT("or"), t = mdeploy__pv_truth(*out), was_skip = ev->skip;
		mdeploy__pv *r = NULL;
		unsigned int line = LX->tline;
		if ((rc = NEXT()) != 0)
			break;
		if (t == is_or) {
			ev->skip = 1;
			rc = parse_ternary(ev, &r);
			ev->skip = was_skip;
		} else {
			rc = parse_ternary(ev, &r);
			if (rc == 0 && t >= 0) {
				int rt = mdeploy__pv_truth(r);
				mdeploy__pv_free(*out);
				*out = rt < 0 ? mdeploy__pv_copy(r) : mdeploy__pv_bool(rt, line);
			}
		}
		mdeploy__pv_free(r);
		if (rc == 0 && !*out)
			rc = mdeploy__error_oom();
	}
	ev->nesting--;
	if (rc) {
		mdeploy__pv_free(*out);
		*out = NULL;
	}
	return rc;
}


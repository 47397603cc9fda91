/*
 * phpver.c - evaluate Moodle's version.php files without running PHP: the
 * environment, statements and includes (expressions are in phpexpr.c).
 * See phpver.h for the language and what becomes UNKNOWN.
 */
#include "phpver_private.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_INCLUDE_DEPTH 8

static int assign(struct mdeploy__php_ev *ev, const char *var, const char *prop, mdeploy__pv *v, unsigned int line)
{
	char *key;
	int rc;
	if (ev->skip) {
		mdeploy__pv_free(v);
		return 0;
	}
	if (!prop && v && (v->type == MDEPLOY__PV_OBJECT || v->type == MDEPLOY__PV_UNKNOWN))
		mdeploy__php_unbind_prefix(ev->env, var);   /* a new object: no properties yet */
	if (!(key = prop ? mdeploy__sprintf("%s->%s", var, prop) : mdeploy__strdup(var))) {
		mdeploy__pv_free(v);
		return mdeploy__error_oom();
	}
	rc = mdeploy__php_bind(&ev->env->b, &ev->env->n, key, v, line, 0);
	free(key);
	return rc;
}


/* unset(): the variable or property reads as null again. */
static int assign_null(struct mdeploy__php_ev *ev, const char *key)
{
	return mdeploy__php_bind(&ev->env->b, &ev->env->n, key, mdeploy__pv_null(LX->tline), LX->tline, 0);
}

/* ---- statements ------------------------------------------------------- */

static int parse_statement(struct mdeploy__php_ev *ev);

/* ';' or a '?>' that ends the statement (left for the file loop). */
static int end_statement(struct mdeploy__php_ev *ev)
{
	if (LX->type == T_CLOSE_TAG)
		return 0;
	return EXPECT(";", "';'");
}

/* Skips to the ';' that ends a statement we ignore (global, use, ...). */
static int skip_to_semicolon(struct mdeploy__php_ev *ev)
{
	int rc = 0;
	while (rc == 0 && !IS(";") && LX->type != T_EOF && LX->type != T_CLOSE_TAG)
		rc = NEXT();
	return rc ? rc : end_statement(ev);
}

/* function/class definitions do nothing when the file runs: skip them. */
static int skip_definition(struct mdeploy__php_ev *ev)
{
	int rc = 0, depth = 0;
	while (rc == 0 && !IS("{") && LX->type != T_EOF)
		rc = NEXT();
	while (rc == 0 && LX->type != T_EOF) {
		if (IS("{"))
			depth++;
		else if (IS("}") && --depth == 0)
			return NEXT();
		rc = NEXT();
	}
	return rc ? rc : FAIL("unterminated definition");
}

/* Every variable we knew may have been changed by code we could not read. */
static int make_opaque(struct mdeploy__php_ev *ev, mdeploy__pv *why)
{
	size_t i;
	if (!why)
		return mdeploy__error_oom();
	for (i = 0; i < ev->env->n; i++) {
		mdeploy__pv *c = mdeploy__pv_copy(why);
		if (!c) {
			mdeploy__pv_free(why);
			return mdeploy__error_oom();
		}
		mdeploy__pv_free(ev->env->b[i].v);
		ev->env->b[i].v = c;
	}
	mdeploy__pv_free(ev->env->opaque);
	ev->env->opaque = why;
	return 0;
}

static int add_include(mdeploy__phpfile *f, const char *path, int *seen)
{
	char **n;
	size_t i;
	for (i = 0; i < f->nincludes; i++)
		if (!strcmp(f->includes[i], path)) {
			*seen = 1;
			return 0;
		}
	*seen = 0;
	if (!(n = realloc(f->includes, (f->nincludes + 1) * sizeof(*n))))
		return mdeploy__error_oom();
	f->includes = n;
	if (!(n[f->nincludes] = mdeploy__strdup(path)))
		return mdeploy__error_oom();
	f->nincludes++;
	return 0;
}

static int run_file(struct mdeploy__php_ev *ev);

/* "/a/./b/../c" -> "a/c" (a tree path); NULL when it leaves the tree. */
static char *tree_path(const char *p)
{
	mdeploy__buf b = MDEPLOY__BUF_INIT;
	while (*p) {
		const char *e = strchr(p, '/');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		if (n == 2 && !strncmp(p, "..", 2)) {
			char *slash;
			if (!b.size) {
				mdeploy__buf_dispose(&b);
				return NULL;
			}
			slash = strrchr(b.ptr, '/');
			b.size = slash ? (size_t)(slash - b.ptr) : 0;
			b.ptr[b.size] = '\0';
		} else if (n && !(n == 1 && *p == '.')) {
			if (b.size)
				mdeploy__buf_put(&b, "/", 1);
			mdeploy__buf_put(&b, p, n);
		}
		p += n;
		if (*p == '/')
			p++;
	}
	return b.ptr ? mdeploy__buf_detach(&b) : NULL;
}

/* require/include[_once] EXPR: the file is read and run in the same scope. */
static int parse_include(struct mdeploy__php_ev *ev)
{
	unsigned int line = LX->tline;
	int once = strstr(LX->text, "_once") != NULL, rc, seen = 0;
	mdeploy__pv *v = NULL;
	char *path = NULL, *data = NULL;
	size_t len = 0;

	if ((rc = NEXT()) != 0 || (rc = mdeploy__php_parse_expr(ev, &v)) != 0 || (rc = end_statement(ev)) != 0) {
		mdeploy__pv_free(v);
		return rc;
	}
	if (ev->skip) {
		mdeploy__pv_free(v);
		return 0;
	}
	if (v->type == MDEPLOY__PV_UNKNOWN) {
		rc = make_opaque(ev, mdeploy__php_unknown(ev, line, "it includes a file whose name is unknown: %s", v->text));
		mdeploy__pv_free(v);
		return rc;
	}
	if (v->type != MDEPLOY__PV_STRING) {
		mdeploy__pv_free(v);
		return make_opaque(ev, mdeploy__php_unknown(ev, line, "it includes something that is not a file name"));
	}
	if (v->text[0] == '/') {
		path = tree_path(v->text);
	} else {
		const char *s = strrchr(ev->file, '/');
		char *rel = mdeploy__sprintf("%.*s/%s", s ? (int)(s - ev->file) : 0, ev->file, v->text);
		path = rel ? tree_path(rel) : NULL;
		free(rel);
	}
	if (!path) {
		rc = make_opaque(ev, mdeploy__php_unknown(ev, line, "it includes '%s', outside the tree", v->text));
		mdeploy__pv_free(v);
		return rc;
	}
	mdeploy__pv_free(v);
	if ((rc = add_include(ev->f, path, &seen)) != 0 || (once && seen)) {
		free(path);
		return rc;
	}
	if (ev->depth >= MAX_INCLUDE_DEPTH)
		rc = make_opaque(ev, mdeploy__php_unknown(ev, line, "it includes '%s' too deeply", path));
	else if (!ev->ctx->read || (rc = ev->ctx->read(path, &data, &len, ev->ctx->payload)) == MDEPLOY_ENOTFOUND)
		rc = make_opaque(ev, mdeploy__php_unknown(ev, line, "it includes '%s', which %s", path,
		                                          ev->ctx->read ? "is not in the tree" : "was not read"));
	if (rc || !data) {
		free(path);
		return rc;
	}
	{
		mdeploy__lexer lx, *saved_lx = ev->lx;
		const char *saved_file = ev->file;
		ev->depth++;
		ev->file = path;
		ev->lx = &lx;
		rc = mdeploy__lex_start(&lx, path, data, len);
		if (rc == 0)
			rc = run_file(ev);
		free(lx.text);
		ev->lx = saved_lx;
		ev->file = saved_file;
		ev->depth--;
		ev->returned = 0;
		if (rc == MDEPLOY_EINVALID)
			/* More than version.php's language: what it did is unknown. */
			rc = make_opaque(ev, mdeploy__php_unknown(ev, line, "it includes %s", mdeploy_error_last()->message));
	}
	free(data);
	free(path);
	return rc;
}

/* A target: $var, $var->prop, each with an optional [key] or []. */
static int parse_assignment(struct mdeploy__php_ev *ev)
{
	unsigned int line = LX->tline;
	char *var = LX->text, *prop = NULL, op[4];
	mdeploy__pv *key = NULL, *v = NULL, *old = NULL;
	int rc, indexed = 0;

	LX->text = NULL;
	if ((rc = NEXT()) == 0 && IS("->")) {
		if ((rc = NEXT()) == 0 && LX->type != T_IDENT)
			rc = FAIL("expected a property name after '->', found %s", mdeploy__lex_describe(LX));
		if (rc == 0) {
			prop = LX->text;
			LX->text = NULL;
			rc = NEXT();
		}
	}
	if (rc == 0 && IS("[")) {
		indexed = 1;
		if ((rc = NEXT()) == 0 && !IS("]"))
			rc = mdeploy__php_parse_expr(ev, &key);
		if (rc == 0)
			rc = EXPECT("]", "']'");
		if (rc == 0 && IS("["))
			rc = FAIL("nested array assignments are not supported in version.php");
	}
	if (rc == 0 && !(IS("=") || IS(".=") || IS("+=") || IS("-=") || IS("*=") || IS("?\?=")))
		rc = FAIL("expected '=' after $%s%s%s, found %s", var, prop ? "->" : "", prop ? prop : "",
		          mdeploy__lex_describe(LX));
	if (rc == 0) {
		memcpy(op, LX->punct, sizeof(op));
		rc = NEXT();
	}
	if (rc == 0)
		rc = mdeploy__php_parse_expr(ev, &v);
	if (rc == 0)
		rc = end_statement(ev);
	if (rc || ev->skip)
		goto out;
	{
		const char *name = mdeploy__php_var_name(ev, var);
		if (op[0] != '=' || indexed)
			rc = mdeploy__php_read_var(ev, name, prop, line, &old);
		if (rc == 0 && indexed) {
			mdeploy__pv *elem = v, *arr;
			v = NULL;
			if (old->type == MDEPLOY__PV_UNKNOWN || (key && key->type == MDEPLOY__PV_UNKNOWN)) {
				mdeploy__pv_free(elem);
				arr = mdeploy__pv_copy(old->type == MDEPLOY__PV_UNKNOWN ? old : key);
			} else if (old->type != MDEPLOY__PV_ARRAY && !mdeploy__pv_is_null(old)) {
				mdeploy__pv_free(elem);
				arr = mdeploy__php_unknown(ev, line, "it indexes something that is not an array");
			} else {
				arr = old->type == MDEPLOY__PV_ARRAY ? mdeploy__pv_copy(old) : mdeploy__pv_new(MDEPLOY__PV_ARRAY, NULL, 0, line);
				if (op[0] != '=') {
					mdeploy__pv_free(elem);
					mdeploy__pv_free(arr);
					arr = mdeploy__php_unknown(ev, line, "a compound assignment to an array element");
				} else if (arr) {
					rc = mdeploy__pv_array_set(arr, key, elem);
					key = NULL;
				} else {
					mdeploy__pv_free(elem);
				}
			}
			v = arr;
		} else if (rc == 0 && op[0] != '=') {
			mdeploy__pv *r;
			if (op[0] == '?')
				r = mdeploy__pv_is_null(old) ? mdeploy__pv_copy(v) : old->type == MDEPLOY__PV_UNKNOWN
				  ? mdeploy__pv_copy(old) : mdeploy__pv_copy(old);
			else {
				char bop[2] = { op[0], 0 };
				r = mdeploy__php_binary(ev, bop, old, v, line);
			}
			mdeploy__pv_free(v);
			v = r;
		}
		if (rc == 0)
			rc = v ? assign(ev, name, prop, v, line) : mdeploy__error_oom();
		v = NULL;
	}
out:
	free(var);
	free(prop);
	mdeploy__pv_free(key);
	mdeploy__pv_free(v);
	mdeploy__pv_free(old);
	return rc;
}

static int parse_block(struct mdeploy__php_ev *ev)
{
	int rc = NEXT();
	while (rc == 0 && !IS("}")) {
		if (LX->type == T_EOF || LX->type == T_CLOSE_TAG)
			return FAIL("expected '}', found %s", mdeploy__lex_describe(LX));
		rc = parse_statement(ev);
	}
	return rc ? rc : NEXT();
}

static int is_one_of(struct mdeploy__php_ev *ev, const char *const *words)
{
	for (; *words; words++)
		if (IDENT(*words))
			return 1;
	return 0;
}

/* Statements up to one of `ends` (the alternative syntax's blocks). */
static int parse_until(struct mdeploy__php_ev *ev, const char *const *ends)
{
	int rc = 0;
	while (rc == 0 && !is_one_of(ev, ends)) {
		if (LX->type == T_EOF || LX->type == T_CLOSE_TAG)
			return FAIL("expected '%s', found %s", ends[0], mdeploy__lex_describe(LX));
		rc = parse_statement(ev);
	}
	return rc;
}

enum { SKIP, RUN, MAYBE };

/* if/elseif/else, with braces, single statements or `:` ... endif; */
static int parse_if(struct mdeploy__php_ev *ev)
{
	static const char *const alt_then[] = { "elseif", "else", "endif", NULL };
	static const char *const alt_else[] = { "endif", NULL };
	unsigned int line = LX->tline;
	mdeploy__pv *cond = NULL;
	struct mdeploy__php_env copy, *orig = ev->env;
	int rc, t, alt, was_skip = ev->skip, then_mode, else_mode, died = 0;

	if ((rc = NEXT()) != 0 || (rc = EXPECT("(", "'(' after if")) != 0 ||
	    (rc = mdeploy__php_parse_expr(ev, &cond)) != 0 || (rc = EXPECT(")", "')'")) != 0) {
		mdeploy__pv_free(cond);
		return rc;
	}
	t = mdeploy__pv_truth(cond);
	mdeploy__pv_free(cond);
	then_mode = was_skip ? SKIP : t == 1 ? RUN : t == 0 ? SKIP : MAYBE;
	else_mode = was_skip ? SKIP : t == 1 ? SKIP : t == 0 ? RUN : MAYBE;
	if ((alt = IS(":")) && (rc = NEXT()) != 0)
		return rc;
	if (then_mode == MAYBE) {
		if ((rc = mdeploy__php_env_copy(&copy, orig)) != 0)
			return rc;
		ev->env = &copy;
	}
	ev->skip = then_mode == SKIP;
	rc = alt ? parse_until(ev, alt_then) : IS("{") ? parse_block(ev) : parse_statement(ev);
	died = then_mode == RUN && ev->skip && !ev->returned;
	ev->env = orig;
	ev->skip = else_mode == SKIP;
	if (rc == 0) {
		if (IDENT("elseif")) {
			rc = parse_if(ev);   /* takes the endif too */
		} else if (IDENT("else")) {
			if ((rc = NEXT()) == 0) {
				if (alt && (rc = EXPECT(":", "':' after else")) == 0 && (rc = parse_until(ev, alt_else)) == 0 &&
				    (rc = NEXT()) == 0)
					rc = end_statement(ev);
				else if (!alt)
					rc = IDENT("if") ? parse_if(ev) : IS("{") ? parse_block(ev) : parse_statement(ev);
			}
		} else if (alt) {
			if (!IDENT("endif"))
				rc = FAIL("expected endif, found %s", mdeploy__lex_describe(LX));
			else if ((rc = NEXT()) == 0)
				rc = end_statement(ev);
		}
	}
	died = died || (else_mode == RUN && ev->skip && !ev->returned);
	if (then_mode == MAYBE) {
		if (rc == 0)
			rc = mdeploy__php_merge(ev, &copy, line);
		else
			mdeploy__php_env_clear(&copy);
	}
	ev->skip = was_skip || died || ev->returned;
	return rc;
}

static int parse_statement(struct mdeploy__php_ev *ev)
{
	mdeploy__pv *v = NULL;
	int rc;

	if (IS(";"))
		return NEXT();
	if (IS("{"))
		return parse_block(ev);
	if (LX->type == T_VAR)
		return parse_assignment(ev);
	if (LX->type == T_IDENT) {
		static const char *const unsupported[] = { "for", "foreach", "while", "do", "switch", "try",
		                                           "goto", "match", "throw", "yield", NULL };
		static const char *const definitions[] = { "function", "class", "interface", "trait", "abstract",
		                                           "final", "enum", "readonly", NULL };
		if (IDENT("if"))
			return parse_if(ev);
		if (IDENT("global") || IDENT("namespace") || IDENT("use") || IDENT("declare"))
			return skip_to_semicolon(ev);
		if (IDENT("require") || IDENT("require_once") || IDENT("include") || IDENT("include_once"))
			return parse_include(ev);
		if (IDENT("return")) {
			if ((rc = NEXT()) == 0 && !IS(";") && LX->type != T_CLOSE_TAG)
				rc = mdeploy__php_parse_expr(ev, &v);
			mdeploy__pv_free(v);
			if (rc == 0 && !ev->skip) {
				ev->skip = 1;
				ev->returned = 1;
			}
			return rc ? rc : end_statement(ev);
		}
		if (IDENT("unset")) {
			if ((rc = NEXT()) != 0 || (rc = EXPECT("(", "'(' after unset")) != 0)
				return rc;
			while (rc == 0 && LX->type == T_VAR) {
				char *var = LX->text, *key;
				LX->text = NULL;
				key = NULL;
				if ((rc = NEXT()) == 0 && IS("->") && (rc = NEXT()) == 0 && LX->type == T_IDENT) {
					key = mdeploy__sprintf("%s->%s", mdeploy__php_var_name(ev, var), LX->text);
					rc = key ? NEXT() : mdeploy__error_oom();
				} else if (rc == 0) {
					key = mdeploy__strdup(mdeploy__php_var_name(ev, var));
				}
				if (rc == 0 && key && !ev->skip)
					rc = assign_null(ev, key);
				free(key);
				free(var);
				if (rc == 0 && IS(","))
					rc = NEXT();
			}
			if (rc == 0 && (rc = EXPECT(")", "')'")) == 0)
				rc = end_statement(ev);
			return rc;
		}
		if (IDENT("echo") || IDENT("print")) {
			if ((rc = NEXT()) != 0)
				return rc;
			while ((rc = mdeploy__php_parse_expr(ev, &v)) == 0) {
				mdeploy__pv_free(v);
				v = NULL;
				if (!IS(","))
					break;
				if ((rc = NEXT()) != 0)
					break;
			}
			return rc ? rc : end_statement(ev);
		}
		if (is_one_of(ev, definitions))
			return skip_definition(ev);
		if (is_one_of(ev, unsupported))
			return FAIL("'%s' is not supported in version.php", LX->text);
	}
	/* An expression statement: defined(...) || die(); define(...); */
	if ((rc = mdeploy__php_parse_expr(ev, &v)) != 0)
		return rc;
	mdeploy__pv_free(v);
	return end_statement(ev);
}

/* The statements of one file, to its end or a '?>' with nothing after it. */
static int run_file(struct mdeploy__php_ev *ev)
{
	int rc = 0;
	while (rc == 0 && LX->type != T_EOF) {
		if (LX->type == T_CLOSE_TAG) {
			const char *q = LX->p;
			while (q < LX->end && (*q == ' ' || *q == '\t' || *q == '\r' || *q == '\n'))
				q++;
			if (q != LX->end)
				return mdeploy__lex_fail(LX, LX->tline, "text after '?>'");
			break;
		}
		rc = parse_statement(ev);
	}
	return rc;
}

/* ---- the API ------------------------------------------------------------ */

int mdeploy__phpver_eval(mdeploy__phpfile **out, const char *path, const char *text, size_t len,
                         const mdeploy__phpver_ctx *ctx)
{
	static const mdeploy__phpver_ctx no_ctx = { "", NULL, NULL, 0 };
	struct mdeploy__php_env env;
	struct mdeploy__php_ev ev;
	mdeploy__lexer lx;
	mdeploy__phpfile *f;
	size_t i;
	int rc;

	*out = NULL;
	memset(&env, 0, sizeof(env));
	memset(&ev, 0, sizeof(ev));
	if (!(f = calloc(1, sizeof(*f))))
		return mdeploy__error_oom();
	ev.ctx = ctx ? ctx : &no_ctx;
	ev.lx = &lx;
	ev.file = ev.top = path;
	ev.env = &env;
	ev.f = f;
	rc = mdeploy__lex_start(&lx, path, text, len);
	if (rc == 0 && ev.ctx->plugin)
		rc = mdeploy__php_bind(&env.b, &env.n, "plugin", mdeploy__pv_new(MDEPLOY__PV_OBJECT, NULL, 0, 0), 0, 0);
	if (rc == 0)
		rc = run_file(&ev);
	free(lx.text);
	/* What the file left: every variable and property it set. */
	for (i = 0; rc == 0 && i < env.n; i++) {
		struct mdeploy__php_binding *b = &env.b[i];
		const char *arrow = strstr(b->key, "->");
		mdeploy__php_assign *a;
		if (!b->line)
			continue;   /* what Moodle sets up, not the file */
		if (!(a = realloc(f->assigns, (f->count + 1) * sizeof(*a)))) {
			rc = mdeploy__error_oom();
			break;
		}
		f->assigns = a;
		a += f->count++;
		memset(a, 0, sizeof(*a));
		a->var = arrow ? strndup(b->key, (size_t)(arrow - b->key)) : mdeploy__strdup(b->key);
		a->prop = arrow ? mdeploy__strdup(arrow + 2) : NULL;
		a->value = b->v;
		a->line = b->line;
		b->v = NULL;
		if (!a->var || (arrow && !a->prop))
			rc = mdeploy__error_oom();
	}
	if (rc == 0 && env.opaque) {
		f->unset.value = env.opaque;
		f->unset.line = env.opaque->line;
		env.opaque = NULL;
	}
	mdeploy__php_env_clear(&env);
	if (rc) {
		mdeploy__phpver_free(f);
		return rc;
	}
	*out = f;
	return 0;
}

int mdeploy__phpver_parse(mdeploy__phpfile **out, const char *name, const char *text, size_t len)
{
	return mdeploy__phpver_eval(out, name, text, len, NULL);
}

void mdeploy__phpver_free(mdeploy__phpfile *f)
{
	size_t i;
	if (!f)
		return;
	for (i = 0; i < f->count; i++) {
		free(f->assigns[i].var);
		free(f->assigns[i].prop);
		mdeploy__pv_free(f->assigns[i].value);
	}
	for (i = 0; i < f->nincludes; i++)
		free(f->includes[i]);
	mdeploy__pv_free(f->unset.value);
	free(f->includes);
	free(f->assigns);
	free(f);
}

const mdeploy__php_assign *mdeploy__phpver_get(const mdeploy__phpfile *f, const char *var,
                                               const char *prop)
{
	size_t i;
	for (i = 0; i < f->count; i++) {
		const mdeploy__php_assign *a = &f->assigns[i];
		if (strcmp(a->var, var) != 0 || (prop == NULL) != (a->prop == NULL))
			continue;
		if (!prop || !strcmp(a->prop, prop))
			return a;
	}
	return f->unset.value ? &f->unset : NULL;
}

/*
 * phpver_private.h - inside the version.php reader: the tokens (phplex.c)
 * and values (phpval.c) that phpver.c evaluates.
 */
#ifndef MDEPLOY_SOURCE_PHPVER_PRIVATE_H
#define MDEPLOY_SOURCE_PHPVER_PRIVATE_H

#include "phpver.h"

typedef enum {
	T_EOF, T_VAR, T_IDENT, T_NUMBER, T_STRING, T_ISTRING, T_PUNCT, T_CLOSE_TAG
} mdeploy__tok;

typedef struct mdeploy__lexer {
	const char *name;
	const char *p, *end;
	unsigned int line;
	/* current token */
	mdeploy__tok type;
	char *text;        /* VAR (without $), IDENT, NUMBER, STRING value,
	                    * ISTRING: a double-quoted body with '$' in it, escapes undone
	                    * except "\$", which stays as "\x01" */
	char punct[4];     /* "->", "=>", "||", "(", ... */
	unsigned int tline;
} mdeploy__lexer;

/* Sets "name:line: message" (MDEPLOY_EINVALID) and returns it. */
int mdeploy__lex_fail(mdeploy__lexer *lx, unsigned int line, const char *fmt, ...) MDEPLOY_FORMAT_PRINTF(3, 4);
const char *mdeploy__lex_describe(const mdeploy__lexer *lx);
int mdeploy__lex_next(mdeploy__lexer *lx);
int mdeploy__lex_is(const mdeploy__lexer *lx, const char *punct);
int mdeploy__lex_ident(const mdeploy__lexer *lx, const char *name);   /* case-insensitive */
int mdeploy__lex_expect(mdeploy__lexer *lx, const char *punct, const char *what);
/* Starts `lx` on a file: only whitespace (and a BOM) may precede <?php. */
int mdeploy__lex_start(mdeploy__lexer *lx, const char *name, const char *text, size_t len);

/* phpval.c: values. A NULL result of a constructor means out of memory. */
mdeploy__pv *mdeploy__pv_new(mdeploy__pv_type type, const char *text, double num, unsigned int line);
mdeploy__pv *mdeploy__pv_bool(int b, unsigned int line);
mdeploy__pv *mdeploy__pv_null(unsigned int line);
mdeploy__pv *mdeploy__pv_number(double num, unsigned int line);
mdeploy__pv *mdeploy__pv_copy(const mdeploy__pv *v);
void mdeploy__pv_free(mdeploy__pv *v);
int mdeploy__pv_equal(const mdeploy__pv *a, const mdeploy__pv *b);
int mdeploy__pv_is_null(const mdeploy__pv *v);
/* 1 true, 0 false, -1 unknown. */
int mdeploy__pv_truth(const mdeploy__pv *v);
/* PHP's string conversion; NULL when it is not known. Caller frees. */
char *mdeploy__pv_str(const mdeploy__pv *v);
/* PHP's number conversion; 0 when known, -1 when not. */
int mdeploy__pv_num(const mdeploy__pv *v, double *out);
/* Appends key (NULL for the next index) => value to an array; takes both. */
int mdeploy__pv_array_set(mdeploy__pv *arr, mdeploy__pv *key, mdeploy__pv *value);

/* phpver.c: the environment a file runs in. */
struct mdeploy__php_binding {      /* a variable ("plugin->version") or a constant */
	char *key;
	mdeploy__pv *v;
	unsigned int line;
	int maybe;                      /* set on one path of an undecided condition only */
};

struct mdeploy__php_env {
	struct mdeploy__php_binding *b; /* variables, in order of first assignment */
	size_t n;
	struct mdeploy__php_binding *c; /* constants */
	size_t nc;
	mdeploy__pv *opaque;            /* after an include we could not follow: what unset names read as */
};

struct mdeploy__php_ev {
	const mdeploy__phpver_ctx *ctx;
	mdeploy__lexer *lx;
	const char *file;               /* tree path of the file being read */
	const char *top;
	struct mdeploy__php_env *env;
	int skip;                       /* read only: a branch not taken, the rest after die() */
	int depth, nesting;
	int returned;                   /* `return` ended the current file */
	mdeploy__phpfile *f;
};

/* An UNKNOWN value saying why, at `line` of the current file; NULL: out of memory. */
mdeploy__pv *mdeploy__php_unknown(struct mdeploy__php_ev *ev, unsigned int line, const char *fmt, ...)
	MDEPLOY_FORMAT_PRINTF(3, 4);
struct mdeploy__php_binding *mdeploy__php_find(struct mdeploy__php_binding *b, size_t n, const char *key);
/* Sets key to v (taken, NULL: out of memory). */
int mdeploy__php_bind(struct mdeploy__php_binding **b, size_t *n, const char *key, mdeploy__pv *v,
                      unsigned int line, int maybe);
/* Drops every property of $var (it became another object). */
void mdeploy__php_unbind_prefix(struct mdeploy__php_env *e, const char *var);
int mdeploy__php_env_copy(struct mdeploy__php_env *dst, const struct mdeploy__php_env *src);
void mdeploy__php_env_clear(struct mdeploy__php_env *e);
/* ev->env becomes what it and `other` (cleared) agree on; the rest UNKNOWN. */
int mdeploy__php_merge(struct mdeploy__php_ev *ev, struct mdeploy__php_env *other, unsigned int line);
const char *mdeploy__php_var_name(struct mdeploy__php_ev *ev, const char *var);
/* A copy of the value of $var or $var->prop. */
int mdeploy__php_read_var(struct mdeploy__php_ev *ev, const char *var, const char *prop, unsigned int line,
                          mdeploy__pv **out);

/* The parsers' shorthands for the lexer of `ev` (phpver.c, phpexpr.c, phpcall.c). */
#define LX (ev->lx)
#define NEXT() mdeploy__lex_next(LX)
#define IS(p) mdeploy__lex_is(LX, p)
#define IDENT(n) mdeploy__lex_ident(LX, n)
#define EXPECT(p, w) mdeploy__lex_expect(LX, p, w)
#define FAIL(...) mdeploy__lex_fail(LX, LX->tline, __VA_ARGS__)

/* phpexpr.c */
int mdeploy__php_parse_expr(struct mdeploy__php_ev *ev, mdeploy__pv **out);
/* a OP b for the binary operators of expressions ("." "+" "==" ...). */
mdeploy__pv *mdeploy__php_binary(struct mdeploy__php_ev *ev, const char *op, mdeploy__pv *a, mdeploy__pv *b,
                                 unsigned int line);
/* phpcall.c: NAME(args...) with the arguments still to read (from the '('). */
int mdeploy__php_call(struct mdeploy__php_ev *ev, const char *name, unsigned int line, mdeploy__pv **out);

#endif

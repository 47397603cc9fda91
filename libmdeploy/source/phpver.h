/*
 * phpver.h - reading Moodle's version.php files without running PHP.
 *
 * version.php is PHP, and we never run it. Most files are a list of
 * assignments of constant values; real plugins also use conditionals,
 * constants of their own (define()), concatenation and arithmetic,
 * `defined(...) || die()` guards and require/include of a sibling file. We
 * evaluate that subset: statements are assignments ($v = e; $v->p = e;
 * $v->p[k] = e; .= += -= *= ??=), define(), require/include (followed
 * through the tree, given a reader), if/elseif/else (both syntaxes),
 * global, unset, return, namespace/use/declare, and expression
 * statements; expressions are literals, arrays, new stdClass(), variables
 * and properties, constants, . + - * / %, comparisons, ! && || and or, ?:
 * and ??, casts, and the functions defined(), define(), constant(),
 * dirname(), die()/exit().
 *
 * What only PHP could know ($CFG->branch, a call to time(), a class
 * constant, an include that cannot be found, a variable set under a
 * condition we cannot decide...) becomes an UNKNOWN value carrying the
 * reason and the line: the caller reports it, we never guess. defined() of
 * a constant the files read do not define is false, as PHP says, except
 * for the ones Moodle defines depending on how it runs (CLI_SCRIPT,
 * PHPUNIT_TEST...), which are UNKNOWN; MOODLE_INTERNAL is defined. A condition
 * we cannot decide runs both branches; what they set alike is known, what
 * they set differently is UNKNOWN. Anything outside the language above
 * (loops, functions, classes...) is an error naming the file and line.
 */
#ifndef MDEPLOY_SOURCE_PHPVER_H
#define MDEPLOY_SOURCE_PHPVER_H

#include "mdeploy_private.h"

typedef enum {
	MDEPLOY__PV_NUMBER,
	MDEPLOY__PV_STRING,
	MDEPLOY__PV_CONST,   /* text is the constant's name (true, false, null, MATURITY_...) */
	MDEPLOY__PV_ARRAY,
	MDEPLOY__PV_OBJECT,  /* new stdClass() */
	MDEPLOY__PV_UNKNOWN  /* text is why it cannot be known without running PHP */
} mdeploy__pv_type;

typedef struct mdeploy__pv mdeploy__pv;
struct mdeploy__pv {
	mdeploy__pv_type type;
	char *text;          /* number as written, string value, constant name, reason */
	double num;          /* numbers; constants with a known value */
	unsigned int line;   /* where it was written (UNKNOWN: where it became unknown) */
	char *file;          /* UNKNOWN: the file of `line` when not the top file, else NULL */
	size_t count;        /* arrays */
	mdeploy__pv **keys;  /* NULL entries for list items */
	mdeploy__pv **values;
};

typedef struct mdeploy__php_assign {
	char *var;           /* "version", or "plugin" for $plugin->x */
	char *prop;          /* "x", or NULL */
	mdeploy__pv *value;  /* the value once the file has run */
	unsigned int line;   /* of the last assignment */
} mdeploy__php_assign;

typedef struct mdeploy__phpfile {
	mdeploy__php_assign *assigns;
	size_t count;
	char **includes;     /* tree paths of the files it included (found or not) */
	size_t nincludes;
	/* After an include that could not be followed, what any name the
	 * file did not set reads as (value UNKNOWN), else value NULL. */
	mdeploy__php_assign unset;
} mdeploy__phpfile;

/* Reads tree path `path` ("mod/x/lib.php"): 0 with a malloc()ed copy, or
 * MDEPLOY_ENOTFOUND. */
typedef int (*mdeploy__phpver_read_cb)(const char *path, char **data, size_t *len, void *payload);

typedef struct mdeploy__phpver_ctx {
	const char *root;              /* the Moodle root in the tree: "" or "public/" */
	mdeploy__phpver_read_cb read;  /* NULL: includes cannot be followed */
	void *payload;
	int plugin;                    /* a plugin's file: Moodle sets $plugin = $module = new stdClass() */
} mdeploy__phpver_ctx;

/*
 * Evaluate `text` (len bytes), the file at tree path `path` (used for
 * messages, __DIR__ and includes). On a syntax error returns
 * MDEPLOY_EINVALID with "file:line: problem" set.
 */
int mdeploy__phpver_eval(mdeploy__phpfile **out, const char *path, const char *text, size_t len,
                         const mdeploy__phpver_ctx *ctx);
/* The same without a reader, `name` in the root. */
int mdeploy__phpver_parse(mdeploy__phpfile **out, const char *name, const char *text, size_t len);
void mdeploy__phpver_free(mdeploy__phpfile *f);

/* The value of $var (prop NULL) or $var->prop once the file ran; NULL when
 * never set (or &f->unset when an include we could not follow may have). */
const mdeploy__php_assign *mdeploy__phpver_get(const mdeploy__phpfile *f, const char *var,
                                               const char *prop);

#endif

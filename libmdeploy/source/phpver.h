/*
 * phpver.h - a parser for the PHP that Moodle's version.php files use.
 *
 * version.php is PHP, and we never run it. Moodle's files are a list of
 * assignments of constant values, so we parse exactly that: `$name =
 * value;` and `$obj->prop = value;` where a value is a number, a string
 * without interpolation, a known constant (MATURITY_*, ANY_VERSION, true,
 * false, null) or an array of values ([..] or array(..), with or without
 * keys), plus the `defined('MOODLE_INTERNAL') || die();` guard. Anything
 * else is an error naming the file and line: we report, never guess.
 */
#ifndef MDEPLOY_SOURCE_PHPVER_H
#define MDEPLOY_SOURCE_PHPVER_H

#include "mdeploy_private.h"

typedef enum {
	MDEPLOY__PV_NUMBER,
	MDEPLOY__PV_STRING,
	MDEPLOY__PV_CONST,   /* text is the constant's name */
	MDEPLOY__PV_ARRAY,
	MDEPLOY__PV_OBJECT   /* new stdClass() */
} mdeploy__pv_type;

typedef struct mdeploy__pv mdeploy__pv;
struct mdeploy__pv {
	mdeploy__pv_type type;
	char *text;          /* number as written, string value, constant name */
	double num;          /* numbers; constants with a known value */
	unsigned int line;
	size_t count;        /* arrays */
	mdeploy__pv **keys;  /* NULL entries for list items */
	mdeploy__pv **values;
};

typedef struct mdeploy__php_assign {
	char *var;           /* "version", or "plugin" for $plugin->x */
	char *prop;          /* "x", or NULL */
	mdeploy__pv *value;
	unsigned int line;
} mdeploy__php_assign;

typedef struct mdeploy__phpfile {
	mdeploy__php_assign *assigns;
	size_t count;
} mdeploy__phpfile;

/*
 * Parse `text` (len bytes). `name` is used in messages ("mod/x/version.php").
 * On error returns MDEPLOY_EINVALID with "name:line: problem" set.
 */
int mdeploy__phpver_parse(mdeploy__phpfile **out, const char *name, const char *text, size_t len);
void mdeploy__phpver_free(mdeploy__phpfile *f);

/* The last assignment to $var (prop NULL) or $var->prop; NULL when none. */
const mdeploy__php_assign *mdeploy__phpver_get(const mdeploy__phpfile *f, const char *var,
                                               const char *prop);

#endif

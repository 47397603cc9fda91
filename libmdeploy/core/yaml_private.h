/*
 * yaml_private.h - loading a YAML file through libcyaml with every error
 * located as "file:line:col: field: problem".
 *
 * Two passes over the text. libyaml's event parser first records where
 * every key and value is (libcyaml reports positions only in its log, and
 * not for problems a caller's own checks find later) and catches syntax
 * errors and duplicate keys. libcyaml then loads the document with the
 * caller's schema, and its log is turned into one located message.
 * mdeploy.yml (config/) and pipeline definitions (pipeline/) both load
 * this way.
 */
#ifndef MDEPLOY_YAML_PRIVATE_H
#define MDEPLOY_YAML_PRIVATE_H

#include "mdeploy_private.h"

#include <cyaml/cyaml.h>

/* Where a key and its value are. */
struct mdeploy__yaml_pos {
	char *path;                  /* "source.plugins[1].ref" */
	char kind;                   /* 's' scalar, 'm' mapping, 'q' sequence */
	unsigned int key_line, key_col;
	unsigned int val_line, val_col;
};

typedef struct mdeploy__yaml {
	/* Set by the caller before mdeploy__yaml_load(); all borrowed. */
	const char *display;         /* file name used in messages */
	int klass;                   /* error class of the messages */
	const char *root_expect;     /* "a mapping of sections (application:, source: ...)" */
	const char *root_noun;       /* "section": "unknown section 'x' (known: ...)" */
	const char *const *root_keys; /* NULL-terminated list for that message; may be NULL */
	/* Filled by mdeploy__yaml_load(). */
	struct mdeploy__yaml_pos *pos;
	size_t npos;
	/* Private: room in pos, and a hash index over the paths (index + 1; 0 empty). */
	size_t pos_alloc;
	size_t *slots;
	size_t nslots;
} mdeploy__yaml;

/*
 * Index `text` and load it with `schema` into *doc (free with
 * mdeploy__yaml_doc_free()). On error *doc is NULL and the message is
 * located. The index stays in `y` either way: free it with
 * mdeploy__yaml_dispose().
 */
int mdeploy__yaml_load(mdeploy__yaml *y, const char *text, size_t len,
                       const cyaml_schema_value_t *schema, void **doc);
void mdeploy__yaml_doc_free(const cyaml_schema_value_t *schema, void *doc);
void mdeploy__yaml_dispose(mdeploy__yaml *y);

const struct mdeploy__yaml_pos *mdeploy__yaml_find(const mdeploy__yaml *y, const char *path);
/* Position of `field` (value when present, else the nearest enclosing key). */
void mdeploy__yaml_locate(const mdeploy__yaml *y, const char *field,
                          unsigned int *line, unsigned int *col);

/* Problems found by a caller's checks; all are reported together. */
typedef struct mdeploy__yaml_problems {
	const mdeploy__yaml *y;
	mdeploy__buf msg;
	unsigned int count;
} mdeploy__yaml_problems;

/* Record "file:line:col: field: message" for `field` (a dotted path). */
void mdeploy__yaml_problem(mdeploy__yaml_problems *p, const char *field, const char *fmt, ...)
	MDEPLOY_FORMAT_PRINTF(3, 4);
void mdeploy__yaml_problemv(mdeploy__yaml_problems *p, const char *field, const char *fmt, va_list ap);

#endif

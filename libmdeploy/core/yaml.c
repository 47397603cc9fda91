/*
 * yaml.c - load a YAML file with libcyaml and locate every problem as
 * "file:line:col: field: problem". See yaml_private.h.
 */
#include "yaml_private.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

/* ---- positions ---------------------------------------------------- */

struct frame {
	int is_map;
	char *path;        /* "" for the root */
	unsigned int index; /* next sequence index */
	char *key;          /* map: key waiting for its value */
	unsigned int key_line, key_col;
	const cyaml_schema_value_t *schema; /* what the caller's schema says is here; NULL: unknown */
};

/* The schema of the value about to be seen in `top` (before value_seen()). */
static const cyaml_schema_value_t *child_schema(const struct frame *top)
{
	const cyaml_schema_value_t *s = top ? top->schema : NULL;
	const cyaml_schema_field_t *f;
	if (!s)
		return NULL;
	if (top->is_map) {
		if (s->type != CYAML_MAPPING || !top->key)
			return NULL;
		for (f = s->mapping.fields; f && f->key; f++)
			if (!strcmp(f->key, top->key))
				return &f->value;
		return NULL;
	}
	if (s->type == CYAML_SEQUENCE || s->type == CYAML_SEQUENCE_FIXED)
		return s->sequence.entry;
	return NULL;
}

static int all_digits(const char *v)
{
	return *v && strspn(v, "0123456789") == strlen(v);
}

/*
 * What libcyaml lets through: it reads any word but false/no/off/disable/0
 * as true ("perhaps": true), and a number's leading digits ("2.5": 2). A
 * boolean must be a YAML 1.1 boolean word, an integer digits only (an
 * optional '-' for signed ones). Returns the problem, or NULL.
 */
static const char *scalar_problem(const cyaml_schema_value_t *s, const char *v)
{
	static const char *const bools[] = { "true", "false", "yes", "no", "on", "off", NULL };
	size_t i;
	if (!s)
		return NULL;
	switch (s->type) {
	case CYAML_BOOL:
		for (i = 0; bools[i]; i++)
			if (!strcasecmp(v, bools[i]))
				return NULL;
		return "is not a boolean (true or false)";
	case CYAML_UINT:
		return all_digits(v) ? NULL : "is not a whole number (digits only)";
	case CYAML_INT:
		return all_digits(v[0] == '-' ? v + 1 : v) ? NULL : "is not a whole number";
	default:
		return NULL;
	}
}

static char *child_path(const char *parent, const char *key, unsigned int index, int is_map)
{
	if (is_map)
		return *parent ? mdeploy__sprintf("%s.%s", parent, key) : mdeploy__strdup(key);
	return mdeploy__sprintf("%s[%u]", parent, index);
}

/*
 * Paths are looked up once per key while indexing and again for every
 * message: a hash index keeps a file with many keys linear (a search per
 * key made 160k keys take a minute).
 */
static size_t path_hash(const char *s)
{
	size_t h = 14695981039346656037ULL & (size_t)-1;
	while (*s)
		h = (h ^ (unsigned char)*s++) * (size_t)1099511628211ULL;
	return h;
}

const struct mdeploy__yaml_pos *mdeploy__yaml_find(const mdeploy__yaml *cfg, const char *path)
{
	size_t i;
	if (!cfg->nslots)
		return NULL;
	for (i = path_hash(path) & (cfg->nslots - 1); cfg->slots[i]; i = (i + 1) & (cfg->nslots - 1))
		if (!strcmp(cfg->pos[cfg->slots[i] - 1].path, path))
			return &cfg->pos[cfg->slots[i] - 1];
	return NULL;
}

static void slot_put(size_t *slots, size_t nslots, const char *path, size_t idx)
{
	size_t i;
	for (i = path_hash(path) & (nslots - 1); slots[i]; i = (i + 1) & (nslots - 1))
		;
	slots[i] = idx + 1;
}

static int pos_add(mdeploy__yaml *cfg, char *path, char kind, unsigned int kl, unsigned int kc,
                   unsigned int vl, unsigned int vc)
{
	struct mdeploy__yaml_pos *p;
	if (!path)
		return mdeploy__error_oom();
	if (cfg->npos == cfg->pos_alloc) {
		size_t na = cfg->pos_alloc ? cfg->pos_alloc * 2 : 64;
		if (!(p = realloc(cfg->pos, na * sizeof(*p)))) {
			free(path);
			return mdeploy__error_oom();
		}
		cfg->pos = p;
		cfg->pos_alloc = na;
	}
	if ((cfg->npos + 1) * 2 > cfg->nslots) {
		size_t ns = cfg->nslots ? cfg->nslots * 2 : 128, i;
		size_t *slots = calloc(ns, sizeof(*slots));
		if (!slots) {
			free(path);
			return mdeploy__error_oom();
		}
		for (i = 0; i < cfg->npos; i++)
			slot_put(slots, ns, cfg->pos[i].path, i);
		free(cfg->slots);
		cfg->slots = slots;
		cfg->nslots = ns;
	}
	p = cfg->pos;
	p[cfg->npos].path = path;
	p[cfg->npos].kind = kind;
	p[cfg->npos].key_line = kl;
	p[cfg->npos].key_col = kc;
	p[cfg->npos].val_line = vl;
	p[cfg->npos].val_col = vc;
	slot_put(cfg->slots, cfg->nslots, path, cfg->npos);
	cfg->npos++;
	return 0;
}

/*
 * Record the value starting at `mark` in the innermost frame. Returns its
 * path (owned by the index) in *path_out, or NULL at the root.
 */
static int value_seen(mdeploy__yaml *cfg, struct frame *top, const yaml_mark_t *mark,
                      char kind, const char **path_out)
{
	char *path;
	unsigned int kl, kc;
	int rc;

	*path_out = NULL;
	if (!top)
		return 0;
	if (top->is_map) {
		path = child_path(top->path, top->key, 0, 1);
		kl = top->key_line;
		kc = top->key_col;
		free(top->key);
		top->key = NULL;
	} else {
		path = child_path(top->path, NULL, top->index++, 0);
		kl = (unsigned int)mark->line + 1;
		kc = (unsigned int)mark->column + 1;
	}
	if (path && mdeploy__yaml_find(cfg, path)) {
		const struct mdeploy__yaml_pos *first = mdeploy__yaml_find(cfg, path);
		mdeploy__error_set(MDEPLOY_EINVALID, cfg->klass,
		                   "%s:%u:%u: %s: duplicate key (first at line %u)", cfg->display,
		                   kl, kc, path, first->key_line);
		free(path);
		return MDEPLOY_EINVALID;
	}
	if ((rc = pos_add(cfg, path, kind, kl, kc, (unsigned int)mark->line + 1,
	                  (unsigned int)mark->column + 1)) != 0)
		return rc;
	*path_out = cfg->pos[cfg->npos - 1].path;
	return 0;
}

static int index_positions(mdeploy__yaml *cfg, const char *text, size_t len,
                           const cyaml_schema_value_t *schema)
{
	yaml_parser_t parser;
	yaml_event_t ev;
	struct frame stack[MDEPLOY__YAML_MAX_DEPTH];
	int depth = 0, rc = 0, done = 0, i, roots = 0;

	if (!yaml_parser_initialize(&parser))
		return mdeploy__error_oom();
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	while (!done && rc == 0) {
		struct frame *top = depth ? &stack[depth - 1] : NULL;
		const char *path;

		if (!yaml_parser_parse(&parser, &ev)) {
			rc = mdeploy__error_set(MDEPLOY_EINVALID, cfg->klass,
			                        "%s:%zu:%zu: YAML syntax error: %s%s%s", cfg->display,
			                        parser.problem_mark.line + 1, parser.problem_mark.column + 1,
			                        parser.problem ? parser.problem : "malformed",
			                        parser.context ? " " : "", parser.context ? parser.context : "");
			break;
		}
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = 1;
			break;
		case YAML_DOCUMENT_START_EVENT:
			if (++roots > 1)
				rc = mdeploy__error_set(MDEPLOY_EINVALID, cfg->klass,
				                        "%s:%zu:%zu: only one YAML document is allowed",
				                        cfg->display, ev.start_mark.line + 1,
				                        ev.start_mark.column + 1);
			break;
		case YAML_SCALAR_EVENT:
		case YAML_ALIAS_EVENT:
			if (!top) {
				rc = mdeploy__error_set(MDEPLOY_EINVALID, cfg->klass,
				                        "%s:%zu:%zu: expected %s", cfg->display,
				                        ev.start_mark.line + 1, ev.start_mark.column + 1, cfg->root_expect);
			} else if (top->is_map && !top->key) {
				const char *k = ev.type == YAML_SCALAR_EVENT ? (const char *)ev.data.scalar.value : "*alias";
				if (ev.type == YAML_SCALAR_EVENT &&
				    strlen(k) != ev.data.scalar.length) {
					rc = mdeploy__error_set(MDEPLOY_EINVALID, cfg->klass,
					                        "%s:%zu:%zu: the key '%s' holds a NUL character", cfg->display,
					                        ev.start_mark.line + 1, ev.start_mark.column + 1, k);
					break;
				}
				if (!(top->key = mdeploy__strdup(k)))
					rc = MDEPLOY_ENOMEM;
				top->key_line = (unsigned int)ev.start_mark.line + 1;
				top->key_col = (unsigned int)ev.start_mark.column + 1;
			} else {
				const cyaml_schema_value_t *vs = child_schema(top);
				const char *why = NULL;
				rc = value_seen(cfg, top, &ev.start_mark, 's', &path);
				if (rc || ev.type != YAML_SCALAR_EVENT)
					break;
				if (strlen((const char *)ev.data.scalar.value) != ev.data.scalar.length)
					why = "holds a NUL character";
				else
					why = scalar_problem(vs, (const char *)ev.data.scalar.value);
				if (why)
					rc = mdeploy__error_set(MDEPLOY_EINVALID, cfg->klass, "%s:%zu:%zu: %s: '%s' %s",
					                        cfg->display, ev.start_mark.line + 1,
					                        ev.start_mark.column + 1, path ? path : "",
					                        (const char *)ev.data.scalar.value, why);
			}
			break;
		case YAML_MAPPING_START_EVENT:
		case YAML_SEQUENCE_START_EVENT:
			if (!top && ev.type != YAML_MAPPING_START_EVENT) {
				rc = mdeploy__error_set(MDEPLOY_EINVALID, cfg->klass,
				                        "%s:%zu:%zu: expected %s", cfg->display,
				                        ev.start_mark.line + 1, ev.start_mark.column + 1, cfg->root_expect);
				break;
			}
			if (top && top->is_map && !top->key) {
				rc = mdeploy__error_set(MDEPLOY_EINVALID, cfg->klass,
				                        "%s:%zu:%zu: a key must be a plain string", cfg->display,
				                        ev.start_mark.line + 1, ev.start_mark.column + 1);
				break;
			}
			if (depth == (int)MDEPLOY__ARRAY_SIZE(stack)) {
				rc = mdeploy__error_set(MDEPLOY_EINVALID, cfg->klass,
				                        "%s:%zu:%zu: nested too deeply", cfg->display,
				                        ev.start_mark.line + 1, ev.start_mark.column + 1);
				break;
			}
			{
				const cyaml_schema_value_t *cs = top ? child_schema(top) : schema;
				if ((rc = value_seen(cfg, top, &ev.start_mark,
				                      ev.type == YAML_MAPPING_START_EVENT ? 'm' : 'q', &path)) != 0)
					break;
				memset(&stack[depth], 0, sizeof(stack[depth]));
				stack[depth].schema = cs;
			}
			stack[depth].is_map = ev.type == YAML_MAPPING_START_EVENT;
			if (!(stack[depth].path = mdeploy__strdup(path ? path : ""))) {
				rc = MDEPLOY_ENOMEM;
				break;
			}
			depth++;
			break;
		case YAML_MAPPING_END_EVENT:
		case YAML_SEQUENCE_END_EVENT:
			depth--;
			free(stack[depth].path);
			free(stack[depth].key);
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
	}
	for (i = 0; i < depth; i++) {
		free(stack[i].path);
		free(stack[i].key);
	}
	yaml_parser_delete(&parser);
	if (rc == 0 && cfg->npos == 0 && roots == 0)
		rc = mdeploy__error_set(MDEPLOY_EINVALID, cfg->klass,
		                        "%s:1:1: the file is empty; expected %s", cfg->display,
		                        cfg->root_expect);
	return rc;
}

void mdeploy__yaml_locate(const mdeploy__yaml *cfg, const char *field,
                            unsigned int *line, unsigned int *col)
{
	const struct mdeploy__yaml_pos *p = mdeploy__yaml_find(cfg, field);
	char *tmp, *cut;

	if (p) {
		*line = p->val_line;
		*col = p->val_col;
		return;
	}
	*line = 1;
	*col = 1;
	if (!(tmp = mdeploy__strdup(field)))
		return;
	for (;;) {
		char *dot = strrchr(tmp, '.'), *br = strrchr(tmp, '[');
		cut = dot > br ? dot : br;
		if (!cut)
			break;
		*cut = '\0';
		if ((p = mdeploy__yaml_find(cfg, tmp))) {
			*line = p->key_line;
			*col = p->key_col;
			break;
		}
	}
	free(tmp);
}

/* ---- libcyaml's report ---------------------------------------------- */

struct cyaml_log {
	mdeploy__buf text;
};

static void cyaml_log_cb(cyaml_log_t level, void *ctx, const char *fmt, va_list args)
{
	struct cyaml_log *log = ctx;
	if (level >= CYAML_LOG_ERROR)
		mdeploy__buf_vprintf(&log->text, fmt, args);
}

static const char *kind_name(const char *s)
{
	static const struct { const char *from, *to; } names[] = {
		{ "SEQUENCE_START", "a sequence" }, { "MAPPING_START", "a mapping" },
		{ "SCALAR", "a single value" }, { "ALIAS", "an alias" },
		{ "STRING", "a string" }, { "MAPPING", "a mapping" }, { "SEQUENCE", "a sequence" },
		{ "SEQUENCE_FIXED", "a sequence" }, { "INT", "an integer" },
		{ "UINT", "a non-negative integer" }, { "BOOL", "true or false" },
		{ "FLOAT", "a number" }, { "ENUM", "one of the allowed words" },
		{ "FLAGS", "a sequence of flags" }, { "BITFIELD", "a mapping of bits" },
	};
	size_t i;
	for (i = 0; i < MDEPLOY__ARRAY_SIZE(names); i++)
		if (!strcmp(s, names[i].from))
			return names[i].to;
	return s;
}

/* Turn libcyaml's error log into one located message. */
static int cyaml_report(const mdeploy__yaml *cfg, cyaml_err_t err, const char *log)
{
	mdeploy__buf path = MDEPLOY__BUF_INIT, what = MDEPLOY__BUF_INIT;
	char names[32][256];
	unsigned int lines[32], cols[32];
	int n = 0, i, rc;
	unsigned int line = 1, col = 1;
	const char *s = log, *problem = NULL;
	size_t problem_len = 0;
	char a[64], b[64], key[256];

	while (s && *s) {
		const char *nl = strchr(s, '\n');
		size_t len = nl ? (size_t)(nl - s) : strlen(s);
		char ln[512];
		size_t l1, c1;
		unsigned int idx;

		snprintf(ln, sizeof(ln), "%.*s", (int)len, s);
		if (n < 32 && sscanf(ln, "  in mapping field '%255[^']' (line: %zu, column: %zu)",
		                     names[n], &l1, &c1) == 3) {
			lines[n] = (unsigned int)l1;
			cols[n++] = (unsigned int)c1;
		} else if (n < 32 && sscanf(ln, "  in sequence entry '%u' (line: %zu, column: %zu)",
		                            &idx, &l1, &c1) == 3) {
			/* libcyaml counts the entry being loaded: entry 0 is '1'. */
			snprintf(names[n], sizeof(names[n]), "[%u]", idx ? idx - 1 : 0);
			lines[n] = (unsigned int)l1;
			cols[n++] = (unsigned int)c1;
		} else if (!problem && !strncmp(ln, "Load: ", 6) && strcmp(ln, "Load: Backtrace:")) {
			problem = s + 6;
			problem_len = len - 6;
		}
		s = nl ? nl + 1 : NULL;
	}
	/* Backtrace is innermost first. */
	for (i = n - 1; i >= 0; i--) {
		if (names[i][0] != '[' && path.size)
			mdeploy__buf_puts(&path, ".");
		mdeploy__buf_puts(&path, names[i]);
	}
	if (n) {
		line = lines[0];
		col = cols[0];
	}
	if (!problem) {
		mdeploy__buf_puts(&what, cyaml_strerror(err));
	} else {
		char msg[512];
		snprintf(msg, sizeof(msg), "%.*s", (int)problem_len, problem);
		if (sscanf(msg, "Unexpected key: %255[^\n]", key) == 1) {
			char *full;
			const struct mdeploy__yaml_pos *p;
			/* The backtrace ends at the mapping holding the key. */
			full = path.size ? mdeploy__sprintf("%s.%s", mdeploy__buf_cstr(&path), key)
			                 : mdeploy__strdup(key);
			if (full && (p = mdeploy__yaml_find(cfg, full))) {
				line = p->key_line;
				col = p->key_col;
			}
			if (!path.size) {
				mdeploy__buf_printf(&what, "unknown %s '%s'", cfg->root_noun, key);
				if (cfg->root_keys && cfg->root_keys[0]) {
					mdeploy__buf_puts(&what, " (known:");
					for (i = 0; cfg->root_keys[i]; i++)
						mdeploy__buf_printf(&what, "%s %s", i ? "," : "", cfg->root_keys[i]);
					mdeploy__buf_puts(&what, ")");
				}
			} else {
				mdeploy__buf_printf(&what, "unknown key '%s'", key);
			}
			mdeploy__buf_clear(&path);
			mdeploy__buf_puts(&path, full ? full : key);
			free(full);
		} else if (sscanf(msg, "Expecting %63s got event: %63s", a, b) == 2) {
			a[strcspn(a, ",")] = '\0';
			mdeploy__buf_printf(&what, "expected %s, got %s", kind_name(a), kind_name(b));
		} else if (sscanf(msg, "Missing required mapping field: %255s", key) == 1) {
			/* The backtrace may end at the last sibling read; step out of a scalar. */
			const struct mdeploy__yaml_pos *p = mdeploy__yaml_find(cfg, mdeploy__buf_cstr(&path));
			if (n && p && p->kind != 'm') {
				char *cut = strrchr(path.ptr, '.');
				if (cut)
					*cut = '\0', path.size = (size_t)(cut - path.ptr);
				else
					mdeploy__buf_clear(&path);
			}
			mdeploy__buf_printf(&what, "'%s' is required", key);
		} else {
			if (msg[0])
				msg[0] = (char)tolower((unsigned char)msg[0]);
			mdeploy__buf_puts(&what, msg);
		}
	}
	rc = mdeploy__error_set(MDEPLOY_EINVALID, cfg->klass, "%s:%u:%u: %s%s%s",
	                        cfg->display, line, col, path.size ? mdeploy__buf_cstr(&path) : "",
	                        path.size ? ": " : "", mdeploy__buf_cstr(&what));
	mdeploy__buf_dispose(&path);
	mdeploy__buf_dispose(&what);
	return rc;
}

/* ---- load ------------------------------------------------------------- */

static const cyaml_config_t *cyaml_cfg(struct cyaml_log *log)
{
	static __thread cyaml_config_t c;
	memset(&c, 0, sizeof(c));
	c.log_fn = cyaml_log_cb;
	c.log_ctx = log;
	c.mem_fn = cyaml_mem;
	c.log_level = CYAML_LOG_ERROR;
	c.flags = CYAML_CFG_DEFAULT;
	return &c;
}

int mdeploy__yaml_load(mdeploy__yaml *y, const char *text, size_t len,
                       const cyaml_schema_value_t *schema, void **doc)
{
	struct cyaml_log log = { MDEPLOY__BUF_INIT };
	cyaml_err_t err;
	int rc;

	*doc = NULL;
	if (strlen(text) != len)
		return mdeploy__error_set(MDEPLOY_EINVALID, y->klass,
		                          "%s: contains a NUL byte; not a YAML text file", y->display);
	if ((rc = index_positions(y, text, len, schema)) != 0)
		return rc;
	err = cyaml_load_data((const uint8_t *)text, len, cyaml_cfg(&log), schema,
	                      (cyaml_data_t **)doc, NULL);
	if (err != CYAML_OK) {
		rc = err == CYAML_ERR_OOM ? mdeploy__error_oom()
		                          : cyaml_report(y, err, mdeploy__buf_cstr(&log.text));
		*doc = NULL;
	} else if (!*doc) {
		rc = mdeploy__error_set(MDEPLOY_EINVALID, y->klass, "%s:1:1: the file is empty", y->display);
	}
	mdeploy__buf_dispose(&log.text);
	return rc;
}

void mdeploy__yaml_doc_free(const cyaml_schema_value_t *schema, void *doc)
{
	struct cyaml_log log = { MDEPLOY__BUF_INIT };
	if (!doc)
		return;
	cyaml_free(cyaml_cfg(&log), schema, doc, 0);
	mdeploy__buf_dispose(&log.text);
}

void mdeploy__yaml_dispose(mdeploy__yaml *y)
{
	size_t i;
	for (i = 0; i < y->npos; i++)
		free(y->pos[i].path);
	free(y->pos);
	free(y->slots);
	y->pos = NULL;
	y->npos = 0;
	y->pos_alloc = 0;
	y->slots = NULL;
	y->nslots = 0;
}

void mdeploy__yaml_problemv(mdeploy__yaml_problems *p, const char *field, const char *fmt, va_list ap)
{
	unsigned int line, col;

	mdeploy__yaml_locate(p->y, field, &line, &col);
	if (p->count++)
		mdeploy__buf_puts(&p->msg, "\n");
	mdeploy__buf_printf(&p->msg, "%s:%u:%u: %s: ", p->y->display, line, col, field);
	mdeploy__buf_vprintf(&p->msg, fmt, ap);
}

void mdeploy__yaml_problem(mdeploy__yaml_problems *p, const char *field, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	mdeploy__yaml_problemv(p, field, fmt, ap);
	va_end(ap);
}

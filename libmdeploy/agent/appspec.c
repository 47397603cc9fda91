/*
 * appspec.c - appspec.yml for EC2/on-premises, read and validated the way
 * the AWS CodeDeploy agent does.
 *
 * We walk libyaml's document tree (libcyaml's parser) rather than map it
 * through a libcyaml schema: every node keeps its line and column, so a
 * semantic error found after loading (a bad mode, ACL entry or SELinux
 * range) still names its exact place, and `hooks` is a mapping whose keys
 * are event names, which a fixed schema cannot express.
 */
#include "appspec_private.h"

#include <archive.h>
#include <archive_entry.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>


struct appspec_event {
	char *name;
	mdeploy_appspec_hook *hooks;
	size_t count;
};

struct mdeploy_appspec {
	char *name;
	char *version;
	char *os;
	mdeploy_file_exists_behavior feb;
	mdeploy_appspec_file *files;
	size_t nfiles;
	mdeploy_appspec_permission *perms;
	size_t nperms;
	struct appspec_event *events;
	size_t nevents;
	/* Every string and array handed out, freed together. */
	void **pool;
	size_t npool, apool;
};

static const char *const lifecycle_events[] = {
	"ApplicationStop", "DownloadBundle", "BeforeInstall", "Install", "AfterInstall",
	"ApplicationStart", "ValidateService", "BeforeBlockTraffic", "BlockTraffic",
	"AfterBlockTraffic", "BeforeAllowTraffic", "AllowTraffic", "AfterAllowTraffic", NULL
};

const char *const *mdeploy_appspec_lifecycle_events(void)
{
	return lifecycle_events;
}

struct parse {
	mdeploy_appspec *spec;
	yaml_document_t *doc;
};

static void *pool_add(mdeploy_appspec *s, void *p)
{
	if (!p) {
		mdeploy__error_oom();
		return NULL;
	}
	if (s->npool == s->apool) {
		size_t n = s->apool ? s->apool * 2 : 32;
		void **np = realloc(s->pool, n * sizeof(*np));
		if (!np) {
			free(p);
			mdeploy__error_oom();
			return NULL;
		}
		s->pool = np;
		s->apool = n;
	}
	s->pool[s->npool++] = p;
	return p;
}

static char *pool_strdup(mdeploy_appspec *s, const char *str)
{
	return pool_add(s, strdup(str));
}

static int fail(struct parse *p, int code, const yaml_node_t *node, const char *field,
                const char *fmt, ...) MDEPLOY_FORMAT_PRINTF(5, 6);
static int fail(struct parse *p, int code, const yaml_node_t *node, const char *field,
                const char *fmt, ...)
{
	mdeploy__buf b = MDEPLOY__BUF_INIT;
	va_list ap;

	mdeploy__buf_printf(&b, "%s", p->spec->name);
	if (node)
		mdeploy__buf_printf(&b, ":%zu:%zu", node->start_mark.line + 1, node->start_mark.column + 1);
	mdeploy__buf_puts(&b, ": ");
	if (field && *field)
		mdeploy__buf_printf(&b, "%s: ", field);
	va_start(ap, fmt);
	mdeploy__buf_vprintf(&b, fmt, ap);
	va_end(ap);
	mdeploy__error_set(code, MDEPLOY_ERROR_CLASS_AGENT, "%s", mdeploy__buf_cstr(&b));
	mdeploy__buf_dispose(&b);
	return code;
}

static yaml_node_t *node_get(struct parse *p, int id)
{
	return yaml_document_get_node(p->doc, id);
}

/* A plain empty, "~" or "null" scalar: YAML's null, which CodeDeploy reads as absent. */
static int is_null(const yaml_node_t *n)
{
	const char *v;
	if (!n)
		return 1;
	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return 0;
	v = (const char *)n->data.scalar.value;
	return !*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") || !strcmp(v, "NULL");
}

/* The value under `key` in a mapping (the last one if repeated, as Ruby's YAML does). */
static yaml_node_t *map_get(struct parse *p, const yaml_node_t *map, const char *key)
{
	yaml_node_pair_t *pair;
	yaml_node_t *found = NULL;

	for (pair = map->data.mapping.pairs.start; pair < map->data.mapping.pairs.top; pair++) {
		yaml_node_t *k = node_get(p, pair->key);
		if (k && k->type == YAML_SCALAR_NODE && !strcmp((const char *)k->data.scalar.value, key))
			found = node_get(p, pair->value);
	}
	return found;
}

static const char *node_kind(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_MAPPING_NODE: return "a mapping";
	case YAML_SEQUENCE_NODE: return "a list";
	default: return "a string";
	}
}

/* A scalar as a string, or NULL (no error) when absent or null. */
static int get_str(struct parse *p, const yaml_node_t *map, const char *key, const char *path,
                   const char **out, const yaml_node_t **where)
{
	yaml_node_t *n = map_get(p, map, key);
	*out = NULL;
	if (where)
		*where = n ? n : map;
	if (is_null(n))
		return 0;
	if (n->type != YAML_SCALAR_NODE)
		return fail(p, MDEPLOY_EINVALID, n, path, "%s must be a string, not %s", key, node_kind(n));
	if (!(*out = pool_strdup(p->spec, (const char *)n->data.scalar.value)))
		return MDEPLOY_ENOMEM;
	return 0;
}

/* A list of strings (a lone string counts as a list of one). */
static int get_str_list(struct parse *p, const yaml_node_t *map, const char *key, const char *path,
                        const char *const **out, yaml_node_t ***items)
{
	yaml_node_t *n = map_get(p, map, key);
	const char **arr;
	size_t count = 0, i = 0;
	yaml_node_item_t *it;

	if (is_null(n)) {
		count = 0;
	} else if (n->type == YAML_SCALAR_NODE) {
		count = 1;
	} else if (n->type == YAML_SEQUENCE_NODE) {
		count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	} else {
		return fail(p, MDEPLOY_EINVALID, n, path, "%s must be a list of strings, not %s", key, node_kind(n));
	}
	if (!(arr = pool_add(p->spec, calloc(count + 1, sizeof(*arr)))))
		return MDEPLOY_ENOMEM;
	if (items && !(*items = pool_add(p->spec, calloc(count + 1, sizeof(**items)))))
		return MDEPLOY_ENOMEM;
	if (count == 1 && n->type == YAML_SCALAR_NODE) {
		if (!(arr[0] = pool_strdup(p->spec, (const char *)n->data.scalar.value)))
			return MDEPLOY_ENOMEM;
		if (items)
			(*items)[0] = n;
	} else if (count) {
		for (it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++, i++) {
			yaml_node_t *e = node_get(p, *it);
			if (!e || e->type != YAML_SCALAR_NODE) {
				char f[256];
				snprintf(f, sizeof(f), "%s[%zu]", path, i);
				return fail(p, MDEPLOY_EINVALID, e, f, "must be a string");
			}
			if (!(arr[i] = pool_strdup(p->spec, (const char *)e->data.scalar.value)))
				return MDEPLOY_ENOMEM;
			if (items)
				(*items)[i] = e;
		}
	}
	*out = arr;
	return 0;
}

static int parse_files(struct parse *p, const yaml_node_t *n)
{
	yaml_node_item_t *it;
	size_t i = 0, count;
	int rc;

	if (is_null(n))
		return 0;
	if (n->type != YAML_SEQUENCE_NODE)
		return fail(p, MDEPLOY_EINVALID, n, "files", "files must be a list of source/destination mappings");
	count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	if (!(p->spec->files = pool_add(p->spec, calloc(count + 1, sizeof(*p->spec->files)))))
		return MDEPLOY_ENOMEM;
	for (it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++, i++) {
		yaml_node_t *e = node_get(p, *it);
		mdeploy_appspec_file *f = &p->spec->files[i];
		char path[64];
		const yaml_node_t *w;

		snprintf(path, sizeof(path), "files[%zu]", i);
		if (!e || e->type != YAML_MAPPING_NODE)
			return fail(p, MDEPLOY_EINVALID, e, path, "a file mapping must be a mapping with source and destination");
		f->line = (int)e->start_mark.line + 1;
		if ((rc = get_str(p, e, "source", path, &f->source, &w)) != 0)
			return rc;
		if (!f->source)
			return fail(p, MDEPLOY_EINVALID, e, path, "file mapping has no source");
		if ((rc = get_str(p, e, "destination", path, &f->destination, &w)) != 0)
			return rc;
		if (!f->destination)
			return fail(p, MDEPLOY_EINVALID, e, path,
			            "file mapping for source '%s' has no destination", f->source);
		p->spec->nfiles++;
	}
	return 0;
}

static int valid_mode(struct parse *p, const yaml_node_t *n, const char *path, const char *s, int *mode)
{
	const char *c;
	size_t len = strlen(s);

	if (len < 1 || len > 4)
		return fail(p, MDEPLOY_EINVALID, n, path,
		            "invalid mode '%s': a mode is 1 to 4 octal digits long", s);
	for (c = s; *c; c++)
		if (*c < '0' || *c > '7')
			return fail(p, MDEPLOY_EINVALID, n, path,
			            "invalid character '%c' in mode '%s': only octal digits 0-7 are allowed", *c, s);
	*mode = (int)strtol(s, NULL, 8);
	return 0;
}

static int parse_permission(struct parse *p, const yaml_node_t *e, size_t i, mdeploy_appspec_permission *pm)
{
	char path[64], f[96];
	const yaml_node_t *w;
	const char *mode;
	const char *const *types;
	yaml_node_t **items = NULL;
	yaml_node_t *ctx;
	size_t k;
	int rc;

	snprintf(path, sizeof(path), "permissions[%zu]", i);
	if (!e || e->type != YAML_MAPPING_NODE)
		return fail(p, MDEPLOY_EINVALID, e, path, "a permission must be a mapping with an object");
	pm->line = (int)e->start_mark.line + 1;
	pm->mode = -1;
	if ((rc = get_str(p, e, "object", path, &pm->object, &w)) != 0)
		return rc;
	if (!pm->object || !*pm->object)
		return fail(p, MDEPLOY_EINVALID, e, path, "permission has no object");
	if ((rc = get_str(p, e, "pattern", path, &pm->pattern, &w)) != 0)
		return rc;
	if (!pm->pattern && !(pm->pattern = pool_strdup(p->spec, "**")))
		return MDEPLOY_ENOMEM;
	snprintf(f, sizeof(f), "%s.except", path);
	if ((rc = get_str_list(p, e, "except", f, &pm->except, NULL)) != 0)
		return rc;
	if ((rc = get_str(p, e, "owner", path, &pm->owner, &w)) != 0 ||
	    (rc = get_str(p, e, "group", path, &pm->group, &w)) != 0 ||
	    (rc = get_str(p, e, "mode", path, &mode, &w)) != 0)
		return rc;
	if (mode) {
		snprintf(f, sizeof(f), "%s.mode", path);
		if ((rc = valid_mode(p, w, f, mode, &pm->mode)) != 0)
			return rc;
	}
	snprintf(f, sizeof(f), "%s.acls", path);
	if ((rc = get_str_list(p, e, "acls", f, &pm->acls, &items)) != 0)
		return rc;
	for (k = 0; pm->acls[k]; k++) {
		const char *why;
		if (!mdeploy_appspec__valid_ace(pm->acls[k], &why)) {
			snprintf(f, sizeof(f), "%s.acls[%zu]", path, k);
			return fail(p, MDEPLOY_EINVALID, items[k], f, "invalid ACL entry '%s': %s", pm->acls[k], why);
		}
	}
	ctx = map_get(p, e, "context");
	if (!is_null(ctx)) {
		snprintf(f, sizeof(f), "%s.context", path);
		if (ctx->type != YAML_MAPPING_NODE)
			return fail(p, MDEPLOY_EINVALID, ctx, f, "invalid SELinux context: a mapping of user, type and range is expected");
		if ((rc = get_str(p, ctx, "name", f, &pm->context_name, &w)) != 0 ||
		    (rc = get_str(p, ctx, "user", f, &pm->context_user, &w)) != 0 ||
		    (rc = get_str(p, ctx, "type", f, &pm->context_type, &w)) != 0)
			return rc;
		if (!pm->context_type)
			return fail(p, MDEPLOY_EINVALID, ctx, f, "invalid SELinux context: it has no type");
		if (!mdeploy_appspec__selinux_word(pm->context_type))
			return fail(p, MDEPLOY_EINVALID, w, f, "invalid SELinux context: bad type '%s'", pm->context_type);
		if (pm->context_user && !mdeploy_appspec__selinux_word(pm->context_user))
			return fail(p, MDEPLOY_EINVALID, ctx, f, "invalid SELinux context: bad user '%s'", pm->context_user);
		if ((rc = get_str(p, ctx, "range", f, &pm->context_range, &w)) != 0)
			return rc;
		if (pm->context_range && !mdeploy_appspec__valid_range(pm->context_range)) {
			snprintf(f, sizeof(f), "%s.context.range", path);
			return fail(p, MDEPLOY_EINVALID, w, f,
			            "invalid SELinux range '%s': expected sN[:cN[.cN],...][-sN[:...]] with low <= high",
			            pm->context_range);
		}
	}
	snprintf(f, sizeof(f), "%s.type", path);
	items = NULL;
	if ((rc = get_str_list(p, e, "type", f, &types, &items)) != 0)
		return rc;
	for (k = 0; types[k]; k++) {
		if (!strcmp(types[k], "file"))
			pm->types |= MDEPLOY_APPSPEC_TYPE_FILE;
		else if (!strcmp(types[k], "directory"))
			pm->types |= MDEPLOY_APPSPEC_TYPE_DIRECTORY;
		else {
			snprintf(f, sizeof(f), "%s.type[%zu]", path, k);
			return fail(p, MDEPLOY_EINVALID, items[k], f, "invalid type '%s': must be file or directory", types[k]);
		}
	}
	if (!pm->types)
		pm->types = MDEPLOY_APPSPEC_TYPE_FILE | MDEPLOY_APPSPEC_TYPE_DIRECTORY;
	return 0;
}

static int parse_permissions(struct parse *p, const yaml_node_t *n)
{
	yaml_node_item_t *it;
	size_t i = 0, count;
	int rc;

	if (is_null(n))
		return 0;
	if (n->type != YAML_SEQUENCE_NODE)
		return fail(p, MDEPLOY_EINVALID, n, "permissions", "permissions must be a list");
	count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
	if (!(p->spec->perms = pool_add(p->spec, calloc(count + 1, sizeof(*p->spec->perms)))))
		return MDEPLOY_ENOMEM;
	for (it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++, i++) {
		if ((rc = parse_permission(p, node_get(p, *it), i, &p->spec->perms[i])) != 0)
			return rc;
		p->spec->nperms++;
	}
	return 0;
}

static int parse_hook(struct parse *p, const yaml_node_t *e, const char *path, mdeploy_appspec_hook *h)
{
	const char *timeout, *scope;
	const yaml_node_t *w;
	char f[256];
	int rc;

	if (!e || e->type != YAML_MAPPING_NODE)
		return fail(p, MDEPLOY_EINVALID, e, path, "a hook script must be a mapping with a location");
	h->line = (int)e->start_mark.line + 1;
	if ((rc = get_str(p, e, "location", path, &h->location, &w)) != 0)
		return rc;
	if (!h->location || !*h->location)
		return fail(p, MDEPLOY_EINVALID, e, path, "hook script has no location");
	if ((rc = get_str(p, e, "timeout", path, &timeout, &w)) != 0)
		return rc;
	h->timeout = MDEPLOY_APPSPEC_TIMEOUT_DEFAULT;
	if (timeout) {
		unsigned long v;
		snprintf(f, sizeof(f), "%s.timeout", path);
		if (!*timeout || strspn(timeout, "0123456789") != strlen(timeout) || strlen(timeout) > 9 ||
		    (v = strtoul(timeout, NULL, 10)) == 0)
			return fail(p, MDEPLOY_EINVALID, w, f, "timeout must be a positive integer, not '%s'", timeout);
		if (v > MDEPLOY_APPSPEC_TIMEOUT_DEFAULT)
			return fail(p, MDEPLOY_EINVALID, w, f,
			            "timeout %lu is over %u seconds, the most a lifecycle event may take",
			            v, MDEPLOY_APPSPEC_TIMEOUT_DEFAULT);
		h->timeout = (unsigned int)v;
	}
	if ((rc = get_str(p, e, "runas", path, &h->runas, &w)) != 0)
		return rc;
	if (h->runas && !*h->runas)
		h->runas = NULL;
	if ((rc = get_str(p, e, "scope", path, &scope, &w)) != 0)
		return rc;
	if (scope) {
		snprintf(f, sizeof(f), "%s.scope", path);
		if (!strcmp(scope, "once"))
			h->scope_once = 1;
		else if (strcmp(scope, "all"))
			return fail(p, MDEPLOY_EINVALID, w, f, "scope must be 'once' or 'all', not '%s'", scope);
	}
	return 0;
}

static int parse_hooks(struct parse *p, const yaml_node_t *n)
{
	yaml_node_pair_t *pair;
	size_t count, i = 0;
	int rc;

	if (is_null(n))
		return 0;
	if (n->type != YAML_MAPPING_NODE)
		return fail(p, MDEPLOY_EINVALID, n, "hooks", "hooks must be a mapping of lifecycle event names to lists of scripts");
	count = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
	if (!(p->spec->events = pool_add(p->spec, calloc(count + 1, sizeof(*p->spec->events)))))
		return MDEPLOY_ENOMEM;
	for (pair = n->data.mapping.pairs.start; pair < n->data.mapping.pairs.top; pair++) {
		yaml_node_t *k = node_get(p, pair->key), *v = node_get(p, pair->value);
		struct appspec_event *ev;
		yaml_node_item_t *it;
		size_t j = 0, nh;
		char path[160];

		if (!k || k->type != YAML_SCALAR_NODE)
			return fail(p, MDEPLOY_EINVALID, k, "hooks", "event names must be strings");
		snprintf(path, sizeof(path), "hooks.%s", (const char *)k->data.scalar.value);
		for (j = 0; j < i; j++)
			if (!strcmp(p->spec->events[j].name, (const char *)k->data.scalar.value))
				return fail(p, MDEPLOY_EINVALID, k, path, "event listed twice");
		ev = &p->spec->events[i];
		if (!(ev->name = pool_strdup(p->spec, (const char *)k->data.scalar.value)))
			return MDEPLOY_ENOMEM;
		i++;
		p->spec->nevents = i;
		if (is_null(v))
			continue;
		if (v->type != YAML_SEQUENCE_NODE)
			return fail(p, MDEPLOY_EINVALID, v, path, "an event takes a list of scripts (- location: ...)");
		nh = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
		if (!(ev->hooks = pool_add(p->spec, calloc(nh + 1, sizeof(*ev->hooks)))))
			return MDEPLOY_ENOMEM;
		for (j = 0, it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++, j++) {
			char hp[192];
			snprintf(hp, sizeof(hp), "%s[%zu]", path, j);
			if ((rc = parse_hook(p, node_get(p, *it), hp, &ev->hooks[j])) != 0)
				return rc;
			ev->count++;
		}
	}
	return 0;
}

static int parse_doc(struct parse *p)
{
	yaml_node_t *root = yaml_document_get_root_node(p->doc), *n;
	const yaml_node_t *w;
	const char *s;
	int rc;

	if (!root || is_null(root))
		return fail(p, MDEPLOY_EINVALID, NULL, NULL, "the AppSpec file is empty");
	if (root->type != YAML_MAPPING_NODE)
		return fail(p, MDEPLOY_EINVALID, root, NULL, "the AppSpec file must be a mapping (version: 0.0, os: linux, ...), not %s",
		            node_kind(root));
	if ((rc = get_str(p, root, "version", "version", &s, &w)) != 0)
		return rc;
	if (!s)
		return fail(p, MDEPLOY_EINVALID, w, "version", "missing version: the AppSpec file must say version: 0.0");
	if (strcmp(s, "0.0"))
		return fail(p, MDEPLOY_EINVALID, w, "version", "invalid version '%s': the only AppSpec version is 0.0", s);
	p->spec->version = (char *)s;
	if ((rc = get_str(p, root, "os", "os", &s, &w)) != 0)
		return rc;
	if (!s)
		return fail(p, MDEPLOY_EINVALID, w, "os", "missing os: an EC2/on-premises AppSpec file must say os: linux");
	if (!strcmp(s, "windows"))
		return fail(p, MDEPLOY_EUNSUPPORTED, w, "os", "unsupported os 'windows': mdeploy deploys to linux only");
	if (strcmp(s, "linux"))
		return fail(p, MDEPLOY_EINVALID, w, "os", "unsupported os '%s': must be linux (or windows, which mdeploy does not support)", s);
	p->spec->os = (char *)s;
	if ((rc = get_str(p, root, "file_exists_behavior", "file_exists_behavior", &s, &w)) != 0)
		return rc;
	if (!s || !strcmp(s, "DISALLOW"))
		p->spec->feb = MDEPLOY_FILE_EXISTS_DISALLOW;
	else if (!strcmp(s, "OVERWRITE"))
		p->spec->feb = MDEPLOY_FILE_EXISTS_OVERWRITE;
	else if (!strcmp(s, "RETAIN"))
		p->spec->feb = MDEPLOY_FILE_EXISTS_RETAIN;
	else
		return fail(p, MDEPLOY_EINVALID, w, "file_exists_behavior",
		            "invalid file_exists_behavior '%s': must be DISALLOW, OVERWRITE or RETAIN", s);
	if ((rc = parse_files(p, map_get(p, root, "files"))) != 0)
		return rc;
	if ((rc = parse_permissions(p, map_get(p, root, "permissions"))) != 0)
		return rc;
	if ((n = map_get(p, root, "hooks")) && (rc = parse_hooks(p, n)) != 0)
		return rc;
	return 0;
}

int mdeploy_appspec_parse(mdeploy_appspec **out, const char *data, size_t len, const char *name)
{
	mdeploy_appspec *spec;
	yaml_parser_t parser;
	yaml_document_t doc;
	struct parse p;
	int rc;

	if (!out || (!data && len))
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_INVALID,
		                          "mdeploy_appspec_parse: invalid arguments");
	*out = NULL;
	if (!(spec = calloc(1, sizeof(*spec))))
		return mdeploy__error_oom();
	if (!(spec->name = strdup(name ? name : "appspec.yml"))) {
		free(spec);
		return mdeploy__error_oom();
	}
	p.spec = spec;
	p.doc = &doc;
	if (!yaml_parser_initialize(&parser)) {
		mdeploy_appspec_free(spec);
		return mdeploy__error_oom();
	}
	if ((rc = mdeploy__yaml_check_depth(data ? data : "", len, spec->name, MDEPLOY_ERROR_CLASS_AGENT)) != 0) {
		yaml_parser_delete(&parser);
		mdeploy_appspec_free(spec);
		return rc;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)(data ? data : ""), len);
	if (!yaml_parser_load(&parser, &doc)) {
		rc = mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_AGENT, "%s:%zu:%zu: invalid YAML: %s%s%s",
		                        spec->name, parser.problem_mark.line + 1, parser.problem_mark.column + 1,
		                        parser.problem ? parser.problem : "syntax error",
		                        parser.context ? " " : "", parser.context ? parser.context : "");
		yaml_parser_delete(&parser);
		mdeploy_appspec_free(spec);
		return rc;
	}
	if ((rc = mdeploy__yaml_doc_unique_keys(&doc, spec->name, MDEPLOY_ERROR_CLASS_AGENT)) == 0)
		rc = parse_doc(&p);
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	if (rc) {
		mdeploy_appspec_free(spec);
		return rc;
	}
	*out = spec;
	return 0;
}

void mdeploy_appspec_free(mdeploy_appspec *spec)
{
	size_t i;
	if (!spec)
		return;
	for (i = 0; i < spec->npool; i++)
		free(spec->pool[i]);
	free(spec->pool);
	free(spec->name);
	free(spec);
}

const char *mdeploy_appspec_name(const mdeploy_appspec *s) { return s->name; }
const char *mdeploy_appspec_version(const mdeploy_appspec *s) { return s->version; }
const char *mdeploy_appspec_os(const mdeploy_appspec *s) { return s->os; }

mdeploy_file_exists_behavior mdeploy_appspec_file_exists_behavior(const mdeploy_appspec *s)
{
	return s->feb;
}

size_t mdeploy_appspec_file_count(const mdeploy_appspec *s) { return s->nfiles; }

const mdeploy_appspec_file *mdeploy_appspec_file_at(const mdeploy_appspec *s, size_t i)
{
	return i < s->nfiles ? &s->files[i] : NULL;
}

size_t mdeploy_appspec_permission_count(const mdeploy_appspec *s) { return s->nperms; }

const mdeploy_appspec_permission *mdeploy_appspec_permission_at(const mdeploy_appspec *s, size_t i)
{
	return i < s->nperms ? &s->perms[i] : NULL;
}

size_t mdeploy_appspec_event_count(const mdeploy_appspec *s) { return s->nevents; }

const char *mdeploy_appspec_event_at(const mdeploy_appspec *s, size_t i)
{
	return i < s->nevents ? s->events[i].name : NULL;
}

static const struct appspec_event *find_event(const mdeploy_appspec *s, const char *event)
{
	size_t i;
	for (i = 0; event && i < s->nevents; i++)
		if (!strcmp(s->events[i].name, event))
			return &s->events[i];
	return NULL;
}

size_t mdeploy_appspec_hook_count(const mdeploy_appspec *s, const char *event)
{
	const struct appspec_event *e = find_event(s, event);
	return e ? e->count : 0;
}

const mdeploy_appspec_hook *mdeploy_appspec_hook_at(const mdeploy_appspec *s, const char *event, size_t i)
{
	const struct appspec_event *e = find_event(s, event);
	return e && i < e->count ? &e->hooks[i] : NULL;
}

/*
 * yamldoc.c - checks on a libyaml document that every file mdeploy reads
 * shares: a key given twice in one mapping is an error (libyaml keeps
 * both, and a parser that handles a key once per occurrence can
 * reallocate or overwrite what the first one set), and no key or value may
 * hold a NUL ("a\0b" would be read as "a").
 */
#include "mdeploy_private.h"

#include <stdlib.h>
#include <string.h>
#include <yaml.h>

struct key {
	const char *s;
	size_t len;
	const yaml_node_t *node;
};

static int key_cmp(const void *a, const void *b)
{
	const struct key *x = a, *y = b;
	size_t n = x->len < y->len ? x->len : y->len;
	int c = memcmp(x->s, y->s, n);
	if (c)
		return c;
	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	/* Equal keys in file order, so the second one is reported. */
	return x->node->start_mark.index < y->node->start_mark.index ? -1
	     : x->node->start_mark.index > y->node->start_mark.index;
}

int mdeploy__yaml_doc_unique_keys(struct yaml_document_s *doc, const char *display, int klass)
{
	yaml_node_t *n;
	struct key *keys = NULL;
	size_t alloc = 0;
	int rc = 0;

	for (n = doc->nodes.start; n < doc->nodes.top; n++)
		if (n->type == YAML_SCALAR_NODE &&
		    strlen((const char *)n->data.scalar.value) != n->data.scalar.length)
			return mdeploy__error_set(MDEPLOY_EINVALID, klass, "%s:%zu:%zu: '%s' holds a NUL character",
			                          display, n->start_mark.line + 1, n->start_mark.column + 1,
			                          (const char *)n->data.scalar.value);
	/* Every mapping of the document, without recursion: nodes are a flat array. */
	for (n = doc->nodes.start; !rc && n < doc->nodes.top; n++) {
		yaml_node_pair_t *pr;
		size_t nk = 0, i, np;
		const struct key *dup = NULL, *first = NULL;
		if (n->type != YAML_MAPPING_NODE)
			continue;
		np = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
		if (np < 2)
			continue;
		if (np > alloc) {
			struct key *nv = realloc(keys, np * sizeof(*nv));
			if (!nv) {
				rc = mdeploy__error_oom();
				break;
			}
			keys = nv;
			alloc = np;
		}
		for (pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top; pr++) {
			yaml_node_t *k = yaml_document_get_node(doc, pr->key);
			if (!k || k->type != YAML_SCALAR_NODE)
				continue;
			keys[nk].s = (const char *)k->data.scalar.value;
			keys[nk].len = k->data.scalar.length;
			keys[nk].node = k;
			nk++;
		}
		qsort(keys, nk, sizeof(*keys), key_cmp);
		for (i = 1; i < nk; i++)
			if (keys[i].len == keys[i - 1].len && !memcmp(keys[i].s, keys[i - 1].s, keys[i].len) &&
			    (!dup || keys[i].node->start_mark.index < dup->node->start_mark.index)) {
				size_t j = i - 1;
				while (j > 0 && keys[j - 1].len == keys[i].len && !memcmp(keys[j - 1].s, keys[i].s, keys[i].len))
					j--;
				dup = &keys[i];
				first = &keys[j];
			}
		if (dup)
			rc = mdeploy__error_set(MDEPLOY_EINVALID, klass, "%s:%zu:%zu: duplicate key '%.*s' (first at line %zu)",
			                        display, dup->node->start_mark.line + 1, dup->node->start_mark.column + 1,
			                        (int)(dup->len > 200 ? 200 : dup->len), dup->s,
			                        first->node->start_mark.line + 1);
	}
	free(keys);
	return rc;
}

/*
 * One nesting limit for every YAML file (mdeploy.yml and pipelines stop
 * at the same depth): checked on the event stream before libyaml builds
 * a document, whose loading a deeply nested input makes quadratic.
 */
int mdeploy__yaml_check_depth(const char *text, size_t len, const char *display, int klass)
{
	yaml_parser_t parser;
	yaml_event_t ev;
	int depth = 0, rc = 0, done = 0;

	if (!yaml_parser_initialize(&parser))
		return mdeploy__error_oom();
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	while (!done && !rc) {
		if (!yaml_parser_parse(&parser, &ev))
			break; /* the loader reports syntax errors with its own message */
		switch (ev.type) {
		case YAML_MAPPING_START_EVENT:
		case YAML_SEQUENCE_START_EVENT:
			if (++depth > MDEPLOY__YAML_MAX_DEPTH)
				rc = mdeploy__error_set(MDEPLOY_EINVALID, klass,
				                        "%s:%zu:%zu: nested deeper than %d levels", display,
				                        ev.start_mark.line + 1, ev.start_mark.column + 1,
				                        MDEPLOY__YAML_MAX_DEPTH);
			break;
		case YAML_MAPPING_END_EVENT:
		case YAML_SEQUENCE_END_EVENT:
			depth--;
			break;
		case YAML_STREAM_END_EVENT:
			done = 1;
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&parser);
	return rc;
}

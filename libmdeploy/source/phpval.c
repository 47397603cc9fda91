/*
 * phpval.c - the values version.php evaluation works with, and PHP's
 * conversions between them (as far as they are known without running PHP).
 */
#include "phpver_private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

mdeploy__pv *mdeploy__pv_new(mdeploy__pv_type type, const char *text, double num, unsigned int line)
{
	mdeploy__pv *v = calloc(1, sizeof(*v));
	if (!v)
		return NULL;
	v->type = type;
	v->num = num;
	v->line = line;
	if (text && !(v->text = mdeploy__strdup(text))) {
		free(v);
		return NULL;
	}
	return v;
}

mdeploy__pv *mdeploy__pv_bool(int b, unsigned int line)
{
	return mdeploy__pv_new(MDEPLOY__PV_CONST, b ? "true" : "false", b ? 1 : 0, line);
}

mdeploy__pv *mdeploy__pv_null(unsigned int line)
{
	return mdeploy__pv_new(MDEPLOY__PV_CONST, "null", 0, line);
}

/* PHP prints floats with 14 significant digits (precision=14). */
mdeploy__pv *mdeploy__pv_number(double num, unsigned int line)
{
	char buf[64];
	if (num > -1e15 && num < 1e15 && num == (double)(long long)num)
		snprintf(buf, sizeof(buf), "%.0f", num);
	else
		snprintf(buf, sizeof(buf), "%.14G", num);
	return mdeploy__pv_new(MDEPLOY__PV_NUMBER, buf, num, line);
}

void mdeploy__pv_free(mdeploy__pv *v)
{
	size_t i;
	if (!v)
		return;
	for (i = 0; i < v->count; i++) {
		mdeploy__pv_free(v->keys[i]);
		mdeploy__pv_free(v->values[i]);
	}
	free(v->keys);
	free(v->values);
	free(v->text);
	free(v->file);
	free(v);
}

mdeploy__pv *mdeploy__pv_copy(const mdeploy__pv *v)
{
	mdeploy__pv *c;
	size_t i;
	if (!v || !(c = mdeploy__pv_new(v->type, v->text, v->num, v->line)))
		return NULL;
	if (v->file && !(c->file = mdeploy__strdup(v->file)))
		goto oom;
	if (v->count) {
		if (!(c->keys = calloc(v->count, sizeof(*c->keys))) || !(c->values = calloc(v->count, sizeof(*c->values))))
			goto oom;
		for (i = 0; i < v->count; i++) {
			c->count = i + 1;
			if ((v->keys[i] && !(c->keys[i] = mdeploy__pv_copy(v->keys[i]))) ||
			    !(c->values[i] = mdeploy__pv_copy(v->values[i])))
				goto oom;
		}
	}
	return c;
oom:
	mdeploy__pv_free(c);
	return NULL;
}

int mdeploy__pv_is_null(const mdeploy__pv *v)
{
	return v && v->type == MDEPLOY__PV_CONST && !strcmp(v->text, "null");
}

/* Array keys as PHP sees them: "1" and 1 are the same key. */
static int key_equal(const mdeploy__pv *a, const mdeploy__pv *b)
{
	char *x, *y;
	int eq;
	if (!a || !b)
		return a == b;
	x = mdeploy__pv_str(a);
	y = mdeploy__pv_str(b);
	eq = x && y && !strcmp(x, y);
	free(x);
	free(y);
	return eq;
}

int mdeploy__pv_equal(const mdeploy__pv *a, const mdeploy__pv *b)
{
	size_t i;
	if (!a || !b || a->type != b->type || a->type == MDEPLOY__PV_UNKNOWN)
		return 0;
	switch (a->type) {
	case MDEPLOY__PV_NUMBER:
		return a->num == b->num && !strcmp(a->text, b->text);
	case MDEPLOY__PV_STRING:
	case MDEPLOY__PV_CONST:
		return !strcmp(a->text, b->text);
	case MDEPLOY__PV_ARRAY:
		if (a->count != b->count)
			return 0;
		for (i = 0; i < a->count; i++)
			if (!key_equal(a->keys[i], b->keys[i]) || !mdeploy__pv_equal(a->values[i], b->values[i]))
				return 0;
		return 1;
	default:
		return 1;
	}
}

int mdeploy__pv_truth(const mdeploy__pv *v)
{
	switch (v->type) {
	case MDEPLOY__PV_NUMBER: return v->num != 0;
	case MDEPLOY__PV_STRING: return v->text[0] && strcmp(v->text, "0") != 0;
	case MDEPLOY__PV_CONST: return v->num != 0 && strcmp(v->text, "null") && strcmp(v->text, "false");
	case MDEPLOY__PV_ARRAY: return v->count > 0;
	case MDEPLOY__PV_OBJECT: return 1;
	default: return -1;
	}
}

char *mdeploy__pv_str(const mdeploy__pv *v)
{
	switch (v->type) {
	case MDEPLOY__PV_NUMBER:
	case MDEPLOY__PV_STRING:
		return mdeploy__strdup(v->text);
	case MDEPLOY__PV_CONST:
		if (!strcmp(v->text, "true"))
			return mdeploy__strdup("1");
		if (!strcmp(v->text, "false") || !strcmp(v->text, "null"))
			return mdeploy__strdup("");
		return mdeploy__sprintf("%.14G", v->num);
	default:
		return NULL;
	}
}

int mdeploy__pv_num(const mdeploy__pv *v, double *out)
{
	char *end;
	switch (v->type) {
	case MDEPLOY__PV_NUMBER:
	case MDEPLOY__PV_CONST:
		*out = v->num;
		return 0;
	case MDEPLOY__PV_STRING:
		*out = strtod(v->text, &end);
		/* A non-numeric string is an error or a warning in PHP 8: don't guess. */
		return end != v->text && !*end ? 0 : -1;
	default:
		return -1;
	}
}

int mdeploy__pv_array_set(mdeploy__pv *arr, mdeploy__pv *key, mdeploy__pv *value)
{
	void *nk, *nv;
	size_t i;
	if (key)
		for (i = 0; i < arr->count; i++)
			if (key_equal(arr->keys[i], key)) {
				mdeploy__pv_free(arr->values[i]);
				arr->values[i] = value;
				mdeploy__pv_free(key);
				return 0;
			}
	nk = realloc(arr->keys, (arr->count + 1) * sizeof(*arr->keys));
	if (nk)
		arr->keys = nk;
	nv = realloc(arr->values, (arr->count + 1) * sizeof(*arr->values));
	if (nv)
		arr->values = nv;
	if (!nk || !nv) {
		mdeploy__pv_free(key);
		mdeploy__pv_free(value);
		return mdeploy__error_oom();
	}
	arr->keys[arr->count] = key;
	arr->values[arr->count++] = value;
	return 0;
}

/*
 * params.c - the local parameter store: params.json, one object per
 * parameter with its versions, newest last.
 */
#include "local.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define MAX_VERSIONS 100

struct local_params {
	mdeploy_local__jsonfile file;
};

static json_t *params_of(json_t *doc)
{
	json_t *p = json_object_get(doc, "parameters");
	if (!json_is_object(p)) {
		p = json_object();
		json_object_set_new(doc, "parameters", p);
	}
	return p;
}

static int to_param(mdeploy_param **out, const char *name, json_t *param, json_t *v)
{
	mdeploy_param *p = calloc(1, sizeof(*p));
	const char *type = json_string_value(json_object_get(param, "type"));
	if (!p)
		return mdeploy__error_oom();
	p->name = mdeploy__strdup(name);
	p->value = mdeploy__strdup(json_string_value(json_object_get(v, "value")) ?
	                           json_string_value(json_object_get(v, "value")) : "");
	p->type = mdeploy__strdup(type ? type : "String");
	p->version = (uint64_t)json_integer_value(json_object_get(v, "version"));
	p->modified = (int64_t)json_integer_value(json_object_get(v, "modified"));
	if (!p->name || !p->value || !p->type) {
		mdeploy_param_free(p);
		return MDEPLOY_ENOMEM;
	}
	*out = p;
	return 0;
}

static int l_put(void *impl, const char *name, const char *value, unsigned int flags, uint64_t *version)
{
	struct local_params *lp = impl;
	json_t *doc, *params, *param, *versions, *last;
	uint64_t next = 1;
	int rc;

	if ((rc = mdeploy_local__jsonfile_begin(&lp->file, 1, (void **)&doc)) != 0)
		return rc;
	params = params_of(doc);
	param = json_object_get(params, name);
	if (param && !(flags & MDEPLOY_PARAMS_OVERWRITE)) {
		json_decref(doc);
		mdeploy_local__jsonfile_end(&lp->file, NULL);
		return mdeploy__error_set(MDEPLOY_EEXISTS, MDEPLOY_ERROR_CLASS_PROVIDER,
		                          "parameter '%s' already exists", name);
	}
	if (!param) {
		param = json_pack("{s:s, s:[]}", "type", (flags & MDEPLOY_PARAMS_STRINGLIST) ? "StringList" : "String",
		                  "versions");
		json_object_set_new(params, name, param);
	}
	versions = json_object_get(param, "versions");
	last = json_array_size(versions) ? json_array_get(versions, json_array_size(versions) - 1) : NULL;
	if (last) {
		next = (uint64_t)json_integer_value(json_object_get(last, "version")) + 1;
		if (!strcmp(json_string_value(json_object_get(last, "value")) ? json_string_value(json_object_get(last, "value")) : "", value)) {
			if (version)
				*version = next - 1;
			json_decref(doc);
			return mdeploy_local__jsonfile_end(&lp->file, NULL);
		}
	}
	json_object_set_new(param, "type", json_string((flags & MDEPLOY_PARAMS_STRINGLIST) ? "StringList" : "String"));
	json_array_append_new(versions, json_pack("{s:I, s:s, s:I}", "version", (json_int_t)next, "value", value,
	                                          "modified", (json_int_t)mdeploy_provider__now()));
	while (json_array_size(versions) > MAX_VERSIONS)
		json_array_remove(versions, 0);
	rc = mdeploy_local__jsonfile_end(&lp->file, doc);
	json_decref(doc);
	if (!rc && version)
		*version = next;
	return rc;
}

static int l_get(void *impl, mdeploy_param **out, const char *name, uint64_t version)
{
	struct local_params *lp = impl;
	json_t *doc, *param, *versions, *v = NULL;
	size_t i;
	int rc;

	if ((rc = mdeploy_local__jsonfile_begin(&lp->file, 0, (void **)&doc)) != 0)
		return rc;
	mdeploy_local__jsonfile_end(&lp->file, NULL);
	param = json_object_get(params_of(doc), name);
	versions = json_object_get(param, "versions");
	if (version) {
		json_array_foreach(versions, i, v)
			if ((uint64_t)json_integer_value(json_object_get(v, "version")) == version)
				break;
		if (i == json_array_size(versions))
			v = NULL;
	} else if (json_array_size(versions)) {
		v = json_array_get(versions, json_array_size(versions) - 1);
	}
	if (!v)
		rc = version && param
		     ? mdeploy__error_set(MDEPLOY_ENOTFOUND, MDEPLOY_ERROR_CLASS_PROVIDER,
		                          "parameter '%s' has no version %llu", name, (unsigned long long)version)
		     : mdeploy__error_set(MDEPLOY_ENOTFOUND, MDEPLOY_ERROR_CLASS_PROVIDER,
		                          "parameter '%s' does not exist", name);
	else
		rc = to_param(out, name, param, v);
	json_decref(doc);
	return rc;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int l_list(void *impl, const char *path, int recursive, mdeploy_params_cb cb, void *payload)
{
	struct local_params *lp = impl;
	json_t *doc, *params, *param;
	const char *key, **names = NULL;
	size_t n = 0, i, plen = strcmp(path, "/") ? strlen(path) : 0;
	int rc;

	if ((rc = mdeploy_local__jsonfile_begin(&lp->file, 0, (void **)&doc)) != 0)
		return rc;
	mdeploy_local__jsonfile_end(&lp->file, NULL);
	params = params_of(doc);
	if (json_object_size(params) && !(names = calloc(json_object_size(params), sizeof(*names)))) {
		json_decref(doc);
		return mdeploy__error_oom();
	}
	json_object_foreach(params, key, param) {
		if (strncmp(key, path, plen) || key[plen] != '/')
			continue;
		if (!recursive && strchr(key + plen + 1, '/'))
			continue;
		names[n++] = key;
	}
	if (n > 1)
		qsort(names, n, sizeof(*names), name_cmp);
	for (i = 0; !rc && i < n; i++) {
		mdeploy_param *p = NULL;
		json_t *versions;
		param = json_object_get(params, names[i]);
		versions = json_object_get(param, "versions");
		if (!json_array_size(versions))
			continue;
		if ((rc = to_param(&p, names[i], param, json_array_get(versions, json_array_size(versions) - 1))) != 0)
			break;
		if (cb(p, payload))
			rc = mdeploy__error_set(MDEPLOY_EUSER, MDEPLOY_ERROR_CLASS_CALLBACK, "parameter list: stopped by the callback");
		mdeploy_param_free(p);
	}
	free(names);
	json_decref(doc);
	return rc;
}

static int l_del(void *impl, const char *name)
{
	struct local_params *lp = impl;
	json_t *doc;
	int rc;
	if ((rc = mdeploy_local__jsonfile_begin(&lp->file, 1, (void **)&doc)) != 0)
		return rc;
	if (json_object_del(params_of(doc), name) != 0) {
		json_decref(doc);
		mdeploy_local__jsonfile_end(&lp->file, NULL);
		return mdeploy__error_set(MDEPLOY_ENOTFOUND, MDEPLOY_ERROR_CLASS_PROVIDER,
		                          "parameter '%s' does not exist", name);
	}
	rc = mdeploy_local__jsonfile_end(&lp->file, doc);
	json_decref(doc);
	return rc;
}

static void l_free(void *impl)
{
	struct local_params *lp = impl;
	if (!lp)
		return;
	mdeploy_local__jsonfile_dispose(&lp->file);
	free(lp);
}

static const mdeploy_provider__params_ops local_params_ops = {
	"local", l_put, l_get, l_list, l_del, l_free
};

int mdeploy_local__params_new(void **impl, const mdeploy_provider__params_ops **ops,
                              const mdeploy_provider__store_args *a)
{
	struct local_params *lp;
	char *dir;
	int rc;
	if ((rc = mdeploy_local__store_dir(&dir, a)) != 0)
		return rc;
	if (!(lp = calloc(1, sizeof(*lp)))) {
		free(dir);
		return mdeploy__error_oom();
	}
	rc = mdeploy_local__jsonfile_init(&lp->file, dir, "params.json", 0600);
	free(dir);
	if (rc) {
		free(lp);
		return rc;
	}
	*impl = lp;
	*ops = &local_params_ops;
	return 0;
}

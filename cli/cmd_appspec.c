/* cmd_appspec.c - mdeploy appspec validate: check an appspec.yml as CodeDeploy would. */
#include "config.h"
#include "cli.h"

#include <stdio.h>
#include <string.h>

static const char *feb_name(mdeploy_file_exists_behavior b)
{
	switch (b) {
	case MDEPLOY_FILE_EXISTS_OVERWRITE: return "OVERWRITE";
	case MDEPLOY_FILE_EXISTS_RETAIN: return "RETAIN";
	default: return "DISALLOW";
	}
}

static json_t *str_list(const char *const *l)
{
	json_t *a = json_array();
	for (; l && *l; l++)
		json_array_append_new(a, json_string(*l));
	return a;
}

static json_t *describe(const mdeploy_appspec *s)
{
	json_t *doc = json_object(), *files = json_array(), *perms = json_array(), *hooks = json_object();
	size_t i, j;

	json_object_set_new(doc, "valid", json_true());
	json_object_set_new(doc, "name", json_string(mdeploy_appspec_name(s)));
	json_object_set_new(doc, "version", json_string(mdeploy_appspec_version(s)));
	json_object_set_new(doc, "os", json_string(mdeploy_appspec_os(s)));
	json_object_set_new(doc, "file_exists_behavior", json_string(feb_name(mdeploy_appspec_file_exists_behavior(s))));
	for (i = 0; i < mdeploy_appspec_file_count(s); i++) {
		const mdeploy_appspec_file *f = mdeploy_appspec_file_at(s, i);
		json_array_append_new(files, json_pack("{s:s, s:s}", "source", f->source, "destination", f->destination));
	}
	for (i = 0; i < mdeploy_appspec_permission_count(s); i++) {
		const mdeploy_appspec_permission *p = mdeploy_appspec_permission_at(s, i);
		json_t *o = json_pack("{s:s, s:s, s:o, s:o}", "object", p->object, "pattern", p->pattern,
		                      "except", str_list(p->except), "acls", str_list(p->acls));
		json_t *t = json_array();
		if (p->owner) json_object_set_new(o, "owner", json_string(p->owner));
		if (p->group) json_object_set_new(o, "group", json_string(p->group));
		if (p->mode >= 0) {
			char m[16];
			snprintf(m, sizeof(m), "%04o", (unsigned int)p->mode & 07777u);
			json_object_set_new(o, "mode", json_string(m));
		}
		if (p->context_type)
			json_object_set_new(o, "context", json_pack("{s:s?, s:s?, s:s, s:s?}", "name", p->context_name,
			                                            "user", p->context_user, "type", p->context_type,
			                                            "range", p->context_range));
		if (p->types & MDEPLOY_APPSPEC_TYPE_FILE) json_array_append_new(t, json_string("file"));
		if (p->types & MDEPLOY_APPSPEC_TYPE_DIRECTORY) json_array_append_new(t, json_string("directory"));
		json_object_set_new(o, "type", t);
		json_array_append_new(perms, o);
	}
	for (i = 0; i < mdeploy_appspec_event_count(s); i++) {
		const char *ev = mdeploy_appspec_event_at(s, i);
		json_t *list = json_array();
		for (j = 0; j < mdeploy_appspec_hook_count(s, ev); j++) {
			const mdeploy_appspec_hook *h = mdeploy_appspec_hook_at(s, ev, j);
			json_array_append_new(list, json_pack("{s:s, s:i, s:s?, s:s}", "location", h->location,
			                                      "timeout", (int)h->timeout, "runas", h->runas,
			                                      "scope", h->scope_once ? "once" : "all"));
		}
		json_object_set_new(hooks, ev, list);
	}
	json_object_set_new(doc, "files", files);
	json_object_set_new(doc, "permissions", perms);
	json_object_set_new(doc, "hooks", hooks);
	return doc;
}

static int validate(const char *path)
{
	mdeploy_appspec *s = NULL;
	size_t i, n = 0;
	int rc;

	if (mdeploy_appspec_load(&s, path) != 0) {
		if (cli.json) {
			const mdeploy_error *e = mdeploy_error_last();
			cli_json_print(json_pack("{s:b, s:s, s:s}", "valid", 0, "error", e->message,
			                         "code", mdeploy_strerror(e->code)));
		}
		return cli_lib_error(NULL);
	}
	if (cli.json) {
		rc = cli_json_print(describe(s));
	} else {
		for (i = 0; i < mdeploy_appspec_event_count(s); i++)
			n += mdeploy_appspec_hook_count(s, mdeploy_appspec_event_at(s, i));
		printf("%s: valid (version %s, os %s, %zu file mapping%s, %zu permission%s, %zu hook script%s)\n",
		       mdeploy_appspec_name(s), mdeploy_appspec_version(s), mdeploy_appspec_os(s),
		       mdeploy_appspec_file_count(s), mdeploy_appspec_file_count(s) == 1 ? "" : "s",
		       mdeploy_appspec_permission_count(s), mdeploy_appspec_permission_count(s) == 1 ? "" : "s",
		       n, n == 1 ? "" : "s");
		rc = CLI_EXIT_OK;
	}
	mdeploy_appspec_free(s);
	return rc;
}

int cmd_appspec(int argc, char **argv)
{
	int rc = cli_parse(argc, argv, "appspec", "", NULL, NULL, NULL);

	if (rc >= 0)
		return rc;
	if (optind >= argc)
		return cli_usage_error("appspec", "missing subcommand");
	if (strcmp(argv[optind], "validate"))
		return cli_usage_error("appspec", "unknown subcommand '%s'", argv[optind]);
	if (optind + 2 != argc)
		return cli_usage_error("appspec", optind + 2 > argc ? "missing FILE" : "too many arguments");
	return validate(argv[optind + 1]);
}

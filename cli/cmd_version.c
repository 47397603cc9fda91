/* cmd_version.c - mdeploy version: versions of mdeploy and what it links. */
#include "config.h"
#include "cli.h"

#include <stdio.h>

int cmd_version(int argc, char **argv)
{
	int rc = cli_parse(argc, argv, "version", "", NULL, NULL, NULL);
	const mdeploy_dependency *deps;
	size_t n, i;
	const char *lib;

	if (rc >= 0)
		return rc;
	if (optind < argc)
		return cli_usage_error("version", "too many arguments");
	lib = mdeploy_version(NULL, NULL, NULL);
	deps = mdeploy_dependencies(&n);
	if (cli.json) {
		json_t *doc = json_object(), *libs = json_object();
		json_object_set_new(doc, "mdeploy", json_string(PACKAGE_VERSION));
		json_object_set_new(doc, "libmdeploy", json_string(lib));
		for (i = 0; i < n; i++)
			json_object_set_new(libs, deps[i].name, json_string(deps[i].version));
		json_object_set_new(doc, "libraries", libs);
		return cli_json_print(doc);
	}
	printf("mdeploy %s (libmdeploy %s)\n", PACKAGE_VERSION, lib);
	if (cli.verbose)
		for (i = 0; i < n; i++)
			printf("  %-10s %s\n", deps[i].name, deps[i].version);
	return CLI_EXIT_OK;
}

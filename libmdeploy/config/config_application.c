/* config_application.c - the `application` section of mdeploy.yml. */
#include "config_private.h"

#include <string.h>

struct mdeploy_config__application {
	char *name;
	char *description;
};

static const cyaml_schema_field_t application_fields[] = {
	MDEPLOY_CONFIG__STRING("name", CYAML_FLAG_OPTIONAL, struct mdeploy_config__application, name),
	MDEPLOY_CONFIG__STRING("description", CYAML_FLAG_OPTIONAL, struct mdeploy_config__application,
	                       description),
	CYAML_FIELD_END
};

const cyaml_schema_value_t mdeploy_config__application_schema = {
	CYAML_VALUE_MAPPING(CYAML_FLAG_POINTER, struct mdeploy_config__application, application_fields),
};

/* Names go into fleet names (app-group-vNNN) and paths: keep them plain. */
static int name_ok(const char *s)
{
	size_t i, n = strlen(s);
	if (n == 0 || n > 40 || s[0] < 'a' || s[0] > 'z' || s[n - 1] == '-')
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return 0;
	return 1;
}

int mdeploy_config__application_check(mdeploy_config *cfg, mdeploy_config__problems *p)
{
	const struct mdeploy_config__application *a = cfg->doc->application;
	if (!a) {
		mdeploy_config__problem(p, "application", "section is required (with at least 'name')");
		return 0;
	}
	if (!a->name)
		mdeploy_config__problem(p, "application.name", "is required");
	else if (!name_ok(a->name))
		mdeploy_config__problem(p, "application.name",
		                        "'%s' must be 1-40 lowercase letters, digits or '-', "
		                        "starting with a letter", a->name);
	return 0;
}

const char *mdeploy_config_application_name(const mdeploy_config *cfg)
{
	return cfg && cfg->doc && cfg->doc->application ? cfg->doc->application->name : NULL;
}

const char *mdeploy_config_application_description(const mdeploy_config *cfg)
{
	return cfg && cfg->doc && cfg->doc->application ? cfg->doc->application->description : NULL;
}

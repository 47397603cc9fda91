/*
 * mdeploy/config.h - the application's configuration, mdeploy.yml.
 *
 * mdeploy.yml is a YAML mapping with one key per section: `application`
 * and `source` are described here; other sections (groups, provider,
 * stores) have their own headers. See mdeploy.yml(5).
 *
 * Errors name the place: "mdeploy.yml:7:14: source.plugins[1].component:
 * 'customcert' is not a frankenstyle component name". When a document has
 * several problems, the message lists them all, one per line.
 *
 * A loaded configuration is immutable; its accessors may be called from
 * several threads at once. Strings are borrowed and live as long as it.
 */
#ifndef MDEPLOY_CONFIG_H
#define MDEPLOY_CONFIG_H

#include "common.h"

MDEPLOY_BEGIN_DECL

typedef struct mdeploy_config mdeploy_config;

typedef struct mdeploy_config_options {
	unsigned int version;
	/* Name used in messages instead of the path (e.g. "mdeploy.yml"); NULL: the path. */
	const char *display_name;
} mdeploy_config_options;

#define MDEPLOY_CONFIG_OPTIONS_VERSION 1
#define MDEPLOY_CONFIG_OPTIONS_INIT { MDEPLOY_CONFIG_OPTIONS_VERSION, NULL }

MDEPLOY_EXTERN(int) mdeploy_config_options_init(mdeploy_config_options *opts, unsigned int version);

/*
 * Load and validate mdeploy.yml at `path`. `opts` may be NULL. Returns
 * MDEPLOY_ENOTFOUND when the file does not exist, MDEPLOY_EINVALID (class
 * CONFIG) when it is malformed, with every problem in the message. Free
 * with mdeploy_config_free().
 */
MDEPLOY_EXTERN(int) mdeploy_config_load(mdeploy_config **out, const char *path,
                                        const mdeploy_config_options *opts);

/* Accepts NULL. */
MDEPLOY_EXTERN(void) mdeploy_config_free(mdeploy_config *cfg);

/* The path it was loaded from, and the directory relative paths in it are resolved against. */
MDEPLOY_EXTERN(const char *) mdeploy_config_path(const mdeploy_config *cfg);
MDEPLOY_EXTERN(const char *) mdeploy_config_dir(const mdeploy_config *cfg);

/*
 * Where a field is in the file, as "file:line:col", for messages about
 * values found wrong later (e.g. a ref missing upstream). `field` is a
 * dotted path like "source.plugins[2].ref"; when it is absent, the nearest
 * enclosing field is used. Returns a borrowed, per-thread string valid
 * until the next call.
 */
MDEPLOY_EXTERN(const char *) mdeploy_config_where(const mdeploy_config *cfg, const char *field);

/* application: */
MDEPLOY_EXTERN(const char *) mdeploy_config_application_name(const mdeploy_config *cfg);
/* application.description, or NULL. */
MDEPLOY_EXTERN(const char *) mdeploy_config_application_description(const mdeploy_config *cfg);

/* source: one repository, Moodle core or a plugin. */
typedef struct mdeploy_config_repo {
	/* "core" for Moodle core, else the plugin's frankenstyle name ("mod_customcert"). */
	const char *component;
	/* As written in mdeploy.yml. */
	const char *url;
	/* Tag, branch or commit id. */
	const char *ref;
	/* Install path relative to the Moodle root (plugins); NULL when not
	 * given, and then derived from the component's plugin type. */
	const char *path;
	/* Field path in the file, e.g. "source.plugins[0]", for mdeploy_config_where(). */
	const char *field;
} mdeploy_config_repo;

/* source.core. Never NULL on a loaded configuration. */
MDEPLOY_EXTERN(const mdeploy_config_repo *) mdeploy_config_source_core(const mdeploy_config *cfg);
MDEPLOY_EXTERN(size_t) mdeploy_config_source_plugin_count(const mdeploy_config *cfg);
/* source.plugins[i], in file order; NULL when out of range. */
MDEPLOY_EXTERN(const mdeploy_config_repo *) mdeploy_config_source_plugin(const mdeploy_config *cfg, size_t i);

/*
 * source.accept: known findings of `source validate` accepted with a
 * reason, so that validate can gate a pipeline. A problem is accepted when
 * its code is `code` and, when given, its component is `component` and its
 * file matches the glob `file` (fnmatch(3), '*' also matching '/').
 */
typedef struct mdeploy_config_accept {
	const char *code;
	const char *component;  /* or NULL */
	const char *file;       /* glob, or NULL */
	const char *reason;
	const char *field;      /* "source.accept[2]", for mdeploy_config_where() */
} mdeploy_config_accept;

MDEPLOY_EXTERN(size_t) mdeploy_config_source_accept_count(const mdeploy_config *cfg);
/* source.accept[i], in file order; NULL when out of range. */
MDEPLOY_EXTERN(const mdeploy_config_accept *) mdeploy_config_source_accept(const mdeploy_config *cfg, size_t i);

/*
 * provider: which provider runs the fleets and load balancers of every group
 * (see mdeploy.yml(5), PROVIDER). The name given there, or NULL when the
 * file names none (then the default provider).
 */
MDEPLOY_EXTERN(const char *) mdeploy_config_provider_name(const mdeploy_config *cfg);
/* The section's options as "key", "value" pairs ending in NULL, for
 * mdeploy_provider_options.settings; borrowed from cfg. Never NULL. */
MDEPLOY_EXTERN(const char *const *) mdeploy_config_provider_settings(const mdeploy_config *cfg);

/*
 * infrastructure: what `mdeploy infra` builds under the groups (see
 * mdeploy.yml(5), INFRASTRUCTURE, and mdeploy-infra(1)).
 *
 * The provider named by infrastructure.provider ("local" when the section
 * has none), or NULL when there is no infrastructure section.
 */
MDEPLOY_EXTERN(const char *) mdeploy_config_infrastructure_provider(const mdeploy_config *cfg);
/* infrastructure.region, or NULL (then the AWS settings' Region). */
MDEPLOY_EXTERN(const char *) mdeploy_config_infrastructure_region(const mdeploy_config *cfg);
/*
 * A checked value by its setting name, the names infra/aws/stacks.yaml maps
 * onto template parameters: app (application.name), environment, azs,
 * vpc_cidr, domain, hosted_zone, certificate, cloudfront ("true"/"false"),
 * cloudfront_certificate, parameter_prefix, instance_type, image,
 * volume_size, min_size, max_size, desired_capacity, app_port,
 * health_check_path, database_engine (always aurora-postgresql or
 * aurora-mysql), database_version, database_class, database_min_capacity,
 * database_max_capacity, database_name, database_user,
 * database_backup_days, cache_engine, cache_node_type, and for provider
 * local dataroot_owner (cache_engine may then be "none"). NULL when not set
 * (or not a setting name).
 */
MDEPLOY_EXTERN(const char *) mdeploy_config_infrastructure_setting(const mdeploy_config *cfg, const char *name);
/* infrastructure.tags, in file order. */
MDEPLOY_EXTERN(size_t) mdeploy_config_infrastructure_tag_count(const mdeploy_config *cfg);
/* Tag i's key and value (borrowed); MDEPLOY_ENOTFOUND when out of range. */
MDEPLOY_EXTERN(int) mdeploy_config_infrastructure_tag(const mdeploy_config *cfg, size_t i, const char **key,
                                                      const char **value);

MDEPLOY_END_DECL

#endif

/* cmd_fleet.c - mdeploy fleet list|show|scale|delete: fleets (Auto Scaling groups) and their instances. */
#include "config.h"
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static mdeploy_store *role_store; /* for the role of each fleet listed or shown */

struct env {
	mdeploy_ctx *ctx;
	mdeploy_store *store;
	mdeploy_provider *p;
};

static int env_open(struct env *e)
{
	memset(e, 0, sizeof(*e));
	if (cli_ctx_open(&e->ctx))
		return CLI_EXIT_FAILURE;
	if (mdeploy_store_open(&e->store, e->ctx, NULL))
		return cli_lib_error("cannot open the state store");
	if (mdeploy_provider_open_configured(&e->p, e->ctx, e->store))
		return cli_lib_error("cannot open the provider");
	role_store = e->store;
	return 0;
}

static void env_close(struct env *e)
{
	mdeploy_provider_free(e->p);
	mdeploy_store_free(e->store);
	mdeploy_ctx_free(e->ctx);
}

static const char *role_of(const mdeploy_fleet_info *f)
{
	mdeploy_fleet_role role = MDEPLOY_FLEET_UNMANAGED;
	if (mdeploy_deploy_fleet_role(role_store, f, &role))
		mdeploy_error_clear();
	return mdeploy_fleet_role_name(role);
}

static int list_cb(const mdeploy_fleet_info *f, void *payload)
{
	json_t *arr = payload;
	if (arr)
		json_array_append_new(arr, mdeploy_fleet_to_json(role_store, f));
	else
		printf("%-32s %7u %4u %4u %8u  %s\n", f->name, f->desired, f->min, f->max, f->running, role_of(f));
	return 0;
}

/* fleet show in text (--json: mdeploy_fleet_show_to_json()). */
static int inst_cb(const mdeploy_instance_info *i, void *payload)
{
	(void)payload;
	printf("  %-16s %15s:%-5u %-8s %s\n", i->id, i->address, i->port, i->state, i->root);
	return 0;
}

static int show_cb(const mdeploy_fleet_info *f, void *payload)
{
	(void)payload;
	printf("fleet %s: desired %u (min %u, max %u), %u running, port %u, %s\n", f->name, f->desired,
	       f->min, f->max, f->running, f->port, role_of(f));
	if (f->tags && strcmp(f->tags, "{}"))
		printf("tags: %s\n", f->tags);
	return 0;
}

/* The deployment group a fleet belongs to, from its tags. */
static int group_of(const mdeploy_fleet_info *f, void *payload)
{
	json_t *tags = json_loads(f->tags ? f->tags : "{}", 0, NULL);
	const char *g = tags ? json_string_value(json_object_get(tags, "group")) : NULL;
	if (g)
		snprintf(payload, 128, "%s", g);
	json_decref(tags);
	return 0;
}

/*
 * As an Auto Scaling group would, without a daemon: every fleet command
 * first replaces the dead instances of the groups of mdeploy.yml (best
 * effort: without mdeploy.yml, or while a deployment holds a group, nothing
 * happens; the failure is a warning).
 */
static void implicit_heal(mdeploy_ctx *ctx)
{
	mdeploy_config *cfg = NULL;
	if (mdeploy_config_load(&cfg, mdeploy_ctx_config_path(ctx), NULL) == 0 &&
	    mdeploy_deploy_heal(ctx, cfg, NULL, NULL, NULL))
		cli_warn("healing the fleets failed: %s", mdeploy_error_last()->message);
	mdeploy_config_free(cfg);
	mdeploy_error_clear();
}

static int parse_uint(const char *s, unsigned int *out)
{
	char *end;
	unsigned long v;
	if (!s || !*s || *s == '-')
		return -1;
	v = strtoul(s, &end, 10);
	if (*end || v > 100000)
		return -1;
	*out = (unsigned int)v;
	return 0;
}

struct scale_opts { unsigned int min, max; };

static int scale_opt(int c, const char *arg, void *data)
{
	struct scale_opts *o = data;
	if (parse_uint(arg, c == CLI_OPT_CMD ? &o->min : &o->max))
		return cli_usage_error("fleet", "'%s' is not a number", arg);
	return 0;
}

int cmd_fleet(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "min", required_argument, NULL, CLI_OPT_CMD },
		{ "max", required_argument, NULL, CLI_OPT_CMD + 1 },
		{ NULL, 0, NULL, 0 }
	};
	struct scale_opts so = { 0, 0 };
	struct env e;
	const char *sub;
	int rc = cli_parse(argc, argv, "fleet", "", longopts, scale_opt, &so);

	if (rc >= 0)
		return rc;
	if (optind >= argc)
		return cli_usage_error("fleet", "missing subcommand");
	sub = argv[optind++];
	if (!strcmp(sub, "list")) {
		if (optind + 1 < argc)
			return cli_usage_error("fleet", "too many arguments");
		if ((rc = env_open(&e)) == 0) {
			json_t *arr = cli.json ? json_array() : NULL;
			implicit_heal(e.ctx);
			if (!cli.json)
				printf("%-32s %7s %4s %4s %8s  %s\n", "FLEET", "DESIRED", "MIN", "MAX", "RUNNING", "ROLE");
			if (mdeploy_fleet_foreach(e.p, optind < argc ? argv[optind] : NULL, list_cb, arr))
				rc = cli_lib_error("cannot list fleets");
			else if (arr)
				rc = cli_json_print(json_pack("{s:o}", "fleets", arr)), arr = NULL;
			json_decref(arr);
		}
	} else if (!strcmp(sub, "show")) {
		json_t *doc = NULL, *lb;
		if (optind + 1 != argc)
			return cli_usage_error("fleet", optind >= argc ? "missing FLEET" : "too many arguments");
		if ((rc = env_open(&e)) == 0) {
			implicit_heal(e.ctx);
			if (mdeploy_fleet_show_to_json(e.p, e.store, argv[optind], &doc)) {
				rc = cli_lib_error(NULL);
			} else if (cli.json) {
				rc = cli_json_print(doc);
				doc = NULL;
			} else if (mdeploy_fleet_get(e.p, argv[optind], show_cb, NULL)) {
				rc = cli_lib_error(NULL);
			} else {
				if (json_is_object(lb = json_object_get(doc, "load_balancer")))
					printf("load balancer %s: fleet weight %d, %.1f%% of new requests, %d of %d targets in rotation\n",
					       json_string_value(json_object_get(lb, "name")),
					       (int)json_integer_value(json_object_get(lb, "weight")),
					       json_real_value(json_object_get(lb, "share_percent")),
					       (int)json_integer_value(json_object_get(lb, "in_rotation")),
					       (int)json_integer_value(json_object_get(lb, "targets")));
				if (mdeploy_instance_foreach(e.p, argv[optind], inst_cb, NULL))
					rc = cli_lib_error(NULL);
			}
			json_decref(doc);
		}
	} else if (!strcmp(sub, "scale")) {
		unsigned int desired;
		if (optind + 2 != argc)
			return cli_usage_error("fleet", optind + 2 > argc ? "missing FLEET or DESIRED" : "too many arguments");
		if (parse_uint(argv[optind + 1], &desired))
			return cli_usage_error("fleet", "DESIRED '%s' is not a number", argv[optind + 1]);
		if ((rc = env_open(&e)) == 0) {
			char group[128] = "";
			mdeploy_fleet_get(e.p, argv[optind], group_of, group);
			mdeploy_error_clear();
			if (group[0]) {
				/* A deployment group's fleet: boot with the live release, join the load balancer. */
				mdeploy_config *cfg = NULL;
				mdeploy_deploy_options o = MDEPLOY_DEPLOY_OPTIONS_INIT;
				o.group = group;
				if (mdeploy_config_load(&cfg, mdeploy_ctx_config_path(e.ctx), NULL) ||
				    mdeploy_deploy_scale(e.ctx, cfg, &o, argv[optind], desired, so.min, so.max))
					rc = cli_lib_error("cannot scale");
				mdeploy_config_free(cfg);
			} else if (mdeploy_fleet_scale(e.p, argv[optind], desired, so.min, so.max)) {
				rc = cli_lib_error("cannot scale");
			}
			if (!rc && cli.json)
				rc = cli_json_print(json_pack("{s:s, s:i}", "fleet", argv[optind], "desired", (int)desired));
			else if (!rc)
				cli_info("fleet %s: desired %u", argv[optind], desired);
		}
	} else if (!strcmp(sub, "heal")) {
		if (optind + 1 < argc)
			return cli_usage_error("fleet", "too many arguments");
		if ((rc = env_open(&e)) == 0) {
			mdeploy_config *cfg = NULL;
			mdeploy_deploy_options o = MDEPLOY_DEPLOY_OPTIONS_INIT;
			char group[128] = "";
			size_t n = 0;
			if (optind < argc) {
				if (mdeploy_fleet_get(e.p, argv[optind], group_of, group)) {
					rc = cli_lib_error(NULL);
					goto healed;
				}
				if (!group[0]) {
					rc = cli_error("fleet '%s' belongs to no deployment group: nothing heals it", argv[optind]);
					goto healed;
				}
				o.group = group;
			}
			if (mdeploy_config_load(&cfg, mdeploy_ctx_config_path(e.ctx), NULL) ||
			    mdeploy_deploy_heal(e.ctx, cfg, &o, optind < argc ? argv[optind] : NULL, &n))
				rc = cli_lib_error("cannot heal");
			else if (cli.json)
				rc = cli_json_print(json_pack("{s:I}", "replaced", (json_int_t)n));
			else
				cli_info("%zu instance%s replaced", n, n == 1 ? "" : "s");
healed:
			mdeploy_config_free(cfg);
		}
	} else if (!strcmp(sub, "delete")) {
		if (optind + 1 != argc)
			return cli_usage_error("fleet", optind >= argc ? "missing FLEET" : "too many arguments");
		if ((rc = env_open(&e)) == 0) {
			if (mdeploy_deploy_fleet_delete(e.ctx, argv[optind]))
				rc = cli_lib_error(NULL);
			else if (cli.json)
				rc = cli_json_print(json_pack("{s:s, s:b}", "fleet", argv[optind], "deleted", 1));
			else
				cli_info("fleet %s: deleted", argv[optind]);
		}
	} else {
		return cli_usage_error("fleet", "unknown subcommand '%s'", sub);
	}
	env_close(&e);
	return rc;
}

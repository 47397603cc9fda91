/* mdeploy.yml: the application and source sections, and located errors. */
#include "mdeploy_private.h"
#include "tap.h"

#include <stdio.h>
#include <string.h>

static char path[4096];

static int load(mdeploy_config **cfg, const char *text)
{
	mdeploy_config_options o = MDEPLOY_CONFIG_OPTIONS_INIT;
	o.display_name = "mdeploy.yml";
	snprintf(path, sizeof(path), "%s/mdeploy.yml", test_tmpdir());
	if (mdeploy__file_write_atomic(path, text, strlen(text), 0644) != 0)
		return -100;
	return mdeploy_config_load(cfg, path, &o);
}

/* Loading `text` fails and the message contains `needle`. */
static void bad(const char *text, const char *needle, const char *name)
{
	mdeploy_config *cfg = NULL;
	int rc = load(&cfg, text);
	is_int(MDEPLOY_EINVALID, rc, "%s: rejected", name);
	like(mdeploy_error_last()->message, needle, "%s: message", name);
	ok(cfg == NULL, "%s: no config returned", name);
	mdeploy_config_free(cfg);
}

int main(void)
{
	mdeploy_config *cfg = NULL;
	const mdeploy_config_repo *r;
	const char *good =
		"application:\n"
		"  name: moodle\n"
		"  description: Our Moodle\n"
		"source:\n"
		"  core:\n"
		"    url: https://git.example.org/moodle.git\n"
		"    ref: v4.5.1\n"
		"  plugins:\n"
		"    - component: mod_customcert\n"
		"      url: ../customcert\n"
		"      ref: main\n"
		"    - component: local_h5plib2\n"
		"      url: file:///srv/git/x.git\n"
		"      ref: 0123456789abcdef0123456789abcdef01234567\n"
		"      path: local/other\n";
	mdeploy_config_options o;

	plan_lazy();

	is_int(0, mdeploy_config_options_init(&o, MDEPLOY_CONFIG_OPTIONS_VERSION), "options_init");
	is_int(MDEPLOY_EVERSION, mdeploy_config_options_init(&o, 99), "options_init rejects version 99");

	is_int(0, load(&cfg, good), "good file loads");
	is_str("moodle", mdeploy_config_application_name(cfg), "application.name");
	is_str("Our Moodle", mdeploy_config_application_description(cfg), "application.description");
	r = mdeploy_config_source_core(cfg);
	ok(r != NULL, "core present");
	is_str("core", r->component, "core component");
	is_str("https://git.example.org/moodle.git", r->url, "core url");
	is_str("v4.5.1", r->ref, "core ref");
	ok(r->path == NULL, "core has no path");
	is_int(2, (long long)mdeploy_config_source_plugin_count(cfg), "two plugins");
	r = mdeploy_config_source_plugin(cfg, 1);
	is_str("local_h5plib2", r->component, "plugin 1 component");
	is_str("local/other", r->path, "plugin 1 path");
	is_str("source.plugins[1]", r->field, "plugin 1 field");
	ok(mdeploy_config_source_plugin(cfg, 2) == NULL, "plugin 2 out of range");
	is_str("mdeploy.yml:11:12", mdeploy_config_where(cfg, "source.plugins[0].ref"), "where: value");
	is_str("mdeploy.yml:9:7", mdeploy_config_where(cfg, "source.plugins[0].nothing"),
	       "where: nearest enclosing key");
	is_str(test_tmpdir(), mdeploy_config_dir(cfg), "dir");
	mdeploy_config_free(cfg);
	cfg = NULL;

	is_int(MDEPLOY_ENOTFOUND, mdeploy_config_load(&cfg, "/nonexistent/mdeploy.yml", NULL),
	       "missing file: ENOTFOUND");
	like(mdeploy_error_last()->message, "/nonexistent/mdeploy.yml", "missing file named");

	bad("", "mdeploy.yml:1:1: the file is empty", "empty");
	bad("- a\n- b\n", "mdeploy.yml:1:1: expected a mapping of sections", "top-level sequence");
	bad("application:\n  name: [x\n", "mdeploy.yml:3:1: YAML syntax error", "syntax error");
	bad("application:\n  name: moodle\nsourse:\n  core: {}\n",
	    "mdeploy.yml:3:1: sourse: unknown section 'sourse' (known: application, source", "unknown section");
	bad("application:\n  name: moodle\nsource:\n  core:\n    url: x\n    ref: y\n    branch: z\n",
	    "mdeploy.yml:7:5: source.core.branch: unknown key 'branch'", "unknown key");
	bad("application:\n  name: moodle\nsource:\n  core:\n    url: [a, b]\n    ref: y\n",
	    "mdeploy.yml:5:10: source.core.url: expected a string, got a sequence", "wrong type");
	bad("application:\n  name: moodle\n  name: other\n",
	    "mdeploy.yml:3:3: application.name: duplicate key (first at line 2)", "duplicate key");
	bad("application:\n  name: Moodle_1\n",
	    "mdeploy.yml:2:9: application.name: 'Moodle_1' must be", "bad application name");
	bad("source:\n  core:\n    url: x\n    ref: y\n",
	    "mdeploy.yml:1:1: application: section is required", "application missing");
	/* All problems at once, each located. */
	{
		mdeploy_config *c2 = NULL;
		const char *m;
		is_int(MDEPLOY_EINVALID, load(&c2,
			"application:\n  name: moodle\nsource:\n  core:\n    url: x\n"
			"  plugins:\n    - component: customcert\n      url: y\n      ref: main\n"
			"    - component: mod_a\n      ref: 'bad ref'\n      path: ../x\n"
			"    - component: mod_a\n      url: z\n      ref: v1\n"),
			"several problems: rejected");
		m = mdeploy_error_last()->message;
		like(m, "mdeploy.yml:4:3: source.core.ref: is required", "missing core ref");
		like(m, "mdeploy.yml:7:18: source.plugins[0].component: 'customcert' is not a frankenstyle",
		     "bad component");
		like(m, "mdeploy.yml:10:7: source.plugins[1].url: is required", "missing url");
		like(m, "mdeploy.yml:11:12: source.plugins[1].ref: 'bad ref' is not a valid git ref", "bad ref");
		like(m, "mdeploy.yml:12:13: source.plugins[1].path: '../x' must be a relative path", "bad path");
		like(m, "mdeploy.yml:13:18: source.plugins[2].component: 'mod_a' is already listed as source.plugins[1]",
		     "duplicate component");
		is_int(MDEPLOY_ERROR_CLASS_CONFIG, mdeploy_error_last()->klass, "class config");
		mdeploy_config_free(c2);
	}
	/* A file without source is valid; the accessors say there is none. */
	is_int(0, load(&cfg, "application:\n  name: moodle\n"), "no source section is fine");
	ok(mdeploy_config_source_core(cfg) == NULL, "no core");
	is_int(0, (long long)mdeploy_config_source_plugin_count(cfg), "no plugins");
	mdeploy_config_free(cfg);
	return done();
}

/* version.php reader: what plugins write is evaluated, what only PHP knows is UNKNOWN with the reason,
 * what is not version.php's language is refused with a line. */
#include "mdeploy_private.h"
#include "phpver.h"
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static mdeploy__phpfile *parse(const char *text)
{
	mdeploy__phpfile *f = NULL;
	if (mdeploy__phpver_parse(&f, "v.php", text, strlen(text)) != 0)
		return NULL;
	return f;
}

static char last_includes[256];

static const struct { const char *path, *text; } files[] = {
	{ "mod/x/version_base.php", "<?php\n$plugin->version = 7;\n" },
	{ "mod/x/lib.php", "<?php\nfunction x_f($a) { if ($a) { return '}'; } }\nclass x_c { const V = 1; }\n"
	                   "$plugin->version = 5;\n" },
	{ "mod/x/bad.php", "<?php\n foreach ($a as $b) {}\n" },
};

static int tree_read(const char *path, char **data, size_t *len, void *payload)
{
	size_t i;
	(void)payload;
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		if (!strcmp(files[i].path, path)) {
			*data = strdup(files[i].text);
			*len = strlen(files[i].text);
			return 0;
		}
	return MDEPLOY_ENOTFOUND;
}

/* $plugin->PROP once `text` (the file at `path` of a tree) ran: its value,
 * "UNKNOWN line: why", "(unset)" or "(error) message". */
static const char *val_in(const char *path, const char *text, const char *prop)
{
	static char buf[512];
	mdeploy__phpver_ctx ctx = { "", tree_read, NULL, 1 };
	mdeploy__phpfile *f = NULL;
	const mdeploy__php_assign *a;
	size_t i;
	if (mdeploy__phpver_eval(&f, path, text, strlen(text), &ctx) != 0) {
		snprintf(buf, sizeof(buf), "(error) %s", mdeploy_error_last()->message);
		return buf;
	}
	last_includes[0] = '\0';
	for (i = 0; i < f->nincludes; i++)
		snprintf(last_includes + strlen(last_includes), sizeof(last_includes) - strlen(last_includes), "%s%s",
		         i ? " " : "", f->includes[i]);
	a = mdeploy__phpver_get(f, "plugin", prop);
	if (!a)
		snprintf(buf, sizeof(buf), "(unset)");
	else if (a->value->type == MDEPLOY__PV_UNKNOWN)
		snprintf(buf, sizeof(buf), "UNKNOWN %u: %s", a->value->line, a->value->text);
	else
		snprintf(buf, sizeof(buf), "%s", a->value->text ? a->value->text : "(no text)");
	mdeploy__phpver_free(f);
	return buf;
}

static const char *val(const char *text, const char *prop)
{
	return val_in("v.php", text, prop);
}

static void bad(const char *text, const char *msg, const char *name)
{
	mdeploy__phpfile *f = NULL;
	is_int(MDEPLOY_EINVALID, mdeploy__phpver_parse(&f, "v.php", text, strlen(text)), "%s: rejected", name);
	is_str(msg, mdeploy_error_last()->message, "%s: message", name);
	mdeploy__phpver_free(f);
}

int main(void)
{
	mdeploy__phpfile *f;
	const mdeploy__php_assign *a;

	plan_lazy();
	f = parse("\xEF\xBB\xBF<?php\n"
	          "// comment\n"
	          "/**\n * doc\n */\n"
	          "defined('MOODLE_INTERNAL') || die();\n"
	          "$version  = 2024100700.01;  # hash comment\n"
	          "$release  = '4.5+ (Build: 20241011)';\n"
	          "$branch   = '405';\n"
	          "$maturity = MATURITY_STABLE;\n"
	          "$plugin->dependencies = [\n  'mod_forum' => ANY_VERSION,\n  'local_x' => 2024010100,\n];\n"
	          "$plugin->supported = array(401, 405);\n"
	          "$plugin->release = \"v1.0 \\\"x\\\"\\n\";\n"
	          "$plugin->version = 2024010100;\n"
	          "$plugin->version = 2024010200; // the last one wins\n"
	          "?>\n");
	ok(f != NULL, "a core + plugin file parses");
	if (!f)
		return done();
	a = mdeploy__phpver_get(f, "version", NULL);
	is_str("2024100700.01", a->value->text, "number kept as written");
	is_int(7, a->line, "line of $version");
	is_str("4.5+ (Build: 20241011)", mdeploy__phpver_get(f, "release", NULL)->value->text, "single-quoted string");
	a = mdeploy__phpver_get(f, "maturity", NULL);
	is_int(MDEPLOY__PV_CONST, a->value->type, "constant");
	is_int(200, (long long)a->value->num, "MATURITY_STABLE is 200");
	a = mdeploy__phpver_get(f, "plugin", "dependencies");
	is_int(2, (long long)a->value->count, "two dependencies");
	is_str("mod_forum", a->value->keys[0]->text, "dependency key");
	is_str("ANY_VERSION", a->value->values[0]->text, "ANY_VERSION");
	is_str("2024010100", a->value->values[1]->text, "dependency version");
	a = mdeploy__phpver_get(f, "plugin", "supported");
	ok(a->value->keys[0] == NULL && a->value->count == 2, "array() list");
	is_str("v1.0 \"x\"\n", mdeploy__phpver_get(f, "plugin", "release")->value->text, "double-quoted escapes");
	is_str("2024010200", mdeploy__phpver_get(f, "plugin", "version")->value->text, "last assignment wins");
	ok(mdeploy__phpver_get(f, "plugin", "component") == NULL, "absent property");
	mdeploy__phpver_free(f);

	f = parse("<?php\ndefined('MOODLE_INTERNAL') or die;\n$plugin = new stdClass();\n$module->version = 1;\n");
	ok(f != NULL, "guard with 'or die', new stdClass()");
	mdeploy__phpver_free(f);

	/* Forms real plugins use: evaluated, or UNKNOWN with the reason. */
	is_str("2025", val("<?php\n$plugin->version = 2024 + 1;\n", "version"), "arithmetic");
	is_str("ab", val("<?php\n$plugin->release = 'a' . 'b';\n", "release"), "concatenation");
	is_str("1.2 (Build: 2024010100)",
	       val("<?php\n$plugin->version = 2024010100;\n$plugin->release = '1.2 (Build: ' . $plugin->version . ')';\n",
	           "release"), "concatenation with a property");
	is_str("v5 and 5", val("<?php\n$plugin->version = 5;\n$plugin->release = \"v{$plugin->version} and $plugin->version\";\n",
	                       "release"), "interpolation");
	is_str("2024010100", val("<?php\ndefine('LOCAL_X_VERSION', 2024010100);\n$plugin->version = LOCAL_X_VERSION;\n",
	                         "version"), "a constant of its own");
	is_str("7", val("<?php\nif (!defined('LOCAL_X_V')) {\n    define('LOCAL_X_V', 7);\n}\n$plugin->version = LOCAL_X_V;\n",
	                "version"), "if (!defined()) define()");
	is_str("3", val("<?php\n$plugin->version = 3;\nif ($CFG->branch >= 400) {\n    $plugin->requires = 1;\n} else {\n"
	                "    $plugin->requires = 2;\n}\n", "version"), "a condition only PHP can decide leaves the rest known");
	is_str("UNKNOWN 4: it is set under the condition on line 3, which only PHP can decide",
	       val("<?php\n$plugin->version = 3;\nif ($CFG->branch >= 400) {\n    $plugin->version = 4;\n}\n", "version"),
	       "a version set under such a condition is unknown");
	is_str("5", val("<?php\nif ($CFG->branch >= 400) {\n    $plugin->version = 5;\n} else {\n    $plugin->version = 5;\n}\n",
	                "version"), "both branches agree");
	is_str("UNKNOWN 2: $CFG->branch is only known when Moodle runs",
	       val("<?php\n$plugin->version = $CFG->branch * 100;\n", "version"), "$CFG");
	is_str("UNKNOWN 2: it calls time(), which only PHP can run", val("<?php\n$plugin->version = time();\n", "version"),
	       "a function call");
	is_str("UNKNOWN 2: it uses constant FOO, which is not defined in the files read",
	       val("<?php\n$plugin->version = FOO;\n", "version"), "an unknown constant");
	is_str("UNKNOWN 2: it uses \\core\\x::..., a class constant only PHP can read",
	       val("<?php\n$plugin->version = \\core\\x::VERSION;\n", "version"), "a class constant");
	is_str("1", val("<?php\nif (true):\n  $plugin->version = 1;\nelseif (false):\n  $plugin->version = 3;\nelse:\n"
	                "  $plugin->version = 2;\nendif;\n", "version"), "if: endif;");
	is_str("2", val("<?php\nif (false) $plugin->version = 1; else if (1 > 0) $plugin->version = 2; else $plugin->version = 3;\n",
	                "version"), "else if without braces");
	is_str("MATURITY_STABLE", val("<?php\n$plugin->maturity = 1 ? MATURITY_STABLE : MATURITY_BETA;\n", "maturity"),
	       "ternary");
	is_str("2024", val("<?php\n$plugin->version = (int)'2024';\n", "version"), "cast");
	is_str("9", val("<?php\n$module->version = 9;\n", "version"), "$module is $plugin");
	is_str("(unset)", val("<?php\ndie();\n$plugin->version = 1;\n", "version"), "nothing runs after die()");
	is_str("11", val("<?php\ndefined('MOODLE_INTERNAL') || die();\nglobal $CFG;\n$plugin->version = 10;\n"
	                 "$plugin->version += 1;\n", "version"), "the guard lets the rest run; +=");
	is_str("UNKNOWN 2: whether it defines CLI_SCRIPT is only known when Moodle runs",
	       val("<?php\n$plugin->version = defined('CLI_SCRIPT') ? 1 : 2;\n", "version"), "run-mode constants");
	is_str("2024", val("<?php\n$plugin->dependencies['mod_forum'] = 2024;\n$plugin->version = "
	                   "$plugin->dependencies['mod_forum'];\n", "version"), "array element assignment and read");

	/* Includes, read through the tree. */
	is_str("7", val_in("mod/x/version.php", "<?php\nrequire(__DIR__ . '/version_base.php');\n", "version"),
	       "require of a sibling file");
	is_str("mod/x/version_base.php", last_includes, "the include is recorded");
	is_str("7", val_in("mod/x/version.php", "<?php\nrequire_once($CFG->dirroot . '/mod/x/version_base.php');\n", "version"),
	       "require through $CFG->dirroot");
	is_str("8", val_in("mod/x/version.php", "<?php\nrequire_once(dirname(__FILE__) . '/lib.php');\n$plugin->version = 8;\n",
	                   "version"), "an included library: its functions and classes are skipped");
	/* dirname() as PHP has it; dirname('') once wrote past its buffer (found by fuzz-versionphp). */
	is_str("", val("<?php\n$plugin->release = dirname('');\n", "release"), "dirname('') is ''");
	is_str(".", val("<?php\n$plugin->release = dirname('x');\n", "release"), "dirname('x') is '.'");
	is_str("/", val("<?php\n$plugin->release = dirname('/x');\n", "release"), "dirname('/x') is '/'");
	is_str("/a", val("<?php\n$plugin->release = dirname('/a/b/c', 2);\n", "release"), "dirname() with levels");
	is_str(".", val("<?php\n$plugin->release = dirname('a/b', 4049 * 1007 * 1007);\n", "release"),
	       "dirname() with billions of levels ends at once");
	is_str("UNKNOWN 2: '%' on a number beyond PHP's integers", val("<?php\n$plugin->version = 1e22 % 7;\n", "version"),
	       "modulo beyond PHP's integers is unknown (once undefined behaviour, found by fuzz-versionphp)");
	is_str("2", val("<?php\n$plugin->version = 2024100702 % 10;\n", "version"), "modulo on integers");
	is_str("UNKNOWN 2: it includes 'mod/x/missing.php', which is not in the tree",
	       val_in("mod/x/version.php", "<?php\ninclude(__DIR__ . '/missing.php');\n", "version"), "a missing include");
	is_str("UNKNOWN 3: it includes mod/x/bad.php:2: 'foreach' is not supported in version.php",
	       val_in("mod/x/version.php", "<?php\n$plugin->version = 1;\nrequire('bad.php');\n", "version"),
	       "an include we cannot read makes what was known unknown");
	is_str("mod/x/bad.php", last_includes, "and is recorded");

	/* What is not version.php's language is an error with the line. */
	bad("<?php\n\n$plugin->version = 1\n$plugin->x = 2;\n", "v.php:4: expected ';', found '$plugin'", "missing semicolon");
	bad("<?php\nforeach ($a as $b) {}\n", "v.php:2: 'foreach' is not supported in version.php", "a loop");
	bad("<?php\n$plugin->version = 0x10;\n", "v.php:2: number '0x10' is not decimal; version numbers must be", "hex");
	bad("<?php\n$a = 'x;\n", "v.php:2: unterminated string", "unterminated string");
	bad("<?php\n/* x\n", "v.php:2: unterminated comment", "unterminated comment");
	bad("hello <?php\n", "v.php:1: does not start with <?php", "text before <?php");
	bad("<?php $a = 1; ?>html", "v.php:1: text after '?>'", "text after ?>");
	bad("<?php\n$a = [1, 2;\n", "v.php:2: expected ',' or ']' in array, found ';'", "unclosed array");
	return done();
}

/* version.php parser: what Moodle writes is read exactly, the rest is refused with a line. */
#include "mdeploy_private.h"
#include "phpver.h"
#include "tap.h"

#include <string.h>

static mdeploy__phpfile *parse(const char *text)
{
	mdeploy__phpfile *f = NULL;
	if (mdeploy__phpver_parse(&f, "v.php", text, strlen(text)) != 0)
		return NULL;
	return f;
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

	bad("<?php\n$plugin->version = time();\n", "v.php:2: unknown constant or function 'time'", "function call");
	bad("<?php\n$plugin->version = 2024 + 1;\n", "v.php:2: an expression with '+' is not a constant value", "expression");
	bad("<?php\n$plugin->release = \"v$x\";\n",
	    "v.php:2: a double-quoted string with a variable in it is not a constant value", "interpolation");
	bad("<?php\n$plugin->release = 'a' . 'b';\n", "v.php:2: string concatenation is not a constant value", "concat");
	bad("<?php\n\n$plugin->version = 1\n$plugin->x = 2;\n",
	    "v.php:4: expected ';' after the value, found '$plugin'", "missing semicolon");
	bad("<?php\nrequire_once('x.php');\n", "v.php:2: expected an assignment like $plugin->version = ...; found 'require_once'",
	    "other statement");
	bad("<?php\n$plugin->version = FOO;\n", "v.php:2: unknown constant or function 'FOO'", "unknown constant");
	bad("<?php\n$plugin->version = 0x10;\n", "v.php:2: number '0x10' is not decimal; version numbers must be", "hex");
	bad("<?php\n$a = 'x;\n", "v.php:2: unterminated string", "unterminated string");
	bad("<?php\n/* x\n", "v.php:2: unterminated comment", "unterminated comment");
	bad("hello <?php\n", "v.php:1: does not start with <?php", "text before <?php");
	bad("<?php $a = 1; ?>html", "v.php:1: text after '?>'", "text after ?>");
	bad("<?php\n$a = [1, 2;\n", "v.php:2: expected ',' or ']' in array, found ';'", "unclosed array");
	return done();
}

/*
 * phpcall.c - the function calls of version.php expressions (phpexpr.c):
 * defined(), constant(), define() and dirname() evaluated as PHP would;
 * anything else is a value only PHP can know (UNKNOWN, saying why).
 */
#include "phpver_private.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define unknown mdeploy__php_unknown
#define find mdeploy__php_find
#define bind mdeploy__php_bind

static void free_args(mdeploy__pv **args, size_t n)
{
	while (n--)
		mdeploy__pv_free(args[n]);
}

/* On an error, the arguments read so far are freed (*n = 0). */
static int parse_args(struct mdeploy__php_ev *ev, mdeploy__pv **args, size_t max, size_t *n)
{
	int rc;
	*n = 0;
	if ((rc = EXPECT("(", "'('")) != 0)
		return rc;
	while (!IS(")")) {
		mdeploy__pv *v = NULL;
		if ((rc = mdeploy__php_parse_expr(ev, &v)) != 0)
			break;
		if (*n < max)
			args[(*n)++] = v;
		else
			mdeploy__pv_free(v);
		if (IS(","))
			rc = NEXT();
		else if (!IS(")"))
			rc = FAIL("expected ',' or ')' in a call, found %s", mdeploy__lex_describe(LX));
		if (rc)
			break;
	}
	if (!rc)
		rc = NEXT();
	if (rc) {
		free_args(args, *n);
		*n = 0;
	}
	return rc;
}

/* Constants Moodle defines or not depending on how it runs. */
static int run_mode_constant(const char *name)
{
	static const char *const names[] = {
		"CLI_SCRIPT", "AJAX_SCRIPT", "PHPUNIT_TEST", "PHPUNIT_UTIL", "BEHAT_TEST", "BEHAT_UTIL",
		"BEHAT_SITE_RUNNING", "ABORT_AFTER_CONFIG", "NO_MOODLE_COOKIES", "NO_DEBUG_DISPLAY",
		"CACHE_DISABLE_ALL", "CLI_MAINTENANCE", "INSTALLATION", "NO_UPGRADE_CHECK", "WS_SERVER",
		"NO_OUTPUT_BUFFERING", "MDL_PERF", "MDL_PERFDB", "MDL_PERFTOLOG", "MDL_PERFTOFOOT",
	};
	size_t i;
	for (i = 0; i < MDEPLOY__ARRAY_SIZE(names); i++)
		if (!strcmp(name, names[i]))
			return 1;
	return 0;
}

int mdeploy__php_call(struct mdeploy__php_ev *ev, const char *name, unsigned int line, mdeploy__pv **out)
{
	mdeploy__pv *args[4];
	size_t n, i;
	int rc;

	if ((rc = parse_args(ev, args, 4, &n)) != 0)
		return rc;
	*out = NULL;
	if (ev->skip) {
		free_args(args, n);
		*out = mdeploy__pv_null(line);
		return *out ? 0 : mdeploy__error_oom();
	}
	for (i = 0; i < n; i++)
		if (args[i]->type == MDEPLOY__PV_UNKNOWN) {
			*out = mdeploy__pv_copy(args[i]);
			free_args(args, n);
			return *out ? 0 : mdeploy__error_oom();
		}
	if (!strcasecmp(name, "defined") || !strcasecmp(name, "constant")) {
		struct mdeploy__php_binding *c;
		if (n != 1 || args[0]->type != MDEPLOY__PV_STRING) {
			*out = unknown(ev, line, "%s() of something other than a constant name", name);
		} else if ((c = find(ev->env->c, ev->env->nc, args[0]->text)) != NULL) {
			*out = c->maybe && !strcasecmp(name, "defined")
			     ? unknown(ev, line, "whether %s is defined depends on a condition only PHP can decide", c->key)
			     : !strcasecmp(name, "defined") ? mdeploy__pv_bool(1, line) : mdeploy__pv_copy(c->v);
		} else if (!strcmp(args[0]->text, "MOODLE_INTERNAL")) {
			*out = mdeploy__pv_bool(1, line);
		} else if (run_mode_constant(args[0]->text) || strcasecmp(name, "defined")) {
			*out = unknown(ev, line, "%s %s is only known when Moodle runs",
			               strcasecmp(name, "defined") ? "the value of" : "whether it defines", args[0]->text);
		} else {
			/* Not defined by the files read: PHP says false. */
			*out = mdeploy__pv_bool(0, line);
		}
	} else if (!strcasecmp(name, "define")) {
		if (n < 2 || args[0]->type != MDEPLOY__PV_STRING) {
			*out = unknown(ev, line, "define() of something other than a constant name");
		} else if (find(ev->env->c, ev->env->nc, args[0]->text) && !find(ev->env->c, ev->env->nc, args[0]->text)->maybe) {
			*out = mdeploy__pv_bool(0, line);   /* PHP keeps the first value */
		} else {
			rc = bind(&ev->env->c, &ev->env->nc, args[0]->text, args[1], line, 0);
			args[1] = NULL;
			*out = rc ? NULL : mdeploy__pv_bool(1, line);
		}
	} else if (!strcasecmp(name, "dirname") && n >= 1 && args[0]->type == MDEPLOY__PV_STRING) {
		double levels = 1;
		char *p = mdeploy__strdup(args[0]->text);
		if (n == 2 && mdeploy__pv_num(args[1], &levels) != 0)
			levels = 1;
		/* PHP: dirname('') is '', dirname('x') is '.'; p has room for "." either way. */
		if (p && !*p) {
			free(p);
			p = mdeploy__strdup(".");
			if (p)
				p[0] = '\0';
		}
		/* Each level shortens the path until it is "/" or "."; then it stays (levels may be huge). */
		while (p && *p && levels-- >= 1 && strcmp(p, "/") && strcmp(p, ".")) {
			char *s = strrchr(p, '/');
			if (s == p)
				s[1] = '\0';
			else if (s)
				*s = '\0';
			else
				strcpy(p, ".");
		}
		*out = p ? mdeploy__pv_new(MDEPLOY__PV_STRING, p, 0, line) : NULL;
		free(p);
	} else {
		*out = unknown(ev, line, "it calls %s(), which only PHP can run", name);
	}
	free_args(args, n);
	return *out ? 0 : mdeploy__error_oom();
}

/* Pipeline definitions: structure rules, located errors, variables. */
#include "mdeploy_private.h"
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char path[4096];

static int load(mdeploy_pipeline **p, const char *text)
{
	mdeploy_pipeline_load_options o = MDEPLOY_PIPELINE_LOAD_OPTIONS_INIT;
	o.display_name = "p.yml";
	snprintf(path, sizeof(path), "%s/p.yml", test_tmpdir());
	if (mdeploy__file_write_atomic(path, text, strlen(text), 0644) != 0)
		return -100;
	return mdeploy_pipeline_load(p, path, &o);
}

/* Loading `text` fails and the message contains `needle`. */
static void bad(const char *text, const char *needle, const char *name)
{
	mdeploy_pipeline *p = NULL;
	int rc = load(&p, text);
	is_int(MDEPLOY_EINVALID, rc, "%s: rejected", name);
	like(mdeploy_error_last()->message, needle, "%s: message", name);
	ok(p == NULL, "%s: nothing returned", name);
	mdeploy_pipeline_free(p);
}

#define TWO_STAGES(first, second) \
	"stages:\n" \
	"  - name: One\n" \
	"    actions:\n" first \
	"  - name: Two\n" \
	"    actions:\n" second

#define SHELL(name, extra) \
	"      - name: " name "\n" \
	"        type: shell\n" \
	"        command: \"true\"\n" extra

static const char *lookup(const char *ns, const char *name, void *payload)
{
	(void)payload;
	if (!strcmp(ns, "variables") && !strcmp(name, "tag"))
		return "v1";
	if (!strcmp(ns, "pipeline") && !strcmp(name, "execution_id"))
		return "E";
	return NULL;
}

int main(void)
{
	mdeploy_pipeline *p = NULL;
	const mdeploy_pipeline_stage *s;
	const mdeploy_pipeline_action *a;
	char *out = NULL;
	const char *good =
		"name: release\n"
		"execution_mode: queued\n"
		"variables:\n"
		"  - name: tag\n"
		"    default: v4.5.1\n"
		"  - name: env\n"
		"stages:\n"
		"  - name: Source\n"
		"    actions:\n"
		"      - name: Checkout\n"
		"        type: source\n"
		"        namespace: Src\n"
		"        outputs: [src]\n"
		"  - name: Build\n"
		"    actions:\n"
		"      - name: Bundle\n"
		"        type: build\n"
		"        inputs: [src]\n"
		"        outputs: [bundle]\n"
		"        key: \"keys/#{variables.env}.pem\"\n"
		"      - name: Test\n"
		"        type: shell\n"
		"        run_order: 2\n"
		"        namespace: T\n"
		"        inputs: [bundle]\n"
		"        output_variables: [result]\n"
		"        timeout: 15m\n"
		"        command: 'echo #{Src.commit} #{pipeline.execution_id}'\n"
		"  - name: Gate\n"
		"    actions:\n"
		"      - name: Manager\n"
		"        type: approval\n"
		"        comment: 'tests said #{T.result}'\n"
		"        timeout: 1d\n"
		"      - name: Prod\n"
		"        type: deploy\n"
		"        run_order: 2\n"
		"        group: production\n"
		"        inputs: [bundle]\n";

	plan_lazy();

	is_int(0, load(&p, good), "good definition loads");
	if (!p)
		diag("%s", mdeploy_error_last()->message);
	is_str("release", mdeploy_pipeline_name(p), "name");
	is_int(MDEPLOY_PIPELINE_QUEUED, mdeploy_pipeline_execution_mode(p), "execution_mode");
	is_int(2, (int)mdeploy_pipeline_variable_count(p), "two variables");
	is_str("v4.5.1", mdeploy_pipeline_variable_at(p, 0)->default_value, "default");
	ok(mdeploy_pipeline_variable_at(p, 1)->default_value == NULL, "no default: required");
	is_int(3, (int)mdeploy_pipeline_stage_count(p), "three stages");
	s = mdeploy_pipeline_stage_at(p, 1);
	is_str("Build", s->name, "stage name");
	is_int(2, (int)s->action_count, "stage actions");
	a = mdeploy_pipeline_action_find(p, "Build", "Test");
	ok(a != NULL, "action_find");
	if (a) {
		is_int(MDEPLOY_PIPELINE_ACTION_SHELL, a->type, "type");
		is_int(2, (int)a->run_order, "run_order");
		is_int(900, (int)a->timeout, "timeout 15m");
		is_str("bundle", a->inputs[0], "inputs");
		is_str("result", a->output_variables[0], "output_variables");
		is_str("stages[1].actions[1]", a->field, "field");
		like(mdeploy_pipeline_where(p, "stages[1].actions[1].command"), "p.yml:28:18", "where");
	}
	is_int(86400, (int)mdeploy_pipeline_action_find(p, "Gate", "Manager")->timeout, "timeout 1d");
	is_int(1, (int)mdeploy_pipeline_action_find(p, "Build", "Bundle")->run_order, "run_order default 1");
	mdeploy_pipeline_free(p);
	p = NULL;

	/* Structure rules. */
	bad("stages:\n  - name: Only\n    actions:\n" SHELL("a", ""), "p.yml:2:3: stages: a pipeline needs at least two stages (has one)", "one stage");
	bad("name: x\n", "stages: a pipeline needs at least two stages", "no stages");
	bad(TWO_STAGES(SHELL("a", ""), "      - name: s\n        type: source\n        outputs: [o]\n"),
	    "stages[1].actions[0].type: source actions may only be in the first stage", "source after first stage");
	bad(TWO_STAGES(SHELL("a", "") SHELL("a", ""), SHELL("b", "")),
	    "p.yml:7:15: stages[0].actions[1].name: action 'a' is defined twice in stage 'One'", "duplicate action");
	bad("stages:\n  - name: One\n    actions:\n" SHELL("a", "") "  - name: One\n    actions:\n" SHELL("b", ""),
	    "stages[1].name: stage 'One' is defined twice", "duplicate stage");
	bad(TWO_STAGES(SHELL("a", ""), SHELL("b", "        inputs: [nothing]\n")),
	    "p.yml:12:18: stages[1].actions[0].inputs[0]: no action produces artifact 'nothing'", "input nobody produces");
	bad(TWO_STAGES(SHELL("a", "        inputs: [later]\n"), SHELL("b", "        outputs: [later]\n")),
	    "stages[0].actions[0].inputs[0]: artifact 'later' is produced by Two/b, which does not run before this action",
	    "input produced later");
	bad(TWO_STAGES(SHELL("a", "        outputs: [x]\n") SHELL("b", "        inputs: [x]\n"), SHELL("c", "")),
	    "artifact 'x' is produced by One/a, which does not run before", "input from the same run_order");
	bad(TWO_STAGES(SHELL("a", "        outputs: [x]\n"), SHELL("b", "        outputs: [x]\n")),
	    "artifact 'x' is already produced by One/a", "output produced twice");
	bad(TWO_STAGES(SHELL("a", "        run_order: 0\n"), SHELL("b", "")),
	    "run_order: '0' must be an integer from 1 to 999", "bad run_order");
	bad(TWO_STAGES(SHELL("a", "        timeout: soon\n"), SHELL("b", "")),
	    "timeout: 'soon' is not a duration", "bad timeout");
	bad(TWO_STAGES("      - name: a\n        type: lambda\n", SHELL("b", "")),
	    "p.yml:5:15: stages[0].actions[0].type: 'lambda' is not an action type", "unknown type");
	bad(TWO_STAGES("      - name: a\n        type: shell\n", SHELL("b", "")),
	    "stages[0].actions[0].command: is required", "shell without command");
	bad(TWO_STAGES(SHELL("a", ""), "      - name: d\n        type: deploy\n        inputs: []\n"),
	    "stages[1].actions[0].group: is required", "deploy without group");
	bad(TWO_STAGES(SHELL("a", "        frobnicate: 1\n"), SHELL("b", "")),
	    "p.yml:7:9: stages[0].actions[0].frobnicate: unknown key 'frobnicate'", "unknown key");
	bad("foo: 1\n", "p.yml:1:1: foo: unknown key 'foo' (known: name, description, execution_mode, variables, stages, notifications)",
	    "unknown top-level key");
	bad("execution_mode: parallel\n" TWO_STAGES(SHELL("a", ""), SHELL("b", "")),
	    "execution_mode: 'parallel' is not an execution mode (superseded, queued)", "bad mode");
	bad("stages: [\n", "p.yml:2:1: YAML syntax error", "syntax error");

	/* Variable references are checked before any run. */
	bad(TWO_STAGES(SHELL("a", ""), "      - name: b\n        type: shell\n        command: 'echo #{variables.nope}'\n"),
	    "p.yml:11:18: stages[1].actions[0].command: '#{variables.nope}': no pipeline variable 'nope' is declared",
	    "undeclared pipeline variable");
	bad(TWO_STAGES(SHELL("a", "        namespace: A\n"),
	               "      - name: b\n        type: shell\n        command: 'echo #{A.out}'\n"),
	    "'#{A.out}': One/a does not set 'out' (list it in its output_variables)", "undeclared output variable");
	bad(TWO_STAGES("      - name: a\n        type: shell\n        command: 'echo #{B.x}'\n",
	               SHELL("b", "        namespace: B\n        output_variables: [x]\n")),
	    "namespace 'B' belongs to Two/b, which does not run before this action", "reference to a later action");
	bad(TWO_STAGES(SHELL("a", ""), "      - name: b\n        type: shell\n        command: 'echo #{nowhere.x}'\n"),
	    "unknown namespace 'nowhere'", "unknown namespace");
	bad(TWO_STAGES(SHELL("a", ""), "      - name: b\n        type: shell\n        command: 'echo #{broken'\n"),
	    "malformed variable reference", "malformed reference");
	bad(TWO_STAGES(SHELL("a", ""), "      - name: b\n        type: shell\n        command: 'echo #{pipeline.colour}'\n"),
	    "'#{pipeline.colour}': unknown", "unknown pipeline variable");

	/* Several problems are all reported. */
	{
		int rc = load(&p, "execution_mode: x\n" TWO_STAGES("      - name: a\n        type: nope\n", SHELL("b", "        run_order: z\n")));
		const char *m = mdeploy_error_last()->message;
		is_int(MDEPLOY_EINVALID, rc, "several problems: rejected");
		like(m, "execution_mode:", "several problems: first");
		like(m, "stages[0].actions[0].type:", "several problems: second");
		like(m, "stages[1].actions[0].run_order:", "several problems: third");
		is_int(MDEPLOY_ERROR_CLASS_PIPELINE, mdeploy_error_last()->klass, "class pipeline");
	}

	/* Substitution. */
	is_int(0, mdeploy_pipeline_substitute(&out, "tag #{variables.tag} in #{pipeline.execution_id}!", lookup, NULL),
	       "substitute");
	is_str("tag v1 in E!", out, "substitute: result");
	free(out);
	out = NULL;
	is_int(MDEPLOY_ENOTFOUND, mdeploy_pipeline_substitute(&out, "#{variables.other}", lookup, NULL),
	       "substitute: unknown is an error");
	like(mdeploy_error_last()->message, "'#{variables.other}' has no value", "substitute: named");
	is_int(0, mdeploy_pipeline_substitute(&out, "plain # text {x}", lookup, NULL), "substitute: no references");
	is_str("plain # text {x}", out, "substitute: unchanged");
	free(out);

	/* Finding definitions. */
	{
		char *found = NULL;
		is_int(MDEPLOY_ENOTFOUND, mdeploy_pipeline_find(&found, test_tmpdir(), "missing"), "find: missing");
		like(mdeploy_error_last()->message, "pipelines/missing.yml does not exist", "find: says where it looked");
		is_int(0, mdeploy_pipeline_find(&found, NULL, path), "find: a path is taken as is");
		is_str(path, found, "find: path");
		free(found);
	}
	return done();
}

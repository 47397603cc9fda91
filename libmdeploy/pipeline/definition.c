/*
 * definition.c - pipeline definitions: the YAML schema, the structure
 * rules and the accessors. See mdeploy-pipeline(5).
 *
 * Everything libcyaml reads is a string (run_order and timeout too), so
 * that each wrong value gets our own located message rather than a
 * generic type error.
 */
#include "pipeline_private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct raw_action {
	char *name, *type, *run_order, *ns, *timeout;
	char *command, *comment, *config, *group, *strategy, *buildspec, *key, *ref;
	char **inputs;
	unsigned int inputs_count;
	char **outputs;
	unsigned int outputs_count;
	char **output_variables;
	unsigned int output_variables_count;
};

struct raw_stage {
	char *name;
	struct raw_action *actions;
	unsigned int actions_count;
};

struct raw_var {
	char *name, *default_value, *description;
};

struct mdeploy_pipeline__doc {
	char *name, *description, *execution_mode;
	struct raw_var *variables;
	unsigned int variables_count;
	struct raw_stage *stages;
	unsigned int stages_count;
	struct mdeploy_pipeline__notify_raw *notifications;
	unsigned int notifications_count;
};

#define STR(key, type, member) \
	CYAML_FIELD_STRING_PTR(key, CYAML_FLAG_POINTER | CYAML_FLAG_OPTIONAL, type, member, 0, CYAML_UNLIMITED)

static const cyaml_schema_value_t string_schema = {
	CYAML_VALUE_STRING(CYAML_FLAG_POINTER, char, 0, CYAML_UNLIMITED),
};

#define STRLIST(key, member) \
	CYAML_FIELD_SEQUENCE(key, CYAML_FLAG_POINTER | CYAML_FLAG_OPTIONAL, struct raw_action, member, \
	                     &string_schema, 0, CYAML_UNLIMITED)

static const cyaml_schema_field_t action_fields[] = {
	STR("name", struct raw_action, name),
	STR("type", struct raw_action, type),
	STR("run_order", struct raw_action, run_order),
	STR("namespace", struct raw_action, ns),
	STR("timeout", struct raw_action, timeout),
	STR("command", struct raw_action, command),
	STR("comment", struct raw_action, comment),
	STR("config", struct raw_action, config),
	STR("group", struct raw_action, group),
	STR("strategy", struct raw_action, strategy),
	STR("buildspec", struct raw_action, buildspec),
	STR("key", struct raw_action, key),
	STR("ref", struct raw_action, ref),
	STRLIST("inputs", inputs),
	STRLIST("outputs", outputs),
	STRLIST("output_variables", output_variables),
	CYAML_FIELD_END
};

static const cyaml_schema_value_t action_schema = {
	CYAML_VALUE_MAPPING(CYAML_FLAG_DEFAULT, struct raw_action, action_fields),
};

static const cyaml_schema_field_t stage_fields[] = {
	STR("name", struct raw_stage, name),
	CYAML_FIELD_SEQUENCE("actions", CYAML_FLAG_POINTER | CYAML_FLAG_OPTIONAL, struct raw_stage, actions,
	                     &action_schema, 0, CYAML_UNLIMITED),
	CYAML_FIELD_END
};

static const cyaml_schema_value_t stage_schema = {
	CYAML_VALUE_MAPPING(CYAML_FLAG_DEFAULT, struct raw_stage, stage_fields),
};

static const cyaml_schema_field_t var_fields[] = {
	STR("name", struct raw_var, name),
	STR("default", struct raw_var, default_value),
	STR("description", struct raw_var, description),
	CYAML_FIELD_END
};

static const cyaml_schema_value_t var_schema = {
	CYAML_VALUE_MAPPING(CYAML_FLAG_DEFAULT, struct raw_var, var_fields),
};

static const cyaml_schema_field_t doc_fields[] = {
	STR("name", struct mdeploy_pipeline__doc, name),
	STR("description", struct mdeploy_pipeline__doc, description),
	STR("execution_mode", struct mdeploy_pipeline__doc, execution_mode),
	CYAML_FIELD_SEQUENCE("variables", CYAML_FLAG_POINTER | CYAML_FLAG_OPTIONAL,
	                     struct mdeploy_pipeline__doc, variables, &var_schema, 0, CYAML_UNLIMITED),
	CYAML_FIELD_SEQUENCE("stages", CYAML_FLAG_POINTER | CYAML_FLAG_OPTIONAL,
	                     struct mdeploy_pipeline__doc, stages, &stage_schema, 0, CYAML_UNLIMITED),
	CYAML_FIELD_SEQUENCE("notifications", CYAML_FLAG_POINTER | CYAML_FLAG_OPTIONAL, struct mdeploy_pipeline__doc,
	                     notifications, &mdeploy_pipeline__notify_schema, 0, CYAML_UNLIMITED),
	CYAML_FIELD_END
};

static const cyaml_schema_value_t doc_schema = {
	CYAML_VALUE_MAPPING(CYAML_FLAG_POINTER, struct mdeploy_pipeline__doc, doc_fields),
};

static const char *const root_keys[] = {
	"name", "description", "execution_mode", "variables", "stages", "notifications", NULL
};

static const char *const type_names[] = { NULL, "source", "build", "deploy", "approval", "shell" };

const char *mdeploy_pipeline_action_type_name(int type)
{
	return type >= 1 && type <= 5 ? type_names[type] : NULL;
}

const char *mdeploy_pipeline_mode_name(int mode)
{
	return mode == MDEPLOY_PIPELINE_QUEUED ? "queued" : "superseded";
}

const char *const *mdeploy_pipeline__type_variables(mdeploy_pipeline_action_type type)
{
	static const char *const source[] = { "revision", "commit", "ref", NULL };
	static const char *const build[] = { "bundle_id", "bundle_digest", NULL };
	static const char *const deploy[] = { "deployment_id", NULL };
	static const char *const approval[] = { "decision", "comment", "by", NULL };
	static const char *const none[] = { NULL };
	switch (type) {
	case MDEPLOY_PIPELINE_ACTION_SOURCE: return source;
	case MDEPLOY_PIPELINE_ACTION_BUILD: return build;
	case MDEPLOY_PIPELINE_ACTION_DEPLOY: return deploy;
	case MDEPLOY_PIPELINE_ACTION_APPROVAL: return approval;
	default: return none;
	}
}

int mdeploy_pipeline_load_options_init(mdeploy_pipeline_load_options *opts, unsigned int version)
{
	mdeploy_pipeline_load_options def = MDEPLOY_PIPELINE_LOAD_OPTIONS_INIT;
	int rc;
	if ((rc = mdeploy__options_check(version, MDEPLOY_PIPELINE_LOAD_OPTIONS_VERSION,
	                                 "mdeploy_pipeline_load_options")))
		return rc;
	*opts = def;
	opts->version = version;
	return 0;
}

/* ---- checks ----------------------------------------------------------- */

/* Stage, action and artifact names: they become directory names and CLI arguments. */
static int name_ok(const char *s)
{
	size_t i, n = strlen(s);
	if (n == 0 || n > 100 || s[0] == '.' || s[0] == '-')
		return 0;
	for (i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-' || c == '.'))
			return 0;
	}
	return 1;
}

/* "90", "90s", "15m", "2h", "1d" -> seconds. */
static int parse_duration(const char *s, unsigned int *out)
{
	char *end;
	unsigned long long v, mul = 1;
	if (!s || s[0] < '0' || s[0] > '9')
		return -1;
	v = strtoull(s, &end, 10);
	if (*end == 's') mul = 1, end++;
	else if (*end == 'm') mul = 60, end++;
	else if (*end == 'h') mul = 3600, end++;
	else if (*end == 'd') mul = 86400, end++;
	if (*end || v == 0 || v * mul > 30ull * 86400)
		return -1;
	*out = (unsigned int)(v * mul);
	return 0;
}

struct check {
	mdeploy_pipeline *p;
	mdeploy__yaml_problems *probs;
	const mdeploy_pipeline_action *a; /* whose references are checked */
	const char *field;
};

/* Is `a` before `b` (so its outputs are available to it)? */
static int earlier(const mdeploy_pipeline_action *a, const mdeploy_pipeline_action *b)
{
	return a->stage_index < b->stage_index ||
	       (a->stage_index == b->stage_index && a->run_order < b->run_order);
}

static int has(const char *const *list, size_t n, const char *s, size_t len)
{
	size_t i;
	for (i = 0; list && (n == (size_t)-1 ? list[i] != NULL : i < n); i++)
		if (strlen(list[i]) == len && !memcmp(list[i], s, len))
			return 1;
	return 0;
}

static int ref_check(const char *ns, size_t nslen, const char *name, size_t namelen, void *payload)
{
	struct check *c = payload;
	mdeploy_pipeline *p = c->p;
	size_t i;

	if (!ns) {
		mdeploy__yaml_problem(c->probs, c->field, "malformed variable reference '#{%.*s' "
		                      "(expected #{namespace.name})", (int)namelen, name);
		return 0;
	}
	if (nslen == 9 && !memcmp(ns, "variables", 9)) {
		for (i = 0; i < p->nvars; i++)
			if (strlen(p->vars[i].name) == namelen && !memcmp(p->vars[i].name, name, namelen))
				return 0;
		mdeploy__yaml_problem(c->probs, c->field, "'#{variables.%.*s}': no pipeline variable '%.*s' "
		                      "is declared", (int)namelen, name, (int)namelen, name);
		return 0;
	}
	if (nslen == 8 && !memcmp(ns, "pipeline", 8)) {
		static const char *const known[] = { "execution_id", "name", NULL };
		if (!has(known, (size_t)-1, name, namelen))
			mdeploy__yaml_problem(c->probs, c->field, "'#{pipeline.%.*s}': unknown (known: "
			                      "execution_id, name)", (int)namelen, name);
		return 0;
	}
	for (i = 0; i < p->nactions; i++) {
		const mdeploy_pipeline_action *o = &p->actions[i];
		if (!o->namespace_name || strlen(o->namespace_name) != nslen ||
		    memcmp(o->namespace_name, ns, nslen))
			continue;
		if (!earlier(o, c->a)) {
			mdeploy__yaml_problem(c->probs, c->field, "'#{%.*s.%.*s}': namespace '%.*s' belongs to "
			                      "%s/%s, which does not run before this action", (int)nslen, ns,
			                      (int)namelen, name, (int)nslen, ns, o->stage, o->name);
			return 0;
		}
		if (has(mdeploy_pipeline__type_variables(o->type), (size_t)-1, name, namelen) ||
		    has(o->output_variables, o->output_variable_count, name, namelen))
			return 0;
		mdeploy__yaml_problem(c->probs, c->field, "'#{%.*s.%.*s}': %s/%s does not set '%.*s'%s",
		                      (int)nslen, ns, (int)namelen, name, o->stage, o->name, (int)namelen,
		                      name, o->type == MDEPLOY_PIPELINE_ACTION_SHELL
		                            ? " (list it in its output_variables)" : "");
		return 0;
	}
	mdeploy__yaml_problem(c->probs, c->field, "'#{%.*s.%.*s}': unknown namespace '%.*s' (known: "
	                      "variables, pipeline, and the namespace of an earlier action)",
	                      (int)nslen, ns, (int)namelen, name, (int)nslen, ns);
	return 0;
}

static void check_refs(struct check *c, const mdeploy_pipeline_action *a, const char *what,
                       const char *text)
{
	char f[96];
	if (!text)
		return;
	snprintf(f, sizeof(f), "%s.%s", a->field, what);
	c->a = a;
	c->field = f;
	mdeploy_pipeline__refs(text, ref_check, c);
}

/* Names in a list are valid and unique. */
static void check_names(mdeploy__yaml_problems *probs, const char *field, const char *what,
                        const char *const *list, size_t n, int ident)
{
	size_t i, j;
	char f[128];
	for (i = 0; i < n; i++) {
		snprintf(f, sizeof(f), "%s[%zu]", field, i);
		if (ident ? !mdeploy_pipeline__ident_ok(list[i], strlen(list[i])) : !name_ok(list[i]))
			mdeploy__yaml_problem(probs, f, "'%s' is not a valid %s name (letters, digits, "
			                      "'_', '-'%s)", list[i], what, ident ? "" : ", '.'");
		for (j = 0; j < i; j++)
			if (!strcmp(list[i], list[j]))
				mdeploy__yaml_problem(probs, f, "'%s' is listed twice", list[i]);
	}
}

static int build(mdeploy_pipeline *p, mdeploy__yaml_problems *probs)
{
	struct mdeploy_pipeline__doc *d = p->doc;
	size_t s, a, i, j, n = 0;
	struct check c;
	char f[96];

	if (d->name && !name_ok(d->name))
		mdeploy__yaml_problem(probs, "name", "'%s' is not a valid pipeline name (letters, digits, "
		                      "'_', '-', '.')", d->name);
	p->mode = MDEPLOY_PIPELINE_SUPERSEDED;
	if (d->execution_mode) {
		if (!strcmp(d->execution_mode, "queued"))
			p->mode = MDEPLOY_PIPELINE_QUEUED;
		else if (strcmp(d->execution_mode, "superseded"))
			mdeploy__yaml_problem(probs, "execution_mode", "'%s' is not an execution mode "
			                      "(superseded, queued)", d->execution_mode);
	}

	p->notify = d->notifications;
	p->nnotify = d->notifications_count;
	mdeploy_pipeline__notify_check(p->notify, p->nnotify, probs);
	p->nvars = d->variables_count;
	if (p->nvars && !(p->vars = calloc(p->nvars, sizeof(*p->vars))))
		return mdeploy__error_oom();
	for (i = 0; i < p->nvars; i++) {
		struct raw_var *v = &d->variables[i];
		snprintf(f, sizeof(f), "variables[%zu].name", i);
		p->vars[i].name = v->name ? v->name : "";
		p->vars[i].default_value = v->default_value;
		p->vars[i].description = v->description;
		if (!v->name)
			mdeploy__yaml_problem(probs, f, "is required");
		else if (!mdeploy_pipeline__ident_ok(v->name, strlen(v->name)))
			mdeploy__yaml_problem(probs, f, "'%s' is not a valid variable name (letters, digits, "
			                      "'_', '-')", v->name);
		for (j = 0; v->name && j < i; j++)
			if (d->variables[j].name && !strcmp(d->variables[j].name, v->name))
				mdeploy__yaml_problem(probs, f, "variable '%s' is declared twice", v->name);
	}

	p->nstages = d->stages_count;
	if (!d->stages_count)
		mdeploy__yaml_problem(probs, "stages", "a pipeline needs at least two stages");
	else if (d->stages_count < 2)
		mdeploy__yaml_problem(probs, "stages", "a pipeline needs at least two stages (has one)");
	for (s = 0; s < d->stages_count; s++)
		n += d->stages[s].actions_count;
	p->nactions = n;
	if (p->nstages && !(p->stages = calloc(p->nstages, sizeof(*p->stages))))
		return mdeploy__error_oom();
	if (n && (!(p->actions = calloc(n, sizeof(*p->actions))) ||
	          !(p->fields = calloc(n, sizeof(*p->fields)))))
		return mdeploy__error_oom();

	/* Fill every action first: references may point forward (and are refused). */
	n = 0;
	for (s = 0; s < d->stages_count; s++) {
		struct raw_stage *rs = &d->stages[s];
		mdeploy_pipeline_stage *st = &p->stages[s];
		st->name = rs->name ? rs->name : "";
		/* No action anywhere: no array to point into (NULL + 0 is undefined). */
		st->actions = p->actions ? p->actions + n : NULL;
		st->action_count = rs->actions_count;
		snprintf(f, sizeof(f), "stages[%zu].name", s);
		if (!rs->name)
			mdeploy__yaml_problem(probs, f, "is required");
		else if (!name_ok(rs->name))
			mdeploy__yaml_problem(probs, f, "'%s' is not a valid stage name (letters, digits, "
			                      "'_', '-', '.')", rs->name);
		for (j = 0; rs->name && j < s; j++)
			if (d->stages[j].name && !strcmp(d->stages[j].name, rs->name))
				mdeploy__yaml_problem(probs, f, "stage '%s' is defined twice", rs->name);
		if (!rs->actions_count) {
			snprintf(f, sizeof(f), "stages[%zu].actions", s);
			mdeploy__yaml_problem(probs, f, "a stage needs at least one action");
		}
		for (a = 0; a < rs->actions_count; a++, n++) {
			struct raw_action *ra = &rs->actions[a];
			mdeploy_pipeline_action *pa = &p->actions[n];
			int t;
			snprintf(p->fields[n], sizeof(p->fields[n]), "stages[%zu].actions[%zu]", s, a);
			pa->field = p->fields[n];
			pa->name = ra->name ? ra->name : "";
			pa->stage = st->name;
			pa->stage_index = s;
			pa->run_order = 1;
			pa->namespace_name = ra->ns;
			pa->inputs = (const char *const *)ra->inputs;
			pa->input_count = ra->inputs_count;
			pa->outputs = (const char *const *)ra->outputs;
			pa->output_count = ra->outputs_count;
			pa->output_variables = (const char *const *)ra->output_variables;
			pa->output_variable_count = ra->output_variables_count;
			pa->command = ra->command;
			pa->comment = ra->comment;
			pa->config = ra->config;
			pa->group = ra->group;
			pa->strategy = ra->strategy;
			pa->buildspec = ra->buildspec;
			pa->key = ra->key;
			pa->ref = ra->ref;

			snprintf(f, sizeof(f), "%s.name", pa->field);
			if (!ra->name)
				mdeploy__yaml_problem(probs, f, "is required");
			else if (!name_ok(ra->name))
				mdeploy__yaml_problem(probs, f, "'%s' is not a valid action name (letters, digits, "
				                      "'_', '-', '.')", ra->name);
			for (j = 0; ra->name && j < a; j++)
				if (rs->actions[j].name && !strcmp(rs->actions[j].name, ra->name))
					mdeploy__yaml_problem(probs, f, "action '%s' is defined twice in stage '%s'",
					                      ra->name, st->name);

			snprintf(f, sizeof(f), "%s.type", pa->field);
			for (t = 1; t <= 5 && ra->type; t++)
				if (!strcmp(ra->type, type_names[t]))
					break;
			if (!ra->type)
				mdeploy__yaml_problem(probs, f, "is required (source, build, deploy, approval, shell)");
			else if (t > 5)
				mdeploy__yaml_problem(probs, f, "'%s' is not an action type (source, build, deploy, "
				                      "approval, shell)", ra->type);
			else
				pa->type = (mdeploy_pipeline_action_type)t;

			if (ra->run_order) {
				char *end;
				unsigned long v = strtoul(ra->run_order, &end, 10);
				snprintf(f, sizeof(f), "%s.run_order", pa->field);
				if (ra->run_order[0] < '0' || ra->run_order[0] > '9' || *end || v < 1 || v > 999)
					mdeploy__yaml_problem(probs, f, "'%s' must be an integer from 1 to 999",
					                      ra->run_order);
				else
					pa->run_order = (unsigned int)v;
			}
			if (ra->timeout) {
				snprintf(f, sizeof(f), "%s.timeout", pa->field);
				if (parse_duration(ra->timeout, &pa->timeout))
					mdeploy__yaml_problem(probs, f, "'%s' is not a duration (seconds, or a number "
					                      "with s, m, h or d; at most 30d)", ra->timeout);
			}
			if (ra->ns) {
				snprintf(f, sizeof(f), "%s.namespace", pa->field);
				if (!mdeploy_pipeline__ident_ok(ra->ns, strlen(ra->ns)) ||
				    !strcmp(ra->ns, "variables") || !strcmp(ra->ns, "pipeline"))
					mdeploy__yaml_problem(probs, f, "'%s' is not a valid namespace (letters, digits, "
					                      "'_', '-'; not 'variables' or 'pipeline')", ra->ns);
			}
			snprintf(f, sizeof(f), "%s.inputs", pa->field);
			check_names(probs, f, "artifact", pa->inputs, pa->input_count, 0);
			snprintf(f, sizeof(f), "%s.outputs", pa->field);
			check_names(probs, f, "artifact", pa->outputs, pa->output_count, 0);
			snprintf(f, sizeof(f), "%s.output_variables", pa->field);
			check_names(probs, f, "variable", pa->output_variables, pa->output_variable_count, 1);
		}
	}

	/* Rules across actions, now that all are known. */
	for (i = 0; i < p->nactions; i++) {
		const mdeploy_pipeline_action *pa = &p->actions[i];
		const char *tn = mdeploy_pipeline_action_type_name(pa->type);
#define NEED(cond, what, ...) do { if (!(cond)) { snprintf(f, sizeof(f), "%s.%s", pa->field, what); \
	mdeploy__yaml_problem(probs, f, __VA_ARGS__); } } while (0)
#define NOT_FOR(member, what) NEED(!pa->member, what, "is not used by a %s action", tn)
		if (!pa->type)
			continue;
		if (pa->type == MDEPLOY_PIPELINE_ACTION_SOURCE && pa->stage_index != 0)
			NEED(0, "type", "source actions may only be in the first stage");
		switch (pa->type) {
		case MDEPLOY_PIPELINE_ACTION_SOURCE:
			NEED(pa->input_count == 0, "inputs", "a source action takes no input artifacts");
			NEED(pa->output_count == 1, "outputs", "a source action produces exactly one artifact");
			NOT_FOR(command, "command"); NOT_FOR(group, "group"); NOT_FOR(key, "key");
			NOT_FOR(comment, "comment"); NOT_FOR(strategy, "strategy"); NOT_FOR(buildspec, "buildspec");
			break;
		case MDEPLOY_PIPELINE_ACTION_BUILD:
			NOT_FOR(ref, "ref");
			NEED(pa->input_count >= 1, "inputs", "a build action needs an input artifact (the source)");
			NEED(pa->output_count == 1, "outputs", "a build action produces exactly one artifact "
			     "(the bundle)");
			NOT_FOR(command, "command"); NOT_FOR(group, "group"); NOT_FOR(comment, "comment");
			NOT_FOR(strategy, "strategy");
			break;
		case MDEPLOY_PIPELINE_ACTION_DEPLOY:
			NOT_FOR(ref, "ref");
			NEED(pa->input_count == 1, "inputs", "a deploy action takes exactly one input artifact "
			     "(the bundle)");
			NEED(pa->output_count == 0, "outputs", "a deploy action produces no artifacts");
			NEED(pa->group != NULL, "group", "is required (the deployment group)");
			NEED(pa->strategy == NULL, "strategy", "a deployment's strategy is set on its group in "
			     "mdeploy.yml");
			NOT_FOR(command, "command"); NOT_FOR(comment, "comment");
			NOT_FOR(buildspec, "buildspec");
			break;
		case MDEPLOY_PIPELINE_ACTION_APPROVAL:
			NOT_FOR(ref, "ref");
			NEED(pa->input_count == 0, "inputs", "an approval action takes no artifacts");
			NEED(pa->output_count == 0, "outputs", "an approval action produces no artifacts");
			NOT_FOR(command, "command"); NOT_FOR(group, "group"); NOT_FOR(key, "key");
			NOT_FOR(config, "config"); NOT_FOR(strategy, "strategy"); NOT_FOR(buildspec, "buildspec");
			break;
		case MDEPLOY_PIPELINE_ACTION_SHELL:
			NOT_FOR(ref, "ref");
			NEED(pa->command != NULL, "command", "is required (run by /bin/sh -c)");
			NOT_FOR(group, "group"); NOT_FOR(key, "key"); NOT_FOR(comment, "comment");
			NOT_FOR(config, "config"); NOT_FOR(strategy, "strategy"); NOT_FOR(buildspec, "buildspec");
			break;
		}
		if (pa->type != MDEPLOY_PIPELINE_ACTION_SHELL)
			NEED(pa->output_variable_count == 0, "output_variables", "only shell actions declare "
			     "output_variables (a %s action sets its own)", tn);
#undef NOT_FOR
#undef NEED
		/* Inputs come from earlier actions; outputs and namespaces are unique. */
		for (a = 0; a < pa->input_count; a++) {
			const mdeploy_pipeline_action *prod = NULL;
			for (j = 0; j < p->nactions && !prod; j++)
				if (has(p->actions[j].outputs, p->actions[j].output_count, pa->inputs[a],
				        strlen(pa->inputs[a])))
					prod = &p->actions[j];
			snprintf(f, sizeof(f), "%s.inputs[%zu]", pa->field, a);
			if (!prod)
				mdeploy__yaml_problem(probs, f, "no action produces artifact '%s'", pa->inputs[a]);
			else if (!earlier(prod, pa))
				mdeploy__yaml_problem(probs, f, "artifact '%s' is produced by %s/%s, which does not "
				                      "run before this action", pa->inputs[a], prod->stage, prod->name);
		}
		for (a = 0; a < pa->output_count; a++)
			for (j = 0; j < i; j++)
				if (has(p->actions[j].outputs, p->actions[j].output_count, pa->outputs[a],
				        strlen(pa->outputs[a]))) {
					snprintf(f, sizeof(f), "%s.outputs[%zu]", pa->field, a);
					mdeploy__yaml_problem(probs, f, "artifact '%s' is already produced by %s/%s",
					                      pa->outputs[a], p->actions[j].stage, p->actions[j].name);
				}
		for (j = 0; pa->namespace_name && j < i; j++)
			if (p->actions[j].namespace_name && !strcmp(p->actions[j].namespace_name, pa->namespace_name)) {
				snprintf(f, sizeof(f), "%s.namespace", pa->field);
				mdeploy__yaml_problem(probs, f, "namespace '%s' is already used by %s/%s",
				                      pa->namespace_name, p->actions[j].stage, p->actions[j].name);
			}
	}

	/* Variable references, in every field that is substituted. */
	memset(&c, 0, sizeof(c));
	c.p = p;
	c.probs = probs;
	for (i = 0; i < p->nactions; i++) {
		const mdeploy_pipeline_action *pa = &p->actions[i];
		check_refs(&c, pa, "command", pa->command);
		check_refs(&c, pa, "comment", pa->comment);
		check_refs(&c, pa, "config", pa->config);
		check_refs(&c, pa, "group", pa->group);
		check_refs(&c, pa, "strategy", pa->strategy);
		check_refs(&c, pa, "buildspec", pa->buildspec);
		check_refs(&c, pa, "key", pa->key);
		check_refs(&c, pa, "ref", pa->ref);
	}
	for (i = 0; i < p->nvars; i++)
		if (p->vars[i].default_value && strstr(p->vars[i].default_value, "#{")) {
			snprintf(f, sizeof(f), "variables[%zu].default", i);
			mdeploy__yaml_problem(probs, f, "a default value cannot reference variables");
		}
	return 0;
}

/* ---- load ------------------------------------------------------------- */

static char *base_name(const char *path)
{
	const char *b = strrchr(path, '/');
	char *s;
	size_t n;
	b = b ? b + 1 : path;
	n = strlen(b);
	if (n > 4 && !strcmp(b + n - 4, ".yml"))
		n -= 4;
	else if (n > 5 && !strcmp(b + n - 5, ".yaml"))
		n -= 5;
	if (!(s = malloc(n + 1)))
		return NULL;
	memcpy(s, b, n);
	s[n] = '\0';
	return s;
}

int mdeploy_pipeline__load_text(mdeploy_pipeline **out, const char *text, size_t len,
                                const char *path, const char *display)
{
	mdeploy_pipeline *p;
	mdeploy__yaml_problems probs;
	int rc;

	*out = NULL;
	if (!(p = calloc(1, sizeof(*p))))
		return mdeploy__error_oom();
	p->path = mdeploy__strdup(path);
	p->display = mdeploy__strdup(display ? display : path);
	p->text = malloc(len + 1);
	if (!p->path || !p->display || !p->text) {
		rc = mdeploy__error_oom();
		goto fail;
	}
	memcpy(p->text, text, len);
	p->text[len] = '\0';
	p->yaml.display = p->display;
	p->yaml.klass = MDEPLOY_ERROR_CLASS_PIPELINE;
	p->yaml.root_expect = "a pipeline mapping (name:, variables:, stages: ...)";
	p->yaml.root_noun = "key";
	p->yaml.root_keys = root_keys;
	if ((rc = mdeploy__yaml_load(&p->yaml, p->text, len, &doc_schema, (void **)&p->doc)) != 0)
		goto fail;
	memset(&probs, 0, sizeof(probs));
	probs.y = &p->yaml;
	if ((rc = build(p, &probs)) != 0) {
		mdeploy__buf_dispose(&probs.msg);
		goto fail;
	}
	if (probs.count) {
		rc = mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_PIPELINE, "%s",
		                        mdeploy__buf_cstr(&probs.msg));
		mdeploy__buf_dispose(&probs.msg);
		goto fail;
	}
	{
		/* The project: the parent of pipelines/, else the file's directory. */
		char *slash = strrchr(p->path, '/');
		p->project = slash ? mdeploy__sprintf("%.*s", (int)(slash - p->path), p->path) : mdeploy__strdup(".");
		if (p->project && slash) {
			char *up = strrchr(p->project, '/');
			const char *last = up ? up + 1 : p->project;
			if (!strcmp(last, "pipelines"))
				up ? (void)(*up = '\0') : (void)strcpy(p->project, ".");
			if (!*p->project)
				strcpy(p->project, "/");
		}
	}
	if (!p->project || !(p->name = p->doc->name ? mdeploy__strdup(p->doc->name) : base_name(p->path))) {
		rc = mdeploy__error_oom();
		goto fail;
	}
	*out = p;
	return 0;
fail:
	mdeploy_pipeline_free(p);
	return rc;
}

int mdeploy_pipeline_load(mdeploy_pipeline **out, const char *path, const mdeploy_pipeline_load_options *opts)
{
	const char *display = opts && opts->display_name ? opts->display_name : path;
	char *text = NULL;
	size_t len;
	int rc;

	*out = NULL;
	if (opts && (rc = mdeploy__options_check(opts->version, MDEPLOY_PIPELINE_LOAD_OPTIONS_VERSION,
	                                         "mdeploy_pipeline_load_options")) != 0)
		return rc;
	if ((rc = mdeploy__file_read_max(&text, &len, path, MDEPLOY__CONFIG_READ_MAX)) != 0)
		return mdeploy__error_set(rc, MDEPLOY_ERROR_CLASS_PIPELINE, "cannot read %s: %s", display,
		                          rc == MDEPLOY_ENOTFOUND ? "no such file" : mdeploy_error_last()->message);
	{
		/* Executions outlive the directory they were started from. */
		char *abs = realpath(path, NULL);
		rc = mdeploy_pipeline__load_text(out, text, len, abs ? abs : path, display);
		free(abs);
	}
	free(text);
	return rc;
}

void mdeploy_pipeline_free(mdeploy_pipeline *p)
{
	if (!p)
		return;
	mdeploy__yaml_doc_free(&doc_schema, p->doc);
	mdeploy__yaml_dispose(&p->yaml);
	free(p->vars);
	free(p->stages);
	free(p->actions);
	free(p->fields);
	free(p->path);
	free(p->display);
	free(p->text);
	free(p->name);
	free(p->project);
	free(p);
}

int mdeploy_pipeline_find(char **out, const char *dir, const char *name)
{
	size_t n = strlen(name);
	char *path;

	*out = NULL;
	if (strchr(name, '/') || (n > 4 && !strcmp(name + n - 4, ".yml")) ||
	    (n > 5 && !strcmp(name + n - 5, ".yaml")))
		path = mdeploy__strdup(name);
	else if (!name_ok(name))
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_PIPELINE,
		                          "'%s' is not a pipeline name", name);
	else
		path = mdeploy__sprintf("%s/pipelines/%s.yml", dir ? dir : ".", name);
	if (!path)
		return mdeploy__error_oom();
	if (!mdeploy__path_exists(path)) {
		mdeploy__error_set(MDEPLOY_ENOTFOUND, MDEPLOY_ERROR_CLASS_PIPELINE,
		                   "no pipeline '%s' (%s does not exist)", name, path);
		free(path);
		return MDEPLOY_ENOTFOUND;
	}
	*out = path;
	return 0;
}

/* ---- accessors -------------------------------------------------------- */

const char *mdeploy_pipeline_name(const mdeploy_pipeline *p) { return p ? p->name : NULL; }
const char *mdeploy_pipeline_description(const mdeploy_pipeline *p)
{
	return p && p->doc ? p->doc->description : NULL;
}
const char *mdeploy_pipeline_path(const mdeploy_pipeline *p) { return p ? p->path : NULL; }
const char *mdeploy_pipeline_project_dir(const mdeploy_pipeline *p) { return p ? p->project : NULL; }
mdeploy_pipeline_mode mdeploy_pipeline_execution_mode(const mdeploy_pipeline *p)
{
	return p ? p->mode : MDEPLOY_PIPELINE_SUPERSEDED;
}
size_t mdeploy_pipeline_variable_count(const mdeploy_pipeline *p) { return p ? p->nvars : 0; }
const mdeploy_pipeline_variable *mdeploy_pipeline_variable_at(const mdeploy_pipeline *p, size_t i)
{
	return p && i < p->nvars ? &p->vars[i] : NULL;
}
size_t mdeploy_pipeline_stage_count(const mdeploy_pipeline *p) { return p ? p->nstages : 0; }
const mdeploy_pipeline_stage *mdeploy_pipeline_stage_at(const mdeploy_pipeline *p, size_t i)
{
	return p && i < p->nstages ? &p->stages[i] : NULL;
}

const mdeploy_pipeline_action *mdeploy_pipeline_action_find(const mdeploy_pipeline *p, const char *stage,
                                                            const char *action)
{
	size_t i;
	for (i = 0; p && i < p->nactions; i++)
		if (!strcmp(p->actions[i].stage, stage) && !strcmp(p->actions[i].name, action))
			return &p->actions[i];
	return NULL;
}

const char *mdeploy_pipeline_where(const mdeploy_pipeline *p, const char *field)
{
	static __thread char buf[4096];
	unsigned int line, col;
	if (!p)
		return "";
	mdeploy__yaml_locate(&p->yaml, field ? field : "", &line, &col);
	snprintf(buf, sizeof(buf), "%s:%u:%u", p->display, line, col);
	return buf;
}

/*
 * infra_plan.c - infra plan with the aws provider: for each layer of
 * infra/aws/stacks.yaml whose inputs are known, a CloudFormation change set
 * (CreateChangeSet, DescribeChangeSet until it is ready), each resource
 * change given as add / modify / replace / remove with data_loss set when
 * a resource that holds data would be replaced or removed, then the change
 * set deleted (and the empty stack a CREATE change set leaves). A layer
 * whose inputs are outputs of a stack that does not exist yet is reported
 * as planned once that stack exists.
 */
#include "mdeploy_private.h"
#include "aws/aws_private.h"
#include "provider/aws/infra.h"

#include <jansson.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <yaml.h>

#ifndef MDEPLOY_INFRA_AWS_DIR
#define MDEPLOY_INFRA_AWS_DIR "/usr/local/share/mdeploy/infra/aws"
#endif
#define CLS MDEPLOY_ERROR_CLASS_PROVIDER
#define MAXP 48

struct param { char name[64]; char kind; /* 's' setting, 'o' output */ char src[96]; };
struct layer { char name[16]; char tmpl[64]; struct param p[MAXP]; size_t np; };
struct kv { char *k, *v; };
struct outs { struct kv o[64]; size_t n; int exists; };

static const char *dir_of(void)
{
	const char *d = getenv("MDEPLOY_INFRA_AWS_DIR");
	return d && *d ? d : MDEPLOY_INFRA_AWS_DIR;
}

static const char *scalar(yaml_document_t *d, yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static yaml_node_t *get(yaml_document_t *d, yaml_node_t *map, const char *key)
{
	yaml_node_pair_t *p;
	if (!map || map->type != YAML_MAPPING_NODE)
		return NULL;
	for (p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		const char *k = scalar(d, yaml_document_get_node(d, p->key));
		if (k && !strcmp(k, key))
			return yaml_document_get_node(d, p->value);
	}
	return NULL;
}

/* stacks.yaml: the layers in order, each parameter's source. */
static int manifest(struct layer *L, size_t max, size_t *nl)
{
	char *path = mdeploy__sprintf("%s/stacks.yaml", dir_of()), *text = NULL;
	yaml_parser_t ps;
	yaml_document_t d;
	yaml_node_t *seq;
	yaml_node_item_t *it;
	size_t len;
	int rc;

	*nl = 0;
	if (!path)
		return mdeploy__error_oom();
	if ((rc = mdeploy__file_read_max(&text, &len, path, MDEPLOY__CONFIG_READ_MAX))) {
		mdeploy__error_prefix("infra: the templates' manifest %s (MDEPLOY_INFRA_AWS_DIR)", path);
		free(path);
		return rc;
	}
	yaml_parser_initialize(&ps);
	yaml_parser_set_input_string(&ps, (const unsigned char *)text, len);
	if (!yaml_parser_load(&ps, &d)) {
		yaml_parser_delete(&ps);
		free(text);
		rc = mdeploy__error_set(MDEPLOY_EINVALID, CLS, "infra: %s is not YAML", path);
		free(path);
		return rc;
	}
	seq = get(&d, yaml_document_get_root_node(&d), "stacks");
	for (it = seq && seq->type == YAML_SEQUENCE_NODE ? seq->data.sequence.items.start : NULL;
	     it && it < seq->data.sequence.items.top && *nl < max; it++) {
		yaml_node_t *st = yaml_document_get_node(&d, *it), *params;
		struct layer *l = &L[(*nl)++];
		yaml_node_pair_t *p;
		memset(l, 0, sizeof(*l));
		snprintf(l->name, sizeof(l->name), "%s", scalar(&d, get(&d, st, "layer")) ? scalar(&d, get(&d, st, "layer")) : "");
		snprintf(l->tmpl, sizeof(l->tmpl), "%s", scalar(&d, get(&d, st, "template")) ? scalar(&d, get(&d, st, "template")) : "");
		params = get(&d, st, "parameters");
		for (p = params && params->type == YAML_MAPPING_NODE ? params->data.mapping.pairs.start : NULL;
		     p && p < params->data.mapping.pairs.top && l->np < MAXP; p++) {
			yaml_node_t *src = yaml_document_get_node(&d, p->value);
			struct param *q = &l->p[l->np];
			const char *s = scalar(&d, get(&d, src, "setting")), *o = scalar(&d, get(&d, src, "output"));
			snprintf(q->name, sizeof(q->name), "%s", scalar(&d, yaml_document_get_node(&d, p->key)));
			q->kind = s ? 's' : 'o';
			snprintf(q->src, sizeof(q->src), "%s", s ? s : o ? o : "");
			l->np++;
		}
		if (!*l->name || !*l->tmpl)
			rc = mdeploy__error_set(MDEPLOY_EINVALID, CLS, "infra: %s: a stack without layer or template", path);
	}
	if (!rc && !*nl)
		rc = mdeploy__error_set(MDEPLOY_EINVALID, CLS, "infra: %s: no stacks", path);
	yaml_document_delete(&d);
	yaml_parser_delete(&ps);
	free(text);
	free(path);
	return rc;
}

/* The first six eighths of an IPv4 range: public subnets 1-3, private 1-3. */
static int subnet_cidrs(char *out, size_t n, const char *cidr)
{
	unsigned a, b, c, d, bits, i;
	unsigned long base, step;
	size_t off = 0;
	if (sscanf(cidr, "%u.%u.%u.%u/%u", &a, &b, &c, &d, &bits) != 5 || bits > 24)
		return -1;
	base = ((unsigned long)a << 24) | (b << 16) | (c << 8) | d;
	step = 1UL << (32 - bits - 3);
	for (i = 0; i < 6; i++) {
		unsigned long x = base + i * step;
		off += (size_t)snprintf(out + off, n - off, "%s%lu.%lu.%lu.%lu/%u", i ? "," : "", x >> 24, (x >> 16) & 255,
		                        (x >> 8) & 255, x & 255, bits + 3);
		if (off >= n)
			return -1;
	}
	return 0;
}

/* A setting's value, with what mdeploy derives; NULL keeps the template's default. */
static const char *setting(const mdeploy_config *cfg, const char *name, char *buf, size_t n)
{
	const char *v = mdeploy_config_infrastructure_setting(cfg, name);
	const char *env = mdeploy_config_infrastructure_setting(cfg, "environment");
	if (v)
		return v;
	if (!strcmp(name, "environment"))
		return "production";
	if (!strcmp(name, "parameter_prefix")) {
		snprintf(buf, n, "/mdeploy/%s/%s", mdeploy_config_application_name(cfg), env ? env : "production");
		return buf;
	}
	if (!strcmp(name, "subnet_cidrs")) {
		const char *c = mdeploy_config_infrastructure_setting(cfg, "vpc_cidr");
		return subnet_cidrs(buf, n, c ? c : "10.40.0.0/16") ? NULL : buf;
	}
	if (!strcmp(name, "cloudfront_certificate"))
		return "";
	return NULL;
}

/* An AMI id for the app servers: given, or read from a Parameter Store path. */
static int image(mdeploy_aws__client *c, const mdeploy_config *cfg, char *buf, size_t n)
{
	const char *v = mdeploy_config_infrastructure_setting(cfg, "image");
	const char *type = mdeploy_config_infrastructure_setting(cfg, "instance_type");
	json_t *req, *resp = NULL;
	const char *val;
	int rc, arm = 0;
	if (v && v[0] != '/') {
		snprintf(buf, n, "%s", v);
		return 0;
	}
	if (!v) {
		/* Graviton families (t4g, m7g, c7gn...) are arm64. */
		if (type) {
			const char *dot = strchr(type, '.');
			size_t k;
			for (k = 1; dot && type + k < dot; k++)
				if (type[k] == 'g' && type[k - 1] >= '0' && type[k - 1] <= '9')
					arm = 1;
		}
		v = arm ? "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64"
		        : "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64";
	}
	if (!(req = json_pack("{s:s}", "Name", v)))
		return mdeploy__error_oom();
	rc = mdeploy_aws__json_call(c, "ssm", "SSM", "1.1", "AmazonSSM.GetParameter", req, &resp);
	json_decref(req);
	if (rc) {
		mdeploy__error_prefix("infra: the app servers' image %s", v);
		return rc;
	}
	val = json_string_value(json_object_get(json_object_get(resp, "Parameter"), "Value"));
	if (!val || strncmp(val, "ami-", 4))
		rc = mdeploy__error_set(MDEPLOY_EINVALID, CLS, "infra: Parameter Store %s holds no AMI id", v);
	else
		snprintf(buf, n, "%s", val);
	json_decref(resp);
	return rc;
}

static void outs_free(struct outs *o)
{
	size_t i;
	for (i = 0; i < o->n; i++) {
		free(o->o[i].k);
		free(o->o[i].v);
	}
	o->n = 0;
}

static char *child(xmlNode *node, const char *name)
{
	xmlNode *c;
	for (c = node ? node->children : NULL; c; c = c->next)
		if (c->type == XML_ELEMENT_NODE && !strcmp((const char *)c->name, name)) {
			xmlChar *t = xmlNodeGetContent(c);
			char *s = t ? strdup((const char *)t) : NULL;
			xmlFree(t);
			return s;
		}
	return NULL;
}

static xmlNode *first(xmlNode *node, const char *name)
{
	xmlNode *c;
	for (c = node ? node->children : NULL; c; c = c->next)
		if (c->type == XML_ELEMENT_NODE && !strcmp((const char *)c->name, name))
			return c;
	return NULL;
}

static xmlXPathObject *members(xmlDoc *doc, const char *list)
{
	char xp[160];
	xmlXPathContext *ctx = xmlXPathNewContext(doc);
	xmlXPathObject *res;
	if (!ctx)
		return NULL;
	snprintf(xp, sizeof(xp), "//*[local-name()='%s']/*[local-name()='member']", list);
	res = xmlXPathEvalExpression((const xmlChar *)xp, ctx);
	xmlXPathFreeContext(ctx);
	return res;
}

static int call(mdeploy_aws__client *c, const char *action, const char *const *params, xmlDoc **doc)
{
	return mdeploy_aws__query_call(c, "cloudformation", "CLOUDFORMATION", "2010-05-15", action, params, doc);
}

/* The stack's outputs (o->exists 0 when there is no stack). */
static int stack_outputs(mdeploy_aws__client *c, const char *name, struct outs *o)
{
	const char *p[] = { "StackName", name, NULL };
	xmlDoc *doc = NULL;
	xmlXPathObject *m;
	int rc, k;
	char *status;
	o->exists = 0;
	if ((rc = call(c, "DescribeStacks", p, &doc))) {
		if (strstr(mdeploy_error_last()->message, "does not exist")) {
			mdeploy_error_clear();
			return 0;
		}
		return rc;
	}
	status = mdeploy_aws__xml_text(doc, "DescribeStacksResponse/DescribeStacksResult/Stacks/member/StackStatus");
	/* a stack only under review (an earlier plan's) has nothing yet */
	o->exists = status && strcmp(status, "REVIEW_IN_PROGRESS");
	free(status);
	m = members(doc, "Outputs");
	for (k = 0; m && m->nodesetval && k < m->nodesetval->nodeNr && o->n < MDEPLOY__ARRAY_SIZE(o->o); k++) {
		o->o[o->n].k = child(m->nodesetval->nodeTab[k], "OutputKey");
		o->o[o->n].v = child(m->nodesetval->nodeTab[k], "OutputValue");
		if (o->o[o->n].k)
			o->n++;
		else
			free(o->o[o->n].v);
	}
	xmlXPathFreeObject(m);
	xmlFreeDoc(doc);
	return 0;
}

static int stateful(const char *type)
{
	static const char *const t[] = { "AWS::RDS::DBCluster", "AWS::RDS::DBInstance", "AWS::EFS::FileSystem",
		                         "AWS::S3::Bucket", "AWS::ElastiCache::ReplicationGroup", NULL };
	size_t i;
	for (i = 0; t[i]; i++)
		if (type && !strcmp(type, t[i]))
			return 1;
	return 0;
}

/* Create, wait for, report and delete one layer's change set. */
static int plan_layer(mdeploy_aws__client *c, const mdeploy_config *cfg, const struct layer *l, const char *stack,
                      int exists, const char *const *vals, mdeploy_infra_change_cb cb, void *payload, size_t *n)
{
	const char *argv[2 * (MAXP * 2 + 60) + 1];
	char keys[MAXP * 2 + 60][64];
	char csname[48], *path = NULL, *body = NULL, *status = NULL, *reason = NULL;
	size_t a = 0, i, k = 0, len, ntags = mdeploy_config_infrastructure_tag_count(cfg);
	xmlDoc *doc = NULL;
	xmlXPathObject *m = NULL;
	int rc, tries;

	if (!(path = mdeploy__sprintf("%s/%s", dir_of(), l->tmpl)))
		return mdeploy__error_oom();
	if ((rc = mdeploy__file_read_max(&body, &len, path, MDEPLOY__CONFIG_READ_MAX))) {
		mdeploy__error_prefix("infra: template %s", path);
		free(path);
		return rc;
	}
	snprintf(csname, sizeof(csname), "mdeploy-plan-%ld", (long)time(NULL));
#define ARG(key, val) (argv[a++] = (key), argv[a++] = (val))
	ARG("StackName", stack);
	ARG("ChangeSetName", csname);
	ARG("ChangeSetType", exists ? "UPDATE" : "CREATE");
	ARG("TemplateBody", body);
	ARG("Capabilities.member.1", "CAPABILITY_IAM");
	for (i = 0; i < l->np; i++) {
		if (!vals[i])
			continue;
		snprintf(keys[k], sizeof(keys[k]), "Parameters.member.%zu.ParameterKey", k / 2 + 1);
		ARG(keys[k], l->p[i].name);
		k++;
		snprintf(keys[k], sizeof(keys[k]), "Parameters.member.%zu.ParameterValue", k / 2 + 1);
		ARG(keys[k], vals[i]);
		k++;
	}
	for (i = 0; i < ntags && i < 50; i++) {
		const char *tk, *tv;
		mdeploy_config_infrastructure_tag(cfg, i, &tk, &tv);
		snprintf(keys[k], sizeof(keys[k]), "Tags.member.%zu.Key", i + 1);
		ARG(keys[k], tk);
		k++;
		snprintf(keys[k], sizeof(keys[k]), "Tags.member.%zu.Value", i + 1);
		ARG(keys[k], tv);
		k++;
	}
	argv[a] = NULL;
	rc = call(c, "CreateChangeSet", argv, &doc);
	xmlFreeDoc(doc);
	doc = NULL;
	if (rc) {
		mdeploy__error_prefix("infra plan: %s", stack);
		goto out;
	}
	{
		const char *p[] = { "StackName", stack, "ChangeSetName", csname, NULL };
		for (tries = 0; tries < 300; tries++) {
			free(status);
			free(reason);
			xmlFreeDoc(doc);
			doc = NULL;
			if ((rc = call(c, "DescribeChangeSet", p, &doc)))
				goto out;
			status = mdeploy_aws__xml_text(doc, "DescribeChangeSetResponse/DescribeChangeSetResult/Status");
			reason = mdeploy_aws__xml_text(doc, "DescribeChangeSetResponse/DescribeChangeSetResult/StatusReason");
			if (status && (!strcmp(status, "CREATE_COMPLETE") || !strcmp(status, "FAILED")))
				break;
			usleep(tries < 10 ? 300000 : 2000000);
		}
	}
	if (!status || strcmp(status, "CREATE_COMPLETE")) {
		if (status && reason && (strstr(reason, "didn't contain changes") || strstr(reason, "No updates"))) {
			rc = 0;
		} else {
			rc = mdeploy__error_set(MDEPLOY_ECONFLICT, CLS, "infra plan: %s: change set %s: %s", stack,
			                        status ? status : "not ready after 10 minutes", reason ? reason : "");
		}
	} else {
		m = members(doc, "Changes");
		for (i = 0; m && m->nodesetval && i < (size_t)m->nodesetval->nodeNr && !rc; i++) {
			xmlNode *rcn = first(m->nodesetval->nodeTab[i], "ResourceChange");
			char *act = child(rcn, "Action"), *id = child(rcn, "LogicalResourceId");
			char *type = child(rcn, "ResourceType"), *repl = child(rcn, "Replacement");
			char resname[160], detail[200];
			mdeploy_infra_change ch;
			const char *what = !act ? "change" : !strcmp(act, "Add") ? "add" : !strcmp(act, "Remove") ? "remove"
			                   : repl && !strcmp(repl, "True") ? "replace" : "modify";
			snprintf(resname, sizeof(resname), "%.15s/%.140s", l->name, id ? id : "?");
			snprintf(detail, sizeof(detail), "%.150s%s", type ? type : "",
			         repl && !strcmp(repl, "Conditional") ? " (may be replaced)" : "");
			ch.resource = resname;
			ch.type = type ? type : "";
			ch.action = what;
			ch.detail = detail;
			ch.data_loss = stateful(type) && (!strcmp(what, "replace") || !strcmp(what, "remove") ||
			                                  (repl && !strcmp(repl, "Conditional")));
			if (n)
				(*n)++;
			if (cb && cb(&ch, payload))
				rc = mdeploy__error_set(MDEPLOY_EUSER, CLS, "infra plan: callback aborted");
			free(act);
			free(id);
			free(type);
			free(repl);
		}
	}
	{
		/* a plan changes nothing: the change set goes, and so does the empty stack a CREATE one made */
		const char *p[] = { "StackName", stack, "ChangeSetName", csname, NULL };
		const char *ps[] = { "StackName", stack, NULL };
		xmlDoc *d2 = NULL;
		int rc2 = call(c, "DeleteChangeSet", p, &d2);
		xmlFreeDoc(d2);
		d2 = NULL;
		if (!rc2 && !exists)
			rc2 = call(c, "DeleteStack", ps, &d2);
		xmlFreeDoc(d2);
		if (rc2 && !rc)
			rc = rc2;
	}
out:
	xmlXPathFreeObject(m);
	xmlFreeDoc(doc);
	free(status);
	free(reason);
	free(body);
	free(path);
	return rc;
}

int mdeploy_awsp__infra_plan(mdeploy_ctx *ctx, const mdeploy_config *cfg, mdeploy_infra_change_cb cb, void *payload,
                             size_t *n)
{
	struct layer L[8];
	struct outs O[8];
	mdeploy_aws__client *c = NULL;
	mdeploy_aws__client_options co = { NULL, NULL, NULL };
	size_t nl = 0, i, j;
	int rc;
	(void)ctx;
	if (n)
		*n = 0;
	memset(O, 0, sizeof(O));
	if ((rc = manifest(L, MDEPLOY__ARRAY_SIZE(L), &nl)))
		return rc;
	co.region = mdeploy_config_infrastructure_region(cfg);
	if ((rc = mdeploy_aws__client_new(&c, &co)))
		return rc;
	for (i = 0; i < nl && !rc; i++) {
		const char *vals[MAXP];
		char bufs[MAXP][512], *stack;
		const char *waits = NULL;
		const char *env = mdeploy_config_infrastructure_setting(cfg, "environment");
		if (!(stack = mdeploy__sprintf("%s-%s-%s", mdeploy_config_application_name(cfg), env ? env : "production",
		                               L[i].name))) {
			rc = mdeploy__error_oom();
			break;
		}
		for (j = 0; j < L[i].np && !rc && !waits; j++) {
			const struct param *p = &L[i].p[j];
			vals[j] = NULL;
			if (p->kind == 's') {
				if (!strcmp(p->src, "image"))
					rc = image(c, cfg, bufs[j], sizeof(bufs[j])), vals[j] = rc ? NULL : bufs[j];
				else
					vals[j] = setting(cfg, p->src, bufs[j], sizeof(bufs[j]));
			} else {
				const char *dot = strchr(p->src, '.');
				size_t q, r;
				for (q = 0; q < i && dot; q++)
					if (strlen(L[q].name) == (size_t)(dot - p->src) && !strncmp(L[q].name, p->src, (size_t)(dot - p->src)))
						break;
				if (!dot || q == i) {
					rc = mdeploy__error_set(MDEPLOY_EINVALID, CLS, "infra: stacks.yaml: %s.%s: no earlier layer in '%s'",
					                        L[i].name, p->name, p->src);
					break;
				}
				if (!O[q].exists) {
					waits = L[q].name;
					break;
				}
				vals[j] = "";
				for (r = 0; r < O[q].n; r++)
					if (!strcmp(O[q].o[r].k, dot + 1))
						vals[j] = O[q].o[r].v ? O[q].o[r].v : "";
			}
		}
		if (!rc && !waits)
			rc = stack_outputs(c, stack, &O[i]);
		if (!rc && waits) {
			char detail[160];
			mdeploy_infra_change ch;
			snprintf(detail, sizeof(detail), "%s: planned once the %s stack exists (its outputs are this stack's "
			         "parameters)", L[i].tmpl, waits);
			ch.resource = stack;
			ch.type = "cloudformation-stack";
			ch.action = "add";
			ch.detail = detail;
			ch.data_loss = 0;
			if (n)
				(*n)++;
			if (cb && cb(&ch, payload))
				rc = mdeploy__error_set(MDEPLOY_EUSER, CLS, "infra plan: callback aborted");
		} else if (!rc) {
			rc = plan_layer(c, cfg, &L[i], stack, O[i].exists, vals, cb, payload, n);
		}
		free(stack);
	}
	for (i = 0; i < nl; i++)
		outs_free(&O[i]);
	mdeploy_aws__client_free(c);
	return rc;
}

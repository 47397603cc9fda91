/*
 * infra_stacks.c - what infra plan, apply and destroy share with the aws
 * provider: infra/aws/stacks.yaml (the layers, in order, and where each
 * template parameter comes from), a layer's parameter values (mdeploy.yml's
 * infrastructure settings, what mdeploy derives, the outputs of earlier
 * stacks), a stack as DescribeStacks gives it, and change sets: created,
 * waited for, reported and deleted.
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
#include <sys/random.h>
#include <time.h>
#include <unistd.h>
#include <yaml.h>

#ifndef MDEPLOY_INFRA_AWS_DIR
#define MDEPLOY_INFRA_AWS_DIR "/usr/local/share/mdeploy/infra/aws"
#endif
#define CLS MDEPLOY_ERROR_CLASS_PROVIDER
#define MAXP MDEPLOY_AWSP_MAXP

const char *mdeploy_awsp__infra_dir(void)
{
	const char *d = getenv("MDEPLOY_INFRA_AWS_DIR");
	return d && *d ? d : MDEPLOY_INFRA_AWS_DIR;
}

int mdeploy_awsp__infra_client(mdeploy_aws__client **out, const mdeploy_config *cfg)
{
	mdeploy_aws__client_options o = { NULL, NULL, NULL };
	int rc;
	o.region = mdeploy_config_infrastructure_region(cfg);
	if ((rc = mdeploy_aws__client_new(out, &o)))
		mdeploy__error_prefix("infra");
	return rc;
}

char *mdeploy_awsp__stack_name(const mdeploy_config *cfg, const char *layer)
{
	const char *env = mdeploy_config_infrastructure_setting(cfg, "environment");
	return mdeploy__sprintf("%s-%s-%s", mdeploy_config_application_name(cfg), env ? env : "production", layer);
}

int mdeploy_awsp__cfn(mdeploy_aws__client *c, const char *action, const char *const *params, xmlDoc **doc)
{
	return mdeploy_aws__query_call(c, "cloudformation", "CLOUDFORMATION", "2010-05-15", action, params, doc);
}

static unsigned long long fnv64(const char *s, unsigned long long h)
{
	const unsigned char *p;
	for (p = (const unsigned char *)s; *p; p++)
		h = (h ^ *p) * 1099511628211ULL;
	return h;
}

void mdeploy_awsp__run_id(char *buf, size_t size, const char *what)
{
	unsigned int rnd;
	if (getrandom(&rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		rnd = (unsigned int)getpid() ^ (unsigned int)clock();
	snprintf(buf, size, "mdeploy-%s-%ld-%08x", what, (long)time(NULL), rnd);
}

void mdeploy_awsp__token(char *buf, size_t size, const char *op, const char *key)
{
	/* two FNV-1a 64 of the key (other offset bases): 32 hex digits */
	snprintf(buf, size, "mdeploy-%s-%016llx%016llx", op, fnv64(key, 1469598103934665603ULL),
	         fnv64(key, 0x9e3779b97f4a7c15ULL));
}

int mdeploy_awsp__cfn_checked(mdeploy_aws__client *c, const char *action, const char *const *params,
                              int (*took)(mdeploy_aws__client *c, void *arg), void *arg, xmlDoc **doc)
{
	int rc = 0, n;
	*doc = NULL;
	for (n = 0; n < 4; n++) {
		char *msg;
		int code, klass, yes;
		long status = 0;
		if (n)
			usleep((useconds_t)(200000u << n));
		xmlFreeDoc(*doc);
		*doc = NULL;
		rc = mdeploy_aws__query_call_once(c, "cloudformation", "CLOUDFORMATION", "2010-05-15", action, params,
		                                  &status, doc);
		/* what the standard retry mode retries: no answer, 5xx, throttling (429, or 400 Throttling) */
		if (!rc || !(!status || status >= 500 || status == 429 ||
		             (status == 400 && strstr(mdeploy_error_last()->message, "Throttling"))))
			return rc;
		/* a 5xx or a lost connection: CloudFormation may have done it all the same */
		code = mdeploy_error_last()->code;
		klass = mdeploy_error_last()->klass;
		if (!(msg = strdup(mdeploy_error_last()->message)))
			return mdeploy__error_oom();
		yes = took(c, arg);
		if (yes > 0) {
			free(msg);
			mdeploy_error_clear();
			return 0;
		}
		mdeploy__error_set(code, klass, "%s", msg);      /* the call's error, not the check's */
		free(msg);
	}
	mdeploy__error_prefix("after %d attempts", n);
	return rc;
}

static xmlXPathObject *members(xmlDoc *doc, const char *list);

/* Whether the change set {stack, name} exists (CreateChangeSet took effect). */
struct cs_ref {
	const char *stack, *name;
};

static int changeset_exists(mdeploy_aws__client *c, void *arg)
{
	const struct cs_ref *r = arg;
	const char *p[] = { "StackName", r->stack, "ChangeSetName", r->name, NULL };
	xmlDoc *d = NULL;
	int rc = mdeploy_awsp__cfn(c, "DescribeChangeSet", p, &d);
	xmlFreeDoc(d);
	return !rc;
}

int mdeploy_awsp__changeset_create(mdeploy_aws__client *c, const char *const *argv, const char *stack,
                                   const char *csname)
{
	struct cs_ref ref;
	xmlDoc *doc = NULL;
	int rc;
	ref.stack = stack;
	ref.name = csname;
	rc = mdeploy_awsp__cfn_checked(c, "CreateChangeSet", argv, changeset_exists, &ref, &doc);
	xmlFreeDoc(doc);
	return rc;
}

int mdeploy_awsp__changesets_stale(mdeploy_aws__client *c, const char *stack, size_t *n)
{
	const char *p[] = { "StackName", stack, NULL };
	xmlDoc *doc = NULL;
	xmlXPathObject *m;
	int rc, k;
	*n = 0;
	if ((rc = mdeploy_awsp__cfn(c, "ListChangeSets", p, &doc))) {
		mdeploy__error_prefix("infra: %s: listing its change sets", stack);
		return rc;
	}
	m = members(doc, "Summaries");
	for (k = 0; !rc && m && m->nodesetval && k < m->nodesetval->nodeNr; k++) {
		xmlNode *e = m->nodesetval->nodeTab[k];
		char *sn = mdeploy_awsp__child(e, "StackName"), *name = mdeploy_awsp__child(e, "ChangeSetName");
		char *id = mdeploy_awsp__child(e, "ChangeSetId"), *ex = mdeploy_awsp__child(e, "ExecutionStatus");
		/* ListChangeSets answers for the stack named; moto answers with every stack's */
		if (sn && !strcmp(sn, stack) && name && id &&
		    (!strncmp(name, "mdeploy-apply-", 14) || !strncmp(name, "mdeploy-destroy-", 16)) &&
		    (!ex || strncmp(ex, "EXECUTE_", 8))) {
			if (!(rc = mdeploy_awsp__changeset_delete(c, stack, id)))
				(*n)++;
			else
				mdeploy__error_prefix("infra: %s: deleting change set %s, left by an interrupted run", stack, name);
		}
		free(sn);
		free(name);
		free(id);
		free(ex);
	}
	xmlXPathFreeObject(m);
	xmlFreeDoc(doc);
	return rc;
}

static const char *scalar(yaml_document_t *d, yaml_node_t *n)
{
	(void)d;
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

int mdeploy_awsp__manifest(mdeploy_awsp__layer *L, size_t max, size_t *nl)
{
	char *path = mdeploy__sprintf("%s/stacks.yaml", mdeploy_awsp__infra_dir()), *text = NULL;
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
	/* The same checks as every YAML file mdeploy reads: nesting limit
	 * first, then no key twice in a mapping and no NUL (a second
	 * holds_data: would otherwise be ignored silently). */
	if ((rc = mdeploy__yaml_check_depth(text, len, path, CLS))) {
		mdeploy__error_prefix("infra");
		free(text);
		free(path);
		return rc;
	}
	yaml_parser_initialize(&ps);
	yaml_parser_set_input_string(&ps, (const unsigned char *)text, len);
	if (!yaml_parser_load(&ps, &d)) {
		rc = mdeploy__error_set(MDEPLOY_EINVALID, CLS, "infra: %s:%zu:%zu: not YAML: %s", path,
		                        ps.problem_mark.line + 1, ps.problem_mark.column + 1,
		                        ps.problem ? ps.problem : "syntax error");
		yaml_parser_delete(&ps);
		free(text);
		free(path);
		return rc;
	}
	if ((rc = mdeploy__yaml_doc_unique_keys(&d, path, CLS))) {
		mdeploy__error_prefix("infra");
		yaml_document_delete(&d);
		yaml_parser_delete(&ps);
		free(text);
		free(path);
		return rc;
	}
	seq = get(&d, yaml_document_get_root_node(&d), "stacks");
	for (it = seq && seq->type == YAML_SEQUENCE_NODE ? seq->data.sequence.items.start : NULL;
	     it && it < seq->data.sequence.items.top && *nl < max && !rc; it++) {
		yaml_node_t *st = yaml_document_get_node(&d, *it), *params;
		mdeploy_awsp__layer *l = &L[(*nl)++];
		const char *hd = scalar(&d, get(&d, st, "holds_data"));
		yaml_node_pair_t *p;
		memset(l, 0, sizeof(*l));
		snprintf(l->name, sizeof(l->name), "%s", scalar(&d, get(&d, st, "layer")) ? scalar(&d, get(&d, st, "layer")) : "");
		snprintf(l->tmpl, sizeof(l->tmpl), "%s", scalar(&d, get(&d, st, "template")) ? scalar(&d, get(&d, st, "template")) : "");
		l->holds_data = hd && !strcmp(hd, "true");
		params = get(&d, st, "parameters");
		for (p = params && params->type == YAML_MAPPING_NODE ? params->data.mapping.pairs.start : NULL;
		     p && p < params->data.mapping.pairs.top && l->np < MAXP; p++) {
			yaml_node_t *src = yaml_document_get_node(&d, p->value);
			mdeploy_awsp__param *q = &l->p[l->np];
			const char *s = scalar(&d, get(&d, src, "setting")), *o = scalar(&d, get(&d, src, "output"));
			const char *k = scalar(&d, yaml_document_get_node(&d, p->key));
			snprintf(q->name, sizeof(q->name), "%s", k ? k : "");
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

char *mdeploy_awsp__child(xmlNode *node, const char *name)
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

xmlNode *mdeploy_awsp__first(xmlNode *node, const char *name)
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

void mdeploy_awsp__stack_clear(mdeploy_awsp__stack *s)
{
	size_t i;
	for (i = 0; i < s->n; i++) {
		free(s->o[i].k);
		free(s->o[i].v);
	}
	for (i = 0; i < s->np; i++) {
		free(s->p[i].k);
		free(s->p[i].v);
	}
	memset(s, 0, sizeof(*s));
}

int mdeploy_awsp__stack_read(mdeploy_aws__client *c, const char *name, mdeploy_awsp__stack *s)
{
	const char *p[] = { "StackName", name, NULL };
	xmlDoc *doc = NULL;
	xmlXPathObject *m;
	int rc, k;
	char *status;
	mdeploy_awsp__stack_clear(s);
	if ((rc = mdeploy_awsp__cfn(c, "DescribeStacks", p, &doc))) {
		if (strstr(mdeploy_error_last()->message, "does not exist")) {
			mdeploy_error_clear();
			return 0;
		}
		return rc;
	}
	status = mdeploy_aws__xml_text(doc, "DescribeStacksResponse/DescribeStacksResult/Stacks/member/StackStatus");
	snprintf(s->status, sizeof(s->status), "%s", status ? status : "");
	free(status);
	status = mdeploy_aws__xml_text(doc, "DescribeStacksResponse/DescribeStacksResult/Stacks/member/StackStatusReason");
	snprintf(s->reason, sizeof(s->reason), "%s", status ? status : "");
	free(status);
	status = mdeploy_aws__xml_text(doc, "DescribeStacksResponse/DescribeStacksResult/Stacks/member/StackId");
	snprintf(s->id, sizeof(s->id), "%s", status ? status : name);
	free(status);
	status = *s->status ? strdup(s->status) : NULL;
	/* a stack only under review (a CREATE change set's, not executed) has nothing yet */
	s->reviewing = status && !strcmp(status, "REVIEW_IN_PROGRESS");
	s->exists = status && !s->reviewing;
	free(status);
	m = members(doc, "Outputs");
	for (k = 0; m && m->nodesetval && k < m->nodesetval->nodeNr && s->n < MDEPLOY__ARRAY_SIZE(s->o); k++) {
		s->o[s->n].k = mdeploy_awsp__child(m->nodesetval->nodeTab[k], "OutputKey");
		s->o[s->n].v = mdeploy_awsp__child(m->nodesetval->nodeTab[k], "OutputValue");
		if (s->o[s->n].k)
			s->n++;
		else
			free(s->o[s->n].v);
	}
	xmlXPathFreeObject(m);
	m = members(doc, "Parameters");
	for (k = 0; m && m->nodesetval && k < m->nodesetval->nodeNr && s->np < MDEPLOY__ARRAY_SIZE(s->p); k++) {
		s->p[s->np].k = mdeploy_awsp__child(m->nodesetval->nodeTab[k], "ParameterKey");
		s->p[s->np].v = mdeploy_awsp__child(m->nodesetval->nodeTab[k], "ParameterValue");
		if (s->p[s->np].k)
			s->np++;
		else
			free(s->p[s->np].v);
	}
	xmlXPathFreeObject(m);
	xmlFreeDoc(doc);
	return 0;
}

int mdeploy_awsp__layer_values(mdeploy_aws__client *c, const mdeploy_config *cfg, const mdeploy_awsp__layer *L,
                               size_t i, const mdeploy_awsp__stack *S, const char **vals, char (*bufs)[512],
                               const char **waits)
{
	size_t j;
	int rc = 0;
	*waits = NULL;
	for (j = 0; j < L[i].np && !rc && !*waits; j++) {
		const mdeploy_awsp__param *p = &L[i].p[j];
		vals[j] = NULL;
		if (p->kind == 's') {
			if (!strcmp(p->src, "image")) {
				rc = image(c, cfg, bufs[j], 512);
				vals[j] = rc ? NULL : bufs[j];
			} else {
				vals[j] = setting(cfg, p->src, bufs[j], 512);
			}
		} else {
			const char *dot = strchr(p->src, '.');
			size_t q, r;
			for (q = 0; q < i && dot; q++)
				if (strlen(L[q].name) == (size_t)(dot - p->src) && !strncmp(L[q].name, p->src, (size_t)(dot - p->src)))
					break;
			if (!dot || q == i)
				return mdeploy__error_set(MDEPLOY_EINVALID, CLS, "infra: stacks.yaml: %s.%s: no earlier layer in '%s'",
				                          L[i].name, p->name, p->src);
			if (!S[q].exists) {
				*waits = L[q].name;
				break;
			}
			/* an output the stack does not have (a condition left it out) is "" */
			vals[j] = "";
			for (r = 0; r < S[q].n; r++)
				if (!strcmp(S[q].o[r].k, dot + 1))
					vals[j] = S[q].o[r].v ? S[q].o[r].v : "";
		}
	}
	return rc;
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

int mdeploy_awsp__changeset_delete(mdeploy_aws__client *c, const char *stack, const char *csname)
{
	const char *p[] = { "StackName", stack, "ChangeSetName", csname, NULL };
	xmlDoc *d = NULL;
	int rc = mdeploy_awsp__cfn(c, "DeleteChangeSet", p, &d);
	xmlFreeDoc(d);
	return rc;
}

static int no_changes(const char *msg)
{
	return msg && (strstr(msg, "didn't contain changes") || strstr(msg, "No updates are to be performed"));
}

int mdeploy_awsp__changeset(mdeploy_aws__client *c, const mdeploy_config *cfg, const mdeploy_awsp__layer *l,
                            const char *stack, int exists, const char *const *vals, const char *csname,
                            const char *what, xmlDoc **out)
{
	/* 6 fixed pairs, 2 per parameter and 2 per tag (at most 50) */
	const char *argv[2 * (6 + MAXP * 2 + 100) + 1];
	char keys[MAXP * 2 + 100][64];
	char *path = NULL, *body = NULL, *status = NULL, *reason = NULL, token[128];
	size_t a = 0, i, k = 0, len, ntags = mdeploy_config_infrastructure_tag_count(cfg);
	xmlDoc *doc = NULL;
	int rc, tries;

	*out = NULL;
	if (!(path = mdeploy__sprintf("%s/%s", mdeploy_awsp__infra_dir(), l->tmpl)))
		return mdeploy__error_oom();
	if ((rc = mdeploy__file_read_max(&body, &len, path, MDEPLOY__CONFIG_READ_MAX))) {
		mdeploy__error_prefix("infra: template %s", path);
		free(path);
		return rc;
	}
#define ARG(key, val) (argv[a++] = (key), argv[a++] = (val))
	ARG("StackName", stack);
	ARG("ChangeSetName", csname);
	ARG("ChangeSetType", exists ? "UPDATE" : "CREATE");
	mdeploy_awsp__token(token, sizeof(token), "create", csname);
	ARG("ClientToken", token);
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
#undef ARG
	argv[a] = NULL;
	rc = mdeploy_awsp__changeset_create(c, argv, stack, csname);
	if (rc) {
		/* an UPDATE with the same template and parameters may be refused at once */
		if (exists && no_changes(mdeploy_error_last()->message)) {
			mdeploy_error_clear();
			rc = 0;
		} else {
			mdeploy__error_prefix("infra %s: %s", what, stack);
		}
		goto out;
	}
	{
		const char *p[] = { "StackName", stack, "ChangeSetName", csname, NULL };
		for (tries = 0; tries < 300; tries++) {
			free(status);
			free(reason);
			xmlFreeDoc(doc);
			doc = NULL;
			if ((rc = mdeploy_awsp__cfn(c, "DescribeChangeSet", p, &doc)))
				goto out;
			status = mdeploy_aws__xml_text(doc, "DescribeChangeSetResponse/DescribeChangeSetResult/Status");
			reason = mdeploy_aws__xml_text(doc, "DescribeChangeSetResponse/DescribeChangeSetResult/StatusReason");
			if (status && (!strcmp(status, "CREATE_COMPLETE") || !strcmp(status, "FAILED")))
				break;
			usleep(tries < 10 ? 300000 : 2000000);
		}
	}
	if (status && !strcmp(status, "CREATE_COMPLETE")) {
		*out = doc;
		doc = NULL;
	} else if (status && no_changes(reason)) {
		rc = mdeploy_awsp__changeset_delete(c, stack, csname);
	} else {
		mdeploy_awsp__changeset_delete(c, stack, csname);
		rc = mdeploy__error_set(MDEPLOY_ECONFLICT, CLS, "infra %s: %s: change set %s: %s", what, stack,
		                   status ? status : "not ready after 10 minutes", reason ? reason : "");
	}
out:
	xmlFreeDoc(doc);
	free(status);
	free(reason);
	free(body);
	free(path);
	return rc;
}

int mdeploy_awsp__changeset_report(xmlDoc *doc, const mdeploy_awsp__layer *l, mdeploy_infra_change_cb cb,
                                   void *payload, size_t *n, const char *what)
{
	xmlXPathObject *m = members(doc, "Changes");
	size_t i;
	int rc = 0;
	for (i = 0; m && m->nodesetval && i < (size_t)m->nodesetval->nodeNr && !rc; i++) {
		xmlNode *rcn = mdeploy_awsp__first(m->nodesetval->nodeTab[i], "ResourceChange");
		char *act = mdeploy_awsp__child(rcn, "Action"), *id = mdeploy_awsp__child(rcn, "LogicalResourceId");
		char *type = mdeploy_awsp__child(rcn, "ResourceType"), *repl = mdeploy_awsp__child(rcn, "Replacement");
		char resname[160], detail[200];
		mdeploy_infra_change ch;
		const char *verb = !act ? "change" : !strcmp(act, "Add") ? "add" : !strcmp(act, "Remove") ? "remove"
		                   : repl && !strcmp(repl, "True") ? "replace" : "modify";
		snprintf(resname, sizeof(resname), "%.15s/%.140s", l->name, id ? id : "?");
		snprintf(detail, sizeof(detail), "%.150s%s", type ? type : "",
		         repl && !strcmp(repl, "Conditional") ? " (may be replaced)" : "");
		ch.resource = resname;
		ch.type = type ? type : "";
		ch.action = verb;
		ch.detail = detail;
		ch.data_loss = stateful(type) && (!strcmp(verb, "replace") || !strcmp(verb, "remove") ||
		                                  (repl && !strcmp(repl, "Conditional")));
		if (n)
			(*n)++;
		if (cb && cb(&ch, payload))
			rc = mdeploy__error_set(MDEPLOY_EUSER, CLS, "infra %s: callback aborted", what);
		free(act);
		free(id);
		free(type);
		free(repl);
	}
	xmlXPathFreeObject(m);
	return rc;
}

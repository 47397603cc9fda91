/*
 * infra.c - the aws provider's infrastructure: the CloudFormation stacks of
 * infra/aws/ (one per layer, APP-ENV-LAYER, in stacks.yaml's order). So far
 * what is there is read (infra status, infra outputs: DescribeStacks);
 * plan, apply and destroy through change sets are not written yet and say
 * so (mdeploy-infra(1)).
 */
#include "mdeploy_private.h"
#include "aws/aws_private.h"
#include "provider/aws/infra.h"

#include <libxml/tree.h>
#include <libxml/xpath.h>
#include <stdlib.h>
#include <string.h>

/* The layers of infra/aws/stacks.yaml, in order. */
static const char *const layers[] = { "network", "data", "app", "edge" };

static int client(mdeploy_aws__client **out, const mdeploy_config *cfg)
{
	mdeploy_aws__client_options o = { NULL, NULL, NULL };
	int rc;
	o.region = mdeploy_config_infrastructure_region(cfg);
	if ((rc = mdeploy_aws__client_new(out, &o)))
		mdeploy__error_prefix("infra");
	return rc;
}

static char *stack_name(const mdeploy_config *cfg, const char *layer)
{
	const char *env = mdeploy_config_infrastructure_setting(cfg, "environment");
	return mdeploy__sprintf("%s-%s-%s", mdeploy_config_application_name(cfg), env ? env : "production", layer);
}

/* Text of the first child element of `node` named `name` (local name); caller frees. */
static char *child_text(xmlNode *node, const char *name)
{
	xmlNode *c;
	for (c = node ? node->children : NULL; c; c = c->next) {
		if (c->type == XML_ELEMENT_NODE && !strcmp((const char *)c->name, name)) {
			xmlChar *t = xmlNodeGetContent(c);
			char *s = t ? strdup((const char *)t) : NULL;
			xmlFree(t);
			return s;
		}
	}
	return NULL;
}

/* DescribeStacks of one stack: *doc NULL (and 0) when the stack does not exist. */
static int describe(mdeploy_aws__client *c, const char *name, xmlDoc **doc)
{
	const char *params[] = { "StackName", name, NULL };
	int rc = mdeploy_aws__query_call(c, "cloudformation", "CLOUDFORMATION", "2010-05-15", "DescribeStacks",
	                                 params, doc);
	if (rc && strstr(mdeploy_error_last()->message, "does not exist")) {
		mdeploy_error_clear();
		*doc = NULL;
		return 0;
	}
	return rc;
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

int mdeploy_awsp__infra_status(mdeploy_ctx *ctx, const mdeploy_config *cfg, mdeploy_infra_resource_cb cb,
                               void *payload)
{
	mdeploy_aws__client *c = NULL;
	size_t i;
	int rc, found = 0;
	(void)ctx;
	if ((rc = client(&c, cfg)))
		return rc;
	for (i = 0; i < MDEPLOY__ARRAY_SIZE(layers) && !rc; i++) {
		mdeploy_infra_resource r;
		xmlDoc *doc = NULL;
		char *name = stack_name(cfg, layers[i]), *status = NULL, *reason = NULL;
		if (!name) {
			rc = mdeploy__error_oom();
			break;
		}
		if ((rc = describe(c, name, &doc)) == 0) {
			memset(&r, 0, sizeof(r));
			r.name = layers[i];
			r.type = "cloudformation-stack";
			r.endpoint = name;
			if (doc) {
				found++;
				status = mdeploy_aws__xml_text(doc, "DescribeStacksResponse/DescribeStacksResult/Stacks/member/StackStatus");
				reason = mdeploy_aws__xml_text(doc, "DescribeStacksResponse/DescribeStacksResult/Stacks/member/StackStatusReason");
				r.state = status ? status : "unknown";
				/* a stack serves when its last operation completed and was not rolled back */
				r.up = status && (!strcmp(status, "CREATE_COMPLETE") || !strcmp(status, "UPDATE_COMPLETE"));
				r.problem = r.up ? NULL : reason ? reason : r.state;
			} else {
				r.state = "absent";
				r.problem = "not created: run 'mdeploy infra apply'";
			}
			if (cb && cb(&r, payload))
				rc = mdeploy__error_set(MDEPLOY_EUSER, MDEPLOY_ERROR_CLASS_PROVIDER, "infra status: callback aborted");
		}
		free(status);
		free(reason);
		free(name);
		xmlFreeDoc(doc);
	}
	mdeploy_aws__client_free(c);
	if (!rc && !found)
		rc = mdeploy__error_set(MDEPLOY_ENOTFOUND, MDEPLOY_ERROR_CLASS_PROVIDER,
		                        "no infrastructure here: no stack of this application exists ('mdeploy infra apply')");
	return rc;
}

int mdeploy_awsp__infra_outputs(mdeploy_ctx *ctx, const mdeploy_config *cfg, mdeploy_infra_output_cb cb,
                                void *payload)
{
	mdeploy_aws__client *c = NULL;
	size_t i;
	int rc, found = 0;
	(void)ctx;
	if ((rc = client(&c, cfg)))
		return rc;
	for (i = 0; i < MDEPLOY__ARRAY_SIZE(layers) && !rc; i++) {
		xmlDoc *doc = NULL;
		xmlXPathObject *m = NULL;
		char *name = stack_name(cfg, layers[i]);
		int k;
		if (!name) {
			rc = mdeploy__error_oom();
			break;
		}
		if ((rc = describe(c, name, &doc)) == 0 && doc) {
			found++;
			m = members(doc, "Outputs");
			for (k = 0; m && m->nodesetval && k < m->nodesetval->nodeNr && !rc; k++) {
				char *key = child_text(m->nodesetval->nodeTab[k], "OutputKey");
				char *val = child_text(m->nodesetval->nodeTab[k], "OutputValue");
				char *full = key ? mdeploy__sprintf("%s.%s", layers[i], key) : NULL;
				mdeploy_infra_output o;
				if (full) {
					o.name = full;
					o.value = val ? val : "";
					o.secret = 0;
					if (cb && cb(&o, payload))
						rc = mdeploy__error_set(MDEPLOY_EUSER, MDEPLOY_ERROR_CLASS_PROVIDER,
						                        "infra outputs: callback aborted");
				}
				free(full);
				free(key);
				free(val);
			}
			xmlXPathFreeObject(m);
		}
		free(name);
		xmlFreeDoc(doc);
	}
	mdeploy_aws__client_free(c);
	if (!rc && !found)
		rc = mdeploy__error_set(MDEPLOY_ENOTFOUND, MDEPLOY_ERROR_CLASS_PROVIDER,
		                        "no infrastructure here: no stack of this application exists ('mdeploy infra apply')");
	return rc;
}

/*
 * infra_plan.c - infra plan with the aws provider: for each layer of
 * infra/aws/stacks.yaml whose inputs are known, a CloudFormation change set
 * (infra_stacks.c), each resource change given as add / modify / replace /
 * remove with data_loss set when a resource that holds data would be
 * replaced or removed, then the change set deleted (and the empty stack a
 * CREATE change set leaves). A layer whose inputs are outputs of a stack
 * that does not exist yet is reported as planned once that stack exists.
 */
#include "mdeploy_private.h"
#include "aws/aws_private.h"
#include "provider/aws/infra.h"

#include <libxml/tree.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CLS MDEPLOY_ERROR_CLASS_PROVIDER

/* Create, report and delete one layer's change set. */
static int plan_layer(mdeploy_aws__client *c, const mdeploy_config *cfg, const mdeploy_awsp__layer *l,
                      const char *stack, const mdeploy_awsp__stack *s, const char *const *vals,
                      mdeploy_infra_change_cb cb, void *payload, size_t *n)
{
	char csname[80], run[48];
	xmlDoc *doc = NULL;
	int rc, rc2 = 0;

	/* a name of its own per stack (moto looks change sets up by name across stacks) */
	mdeploy_awsp__run_id(run, sizeof(run), "plan");
	snprintf(csname, sizeof(csname), "%.47s-%.15s", run, l->name);
	if ((rc = mdeploy_awsp__changeset(c, cfg, l, stack, s->exists, vals, csname, "plan", &doc)))
		return rc;
	if (!doc)
		return 0;       /* no changes (the change set is gone already) */
	rc = mdeploy_awsp__changeset_report(doc, l, cb, payload, n, "plan");
	xmlFreeDoc(doc);
	/* a plan changes nothing: the change set goes, and so does the empty stack a CREATE one made */
	rc2 = mdeploy_awsp__changeset_delete(c, stack, csname);
	if (!rc2 && !s->exists) {
		const char *ps[] = { "StackName", stack, NULL };
		xmlDoc *d2 = NULL;
		rc2 = mdeploy_awsp__cfn(c, "DeleteStack", ps, &d2);
		xmlFreeDoc(d2);
	}
	return rc ? rc : rc2;
}

int mdeploy_awsp__infra_plan(mdeploy_ctx *ctx, mdeploy_store *store, const mdeploy_config *cfg,
                             const mdeploy_infra_options *opts, mdeploy_infra_change_cb cb, void *payload, size_t *n)
{
	mdeploy_awsp__layer L[8];
	mdeploy_awsp__stack S[8];
	mdeploy_aws__client *c = NULL;
	size_t nl = 0, i;
	int rc;
	(void)ctx;
	(void)store;
	(void)opts;
	if (n)
		*n = 0;
	memset(S, 0, sizeof(S));
	if ((rc = mdeploy_awsp__manifest(L, MDEPLOY__ARRAY_SIZE(L), &nl)))
		return rc;
	if ((rc = mdeploy_awsp__infra_client(&c, cfg)))
		return rc;
	for (i = 0; i < nl && !rc; i++) {
		const char *vals[MDEPLOY_AWSP_MAXP];
		char bufs[MDEPLOY_AWSP_MAXP][512], *stack;
		const char *waits = NULL;
		if (!(stack = mdeploy_awsp__stack_name(cfg, L[i].name))) {
			rc = mdeploy__error_oom();
			break;
		}
		rc = mdeploy_awsp__layer_values(c, cfg, L, i, S, vals, bufs, &waits);
		if (!rc && !waits)
			rc = mdeploy_awsp__stack_read(c, stack, &S[i]);
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
			rc = plan_layer(c, cfg, &L[i], stack, &S[i], vals, cb, payload, n);
		}
		free(stack);
	}
	for (i = 0; i < nl; i++)
		mdeploy_awsp__stack_clear(&S[i]);
	mdeploy_aws__client_free(c);
	return rc;
}

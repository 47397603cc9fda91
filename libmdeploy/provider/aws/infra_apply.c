/*
 * infra_apply.c - infra apply and infra destroy with the aws provider.
 *
 * apply: layer by layer in stacks.yaml's order, a change set (CREATE, or
 * UPDATE when the stack exists) from the template and the parameter values
 * (settings, earlier stacks' outputs read after they were applied); one
 * without changes is deleted and the layer counts as applied; otherwise it
 * is executed and the stack's events are passed on as they come
 * (DescribeStackEvents, newest first, read back to the last one seen) until
 * the stack is no longer *_IN_PROGRESS or the timeout passes. A stack that
 * did not reach CREATE_COMPLETE / UPDATE_COMPLETE stops the apply with the
 * first failed resource's reason and the rollback's outcome; the layers
 * before it are left as applied and the error names them.
 *
 * Nothing is made twice: CreateChangeSet and ExecuteChangeSet carry tokens
 * and go through mdeploy_awsp__cfn_checked (a lost answer is looked up, not
 * sent again blindly); a change set an interrupted run left is deleted
 * before this run adds its own.
 *
 * destroy: the reverse order. The layers up to the last one marked
 * `holds_data` in stacks.yaml (the data stack and what it stands on) are
 * kept unless delete_data; with it, a stack whose DatabaseDeletionProtection
 * parameter is "true" is updated to "false" first (same template, other
 * values as they are), then deleted. Retained and snapshotted resources
 * (DeletionPolicy) outlive their stack, as CloudFormation does it.
 */
#include "mdeploy_private.h"
#include "aws/aws_private.h"
#include "provider/aws/infra.h"

#include <libxml/tree.h>
#include <libxml/xpath.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CLS MDEPLOY_ERROR_CLASS_PROVIDER
#define STACK_TYPE "AWS::CloudFormation::Stack"

struct run {
	mdeploy_ctx *ctx;
	mdeploy_aws__client *c;
	const mdeploy_config *cfg;
	const char *what;               /* "apply", "destroy" */
	mdeploy_infra_change_cb cb;
	void *payload;
	size_t *n;
	mdeploy_infra_event_cb ecb;
	void *epayload;
	unsigned int timeout;           /* seconds per stack operation */
	char done[512];                 /* the layers applied or deleted so far, for the error */
	char id[48];                    /* mdeploy-WHAT-TIME-RANDOM: its change sets are id-LAYER */
};

static int ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && !strcmp(s + a - b, suffix);
}

void mdeploy_awsp__events_free(mdeploy_awsp__event *ev, size_t n)
{
	size_t i;
	for (i = 0; ev && i < n; i++) {
		free(ev[i].id);
		free(ev[i].stack);
		free(ev[i].resource);
		free(ev[i].type);
		free(ev[i].status);
		free(ev[i].reason);
		free(ev[i].time);
	}
	free(ev);
}

int mdeploy_awsp__events_parse(xmlDoc *doc, const char *since, mdeploy_awsp__event **ev, size_t *n, int *found)
{
	xmlXPathContext *xc = doc ? xmlXPathNewContext(doc) : NULL;
	xmlXPathObject *m = NULL;
	int k, rc = 0;
	*found = 0;
	if (!xc)
		return doc ? mdeploy__error_oom() : 0;
	m = xmlXPathEvalExpression((const xmlChar *)"//*[local-name()='StackEvents']/*[local-name()='member']", xc);
	for (k = 0; m && m->nodesetval && k < m->nodesetval->nodeNr; k++) {
		xmlNode *e = m->nodesetval->nodeTab[k];
		char *id = mdeploy_awsp__child(e, "EventId");
		mdeploy_awsp__event *grown;
		if (!id)
			continue;
		if (since && !strcmp(id, since)) {
			free(id);
			*found = 1;
			break;
		}
		if (!(grown = realloc(*ev, (*n + 1) * sizeof(**ev)))) {
			free(id);
			rc = mdeploy__error_oom();
			break;
		}
		*ev = grown;
		grown[*n].id = id;
		grown[*n].stack = mdeploy_awsp__child(e, "StackName");
		grown[*n].resource = mdeploy_awsp__child(e, "LogicalResourceId");
		grown[*n].type = mdeploy_awsp__child(e, "ResourceType");
		grown[*n].status = mdeploy_awsp__child(e, "ResourceStatus");
		grown[*n].reason = mdeploy_awsp__child(e, "ResourceStatusReason");
		grown[*n].time = mdeploy_awsp__child(e, "Timestamp");
		(*n)++;
	}
	xmlXPathFreeObject(m);
	xmlXPathFreeContext(xc);
	return rc;
}

long mdeploy_awsp__events_first_failure(const mdeploy_awsp__event *ev, size_t n)
{
	size_t i;
	long stack = -1;
	for (i = 0; i < n; i++) {
		if (!ev[i].status || !ends_with(ev[i].status, "_FAILED") || !ev[i].reason || !*ev[i].reason)
			continue;
		/* "Resource creation cancelled" follows the one that failed: not the cause */
		if (strstr(ev[i].reason, "Resource creation cancelled") || strstr(ev[i].reason, "Resource update cancelled"))
			continue;
		if (ev[i].type && strcmp(ev[i].type, STACK_TYPE))
			return (long)i;
		if (stack < 0)
			stack = (long)i;
	}
	return stack;
}

/* The newest event's id of the stack (NULL when it has none): events after it are this operation's. */
static int events_mark(struct run *r, const char *id, char **mark)
{
	const char *p[] = { "StackName", id, NULL };
	xmlDoc *doc = NULL;
	mdeploy_awsp__event *ev = NULL;
	size_t n = 0;
	int found, rc;
	*mark = NULL;
	if ((rc = mdeploy_awsp__cfn(r->c, "DescribeStackEvents", p, &doc)))
		return rc;
	rc = mdeploy_awsp__events_parse(doc, NULL, &ev, &n, &found);
	if (!rc && n && !(*mark = strdup(ev[0].id)))
		rc = mdeploy__error_oom();
	mdeploy_awsp__events_free(ev, n);
	xmlFreeDoc(doc);
	return rc;
}

/*
 * The events since *mark, oldest first, to the callback and appended to
 * *all; *mark moves to the newest. Older pages are read (NextToken) until
 * the mark is found.
 */
static int events_stream(struct run *r, const char *id, char **mark, mdeploy_awsp__event **all, size_t *nall)
{
	mdeploy_awsp__event *ev = NULL, *grown;
	size_t n = 0, i;
	char *token = NULL;
	int rc = 0, found = 0, pages;
	for (pages = 0; pages < 20 && !found && !rc; pages++) {
		const char *p[] = { "StackName", id, token ? "NextToken" : NULL, token, NULL };
		xmlDoc *doc = NULL;
		if ((rc = mdeploy_awsp__cfn(r->c, "DescribeStackEvents", p, &doc)))
			break;
		rc = mdeploy_awsp__events_parse(doc, *mark, &ev, &n, &found);
		free(token);
		token = mdeploy_aws__xml_text(doc, "DescribeStackEventsResponse/DescribeStackEventsResult/NextToken");
		xmlFreeDoc(doc);
		if (!*mark || !token)
			break;
	}
	free(token);
	if (!rc && n) {
		free(*mark);
		if (!(*mark = strdup(ev[0].id)))
			rc = mdeploy__error_oom();
	}
	if (!rc && n && !(grown = realloc(*all, (*nall + n) * sizeof(**all))))
		rc = mdeploy__error_oom();
	else if (!rc && n)
		*all = grown;
	/* oldest first: the answer's order reversed; the strings move to *all */
	for (i = n; !rc && i-- > 0;) {
		mdeploy_infra_event e;
		(*all)[(*nall)++] = ev[i];
		e.stack = ev[i].stack ? ev[i].stack : "";
		e.resource = ev[i].resource ? ev[i].resource : "";
		e.type = ev[i].type ? ev[i].type : "";
		e.status = ev[i].status ? ev[i].status : "";
		e.reason = ev[i].reason && *ev[i].reason ? ev[i].reason : NULL;
		e.time = ev[i].time ? ev[i].time : "";
		memset(&ev[i], 0, sizeof(ev[i]));
		if (r->ecb && r->ecb(&e, r->epayload))
			rc = mdeploy__error_set(MDEPLOY_EUSER, CLS, "infra %s: event callback aborted (CloudFormation goes on)",
			                        r->what);
	}
	mdeploy_awsp__events_free(ev, n);
	return rc;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Wait until the stack `id` is no longer *_IN_PROGRESS, streaming its events
 * since `mark`; its final status in st (status "" when it is gone).
 */
static int wait_stack(struct run *r, const char *stack, const char *id, char **mark, size_t total,
                      mdeploy_awsp__event **all, size_t *nall, mdeploy_awsp__stack *st)
{
	int64_t start = now_ms();
	useconds_t delay = 100000;
	char op[32];
	int rc;
	snprintf(op, sizeof(op), "infra %s", r->what);
	for (;;) {
		size_t i, done = 0;
		if ((rc = events_stream(r, id, mark, all, nall)) || (rc = mdeploy_awsp__stack_read(r->c, id, st)))
			return rc;
		for (i = 0; i < *nall; i++)
			if ((*all)[i].type && strcmp((*all)[i].type, STACK_TYPE) && (*all)[i].status &&
			    ends_with((*all)[i].status, "_COMPLETE"))
				done++;
		if (!*st->status || !ends_with(st->status, "_IN_PROGRESS"))
			break;
		if ((rc = mdeploy__progress(r->ctx, op, stack, "resources", done, total > done ? total : done, 0, 0)))
			return rc;
		if (now_ms() - start > (int64_t)r->timeout * 1000)
			return mdeploy__error_set(MDEPLOY_ETIMEOUT, CLS,
			                          "infra %s: %s is still %s after %u s (CloudFormation goes on with it; "
			                          "'mdeploy infra status' shows where it is, apply again once it is done)",
			                          r->what, stack, st->status, r->timeout);
		if ((rc = mdeploy__interrupt_check(op)))
			return rc;
		usleep(delay);
		if (delay < 5000000)
			delay *= 2;
	}
	rc = events_stream(r, id, mark, all, nall);
	if (!rc)
		rc = mdeploy__progress(r->ctx, op, stack, "resources", total, total, 0, 1);
	return rc;
}

/* The error of a stack that did not end as hoped: the first failed resource and the outcome. */
static int stack_failed(struct run *r, const char *stack, const mdeploy_awsp__stack *st,
                        const mdeploy_awsp__event *all, size_t nall, const char *rest)
{
	long f = mdeploy_awsp__events_first_failure(all, nall);
	char cause[1200];
	if (f >= 0)
		snprintf(cause, sizeof(cause), "%s (%s) %s: %s", all[f].resource ? all[f].resource : "?",
		         all[f].type ? all[f].type : "?", all[f].status, all[f].reason);
	else
		snprintf(cause, sizeof(cause), "%s", *st->reason ? st->reason : "no failed resource reported");
	return mdeploy__error_set(MDEPLOY_ECONFLICT, CLS, "infra %s: stack %s failed: %s; the stack is now %s; %s%s%s",
	                          r->what, stack, cause, *st->status ? st->status : "gone",
	                          *r->done ? "done before it: " : "nothing done before it", r->done, rest);
}

static void done_add(struct run *r, const char *layer, const char *how)
{
	size_t len = strlen(r->done);
	snprintf(r->done + len, sizeof(r->done) - len, "%s%s (%s)", len ? ", " : "", layer, how);
}

static int report(struct run *r, const char *resource, const char *action, int data_loss, const char *detail)
{
	mdeploy_infra_change ch;
	ch.resource = resource;
	ch.type = "cloudformation-stack";
	ch.action = action;
	ch.detail = detail;
	ch.data_loss = data_loss;
	if (strcmp(action, "keep") && r->n)
		(*r->n)++;
	if (r->cb && r->cb(&ch, r->payload))
		return mdeploy__error_set(MDEPLOY_EUSER, CLS, "infra %s: callback aborted", r->what);
	return 0;
}

/* DeleteStack and wait for it; 0 once it is gone. */
static int delete_stack(struct run *r, const char *stack, mdeploy_awsp__stack *st, const char *rest)
{
	char token[128];
	const char *p[] = { "StackName", st->id, "ClientRequestToken", token, NULL };
	mdeploy_awsp__event *all = NULL;
	size_t nall = 0;
	char *mark = NULL, id[256];
	xmlDoc *doc = NULL;
	int rc;
	/* one stack (its id) is deleted once: the same token on every retry, and after a crash */
	mdeploy_awsp__token(token, sizeof(token), "delete", st->id);
	snprintf(id, sizeof(id), "%s", st->id);
	if ((rc = events_mark(r, id, &mark)))
		return rc;
	if (!(rc = mdeploy_awsp__cfn(r->c, "DeleteStack", p, &doc)))
		rc = wait_stack(r, stack, id, &mark, 0, &all, &nall, st);
	xmlFreeDoc(doc);
	if (!rc && *st->status && strcmp(st->status, "DELETE_COMPLETE"))
		rc = stack_failed(r, stack, st, all, nall, rest);
	mdeploy_awsp__events_free(all, nall);
	free(mark);
	return rc;
}

/* Whether the change set {stack, name} was executed (ExecuteChangeSet took effect). */
struct cs_ref {
	const char *stack, *name;
};

static int executed(mdeploy_aws__client *c, void *arg)
{
	const struct cs_ref *ref = arg;
	const char *p[] = { "StackName", ref->stack, "ChangeSetName", ref->name, NULL };
	xmlDoc *doc = NULL;
	char *x = NULL;
	int yes = 0;
	if (!mdeploy_awsp__cfn(c, "DescribeChangeSet", p, &doc) &&
	    (x = mdeploy_aws__xml_text(doc, "DescribeChangeSetResponse/DescribeChangeSetResult/ExecutionStatus")))
		yes = !strncmp(x, "EXECUTE_", 8);
	free(x);
	xmlFreeDoc(doc);
	return yes;
}

/*
 * Execute a ready change set (`ready` its DescribeChangeSet answer) and wait
 * for the stack.
 */
static int execute(struct run *r, const char *stack, const char *csname, xmlDoc *ready, size_t total,
                   mdeploy_awsp__stack *st, const char *rest)
{
	char *csid = mdeploy_aws__xml_text(ready, "DescribeChangeSetResponse/DescribeChangeSetResult/ChangeSetId");
	char token[128];
	/* by its id (ARN): the name may be another's on moto, which looks names up across stacks */
	const char *p[] = { "StackName", stack, "ChangeSetName", csid ? csid : csname,
	                    "ClientRequestToken", token, NULL };
	struct cs_ref ref;
	mdeploy_awsp__event *all = NULL;
	size_t nall = 0;
	char *mark = NULL, id[256];
	xmlDoc *doc = NULL;
	int rc;
	ref.stack = stack;
	ref.name = p[3];
	/* one change set is executed once: the token comes from its id, the same on every retry */
	mdeploy_awsp__token(token, sizeof(token), "execute", p[3]);
	if ((rc = mdeploy_awsp__stack_read(r->c, stack, st))) {
		free(csid);
		return rc;
	}
	snprintf(id, sizeof(id), "%s", *st->id ? st->id : stack);
	if ((rc = events_mark(r, id, &mark))) {
		free(csid);
		return rc;
	}
	rc = mdeploy_awsp__cfn_checked(r->c, "ExecuteChangeSet", p, executed, &ref, &doc);
	xmlFreeDoc(doc);
	if (rc) {
		mdeploy__error_prefix("infra %s: %s: executing change set %s (%s%s%s)", r->what, stack, csname,
		                      *r->done ? "done before it: " : "nothing done before it", r->done, rest);
	} else if (!(rc = wait_stack(r, stack, id, &mark, total, &all, &nall, st)) &&
	           strcmp(st->status, "CREATE_COMPLETE") && strcmp(st->status, "UPDATE_COMPLETE")) {
		rc = stack_failed(r, stack, st, all, nall, rest);
	}
	mdeploy_awsp__events_free(all, nall);
	free(mark);
	free(csid);
	return rc;
}

static size_t change_count(xmlDoc *doc)
{
	xmlXPathContext *xc = xmlXPathNewContext(doc);
	xmlXPathObject *m = xc ? xmlXPathEvalExpression(
		(const xmlChar *)"//*[local-name()='Changes']/*[local-name()='member']", xc) : NULL;
	size_t n = m && m->nodesetval ? (size_t)m->nodesetval->nodeNr : 0;
	xmlXPathFreeObject(m);
	xmlXPathFreeContext(xc);
	return n;
}

static void rest_of(char *buf, size_t size, const mdeploy_awsp__layer *L, size_t from, size_t to, int down)
{
	size_t len = 0, i;
	*buf = 0;
	for (i = from; i != to; i = down ? i - 1 : i + 1) {
		len += (size_t)snprintf(buf + len, size - len, "%s%s", len ? ", " : "; not done: ", L[i].name);
		if (len >= size)
			break;
	}
}

static int run_open(struct run *r, mdeploy_ctx *ctx, const mdeploy_config *cfg, const mdeploy_infra_options *opts,
                    const char *what, mdeploy_infra_change_cb cb, void *payload, size_t *n)
{
	memset(r, 0, sizeof(*r));
	r->ctx = ctx;
	r->cfg = cfg;
	r->what = what;
	r->cb = cb;
	r->payload = payload;
	r->n = n;
	r->timeout = 3600;
	mdeploy_awsp__run_id(r->id, sizeof(r->id), what);
	if (n)
		*n = 0;
	if (opts && opts->version >= 2) {
		r->ecb = opts->event_cb;
		r->epayload = opts->event_payload;
		if (opts->timeout)
			r->timeout = opts->timeout;
	}
	return mdeploy_awsp__infra_client(&r->c, cfg);
}

int mdeploy_awsp__infra_apply(mdeploy_ctx *ctx, mdeploy_store *store, const mdeploy_config *cfg,
                              const mdeploy_infra_options *opts, mdeploy_infra_change_cb cb, void *payload, size_t *n)
{
	mdeploy_awsp__layer L[8];
	mdeploy_awsp__stack S[8];
	struct run r;
	size_t nl = 0, i;
	int rc;
	(void)store;
	memset(S, 0, sizeof(S));
	if ((rc = mdeploy_awsp__manifest(L, MDEPLOY__ARRAY_SIZE(L), &nl)) ||
	    (rc = run_open(&r, ctx, cfg, opts, "apply", cb, payload, n)))
		return rc;
	for (i = 0; i < nl && !rc; i++) {
		const char *vals[MDEPLOY_AWSP_MAXP], *waits = NULL;
		char bufs[MDEPLOY_AWSP_MAXP][512], csname[80], rest[256], *stack;
		size_t stale = 0;
		xmlDoc *doc = NULL;
		if (!(stack = mdeploy_awsp__stack_name(cfg, L[i].name))) {
			rc = mdeploy__error_oom();
			break;
		}
		rest_of(rest, sizeof(rest), L, i, nl, 0);
		if ((rc = mdeploy_awsp__stack_read(r.c, stack, &S[i])))
			goto next;
		if (ends_with(S[i].status, "_IN_PROGRESS") && !S[i].reviewing) {
			rc = mdeploy__error_set(MDEPLOY_ELOCKED, CLS, "infra apply: stack %s is %s: another operation is "
			                        "under way; apply again once it is done%s", stack, S[i].status, rest);
			goto next;
		}
		if (!strcmp(S[i].status, "ROLLBACK_COMPLETE") || !strcmp(S[i].status, "ROLLBACK_FAILED") ||
		    S[i].reviewing) {
			/* a create that failed (or a change set never executed): the stack holds nothing to keep,
			 * and CloudFormation cannot update it; it goes and is created again */
			if ((rc = delete_stack(&r, stack, &S[i], rest)) ||
			    (rc = report(&r, stack, "delete", 0, "left by a create that did not complete; created again")))
				goto next;
			mdeploy_awsp__stack_clear(&S[i]);
		}
		if ((rc = mdeploy_awsp__layer_values(r.c, cfg, L, i, S, vals, bufs, &waits)))
			goto next;
		if (waits) {
			rc = mdeploy__error_set(MDEPLOY_EINVALID, CLS, "infra apply: %s needs the %s stack, which is not there",
			                        stack, waits);
			goto next;
		}
		/* an interrupted run's change set is deleted, not left beside this one */
		if (S[i].exists && (rc = mdeploy_awsp__changesets_stale(r.c, stack, &stale)))
			goto next;
		snprintf(csname, sizeof(csname), "%.47s-%.15s", r.id, L[i].name);
		if ((rc = mdeploy_awsp__changeset(r.c, cfg, &L[i], stack, S[i].exists, vals, csname, "apply", &doc)))
			goto next;
		if (!doc) {
			done_add(&r, L[i].name, "no changes");
			goto next;
		}
		rc = execute(&r, stack, csname, doc, change_count(doc), &S[i], rest);
		if (!rc)
			rc = mdeploy_awsp__changeset_report(doc, &L[i], cb, payload, n, "apply");
		if (!rc)
			done_add(&r, L[i].name, S[i].status);
		xmlFreeDoc(doc);
next:
		free(stack);
	}
	for (i = 0; i < nl; i++)
		mdeploy_awsp__stack_clear(&S[i]);
	mdeploy_aws__client_free(r.c);
	return rc;
}

/* Turn DatabaseDeletionProtection off when the stack has it on (same template, other values kept). */
static int protection_off(struct run *r, const char *stack, mdeploy_awsp__stack *st, const char *rest)
{
	const char *argv[2 * (MDEPLOY_AWSP_MAXP * 2 + 8) + 1];
	char keys[MDEPLOY_AWSP_MAXP * 2][64], csname[80], token[128];
	size_t a = 0, i, k = 0, stale = 0;
	int on = 0, rc;
	xmlDoc *ready = NULL;
	for (i = 0; i < st->np; i++)
		if (!strcmp(st->p[i].k, "DatabaseDeletionProtection") && st->p[i].v && !strcmp(st->p[i].v, "true"))
			on = 1;
	if (!on)
		return 0;
	if ((rc = mdeploy_awsp__changesets_stale(r->c, stack, &stale)))
		return rc;
	snprintf(csname, sizeof(csname), "%.47s-unprotect", r->id);
	mdeploy_awsp__token(token, sizeof(token), "create", csname);
	argv[a++] = "StackName", argv[a++] = stack;
	argv[a++] = "ChangeSetName", argv[a++] = csname;
	argv[a++] = "ClientToken", argv[a++] = token;
	argv[a++] = "ChangeSetType", argv[a++] = "UPDATE";
	argv[a++] = "UsePreviousTemplate", argv[a++] = "true";
	argv[a++] = "Capabilities.member.1", argv[a++] = "CAPABILITY_IAM";
	for (i = 0; i < st->np; i++) {
		int it = !strcmp(st->p[i].k, "DatabaseDeletionProtection");
		snprintf(keys[k], sizeof(keys[k]), "Parameters.member.%zu.ParameterKey", i + 1);
		argv[a++] = keys[k++], argv[a++] = st->p[i].k;
		snprintf(keys[k], sizeof(keys[k]), "Parameters.member.%zu.%s", i + 1, it ? "ParameterValue" : "UsePreviousValue");
		argv[a++] = keys[k++], argv[a++] = it ? "false" : "true";
	}
	argv[a] = NULL;
	if ((rc = mdeploy_awsp__changeset_create(r->c, argv, stack, csname))) {
		mdeploy__error_prefix("infra destroy: %s: turning deletion protection off", stack);
		return rc;
	}
	{
		const char *p[] = { "StackName", stack, "ChangeSetName", csname, NULL };
		char *status = NULL;
		int tries;
		for (tries = 0; tries < 300 && !rc; tries++) {
			free(status);
			status = NULL;
			xmlFreeDoc(ready);
			ready = NULL;
			if ((rc = mdeploy_awsp__cfn(r->c, "DescribeChangeSet", p, &ready)))
				break;
			status = mdeploy_aws__xml_text(ready, "DescribeChangeSetResponse/DescribeChangeSetResult/Status");
			if (status && (!strcmp(status, "CREATE_COMPLETE") || !strcmp(status, "FAILED")))
				break;
			usleep(tries < 10 ? 300000 : 2000000);
		}
		if (!rc && (!status || strcmp(status, "CREATE_COMPLETE")))
			rc = mdeploy__error_set(MDEPLOY_ECONFLICT, CLS, "infra destroy: %s: the change set turning deletion "
			                        "protection off is %s", stack, status ? status : "not ready");
		free(status);
	}
	if (!rc)
		rc = execute(r, stack, csname, ready, change_count(ready), st, rest);
	xmlFreeDoc(ready);
	if (!rc)
		rc = report(r, stack, "update", 0, "database deletion protection turned off, for the delete");
	return rc;
}

int mdeploy_awsp__infra_destroy(mdeploy_ctx *ctx, mdeploy_store *store, const mdeploy_config *cfg,
                                const mdeploy_infra_options *opts, mdeploy_infra_change_cb cb, void *payload,
                                size_t *n)
{
	mdeploy_awsp__layer L[8];
	mdeploy_awsp__stack st;
	struct run r;
	size_t nl = 0, i;
	long last_data = -1;
	int rc, delete_data = opts && opts->delete_data;
	(void)store;
	memset(&st, 0, sizeof(st));
	if ((rc = mdeploy_awsp__manifest(L, MDEPLOY__ARRAY_SIZE(L), &nl)) ||
	    (rc = run_open(&r, ctx, cfg, opts, "destroy", cb, payload, n)))
		return rc;
	for (i = 0; i < nl; i++)
		if (L[i].holds_data)
			last_data = (long)i;
	for (i = nl; i-- > 0 && !rc;) {
		char rest[256], detail[200], *stack = mdeploy_awsp__stack_name(cfg, L[i].name);
		if (!stack) {
			rc = mdeploy__error_oom();
			break;
		}
		rest_of(rest, sizeof(rest), L, i, (size_t)-1, 1);
		if ((rc = mdeploy_awsp__stack_read(r.c, stack, &st)) || !*st.status)
			goto next;
		if ((long)i <= last_data && !delete_data && !st.reviewing) {
			snprintf(detail, sizeof(detail), L[i].holds_data ?
			         "holds data (database, files, cache, artifacts): deleted only with --delete-data" :
			         "the %s stack, which holds data, stands on it: deleted only with --delete-data",
			         L[last_data].name);
			rc = report(&r, stack, "keep", 0, detail);
			goto next;
		}
		if (ends_with(st.status, "_IN_PROGRESS") && !st.reviewing) {
			rc = mdeploy__error_set(MDEPLOY_ELOCKED, CLS, "infra destroy: stack %s is %s: another operation is "
			                        "under way; destroy again once it is done (%s%s%s)", stack, st.status,
			                        *r.done ? "done before it: " : "nothing done before it", r.done, rest);
			goto next;
		}
		if (L[i].holds_data && (rc = protection_off(&r, stack, &st, rest)))
			goto next;
		if ((rc = delete_stack(&r, stack, &st, rest)))
			goto next;
		snprintf(detail, sizeof(detail), "%s%s", L[i].tmpl, L[i].holds_data ?
		         ": its data is gone (final snapshots and retained resources are kept by AWS)" : "");
		if (!(rc = report(&r, stack, "delete", L[i].holds_data, detail)))
			done_add(&r, L[i].name, "deleted");
next:
		free(stack);
	}
	mdeploy_awsp__stack_clear(&st);
	mdeploy_aws__client_free(r.c);
	return rc;
}

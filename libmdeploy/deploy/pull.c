/*
 * pull.c - installing on a provider whose instances install themselves
 * (mdeploy_provider_pulls(): the agent on EC2). Instead of running the agent
 * on each instance's root, the orchestrator gives the green fleet what its
 * instances run at boot (the bundle, its digest, the trusted keys' PEM text
 * and the hooks' variables; never a secret: user data can be read by whoever
 * may describe the instance), then waits for each instance's report
 * (mdeploy_agent_report_get()) until it says Succeeded or Failed, or the
 * provider's agent timeout passes. A failure or a timeout fails that
 * instance with its id, the event and the last lines of its log.
 *
 * What a pulled deployment cannot do yet is refused before anything
 * changes: the Moodle upgrade gate and `scope: once` hooks (they run
 * commands on one running instance: SSM Run Command), in-place deployments
 * (the same), and secrets in the hooks' environment (the instance would
 * read them from Secrets Manager itself).
 */
#include "deploy_private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLS MDEPLOY_ERROR_CLASS_DEPLOY

static int refuse(mdeploy_deploy__run *r, const char *what)
{
	return mdeploy__error_set(MDEPLOY_EUNSUPPORTED, CLS,
	                          "group %s: %s; on provider %s the instances install releases themselves (the agent "
	                          "pulls at boot) and running a command on a live instance (SSM Run Command) is not "
	                          "written yet", r->g->name, what, mdeploy_provider_name(r->p));
}

int mdeploy_deploy__pull_check(mdeploy_deploy__run *r, int gate, int in_place)
{
	mdeploy_appspec *as = NULL;
	size_t i, j;
	int rc;

	if (in_place)
		return refuse(r, "an in-place deployment installs on running instances");
	if (gate)
		return refuse(r, "this release upgrades the Moodle database (the upgrade gate runs it on one "
		                 "instance, with maintenance mode through blue)");
	if (r->mask && r->mask[0])
		return mdeploy__error_set(MDEPLOY_EUNSUPPORTED, CLS,
		                          "group %s has secrets for its hooks: on provider %s they would travel in the "
		                          "instances' user data, which is not secret (the agent reading Secrets Manager "
		                          "itself is not written yet)", r->g->name, mdeploy_provider_name(r->p));
	if ((rc = mdeploy_appspec_load(&as, r->bundle)))
		return rc;
	for (i = 0; i < mdeploy_appspec_event_count(as); i++) {
		const char *ev = mdeploy_appspec_event_at(as, i);
		for (j = 0; j < mdeploy_appspec_hook_count(as, ev); j++) {
			const mdeploy_appspec_hook *h = mdeploy_appspec_hook_at(as, ev, j);
			if (h->scope_once) {
				char what[512];
				snprintf(what, sizeof(what), "%s:%d: hook %s of %s has scope: once (exactly one instance "
				         "runs it)", mdeploy_appspec_name(as), h->line, h->location, ev);
				mdeploy_appspec_free(as);
				return refuse(r, what);
			}
		}
	}
	mdeploy_appspec_free(as);
	return 0;
}

void mdeploy_deploy__pull_boot_free(mdeploy_agent_boot *b)
{
	size_t i;
	char **keys = (char **)b->trusted_keys;
	for (i = 0; keys && keys[i]; i++)
		free(keys[i]);
	free(keys);
	free((char *)b->deployment_group_id);
	b->trusted_keys = NULL;
	b->deployment_group_id = NULL;
}

int mdeploy_deploy__pull_boot(mdeploy_deploy__run *r, mdeploy_agent_boot *b)
{
	mdeploy_agent_boot def = MDEPLOY_AGENT_BOOT_INIT;
	const char *const *files = mdeploy_deploy__trusted_keys(r);
	char **keys = NULL;
	size_t i, n = 0;
	int rc;

	*b = def;
	if ((rc = mdeploy_deploy__env_kind(r)))
		return rc;
	while (files && files[n])
		n++;
	if (n && !(keys = calloc(n + 1, sizeof(*keys))))
		return mdeploy__error_oom();
	for (i = 0; i < n; i++) {
		size_t len;
		if ((rc = mdeploy__file_read(&keys[i], &len, files[i]))) {
			mdeploy__error_prefix("trusted key");
			break;
		}
	}
	b->trusted_keys = (const char *const *)keys;
	if (rc) {
		mdeploy_deploy__pull_boot_free(b);
		return rc;
	}
	if (!(b->deployment_group_id = mdeploy__sprintf("dg-%s-%s", r->app, r->g->name))) {
		mdeploy_deploy__pull_boot_free(b);
		return mdeploy__error_oom();
	}
	b->deployment_id = r->id;
	b->application_name = r->app;
	b->deployment_group_name = r->g->name;
	b->bundle = r->bundle;
	b->bundle_sha256 = r->bundle_sha256;
	b->env = (const char *const *)r->env;
	return 0;
}

/* The end of `s`, at most `max` bytes, from a line's start when cut. */
static const char *tail_of(const char *s, size_t max)
{
	size_t n = strlen(s);
	const char *t, *nl;
	if (n <= max)
		return s;
	t = s + n - max;
	nl = strchr(t, '\n');
	return nl && nl[1] ? nl + 1 : t;
}

/* One report into *res: 1 Succeeded, -1 Failed (msg says why), 0 not yet (last gets the event
 * in progress). Returns the provider's error reading it. */
static int read_report_of(mdeploy_deploy__run *r, const char *deployment, const char *id, char *msg, size_t n,
                          char *last, size_t nl, int *out)
{
	char *text = NULL;
	json_t *doc;
	const char *st, *ev, *m, *tail;
	int rc = mdeploy_agent_report_get(r->p, deployment, id, &text), res = 0;

	*out = 0;
	if (rc == MDEPLOY_ENOTFOUND) {
		mdeploy_error_clear();
		return 0;
	}
	if (rc)
		return rc;
	doc = json_loads(text, 0, NULL);
	free(text);
	st = json_string_value(json_object_get(doc, "status"));
	ev = json_string_value(json_object_get(doc, "event"));
	m = json_string_value(json_object_get(doc, "message"));
	tail = json_string_value(json_object_get(doc, "log_tail"));
	if (!doc || !st) {
		snprintf(msg, n, "instance %s: its agent's report is not one mdeploy writes", id);
		res = -1;
	} else if (!strcmp(st, "Succeeded")) {
		res = 1;
	} else if (!strcmp(st, "Failed")) {
		snprintf(msg, n, "instance %s: %s failed: %s%s%s", id, ev ? ev : "?", m ? m : "(no message)",
		         tail ? "; its log ends: " : "", tail ? tail_of(tail, 300) : "");
		res = -1;
	} else {
		snprintf(last, nl, "%s", ev ? ev : "");
	}
	json_decref(doc);
	*out = res;
	return 0;
}

static int read_report(mdeploy_deploy__run *r, const char *id, char *msg, size_t n, char *last, size_t nl, int *out)
{
	return read_report_of(r, r->id, id, msg, n, last, nl, out);
}

int mdeploy_deploy__pull_wait_new(mdeploy_deploy__run *r, const char *fleet, const char *deployment,
                                  const inst_list *before, unsigned int desired, inst_list *after)
{
	unsigned int timeout = mdeploy_provider_agent_timeout_ms(r->p);
	uint64_t t0 = mdeploy__now_ms();
	char msg[1024], last[32];
	size_t i;
	int rc, got;

	for (;;) {
		if ((rc = mdeploy_deploy__instances(r, fleet, after)))
			return rc;
		if (after->n >= desired)
			break;
		if (mdeploy__now_ms() - t0 > timeout)
			return mdeploy__error_set(MDEPLOY_ETIMEOUT, CLS, "fleet %s: %zu of %u instances exist after %u s",
			                          fleet, after->n, desired, timeout / 1000);
		if ((rc = mdeploy_deploy__wait_for(r, mdeploy_deploy__lb_poll_ms(r))))
			return rc;
	}
	for (i = 0; i < after->n; i++) {
		if (mdeploy_deploy__in_list(before, after->id[i]))
			continue;
		last[0] = '\0';
		for (;;) {
			if ((rc = read_report_of(r, deployment, after->id[i], msg, sizeof(msg), last, sizeof(last), &got)))
				return rc;
			if (got < 0)
				return mdeploy__error_set(MDEPLOY_EHOOK, CLS, "%s", msg);
			if (got > 0)
				break;
			if (mdeploy__now_ms() - t0 > timeout)
				return mdeploy__error_set(MDEPLOY_ETIMEOUT, CLS, "instance %s: %s in %u s (provider agent_timeout)",
				                          after->id[i], last[0] ? "its agent reported nothing more" :
				                          "no report from its agent", timeout / 1000);
			if ((rc = mdeploy_deploy__wait_for(r, mdeploy_deploy__lb_poll_ms(r))))
				return rc;
		}
		mdeploy__log(r->ctx, MDEPLOY_LOG_INFO, "deploy", "instance %s of %s installed %s itself", after->id[i],
		             fleet, deployment);
	}
	return 0;
}

static void mark_done(mdeploy_deploy__run *r, const char *id)
{
	done_mark *nd = realloc(r->done, (r->ndone + 1) * sizeof(*nd));
	if (!nd)
		return;
	r->done = nd;
	if ((r->done[r->ndone].key = mdeploy__sprintf("install\t%s", id)))
		r->ndone++;
}

int mdeploy_deploy__pull_wait(mdeploy_deploy__run *r, inst_list *l, int *res, char (*msg)[1024])
{
	unsigned int timeout = mdeploy_provider_agent_timeout_ms(r->p), sizes[3];
	uint64_t t0 = mdeploy__now_ms();
	int64_t seqs[64];
	int pending[64], rc;
	char last[64][32];
	size_t i, left;

	/* The group makes its instances after it exists (at once on moto, over a minute on EC2). */
	if ((rc = mdeploy_deploy__fleet_sizes(r, r->green, sizes)))
		return rc;
	while (l->n < sizes[0]) {
		if (mdeploy__now_ms() - t0 > timeout)
			return mdeploy__error_set(MDEPLOY_ETIMEOUT, CLS, "fleet %s: %zu of %u instances exist after %u s",
			                          r->green, l->n, sizes[0], timeout / 1000);
		if ((rc = mdeploy_deploy__wait_for(r, mdeploy_deploy__lb_poll_ms(r))) ||
		    (rc = mdeploy_deploy__instances(r, r->green, l)))
			return rc;
	}
	for (i = 0, left = 0; i < l->n; i++) {
		res[i] = 0;
		msg[i][0] = last[i][0] = '\0';
		pending[i] = !mdeploy_deploy__is_done(r, "install", l->id[i]);
		if (!pending[i])
			continue;
		if ((rc = mdeploy_store_journal_begin(r->store, r->id, "install", l->id[i], NULL, &seqs[i])))
			return rc;
		r->steps++;
		left++;
	}
	mdeploy__log(r->ctx, MDEPLOY_LOG_INFO, "deploy", "%s: waiting for the agents of %zu instances (pull, up to %u s)",
	             r->id, left, timeout / 1000);
	while (left) {
		int timed_out = mdeploy__now_ms() - t0 > timeout;
		if ((rc = mdeploy_deploy__beat(r)))
			return rc;
		for (i = 0; i < l->n; i++) {
			int got;
			if (!pending[i])
				continue;
			if ((rc = read_report(r, l->id[i], msg[i], sizeof(msg[0]), last[i], sizeof(last[0]), &got)))
				return rc;
			if (!got && !timed_out)
				continue;
			if (!got) {
				if (last[i][0])
					snprintf(msg[i], sizeof(msg[0]), "instance %.31s: its agent was at %.31s and reported "
					         "nothing more in %u s (provider agent_timeout)", l->id[i], last[i], timeout / 1000);
				else
					snprintf(msg[i], sizeof(msg[0]), "instance %.31s: no report from its agent in %u s (provider "
					         "agent_timeout): its user data did not run `mdeploy agent pull`, or the agent "
					         "could not write to the bucket", l->id[i], timeout / 1000);
			}
			res[i] = got > 0 ? 0 : got < 0 ? MDEPLOY_EHOOK : MDEPLOY_ETIMEOUT;
			pending[i] = 0;
			left--;
			mdeploy_store_journal_end(r->store, r->id, seqs[i], res[i] == 0, res[i] ? msg[i] : NULL);
			if (res[i] == 0)
				mark_done(r, l->id[i]);
			mdeploy__log(r->ctx, res[i] ? MDEPLOY_LOG_WARN : MDEPLOY_LOG_INFO, "deploy", "%s: %s", r->id,
			             res[i] ? msg[i] : l->id[i]);
		}
		if (left && (rc = mdeploy_deploy__wait_for(r, mdeploy_deploy__lb_poll_ms(r))))
			return rc;
	}
	return 0;
}

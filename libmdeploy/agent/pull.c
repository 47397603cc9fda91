/*
 * pull.c - the pull model (the agent on EC2, `mdeploy agent pull`): an
 * instance installs a deployment itself from a bundle in S3 and reports
 * each lifecycle event's result where the orchestrator reads it. The
 * events run exactly as the orchestrator runs them on local instances
 * (mdeploy_agent_run_event); only the fetching and the report are added.
 * The S3 transfers are the aws provider's (provider/aws/agent.c).
 */
#include "agent_private.h"
#include "provider/aws/agent.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CLS MDEPLOY_ERROR_CLASS_AGENT

static const char *const events[] = {
	"ApplicationStop", "DownloadBundle", "BeforeInstall", "Install", "AfterInstall", "ApplicationStart",
	"ValidateService",
};

int mdeploy_agent_pull_options_init(mdeploy_agent_pull_options *opts, unsigned int version)
{
	mdeploy_agent_pull_options def = MDEPLOY_AGENT_PULL_OPTIONS_INIT;
	int rc;
	if ((rc = mdeploy__options_check(version, MDEPLOY_AGENT_PULL_OPTIONS_VERSION, "mdeploy_agent_pull_options")))
		return rc;
	*opts = def;
	opts->version = version;
	return 0;
}

struct report {
	const mdeploy_agent_pull_options *o;
	const mdeploy_agent_deployment *d;
	json_t *doc, *events;
	char *url;
	int failed_put;          /* a report could not be written */
	char put_error[512];
};

/* The last lines of this deployment's log (at most ~2 KB, whole lines). */
static char *log_tail(mdeploy_agent *agent, const char *id)
{
	size_t i, n;
	const char *path = NULL;
	char buf[2049], *nl;
	ssize_t got;
	off_t size;
	int fd;

	mdeploy_agent_refresh(agent);
	n = mdeploy_agent_history_count(agent);
	for (i = n; i-- > 0 && !path;) {
		const mdeploy_agent_history_entry *e = mdeploy_agent_history_at(agent, i);
		if (e->deployment_id && !strcmp(e->deployment_id, id))
			path = e->log_path;
	}
	if (!path || (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return NULL;
	size = lseek(fd, 0, SEEK_END);
	if (size > 2048)
		lseek(fd, size - 2048, SEEK_SET);
	else
		lseek(fd, 0, SEEK_SET);
	got = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (got <= 0)
		return NULL;
	buf[got] = '\0';
	/* from the first whole line when the read began mid-file */
	nl = size > 2048 ? strchr(buf, '\n') : NULL;
	return mdeploy__strdup(nl ? nl + 1 : buf);
}

/* Write the report as it stands; a failed write is remembered (the call's error at the end). */
static void report_put(struct report *rp, mdeploy_agent *agent, const char *status, const char *message)
{
	char *text, *tail = NULL;
	int rc;
	if (!rp->url)
		return;
	json_object_set_new(rp->doc, "status", json_string(status));
	json_object_set_new(rp->doc, "updated_at", json_integer((json_int_t)time(NULL)));
	json_object_set_new(rp->doc, "message", message ? json_string(message) : json_null());
	if (message && (tail = log_tail(agent, rp->d->deployment_id)))
		json_object_set_new(rp->doc, "log_tail", json_string(tail));
	free(tail);
	if (!(text = json_dumps(rp->doc, JSON_COMPACT))) {
		rc = mdeploy__error_oom();
	} else {
		rc = mdeploy_awsp__agent_put(rp->url, rp->o->region, rp->o->endpoint, text, strlen(text));
		free(text);
	}
	if (rc && !rp->failed_put) {
		rp->failed_put = rc;
		snprintf(rp->put_error, sizeof(rp->put_error), "%s", mdeploy_error_last()->message);
	}
}

static int check_args(const mdeploy_agent_pull_options *o, const mdeploy_agent_deployment *d)
{
	const char *h;
	if (!o || !d || !o->bundle_url || !o->bundle_sha256 || !d->deployment_id || !d->instance_id)
		return mdeploy__error_set(MDEPLOY_EINVALID, CLS,
		                          "agent pull: the bundle's location and digest, the deployment id and the "
		                          "instance id are required");
	for (h = o->bundle_sha256; *h; h++)
		if (!((*h >= '0' && *h <= '9') || (*h >= 'a' && *h <= 'f')))
			break;
	if (*h || h - o->bundle_sha256 != 64)
		return mdeploy__error_set(MDEPLOY_EINVALID, CLS, "agent pull: '%s' is not a SHA-256 (64 lowercase hex "
		                          "digits)", o->bundle_sha256);
	for (h = d->instance_id; *h; h++)
		if (!((*h >= 'a' && *h <= 'z') || (*h >= 'A' && *h <= 'Z') || (*h >= '0' && *h <= '9') || *h == '-' ||
		      *h == '_' || *h == '.'))
			return mdeploy__error_set(MDEPLOY_EINVALID, CLS, "agent pull: instance id '%s': letters, "
			                          "digits, '-', '_' and '.' only", d->instance_id);
	return 0;
}

/* The bundle into ROOT/downloads/<sha256>-<name>, its digest checked. */
static int fetch(mdeploy_agent *agent, const mdeploy_agent_pull_options *o, char **file)
{
	const char *base = strrchr(o->bundle_url, '/');
	char *dir, sha[65];
	int rc;

	*file = NULL;
	base = base && base[1] ? base + 1 : "bundle";
	if (!(dir = mdeploy__sprintf("%s/downloads", mdeploy_agent_root(agent))))
		return mdeploy__error_oom();
	if ((rc = mdeploy__mkdir_p(dir, 0700)) == 0 &&
	    !(*file = mdeploy__sprintf("%s/%.64s-%s", dir, o->bundle_sha256, base)))
		rc = mdeploy__error_oom();
	free(dir);
	if (rc)
		return rc;
	if ((rc = mdeploy_awsp__agent_get(o->bundle_url, o->region, o->endpoint, *file)))
		return rc;
	if ((rc = mdeploy__file_sha256(*file, sha)))
		return rc;
	if (strcmp(sha, o->bundle_sha256)) {
		unlink(*file);
		return mdeploy__error_set(MDEPLOY_EINVALID, CLS, "the bundle fetched from %s has SHA-256 %s, not %s "
		                          "as the deployment says: not installed", o->bundle_url, sha, o->bundle_sha256);
	}
	return 0;
}

int mdeploy_agent_pull(mdeploy_agent *agent, const mdeploy_agent_pull_options *o, const mdeploy_agent_deployment *d)
{
	mdeploy_agent_deployment dd;
	struct report rp;
	char *file = NULL, msg[2048];
	size_t i;
	int rc;

	if (!agent)
		return mdeploy__error_set(MDEPLOY_EINVALID, CLS, "agent pull: no agent");
	if ((rc = check_args(o, d)))
		return rc;
	memset(&rp, 0, sizeof(rp));
	rp.o = o;
	rp.d = d;
	dd = *d;
	/* Every instance of the fleet runs the same command: no one of them is "the" instance. */
	dd.run_once_hooks = 0;
	dd.traffic_hooks = 0;
	if (o->report_url && !(rp.url = mdeploy__sprintf("%s%s%s.json", o->report_url,
	                                                 o->report_url[strlen(o->report_url) - 1] == '/' ? "" : "/",
	                                                 d->instance_id)))
		return mdeploy__error_oom();
	rp.events = json_array();
	rp.doc = json_pack("{s:i, s:s, s:s, s:s, s:O}", "version", 1, "deployment_id", d->deployment_id, "instance_id",
	                   d->instance_id, "bundle_sha256", o->bundle_sha256, "events", rp.events);
	if (!rp.doc || !rp.events) {
		rc = mdeploy__error_oom();
		goto out;
	}
	if (mdeploy_agent_last_successful(agent) && !strcmp(mdeploy_agent_last_successful(agent), d->deployment_id)) {
		/* Installed and validated before (a second boot, user data run again). */
		json_object_set_new(rp.doc, "event", json_string("ValidateService"));
		json_object_set_new(rp.doc, "note", json_string("installed before; nothing run again"));
		report_put(&rp, agent, "Succeeded", NULL);
		goto out;
	}
	report_put(&rp, agent, "InProgress", NULL);
	for (i = 0; i < MDEPLOY__ARRAY_SIZE(events); i++) {
		uint64_t t0 = mdeploy__now_ms();
		json_object_set_new(rp.doc, "event", json_string(events[i]));
		if (i == 1)
			rc = fetch(agent, o, &file); /* then DownloadBundle from the file */
		if (!rc)
			rc = mdeploy_agent_run_event(agent, events[i], i == 1 ? file : NULL, &dd);
		json_array_append_new(rp.events, json_pack("{s:s, s:s, s:I}", "event", events[i], "status",
		                                           rc ? "Failed" : "Succeeded", "ms",
		                                           (json_int_t)(mdeploy__now_ms() - t0)));
		if (rc) {
			snprintf(msg, sizeof(msg), "%s", mdeploy_error_last()->message);
			report_put(&rp, agent, "Failed", msg);
			mdeploy__error_set(rc, CLS, "%s", msg);
			goto out;
		}
		report_put(&rp, agent, i + 1 == MDEPLOY__ARRAY_SIZE(events) ? "Succeeded" : "InProgress", NULL);
	}
out:
	if (!rc && rp.failed_put)
		rc = mdeploy__error_set(rp.failed_put, CLS, "installed, but the report could not be written: %s",
		                        rp.put_error);
	if (file)
		unlink(file); /* DownloadBundle unpacked it into the release */
	free(file);
	free(rp.url);
	json_decref(rp.events);
	json_decref(rp.doc);
	return rc;
}

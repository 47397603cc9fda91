/*
 * notify.c - webhooks a pipeline names (notifications:): a JSON POST through
 * libcurl when an approval starts waiting, when an execution fails and when
 * it succeeds, in the form Slack, Mattermost and Microsoft Teams incoming
 * webhooks take ({"text": ...}, with a link to the console page), as the
 * message with an Adaptive Card that a Teams Workflows webhook ("When a
 * Teams webhook request is received", Power Automate) posts to a channel
 * (format: teams-workflows), or as a structured document (format: json). Sent by the runner; a receiver that
 * is down delays it by at most 5 seconds and never fails the execution:
 * the outcome of every delivery goes to the log and the audit trail.
 */
#include "pipeline_private.h"
#include "store/store_private.h"
#include "mdeploy/web.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const cyaml_schema_value_t event_schema = {
	CYAML_VALUE_STRING(CYAML_FLAG_POINTER, char, 0, CYAML_UNLIMITED),
};

static const cyaml_schema_field_t notify_fields[] = {
	CYAML_FIELD_STRING_PTR("url", CYAML_FLAG_POINTER | CYAML_FLAG_OPTIONAL,
	                       struct mdeploy_pipeline__notify_raw, url, 0, CYAML_UNLIMITED),
	CYAML_FIELD_STRING_PTR("format", CYAML_FLAG_POINTER | CYAML_FLAG_OPTIONAL,
	                       struct mdeploy_pipeline__notify_raw, format, 0, CYAML_UNLIMITED),
	CYAML_FIELD_SEQUENCE("events", CYAML_FLAG_POINTER | CYAML_FLAG_OPTIONAL,
	                     struct mdeploy_pipeline__notify_raw, events, &event_schema, 0, CYAML_UNLIMITED),
	CYAML_FIELD_END
};

const cyaml_schema_value_t mdeploy_pipeline__notify_schema = {
	CYAML_VALUE_MAPPING(CYAML_FLAG_DEFAULT, struct mdeploy_pipeline__notify_raw, notify_fields),
};

static const char *const formats[] = { "slack", "mattermost", "teams", "teams-workflows", "json", NULL };
static const char *const events[] = { "approval", "failed", "succeeded", NULL };

static int in(const char *const *list, const char *s)
{
	for (; *list; list++)
		if (!strcmp(*list, s))
			return 1;
	return 0;
}

void mdeploy_pipeline__notify_check(const struct mdeploy_pipeline__notify_raw *n, size_t count,
                                    mdeploy__yaml_problems *probs)
{
	size_t i, j;
	char f[64];
	for (i = 0; i < count; i++) {
		snprintf(f, sizeof(f), "notifications[%zu].url", i);
		if (!n[i].url)
			mdeploy__yaml_problem(probs, f, "is required");
		else if (strncmp(n[i].url, "http://", 7) && strncmp(n[i].url, "https://", 8))
			mdeploy__yaml_problem(probs, f, "'%s' is not an http:// or https:// URL", n[i].url);
		else if (strpbrk(n[i].url, " \t\r\n"))
			mdeploy__yaml_problem(probs, f, "a URL has no spaces or line breaks");
		snprintf(f, sizeof(f), "notifications[%zu].format", i);
		if (n[i].format && !in(formats, n[i].format))
			mdeploy__yaml_problem(probs, f, "'%s' is not a format (slack, mattermost, teams, teams-workflows, json)", n[i].format);
		for (j = 0; j < n[i].events_count; j++) {
			snprintf(f, sizeof(f), "notifications[%zu].events[%zu]", i, j);
			if (!in(events, n[i].events[j]))
				mdeploy__yaml_problem(probs, f, "'%s' is not an event (approval, failed, succeeded)", n[i].events[j]);
		}
	}
}

/* The URL without its path and query, which often hold the webhook's secret. */
static void redact(const char *url, char *out, size_t n)
{
	const char *host = strstr(url, "://");
	size_t len;
	host = host ? host + 3 : url;
	len = strcspn(host, "/?#");
	snprintf(out, n, "%.*s%.*s/...", (int)(host - url), url, (int)len, host);
}

static size_t discard(char *p, size_t size, size_t n, void *u)
{
	(void)p; (void)u;
	return size * n;
}

static int post(const char *url, const char *body, long *status, char *err, size_t errlen)
{
	CURL *c = curl_easy_init();
	struct curl_slist *h = NULL;
	char ebuf[CURL_ERROR_SIZE] = "";
	CURLcode cc;
	if (!c) {
		snprintf(err, errlen, "cannot start libcurl");
		return -1;
	}
	h = curl_slist_append(h, "Content-Type: application/json");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 3000L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "mdeploy/" MDEPLOY_VERSION_STRING);
	cc = curl_easy_perform(c);
	*status = 0;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	if (cc != CURLE_OK) {
		snprintf(err, errlen, "%s", ebuf[0] ? ebuf : curl_easy_strerror(cc));
		return -1;
	}
	if (*status < 200 || *status > 299) {
		snprintf(err, errlen, "the receiver answered HTTP %ld", *status);
		return -1;
	}
	return 0;
}

/*
 * A Teams Workflows webhook takes a message whose attachment is an Adaptive
 * Card (the Office 365 connectors' {"text"} is retired): the text, and a
 * button to the console page when there is one.
 */
static json_t *teams_workflows(const char *text, const char *link)
{
	json_t *card = json_pack("{s:s, s:s, s:s, s:[{s:s, s:s, s:b}]}", "$schema",
	                         "http://adaptivecards.io/schemas/adaptive-card.json", "type", "AdaptiveCard",
	                         "version", "1.4", "body", "type", "TextBlock", "text", text, "wrap", 1);
	if (card && link)
		json_object_set_new(card, "actions", json_pack("[{s:s, s:s, s:s}]", "type", "Action.OpenUrl",
		                                               "title", "Open in the console", "url", link));
	return card ? json_pack("{s:s, s:[{s:s, s:n, s:o}]}", "type", "message", "attachments", "contentType",
	                        "application/vnd.microsoft.card.adaptive", "contentUrl", "content", card) : NULL;
}

/* Where the console is: $MDEPLOY_CONSOLE_URL, else what `mdeploy serve` recorded. */
static char *console_url(mdeploy_store *store)
{
	const char *env = getenv("MDEPLOY_CONSOLE_URL");
	char *v = NULL;
	size_t n;
	if (env && *env)
		v = mdeploy__strdup(env);
	else if (mdeploy_store_value_get(store, "web/public-url", &v))
		mdeploy_error_clear();
	if (v && (n = strlen(v)) && v[n - 1] == '/')
		v[n - 1] = '\0';
	return v;
}

void mdeploy_pipeline__notify(mdeploy_ctx *ctx, mdeploy_store *store, const mdeploy_pipeline *p, const char *id,
                              const char *event, const char *action, const char *detail)
{
	char *base = NULL, *link = NULL, *text = NULL, *body;
	size_t i, j;

	if (!p->nnotify)
		return;
	base = console_url(store);
	if (base)
		link = mdeploy__sprintf("%s/#/executions/%s", base, id);
	if (!strcmp(event, "approval"))
		text = mdeploy__sprintf("mdeploy: pipeline %s (execution %.8s) waits for approval of %s%s%s",
		                        p->name, id, action, detail ? ": " : "", detail ? detail : "");
	else
		text = mdeploy__sprintf("mdeploy: pipeline %s (execution %.8s) %s%s%s", p->name, id, event,
		                        detail ? ": " : "", detail ? detail : "");
	for (i = 0; text && i < p->nnotify; i++) {
		const struct mdeploy_pipeline__notify_raw *n = &p->notify[i];
		const char *fmt = n->format ? n->format : "slack";
		json_t *doc;
		char shown[256], err[CURL_ERROR_SIZE + 64] = "", who[192];
		long status = 0;
		int want = !n->events_count;
		for (j = 0; j < n->events_count; j++)
			want |= !strcmp(n->events[j], event);
		if (!want || !n->url)
			continue;
		if (!strcmp(fmt, "json")) {
			doc = json_pack("{s:s, s:s, s:s, s:s, s:s?, s:s?, s:s?, s:s}", "event", event, "pipeline", p->name,
			                "execution", id, "text", text, "action", action, "detail", detail, "url", link,
			                "source", "mdeploy");
		} else if (!strcmp(fmt, "teams-workflows")) {
			doc = teams_workflows(text, link);
		} else {
			char *t = !link ? mdeploy__strdup(text) :
			          !strcmp(fmt, "slack") ? mdeploy__sprintf("%s <%s|Open in the console>", text, link) :
			          mdeploy__sprintf("%s [Open in the console](%s)", text, link);
			doc = t ? json_pack("{s:s}", "text", t) : NULL;
			free(t);
		}
		body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
		json_decref(doc);
		redact(n->url, shown, sizeof(shown));
		if (!body) {
			mdeploy__error_oom();
			continue;
		}
		snprintf(who, sizeof(who), "pipeline:%s", p->name);
		if (post(n->url, body, &status, err, sizeof(err))) {
			mdeploy__log(ctx, MDEPLOY_LOG_WARN, "pipeline", "%s: the %s notification to %s failed: %s", id,
			             event, shown, err);
			mdeploy_audit_record(ctx, who, "notify", shown, "failed", err);
		} else {
			mdeploy__log(ctx, MDEPLOY_LOG_INFO, "pipeline", "%s: %s notification sent to %s (HTTP %ld)", id,
			             event, shown, status);
			snprintf(err, sizeof(err), "%s %.8s", event, id);
			mdeploy_audit_record(ctx, who, "notify", shown, "done", err);
		}
		mdeploy_error_clear();
		free(body);
	}
	free(text);
	free(link);
	free(base);
}

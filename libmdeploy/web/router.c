/*
 * router.c - which handler answers a request: the pages and their assets
 * to anyone, /api/ to an authenticated token or session, and requests that
 * change something only to a write token that passes the CSRF check.
 */
#include "web_private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PARTS 6

/* Split "/api/a/b" into {"api", "a", "b"}; -1 when too deep or with empty or dot segments. */
static int split(const char *path, char *buf, size_t bufsz, char **parts)
{
	int n = 0;
	char *p, *save = NULL;
	size_t len = strlen(path);
	if (len >= bufsz || path[0] != '/')
		return -1;
	memcpy(buf, path, len + 1);
	for (p = strtok_r(buf, "/", &save); p; p = strtok_r(NULL, "/", &save)) {
		if (n >= MAX_PARTS || !strcmp(p, ".") || !strcmp(p, ".."))
			return -1;
		parts[n++] = p;
	}
	return n;
}

static void asset(web_reply *out, const char *name)
{
	const web_asset *a = mdeploy_web__asset(name);
	if (!a) {
		mdeploy_web__reply_error(out, 404, "no such page");
		return;
	}
	out->status = 200;
	out->body = (const char *)a->data;
	out->len = a->len;
	out->ctype = a->ctype;
}

static int is_get(web_req *r)
{
	return !strcmp(r->method, "GET") || !strcmp(r->method, "HEAD");
}

static int is_post(web_req *r)
{
	return !strcmp(r->method, "POST");
}

static void api(web_req *r, web_reply *out, char **p, int n)
{
	const char *what = n > 1 ? p[1] : "";

	/* Logging in is the one request without credentials. */
	if (n == 2 && !strcmp(what, "login")) {
		if (!is_post(r)) {
			mdeploy_web__reply_error(out, 405, "%s is not allowed here: use POST", r->method);
			return;
		}
		if (mdeploy_web__csrf_check(r, out) == 0)
			mdeploy_web__api_login(r, out);
		return;
	}
	if (mdeploy_web__authenticate(r) || !r->who.authed) {
		if (!out->status)
			mdeploy_web__reply_error(out, 401, "a token is needed: 'Authorization: Bearer TOKEN' or a session "
			                         "opened with POST /api/login (tokens: 'mdeploy serve token create NAME')");
		return;
	}
	if (is_post(r)) {
		if (n == 2 && !strcmp(what, "logout")) {
			if (mdeploy_web__csrf_check(r, out) == 0)
				mdeploy_web__api_logout(r, out);
			return;
		}
		if (!((n == 4 && !strcmp(what, "executions") && (!strcmp(p[3], "approve") || !strcmp(p[3], "reject"))) ||
		      (n == 4 && !strcmp(what, "deployments") && !strcmp(p[3], "stop")) ||
		      (n == 4 && !strcmp(what, "groups") && !strcmp(p[3], "rollback")))) {
			mdeploy_web__reply_error(out, n >= 2 && n <= 3 ? 405 : 404, "no action at %.200s", r->path);
			return;
		}
		if (mdeploy_web__csrf_check(r, out))
			return;
		if (r->who.read_only) {
			const char *act = !strcmp(what, "executions") ? p[3] : !strcmp(what, "deployments") ? "stop" : "rollback";
			mdeploy_audit_record(r->ctx, r->who.who, act, p[2], "denied",
			                     r->who.via_proxy ? "read-only proxy user" : "read-only token");
			if (r->who.via_proxy)
				mdeploy_web__reply_error(out, 403, "user '%s' (named by the proxy) is read-only: it cannot %s "
				                         "(mdeploy serve --proxy-writer gives the right)", r->who.name, act);
			else
				mdeploy_web__reply_error(out, 403, "token '%s' is read-only: it cannot %s", r->who.name, act);
			return;
		}
		if (!strcmp(what, "executions"))
			mdeploy_web__act_decide(r, out, p[2], !strcmp(p[3], "approve"));
		else if (!strcmp(what, "deployments"))
			mdeploy_web__act_stop(r, out, p[2]);
		else
			mdeploy_web__act_rollback(r, out, p[2]);
		return;
	}
	if (!is_get(r)) {
		mdeploy_web__reply_error(out, 405, "%.20s is not allowed here", r->method);
		return;
	}
	if (n == 2 && !strcmp(what, "session"))
		mdeploy_web__api_session(r, out);
	else if (n == 2 && !strcmp(what, "events"))
		mdeploy_web__api_events(r, out);
	else if (n == 2 && !strcmp(what, "pipelines"))
		mdeploy_web__api_pipelines(r, out);
	else if (n == 2 && !strcmp(what, "executions"))
		mdeploy_web__api_executions(r, out);
	else if (n == 3 && !strcmp(what, "executions"))
		mdeploy_web__api_execution(r, out, p[2]);
	else if (n == 4 && !strcmp(what, "executions") && !strcmp(p[3], "log"))
		mdeploy_web__api_execution_log(r, out, p[2]);
	else if (n == 2 && !strcmp(what, "approvals"))
		mdeploy_web__api_approvals(r, out);
	else if (n == 2 && !strcmp(what, "deployments"))
		mdeploy_web__api_deployments(r, out);
	else if (n == 3 && !strcmp(what, "deployments"))
		mdeploy_web__api_deployment(r, out, p[2]);
	else if ((n == 2 || n == 3) && !strcmp(what, "groups"))
		mdeploy_web__api_groups(r, out, n == 3 ? p[2] : NULL);
	else if ((n == 2 || n == 3) && !strcmp(what, "fleets"))
		mdeploy_web__api_fleets(r, out, n == 3 ? p[2] : NULL);
	else if (n == 3 && !strcmp(what, "lb"))
		mdeploy_web__api_lb(r, out, p[2]);
	else if (n == 2 && !strcmp(what, "audit"))
		mdeploy_web__api_audit(r, out);
	else if (n == 4 && ((!strcmp(what, "executions") && (!strcmp(p[3], "approve") || !strcmp(p[3], "reject"))) ||
	                    (!strcmp(what, "deployments") && !strcmp(p[3], "stop")) ||
	                    (!strcmp(what, "groups") && !strcmp(p[3], "rollback"))))
		mdeploy_web__reply_error(out, 405, "%.20s is not allowed here: use POST", r->method);
	else
		mdeploy_web__reply_error(out, 404, "no such API: %.200s", r->path);
}

void mdeploy_web__route(web_req *r, web_reply *out)
{
	char buf[1024], *p[MAX_PARTS];
	int n;

	if (strcmp(r->method, "GET") && strcmp(r->method, "HEAD") && strcmp(r->method, "POST")) {
		mdeploy_web__reply_error(out, 405, "method %.20s is not allowed", r->method);
		return;
	}
	if ((n = split(r->path, buf, sizeof(buf), p)) < 0) {
		mdeploy_web__reply_error(out, 404, "no such path");
		return;
	}
	if (n >= 1 && !strcmp(p[0], "api")) {
		api(r, out, p, n);
		return;
	}
	if (!is_get(r)) {
		mdeploy_web__reply_error(out, 405, "%.20s is not allowed here", r->method);
		return;
	}
	if (n == 0 || (n == 1 && !strcmp(p[0], "index.html")))
		asset(out, "index.html");
	else if (n == 2 && !strcmp(p[0], "assets"))
		asset(out, p[1]);
	else
		mdeploy_web__reply_error(out, 404, "no such page");
}

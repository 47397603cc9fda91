/*
 * query.c - the AWS Query protocol (STS, IAM, EC2, Auto Scaling, ELBv2,
 * CloudFormation): a form-encoded POST of Action, Version and the
 * parameters; the answer is XML (libxml2). Also the XML helpers the other
 * protocols use.
 */
#include "aws/aws_private.h"

#include <libxml/parser.h>
#include <libxml/xpath.h>
#include <stdlib.h>
#include <string.h>

int mdeploy_aws__xml_parse(xmlDoc **out, const char *data, size_t len, const char *what)
{
	*out = NULL;
	if (len > INT32_MAX)
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_NET, "aws: %s: XML answer too large",
		                          what ? what : "");
	/* no network, no entities, no DTD: the answer is data */
	*out = xmlReadMemory(data, (int)len, NULL, NULL, XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (!*out) {
		if (!what)
			return MDEPLOY_ECORRUPT;
		return mdeploy__error_set(MDEPLOY_ENETWORK, MDEPLOY_ERROR_CLASS_NET, "aws: %s: the answer is not XML", what);
	}
	return 0;
}

char *mdeploy_aws__xml_text(xmlDoc *doc, const char *path)
{
	mdeploy__buf xp = MDEPLOY__BUF_INIT;
	xmlXPathContext *ctx;
	xmlXPathObject *res;
	const char *p = path;
	char *out = NULL;

	if (mdeploy__buf_puts(&xp, "/"))
		return NULL;
	while (*p) {
		const char *slash = strchr(p, '/');
		size_t len = slash ? (size_t)(slash - p) : strlen(p);
		if (mdeploy__buf_printf(&xp, "/*[local-name()='%.*s']", (int)len, p)) {
			mdeploy__buf_dispose(&xp);
			return NULL;
		}
		p += len;
		if (*p == '/')
			p++;
	}
	if (!(ctx = xmlXPathNewContext(doc))) {
		mdeploy__buf_dispose(&xp);
		return NULL;
	}
	res = xmlXPathEvalExpression((const xmlChar *)xp.ptr, ctx);
	if (res && res->nodesetval && res->nodesetval->nodeNr > 0) {
		xmlChar *t = xmlNodeGetContent(res->nodesetval->nodeTab[0]);
		if (t) {
			out = strdup((const char *)t);
			xmlFree(t);
		}
	}
	xmlXPathFreeObject(res);
	xmlXPathFreeContext(ctx);
	mdeploy__buf_dispose(&xp);
	return out;
}

/*
 * A form field: RFC 3986 percent-encoding, but a space as '+', as
 * application/x-www-form-urlencoded has it (and as urlencode() re-encodes
 * a parsed form: moto checks a form body's signature that way, so a value
 * with spaces, like a TemplateBody, failed its check with %20).
 */
static int form_encode(mdeploy__buf *b, const char *s)
{
	int rc = 0;
	while (*s && !rc) {
		size_t n = strcspn(s, " ");
		rc = mdeploy_aws__uri_encode(b, s, n, 0);
		s += n;
		if (*s == ' ' && !rc) {
			rc = mdeploy__buf_puts(b, "+");
			s++;
		}
	}
	return rc;
}

static int query_call(mdeploy_aws__client *c, const char *service, const char *env_id, const char *version,
                      const char *action, const char *const *params, int attempts, long *status,
                      xmlDoc **response)
{
	mdeploy_aws__request req = MDEPLOY_AWS__REQUEST_INIT;
	mdeploy_aws__response resp;
	mdeploy_aws_header h[1] = { { "Content-Type", "application/x-www-form-urlencoded; charset=utf-8" } };
	mdeploy__buf body = MDEPLOY__BUF_INIT;
	char *endpoint = NULL, *url = NULL;
	const char *sname = service ? service : "sts";
	size_t i;
	int custom, rc;

	*response = NULL;
	if ((rc = mdeploy__buf_puts(&body, "Action=")) ||
	    (rc = mdeploy_aws__uri_encode(&body, action, strlen(action), 0)) ||
	    (rc = mdeploy__buf_puts(&body, "&Version=")) ||
	    (rc = mdeploy_aws__uri_encode(&body, version, strlen(version), 0)))
		goto out;
	for (i = 0; params && params[i] && params[i + 1]; i += 2) {
		if ((rc = mdeploy__buf_puts(&body, "&")) ||
		    (rc = mdeploy_aws__uri_encode(&body, params[i], strlen(params[i]), 0)) ||
		    (rc = mdeploy__buf_puts(&body, "=")) ||
		    (rc = form_encode(&body, params[i + 1])))
			goto out;
	}
	if ((rc = mdeploy_aws__endpoint(&endpoint, &custom, c, sname, env_id)))
		goto out;
	if (!(url = mdeploy__sprintf("%s/", endpoint))) {
		rc = mdeploy__error_oom();
		goto out;
	}
	req.service = sname;
	req.method = "POST";
	req.url = url;
	req.headers = h;
	req.nheaders = 1;
	req.body = body.ptr;
	req.body_len = body.size;
	/* service NULL: an unsigned STS call (AssumeRoleWithWebIdentity) */
	req.unsigned_request = service == NULL;
	req.max_attempts = attempts;
	rc = mdeploy_aws__send(c, &req, &resp);
	if (status)
		*status = resp.status;
	if (!rc)
		rc = mdeploy_aws__xml_parse(response, resp.body.ptr ? resp.body.ptr : "", resp.body.size, action);
	if (resp.body.ptr)
		memset(resp.body.ptr, 0, resp.body.size);
	mdeploy_aws__response_dispose(&resp);
out:
	if (body.ptr)
		memset(body.ptr, 0, body.size);
	mdeploy__buf_dispose(&body);
	free(endpoint);
	free(url);
	return rc;
}

int mdeploy_aws__query_call(mdeploy_aws__client *c, const char *service, const char *env_id, const char *version,
                            const char *action, const char *const *params, xmlDoc **response)
{
	return query_call(c, service, env_id, version, action, params, 0, NULL, response);
}

int mdeploy_aws__query_call_once(mdeploy_aws__client *c, const char *service, const char *env_id,
                                 const char *version, const char *action, const char *const *params,
                                 long *status, xmlDoc **response)
{
	*status = 0;
	return query_call(c, service, env_id, version, action, params, 1, status, response);
}

/*
 * cdn.c - the CDN in front of a group: a CloudFront distribution whose
 * paths a cutover invalidates (CreateInvalidation, REST-XML, 2020-05-31;
 * a global service: https://cloudfront.amazonaws.com, signed for
 * us-east-1). The deployment id is the CallerReference, so a step replayed
 * after a crash gets the same invalidation back instead of a second one.
 * mdeploy does not wait for it to complete (minutes; CloudFront finishes it
 * on its own): the invalidation id goes to the journal.
 */
#include "ops.h"

#include <libxml/tree.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLS MDEPLOY_ERROR_CLASS_PROVIDER

static int xml_text(mdeploy__buf *b, const char *s)
{
	int rc = 0;
	for (; !rc && *s; s++) {
		switch (*s) {
		case '&': rc = mdeploy__buf_puts(b, "&amp;"); break;
		case '<': rc = mdeploy__buf_puts(b, "&lt;"); break;
		case '>': rc = mdeploy__buf_puts(b, "&gt;"); break;
		case '"': rc = mdeploy__buf_puts(b, "&quot;"); break;
		default: rc = mdeploy__buf_put(b, s, 1);
		}
	}
	return rc;
}

int mdeploy_awsp__cdn_invalidate(mdeploy_provider *p, const char *distribution, const char *const *paths,
                                 const char *reference, char *id, size_t n)
{
	mdeploy_awsp *a = MDEPLOY_AWSP(p);
	mdeploy_aws__request req = MDEPLOY_AWS__REQUEST_INIT;
	mdeploy_aws__response resp;
	mdeploy_aws_header h[1] = { { "Content-Type", "application/xml" } };
	mdeploy__buf b = MDEPLOY__BUF_INIT;
	char *base = NULL, *url = NULL, *inv = NULL;
	xmlDoc *doc = NULL;
	size_t i, count = 0;
	int custom, rc;

	while (paths[count])
		count++;
	rc = mdeploy__buf_printf(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<InvalidationBatch xmlns="
	                         "\"http://cloudfront.amazonaws.com/doc/2020-05-31/\"><Paths><Quantity>%zu</Quantity>"
	                         "<Items>", count);
	for (i = 0; !rc && i < count; i++) {
		rc = mdeploy__buf_puts(&b, "<Path>");
		if (!rc) rc = xml_text(&b, paths[i]);
		if (!rc) rc = mdeploy__buf_puts(&b, "</Path>");
	}
	if (!rc) rc = mdeploy__buf_puts(&b, "</Items></Paths><CallerReference>");
	if (!rc) rc = xml_text(&b, reference);
	if (!rc) rc = mdeploy__buf_puts(&b, "</CallerReference></InvalidationBatch>");
	if (rc)
		goto out;
	if ((rc = mdeploy_aws__endpoint(&base, &custom, a->client, "cloudfront", "CLOUDFRONT")))
		goto out;
	if (!custom) {
		free(base);
		base = mdeploy__strdup("https://cloudfront.amazonaws.com"); /* global, not per region */
	}
	if (!base || !(url = mdeploy__sprintf("%s/2020-05-31/distribution/%s/invalidation", base, distribution))) {
		rc = mdeploy__error_oom();
		goto out;
	}
	mdeploy__log(p->ctx, MDEPLOY_LOG_DEBUG, "aws", "call cloudfront:CreateInvalidation");
	req.service = "cloudfront";
	req.method = "POST";
	req.url = url;
	req.headers = h;
	req.nheaders = 1;
	req.body = b.ptr;
	req.body_len = b.size;
	req.signing_region = "us-east-1";
	rc = mdeploy_aws__send(a->client, &req, &resp);
	if (!rc && (rc = mdeploy_aws__xml_parse(&doc, resp.body.ptr, resp.body.size, "CreateInvalidation")) == 0) {
		if ((inv = mdeploy_aws__xml_text(doc, "Invalidation/Id")))
			snprintf(id, n, "%s", inv);
		else
			rc = mdeploy__error_set(MDEPLOY_ERROR, CLS, "aws: cloudfront:CreateInvalidation answered no id");
	} else if (rc && rc != MDEPLOY_ENOMEM) {
		mdeploy__error_prefix("aws: cloudfront:CreateInvalidation of distribution %s", distribution);
	}
	mdeploy_aws__response_dispose(&resp);
out:
	xmlFree(inv);
	xmlFreeDoc(doc);
	mdeploy__buf_dispose(&b);
	free(base);
	free(url);
	return rc;
}

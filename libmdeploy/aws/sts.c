/*
 * sts.c - STS GetCallerIdentity: which account and principal the
 * credentials are (mdeploy doctor).
 */
#include "aws/aws_private.h"

#include <libxml/tree.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void copy(char *dst, size_t n, const char *src)
{
	snprintf(dst, n, "%s", src ? src : "");
}

int mdeploy_aws_whoami(mdeploy_aws_identity *out, const char *region, const char *endpoint, const char *profile)
{
	mdeploy_aws__client_options o = { region, endpoint, profile };
	mdeploy_aws__client *c = NULL;
	mdeploy_aws__creds cr = { 0 };
	xmlDoc *doc = NULL;
	char *ep = NULL, *account = NULL, *arn = NULL, *uid = NULL;
	int custom, rc;

	if (!out)
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_NET, "aws whoami: missing argument");
	memset(out, 0, sizeof(*out));
	if ((rc = mdeploy_aws__client_new(&c, &o)))
		return rc;
	copy(out->region, sizeof(out->region), mdeploy_aws__client_region(c));
	if ((rc = mdeploy_aws__endpoint(&ep, &custom, c, "sts", "STS")))
		goto out;
	copy(out->endpoint, sizeof(out->endpoint), ep);
	if ((rc = mdeploy_aws__credentials(&cr, c)))
		goto out;
	copy(out->credentials_source, sizeof(out->credentials_source), cr.source);
	mdeploy_aws__creds_dispose(&cr);
	if ((rc = mdeploy_aws__query_call(c, "sts", "STS", "2011-06-15", "GetCallerIdentity", NULL, &doc)))
		goto out;
	account = mdeploy_aws__xml_text(doc, "GetCallerIdentityResult/Account");
	arn = mdeploy_aws__xml_text(doc, "GetCallerIdentityResult/Arn");
	uid = mdeploy_aws__xml_text(doc, "GetCallerIdentityResult/UserId");
	if (!account || !arn) {
		rc = mdeploy__error_set(MDEPLOY_ENETWORK, MDEPLOY_ERROR_CLASS_NET,
		                        "aws sts: GetCallerIdentity answered without Account/Arn");
		goto out;
	}
	copy(out->account, sizeof(out->account), account);
	copy(out->arn, sizeof(out->arn), arn);
	copy(out->user_id, sizeof(out->user_id), uid);
out:
	xmlFreeDoc(doc);
	free(ep);
	free(account);
	free(arn);
	free(uid);
	mdeploy_aws__client_free(c);
	return rc;
}

/*
 * json.c - the AWS JSON protocol (1.0 for DynamoDB, 1.1 for SSM and
 * Secrets Manager): POST / with X-Amz-Target: <Service>.<Operation> and a
 * JSON body; the answer is a JSON document (jansson).
 */
#include "aws/aws_private.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int mdeploy_aws__json_call(mdeploy_aws__client *c, const char *service, const char *env_id,
                           const char *json_version, const char *target, json_t *request, json_t **response)
{
	mdeploy_aws__request req = MDEPLOY_AWS__REQUEST_INIT;
	mdeploy_aws__response resp;
	mdeploy_aws_header h[2];
	char *endpoint = NULL, *url = NULL, *body = NULL, ctype[48];
	json_error_t jerr;
	int custom, rc;

	*response = NULL;
	if (!(body = json_dumps(request, JSON_COMPACT)))
		return mdeploy__error_oom();
	if ((rc = mdeploy_aws__endpoint(&endpoint, &custom, c, service, env_id)))
		goto out;
	if (!(url = mdeploy__sprintf("%s/", endpoint))) {
		rc = mdeploy__error_oom();
		goto out;
	}
	snprintf(ctype, sizeof(ctype), "application/x-amz-json-%s", json_version);
	h[0] = (mdeploy_aws_header){ "Content-Type", ctype };
	h[1] = (mdeploy_aws_header){ "X-Amz-Target", target };
	req.service = service;
	req.method = "POST";
	req.url = url;
	req.headers = h;
	req.nheaders = 2;
	req.body = body;
	req.body_len = strlen(body);
	rc = mdeploy_aws__send(c, &req, &resp);
	if (!rc) {
		*response = json_loadb(resp.body.ptr ? resp.body.ptr : "{}", resp.body.ptr ? resp.body.size : 2, 0, &jerr);
		if (!*response)
			rc = mdeploy__error_set(MDEPLOY_ENETWORK, MDEPLOY_ERROR_CLASS_NET,
			                        "aws %s: %s: the answer is not JSON (%s)", service, target, jerr.text);
	}
	if (resp.body.ptr)
		memset(resp.body.ptr, 0, resp.body.size); /* may hold secret values */
	mdeploy_aws__response_dispose(&resp);
out:
	if (body) {
		memset(body, 0, strlen(body));
		free(body);
	}
	free(endpoint);
	free(url);
	return rc;
}

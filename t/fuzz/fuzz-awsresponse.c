/*
 * fuzz-awsresponse.c - libFuzzer target for what AWS (or anything posing as
 * an endpoint) answers: error bodies in JSON or XML (errors.c) and XML
 * results read by local name (query.c). The first byte picks the HTTP status
 * class. Without clang, replay.c runs the corpus (t/fuzz/corpus/awsresponse/)
 * under `make check`.
 */
#include "aws/aws_private.h"

#include <libxml/tree.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const long statuses[] = { 400, 403, 404, 409, 412, 429, 500, 503 };
	char *code = NULL, *t;
	xmlDoc *doc = NULL;
	long status;
	int rc;

	if (size < 1)
		return 0;
	status = statuses[data[0] % 8];
	rc = mdeploy_aws__error_set("fuzz", status, (const char *)data + 1, size - 1, NULL, "req-1", &code);
	/* always an error, always a code, always a message naming the service */
	if (rc >= 0 || !code || !*code || strncmp(mdeploy_error_last()->message, "aws fuzz: ", 10))
		__builtin_trap();
	(void)mdeploy_aws__error_is_throttle(code);
	(void)mdeploy_aws__error_is_skew(code, mdeploy_error_last()->message);
	free(code);
	if (mdeploy_aws__xml_parse(&doc, (const char *)data + 1, size - 1, NULL) == 0) {
		t = mdeploy_aws__xml_text(doc, "GetCallerIdentityResult/Arn");
		free(t);
		t = mdeploy_aws__xml_text(doc, "Credentials/SessionToken");
		free(t);
		xmlFreeDoc(doc);
	}
	return 0;
}

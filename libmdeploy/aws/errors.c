/*
 * errors.c - AWS error responses to mdeploy errors. The service's error
 * code, message and request id are read from the body (JSON 1.x: __type and
 * message; Query and REST-XML: <Error><Code/><Message/></Error> and
 * <RequestId/>), or from the x-amzn-ErrorType / request id headers, and the
 * code is mapped to an MDEPLOY_E* code:
 *
 *   not found (ParameterNotFound, ResourceNotFoundException, NoSuchKey...) -> ENOTFOUND
 *   already exists                                                        -> EEXISTS
 *   refused credentials or permissions, signature mismatch                -> EAUTH
 *   validation                                                            -> EINVALID
 *   a failed precondition (S3 If-Match)                                   -> ECONFLICT
 *   throttling, 5xx, anything else                                        -> ENETWORK
 */
#include "aws/aws_private.h"

#include <jansson.h>
#include <libxml/parser.h>
#include <string.h>
#include <strings.h>

static const char *const throttle_codes[] = {
	"Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException",
	"TooManyRequestsException", "ProvisionedThroughputExceededException", "TransactionInProgressException",
	"RequestLimitExceeded", "BandwidthLimitExceeded", "LimitExceededException", "RequestThrottled", "SlowDown",
	"PriorRequestNotComplete", "EC2ThrottledException", NULL
};
static const char *const transient_codes[] = { "RequestTimeout", "RequestTimeoutException", "InternalError",
	                                       "InternalFailure", "ServiceUnavailable", "InternalServerError",
	                                       "InternalServiceError", NULL };
static const char *const auth_codes[] = { "AccessDenied", "AccessDeniedException", "UnrecognizedClientException",
	                                  "InvalidClientTokenId", "SignatureDoesNotMatch", "InvalidSignatureException",
	                                  "ExpiredToken", "ExpiredTokenException", "InvalidAccessKeyId",
	                                  "MissingAuthenticationToken", "AuthFailure", "IncompleteSignature",
	                                  "NotAuthorized", "InvalidToken", "RequestTimeTooSkewed", "RequestExpired",
	                                  "KMSAccessDeniedException", "InvalidIdentityToken", NULL };
static const char *const notfound_codes[] = { "ParameterNotFound", "ParameterVersionNotFound",
	                                      "ResourceNotFoundException", "NoSuchKey", "NoSuchBucket",
	                                      "NoSuchEntity", "NoSuchUpload", "NotFound", "NotFoundException",
	                                      "ValidationError:NotFound", NULL };
static const char *const exists_codes[] = { "ParameterAlreadyExists", "ResourceExistsException",
	                                    "BucketAlreadyOwnedByYou", "BucketAlreadyExists", "EntityAlreadyExists",
	                                    "AlreadyExistsException", "ConditionalCheckFailedException", NULL };
static const char *const invalid_codes[] = { "ValidationException", "ValidationError", "InvalidParameterException",
	                                     "InvalidRequestException", "InvalidParameterValue", "InvalidArgument",
	                                     "MalformedXML", "InvalidRequest", "ParameterMaxVersionLimitExceeded",
	                                     "HierarchyLevelLimitExceededException", "InvalidDigest", "BadDigest",
	                                     "EntityTooSmall", "InvalidPart", "InvalidPartOrder", NULL };

static const char *const conflict_codes[] = { "PreconditionFailed", "ConditionalRequestConflict",
	                                      "OperationAborted", NULL };

static int in(const char *const *list, const char *code)
{
	for (; code && *list; list++)
		if (!strcmp(*list, code))
			return 1;
	return 0;
}

int mdeploy_aws__error_is_throttle(const char *code)
{
	return in(throttle_codes, code);
}

int mdeploy_aws__error_is_transient(const char *code)
{
	return in(transient_codes, code);
}

int mdeploy_aws__error_is_skew(const char *code, const char *message)
{
	if (!code)
		return 0;
	if (!strcmp(code, "RequestTimeTooSkewed") || !strcmp(code, "RequestExpired") ||
	    !strcmp(code, "RequestInTheFuture"))
		return 1;
	return (!strcmp(code, "InvalidSignatureException") || !strcmp(code, "SignatureDoesNotMatch") ||
	        !strcmp(code, "AuthFailure")) &&
	       message && (strstr(message, "Signature expired") || strstr(message, "Signature not yet current"));
}

/* "com.amazonaws.ssm#ParameterNotFound" or "ParameterNotFound:http://..." -> "ParameterNotFound" */
static char *short_code(const char *t)
{
	const char *hash = strrchr(t, '#'), *colon;
	size_t len;
	if (hash)
		t = hash + 1;
	colon = strchr(t, ':');
	len = colon ? (size_t)(colon - t) : strlen(t);
	return strndup(t, len);
}

static int is_json(const char *body, size_t len)
{
	size_t i;
	for (i = 0; i < len; i++)
		if (body[i] != ' ' && body[i] != '\n' && body[i] != '\r' && body[i] != '\t')
			return body[i] == '{';
	return 0;
}

static char *xml_first(xmlDoc *doc, const char *name)
{
	return mdeploy_aws__xml_text(doc, name);
}

int mdeploy_aws__error_set(const char *service, long status, const char *body, size_t len,
                           const char *header_type, const char *header_request_id, char **code_out)
{
	char *code = NULL, *message = NULL, *reqid = NULL, *clean = NULL;
	int rc;

	*code_out = NULL;
	if (len && is_json(body, len)) {
		json_t *doc = json_loadb(body, len, 0, NULL);
		if (doc) {
			const char *t = json_string_value(json_object_get(doc, "__type"));
			const char *m = json_string_value(json_object_get(doc, "message"));
			if (!t)
				t = json_string_value(json_object_get(doc, "code"));
			if (!m)
				m = json_string_value(json_object_get(doc, "Message"));
			if (t)
				code = short_code(t);
			if (m)
				message = strdup(m);
			json_decref(doc);
		}
	} else if (len) {
		xmlDoc *doc = NULL;
		if (!mdeploy_aws__xml_parse(&doc, body, len, NULL)) {
			code = xml_first(doc, "Error/Code");
			message = xml_first(doc, "Error/Message");
			reqid = xml_first(doc, "RequestId");
			xmlFreeDoc(doc);
		}
	}
	if (code && !*code) {
		/* <Code/> or "__type": "" says nothing */
		free(code);
		code = NULL;
	}
	if (!code && header_type && (code = short_code(header_type)) && !*code) {
		free(code);
		code = NULL;
	}
	if (!code) {
		code = mdeploy__sprintf("HTTP%ld", status);
		if (status == 404) {
			free(code);
			code = strdup("NotFound");
		}
	}
	if (!reqid && header_request_id)
		reqid = strdup(header_request_id);
	/* the message is the service's text: keep it on one line */
	if (message) {
		char *p;
		for (p = message; *p; p++)
			if ((unsigned char)*p < ' ')
				*p = ' ';
		clean = message;
	}

	if (in(notfound_codes, code))
		rc = MDEPLOY_ENOTFOUND;
	else if (in(conflict_codes, code) || status == 412)
		rc = MDEPLOY_ECONFLICT;
	else if (in(exists_codes, code))
		rc = MDEPLOY_EEXISTS;
	else if (in(auth_codes, code) || status == 401 || status == 403)
		rc = MDEPLOY_EAUTH;
	else if (in(invalid_codes, code))
		rc = MDEPLOY_EINVALID;
	else if (status == 404)
		rc = MDEPLOY_ENOTFOUND;
	else
		rc = MDEPLOY_ENETWORK;
	mdeploy__error_set(rc, MDEPLOY_ERROR_CLASS_NET, "aws %s: %s%s%s (HTTP %ld%s%s)", service,
	                   code ? code : "error", clean ? ": " : "", clean ? clean : "", status,
	                   reqid ? ", request id " : "", reqid ? reqid : "");
	free(message);
	free(reqid);
	*code_out = code;
	return rc;
}

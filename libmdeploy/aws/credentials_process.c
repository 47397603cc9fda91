/*
 * credentials_process.c - credentials from the profile's credential_process
 * (the AWS CLI's "sourcing credentials with an external process"):
 *
 *   [profile deploy]
 *   credential_process = /usr/local/bin/vault-aws-creds --role "moodle deploy"
 *
 * The line is split into words as the AWS CLI splits it (shlex) and run
 * without a shell, so nothing in it is ever interpreted by one. The process
 * prints one JSON document on stdout:
 *
 *   {"Version": 1, "AccessKeyId": "...", "SecretAccessKey": "...",
 *    "SessionToken": "...", "Expiration": "2026-12-07T20:00:00Z"}
 *
 * (SessionToken and Expiration optional: without Expiration the keys are
 * kept for the life of the client, with it they are fetched again 5
 * minutes before). Its output is never logged nor put into a message, and
 * is wiped once read; a failure says its exit status and the last line it
 * wrote on stderr.
 */
#include "aws/aws_private.h"
#include "mdeploy/exec.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROCESS_TIMEOUT_MS 60000

void mdeploy_aws__words_free(char **argv)
{
	size_t i;
	for (i = 0; argv && argv[i]; i++)
		free(argv[i]);
	free(argv);
}

int mdeploy_aws__words(char ***out, const char *line)
{
	mdeploy__buf w = MDEPLOY__BUF_INIT;
	char **argv = NULL;
	size_t n = 0;
	const char *p = line;
	int in_word = 0, rc = 0;

	*out = NULL;
	for (;;) {
		char ch = *p;
		if (ch == '\0' || ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r') {
			if (in_word) {
				char **na = realloc(argv, (n + 2) * sizeof(*na));
				if (!na) {
					rc = mdeploy__error_oom();
					break;
				}
				argv = na;
				if (!(argv[n] = mdeploy__strdup(w.size ? mdeploy__buf_cstr(&w) : ""))) {
					rc = mdeploy__error_oom();
					break;
				}
				argv[++n] = NULL;
				mdeploy__buf_dispose(&w);
				in_word = 0;
			}
			if (ch == '\0')
				break;
			p++;
			continue;
		}
		in_word = 1;
		if (ch == '\'') {
			const char *end = strchr(p + 1, '\'');
			if (!end) {
				rc = mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_CONFIG, "no closing quotation");
				break;
			}
			mdeploy__buf_put(&w, p + 1, (size_t)(end - p - 1));
			p = end + 1;
		} else if (ch == '"') {
			p++;
			while (*p && *p != '"') {
				if (*p == '\\' && (p[1] == '"' || p[1] == '\\' || p[1] == '$' || p[1] == '`'))
					p++;
				mdeploy__buf_put(&w, p, 1);
				p++;
			}
			if (*p != '"') {
				rc = mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_CONFIG, "no closing quotation");
				break;
			}
			p++;
		} else if (ch == '\\') {
			if (!p[1]) {
				rc = mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_CONFIG, "no escaped character");
				break;
			}
			mdeploy__buf_put(&w, p + 1, 1);
			p += 2;
		} else {
			mdeploy__buf_put(&w, p, 1);
			p++;
		}
	}
	mdeploy__buf_dispose(&w);
	if (!rc && !n)
		rc = mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_CONFIG, "empty command");
	if (rc) {
		mdeploy_aws__words_free(argv);
		return rc;
	}
	*out = argv;
	return 0;
}

/* The last non-empty line of the process's stderr, cut to fit a message. */
static void last_line(char *buf, size_t n, const char *s, size_t len)
{
	size_t end = len, start;
	while (end > 0 && (s[end - 1] == '\n' || s[end - 1] == '\r' || s[end - 1] == ' '))
		end--;
	start = end;
	while (start > 0 && s[start - 1] != '\n')
		start--;
	if (end - start > 200)
		end = start + 200;
	snprintf(buf, n, "%.*s", (int)(end - start), s + start);
	for (; *buf; buf++)
		if ((unsigned char)*buf < ' ')
			*buf = ' ';
}

static int parse(mdeploy_aws__creds *out, const char *profile, const char *text, size_t len)
{
	json_error_t jerr;
	json_t *doc = json_loadb(text, len, 0, &jerr);
	const char *id, *secret, *token, *exp;
	int64_t expiration = 0;
	int rc;

	/* Never quote the output: it is a secret. */
	if (!json_is_object(doc)) {
		json_decref(doc);
		return mdeploy__error_set(MDEPLOY_EAUTH, MDEPLOY_ERROR_CLASS_CONFIG,
		                          "aws: profile '%s': credential_process did not print a JSON object", profile);
	}
	if (!json_is_integer(json_object_get(doc, "Version")) ||
	    json_integer_value(json_object_get(doc, "Version")) != 1) {
		json_decref(doc);
		return mdeploy__error_set(MDEPLOY_EAUTH, MDEPLOY_ERROR_CLASS_CONFIG,
		                          "aws: profile '%s': credential_process output has no \"Version\": 1", profile);
	}
	id = json_string_value(json_object_get(doc, "AccessKeyId"));
	secret = json_string_value(json_object_get(doc, "SecretAccessKey"));
	token = json_string_value(json_object_get(doc, "SessionToken"));
	exp = json_string_value(json_object_get(doc, "Expiration"));
	if (!id || !*id || !secret || !*secret) {
		json_decref(doc);
		return mdeploy__error_set(MDEPLOY_EAUTH, MDEPLOY_ERROR_CLASS_CONFIG,
		                          "aws: profile '%s': credential_process output has no AccessKeyId/SecretAccessKey",
		                          profile);
	}
	if (exp && (rc = mdeploy_aws__parse_time(&expiration, exp))) {
		json_decref(doc);
		mdeploy__error_prefix("aws: profile '%s': credential_process Expiration", profile);
		return MDEPLOY_EAUTH;
	}
	rc = mdeploy_aws__creds_set(out, id, secret, token, expiration, "credential_process");
	/* jansson's copies of the strings: wipe them before they go back to malloc */
	{
		const char *keys[] = { "AccessKeyId", "SecretAccessKey", "SessionToken" };
		size_t i;
		for (i = 0; i < 3; i++) {
			const char *v = json_string_value(json_object_get(doc, keys[i]));
			if (v)
				memset((char *)v, 0, strlen(v));
		}
	}
	json_decref(doc);
	return rc;
}

int mdeploy_aws__credential_process(mdeploy_aws__creds *out, mdeploy_aws__client *c)
{
	const char *line = mdeploy_aws__profile_value(c, "credential_process");
	mdeploy_exec_options eo = MDEPLOY_EXEC_OPTIONS_INIT;
	mdeploy_exec_result *res = NULL;
	char **argv = NULL, why[256];
	const char *text;
	size_t len;
	int rc;

	if (!line)
		return 1;
	if ((rc = mdeploy_aws__words(&argv, line))) {
		mdeploy__error_prefix("aws: profile '%s': credential_process", c->profile);
		return rc;
	}
	eo.timeout_ms = PROCESS_TIMEOUT_MS;
	eo.search_path = 1;
	eo.capture_max = 64 * 1024;
	rc = mdeploy_exec_run(&res, (const char *const *)argv, &eo);
	if (rc) {
		mdeploy__error_prefix("aws: profile '%s': credential_process '%s'", c->profile, argv[0]);
		mdeploy_aws__words_free(argv);
		mdeploy_exec_result_free(res);
		return rc == MDEPLOY_ENOTFOUND ? MDEPLOY_EAUTH : rc;
	}
	text = mdeploy_exec_result_stdout(res, &len);
	if (!mdeploy_exec_result_success(res)) {
		const char *err = mdeploy_exec_result_stderr(res, &len);
		last_line(why, sizeof(why), err ? err : "", err ? len : 0);
		rc = mdeploy__error_set(MDEPLOY_EAUTH, MDEPLOY_ERROR_CLASS_CONFIG,
		                        "aws: profile '%s': credential_process '%s' failed (%s)%s%s", c->profile, argv[0],
		                        mdeploy_exec_result_describe(res), why[0] ? ": " : "", why);
	} else if (mdeploy_exec_result_truncated(res)) {
		rc = mdeploy__error_set(MDEPLOY_EAUTH, MDEPLOY_ERROR_CLASS_CONFIG,
		                        "aws: profile '%s': credential_process '%s' printed more than 64 KiB", c->profile,
		                        argv[0]);
	} else {
		rc = parse(out, c->profile, text ? text : "", text ? len : 0);
	}
	text = mdeploy_exec_result_stdout(res, &len);
	if (text)
		memset((char *)text, 0, len);
	mdeploy_exec_result_free(res);
	mdeploy_aws__words_free(argv);
	return rc;
}

/* The local parameter, secret and artifact stores. */
#include "mdeploy_private.h"
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char listed[4096];

static int collect_param(const mdeploy_param *p, void *payload)
{
	(void)payload;
	strcat(listed, p->name);
	strcat(listed, "=");
	strcat(listed, p->value);
	strcat(listed, ";");
	return 0;
}

static int collect_secret(const mdeploy_secret_info *i, void *payload)
{
	(void)payload;
	strcat(listed, i->name);
	strcat(listed, i->previous_version ? "(2);" : "(1);");
	return 0;
}

static int collect_artifact(const mdeploy_artifact *a, void *payload)
{
	char line[128];
	(void)payload;
	snprintf(line, sizeof(line), "%s@%llu;", a->name, (unsigned long long)a->revision);
	strcat(listed, line);
	return 0;
}

static char *path(const char *tmp, const char *rel)
{
	return mdeploy__sprintf("%s/%s", tmp, rel);
}

int main(void)
{
	const char *tmp = test_tmpdir();
	mdeploy_ctx_options co = MDEPLOY_CTX_OPTIONS_INIT;
	mdeploy_ctx *ctx = NULL;
	mdeploy_params *params = NULL;
	mdeploy_secrets *secrets = NULL;
	mdeploy_secrets_options so = MDEPLOY_SECRETS_OPTIONS_INIT;
	mdeploy_artifacts *arts = NULL;
	mdeploy_artifacts_gc_options go = MDEPLOY_ARTIFACTS_GC_OPTIONS_INIT;
	mdeploy_param *p = NULL;
	mdeploy_artifact *a = NULL, *a2 = NULL;
	char *v = NULL, *s, *data, id1[33], id2[33];
	uint64_t ver = 0, freed = 0;
	size_t len;
	struct stat st;
	int i;

	plan_lazy();
	s = path(tmp, "state");
	co.state_dir = s;
	is_int(0, mdeploy_ctx_new(&ctx, &co), "context");
	free(s);

	/* Parameters. */
	is_int(0, mdeploy_params_open(&params, ctx, NULL), "params open");
	is_int(0, mdeploy_params_put(params, "/moodle/prod/dbhost", "db1", 0, &ver), "put");
	is_int(1, (long long)ver, "version 1");
	is_int(MDEPLOY_EEXISTS, mdeploy_params_put(params, "/moodle/prod/dbhost", "db2", 0, NULL), "put again without overwrite: refused");
	is_int(0, mdeploy_params_put(params, "/moodle/prod/dbhost", "db2", MDEPLOY_PARAMS_OVERWRITE, &ver), "overwrite");
	is_int(2, (long long)ver, "version 2");
	is_int(0, mdeploy_params_put(params, "/moodle/prod/dbhost", "db2", MDEPLOY_PARAMS_OVERWRITE, &ver), "same value");
	is_int(2, (long long)ver, "same value adds no version");
	is_int(0, mdeploy_params_get(&p, params, "/moodle/prod/dbhost"), "get");
	is_str("db2", p ? p->value : NULL, "newest value");
	is_str("String", p ? p->type : NULL, "type");
	mdeploy_param_free(p);
	is_int(0, mdeploy_params_get(&p, params, "/moodle/prod/dbhost:1"), "get version 1");
	is_str("db1", p ? p->value : NULL, "old value still there");
	mdeploy_param_free(p);
	is_int(MDEPLOY_ENOTFOUND, mdeploy_params_get(&p, params, "/moodle/prod/dbhost:9"), "missing version");
	is_int(MDEPLOY_ENOTFOUND, mdeploy_params_get(&p, params, "/moodle/prod/nothing"), "missing parameter");
	like(mdeploy_error_last()->message, "'/moodle/prod/nothing' does not exist", "error names it");
	is_int(MDEPLOY_EINVALID, mdeploy_params_put(params, "moodle/x", "v", 0, NULL), "name without leading slash: refused");
	is_int(MDEPLOY_EINVALID, mdeploy_params_put(params, "/a//b", "v", 0, NULL), "empty component: refused");
	is_int(MDEPLOY_EINVALID, mdeploy_params_put(params, "/a/b c", "v", 0, NULL), "space: refused");
	mdeploy_params_put(params, "/moodle/prod/wwwroot", "https://moodle.example", 0, NULL);
	mdeploy_params_put(params, "/moodle/prod/cache/redis", "r1", 0, NULL);
	mdeploy_params_put(params, "/moodle/staging/dbhost", "sdb", 0, NULL);
	listed[0] = '\0';
	is_int(0, mdeploy_params_list(params, "/moodle/prod", 0, collect_param, NULL), "list a path");
	is_str("/moodle/prod/dbhost=db2;/moodle/prod/wwwroot=https://moodle.example;", listed, "direct children, sorted");
	listed[0] = '\0';
	is_int(0, mdeploy_params_list(params, "/moodle/prod/", 1, collect_param, NULL), "list recursively");
	is_str("/moodle/prod/cache/redis=r1;/moodle/prod/dbhost=db2;/moodle/prod/wwwroot=https://moodle.example;", listed,
	       "recursive listing");
	is_int(0, mdeploy_params_delete(params, "/moodle/prod/wwwroot"), "delete");
	is_int(MDEPLOY_ENOTFOUND, mdeploy_params_delete(params, "/moodle/prod/wwwroot"), "delete again: not found");
	mdeploy_params_free(params);
	params = NULL;
	is_int(0, mdeploy_params_open(&params, ctx, NULL), "reopen");
	is_int(MDEPLOY_ENOTFOUND, mdeploy_params_get(&p, params, "/moodle/prod/wwwroot"), "delete persisted");
	is_int(0, mdeploy_params_get(&p, params, "/moodle/staging/dbhost"), "others persisted");
	mdeploy_param_free(p);
	mdeploy_params_free(params);

	/* Secrets. */
	is_int(0, mdeploy_secrets_open(&secrets, ctx, NULL), "secrets open");
	is_int(MDEPLOY_ENOTFOUND, mdeploy_secrets_get(&v, secrets, "moodle/db", MDEPLOY_SECRET_CURRENT, NULL), "missing secret");
	is_int(MDEPLOY_ENOTFOUND, mdeploy_secrets_rotate(secrets, "moodle/db", "x", NULL), "rotate a missing secret: refused");
	is_int(0, mdeploy_secrets_put(secrets, "moodle/db", "s3cr3t-one", id1), "put");
	s = path(tmp, "state/secrets/secrets.key");
	ok(stat(s, &st) == 0 && (st.st_mode & 0777) == 0600, "key file created 0600");
	free(s);
	s = path(tmp, "state/secrets/secrets.json");
	ok(stat(s, &st) == 0 && (st.st_mode & 0777) == 0600, "store file 0600");
	mdeploy__file_read(&data, &len, s);
	ok(data && !strstr(data, "s3cr3t-one"), "value not stored in clear");
	free(data);
	free(s);
	is_int(0, mdeploy_secrets_get(&v, secrets, "moodle/db", MDEPLOY_SECRET_CURRENT, NULL), "get");
	is_str("s3cr3t-one", v, "decrypted");
	mdeploy_secret_value_free(v);
	is_int(MDEPLOY_ENOTFOUND, mdeploy_secrets_get(&v, secrets, "moodle/db", MDEPLOY_SECRET_PREVIOUS, NULL), "no previous yet");
	is_int(0, mdeploy_secrets_rotate(secrets, "moodle/db", "s3cr3t-two", id2), "rotate");
	ok(strcmp(id1, id2) != 0, "new version id");
	is_int(0, mdeploy_secrets_get(&v, secrets, "moodle/db", MDEPLOY_SECRET_CURRENT, NULL), "get current");
	is_str("s3cr3t-two", v, "current is the new value");
	mdeploy_secret_value_free(v);
	is_int(0, mdeploy_secrets_get(&v, secrets, "moodle/db", MDEPLOY_SECRET_PREVIOUS, NULL), "get previous");
	is_str("s3cr3t-one", v, "previous stays readable");
	mdeploy_secret_value_free(v);
	is_int(0, mdeploy_secrets_get(&v, secrets, "moodle/db", MDEPLOY_SECRET_CURRENT, id1), "get by version id");
	is_str("s3cr3t-one", v, "by id");
	mdeploy_secret_value_free(v);
	is_int(0, mdeploy_secrets_rotate(secrets, "moodle/db", NULL, NULL), "rotate to a generated value");
	is_int(0, mdeploy_secrets_get(&v, secrets, "moodle/db", MDEPLOY_SECRET_CURRENT, NULL), "get generated");
	is_int(43, v ? (long long)strlen(v) : 0, "43 characters of base64url");
	mdeploy_secret_value_free(v);
	is_int(0, mdeploy_secrets_get(&v, secrets, "moodle/db", MDEPLOY_SECRET_PREVIOUS, NULL), "get previous after second rotation");
	is_str("s3cr3t-two", v, "previous moved on");
	mdeploy_secret_value_free(v);
	is_int(MDEPLOY_ENOTFOUND, mdeploy_secrets_get(&v, secrets, "moodle/db", MDEPLOY_SECRET_CURRENT, id1), "oldest version dropped");
	mdeploy_secrets_put(secrets, "moodle/smtp", "pw", NULL);
	listed[0] = '\0';
	is_int(0, mdeploy_secrets_list(secrets, collect_secret, NULL), "list");
	is_str("moodle/db(2);moodle/smtp(1);", listed, "names and versions, sorted");
	is_int(MDEPLOY_EINVALID, mdeploy_secrets_put(secrets, "bad name!", "x", NULL), "bad name refused");
	mdeploy_secrets_free(secrets);

	/* A key readable by others is refused; a different key cannot decrypt. */
	s = path(tmp, "state/secrets/secrets.key");
	chmod(s, 0644);
	is_int(0, mdeploy_secrets_open(&secrets, ctx, NULL), "open");
	is_int(MDEPLOY_EAUTH, mdeploy_secrets_get(&v, secrets, "moodle/db", MDEPLOY_SECRET_CURRENT, NULL), "0644 key refused");
	like(mdeploy_error_last()->message, "must be mode 0600", "error says why");
	ok(!strstr(mdeploy_error_last()->message, "s3cr3t"), "no value in the message");
	mdeploy_secrets_free(secrets);
	chmod(s, 0600);
	free(s);
	so.key_file = s = path(tmp, "other.key");
	is_int(0, mdeploy_secrets_open(&secrets, ctx, &so), "open with another key");
	is_int(0, mdeploy_secrets_put(secrets, "other", "x", NULL), "put creates that key");
	is_int(MDEPLOY_ECORRUPT, mdeploy_secrets_get(&v, secrets, "moodle/smtp", MDEPLOY_SECRET_CURRENT, NULL), "wrong key: does not decrypt");
	mdeploy_secrets_free(secrets);
	free(s);

	/* Artifacts. */
	is_int(0, mdeploy_artifacts_open(&arts, ctx, NULL), "artifacts open");
	for (i = 1; i <= 4; i++) {
		char content[32];
		char *f = path(tmp, "bundle.bin");
		snprintf(content, sizeof(content), "bundle %d\n", i);
		mdeploy__file_write_atomic(f, content, strlen(content), 0644);
		is_int(0, mdeploy_artifacts_put(&a, arts, "moodle", f), "put revision %d", i);
		is_int(i, a ? (long long)a->revision : 0, "revision number %d", i);
		if (i == 1) {
			is_int(0, mdeploy_artifacts_put(&a2, arts, "moodle", f), "same content again");
			is_int(1, a2 ? (long long)a2->revision : 0, "adds no revision");
			ok(a2 && stat(a2->path, &st) == 0 && (st.st_mode & 0222) == 0, "object is read-only");
			mdeploy_artifact_free(a2);
			is_int(0, mdeploy_artifacts_put(NULL, arts, "other", f), "same content under another name");
		}
		mdeploy_artifact_free(a);
		free(f);
	}
	is_int(0, mdeploy_artifacts_get(&a, arts, "moodle"), "get by name");
	is_int(4, a ? (long long)a->revision : 0, "newest");
	is_int(9, a ? (long long)a->size : 0, "size");
	s = mdeploy__sprintf("%.10s", a->sha256);
	mdeploy_artifact_free(a);
	is_int(0, mdeploy_artifacts_get(&a, arts, "moodle@2"), "get by revision");
	is_int(2, a ? (long long)a->revision : 0, "revision 2");
	mdeploy_artifact_free(a);
	is_int(0, mdeploy_artifacts_get(&a, arts, s), "get by digest prefix");
	is_int(4, a ? (long long)a->revision : 0, "the right one");
	mdeploy_artifact_free(a);
	free(s);
	is_int(MDEPLOY_ENOTFOUND, mdeploy_artifacts_get(&a, arts, "moodle@9"), "missing revision");
	is_int(MDEPLOY_ENOTFOUND, mdeploy_artifacts_get(&a, arts, "nothing"), "missing name");
	s = path(tmp, "fetched.bin");
	is_int(0, mdeploy_artifacts_fetch(arts, "moodle@3", s), "fetch");
	mdeploy__file_read(&data, &len, s);
	is_str("bundle 3\n", data, "fetched content");
	free(data);
	free(s);
	listed[0] = '\0';
	mdeploy_artifacts_list(arts, NULL, collect_artifact, NULL);
	is_str("moodle@4;moodle@3;moodle@2;moodle@1;other@1;", listed, "list: by name, newest first");
	is_int(0, mdeploy_artifacts_get(&a, arts, "moodle@1"), "revision 1");
	{
		const char *in_use[] = { a->sha256, NULL };
		listed[0] = '\0';
		go.keep = 2;
		go.in_use = in_use;
		is_int(0, mdeploy_artifacts_gc(arts, &go, collect_artifact, NULL, &freed), "gc keeping 2 and what is in use");
		is_str("moodle@2;", listed, "only revision 2 removed (1 is in use)");
		is_int(9, (long long)freed, "its object freed");
	}
	mdeploy_artifact_free(a);
	is_int(MDEPLOY_ENOTFOUND, mdeploy_artifacts_get(&a, arts, "moodle@2"), "revision 2 gone");
	s = path(tmp, "f1");
	is_int(0, mdeploy_artifacts_fetch(arts, "moodle@1", s), "revision 1 kept");
	free(s);

	/* What deployment groups use is kept whatever its age. */
	{
		mdeploy_store *store = NULL;
		mdeploy_deployment_record rec;
		char id[12], **in_use = NULL, *deployed = path(tmp, "deployed.bin");
		memset(&rec, 0, sizeof(rec));
		mdeploy_artifacts_fetch(arts, "moodle@3", deployed);
		is_int(0, mdeploy_artifacts_in_use(&in_use, ctx), "in-use digests without a state store");
		ok(in_use && !in_use[0], "none");
		mdeploy_artifacts_in_use_free(in_use);
		is_int(0, mdeploy_store_open(&store, ctx, NULL), "state store");
		mdeploy_deployment_id_new(id);
		rec.id = id;
		rec.application = "moodle";
		rec.group = "production";
		rec.status = "Created";
		rec.bundle = deployed;
		is_int(0, mdeploy_store_deployment_insert(store, &rec), "a deployment of revision 3");
		mdeploy_store_deployment_set_status(store, id, "Succeeded", NULL);
		mdeploy_store_free(store);
		for (i = 5; i <= 6; i++) {
			char content[32], *f = path(tmp, "bundle.bin");
			snprintf(content, sizeof(content), "bundle %d\n", i);
			mdeploy__file_write_atomic(f, content, strlen(content), 0644);
			mdeploy_artifacts_put(NULL, arts, "moodle", f);
			free(f);
		}
		is_int(0, mdeploy_artifacts_in_use(&in_use, ctx), "in-use digests from the state store");
		ok(in_use && in_use[0] && !in_use[1], "one bundle in use");
		listed[0] = '\0';
		go.keep = 1;
		go.in_use = (const char *const *)in_use;
		is_int(0, mdeploy_artifacts_gc(arts, &go, NULL, NULL, NULL), "gc keeping 1 and what is deployed");
		mdeploy_artifacts_list(arts, NULL, collect_artifact, NULL);
		is_str("moodle@6;moodle@3;other@1;", listed, "the newest and the deployed revision stay");
		mdeploy_artifacts_in_use_free(in_use);
		free(deployed);
	}
	mdeploy_artifacts_free(arts);
	mdeploy_ctx_free(ctx);
	return done();
}

/*
 * secrets.c - the local secret store: secrets.json (0600) holding, per
 * secret, at most two versions (current and previous), each encrypted with
 * AES-256-GCM under the key in the key file (0600).
 *
 * A version: {"id", "stage": "current"|"previous", "created", "nonce"
 * (base64, 12 bytes), "data" (base64 ciphertext followed by the 16-byte
 * tag)}. Associated data: "<name>\n<id>".
 */
#include "local.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct local_secrets {
	mdeploy_local__jsonfile file;
	char *key_path;
	unsigned char key[32];
	int have_key;
};

static void hex(char *out, const unsigned char *in, size_t n)
{
	static const char d[] = "0123456789abcdef";
	size_t i;
	for (i = 0; i < n; i++) {
		out[2 * i] = d[in[i] >> 4];
		out[2 * i + 1] = d[in[i] & 15];
	}
	out[2 * n] = '\0';
}

static int unhex(unsigned char *out, const char *in, size_t n)
{
	size_t i;
	for (i = 0; i < n; i++) {
		int hi, lo;
		char c = in[2 * i], e = in[2 * i + 1];
		hi = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
		lo = e >= '0' && e <= '9' ? e - '0' : e >= 'a' && e <= 'f' ? e - 'a' + 10 : -1;
		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

/* The key file: 64 hex digits and a newline. Refused unless 0600-or-stricter
 * and ours; created when missing and `create`. */
static int load_key(struct local_secrets *ls, int create)
{
	char buf[80];
	struct stat st;
	ssize_t n;
	int fd, rc = 0;

	if (ls->have_key)
		return 0;
	fd = open(ls->key_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno == ENOENT) {
		unsigned char key[32];
		char text[66];
		if (!create)
			return mdeploy__error_set(MDEPLOY_ENOTFOUND, MDEPLOY_ERROR_CLASS_PROVIDER,
			                          "secret store key '%s' does not exist", ls->key_path);
		if (RAND_bytes(key, sizeof(key)) != 1)
			return mdeploy__error_set(MDEPLOY_ERROR, MDEPLOY_ERROR_CLASS_CRYPTO, "no random bytes for a key");
		hex(text, key, 32);
		text[64] = '\n';
		fd = open(ls->key_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0)
			return mdeploy__error_os(MDEPLOY_ERROR_CLASS_PROVIDER, "cannot create key '%s'", ls->key_path);
		if (fchmod(fd, 0600) < 0 || write(fd, text, 65) != 65 || fsync(fd) < 0) {
			rc = mdeploy__error_os(MDEPLOY_ERROR_CLASS_PROVIDER, "cannot write key '%s'", ls->key_path);
			close(fd);
			unlink(ls->key_path);
		} else if (close(fd) < 0) {
			rc = mdeploy__error_os(MDEPLOY_ERROR_CLASS_PROVIDER, "cannot write key '%s'", ls->key_path);
			unlink(ls->key_path);
		}
		OPENSSL_cleanse(text, sizeof(text));
		if (!rc) {
			memcpy(ls->key, key, 32);
			ls->have_key = 1;
		}
		OPENSSL_cleanse(key, sizeof(key));
		return rc;
	}
	if (fd < 0)
		return mdeploy__error_os(MDEPLOY_ERROR_CLASS_PROVIDER, "cannot open key '%s'", ls->key_path);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return mdeploy__error_set(MDEPLOY_EAUTH, MDEPLOY_ERROR_CLASS_PROVIDER, "'%s' is not a key file", ls->key_path);
	}
	if ((st.st_mode & 077) || st.st_uid != geteuid()) {
		close(fd);
		return mdeploy__error_set(MDEPLOY_EAUTH, MDEPLOY_ERROR_CLASS_PROVIDER,
		                          "key file '%s' must be mode 0600 and owned by you (it is %04o): refused",
		                          ls->key_path, (unsigned int)(st.st_mode & 07777));
	}
	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n < 64 || unhex(ls->key, buf, 32) < 0)
		rc = mdeploy__error_set(MDEPLOY_ECORRUPT, MDEPLOY_ERROR_CLASS_PROVIDER,
		                        "key file '%s' does not hold 64 hex digits", ls->key_path);
	else
		ls->have_key = 1;
	OPENSSL_cleanse(buf, sizeof(buf));
	return rc;
}

static json_t *secrets_of(json_t *doc)
{
	json_t *p = json_object_get(doc, "secrets");
	if (!json_is_object(p)) {
		p = json_object();
		json_object_set_new(doc, "secrets", p);
	}
	return p;
}

static char *b64(const unsigned char *in, size_t n)
{
	char *out = malloc(4 * ((n + 2) / 3) + 1);
	if (!out) {
		mdeploy__error_oom();
		return NULL;
	}
	EVP_EncodeBlock((unsigned char *)out, in, (int)n);
	return out;
}

/* Decodes base64; returns the length or -1. `out` must hold 3/4 of strlen(in). */
static long unb64(unsigned char *out, const char *in)
{
	size_t len = strlen(in);
	int n;
	if (len % 4)
		return -1;
	n = EVP_DecodeBlock(out, (const unsigned char *)in, (int)len);
	if (n < 0)
		return -1;
	if (len && in[len - 1] == '=')
		n--;
	if (len > 1 && in[len - 2] == '=')
		n--;
	return n;
}

static int encrypt_version(struct local_secrets *ls, json_t **out, const char *name, const char *id,
                           const char *value)
{
	EVP_CIPHER_CTX *c = NULL;
	unsigned char nonce[12], *ct = NULL;
	size_t vlen = strlen(value), alen;
	char *aad = mdeploy__sprintf("%s\n%s", name, id), *nb = NULL, *db = NULL;
	int len, rc = 0;

	*out = NULL;
	if (!aad || !(ct = malloc(vlen + 16))) {
		rc = mdeploy__error_oom();
		goto out;
	}
	alen = strlen(aad);
	if (RAND_bytes(nonce, sizeof(nonce)) != 1 || !(c = EVP_CIPHER_CTX_new()) ||
	    EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, ls->key, nonce) != 1 ||
	    EVP_EncryptUpdate(c, NULL, &len, (const unsigned char *)aad, (int)alen) != 1 ||
	    EVP_EncryptUpdate(c, ct, &len, (const unsigned char *)value, (int)vlen) != 1 ||
	    EVP_EncryptFinal_ex(c, ct + len, &len) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, ct + vlen) != 1) {
		rc = mdeploy__error_set(MDEPLOY_ERROR, MDEPLOY_ERROR_CLASS_CRYPTO, "secret '%s': encryption failed", name);
		goto out;
	}
	if (!(nb = b64(nonce, sizeof(nonce))) || !(db = b64(ct, vlen + 16))) {
		rc = MDEPLOY_ENOMEM;
		goto out;
	}
	*out = json_pack("{s:s, s:s, s:I, s:s, s:s}", "id", id, "stage", "current",
	                 "created", (json_int_t)mdeploy_provider__now(), "nonce", nb, "data", db);
	if (!*out)
		rc = mdeploy__error_oom();
out:
	EVP_CIPHER_CTX_free(c);
	if (ct) {
		OPENSSL_cleanse(ct, vlen + 16);
		free(ct);
	}
	free(aad);
	free(nb);
	free(db);
	return rc;
}

static int decrypt_version(struct local_secrets *ls, char **value, const char *name, json_t *v)
{
	const char *id = json_string_value(json_object_get(v, "id"));
	const char *nb = json_string_value(json_object_get(v, "nonce"));
	const char *db = json_string_value(json_object_get(v, "data"));
	unsigned char nonce[16], *ct = NULL;
	char *pt = NULL, *aad = NULL;
	long nlen, clen;
	int len, rc = 0, ok;
	EVP_CIPHER_CTX *c = NULL;

	*value = NULL;
	if (!id || !nb || !db || strlen(nb) > 16)
		return mdeploy__error_set(MDEPLOY_ECORRUPT, MDEPLOY_ERROR_CLASS_PROVIDER,
		                          "secret '%s': a stored version is damaged", name);
	if (!(ct = malloc(strlen(db))) || !(aad = mdeploy__sprintf("%s\n%s", name, id))) {
		rc = mdeploy__error_oom();
		goto out;
	}
	nlen = unb64(nonce, nb);
	clen = unb64(ct, db);
	if (nlen != 12 || clen < 16) {
		rc = mdeploy__error_set(MDEPLOY_ECORRUPT, MDEPLOY_ERROR_CLASS_PROVIDER,
		                        "secret '%s': a stored version is damaged", name);
		goto out;
	}
	if (!(pt = malloc((size_t)clen - 16 + 1))) {
		rc = mdeploy__error_oom();
		goto out;
	}
	ok = (c = EVP_CIPHER_CTX_new()) != NULL &&
	     EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, ls->key, nonce) == 1 &&
	     EVP_DecryptUpdate(c, NULL, &len, (const unsigned char *)aad, (int)strlen(aad)) == 1 &&
	     EVP_DecryptUpdate(c, (unsigned char *)pt, &len, ct, (int)(clen - 16)) == 1 &&
	     EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, 16, ct + clen - 16) == 1 &&
	     EVP_DecryptFinal_ex(c, (unsigned char *)pt + len, &len) == 1;
	if (!ok) {
		rc = mdeploy__error_set(MDEPLOY_ECORRUPT, MDEPLOY_ERROR_CLASS_CRYPTO,
		                        "secret '%s': version %s does not decrypt with this key (wrong key or damaged store)",
		                        name, id);
		goto out;
	}
	pt[clen - 16] = '\0';
	*value = pt;
	pt = NULL;
out:
	EVP_CIPHER_CTX_free(c);
	if (pt) {
		OPENSSL_cleanse(pt, (size_t)clen - 16);
		free(pt);
	}
	free(ct);
	free(aad);
	return rc;
}

static int l_put(void *impl, const char *name, const char *value, int must_exist, char version_id[33])
{
	struct local_secrets *ls = impl;
	json_t *doc, *secret, *versions, *nv = NULL, *v;
	unsigned char idraw[16], gen[32];
	char id[33], generated[48];
	size_t i;
	int rc;

	if ((rc = load_key(ls, 1)) != 0)
		return rc;
	if (RAND_bytes(idraw, sizeof(idraw)) != 1)
		return mdeploy__error_set(MDEPLOY_ERROR, MDEPLOY_ERROR_CLASS_CRYPTO, "no random bytes");
	hex(id, idraw, 16);
	if (!value) {
		size_t j;
		if (RAND_bytes(gen, sizeof(gen)) != 1)
			return mdeploy__error_set(MDEPLOY_ERROR, MDEPLOY_ERROR_CLASS_CRYPTO, "no random bytes");
		EVP_EncodeBlock((unsigned char *)generated, gen, sizeof(gen));
		/* base64url without padding: 43 characters */
		for (j = 0; generated[j]; j++)
			generated[j] = generated[j] == '+' ? '-' : generated[j] == '/' ? '_' : generated[j];
		generated[43] = '\0';
		value = generated;
		OPENSSL_cleanse(gen, sizeof(gen));
	}
	if ((rc = mdeploy_local__jsonfile_begin(&ls->file, 1, (void **)&doc)) != 0)
		goto wipe;
	secret = json_object_get(secrets_of(doc), name);
	if (!secret && must_exist) {
		json_decref(doc);
		mdeploy_local__jsonfile_end(&ls->file, NULL);
		rc = mdeploy__error_set(MDEPLOY_ENOTFOUND, MDEPLOY_ERROR_CLASS_PROVIDER,
		                        "secret '%s' does not exist", name);
		goto wipe;
	}
	if ((rc = encrypt_version(ls, &nv, name, id, value)) != 0) {
		json_decref(doc);
		mdeploy_local__jsonfile_end(&ls->file, NULL);
		goto wipe;
	}
	if (!secret) {
		secret = json_pack("{s:I, s:[]}", "created", (json_int_t)mdeploy_provider__now(), "versions");
		json_object_set_new(secrets_of(doc), name, secret);
	}
	versions = json_object_get(secret, "versions");
	/* current -> previous; the old previous is dropped. */
	for (i = json_array_size(versions); i-- > 0;) {
		const char *stage;
		v = json_array_get(versions, i);
		stage = json_string_value(json_object_get(v, "stage"));
		if (stage && !strcmp(stage, "current"))
			json_object_set_new(v, "stage", json_string("previous"));
		else
			json_array_remove(versions, i);
	}
	json_array_append_new(versions, nv);
	rc = mdeploy_local__jsonfile_end(&ls->file, doc);
	json_decref(doc);
	if (!rc && version_id)
		memcpy(version_id, id, 33);
wipe:
	OPENSSL_cleanse(generated, sizeof(generated));
	return rc;
}

static int l_get(void *impl, char **value, const char *name, mdeploy_secret_stage stage, const char *version_id)
{
	struct local_secrets *ls = impl;
	const char *want = stage == MDEPLOY_SECRET_PREVIOUS ? "previous" : "current";
	json_t *doc, *secret, *v, *found = NULL;
	size_t i;
	int rc;

	if ((rc = mdeploy_local__jsonfile_begin(&ls->file, 0, (void **)&doc)) != 0)
		return rc;
	mdeploy_local__jsonfile_end(&ls->file, NULL);
	secret = json_object_get(secrets_of(doc), name);
	if (!secret) {
		json_decref(doc);
		return mdeploy__error_set(MDEPLOY_ENOTFOUND, MDEPLOY_ERROR_CLASS_PROVIDER, "secret '%s' does not exist", name);
	}
	json_array_foreach(json_object_get(secret, "versions"), i, v) {
		const char *key = version_id ? json_string_value(json_object_get(v, "id"))
		                             : json_string_value(json_object_get(v, "stage"));
		if (key && !strcmp(key, version_id ? version_id : want)) {
			found = v;
			break;
		}
	}
	if (!found)
		rc = version_id ? mdeploy__error_set(MDEPLOY_ENOTFOUND, MDEPLOY_ERROR_CLASS_PROVIDER,
		                                     "secret '%s' has no version %s", name, version_id)
		                : mdeploy__error_set(MDEPLOY_ENOTFOUND, MDEPLOY_ERROR_CLASS_PROVIDER,
		                                     "secret '%s' has no %s version", name, want);
	else if ((rc = load_key(ls, 0)) == 0)
		rc = decrypt_version(ls, value, name, found);
	json_decref(doc);
	return rc;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int l_list(void *impl, mdeploy_secrets_cb cb, void *payload)
{
	struct local_secrets *ls = impl;
	json_t *doc, *secrets, *secret, *v;
	const char *key, **names = NULL;
	size_t n = 0, i, j;
	int rc;

	if ((rc = mdeploy_local__jsonfile_begin(&ls->file, 0, (void **)&doc)) != 0)
		return rc;
	mdeploy_local__jsonfile_end(&ls->file, NULL);
	secrets = secrets_of(doc);
	if (json_object_size(secrets) && !(names = calloc(json_object_size(secrets), sizeof(*names)))) {
		json_decref(doc);
		return mdeploy__error_oom();
	}
	json_object_foreach(secrets, key, secret)
		names[n++] = key;
	if (n > 1)
		qsort(names, n, sizeof(*names), name_cmp);
	for (i = 0; !rc && i < n; i++) {
		mdeploy_secret_info info;
		memset(&info, 0, sizeof(info));
		secret = json_object_get(secrets, names[i]);
		info.name = names[i];
		info.created = (int64_t)json_integer_value(json_object_get(secret, "created"));
		json_array_foreach(json_object_get(secret, "versions"), j, v) {
			const char *stage = json_string_value(json_object_get(v, "stage"));
			if (stage && !strcmp(stage, "current")) {
				info.current_version = json_string_value(json_object_get(v, "id"));
				info.changed = (int64_t)json_integer_value(json_object_get(v, "created"));
			} else if (stage && !strcmp(stage, "previous")) {
				info.previous_version = json_string_value(json_object_get(v, "id"));
			}
		}
		if (cb(&info, payload))
			rc = mdeploy__error_set(MDEPLOY_EUSER, MDEPLOY_ERROR_CLASS_CALLBACK, "secret list: stopped by the callback");
	}
	free(names);
	json_decref(doc);
	return rc;
}

static void l_free(void *impl)
{
	struct local_secrets *ls = impl;
	if (!ls)
		return;
	OPENSSL_cleanse(ls->key, sizeof(ls->key));
	mdeploy_local__jsonfile_dispose(&ls->file);
	free(ls->key_path);
	free(ls);
}

/* The secret goes with its versions: secrets.json is written again without it. */
static int l_del(void *impl, const char *name)
{
	struct local_secrets *ls = impl;
	json_t *doc;
	int rc;
	if ((rc = mdeploy_local__jsonfile_begin(&ls->file, 1, (void **)&doc)) != 0)
		return rc;
	if (json_object_del(secrets_of(doc), name) != 0) {
		json_decref(doc);
		mdeploy_local__jsonfile_end(&ls->file, NULL);
		return mdeploy__error_set(MDEPLOY_ENOTFOUND, MDEPLOY_ERROR_CLASS_PROVIDER, "secret '%s' does not exist",
		                          name);
	}
	rc = mdeploy_local__jsonfile_end(&ls->file, doc);
	json_decref(doc);
	return rc;
}

static const mdeploy_provider__secrets_ops local_secrets_ops = {
	"local", l_put, l_get, l_list, l_del, l_free
};

int mdeploy_local__secrets_new(void **impl, const mdeploy_provider__secrets_ops **ops,
                               const mdeploy_provider__store_args *a)
{
	struct local_secrets *ls;
	char *dir, *key_file = NULL;
	int rc;
	if ((rc = mdeploy_local__store_dir(&dir, a)) != 0)
		return rc;
	if (!(ls = calloc(1, sizeof(*ls)))) {
		free(dir);
		return mdeploy__error_oom();
	}
	if ((rc = mdeploy_local__jsonfile_init(&ls->file, dir, "secrets.json", 0600)) != 0) {
		free(dir);
		free(ls);
		return rc;
	}
	if (a->key_file)
		ls->key_path = mdeploy__strdup(a->key_file);
	else if ((rc = mdeploy_local__config_path(&key_file, a, "key_file")) == 0 && key_file)
		ls->key_path = key_file;
	else if (rc == 0)
		ls->key_path = mdeploy__path_join(dir, "secrets.key");
	free(dir);
	if (rc) {
		l_free(ls);
		return rc;
	}
	if (!ls->key_path) {
		l_free(ls);
		return MDEPLOY_ENOMEM;
	}
	*impl = ls;
	*ops = &local_secrets_ops;
	return 0;
}

/* sign.c - Ed25519 keys and manifest signatures through OpenSSL. */
#include "bundle_private.h"
#include "mdeploy/key.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int crypto_error(int code, const char *fmt, const char *arg)
{
	unsigned long e = ERR_get_error();
	char what[512], reason[256] = "";
	snprintf(what, sizeof(what), fmt, arg);
	if (e)
		ERR_error_string_n(e, reason, sizeof(reason));
	ERR_clear_error();
	return mdeploy__error_set(code, MDEPLOY_ERROR_CLASS_CRYPTO, "%s%s%s", what, *reason ? ": " : "", reason);
}

/* Reads a key file: private when `priv`, else a public key (or a private
 * key, whose public half is used). */
/* priv: 1 a private key, 0 a public key (or the public half of a private
 * one), 2 the same as 0 for a caller that takes either. */
static int load_key(EVP_PKEY **out, const char *path, int priv)
{
	FILE *f;
	EVP_PKEY *k = NULL;

	*out = NULL;
	if (!(f = fopen(path, "re")))
		return mdeploy__error_os(MDEPLOY_ERROR_CLASS_CRYPTO, "cannot open key '%s'", path);
	if (priv) {
		k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	} else {
		k = PEM_read_PUBKEY(f, NULL, NULL, NULL);
		if (!k) {
			ERR_clear_error();
			rewind(f);
			k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
		}
	}
	fclose(f);
	ERR_clear_error();
	if (!k || EVP_PKEY_id(k) != EVP_PKEY_ED25519) {
		EVP_PKEY_free(k);
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_CRYPTO,
		                          "'%s' holds no Ed25519 %s key%s", path,
		                          priv == 1 ? "private" : priv == 2 ? "public or private" : "public",
		                          priv == 1 ? " (a PEM file from 'mdeploy key generate')" : "");
	}
	*out = k;
	return 0;
}

static int key_id_of(char id[17], EVP_PKEY *k)
{
	unsigned char raw[32], md[32];
	size_t len = sizeof(raw);
	unsigned int mdlen = sizeof(md);
	if (EVP_PKEY_get_raw_public_key(k, raw, &len) != 1 || len != 32 ||
	    EVP_Digest(raw, len, md, &mdlen, EVP_sha256(), NULL) != 1)
		return crypto_error(MDEPLOY_ERROR, "cannot read %s", "a public key");
	mdeploy_bundle__hex(id, md, 8);
	return 0;
}

int mdeploy_key_id(char key_id[17], const char *key_path)
{
	EVP_PKEY *k;
	int rc;
	if (!key_id || !key_path)
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_CRYPTO, "no key given");
	if ((rc = load_key(&k, key_path, 2)) != 0)
		return rc;
	rc = key_id_of(key_id, k);
	EVP_PKEY_free(k);
	return rc;
}

static int write_pem(const char *path, mode_t mode, EVP_PKEY *k, int priv)
{
	int fd, ok;
	FILE *f;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0) {
		if (errno == EEXIST)
			return mdeploy__error_set(MDEPLOY_EEXISTS, MDEPLOY_ERROR_CLASS_CRYPTO,
			                          "'%s' already exists", path);
		return mdeploy__error_os(MDEPLOY_ERROR_CLASS_CRYPTO, "cannot create '%s'", path);
	}
	if (fchmod(fd, mode) < 0 || !(f = fdopen(fd, "w"))) {
		int rc = mdeploy__error_os(MDEPLOY_ERROR_CLASS_CRYPTO, "cannot write '%s'", path);
		close(fd);
		unlink(path);
		return rc;
	}
	ok = priv ? PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL) : PEM_write_PUBKEY(f, k);
	if (fflush(f) != 0 || fsync(fileno(f)) < 0)
		ok = 0;
	if (fclose(f) != 0)
		ok = 0;
	if (ok != 1) {
		unlink(path);
		return crypto_error(MDEPLOY_EOS, "cannot write key '%s'", path);
	}
	return 0;
}

int mdeploy_key_generate(const char *private_path, const char *public_path, char key_id[17])
{
	EVP_PKEY_CTX *pctx;
	EVP_PKEY *k = NULL;
	int rc;

	if (!private_path || !public_path)
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_CRYPTO, "key paths are required");
	if (mdeploy__path_exists(public_path))
		return mdeploy__error_set(MDEPLOY_EEXISTS, MDEPLOY_ERROR_CLASS_CRYPTO,
		                          "'%s' already exists", public_path);
	pctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
	if (!pctx || EVP_PKEY_keygen_init(pctx) != 1 || EVP_PKEY_keygen(pctx, &k) != 1) {
		EVP_PKEY_CTX_free(pctx);
		return crypto_error(MDEPLOY_ERROR, "cannot generate %s", "an Ed25519 key");
	}
	EVP_PKEY_CTX_free(pctx);
	if ((rc = write_pem(private_path, 0600, k, 1)) == 0 &&
	    (rc = write_pem(public_path, 0644, k, 0)) != 0)
		unlink(private_path);
	if (!rc && key_id)
		rc = key_id_of(key_id, k);
	EVP_PKEY_free(k);
	return rc;
}

int mdeploy_bundle__signing_key_check(const char *key_path)
{
	EVP_PKEY *k;
	int rc = load_key(&k, key_path, 1);
	EVP_PKEY_free(k);
	return rc;
}

int mdeploy_bundle__sign(char **out, size_t *out_len, const char *key_path,
                         const void *data, size_t len)
{
	EVP_PKEY *k;
	EVP_MD_CTX *md = NULL;
	unsigned char sig[64], b64[128];
	size_t siglen = sizeof(sig);
	char id[17];
	json_t *doc;
	int rc;

	*out = NULL;
	if ((rc = load_key(&k, key_path, 1)) != 0)
		return rc;
	if ((rc = key_id_of(id, k)) != 0)
		goto out;
	md = EVP_MD_CTX_new();
	if (!md || EVP_DigestSignInit(md, NULL, NULL, NULL, k) != 1 ||
	    EVP_DigestSign(md, sig, &siglen, data, len) != 1) {
		rc = crypto_error(MDEPLOY_ERROR, "cannot sign with '%s'", key_path);
		goto out;
	}
	EVP_EncodeBlock(b64, sig, (int)siglen);
	doc = json_pack("{s:s, s:s, s:s}", "algorithm", "ed25519", "key_id", id, "signature", (char *)b64);
	if (!doc || !(*out = json_dumps(doc, JSON_INDENT(1) | JSON_PRESERVE_ORDER)))
		rc = mdeploy__error_oom();
	else
		*out_len = strlen(*out);
	json_decref(doc);
out:
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(k);
	return rc;
}

static int verify_with(EVP_PKEY *k, const unsigned char *sig, size_t siglen, const void *data, size_t len)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int ok = md && EVP_DigestVerifyInit(md, NULL, NULL, NULL, k) == 1 &&
	         EVP_DigestVerify(md, sig, siglen, data, len) == 1;
	EVP_MD_CTX_free(md);
	ERR_clear_error();
	return ok;
}

int mdeploy_bundle__signature_check(const char *sig, size_t sig_len, const void *data, size_t len,
                                    const char *const *trusted_keys, char **key_id)
{
	json_error_t jerr;
	json_t *doc;
	const char *alg = NULL, *id = NULL, *b64 = NULL;
	unsigned char raw[96];
	int n, rc = 0, found_id = 0;
	size_t i, b64len;

	if (key_id)
		*key_id = NULL;
	doc = json_loadb(sig, sig_len, 0, &jerr);
	if (!doc || json_unpack(doc, "{s:s, s:s, s:s}", "algorithm", &alg, "key_id", &id, "signature", &b64) ||
	    strcmp(alg, "ed25519") || (b64len = strlen(b64)) != 88) {
		json_decref(doc);
		return mdeploy__error_set(MDEPLOY_EVERIFY, MDEPLOY_ERROR_CLASS_CRYPTO,
		                          "%s: not an Ed25519 signature document", MDEPLOY_BUNDLE__SIGNATURE);
	}
	n = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)b64len);
	if (n != 66) { /* 64 bytes, padded to a multiple of 3 */
		json_decref(doc);
		return mdeploy__error_set(MDEPLOY_EVERIFY, MDEPLOY_ERROR_CLASS_CRYPTO,
		                          "%s: signature is not 64 bytes of base64", MDEPLOY_BUNDLE__SIGNATURE);
	}
	if (key_id && !(*key_id = mdeploy__strdup(id))) {
		json_decref(doc);
		return MDEPLOY_ENOMEM;
	}
	if (trusted_keys) {
		rc = MDEPLOY_EVERIFY;
		for (i = 0; trusted_keys[i]; i++) {
			EVP_PKEY *k;
			char kid[17];
			int lrc = load_key(&k, trusted_keys[i], 0);
			if (lrc) {
				rc = lrc;
				break;
			}
			if (key_id_of(kid, k) == 0 && !strcmp(kid, id)) {
				found_id = 1;
				if (verify_with(k, raw, 64, data, len)) {
					EVP_PKEY_free(k);
					rc = 0;
					break;
				}
			}
			EVP_PKEY_free(k);
		}
		if (rc == MDEPLOY_EVERIFY) {
			if (found_id)
				mdeploy__error_set(rc, MDEPLOY_ERROR_CLASS_CRYPTO,
				                   "%s: signature by key %s does not match the manifest",
				                   MDEPLOY_BUNDLE__SIGNATURE, id);
			else
				mdeploy__error_set(rc, MDEPLOY_ERROR_CLASS_CRYPTO,
				                   "%s: signed by key %s, which is not trusted",
				                   MDEPLOY_BUNDLE__SIGNATURE, id);
		}
	}
	json_decref(doc);
	if (rc && key_id) {
		free(*key_id);
		*key_id = NULL;
	}
	return rc;
}

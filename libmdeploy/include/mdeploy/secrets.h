/*
 * mdeploy/secrets.h - the secret store (what AWS Secrets Manager is to
 * CodeBuild and the app servers): encrypted values with versions and the
 * stages current and previous, and rotation.
 *
 * Names: 1 to 512 of letters, digits and "/_+=.@-". Each put or rotation
 * makes a version (a 32-hex-digit id) that becomes current; the version
 * that was current becomes previous and stays readable; older versions are
 * dropped.
 *
 * Provider `local`: values are encrypted at rest with AES-256-GCM (a fresh
 * 96-bit nonce per version; the name and version id are authenticated as
 * associated data, so ciphertexts cannot be moved between secrets). The
 * key is 32 random bytes in a key file of mode 0600 owned by the user,
 * created on first use; a key file readable by others is refused
 * (MDEPLOY_EAUTH). The store itself is secrets.json, mode 0600.
 *
 * No function here logs or reports a secret value in an error message.
 * Thread-safety: one thread per handle.
 */
#ifndef MDEPLOY_SECRETS_H
#define MDEPLOY_SECRETS_H

#include "common.h"
#include "context.h"

MDEPLOY_BEGIN_DECL

typedef struct mdeploy_secrets mdeploy_secrets;

typedef struct mdeploy_secrets_options {
	unsigned int version;
	const char *provider;   /* NULL: stores.secrets of the context's mdeploy.yml
	                           (when it exists), else "local"; or a
	                           store provider this build has */
	const char *dir;        /* local: NULL means stores.secrets.dir, else <state_dir>/secrets */
	const char *key_file;   /* local: NULL means <dir>/secrets.key */
} mdeploy_secrets_options;

#define MDEPLOY_SECRETS_OPTIONS_VERSION 1
#define MDEPLOY_SECRETS_OPTIONS_INIT { MDEPLOY_SECRETS_OPTIONS_VERSION, NULL, NULL, NULL }

MDEPLOY_EXTERN(int) mdeploy_secrets_options_init(mdeploy_secrets_options *opts, unsigned int version);

MDEPLOY_EXTERN(int) mdeploy_secrets_open(mdeploy_secrets **out, mdeploy_ctx *ctx,
                                         const mdeploy_secrets_options *opts);
MDEPLOY_EXTERN(void) mdeploy_secrets_free(mdeploy_secrets *secrets);

typedef enum {
	MDEPLOY_SECRET_CURRENT = 0,
	MDEPLOY_SECRET_PREVIOUS = 1
} mdeploy_secret_stage;

/* Store a new value (creating the secret if needed). `version_id` (may be
 * NULL) receives the new version's id, 33 bytes with the NUL. */
MDEPLOY_EXTERN(int) mdeploy_secrets_put(mdeploy_secrets *secrets, const char *name, const char *value,
                                        char version_id[33]);

/* Rotate an existing secret (MDEPLOY_ENOTFOUND otherwise) to `new_value`,
 * or, when NULL, to 32 random bytes as 43 characters of base64url. The
 * old current value stays readable as previous. */
MDEPLOY_EXTERN(int) mdeploy_secrets_rotate(mdeploy_secrets *secrets, const char *name,
                                           const char *new_value, char version_id[33]);

/*
 * Decrypt the value of `name` at `stage`, or of `version_id` when not
 * NULL. *value is NUL-terminated; free it with mdeploy_secret_value_free(),
 * which wipes it. MDEPLOY_ENOTFOUND for a missing secret, stage or
 * version; MDEPLOY_ECORRUPT when the ciphertext does not authenticate.
 */
MDEPLOY_EXTERN(int) mdeploy_secrets_get(char **value, mdeploy_secrets *secrets, const char *name,
                                        mdeploy_secret_stage stage, const char *version_id);
MDEPLOY_EXTERN(void) mdeploy_secret_value_free(char *value);

/*
 * Delete `name` with every version it has (on AWS without a recovery
 * window, so the name can be used again at once). MDEPLOY_ENOTFOUND when
 * there is no such secret.
 */
MDEPLOY_EXTERN(int) mdeploy_secrets_delete(mdeploy_secrets *secrets, const char *name);

typedef struct mdeploy_secret_info {
	const char *name;
	const char *current_version;   /* id */
	const char *previous_version;  /* id, NULL when none */
	int64_t created;               /* first version, seconds since the epoch */
	int64_t changed;               /* current version */
} mdeploy_secret_info;

/* Every secret, sorted by name; never their values. */
typedef int (*mdeploy_secrets_cb)(const mdeploy_secret_info *info, void *payload);
MDEPLOY_EXTERN(int) mdeploy_secrets_list(mdeploy_secrets *secrets, mdeploy_secrets_cb cb, void *payload);

MDEPLOY_END_DECL

#endif

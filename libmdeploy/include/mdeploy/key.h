/*
 * mdeploy/key.h - Ed25519 signing keys for bundles.
 *
 * Keys are PEM files (PKCS#8 private key, SubjectPublicKeyInfo public key),
 * readable by `openssl pkey`. A key id is the first 16 hex digits of the
 * SHA-256 of the raw 32-byte public key; signatures name it.
 *
 * Thread-safety: all functions may be called from any thread.
 */
#ifndef MDEPLOY_KEY_H
#define MDEPLOY_KEY_H

#include "common.h"

MDEPLOY_BEGIN_DECL

/*
 * Write a new key pair: the private key to `private_path` (mode 0600,
 * created exclusively) and the public key to `public_path` (mode 0644).
 * Neither file may exist (MDEPLOY_EEXISTS); on failure neither is left.
 * `key_id`, when not NULL, receives the key id (17 bytes with the NUL).
 */
MDEPLOY_EXTERN(int) mdeploy_key_generate(const char *private_path, const char *public_path,
                                         char key_id[17]);

/* The key id of a public or private key file. MDEPLOY_EINVALID when the
 * file holds no Ed25519 key. */
MDEPLOY_EXTERN(int) mdeploy_key_id(char key_id[17], const char *key_path);

MDEPLOY_END_DECL

#endif

/* mdeploy/version.h - library version. */
#ifndef MDEPLOY_VERSION_H
#define MDEPLOY_VERSION_H

#include "common.h"

MDEPLOY_BEGIN_DECL

#define MDEPLOY_VERSION_MAJOR 0
#define MDEPLOY_VERSION_MINOR 1
#define MDEPLOY_VERSION_PATCH 0
#define MDEPLOY_VERSION_STRING "0.1.0"

/*
 * The version of the library actually loaded, which can differ from the
 * headers a program was compiled with. Any pointer may be NULL. Returns the
 * version as a static string ("0.1.0").
 */
MDEPLOY_EXTERN(const char *) mdeploy_version(int *major, int *minor, int *patch);

/* A library libmdeploy was linked with, and its version as loaded. */
typedef struct mdeploy_dependency {
	const char *name;     /* "libgit2", "libarchive", "libcurl", "openssl", "sqlite", "libcyaml", "jansson" */
	const char *version;
} mdeploy_dependency;

/* Static table of `*count` entries. Thread-safe. */
MDEPLOY_EXTERN(const mdeploy_dependency *) mdeploy_dependencies(size_t *count);

MDEPLOY_END_DECL

#endif

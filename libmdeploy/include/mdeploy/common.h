/* mdeploy/common.h - export macro and C++ guards shared by every header. */
#ifndef MDEPLOY_COMMON_H
#define MDEPLOY_COMMON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
# define MDEPLOY_BEGIN_DECL extern "C" {
# define MDEPLOY_END_DECL   }
#else
# define MDEPLOY_BEGIN_DECL
# define MDEPLOY_END_DECL
#endif

/*
 * MDEPLOY_EXTERN marks a function exported from libmdeploy.so. The library
 * is built with -fvisibility=hidden, so anything without it stays private.
 */
#if defined(__GNUC__) && __GNUC__ >= 4
# define MDEPLOY_EXTERN(type) extern __attribute__((visibility("default"))) type
#else
# define MDEPLOY_EXTERN(type) extern type
#endif

/*
 * The documents the CLI prints with --json, which the web console's API
 * answers too, are built by the library's mdeploy_*_to_json functions.
 * They return a new reference to a jansson value (release it with
 * json_decref()), or NULL when out of memory: a program calling them uses
 * jansson (pkg-config jansson) and includes <jansson.h>.
 */
struct json_t;

#if defined(__GNUC__)
# define MDEPLOY_FORMAT_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
# define MDEPLOY_FORMAT_PRINTF(a, b)
#endif

#endif

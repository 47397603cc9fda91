/* build_private.h - internals of the build module. */
#ifndef MDEPLOY_BUILD_PRIVATE_H
#define MDEPLOY_BUILD_PRIVATE_H

#include "mdeploy_private.h"
#include "mdeploy/build.h"

enum { BS_INSTALL, BS_PRE_BUILD, BS_BUILD, BS_POST_BUILD, BS_NPHASES };

enum { BS_ABORT, BS_CONTINUE, BS_RETRY };

typedef struct mdeploy_build__str {
	char *s;
	int line, col;
} mdeploy_build__str;

typedef struct mdeploy_build__strs {
	mdeploy_build__str *v;
	size_t n;
} mdeploy_build__strs;

typedef struct mdeploy_build__var {
	char *name;
	char *value;     /* literal, parameter name or secret reference */
	int line, col;
} mdeploy_build__var;

typedef struct mdeploy_build__vars {
	mdeploy_build__var *v;
	size_t n;
} mdeploy_build__vars;

typedef struct mdeploy_build__phase {
	int present;
	char *run_as;
	int on_failure;          /* BS_ABORT ... */
	unsigned int retries;    /* RETRY: how many more attempts */
	char *retry_regex;       /* RETRY...-regex: only when the output matches */
	mdeploy_build__strs commands;
	mdeploy_build__strs finally;
} mdeploy_build__phase;

typedef struct mdeploy_build__artifact {
	char *id;                /* "primary" or the identifier */
	char *name;
	char *base_dir;
	int discard_paths;
	int enable_symlinks;
	mdeploy_build__strs files;
	mdeploy_build__strs exclude;
	int line;
} mdeploy_build__artifact;

struct mdeploy_buildspec {
	char *name;
	char *shell;
	char *run_as;
	mdeploy_build__vars variables, parameters, secrets;
	mdeploy_build__strs exported;
	mdeploy_build__phase phases[BS_NPHASES];
	mdeploy_build__artifact *artifacts;   /* [0] primary when has_primary */
	size_t nartifacts;
	int has_primary;
};

extern const char *const mdeploy_build__phase_names[BS_NPHASES];  /* "INSTALL" ... */
extern const char *const mdeploy_build__phase_keys[BS_NPHASES];   /* "install" ... */

/* mask.c: replaces secret values by "***". */
typedef struct mdeploy_build__mask {
	char **secrets;          /* longest first */
	size_t n;
} mdeploy_build__mask;
int mdeploy_build__mask_add(mdeploy_build__mask *m, const char *secret);
/* A new string with every secret replaced (never NULL unless out of memory). */
char *mdeploy_build__mask_apply(const mdeploy_build__mask *m, const char *text);
void mdeploy_build__mask_dispose(mdeploy_build__mask *m);

/* glob.c: `**` globs over a tree. */
int mdeploy_build__glob_match(const char *pattern, const char *path);
typedef struct mdeploy_build__file {
	char *rel;               /* path in the artifact */
	char *src;               /* absolute source path */
	int is_link;
} mdeploy_build__file;
typedef struct mdeploy_build__files {
	mdeploy_build__file *v;
	size_t n, alloc;
} mdeploy_build__files;
/* The files of an artifact under `src_dir`, sorted by rel. */
int mdeploy_build__collect(mdeploy_build__files *out, const mdeploy_buildspec *spec,
                           const mdeploy_build__artifact *art, const char *src_dir, int allow_empty);
void mdeploy_build__files_dispose(mdeploy_build__files *f);

#endif

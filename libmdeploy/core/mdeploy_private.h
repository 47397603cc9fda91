/*
 * mdeploy_private.h - internals shared across libmdeploy's files.
 * Names use a double underscore and are never exported.
 */
#ifndef MDEPLOY_PRIVATE_H
#define MDEPLOY_PRIVATE_H

#include "config.h"
#include "mdeploy.h"

#include <stdarg.h>
#include <stdbool.h>
#include <sys/types.h>

#define MDEPLOY__UNUSED(x) (void)(x)
#define MDEPLOY__ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* error.c: set the thread's last error and return `code`. */
int mdeploy__error_set(int code, int klass, const char *fmt, ...) MDEPLOY_FORMAT_PRINTF(3, 4);

/* yamldoc.c: a key given twice in any mapping of a loaded libyaml document is an error. */
struct yaml_document_s;
int mdeploy__yaml_doc_unique_keys(struct yaml_document_s *doc, const char *display, int klass);
/* The deepest nesting of mappings and sequences any YAML file may have (mdeploy.yml's too). */
#define MDEPLOY__YAML_MAX_DEPTH 64
int mdeploy__yaml_check_depth(const char *text, size_t len, const char *display, int klass);
int mdeploy__error_setv(int code, int klass, const char *fmt, va_list ap);
/* As above, appending ": <strerror(errno)>"; code from errno (ENOENT -> ENOTFOUND ...). */
int mdeploy__error_os(int klass, const char *fmt, ...) MDEPLOY_FORMAT_PRINTF(2, 3);
int mdeploy__error_oom(void);
/* Prefix the current message with "<prefix>: ". */
void mdeploy__error_prefix(const char *fmt, ...) MDEPLOY_FORMAT_PRINTF(1, 2);

/* Checks an options struct version: 0 when 1 <= version <= max. */
int mdeploy__options_check(unsigned int version, unsigned int max, const char *name);

/* context.c: logging and progress through the context's callbacks. */
struct mdeploy_ctx {
	char *state_dir;
	char *config_path;
	mdeploy_log_cb log_cb;
	mdeploy_progress_cb progress_cb;
	void *payload;
	mdeploy_log_level log_level;
};
int mdeploy__log(mdeploy_ctx *ctx, mdeploy_log_level level, const char *component,
                 const char *fmt, ...) MDEPLOY_FORMAT_PRINTF(4, 5);
/* Reports progress; returns MDEPLOY_EUSER (with an error set) when the callback aborts. */
int mdeploy__progress(mdeploy_ctx *ctx, const char *operation, const char *subject,
                      const char *unit, uint64_t current, uint64_t total,
                      uint64_t bytes, int done);

/* interrupt.c: MDEPLOY_EUSER "WHAT: interrupted" once mdeploy_interrupt()
 * was called, else 0. */
int mdeploy__interrupt_check(const char *what);

/* buf.c: a growable NUL-terminated byte buffer. */
typedef struct mdeploy__buf {
	char *ptr;
	size_t size;
	size_t alloc;
} mdeploy__buf;
#define MDEPLOY__BUF_INIT { NULL, 0, 0 }
/* Remove terminal escape sequences from data in place (NUL-terminated when
 * shortened); returns the new length. `state` (may be NULL, start at 0)
 * carries a sequence split across calls. */
size_t mdeploy__ansi_strip(int *state, char *data, size_t len);

int mdeploy__buf_grow(mdeploy__buf *buf, size_t extra);
int mdeploy__buf_put(mdeploy__buf *buf, const void *data, size_t len);
int mdeploy__buf_puts(mdeploy__buf *buf, const char *s);
int mdeploy__buf_printf(mdeploy__buf *buf, const char *fmt, ...) MDEPLOY_FORMAT_PRINTF(2, 3);
int mdeploy__buf_vprintf(mdeploy__buf *buf, const char *fmt, va_list ap);
void mdeploy__buf_clear(mdeploy__buf *buf);
/* Hands the string over to the caller (never NULL on success); buffer reset. */
char *mdeploy__buf_detach(mdeploy__buf *buf);
void mdeploy__buf_dispose(mdeploy__buf *buf);
const char *mdeploy__buf_cstr(const mdeploy__buf *buf);

/* fs.c: paths and files. */
char *mdeploy__strdup(const char *s);         /* NULL in, NULL out; sets ENOMEM */
char *mdeploy__sprintf(const char *fmt, ...) MDEPLOY_FORMAT_PRINTF(1, 2);
char *mdeploy__path_join(const char *a, const char *b);
int mdeploy__mkdir_p(const char *path, mode_t mode);
/* Whole file into memory, NUL-terminated. */
/* Whole files read into memory are capped: MDEPLOY__FILE_READ_MAX, or `max` (an error past it). */
#define MDEPLOY__FILE_READ_MAX ((size_t)256 << 20)
/* Configuration files (mdeploy.yml, pipelines, buildspecs, appspecs). */
#define MDEPLOY__CONFIG_READ_MAX ((size_t)1 << 20)
int mdeploy__file_read(char **out, size_t *len, const char *path);
int mdeploy__file_read_max(char **out, size_t *len, const char *path, size_t max);
/* Write via a temporary file, fsync, rename: the file is old or new, never half. */
int mdeploy__file_write_atomic(const char *path, const void *data, size_t len, mode_t mode);
int mdeploy__rm_rf(const char *path);
bool mdeploy__path_exists(const char *path);
bool mdeploy__is_dir(const char *path);
/* Monotonic clock in milliseconds. */
uint64_t mdeploy__now_ms(void);
/* SHA-256 of a file's bytes as 64 lowercase hex digits (what sha256sum prints). */
int mdeploy__file_sha256(const char *path, char out[65]);

/* charset.c: names are bytes (see charset.c). */
bool mdeploy__utf8_valid(const char *s, size_t len);
bool mdeploy__utf8_str(const char *s);          /* NULL counts as valid */
/* A UTF-8 locale exists to switch to (else names go through as bytes). */
bool mdeploy__locale_have_utf8(void);
/* Switches this thread's LC_CTYPE to UTF-8 (utf8) or C; returns what to
 * pass to mdeploy__locale_leave() (NULL: nothing changed). */
typedef void *mdeploy__locale;
mdeploy__locale mdeploy__locale_enter(bool utf8);
void mdeploy__locale_leave(mdeploy__locale old);

#endif

/* buf.c - growable byte buffer used across the library. */
#include "mdeploy_private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int mdeploy__buf_grow(mdeploy__buf *buf, size_t extra)
{
	size_t need, alloc;
	char *p;

	if (extra > SIZE_MAX - buf->size - 1)
		return mdeploy__error_oom();
	need = buf->size + extra + 1;
	if (need <= buf->alloc)
		return 0;
	alloc = buf->alloc ? buf->alloc : 64;
	while (alloc < need)
		alloc = alloc > SIZE_MAX / 2 ? need : alloc * 2;
	p = realloc(buf->ptr, alloc);
	if (!p)
		return mdeploy__error_oom();
	buf->ptr = p;
	buf->alloc = alloc;
	return 0;
}

int mdeploy__buf_put(mdeploy__buf *buf, const void *data, size_t len)
{
	int rc = mdeploy__buf_grow(buf, len);
	if (rc)
		return rc;
	if (len)
		memcpy(buf->ptr + buf->size, data, len);
	buf->size += len;
	buf->ptr[buf->size] = '\0';
	return 0;
}

int mdeploy__buf_puts(mdeploy__buf *buf, const char *s)
{
	return mdeploy__buf_put(buf, s, strlen(s));
}

int mdeploy__buf_vprintf(mdeploy__buf *buf, const char *fmt, va_list ap)
{
	va_list ap2;
	int n, rc;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_INVALID, "bad format");
	if ((rc = mdeploy__buf_grow(buf, (size_t)n)) != 0)
		return rc;
	vsnprintf(buf->ptr + buf->size, (size_t)n + 1, fmt, ap);
	buf->size += (size_t)n;
	return 0;
}

int mdeploy__buf_printf(mdeploy__buf *buf, const char *fmt, ...)
{
	va_list ap;
	int rc;
	va_start(ap, fmt);
	rc = mdeploy__buf_vprintf(buf, fmt, ap);
	va_end(ap);
	return rc;
}

void mdeploy__buf_clear(mdeploy__buf *buf)
{
	buf->size = 0;
	if (buf->ptr)
		buf->ptr[0] = '\0';
}

char *mdeploy__buf_detach(mdeploy__buf *buf)
{
	char *p = buf->ptr;
	if (!p)
		p = calloc(1, 1);
	buf->ptr = NULL;
	buf->size = buf->alloc = 0;
	return p;
}

void mdeploy__buf_dispose(mdeploy__buf *buf)
{
	free(buf->ptr);
	buf->ptr = NULL;
	buf->size = buf->alloc = 0;
}

const char *mdeploy__buf_cstr(const mdeploy__buf *buf)
{
	return buf->ptr ? buf->ptr : "";
}

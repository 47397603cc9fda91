/* read_stdin.c - values given on standard input (secrets, parameters). */
#include "config.h"
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *cli_read_stdin(void)
{
	size_t n = 0, cap = 4096, got;
	char *buf = malloc(cap);
	if (!buf)
		return NULL;
	while ((got = fread(buf + n, 1, cap - n - 1, stdin)) > 0) {
		n += got;
		if (n + 1 == cap) {
			char *nb = realloc(buf, cap *= 2);
			if (!nb) {
				free(buf);
				return NULL;
			}
			buf = nb;
		}
	}
	if (n && buf[n - 1] == '\n')
		n--;
	buf[n] = '\0';
	/* A value is text: a NUL would silently cut it where it is stored. */
	if (memchr(buf, '\0', n)) {
		cli_error("standard input holds a NUL byte (at offset %zu): a value must be text",
		          (size_t)((char *)memchr(buf, '\0', n) - buf));
		free(buf);
		return NULL;
	}
	return buf;
}

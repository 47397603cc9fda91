/* mask.c - secret values out of everything a build reports. */
#include "build_private.h"

#include <stdlib.h>
#include <string.h>

static int add_one(mdeploy_build__mask *m, const char *s, size_t len)
{
	char **v;
	size_t i;
	if (len == 0)
		return 0;
	for (i = 0; i < m->n; i++)
		if (strlen(m->secrets[i]) == len && !memcmp(m->secrets[i], s, len))
			return 0;
	if (!(v = realloc(m->secrets, (m->n + 1) * sizeof(*v))))
		return mdeploy__error_oom();
	m->secrets = v;
	if (!(v[m->n] = malloc(len + 1)))
		return mdeploy__error_oom();
	memcpy(v[m->n], s, len);
	v[m->n][len] = '\0';
	m->n++;
	/* Longest first, so a secret containing another is masked whole. */
	for (i = m->n - 1; i > 0 && strlen(v[i]) > strlen(v[i - 1]); i--) {
		char *t = v[i];
		v[i] = v[i - 1];
		v[i - 1] = t;
	}
	return 0;
}

int mdeploy_build__mask_add(mdeploy_build__mask *m, const char *secret)
{
	const char *p = secret, *nl;
	int rc;
	if (!secret)
		return 0;
	if ((rc = add_one(m, secret, strlen(secret))) != 0)
		return rc;
	/* Output is masked line by line: each line of a multi-line secret too. */
	while ((nl = strchr(p, '\n')) != NULL) {
		if ((rc = add_one(m, p, (size_t)(nl - p))) != 0)
			return rc;
		p = nl + 1;
	}
	if (p != secret)
		rc = add_one(m, p, strlen(p));
	return rc;
}

char *mdeploy_build__mask_apply(const mdeploy_build__mask *m, const char *text)
{
	mdeploy__buf b = MDEPLOY__BUF_INIT;
	const char *p = text;
	size_t i;

	if (!text)
		return NULL;
	if (!m || !m->n)
		return mdeploy__strdup(text);
	while (*p) {
		int hit = 0;
		for (i = 0; i < m->n; i++) {
			size_t l = strlen(m->secrets[i]);
			if (!strncmp(p, m->secrets[i], l)) {
				if (mdeploy__buf_puts(&b, "***"))
					goto oom;
				p += l;
				hit = 1;
				break;
			}
		}
		if (!hit && mdeploy__buf_put(&b, p++, 1))
			goto oom;
	}
	if (!b.ptr && mdeploy__buf_puts(&b, ""))
		goto oom;
	return mdeploy__buf_detach(&b);
oom:
	mdeploy__buf_dispose(&b);
	return NULL;
}

void mdeploy_build__mask_dispose(mdeploy_build__mask *m)
{
	size_t i;
	for (i = 0; i < m->n; i++) {
		memset(m->secrets[i], 0, strlen(m->secrets[i]));
		free(m->secrets[i]);
	}
	free(m->secrets);
	m->secrets = NULL;
	m->n = 0;
}

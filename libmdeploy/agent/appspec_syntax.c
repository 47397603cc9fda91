/*
 * appspec_syntax.c - the syntax of what appspec permissions name: ACL
 * entries as setfacl(1) takes them and SELinux contexts (names and
 * MLS/MCS ranges), checked before anything is applied.
 */
#include "appspec_private.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* An ACL entry as setfacl(1) takes it: [d[efault]:][u[ser]|g[roup]|m[ask]|o[ther]]:[name]:perms. */
int mdeploy_appspec__valid_ace(const char *ace, const char **why)
{
	char *copy, *parts[5], *s;
	size_t n = 0, i;
	const char *type = "user", *perm;
	int ok = 0;

	*why = "out of memory";
	/* strsep over a copy keeps empty fields ("u::rw"). */
	if (!(copy = strdup(ace)))
		return 0;
	s = copy;
	n = 0;
	while (s && n < 5)
		parts[n++] = strsep(&s, ":");
	if (s || n < 2 || n > 4) {
		*why = "an entry has two to four ':'-separated fields";
		goto out;
	}
	i = 0;
	if (n == 4) {
		if (strcmp(parts[0], "d") && strcmp(parts[0], "default")) {
			*why = "the first of four fields must be 'd' or 'default'";
			goto out;
		}
		i = 1;
	}
	if (n - i == 3) {
		const char *t = parts[i++];
		if (!strcmp(t, "u") || !strcmp(t, "user")) type = "user";
		else if (!strcmp(t, "g") || !strcmp(t, "group")) type = "group";
		else if (!strcmp(t, "m") || !strcmp(t, "mask")) type = "mask";
		else if (!strcmp(t, "o") || !strcmp(t, "other")) type = "other";
		else {
			*why = "the type must be u[ser], g[roup], m[ask] or o[ther]";
			goto out;
		}
	}
	if ((!strcmp(type, "mask") || !strcmp(type, "other")) && *parts[i]) {
		*why = "mask and other entries take no name";
		goto out;
	}
	perm = parts[i + 1];
	if (strlen(perm) == 1 && perm[0] >= '0' && perm[0] <= '7') {
		ok = 1;
		goto out;
	}
	if (!*perm || strlen(perm) > 3 || strspn(perm, "rwx-") != strlen(perm)) {
		*why = "permissions are up to three of r, w, x, - or one octal digit";
		goto out;
	}
	ok = 1;
out:
	free(copy);
	return ok;
}

/* s<N>[:c<N>[.c<N>][,...]] */
static int valid_level(const char *s, const char *end)
{
	const char *c = s;
	if (c >= end || *c != 's')
		return 0;
	c++;
	if (c >= end || !isdigit((unsigned char)*c))
		return 0;
	while (c < end && isdigit((unsigned char)*c))
		c++;
	if (c == end)
		return 1;
	if (*c++ != ':')
		return 0;
	for (;;) {
		if (c >= end || *c != 'c')
			return 0;
		c++;
		if (c >= end || !isdigit((unsigned char)*c))
			return 0;
		while (c < end && isdigit((unsigned char)*c))
			c++;
		if (c < end && *c == '.') {
			c++;
			if (c >= end || *c != 'c')
				return 0;
			c++;
			if (c >= end || !isdigit((unsigned char)*c))
				return 0;
			while (c < end && isdigit((unsigned char)*c))
				c++;
		}
		if (c == end)
			return 1;
		if (*c++ != ',')
			return 0;
	}
}

int mdeploy_appspec__valid_range(const char *r)
{
	const char *dash = strchr(r, '-'), *end = r + strlen(r);
	if (!dash)
		return valid_level(r, end);
	if (strchr(dash + 1, '-'))
		return 0;
	if (!valid_level(r, dash) || !valid_level(dash + 1, end))
		return 0;
	/* The high level must dominate the low one in sensitivity. */
	return strtol(r + 1, NULL, 10) <= strtol(dash + 2, NULL, 10);
}

int mdeploy_appspec__selinux_word(const char *s)
{
	return *s && strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == strlen(s);
}


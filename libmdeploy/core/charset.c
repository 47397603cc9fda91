/*
 * charset.c - file names are bytes: a check for UTF-8 and the thread locale
 * libarchive converts names with.
 *
 * git allows any byte but NUL and '/' in a name. libarchive converts names
 * between the archive's header charset and the "current locale", which for
 * a program that never calls setlocale() is "C" (ASCII): a UTF-8 name then
 * fails to translate. Switching the calling thread to a UTF-8 locale with
 * uselocale() for the duration of a libarchive call makes UTF-8 names pass
 * through unchanged, and leaves the process's locale alone.
 */
#include "mdeploy_private.h"

#include <locale.h>
#include <pthread.h>
#include <string.h>

/* RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF.
 * libarchive rejects exactly these, so a name this accepts round-trips. */
bool mdeploy__utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + len;
	while (p < end) {
		unsigned char c = *p;
		size_t n;
		unsigned int cp, min;
		if (c < 0x80) {
			p++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1; cp = c & 0x1f; min = 0x80;
		} else if ((c & 0xf0) == 0xe0) {
			n = 2; cp = c & 0x0f; min = 0x800;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3; cp = c & 0x07; min = 0x10000;
		} else {
			return false;
		}
		if ((size_t)(end - p) <= n)
			return false;
		for (size_t i = 1; i <= n; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (p[i] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		p += n + 1;
	}
	return true;
}

bool mdeploy__utf8_str(const char *s)
{
	return !s || mdeploy__utf8_valid(s, strlen(s));
}

static pthread_once_t once = PTHREAD_ONCE_INIT;
static locale_t utf8_locale = (locale_t)0, c_locale = (locale_t)0;

static void locales_init(void)
{
	static const char *const names[] = { "C.UTF-8", "C.utf8", "en_US.UTF-8", "en_US.utf8" };
	size_t i;
	for (i = 0; !utf8_locale && i < MDEPLOY__ARRAY_SIZE(names); i++)
		utf8_locale = newlocale(LC_CTYPE_MASK, names[i], (locale_t)0);
	c_locale = newlocale(LC_CTYPE_MASK, "C", (locale_t)0);
}

bool mdeploy__locale_have_utf8(void)
{
	pthread_once(&once, locales_init);
	return utf8_locale != (locale_t)0;
}

mdeploy__locale mdeploy__locale_enter(bool utf8)
{
	locale_t want;
	pthread_once(&once, locales_init);
	want = utf8 && utf8_locale ? utf8_locale : c_locale;
	if (!want)
		return NULL;
	return (mdeploy__locale)uselocale(want);
}

void mdeploy__locale_leave(mdeploy__locale old)
{
	if (old)
		uselocale((locale_t)old);
}

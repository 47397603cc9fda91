/* version.c - the version of the library actually loaded, and of its dependencies. */
#include "mdeploy_private.h"

#include <pthread.h>
#include <stdio.h>

#include <archive.h>
#include <curl/curl.h>
#include <git2.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <sqlite3.h>
#include <cyaml/cyaml.h>

const char *mdeploy_version(int *major, int *minor, int *patch)
{
	if (major) *major = MDEPLOY_VERSION_MAJOR;
	if (minor) *minor = MDEPLOY_VERSION_MINOR;
	if (patch) *patch = MDEPLOY_VERSION_PATCH;
	return MDEPLOY_VERSION_STRING;
}

static pthread_once_t deps_once = PTHREAD_ONCE_INIT;
static char git_version[32];
static mdeploy_dependency deps[7];

static void deps_init(void)
{
	int a, b, c;
	git_libgit2_version(&a, &b, &c);
	snprintf(git_version, sizeof(git_version), "%d.%d.%d", a, b, c);
	deps[0].name = "libgit2";    deps[0].version = git_version;
	deps[1].name = "libarchive"; deps[1].version = archive_version_string();
	deps[2].name = "libcurl";    deps[2].version = curl_version_info(CURLVERSION_NOW)->version;
	deps[3].name = "openssl";    deps[3].version = OpenSSL_version(OPENSSL_VERSION);
	deps[4].name = "sqlite";     deps[4].version = sqlite3_libversion();
	deps[5].name = "libcyaml";   deps[5].version = cyaml_version_str;
	deps[6].name = "jansson";    deps[6].version = jansson_version_str();
}

const mdeploy_dependency *mdeploy_dependencies(size_t *count)
{
	pthread_once(&deps_once, deps_init);
	if (count)
		*count = MDEPLOY__ARRAY_SIZE(deps);
	return deps;
}

/*
 * appspec_load.c - finding the appspec to parse: a file (appspec.yml,
 * size-capped), a revision directory, or a bundle read with libarchive
 * without extracting it.
 */
#include "appspec_private.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int load_file(mdeploy_appspec **out, const char *path, const char *name)
{
	char *data = NULL;
	size_t len = 0;
	int rc;
	struct stat st;

	if (stat(path, &st) == 0 && st.st_size > APPSPEC_MAX_BYTES)
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_AGENT,
		                          "%s: the AppSpec file is larger than %d bytes", name, APPSPEC_MAX_BYTES);
	if ((rc = mdeploy__file_read_max(&data, &len, path, MDEPLOY__CONFIG_READ_MAX)) != 0)
		return rc;
	rc = mdeploy_appspec_parse(out, data, len, name);
	free(data);
	return rc;
}

static int load_archive(mdeploy_appspec **out, const char *path)
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	char *name = NULL;
	int rc = 0, r;
	mdeploy__locale old_locale;

	if (!a)
		return mdeploy__error_oom();
	/* Names are bytes (see core/charset.c): a UTF-8 one must not stop the
	 * search when the program runs in the C locale. */
	old_locale = mdeploy__locale_enter(true);
	archive_read_support_filter_all(a);
	archive_read_support_format_all(a);
	if (archive_read_open_filename(a, path, 65536) != ARCHIVE_OK) {
		rc = mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_AGENT,
		                        "'%s' is neither an appspec file, a directory nor a readable bundle: %s",
		                        path, archive_error_string(a));
		goto out;
	}
	while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
		const char *n = archive_entry_pathname(e);
		while (n && n[0] == '.' && n[1] == '/')
			n += 2;
		if (!n || (strcmp(n, "appspec.yml") && strcmp(n, "appspec.yaml")))
			continue;
		if (archive_entry_filetype(e) != AE_IFREG) {
			rc = mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_AGENT,
			                        "%s!%s: not a regular file", path, n);
			goto out;
		}
		{
			mdeploy__buf b = MDEPLOY__BUF_INIT;
			char chunk[16384];
			la_ssize_t got;
			while ((got = archive_read_data(a, chunk, sizeof(chunk))) > 0) {
				if (b.size + (size_t)got > APPSPEC_MAX_BYTES) {
					got = -2;
					break;
				}
				if ((rc = mdeploy__buf_put(&b, chunk, (size_t)got)) != 0)
					break;
			}
			if (!rc && got < 0)
				rc = mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_AGENT, "%s!%s: %s", path, n,
				                        got == -2 ? "larger than 1 MiB" : archive_error_string(a));
			if (!rc && !(name = mdeploy__sprintf("%s!%s", path, n)))
				rc = MDEPLOY_ENOMEM;
			if (!rc)
				rc = mdeploy_appspec_parse(out, b.ptr, b.size, name);
			mdeploy__buf_dispose(&b);
		}
		goto out;
	}
	if (r == ARCHIVE_EOF)
		rc = mdeploy__error_set(MDEPLOY_ENOTFOUND, MDEPLOY_ERROR_CLASS_AGENT,
		                        "%s: the bundle has no appspec.yml at its root", path);
	else
		rc = mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_AGENT, "%s: %s", path,
		                        archive_error_string(a));
out:
	free(name);
	archive_read_free(a);
	mdeploy__locale_leave(old_locale);
	return rc;
}

int mdeploy_appspec_load(mdeploy_appspec **out, const char *path)
{
	struct stat st;

	if (!out || !path)
		return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_INVALID,
		                          "mdeploy_appspec_load: invalid arguments");
	*out = NULL;
	if (stat(path, &st) < 0)
		return mdeploy__error_os(MDEPLOY_ERROR_CLASS_AGENT, "cannot read '%s'", path);
	if (S_ISDIR(st.st_mode)) {
		static const char *const names[] = { "appspec.yml", "appspec.yaml" };
		size_t i;
		for (i = 0; i < MDEPLOY__ARRAY_SIZE(names); i++) {
			char *f = mdeploy__path_join(path, names[i]);
			int rc;
			if (!f)
				return MDEPLOY_ENOMEM;
			if (!mdeploy__path_exists(f)) {
				free(f);
				continue;
			}
			rc = load_file(out, f, f);
			free(f);
			return rc;
		}
		return mdeploy__error_set(MDEPLOY_ENOTFOUND, MDEPLOY_ERROR_CLASS_AGENT,
		                          "%s: no appspec.yml in this directory", path);
	}
	{
		size_t n = strlen(path);
		if ((n >= 4 && !strcmp(path + n - 4, ".yml")) || (n >= 5 && !strcmp(path + n - 5, ".yaml")))
			return load_file(out, path, path);
	}
	return load_archive(out, path);
}


/* appspec.yml parsing and every validation error CodeDeploy reports. */
#include "mdeploy_private.h"
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct bad {
	const char *what;
	const char *yaml;
	int code;
	const char *message; /* must appear in the error */
};

static const struct bad bad[] = {
	{ "empty file", "", MDEPLOY_EINVALID, "appspec.yml: the AppSpec file is empty" },
	{ "comments only", "# nothing\n", MDEPLOY_EINVALID, "the AppSpec file is empty" },
	{ "not a mapping", "- a\n- b\n", MDEPLOY_EINVALID, "appspec.yml:1:1: the AppSpec file must be a mapping" },
	{ "YAML syntax", "version: 0.0\nos: [linux\n", MDEPLOY_EINVALID, "appspec.yml:3:1: invalid YAML" },
	{ "missing version", "os: linux\n", MDEPLOY_EINVALID, "appspec.yml:1:1: version: missing version" },
	{ "invalid version", "version: 1.0\nos: linux\n", MDEPLOY_EINVALID,
	  "appspec.yml:1:10: version: invalid version '1.0'" },
	{ "missing os", "version: 0.0\n", MDEPLOY_EINVALID, "appspec.yml:1:1: os: missing os" },
	{ "unsupported os", "version: 0.0\nos: macos\n", MDEPLOY_EINVALID, "appspec.yml:2:5: os: unsupported os 'macos'" },
	{ "windows", "version: 0.0\nos: windows\n", MDEPLOY_EUNSUPPORTED, "appspec.yml:2:5: os: unsupported os 'windows'" },
	{ "invalid file_exists_behavior", "version: 0.0\nos: linux\nfile_exists_behavior: MERGE\n", MDEPLOY_EINVALID,
	  "appspec.yml:3:23: file_exists_behavior: invalid file_exists_behavior 'MERGE'" },
	{ "hook with no location",
	  "version: 0.0\nos: linux\nhooks:\n  AfterInstall:\n    - timeout: 30\n", MDEPLOY_EINVALID,
	  "appspec.yml:5:7: hooks.AfterInstall[0]: hook script has no location" },
	{ "timeout not an integer",
	  "version: 0.0\nos: linux\nhooks:\n  AfterInstall:\n    - location: a.sh\n      timeout: abc\n", MDEPLOY_EINVALID,
	  "appspec.yml:6:16: hooks.AfterInstall[0].timeout: timeout must be a positive integer, not 'abc'" },
	{ "timeout zero",
	  "version: 0.0\nos: linux\nhooks:\n  BeforeInstall:\n    - location: a.sh\n    - location: b.sh\n      timeout: 0\n",
	  MDEPLOY_EINVALID, "appspec.yml:7:16: hooks.BeforeInstall[1].timeout: timeout must be a positive integer, not '0'" },
	{ "timeout negative",
	  "version: 0.0\nos: linux\nhooks:\n  BeforeInstall:\n    - location: a.sh\n      timeout: -5\n",
	  MDEPLOY_EINVALID, "timeout must be a positive integer, not '-5'" },
	{ "timeout over an hour",
	  "version: 0.0\nos: linux\nhooks:\n  BeforeInstall:\n    - location: a.sh\n      timeout: 3601\n",
	  MDEPLOY_EINVALID, "hooks.BeforeInstall[0].timeout: timeout 3601 is over 3600 seconds" },
	{ "hooks event not a list",
	  "version: 0.0\nos: linux\nhooks:\n  BeforeInstall: a.sh\n", MDEPLOY_EINVALID,
	  "appspec.yml:4:18: hooks.BeforeInstall: an event takes a list of scripts" },
	{ "bad scope", "version: 0.0\nos: linux\nhooks:\n  AfterInstall:\n    - location: a.sh\n      scope: twice\n",
	  MDEPLOY_EINVALID, "appspec.yml:6:14: hooks.AfterInstall[0].scope: scope must be 'once' or 'all'" },
	{ "file with no source", "version: 0.0\nos: linux\nfiles:\n  - destination: /var/www\n", MDEPLOY_EINVALID,
	  "appspec.yml:4:5: files[0]: file mapping has no source" },
	{ "file with no destination", "version: 0.0\nos: linux\nfiles:\n  - source: /\n  - source: x\n", MDEPLOY_EINVALID,
	  "appspec.yml:4:5: files[0]: file mapping for source '/' has no destination" },
	{ "permission with no object", "version: 0.0\nos: linux\npermissions:\n  - owner: www-data\n", MDEPLOY_EINVALID,
	  "appspec.yml:4:5: permissions[0]: permission has no object" },
	{ "mode too long", "version: 0.0\nos: linux\npermissions:\n  - object: /srv\n    mode: 07555\n", MDEPLOY_EINVALID,
	  "appspec.yml:5:11: permissions[0].mode: invalid mode '07555': a mode is 1 to 4 octal digits long" },
	{ "mode bad character", "version: 0.0\nos: linux\npermissions:\n  - object: /srv\n    mode: \"648\"\n", MDEPLOY_EINVALID,
	  "appspec.yml:5:11: permissions[0].mode: invalid character '8' in mode '648'" },
	{ "mode symbolic", "version: 0.0\nos: linux\npermissions:\n  - object: /srv\n    mode: u+x\n", MDEPLOY_EINVALID,
	  "invalid character 'u' in mode 'u+x'" },
	{ "ACL bad type", "version: 0.0\nos: linux\npermissions:\n  - object: /srv\n    acls:\n      - u:bob:rw\n      - z:bob:rw\n",
	  MDEPLOY_EINVALID, "appspec.yml:7:9: permissions[0].acls[1]: invalid ACL entry 'z:bob:rw'" },
	{ "ACL bad perms", "version: 0.0\nos: linux\npermissions:\n  - object: /srv\n    acls:\n      - u:bob:rwxa\n",
	  MDEPLOY_EINVALID, "permissions[0].acls[0]: invalid ACL entry 'u:bob:rwxa'" },
	{ "ACL mask with a name", "version: 0.0\nos: linux\npermissions:\n  - object: /srv\n    acls: [\"m:bob:rw\"]\n",
	  MDEPLOY_EINVALID, "invalid ACL entry 'm:bob:rw': mask and other entries take no name" },
	{ "ACL too many fields", "version: 0.0\nos: linux\npermissions:\n  - object: /srv\n    acls: [\"x:u:bob:rw\"]\n",
	  MDEPLOY_EINVALID, "invalid ACL entry 'x:u:bob:rw'" },
	{ "SELinux context without type",
	  "version: 0.0\nos: linux\npermissions:\n  - object: /srv\n    context:\n      user: unconfined_u\n",
	  MDEPLOY_EINVALID, "appspec.yml:6:7: permissions[0].context: invalid SELinux context: it has no type" },
	{ "SELinux context not a mapping",
	  "version: 0.0\nos: linux\npermissions:\n  - object: /srv\n    context: httpd_sys_content_t\n",
	  MDEPLOY_EINVALID, "permissions[0].context: invalid SELinux context" },
	{ "SELinux range invalid",
	  "version: 0.0\nos: linux\npermissions:\n  - object: /srv\n    context:\n      type: httpd_sys_content_t\n      range: s0-t1\n",
	  MDEPLOY_EINVALID, "appspec.yml:7:14: permissions[0].context.range: invalid SELinux range 's0-t1'" },
	{ "SELinux range high below low",
	  "version: 0.0\nos: linux\npermissions:\n  - object: /srv\n    context:\n      type: t\n      range: s3-s1\n",
	  MDEPLOY_EINVALID, "invalid SELinux range 's3-s1'" },
	{ "permission type invalid", "version: 0.0\nos: linux\npermissions:\n  - object: /srv\n    type: [file, socket]\n",
	  MDEPLOY_EINVALID, "appspec.yml:5:18: permissions[0].type[1]: invalid type 'socket'" },
};

static const char good[] =
	"version: 0.0\n"
	"os: linux\n"
	"file_exists_behavior: RETAIN\n"
	"some_future_key: ignored\n"
	"files:\n"
	"  - source: /\n"
	"    destination: /var/www/moodle\n"
	"  - source: config/php.ini\n"
	"    destination: /etc/php\n"
	"permissions:\n"
	"  - object: /var/www/moodle\n"
	"    pattern: \"*.php\"\n"
	"    except: [/var/www/moodle/config.php]\n"
	"    owner: www-data\n"
	"    group: www-data\n"
	"    mode: 0640\n"
	"    acls:\n"
	"      - u:bob:rw\n"
	"      - d:g::r-x\n"
	"      - o::4\n"
	"    context:\n"
	"      user: system_u\n"
	"      type: httpd_sys_content_t\n"
	"      range: s0-s0:c0.c1023,c5\n"
	"    type:\n"
	"      - file\n"
	"hooks:\n"
	"  ApplicationStop:\n"
	"    - location: scripts/stop.sh\n"
	"      timeout: 60\n"
	"  AfterInstall:\n"
	"    - location: scripts/a.sh\n"
	"      runas: www-data\n"
	"    - location: scripts/upgrade.sh\n"
	"      timeout: 3600\n"
	"      scope: once\n"
	"      unknown_script_key: 1\n"
	"  ValidateService:\n";

int main(void)
{
	mdeploy_appspec *s = NULL;
	const mdeploy_appspec_hook *h;
	const mdeploy_appspec_permission *p;
	size_t i;
	int rc;

	plan_lazy();

	rc = mdeploy_appspec_parse(&s, good, strlen(good), NULL);
	is_int(0, rc, "a full appspec parses (%s)", rc ? mdeploy_error_last()->message : "ok");
	if (!s)
		return done();
	is_str("0.0", mdeploy_appspec_version(s), "version");
	is_str("linux", mdeploy_appspec_os(s), "os");
	is_int(MDEPLOY_FILE_EXISTS_RETAIN, mdeploy_appspec_file_exists_behavior(s), "file_exists_behavior");
	is_int(2, (long long)mdeploy_appspec_file_count(s), "two file mappings");
	is_str("/var/www/moodle", mdeploy_appspec_file_at(s, 0)->destination, "destination");
	is_str("config/php.ini", mdeploy_appspec_file_at(s, 1)->source, "source");
	ok(mdeploy_appspec_file_at(s, 2) == NULL, "file_at out of range gives NULL");
	p = mdeploy_appspec_permission_at(s, 0);
	is_int(0640, p->mode, "mode read as octal text, leading zero kept");
	is_str("*.php", p->pattern, "pattern");
	is_str("/var/www/moodle/config.php", p->except[0], "except list");
	ok(p->except[1] == NULL, "except list NULL-terminated");
	is_str("o::4", p->acls[2], "acls");
	is_str("s0-s0:c0.c1023,c5", p->context_range, "context range");
	is_int(MDEPLOY_APPSPEC_TYPE_FILE, p->types, "type: file");
	is_int(3, (long long)mdeploy_appspec_event_count(s), "three events");
	is_str("ValidateService", mdeploy_appspec_event_at(s, 2), "events in file order");
	is_int(0, (long long)mdeploy_appspec_hook_count(s, "ValidateService"), "empty event has no scripts");
	is_int(2, (long long)mdeploy_appspec_hook_count(s, "AfterInstall"), "two AfterInstall scripts");
	h = mdeploy_appspec_hook_at(s, "AfterInstall", 0);
	is_int(MDEPLOY_APPSPEC_TIMEOUT_DEFAULT, h->timeout, "timeout defaults to 3600");
	is_str("www-data", h->runas, "runas");
	ok(!h->scope_once, "scope defaults to all");
	h = mdeploy_appspec_hook_at(s, "AfterInstall", 1);
	ok(h->scope_once, "scope: once");
	is_int(34, h->line, "hook line");
	is_int(60, mdeploy_appspec_hook_at(s, "ApplicationStop", 0)->timeout, "timeout: 60");
	ok(mdeploy_appspec_hook_at(s, "Nope", 0) == NULL, "unknown event gives NULL");
	mdeploy_appspec_free(s);
	s = NULL;

	rc = mdeploy_appspec_parse(&s, "version: 0.0\nos: linux\n", 23, "x.yml");
	is_int(0, rc, "minimal appspec parses");
	is_int(MDEPLOY_FILE_EXISTS_DISALLOW, mdeploy_appspec_file_exists_behavior(s), "DISALLOW by default");
	mdeploy_appspec_free(s);
	s = NULL;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		rc = mdeploy_appspec_parse(&s, bad[i].yaml, strlen(bad[i].yaml), NULL);
		is_int(bad[i].code, rc, "%s: rejected", bad[i].what);
		like(mdeploy_error_last()->message, bad[i].message, "%s: message names place and problem", bad[i].what);
		ok(s == NULL, "%s: no appspec returned", bad[i].what);
		mdeploy_appspec_free(s);
		s = NULL;
	}

	/* Loading from a directory, a file and a missing path. */
	{
		const char *tmp = test_tmpdir();
		char path[512];
		FILE *f;
		snprintf(path, sizeof(path), "%s/appspec.yml", tmp);
		f = fopen(path, "w");
		fputs("version: 0.0\nos: linux\nhooks:\n  AfterInstall:\n    - location: x\n      timeout: y\n", f);
		fclose(f);
		rc = mdeploy_appspec_load(&s, tmp);
		is_int(MDEPLOY_EINVALID, rc, "load from a directory validates");
		snprintf(path, sizeof(path), "%s/appspec.yml:6:16: hooks.AfterInstall[0].timeout", tmp);
		like(mdeploy_error_last()->message, path, "message names the file path");
		snprintf(path, sizeof(path), "%s/none", tmp);
		is_int(MDEPLOY_ENOTFOUND, mdeploy_appspec_load(&s, path), "missing path: not found");
	}
	return done();
}

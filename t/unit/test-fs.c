/* Buffers and file helpers. */
#include "mdeploy_private.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int main(void)
{
	mdeploy__buf b = MDEPLOY__BUF_INIT;
	const char *tmp = test_tmpdir();
	char *p, *data;
	size_t len;
	struct stat st;
	int i;

	plan_lazy();

	is_str("", mdeploy__buf_cstr(&b), "empty buffer reads as empty string");
	for (i = 0; i < 1000; i++)
		mdeploy__buf_printf(&b, "%d,", i);
	is_int(3890, (long long)b.size, "buffer grows across many appends");
	ok(!strncmp(b.ptr, "0,1,2,", 6) && !strcmp(b.ptr + b.size - 4, "999,"), "content intact");
	p = mdeploy__buf_detach(&b);
	ok(b.ptr == NULL && b.size == 0, "detach resets the buffer");
	free(p);

	p = mdeploy__path_join("/a/b/", "c");
	is_str("/a/b/c", p, "join with trailing slash");
	free(p);
	p = mdeploy__path_join("/a", "/abs");
	is_str("/abs", p, "join with absolute second part");
	free(p);

	p = mdeploy__sprintf("%s/x/y/z", tmp);
	is_int(0, mdeploy__mkdir_p(p, 0755), "mkdir -p");
	ok(mdeploy__is_dir(p), "created");
	is_int(0, mdeploy__mkdir_p(p, 0755), "mkdir -p again is fine");
	free(p);

	p = mdeploy__sprintf("%s/x/secret", tmp);
	umask(022);
	is_int(0, mdeploy__file_write_atomic(p, "s3cr3t", 6, 0600), "atomic write");
	ok(stat(p, &st) == 0 && (st.st_mode & 0777) == 0600, "mode 0600 kept");
	is_int(0, mdeploy__file_read(&data, &len, p), "read back");
	is_str("s3cr3t", data, "content");
	is_int(6, (long long)len, "length");
	free(data);
	is_int(0, mdeploy__file_write_atomic(p, "new", 3, 0644), "overwrite");
	mdeploy__file_read(&data, &len, p);
	is_str("new", data, "replaced whole");
	free(data);
	free(p);

	p = mdeploy__sprintf("%s/x/y/z/f", tmp);
	is_int(MDEPLOY_ENOTFOUND, mdeploy__file_write_atomic("/nonexistent/dir/f", "a", 1, 0644),
	       "atomic write into a missing dir fails");
	free(p);

	p = mdeploy__sprintf("%s/x", tmp);
	is_int(0, mdeploy__rm_rf(p), "rm -rf");
	ok(!mdeploy__path_exists(p), "gone");
	is_int(0, mdeploy__rm_rf(p), "rm -rf of a missing path is fine");
	free(p);
	return done();
}

/* gzpipe.c - tgz: the gzip stream deflated on a thread of its own. */
#include "bundle_private.h"

#include <archive.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

/*
 * tgz: libarchive's gzip filter deflates on the thread that also reads,
 * hashes and frames every file, so on two cores `tar | gzip` beat it. The
 * tar stream goes instead through a small queue to a thread of its own
 * that deflates (zlib, gzip wrapper: mtime 0, so output stays the same).
 */
#define GZ_CHUNK (1024 * 1024)
#define GZ_QUEUE 4

struct mdeploy_bundle__gz {
	int fd;
	int level;
	pthread_t thread;
	int started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned char *chunks[GZ_QUEUE];
	size_t lens[GZ_QUEUE];
	size_t head, count;       /* queued chunks: head .. head+count-1 */
	unsigned char *cur;       /* being filled by the writer */
	size_t cur_len;
	int done;                 /* the writer has no more */
	int err;                  /* errno of a failed write, or -1 for zlib */
};

static int gz_write_all(int fd, const unsigned char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return errno ? errno : EIO;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static void *gz_thread(void *arg)
{
	mdeploy_bundle__gz *g = arg;
	unsigned char *out = malloc(256 * 1024);
	z_stream z;
	int zrc, err = 0, finished = 0;

	memset(&z, 0, sizeof(z));
	if (!out || deflateInit2(&z, g->level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
		free(out);
		pthread_mutex_lock(&g->mu);
		g->err = out ? -1 : ENOMEM;
		pthread_cond_broadcast(&g->cv);
		pthread_mutex_unlock(&g->mu);
		return NULL;
	}
	while (!finished) {
		unsigned char *chunk = NULL;
		size_t len = 0;
		int last;
		pthread_mutex_lock(&g->mu);
		while (!g->count && !g->done)
			pthread_cond_wait(&g->cv, &g->mu);
		if (g->count) {
			chunk = g->chunks[g->head];
			len = g->lens[g->head];
		}
		last = g->done && g->count <= 1;
		pthread_mutex_unlock(&g->mu);
		z.next_in = chunk;
		z.avail_in = (uInt)len;
		do {
			z.next_out = out;
			z.avail_out = 256 * 1024;
			zrc = deflate(&z, last ? Z_FINISH : Z_NO_FLUSH);
			if (zrc == Z_STREAM_ERROR) {
				err = -1;
				break;
			}
			if (!err)
				err = gz_write_all(g->fd, out, 256 * 1024 - z.avail_out);
		} while (z.avail_out == 0 || (last && zrc != Z_STREAM_END));
		pthread_mutex_lock(&g->mu);
		if (chunk) {
			free(chunk);
			g->head = (g->head + 1) % GZ_QUEUE;
			g->count--;
		}
		if (err && !g->err)
			g->err = err;
		finished = last || err;
		pthread_cond_broadcast(&g->cv);
		pthread_mutex_unlock(&g->mu);
	}
	deflateEnd(&z);
	free(out);
	return NULL;
}

/* Hands the filled chunk to the thread; waits while the queue is full. */
static int gz_push(mdeploy_bundle__gz *g)
{
	int err;
	pthread_mutex_lock(&g->mu);
	while (g->count == GZ_QUEUE && !g->err)
		pthread_cond_wait(&g->cv, &g->mu);
	err = g->err;
	if (!err && g->cur) {
		g->chunks[(g->head + g->count) % GZ_QUEUE] = g->cur;
		g->lens[(g->head + g->count) % GZ_QUEUE] = g->cur_len;
		g->count++;
		g->cur = NULL;
		g->cur_len = 0;
		pthread_cond_broadcast(&g->cv);
	}
	pthread_mutex_unlock(&g->mu);
	return err;
}

ssize_t mdeploy_bundle__gz_write(struct archive *a, void *client, const void *buf, size_t len)
{
	mdeploy_bundle__gz *g = client;
	const unsigned char *p = buf;
	size_t left = len;
	while (left) {
		size_t n;
		if (!g->cur && !(g->cur = malloc(GZ_CHUNK))) {
			archive_set_error(a, ENOMEM, "out of memory");
			return -1;
		}
		n = GZ_CHUNK - g->cur_len < left ? GZ_CHUNK - g->cur_len : left;
		memcpy(g->cur + g->cur_len, p, n);
		g->cur_len += n;
		p += n;
		left -= n;
		if (g->cur_len == GZ_CHUNK) {
			int err = gz_push(g);
			if (err) {
				archive_set_error(a, err > 0 ? err : EIO, err > 0 ? "cannot write: %s" : "%s",
				                  err > 0 ? strerror(err) : "deflate failed");
				return -1;
			}
		}
	}
	return (la_ssize_t)len;
}

/* Ends the stream and waits for the thread; 0 or an errno (-1: zlib). */
static int gz_finish(mdeploy_bundle__gz *g)
{
	int err;
	if (!g->started)
		return g->err;
	if (g->cur_len)
		(void)gz_push(g);
	pthread_mutex_lock(&g->mu);
	g->done = 1;
	pthread_cond_broadcast(&g->cv);
	pthread_mutex_unlock(&g->mu);
	pthread_join(g->thread, NULL);
	g->started = 0;
	free(g->cur);
	g->cur = NULL;
	/* A failed thread may leave chunks queued. */
	while (g->count) {
		free(g->chunks[g->head]);
		g->head = (g->head + 1) % GZ_QUEUE;
		g->count--;
	}
	err = g->err;
	return err;
}

int mdeploy_bundle__gz_close(struct archive *a, void *client)
{
	mdeploy_bundle__gz *g = client;
	int err = gz_finish(g);
	if (err) {
		archive_set_error(a, err > 0 ? err : EIO, "%s", err > 0 ? strerror(err) : "deflate failed");
		return ARCHIVE_FATAL;
	}
	return ARCHIVE_OK;
}

int mdeploy_bundle__gz_new(mdeploy_bundle__gz **out, int fd, int level)
{
	mdeploy_bundle__gz *g = calloc(1, sizeof(*g));
	*out = NULL;
	if (!g)
		return -1;
	g->fd = fd;
	g->level = level;
	if (pthread_mutex_init(&g->mu, NULL) != 0) {
		free(g);
		return -1;
	}
	if (pthread_cond_init(&g->cv, NULL) != 0) {
		pthread_mutex_destroy(&g->mu);
		free(g);
		return -1;
	}
	if (pthread_create(&g->thread, NULL, gz_thread, g) != 0) {
		pthread_cond_destroy(&g->cv);
		pthread_mutex_destroy(&g->mu);
		free(g);
		return -1;
	}
	g->started = 1;
	*out = g;
	return 0;
}

void mdeploy_bundle__gz_free(mdeploy_bundle__gz *g)
{
	if (!g)
		return;
	gz_finish(g);
	pthread_cond_destroy(&g->cv);
	pthread_mutex_destroy(&g->mu);
	free(g);
}

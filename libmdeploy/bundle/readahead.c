/*
 * readahead.c - a thread that walks a directory tree in entry order and
 * reads and hashes its files ahead of the writer.
 *
 * `tar | zstd` keeps both cores busy: tar reads while zstd compresses. A
 * bundle writer on one thread would list, open, read and SHA-256 every
 * file, then frame it and hand it to zstd's workers, which starve while it
 * does the rest: on two cores that thread was the critical path, and under
 * load (the scheduler gives a session's threads their share on each CPU
 * they are runnable on) it got a share of one CPU only. This thread does
 * the listing, reading and hashing; the writer's thread frames and feeds
 * the compressor. The queue between them is bounded in entries, and file
 * contents go through one ring of memory allocated once (no allocation,
 * page faults or frees per file), released in the order they were read.
 *
 * Each directory is listed, sorted in entry order (mdeploy_bundle__path_cmp
 * on one component gives the order of whole paths) and sent before the
 * next is read; files are opened relative to their directory's descriptor,
 * and an entry's kind comes from readdir's d_type (fstatat only when the
 * filesystem gives none).
 *
 * The two threads hand over in batches: each side sleeps only when it has
 * nothing to do, and is woken when the other has a batch for it (RA_BATCH
 * entries or RA_BATCH_BYTES of contents queued, a large file, the end) or
 * has freed half the ring, or is about to sleep itself. Waking the other
 * for every entry cost a context switch per file, and on loaded CPUs a
 * wait for the scheduler each time: most of a Moodle bundle's wall time.
 */
#include "bundle_private.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Files up to this size are read whole by the thread; larger ones are
 * handed over open, and the writer streams them. */
#define RA_WHOLE (4u * 1024 * 1024)
#define RA_RING (16u * 1024 * 1024)
#define RA_MAX_ITEMS 4096
#define RA_BATCH 64
#define RA_BATCH_BYTES (1024u * 1024)

struct mdeploy_bundle__ra {
	char *root;
	int dfd;
	pthread_t thread;
	int started;
	pthread_mutex_t mu;
	pthread_cond_t prod_cv, cons_cv;  /* the thread waits on one, the writer on the other */
	int prod_waiting, cons_waiting;
	mdeploy_bundle__ra_item *head, *tail;
	size_t items;
	size_t queued_bytes;      /* of the contents of the queued entries */
	mdeploy_bundle__ra_item *batch;  /* the writer's: taken from the queue, not yet given out */
	/* Wake a waiting writer for a batch only (a tree walk), or for every
	 * entry (a release walk: inflating and resolving deltas is slower than
	 * the writer, which waited for batches in bursts: --git's wall time
	 * rose by a quarter with them, its CPU the same). */
	int batching;
	unsigned char *ring;      /* RA_RING bytes: contents in flight */
	size_t ring_head, ring_tail, ring_used;
	int done, stop;
	int err, err_klass;       /* the thread's error, re-raised by _next */
	char *err_msg;
	EVP_MD_CTX *md;
	mdeploy_bundle__ra_fn fn;  /* the producer, instead of a tree walk */
	void *fn_arg;
};

static void item_free(mdeploy_bundle__ra_item *it)
{
	if (it->fd >= 0)
		close(it->fd);
	if (it->data && !it->in_ring)
		free(it->data);
	free(it->rel);
	free(it->target);
	free(it);
}

/* Room for `n` bytes in the ring at *off (wasting *waste bytes at its end
 * to stay contiguous); 0, or -1 when there is not room now. Under r->mu. */
static int ring_fit(mdeploy_bundle__ra *r, size_t n, size_t *off, size_t *waste)
{
	*waste = 0;
	if (!r->ring_used) {
		r->ring_head = r->ring_tail = 0;
		*off = 0;
		return 0;
	}
	if (r->ring_head > r->ring_tail) {
		if (n <= RA_RING - r->ring_head) {
			*off = r->ring_head;
			return 0;
		}
		if (n <= r->ring_tail) {
			*waste = RA_RING - r->ring_head;
			*off = 0;
			return 0;
		}
		return -1;
	}
	if (r->ring_head < r->ring_tail && n <= r->ring_tail - r->ring_head) {
		*off = r->ring_head;
		return 0;
	}
	return -1;
}

/* The thread waits for the writer: wakes it first if it waits too, for
 * whatever is queued. Under r->mu. */
static void prod_wait(mdeploy_bundle__ra *r)
{
	if (r->cons_waiting)
		pthread_cond_signal(&r->cons_cv);
	r->prod_waiting = 1;
	pthread_cond_wait(&r->prod_cv, &r->mu);
	r->prod_waiting = 0;
}

/* Takes ring space for `it` (it->size bytes), waiting for the writer to
 * give some back; 0, or -1 when the writer stopped the thread. */
static int ring_take(mdeploy_bundle__ra *r, mdeploy_bundle__ra_item *it)
{
	size_t n = (size_t)it->size, off, waste;
	pthread_mutex_lock(&r->mu);
	while (!r->stop && ring_fit(r, n, &off, &waste) < 0)
		prod_wait(r);
	if (r->stop) {
		pthread_mutex_unlock(&r->mu);
		return -1;
	}
	r->ring_head = off + n;
	r->ring_used += n + waste;
	pthread_mutex_unlock(&r->mu);
	it->data = r->ring + off;
	it->ring_len = n + waste;
	it->ring_end = off + n;
	it->in_ring = 1;
	return 0;
}

void mdeploy_bundle__ra_done(mdeploy_bundle__ra *r, mdeploy_bundle__ra_item *it)
{
	if (!it)
		return;
	if (it->in_ring) {
		/* Items come back in the order their space was taken. */
		pthread_mutex_lock(&r->mu);
		r->ring_tail = it->ring_end;
		r->ring_used -= it->ring_len;
		/* Half the ring free holds any file read whole (RA_WHOLE),
		 * wherever the free part is split. */
		if (r->prod_waiting && r->ring_used <= RA_RING / 2)
			pthread_cond_signal(&r->prod_cv);
		pthread_mutex_unlock(&r->mu);
	}
	item_free(it);
}

/* 0, or -1 when the writer stopped the thread. Takes `it`. */
static int push(mdeploy_bundle__ra *r, mdeploy_bundle__ra_item *it)
{
	pthread_mutex_lock(&r->mu);
	while (!r->stop && r->items >= RA_MAX_ITEMS)
		prod_wait(r);
	if (r->stop) {
		pthread_mutex_unlock(&r->mu);
		item_free(it);
		return -1;
	}
	it->next = NULL;
	if (r->tail)
		r->tail->next = it;
	else
		r->head = it;
	r->tail = it;
	r->items++;
	if (it->in_ring)
		r->queued_bytes += it->ring_len;
	if (r->cons_waiting && (!r->batching || r->items >= RA_BATCH || r->queued_bytes >= RA_BATCH_BYTES || it->fd >= 0 ||
	                        (it->data && !it->in_ring)))
		pthread_cond_signal(&r->cons_cv);
	pthread_mutex_unlock(&r->mu);
	return 0;
}

static int os_error(const char *root, const char *rel, const char *what)
{
	char *abs = rel ? mdeploy__path_join(root, rel) : mdeploy__strdup(root);
	int rc = mdeploy__error_os(MDEPLOY_ERROR_CLASS_BUNDLE, "%s '%s'", what, abs ? abs : rel);
	free(abs);
	return rc;
}

/* Reads exactly it->size bytes of `fd` into ring space and hashes them;
 * 1 when the writer stopped the thread. */
static int read_whole(mdeploy_bundle__ra *r, mdeploy_bundle__ra_item *it, int fd)
{
	size_t size = (size_t)it->size, got = 0;
	if (ring_take(r, it) < 0)
		return 1;
	while (got < size) {
		ssize_t n = read(fd, it->data + got, size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return os_error(r->root, it->rel, "cannot read");
		if (n == 0)
			return mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_BUNDLE,
			                          "'%s': content ended %llu bytes short of its size", it->rel,
			                          (unsigned long long)(size - got));
		got += (size_t)n;
	}
	if (EVP_DigestInit_ex(r->md, EVP_sha256(), NULL) != 1 || EVP_DigestUpdate(r->md, it->data, size) != 1 ||
	    EVP_DigestFinal_ex(r->md, it->md, NULL) != 1)
		return mdeploy__error_oom();
	it->hashed = 1;
	return 0;
}

typedef struct {
	char *name;
	mode_t kind;              /* S_IFREG, S_IFDIR or S_IFLNK */
} dent;

static int dent_cmp(const void *a, const void *b)
{
	const dent *x = a, *y = b;
	return mdeploy_bundle__path_cmp(x->name, S_ISDIR(x->kind), y->name, S_ISDIR(y->kind));
}

/* The entries of `d` but . .. .git (and, at the root, .mdeploy and
 * .mdeploy-release.json), sorted. */
static int list_dir(mdeploy_bundle__ra *r, DIR *d, const char *rel, dent **out, size_t *out_n)
{
	struct dirent *de;
	dent *v = NULL;
	size_t n = 0, alloc = 0;
	int rc = 0;

	while ((errno = 0, de = readdir(d)) != NULL) {
		mode_t kind;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") || !strcmp(de->d_name, ".git"))
			continue;
		if (!rel && (!strcmp(de->d_name, MDEPLOY_BUNDLE__META_DIR) ||
		             !strcmp(de->d_name, MDEPLOY_BUNDLE__RELEASE_FILE)))
			continue;
		switch (de->d_type) {
		case DT_REG: kind = S_IFREG; break;
		case DT_DIR: kind = S_IFDIR; break;
		case DT_LNK: kind = S_IFLNK; break;
		case DT_UNKNOWN: {
			struct stat st;
			if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
				char *c = rel ? mdeploy__sprintf("%s/%s", rel, de->d_name) : mdeploy__strdup(de->d_name);
				rc = c ? os_error(r->root, c, "cannot stat") : MDEPLOY_ENOMEM;
				free(c);
				goto fail;
			}
			kind = st.st_mode & S_IFMT;
			break;
		}
		default: kind = 0; break;
		}
		if (kind != S_IFREG && kind != S_IFDIR && kind != S_IFLNK) {
			rc = mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_BUNDLE,
			                        "'%s%s%s': only files, directories and symlinks can be bundled",
			                        rel ? rel : "", rel ? "/" : "", de->d_name);
			goto fail;
		}
		if (n == alloc) {
			size_t na = alloc ? alloc * 2 : 64;
			dent *nv = realloc(v, na * sizeof(*nv));
			if (!nv) {
				rc = mdeploy__error_oom();
				goto fail;
			}
			v = nv;
			alloc = na;
		}
		if (!(v[n].name = mdeploy__strdup(de->d_name))) {
			rc = MDEPLOY_ENOMEM;
			goto fail;
		}
		v[n++].kind = kind;
	}
	if (errno) {
		rc = os_error(r->root, rel, "cannot read directory");
		goto fail;
	}
	if (n > 1)
		qsort(v, n, sizeof(*v), dent_cmp);
	*out = v;
	*out_n = n;
	return 0;
fail:
	while (n)
		free(v[--n].name);
	free(v);
	return rc;
}

/* The entry `name` of the directory open at `dfd`, as an item. Takes `rel`. */
static int entry_item(mdeploy_bundle__ra *r, int dfd, const char *name, mode_t kind, char *rel,
                      mdeploy_bundle__ra_item **out)
{
	mdeploy_bundle__ra_item *it = calloc(1, sizeof(*it));
	int rc = 0;

	*out = NULL;
	if (!it) {
		free(rel);
		return mdeploy__error_oom();
	}
	it->rel = rel;
	it->kind = kind;
	it->fd = -1;
	if (S_ISLNK(kind)) {
		char target[4096];
		ssize_t len = readlinkat(dfd, name, target, sizeof(target) - 1);
		if (len < 0) {
			rc = os_error(r->root, rel, "cannot read link");
		} else {
			target[len] = '\0';
			if (!(it->target = mdeploy__strdup(target)))
				rc = MDEPLOY_ENOMEM;
		}
	} else if (S_ISREG(kind)) {
		int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		struct stat st;
		if (fd < 0 || fstat(fd, &st) < 0) {
			rc = os_error(r->root, rel, "cannot open");
		} else if (!S_ISREG(st.st_mode)) {
			rc = mdeploy__error_set(MDEPLOY_EINVALID, MDEPLOY_ERROR_CLASS_BUNDLE,
			                        "'%s': only files, directories and symlinks can be bundled", rel);
		} else {
			it->exec = (st.st_mode & S_IXUSR) != 0;
			it->size = (uint64_t)st.st_size;
			if (it->size <= RA_WHOLE) {
				rc = read_whole(r, it, fd);
			} else {
				posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
				it->fd = fd;
				fd = -1;
			}
		}
		if (fd >= 0)
			close(fd);
	}
	if (rc) {
		/* Its ring space is the last taken: give it back. */
		if (it->in_ring) {
			pthread_mutex_lock(&r->mu);
			r->ring_head = it->ring_end - (size_t)it->size;
			r->ring_used -= it->ring_len;
			pthread_mutex_unlock(&r->mu);
		}
		item_free(it);
		return rc;
	}
	*out = it;
	return 0;
}

/* Sends the directory open at `dfd` (`rel`; NULL: the root); takes `dfd`.
 * Returns 0, an error, or 1 when stopped. */
static int walk(mdeploy_bundle__ra *r, const char *rel, int dfd)
{
	DIR *d = fdopendir(dfd);
	dent *v = NULL;
	size_t n = 0, i;
	int rc;

	if (!d) {
		close(dfd);
		return os_error(r->root, rel, "cannot open directory");
	}
	rc = list_dir(r, d, rel, &v, &n);
	for (i = 0; !rc && i < n; i++) {
		char *child = rel ? mdeploy__sprintf("%s/%s", rel, v[i].name) : mdeploy__strdup(v[i].name);
		mdeploy_bundle__ra_item *it;
		if (!child) {
			rc = MDEPLOY_ENOMEM;
			break;
		}
		if (S_ISDIR(v[i].kind)) {
			int cfd = openat(dirfd(d), v[i].name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (cfd < 0) {
				rc = os_error(r->root, child, "cannot open directory");
				free(child);
				break;
			}
			/* The writer may free the item once pushed: the walk
			 * goes on with its own copy of the name. */
			char *copy = mdeploy__strdup(child);
			if (!copy || (rc = entry_item(r, dirfd(d), v[i].name, v[i].kind, copy, &it)) != 0) {
				rc = copy ? rc : MDEPLOY_ENOMEM;
				close(cfd);
				free(child);
				break;
			}
			if (push(r, it) < 0) {
				close(cfd);
				free(child);
				rc = 1;
				break;
			}
			rc = walk(r, child, cfd);
			free(child);
		} else if ((rc = entry_item(r, dirfd(d), v[i].name, v[i].kind, child, &it)) == 0 && push(r, it) < 0) {
			rc = 1;
		}
	}
	for (i = 0; i < n; i++)
		free(v[i].name);
	free(v);
	closedir(d);
	return rc;
}

static void *ra_thread(void *arg)
{
	mdeploy_bundle__ra *r = arg;
	int rc = r->fn ? r->fn(r, r->fn_arg) : walk(r, NULL, r->dfd);
	r->dfd = -1;
	pthread_mutex_lock(&r->mu);
	if (rc < 0) {
		const mdeploy_error *e = mdeploy_error_last();
		r->err = rc;
		r->err_klass = e->klass;
		r->err_msg = strdup(e->message);
	}
	r->done = 1;
	pthread_cond_signal(&r->cons_cv);
	pthread_mutex_unlock(&r->mu);
	return NULL;
}

static int start(mdeploy_bundle__ra **out, const char *root, mdeploy_bundle__ra_fn fn, void *arg)
{
	mdeploy_bundle__ra *r;
	sigset_t all, old;
	int rc;

	*out = NULL;
	if (!(r = calloc(1, sizeof(*r))))
		return mdeploy__error_oom();
	r->dfd = -1;
	r->fn = fn;
	r->fn_arg = arg;
	r->batching = !fn;
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->prod_cv, NULL);
	pthread_cond_init(&r->cons_cv, NULL);
	if (!(r->root = mdeploy__strdup(root ? root : "")) || !(r->md = EVP_MD_CTX_new()) ||
	    !(r->ring = malloc(RA_RING))) {
		mdeploy_bundle__ra_stop(r);
		return mdeploy__error_oom();
	}
	if (!fn && (r->dfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		rc = mdeploy__error_os(MDEPLOY_ERROR_CLASS_BUNDLE, "cannot open directory '%s'", root);
		mdeploy_bundle__ra_stop(r);
		return rc;
	}
	/* Signals (mdeploy_interrupt()) are the writer's thread's to take. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&r->thread, NULL, ra_thread, r);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		mdeploy_bundle__ra_stop(r);
		return mdeploy__error_set(MDEPLOY_EOS, MDEPLOY_ERROR_CLASS_BUNDLE, "cannot start a thread: %s",
		                          strerror(rc));
	}
	r->started = 1;
	*out = r;
	return 0;
}

int mdeploy_bundle__ra_start(mdeploy_bundle__ra **out, const char *root)
{
	return start(out, root, NULL, NULL);
}

int mdeploy_bundle__ra_start_fn(mdeploy_bundle__ra **out, mdeploy_bundle__ra_fn fn, void *arg)
{
	return start(out, NULL, fn, arg);
}

int mdeploy_bundle__ra_put(mdeploy_bundle__ra *r, const char *rel, mode_t kind, int exec, const void *data,
                           size_t len)
{
	mdeploy_bundle__ra_item *it = calloc(1, sizeof(*it));
	if (!it || !(it->rel = mdeploy__strdup(rel))) {
		free(it);
		return mdeploy__error_oom();
	}
	it->kind = kind;
	it->fd = -1;
	it->exec = exec;
	if (S_ISLNK(kind)) {
		if (!(it->target = mdeploy__sprintf("%.*s", (int)len, data ? (const char *)data : ""))) {
			item_free(it);
			return MDEPLOY_ENOMEM;
		}
	} else {
		it->size = len;
		if (len <= RA_WHOLE) {
			if (ring_take(r, it) < 0) {
				item_free(it);
				return 1;
			}
		} else if (!(it->data = malloc(len))) {
			item_free(it);
			return mdeploy__error_oom();
		}
		if (len)
			memcpy(it->data, data, len);
		if (EVP_DigestInit_ex(r->md, EVP_sha256(), NULL) != 1 || EVP_DigestUpdate(r->md, it->data, len) != 1 ||
		    EVP_DigestFinal_ex(r->md, it->md, NULL) != 1) {
			item_free(it);
			return mdeploy__error_oom();
		}
		it->hashed = 1;
	}
	return push(r, it) < 0 ? 1 : 0;
}

int mdeploy_bundle__ra_next(mdeploy_bundle__ra *r, mdeploy_bundle__ra_item **out)
{
	mdeploy_bundle__ra_item *it;
	*out = NULL;
	if (!r->batch) {
		/* Everything given out was given back (_done): the ring holds
		 * only what is queued. Take all of it. */
		pthread_mutex_lock(&r->mu);
		while (!r->head && !r->done) {
			if (r->prod_waiting)
				pthread_cond_signal(&r->prod_cv);
			r->cons_waiting = 1;
			pthread_cond_wait(&r->cons_cv, &r->mu);
			r->cons_waiting = 0;
		}
		r->batch = r->head;
		r->head = r->tail = NULL;
		r->items = 0;
		r->queued_bytes = 0;
		if (r->prod_waiting)
			pthread_cond_signal(&r->prod_cv);
		pthread_mutex_unlock(&r->mu);
	}
	if ((it = r->batch) != NULL) {
		r->batch = it->next;
		it->next = NULL;
		*out = it;
		return 0;
	}
	if (r->err)
		return mdeploy__error_set(r->err, r->err_klass, "%s", r->err_msg ? r->err_msg : "reading the tree failed");
	return 1;
}

void mdeploy_bundle__ra_stop(mdeploy_bundle__ra *r)
{
	mdeploy_bundle__ra_item *it;
	if (!r)
		return;
	if (r->started) {
		pthread_mutex_lock(&r->mu);
		r->stop = 1;
		pthread_cond_broadcast(&r->prod_cv);
		pthread_mutex_unlock(&r->mu);
		pthread_join(r->thread, NULL);
	}
	while ((it = r->head) != NULL) {
		r->head = it->next;
		item_free(it);
	}
	while ((it = r->batch) != NULL) {
		r->batch = it->next;
		item_free(it);
	}
	if (r->dfd >= 0)
		close(r->dfd);
	EVP_MD_CTX_free(r->md);
	pthread_mutex_destroy(&r->mu);
	pthread_cond_destroy(&r->prod_cv);
	pthread_cond_destroy(&r->cons_cv);
	free(r->err_msg);
	free(r->ring);
	free(r->root);
	free(r);
}

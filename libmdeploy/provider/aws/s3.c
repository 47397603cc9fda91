/*
 * s3.c - the S3 object calls the artifact store needs (REST-XML):
 * put (one PutObject up to a part's size, else a
 * multipart upload whose parts go up in parallel), get to a file, head,
 * delete. Every upload carries x-amz-checksum-sha256 (S3 checks it) and a
 * signed payload hash, and asks for server-side encryption: SSE-KMS with
 * the store's kms_key, else SSE-S3 (AES256).
 */
#include "provider/aws/aws.h"

#include <errno.h>
#include <fcntl.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

static int send_s3(mdeploy_awsp__s3 *s, const char *method, const char *key, const char *query,
                   const mdeploy_aws_header *h, size_t nh, mdeploy_aws__request *proto, mdeploy_aws__response *resp)
{
	mdeploy_aws__request req = MDEPLOY_AWS__REQUEST_INIT;
	char *url = NULL;
	int rc;
	if (proto)
		req = *proto;
	if ((rc = mdeploy_aws__s3_url(&url, s->client, s->bucket, key, query))) {
		memset(resp, 0, sizeof(*resp));
		return rc;
	}
	req.service = "s3";
	req.method = method;
	req.url = url;
	req.headers = h;
	req.nheaders = nh;
	req.sign_flags = MDEPLOY_AWS_SIGN_S3 | MDEPLOY_AWS_SIGN_CONTENT_SHA256;
	rc = mdeploy_aws__send(s->client, &req, resp);
	free(url);
	return rc;
}

static size_t sse_headers(mdeploy_awsp__s3 *s, mdeploy_aws_header *h)
{
	if (s->kms_key) {
		h[0] = (mdeploy_aws_header){ "x-amz-server-side-encryption", "aws:kms" };
		h[1] = (mdeploy_aws_header){ "x-amz-server-side-encryption-aws-kms-key-id", s->kms_key };
		return 2;
	}
	h[0] = (mdeploy_aws_header){ "x-amz-server-side-encryption", "AES256" };
	return 1;
}

static void b64(char out[45], const unsigned char md[32])
{
	EVP_EncodeBlock((unsigned char *)out, md, 32);
}

static int hash_range(int fd, int64_t off, size_t len, unsigned char md[32])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	char *buf = malloc(1 << 20);
	size_t done = 0;
	if (!buf || !ctx) {
		free(buf);
		EVP_MD_CTX_free(ctx);
		return mdeploy__error_oom();
	}
	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	while (done < len) {
		size_t want = len - done < (1u << 20) ? len - done : (1u << 20);
		ssize_t got = pread(fd, buf, want, (off_t)(off + (int64_t)done));
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			free(buf);
			EVP_MD_CTX_free(ctx);
			return mdeploy__error_set(MDEPLOY_EOS, MDEPLOY_ERROR_CLASS_OS, "reading the file to upload: %s",
			                          got < 0 ? strerror(errno) : "it got shorter");
		}
		EVP_DigestUpdate(ctx, buf, (size_t)got);
		done += (size_t)got;
	}
	EVP_DigestFinal_ex(ctx, md, NULL);
	EVP_MD_CTX_free(ctx);
	free(buf);
	return 0;
}

int mdeploy_awsp__s3_put_empty(mdeploy_awsp__s3 *s, const char *key)
{
	mdeploy_aws_header h[3];
	mdeploy_aws__request proto = MDEPLOY_AWS__REQUEST_INIT;
	mdeploy_aws__response resp;
	size_t nh = sse_headers(s, h);
	int rc;
	proto.body = "";
	proto.body_len = 0;
	rc = send_s3(s, "PUT", key, NULL, h, nh, &proto, &resp);
	mdeploy_aws__response_dispose(&resp);
	return rc;
}

struct part {
	unsigned int number;
	int64_t off;
	size_t len;
	char etag[128];
	char checksum[45];
};

struct upload {
	mdeploy_awsp__s3 *s;
	const char *key;
	char *upload_id_q;    /* uploadId=... (encoded) */
	int fd;
	struct part *parts;
	size_t nparts, next;
	pthread_mutex_t lock;
	int rc;
	char *error;          /* the first failure's message (errors are per thread) */
};

static int upload_part(struct upload *u, struct part *p)
{
	unsigned char md[32];
	char hex[65], query[400];
	mdeploy_aws_header h[1];
	mdeploy_aws__request proto = MDEPLOY_AWS__REQUEST_INIT;
	mdeploy_aws__response resp;
	int rc;

	if ((rc = hash_range(u->fd, p->off, p->len, md)))
		return rc;
	mdeploy_aws__hex(hex, md, 32);
	b64(p->checksum, md);
	h[0] = (mdeploy_aws_header){ "x-amz-checksum-sha256", p->checksum };
	snprintf(query, sizeof(query), "partNumber=%u&%s", p->number, u->upload_id_q);
	proto.body_fd = u->fd;
	proto.body_off = p->off;
	proto.body_len = p->len;
	proto.payload_hash = hex;
	rc = send_s3(u->s, "PUT", u->key, query, h, 1, &proto, &resp);
	if (!rc) {
		if (!resp.etag)
			rc = mdeploy__error_set(MDEPLOY_ENETWORK, MDEPLOY_ERROR_CLASS_NET, "s3: part %u: no ETag in the answer",
			                        p->number);
		else
			snprintf(p->etag, sizeof(p->etag), "%s", resp.etag);
	}
	mdeploy_aws__response_dispose(&resp);
	return rc;
}

static void *upload_worker(void *arg)
{
	struct upload *u = arg;
	for (;;) {
		struct part *p = NULL;
		int rc;
		pthread_mutex_lock(&u->lock);
		if (!u->rc && u->next < u->nparts)
			p = &u->parts[u->next++];
		pthread_mutex_unlock(&u->lock);
		if (!p)
			return NULL;
		if ((rc = upload_part(u, p))) {
			pthread_mutex_lock(&u->lock);
			if (!u->rc) {
				u->rc = rc;
				u->error = mdeploy__sprintf("part %u: %s", p->number, mdeploy_error_last()->message);
			}
			pthread_mutex_unlock(&u->lock);
			return NULL;
		}
	}
}

static int complete_body(char **out, size_t *len, struct upload *u)
{
	xmlDoc *doc = xmlNewDoc((const xmlChar *)"1.0");
	xmlNode *root = xmlNewNode(NULL, (const xmlChar *)"CompleteMultipartUpload");
	xmlChar *mem = NULL;
	int size = 0;
	size_t i;
	if (!doc || !root) {
		xmlFreeDoc(doc);
		xmlFreeNode(root);
		return mdeploy__error_oom();
	}
	xmlDocSetRootElement(doc, root);
	xmlNewNs(root, (const xmlChar *)"http://s3.amazonaws.com/doc/2006-03-01/", NULL);
	for (i = 0; i < u->nparts; i++) {
		xmlNode *p = xmlNewChild(root, NULL, (const xmlChar *)"Part", NULL);
		char num[16];
		snprintf(num, sizeof(num), "%u", u->parts[i].number);
		xmlNewTextChild(p, NULL, (const xmlChar *)"PartNumber", (const xmlChar *)num);
		xmlNewTextChild(p, NULL, (const xmlChar *)"ETag", (const xmlChar *)u->parts[i].etag);
		xmlNewTextChild(p, NULL, (const xmlChar *)"ChecksumSHA256", (const xmlChar *)u->parts[i].checksum);
	}
	xmlDocDumpMemory(doc, &mem, &size);
	xmlFreeDoc(doc);
	if (!mem)
		return mdeploy__error_oom();
	*out = strndup((const char *)mem, (size_t)size);
	*len = (size_t)size;
	xmlFree(mem);
	return *out ? 0 : mdeploy__error_oom();
}

static int multipart(mdeploy_awsp__s3 *s, const char *key, int fd, uint64_t size, const char *sha256_hex)
{
	struct upload u;
	mdeploy_aws_header h[5];
	mdeploy_aws__request proto = MDEPLOY_AWS__REQUEST_INIT;
	mdeploy_aws__response resp;
	xmlDoc *doc = NULL;
	pthread_t th[32];
	size_t nh, i, part = s->part_size, nthreads;
	char *upload_id = NULL, *body = NULL, *errcode = NULL;
	mdeploy__buf q = MDEPLOY__BUF_INIT;
	int rc;

	memset(&u, 0, sizeof(u));
	/* at most 10,000 parts */
	while ((size + part - 1) / part > 10000)
		part *= 2;
	nh = sse_headers(s, h);
	h[nh++] = (mdeploy_aws_header){ "x-amz-checksum-algorithm", "SHA256" };
	h[nh++] = (mdeploy_aws_header){ "x-amz-meta-sha256", sha256_hex };
	h[nh++] = (mdeploy_aws_header){ "Content-Type", "application/octet-stream" };
	rc = send_s3(s, "POST", key, "uploads=", h, nh, NULL, &resp);
	if (!rc)
		rc = mdeploy_aws__xml_parse(&doc, resp.body.ptr ? resp.body.ptr : "", resp.body.size,
		                            "CreateMultipartUpload");
	mdeploy_aws__response_dispose(&resp);
	if (rc)
		return rc;
	upload_id = mdeploy_aws__xml_text(doc, "InitiateMultipartUploadResult/UploadId");
	xmlFreeDoc(doc);
	doc = NULL;
	if (!upload_id)
		return mdeploy__error_set(MDEPLOY_ENETWORK, MDEPLOY_ERROR_CLASS_NET, "s3: CreateMultipartUpload: no UploadId");
	if ((rc = mdeploy__buf_puts(&q, "uploadId=")) ||
	    (rc = mdeploy_aws__uri_encode(&q, upload_id, strlen(upload_id), 0)))
		goto abort;
	u.s = s;
	u.key = key;
	u.upload_id_q = q.ptr;
	u.fd = fd;
	u.nparts = (size_t)((size + part - 1) / part);
	if (!(u.parts = calloc(u.nparts, sizeof(*u.parts)))) {
		rc = mdeploy__error_oom();
		goto abort;
	}
	for (i = 0; i < u.nparts; i++) {
		u.parts[i].number = (unsigned int)(i + 1);
		u.parts[i].off = (int64_t)(i * part);
		u.parts[i].len = i + 1 < u.nparts ? part : (size_t)(size - i * part);
	}
	pthread_mutex_init(&u.lock, NULL);
	nthreads = s->parallel < u.nparts ? s->parallel : u.nparts;
	if (nthreads > 32)
		nthreads = 32;
	for (i = 0; i < nthreads; i++)
		if (pthread_create(&th[i], NULL, upload_worker, &u))
			break;
	nthreads = i;
	if (!nthreads)
		upload_worker(&u);
	for (i = 0; i < nthreads; i++)
		pthread_join(th[i], NULL);
	pthread_mutex_destroy(&u.lock);
	if (u.rc) {
		rc = mdeploy__error_set(u.rc, MDEPLOY_ERROR_CLASS_NET, "%s", u.error ? u.error : "a part failed");
		goto abort;
	}
	{
		size_t blen = 0;
		mdeploy_aws_header ch[1] = { { "Content-Type", "application/xml" } };
		if ((rc = complete_body(&body, &blen, &u)))
			goto abort;
		proto.body = body;
		proto.body_len = blen;
		rc = send_s3(s, "POST", key, q.ptr, ch, 1, &proto, &resp);
		/* CompleteMultipartUpload can fail with 200 and an <Error> body */
		if (!rc && resp.body.size && mdeploy_aws__xml_parse(&doc, resp.body.ptr, resp.body.size, NULL) == 0 &&
		    (errcode = mdeploy_aws__xml_text(doc, "Error/Code")))
			rc = mdeploy_aws__error_set("s3", resp.status, resp.body.ptr, resp.body.size, NULL, resp.request_id,
			                            &errcode);
		xmlFreeDoc(doc);
		free(errcode);
		mdeploy_aws__response_dispose(&resp);
		if (rc)
			goto abort;
	}
	free(body);
	free(upload_id);
	free(u.parts);
	free(u.error);
	mdeploy__buf_dispose(&q);
	return 0;
abort:
	{
		/* leave no parts behind (they are billed); keep the first error */
		mdeploy_aws__response r2;
		char *msg = mdeploy__strdup(mdeploy_error_last()->message);
		if (q.ptr)
			send_s3(s, "DELETE", key, q.ptr, NULL, 0, NULL, &r2), mdeploy_aws__response_dispose(&r2);
		mdeploy__error_set(rc, MDEPLOY_ERROR_CLASS_NET, "%s", msg ? msg : "multipart upload failed");
		free(msg);
	}
	free(body);
	free(upload_id);
	free(u.parts);
	free(u.error);
	mdeploy__buf_dispose(&q);
	return rc;
}

int mdeploy_awsp__s3_put_file(mdeploy_awsp__s3 *s, const char *key, const char *file, const char *sha256_hex)
{
	struct stat st;
	int fd = open(file, O_RDONLY | O_CLOEXEC), rc;

	if (fd < 0)
		return mdeploy__error_os(MDEPLOY_ERROR_CLASS_OS, "%s", file);
	if (fstat(fd, &st) < 0) {
		rc = mdeploy__error_os(MDEPLOY_ERROR_CLASS_OS, "%s", file);
	} else if ((uint64_t)st.st_size > s->part_size) {
		rc = multipart(s, key, fd, (uint64_t)st.st_size, sha256_hex);
	} else {
		unsigned char md[32];
		char checksum[45];
		mdeploy_aws_header h[6];
		mdeploy_aws__request proto = MDEPLOY_AWS__REQUEST_INIT;
		mdeploy_aws__response resp;
		size_t nh = sse_headers(s, h);
		size_t i;
		for (i = 0; i < 32; i++) {
			unsigned int b;
			sscanf(sha256_hex + 2 * i, "%2x", &b);
			md[i] = (unsigned char)b;
		}
		b64(checksum, md);
		h[nh++] = (mdeploy_aws_header){ "x-amz-checksum-sha256", checksum };
		h[nh++] = (mdeploy_aws_header){ "x-amz-meta-sha256", sha256_hex };
		h[nh++] = (mdeploy_aws_header){ "Content-Type", "application/octet-stream" };
		proto.body_fd = fd;
		proto.body_off = 0;
		proto.body_len = (size_t)st.st_size;
		proto.payload_hash = sha256_hex;
		rc = send_s3(s, "PUT", key, NULL, h, nh, &proto, &resp);
		mdeploy_aws__response_dispose(&resp);
	}
	close(fd);
	return rc;
}

int mdeploy_awsp__s3_get_mem(mdeploy_awsp__s3 *s, const char *key, mdeploy__buf *out, char **etag)
{
	mdeploy_aws__response resp;
	int rc = send_s3(s, "GET", key, NULL, NULL, 0, NULL, &resp);
	if (etag)
		*etag = NULL;
	if (!rc) {
		*out = resp.body;
		memset(&resp.body, 0, sizeof(resp.body));
		if (etag) {
			*etag = resp.etag;
			resp.etag = NULL;
		}
	}
	mdeploy_aws__response_dispose(&resp);
	return rc;
}

int mdeploy_awsp__s3_put_mem(mdeploy_awsp__s3 *s, const char *key, const char *data, size_t len,
                             const char *content_type, const mdeploy_aws_header *extra, size_t nextra)
{
	mdeploy_aws_header h[8];
	mdeploy_aws__request proto = MDEPLOY_AWS__REQUEST_INIT;
	mdeploy_aws__response resp;
	unsigned char md[32];
	char checksum[45];
	size_t nh = sse_headers(s, h), i;
	int rc;
	EVP_Digest(data, len, md, NULL, EVP_sha256(), NULL);
	b64(checksum, md);
	h[nh++] = (mdeploy_aws_header){ "x-amz-checksum-sha256", checksum };
	h[nh++] = (mdeploy_aws_header){ "Content-Type", content_type };
	for (i = 0; i < nextra && nh < 8; i++)
		h[nh++] = extra[i];
	proto.body = data;
	proto.body_len = len;
	rc = send_s3(s, "PUT", key, NULL, h, nh, &proto, &resp);
	mdeploy_aws__response_dispose(&resp);
	return rc;
}

int mdeploy_awsp__s3_get_fd(mdeploy_awsp__s3 *s, const char *key, int fd)
{
	mdeploy_aws__request proto = MDEPLOY_AWS__REQUEST_INIT;
	mdeploy_aws__response resp;
	int rc;
	proto.out_fd = fd;
	rc = send_s3(s, "GET", key, NULL, NULL, 0, &proto, &resp);
	mdeploy_aws__response_dispose(&resp);
	return rc;
}

int mdeploy_awsp__s3_head(mdeploy_awsp__s3 *s, const char *key, uint64_t *size)
{
	mdeploy_aws__response resp;
	int rc = send_s3(s, "HEAD", key, NULL, NULL, 0, NULL, &resp);
	if (!rc && size)
		*size = resp.content_length > 0 ? (uint64_t)resp.content_length : 0;
	mdeploy_aws__response_dispose(&resp);
	return rc;
}

int mdeploy_awsp__s3_delete(mdeploy_awsp__s3 *s, const char *key)
{
	mdeploy_aws__response resp;
	int rc = send_s3(s, "DELETE", key, NULL, NULL, 0, NULL, &resp);
	mdeploy_aws__response_dispose(&resp);
	return rc;
}

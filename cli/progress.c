/* progress.c - a one-line progress bar on stderr, only on a terminal. */
#include "config.h"
#include "cli.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static int drawn;
static double started;
static char last_op[64];

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void human_bytes(char *out, size_t n, double v)
{
	const char *units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	int u = 0;
	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	snprintf(out, n, u ? "%.1f %s" : "%.0f %s", v, units[u]);
}

void cli_progress_end(void)
{
	if (drawn) {
		fputc('\n', stderr);
		drawn = 0;
	}
}

int cli_progress(const mdeploy_progress *p, void *payload)
{
	char line[256], bytes[32] = "", rate[32] = "";
	const int width = 24;
	double t, elapsed;
	int fill = 0;

	(void)payload;
	if (!cli.progress)
		return 0;
	t = now_s();
	if (!drawn || strncmp(last_op, p->operation ? p->operation : "", sizeof(last_op))) {
		started = t;
		snprintf(last_op, sizeof(last_op), "%s", p->operation ? p->operation : "");
	}
	elapsed = t - started;
	if (p->bytes) {
		human_bytes(bytes, sizeof(bytes), (double)p->bytes);
		if (elapsed > 0.2) {
			human_bytes(rate, sizeof(rate), (double)p->bytes / elapsed);
			strncat(rate, "/s", sizeof(rate) - strlen(rate) - 1);
		}
	}
	if (p->total) {
		fill = (int)((double)p->current * width / (double)p->total);
		if (fill > width)
			fill = width;
		snprintf(line, sizeof(line), "%s%s%s [%.*s%*s] %3d%% %llu/%llu %s %s %s",
		         p->operation ? p->operation : "", p->subject ? " " : "", p->subject ? p->subject : "",
		         fill, "########################", width - fill, "",
		         (int)(p->current * 100 / p->total),
		         (unsigned long long)p->current, (unsigned long long)p->total,
		         p->unit ? p->unit : "", bytes, rate);
	} else {
		snprintf(line, sizeof(line), "%s%s%s: %llu %s %s %s",
		         p->operation ? p->operation : "", p->subject ? " " : "", p->subject ? p->subject : "",
		         (unsigned long long)p->current, p->unit ? p->unit : "", bytes, rate);
	}
	fprintf(stderr, "\r\033[K%s", line);
	drawn = 1;
	if (p->done)
		cli_progress_end();
	fflush(stderr);
	return 0;
}

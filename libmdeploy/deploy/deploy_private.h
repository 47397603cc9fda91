/* deploy_private.h - the deployment orchestrator's shared internals. */
#ifndef MDEPLOY_DEPLOY_PRIVATE_H
#define MDEPLOY_DEPLOY_PRIVATE_H

#include "mdeploy_private.h"
#include "mdeploy/deploy.h"
#include "mdeploy/group.h"
#include "mdeploy/store.h"
#include "mdeploy/provider.h"
#include "mdeploy/agent.h"
#include "mdeploy/appspec.h"
#include "mdeploy/bundle.h"

#include <jansson.h>

typedef struct done_mark {
	char *key;      /* "step\ttarget" */
} done_mark;

typedef struct mdeploy_deploy__run {
	mdeploy_ctx *ctx;
	const mdeploy_config *cfg;
	const mdeploy_group *g;
	const mdeploy_deploy_options *opts;
	mdeploy_store *store;
	mdeploy_provider *p;
	char id[12];
	char app[64];
	char lb[128];
	char lock[160];
	char key[160];              /* "deploy/<app>/<group>" */
	char bundle[4096];
	char green[128];
	char blue[128];             /* "" for a first deployment */
	done_mark *done;
	size_t ndone;
	uint64_t last_beat;
	uint64_t base_total, base_5xx; /* green's counters when the shift began */
	int have_base;
	unsigned int steps;
	int upgrade;                /* the release changes component versions */
} mdeploy_deploy__run;

/* Group state kept in the store's values under r->key. */
int mdeploy_deploy__value_get(mdeploy_deploy__run *r, const char *name, char **out);
int mdeploy_deploy__value_set(mdeploy_deploy__run *r, const char *name, const char *value);

#endif

/* local.h - shared pieces of the local provider (fleet.c, instance.c, lb.c, ops.c). */
#ifndef MDEPLOY_PROVIDER_LOCAL_H
#define MDEPLOY_PROVIDER_LOCAL_H

#include "provider/provider.h"
#include "store/store_private.h"

/* instance.c */
typedef struct local_instance {
	char id[32];
	char fleet[128];
	char address[32];
	unsigned int port;
	char root[1024];
	long pid;
	unsigned long long pid_start;
	char state[16];
	int64_t created_at;
} local_instance;

int mdeploy_local__instance_load(mdeploy_provider *p, const char *id, local_instance *out);
/* Create the row and root of a new instance of `fleet` (no server yet). */
int mdeploy_local__instance_create(mdeploy_provider *p, const char *fleet, unsigned int port,
                                   local_instance *out);
/* Stop the server and remove the row and root. */
int mdeploy_local__instance_destroy(mdeploy_provider *p, const char *id);
int mdeploy_local__instance_foreach(mdeploy_provider *p, const char *fleet, const char *id,
                                    mdeploy_instance_cb cb, void *payload);
int mdeploy_local__instance_start(mdeploy_provider *p, const char *id);
int mdeploy_local__instance_stop(mdeploy_provider *p, const char *id);
int mdeploy_local__instance_terminate(mdeploy_provider *p, const char *id);
void mdeploy_local__instance_info(const local_instance *li, mdeploy_instance_info *info);

/* fleet.c */
int mdeploy_local__fleet_create(mdeploy_provider *p, const char *name, const mdeploy_fleet_options *o);
int mdeploy_local__fleet_scale(mdeploy_provider *p, const char *name, unsigned int desired,
                               unsigned int min, unsigned int max);
int mdeploy_local__fleet_terminate(mdeploy_provider *p, const char *name);
int mdeploy_local__fleet_set_tags(mdeploy_provider *p, const char *name, const char *tags);
int mdeploy_local__fleet_foreach(mdeploy_provider *p, const char *prefix, const char *exact,
                                 mdeploy_fleet_cb cb, void *payload);

/* lb.c */
int mdeploy_local__lb_ensure(mdeploy_provider *p, const char *name, const mdeploy_lb_options *o);
int mdeploy_local__lb_stop(mdeploy_provider *p, const char *name);
int mdeploy_local__lb_running(mdeploy_provider *p, const char *name);
int mdeploy_local__lb_register(mdeploy_provider *p, const char *lb, const char *instance,
                               mdeploy_target_state state);
int mdeploy_local__lb_deregister(mdeploy_provider *p, const char *lb, const char *instance);
int mdeploy_local__lb_set_states(mdeploy_provider *p, const char *lb, const mdeploy_lb_change *c, size_t n);
int mdeploy_local__lb_set_fleet_weights(mdeploy_provider *p, const char *lb, const mdeploy_fleet_weight *w, size_t n);
int mdeploy_local__lb_fleets(mdeploy_provider *p, const char *lb, mdeploy_lb_fleet_cb cb, void *payload);
int mdeploy_local__lb_targets(mdeploy_provider *p, const char *lb, mdeploy_target_cb cb, void *payload);
int mdeploy_local__lb_bind(mdeploy_provider *p, const char *lb, char *out, size_t n);
int mdeploy_local__lb_hold(mdeploy_provider *p, const char *lb, int on);

/* haproxy_weights.c: forget `fleet`'s weights at every load balancer. */
int mdeploy_local__weights_forget(mdeploy_provider *p, const char *fleet);

/* <state_dir>/local/<sub>, malloc'd. */
char *mdeploy_local__path(mdeploy_provider *p, const char *sub);

#endif

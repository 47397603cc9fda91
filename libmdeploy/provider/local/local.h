/* local.h - shared pieces of the local provider (fleet.c, instance.c, lb.c, ops.c). */
#ifndef MDEPLOY_PROVIDER_LOCAL_H
#define MDEPLOY_PROVIDER_LOCAL_H

#include "provider/provider.h"
#include "store/store_private.h"
#include "provider/store.h"

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

/* The stores (params.c, secrets.c, artifacts.c, jsonfile.c, stores.c; see provider/store.h). */
int mdeploy_local__params_new(void **impl, const mdeploy_provider__params_ops **ops,
                              const mdeploy_provider__store_args *a);
int mdeploy_local__secrets_new(void **impl, const mdeploy_provider__secrets_ops **ops,
                               const mdeploy_provider__store_args *a);
int mdeploy_local__artifacts_new(void **impl, const mdeploy_provider__artifacts_ops **ops,
                                 const mdeploy_provider__store_args *a);

/* provider/local/jsonfile.c: a JSON document in a file, changed under a lock. */
typedef struct mdeploy_local__jsonfile {
	char *path;
	char *lock_path;
	int lock_fd;
	mode_t mode;
} mdeploy_local__jsonfile;

int mdeploy_local__jsonfile_init(mdeploy_local__jsonfile *f, const char *dir, const char *file, mode_t mode);
void mdeploy_local__jsonfile_dispose(mdeploy_local__jsonfile *f);
/* Lock (exclusive when `write`), then load; a missing file gives `{}`.
 * The returned document (a jansson json_t *) is the caller's. */
int mdeploy_local__jsonfile_begin(mdeploy_local__jsonfile *f, int write, void **doc);
/* Write `doc` atomically (when not NULL) and unlock. */
int mdeploy_local__jsonfile_end(mdeploy_local__jsonfile *f, void *doc);

/* provider/local/stores.c: stores.<kind>.<key> as a path, relative to
 * mdeploy.yml's directory; *out (malloc'd) is NULL when unset. */
int mdeploy_local__config_path(char **out, const mdeploy_provider__store_args *a, const char *key);
/* A local store's directory: the public option's
 * dir, else stores.<kind>.dir (relative to mdeploy.yml's directory), else
 * <state_dir>/<kind>. */
int mdeploy_local__store_dir(char **out, const mdeploy_provider__store_args *a);

#endif

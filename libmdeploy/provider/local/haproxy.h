/* haproxy.h - shared by the local load balancer's files (haproxy.c, haproxy_cli.c). */
#ifndef MDEPLOY_PROVIDER_LOCAL_HAPROXY_H
#define MDEPLOY_PROVIDER_LOCAL_HAPROXY_H

#include "local.h"

#define BACKEND "app"

typedef struct {
	char dir[1024];
	char sock[1100];
	char cfg[1100];
	char state[1100];
	char pidfile[1100];
	char bindfile[1100];
	char hold[1100];     /* exists while targets are held in rotation */
} lb_paths;

/* The files of load balancer `name` under <state_dir>/local/lb/<name>/. */
int mdeploy_local__hap_paths(mdeploy_provider *p, const char *name, lb_paths *lp);
void mdeploy_local__hap_sleep_ms(unsigned int ms);
/* One Runtime API exchange: send `cmd` (commands separated by ';'), read the reply to EOF. */
int mdeploy_local__hap_cli_send(const lb_paths *lp, const char *cmd, char **reply);
/* Run change commands; a reply other than an address notice is an error. */
int mdeploy_local__hap_cli_change(const lb_paths *lp, const char *cmd);
/* `show servers state` into the server-state-file, for a restart. */
int mdeploy_local__hap_save_state(const lb_paths *lp);

#define paths mdeploy_local__hap_paths
#define sleep_ms mdeploy_local__hap_sleep_ms
#define cli_send mdeploy_local__hap_cli_send
#define cli_change mdeploy_local__hap_cli_change
#define save_state mdeploy_local__hap_save_state

#endif

/*
 * haproxy.h - shared by the local load balancer's files: lb.c (what the
 * provider interface asks), haproxy_proc.c (the process), haproxy_slots.c
 * (its servers), haproxy_cli.c (its Runtime API).
 */
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

/* haproxy_proc.c */
long mdeploy_local__hap_read_pid(const lb_paths *lp);
int mdeploy_local__hap_is_haproxy(long pid);
/* Write haproxy.cfg (and the bind file) for `o`. */
int mdeploy_local__hap_write_config(const lb_paths *lp, const mdeploy_lb_options *o);
/* Start HAProxy from its configuration and wait until its socket answers. */
int mdeploy_local__hap_start_haproxy(mdeploy_provider *p, const lb_paths *lp);

/* haproxy_slots.c */
#define FREE_PORT 1
/* HAProxy's SRV_ADMF_* bits: forced/inherited/resolution/hostname maintenance, forced/inherited drain. */
#define ADMIN_MAINT 0x63u
#define ADMIN_DRAIN 0x18u

typedef struct {
	char name[32];
	char address[64];
	unsigned int port;
	unsigned int admin;
	unsigned int weight;
	char instance[32];  /* "" when no known instance sits there */
	char fleet[128];    /* that instance's fleet */
} hap_slot;

typedef struct {
	hap_slot *v;
	size_t n;
} hap_slot_list;

/* The counters of a slot that an instance's counters start from. */
typedef struct {
	uint64_t sessions_total, responses_total, responses_5xx, check_failures;
} slot_counters;

typedef int (*stat_row_cb)(char **hdr, int nh, char **f, int nf, void *payload);
/* Call `cb` for each server row of the backend in `show stat`. */
int mdeploy_local__hap_stat_each(const lb_paths *lp, stat_row_cb cb, void *payload);
const char *mdeploy_local__hap_str_field(char **hdr, int nh, char **f, int nf, const char *name);
uint64_t mdeploy_local__hap_num_field(char **hdr, int nh, char **f, int nf, const char *name);
void mdeploy_local__hap_counters_of(char **hdr, int nh, char **f, int nf, slot_counters *c);
int mdeploy_local__hap_offset_save(mdeploy_provider *p, const lb_paths *lp, const char *lb, const char *slot,
                                   const char *instance);
void mdeploy_local__hap_offset_load(mdeploy_provider *p, const char *lb, const char *slot, const char *instance,
                                    long pid, slot_counters *c);
static inline uint64_t mdeploy_local__hap_minus(uint64_t v, uint64_t off)
{
	return v >= off ? v - off : v;
}
int mdeploy_local__hap_join_slot(mdeploy_provider *p, const lb_paths *lp, const char *slot, const char *state);
int mdeploy_local__hap_hold_slot(const lb_paths *lp, const char *slot);
int mdeploy_local__hap_field_index(char **hdr, int nh, const char *name);
int mdeploy_local__hap_split(char *line, char sep, char **fields, int max);
/* The backend's slots, each with the instance that sits there. Free sl->v. */
int mdeploy_local__hap_load_slots(mdeploy_provider *p, const lb_paths *lp, hap_slot_list *sl);
const char *mdeploy_local__hap_admin_state_name(unsigned int admin);
const char *mdeploy_local__hap_state_word(int state);
hap_slot *mdeploy_local__hap_slot_of(hap_slot_list *sl, const char *instance);

/* haproxy_weights.c: fleet weights spread over the servers. */
typedef struct {
	char name[128];
	unsigned int weight;       /* 0-999 */
	unsigned int targets;      /* registered servers */
	unsigned int n;            /* registered servers not in maintenance */
	unsigned long long sum;    /* its registered servers' current weights */
} hap_fleet;

typedef struct {
	hap_fleet *v;
	size_t n;
} hap_fleets;

/* The fleets with servers in `sl`, weighted by `w` when named there, else by
 * their stored weight (else their current share). Free out->v. */
int mdeploy_local__hap_fleets(mdeploy_provider *p, const char *lb, const hap_slot_list *sl,
                              const mdeploy_fleet_weight *w, size_t nw, hap_fleets *out);
/* out[i]: the weight of server i the fleet weights give. */
void mdeploy_local__hap_spread(const hap_slot_list *sl, const hap_fleets *f, unsigned int *out);
/* Store (weight >= 0) or forget (-1) a fleet's weight. */
int mdeploy_local__hap_weight_store(mdeploy_provider *p, const char *lb, const char *fleet, int weight);
/*
 * One exchange: server i to states[i] (-1: unchanged; a server leaving
 * maintenance must have joined first), fleets named in `w` to their
 * weights (stored first), every server's weight from the spread, then
 * `last` (may be NULL). Updates sl's weights and admin bits.
 */
int mdeploy_local__hap_apply(mdeploy_provider *p, const lb_paths *lp, const char *lb, hap_slot_list *sl,
                             const int *states, const mdeploy_fleet_weight *w, size_t nw, const char *last);

#define read_pid mdeploy_local__hap_read_pid
#define is_haproxy mdeploy_local__hap_is_haproxy
#define write_config mdeploy_local__hap_write_config
#define start_haproxy mdeploy_local__hap_start_haproxy
#define stat_each mdeploy_local__hap_stat_each
#define str_field mdeploy_local__hap_str_field
#define num_field mdeploy_local__hap_num_field
#define counters_of mdeploy_local__hap_counters_of
#define offset_save mdeploy_local__hap_offset_save
#define offset_load mdeploy_local__hap_offset_load
#define minus mdeploy_local__hap_minus
#define join_slot mdeploy_local__hap_join_slot
#define hold_slot mdeploy_local__hap_hold_slot
#define field_index mdeploy_local__hap_field_index
#define split mdeploy_local__hap_split
#define load_slots mdeploy_local__hap_load_slots
#define admin_state_name mdeploy_local__hap_admin_state_name
#define state_word mdeploy_local__hap_state_word
#define slot_of mdeploy_local__hap_slot_of
#define paths mdeploy_local__hap_paths
#define sleep_ms mdeploy_local__hap_sleep_ms
#define cli_send mdeploy_local__hap_cli_send
#define cli_change mdeploy_local__hap_cli_change
#define save_state mdeploy_local__hap_save_state

#endif

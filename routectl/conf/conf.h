/* The daemon's configuration: a JSON document of YANG module routectl-config
 * (api/routectl-config.yang), parsed and validated with libyang, then
 * checked for what YANG cannot say (canonical prefixes, a prefix in two
 * services). The result is immutable: a reload loads a new one and swaps. */
#ifndef ROUTECTL_CONF_H
#define ROUTECTL_CONF_H

#include "common/model.h"

#include <stddef.h>
#include <stdint.h>

struct err;

/* Sizes routectl is built and tested for (README, "Configuration"): a site
 * with up to CONF_MAX_PREFIXES prefixes in all (100,000 are tested end to
 * end with BIRD), in a config file of at most CONF_MAX_FILE_SIZE bytes.
 * deploy/lab --prefixes keeps to the same limit. */
#define CONF_MAX_PREFIXES 250000u
#define CONF_MAX_FILE_SIZE (64u << 20)

struct conf_service {
	char *name;
	struct prefix *prefixes;     /* IPv4 first, then IPv6, each sorted */
	size_t n_prefixes;
	enum svc_mode initial_mode;  /* state of a service new to the state file */
	unsigned initial_prepend;    /* when initial_mode is MODE_PREPEND */
};

/* An address the API is served on over TCP (api/listen). */
struct conf_listen {
	char *address;                /* IPv4 or IPv6 literal */
	unsigned port;
	char *tls_cert;               /* NULL: plain HTTP */
	char *tls_key;                /* set exactly when tls_cert is */
	int metrics_only;             /* /metrics, /healthz, /readyz only, no token */
};

struct conf {
	char *site;
	uint32_t local_as;
	/* BIRD */
	char *bird_socket;            /* BIRD's control socket */
	char *include_path;           /* the generated include */
	char *template_path;          /* NULL: the built-in bird-templates/routectl.conf.tmpl */
	char **bgp_protocols;         /* BGP protocols whose exports verify checks */
	size_t n_bgp_protocols;
	unsigned configure_timeout_s; /* `configure timeout N`: BIRD undoes unless confirmed */
	unsigned bird_timeout_ms;     /* per command */
	unsigned verify_timeout_ms;   /* how long verify waits for the exports to match */
	/* daemon */
	char *state_dir;
	char *console_socket;
	unsigned console_mode;        /* file mode of the console socket, default 0660 */
	char *console_admin_group;    /* NULL: only root and routectld's own uid are admin */
	/* the API over TCP (api/) */
	struct conf_listen *listen;
	size_t n_listen;
	char *token_file;             /* NULL: TCP requests get 401 */
	char *audit_log;              /* never NULL: default state_dir/audit.log */
	unsigned max_connections;     /* per listen address */
	unsigned max_per_address;     /* per remote address */
	/* The out-of-band listeners (api/out-of-band): the same API on the
	 * management network, with tokens and connection limits of their own,
	 * so that evacuation works while the primary (chat-ops) path is down. */
	struct conf_listen *oob_listen;   /* metrics_only always 0 */
	size_t n_oob_listen;
	char *oob_token_file;         /* NULL: out-of-band requests get 401 */
	unsigned oob_max_connections; /* per out-of-band address */
	unsigned oob_max_per_address; /* per remote address */
	unsigned write_rate_per_min;  /* per token */
	unsigned write_burst;
	unsigned reconcile_interval_s;
	char *policy_path;            /* NULL: built-in defaults (policies/default.json) */
	char *fleet_path;             /* the fleet document (routectl-fleet), or NULL */
	struct conf_service *services; /* sorted by name */
	size_t n_services;
};

/* Parses and validates a config file. On failure e->msg holds every error,
 * one per line, each naming the JSON path and the reason.
 *
 * Besides the YANG model it refuses a bird/configure-timeout that leaves no
 * room for the verify deadline: BIRD undoes the change by itself when the
 * timer of `configure timeout N` fires (BIRD 2 behaviour), so N must cover
 * the configure reply, verify and the confirm:
 *   N * 1000 >= command-timeout-ms (configure) + verify-timeout-ms
 *               + command-timeout-ms (confirm) + CONF_CONFIRM_MARGIN_MS. */
#define CONF_CONFIRM_MARGIN_MS 1000u
/* The smallest configure-timeout, in seconds, that c's timeouts allow. */
unsigned conf_min_configure_timeout(unsigned command_timeout_ms, unsigned verify_timeout_ms);
int conf_load(const char *path, struct conf **out, struct err *e);
/* Same, from a string (name is used in messages). */
int conf_parse(const char *json, const char *name, struct conf **out, struct err *e);
void conf_free(struct conf *c);

const struct conf_service *conf_find_service(const struct conf *c, const char *name);

/* Policy: timings of staged drains/undrains (policies/default.json,
 * YANG module routectl-policy). */
struct policy {
	unsigned drain_prepend;      /* prepend count of the first drain stage */
	unsigned drain_wait_s;       /* wait before the withdraw stage */
	unsigned undrain_prepend;    /* prepend count of the first undrain stage */
	unsigned undrain_wait_s;     /* wait before the announce stage */
	int refuse_drain_unlisted;   /* unlisted-exporter refuse-drain: refuse a change
					that takes announcements away while an unlisted
					BGP protocol exports routectl's routes */
	/* guards across sites (api/routectl-policy.yang, guards) */
	int guard_last_site;         /* refuse leaving a service announced nowhere */
	unsigned max_drained_sites;  /* sites with a service withdrawn at once */
	unsigned ask_timeout_ms;     /* waiting for another site's view */
	/* flap budget: at most flap_changes per (site, service) per flap_window_s */
	unsigned flap_changes;
	unsigned flap_window_s;
	int stand_alone;             /* guards/without-fleet stand-alone: without a
					fleet document the guards across sites are
					skipped */
};

/* path NULL: the built-in default policy. */
int policy_load(const char *path, struct policy *out, struct err *e);
int policy_parse(const char *json, const char *name, struct policy *out, struct err *e);

#endif

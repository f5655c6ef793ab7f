/* Prometheus metrics of routectld (text exposition format 0.0.4, served at
 * GET /metrics). Counters of the API live here and are bumped by the
 * command layer on the thread that serves requests; what BIRD and the
 * applies did is read from the command view (api/commands.h) when the page
 * is rendered.
 *
 * Names follow Prometheus conventions: prefix routectl_, counters end in
 * _total, durations are _seconds histograms, labels have bounded values
 * (route templates such as "/v1/services/{service}", never raw paths).
 *
 * Families:
 *   routectl_build_info{version}                         gauge 1
 *   routectl_service_state{site,service,state}           gauge 1 for the current state
 *   routectl_service_prepend{site,service}               gauge, prepend count
 *   routectl_safe_mode{site}                             gauge 0/1
 *   routectl_bird_up{site}                               gauge 0/1
 *   routectl_applies_total{site,result}                  counter (ok, partial, failed)
 *   routectl_apply_duration_seconds{site}                histogram
 *   routectl_reconcile_repairs_total{site}               counter
 *   routectl_http_requests_total{route,method,status}    counter
 *   routectl_auth_failures_total{reason}                 counter (missing, malformed, invalid, forbidden)
 *   routectl_rate_limited_total                          counter
 *   routectl_audit_records_total, routectl_audit_failures_total   counters
 *   routectl_audit_last_sync_seconds                     gauge, last write + fdatasync
 *   routectl_config_last_reload_successful               gauge 0/1 (SIGHUP; 1 before any)
 *   routectl_config_last_reload_success_timestamp_seconds  gauge, when the running
 *                                                        config was loaded
 *   routectl_api_listener_up{kind,address,port}          gauge 0/1: a TCP listener bound
 *                                                        (kind primary, out-of-band, metrics)
 *
 * Everything about BIRD and the applies is of this site, so those families
 * carry a site label: a Prometheus that scrapes every routectld of the
 * fleet can sum and compare them. */
#ifndef ROUTECTL_METRICS_H
#define ROUTECTL_METRICS_H

#include <stddef.h>
#include <time.h>

struct command_view;
struct command_listener;
struct audit_stats;
struct metrics;

struct metrics *metrics_new(void);
void metrics_free(struct metrics *m);

/* One request answered: route is the matched route template ("other" when
 * none matched; NULL or "" count as "other"), method the HTTP method
 * (anything but GET, POST, PUT, DELETE, HEAD counts as "other"), status the
 * HTTP status. The table of (route, method, status) is bounded (256
 * entries): once it is nearly full, new combinations count under route
 * "other", and when even that finds no room, under route, method and status
 * "other". m may be NULL (nothing counted). */
void metrics_http(struct metrics *m, const char *route, const char *method, int status);
/* reason: "missing", "malformed", "invalid" (401) or "forbidden" (403);
 * anything else counts as "other". */
void metrics_auth_failure(struct metrics *m, const char *reason);
void metrics_rate_limited(struct metrics *m);
/* The last reload's result (ok 0/1) and when the running config was loaded
 * (the start, or the last reload that succeeded; Unix seconds). The two
 * reload families are on the page once this was called; m may be NULL. */
void metrics_config_reload(struct metrics *m, int ok, time_t loaded_at);

/* The TCP listeners routectl_api_listener_up reports: n entries at v, the
 * caller's, read at every render (same thread). m may be NULL. */
void metrics_set_listeners(struct metrics *m, const struct command_listener *v, size_t n);

/* The whole page: heap text, the caller frees it; NULL when out of memory.
 * m, v and as may be NULL (then their families are left out; so is the
 * apply histogram when v->apply_stats is NULL). In safe mode (v->state
 * NULL) the service families have no series: the last known state is not
 * the desired state. Label values are escaped (backslash, double quote,
 * line feed) and made valid UTF-8. */
char *metrics_render(const struct metrics *m, const struct command_view *v,
		     const struct audit_stats *as);

#endif

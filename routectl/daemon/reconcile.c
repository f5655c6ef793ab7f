/* Reconcile: the include on disk and BIRD's exports against the desired
 * state, on a timer, after a reload and when the BIRD connection comes up. */
#include "daemon/daemon.h"
#include "daemon/internal.h"

#include "apply/apply.h"
#include "bird/bird.h"
#include "common/log.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int daemon_reconcile(struct daemon *d, const char *why, int force)
{
	if (d->safe_mode[0] || !d->state || !d->bird || !bird_alive(d->bird))
		return 0;
	char drift[ERR_MSG_MAX] = "";
	struct err e;
	int rc;
	/* Check BIRD's protocols first, at every reconcile: status shows what
	 * was found, and BIRD is not touched while the config and BIRD disagree
	 * on the protocols or the local AS. */
	struct apply_peers peers;
	rc = apply_precheck(d->bird, d->conf, d->state, (int)d->conf->bird_timeout_ms, &peers,
			    &e);
	if (rc < 0) {
		log_error("reconcile (%s): checking BIRD's protocols: %s", why, e.msg);
		if (!bird_alive(d->bird))
			bird_disconnect(d, e.msg);
		return rc;
	}
	struct err be;
	if (apply_peers_blocking(&peers, &be) < 0) {
		char line[ERR_MSG_MAX];
		apply_one_line(be.msg, line, sizeof line);
		log_error("reconcile (%s): BIRD left alone: %s", why, line);
		keep_peer_findings(d, &peers);
		return -ERR_REFUSED;
	}
	if (!force) {
		struct buf cand = { 0 };
		char *current = NULL;
		rc = apply_plan(d->conf, d->state, d->tmpl, &cand, &current, &e);
		int file_drift = rc == 0 && (!current || strcmp(current, cand.p) != 0);
		free(current);
		buf_free(&cand);
		if (rc < 0) {
			log_error("reconcile (%s): %s", why, e.msg);
			keep_peer_findings(d, &peers);
			return rc;
		}
		if (file_drift) {
			snprintf(drift, sizeof drift,
				 "%s differs from the desired state (edited by hand?)",
				 d->conf->include_path);
		} else {
			rc = verify_exports(d->bird, d->conf, d->state, &peers,
					    (int)d->conf->bird_timeout_ms, &e);
			if (rc == 0) {
				char partial[2048];
				if (apply_peers_partial(&peers, 1, partial, sizeof partial))
					log_warn("reconcile (%s): BIRD runs the desired state, but not "
						 "every peer exports it (applying again cannot fix "
						 "that): %s", why, partial);
				else
					log_debug("reconcile (%s): in sync", why);
				keep_peer_findings(d, &peers);
				return 0;
			}
			keep_peer_findings(d, &peers);
			if (rc != -ERR_VERIFY) {
				log_error("reconcile (%s): %s", why, e.msg);
				if (!bird_alive(d->bird))
					bird_disconnect(d, e.msg);
				return rc;
			}
			apply_one_line(e.msg, drift, sizeof drift);
		}
	}
	apply_peers_free(&peers);
	if (force)
		log_info("reconcile (%s): applying the desired state", why);
	else
		log_warn("reconcile (%s): drift: %s; repairing", why, drift);
	struct apply_report r;
	char change_id[17];
	change_id_new(change_id);
	struct apply_opts o = { .force = 1 };
	rc = apply_state(d->bird, d->conf, d->state, d->tmpl, &o, &r, &e);
	if (r.peers.v)
		keep_peer_findings(d, &r.peers);
	apply_report_free(&r);
	if (!force || r.changed)
		d->repairs++;
	if (rc < 0) {
		char line[ERR_MSG_MAX];
		apply_one_line(e.msg, line, sizeof line);
		log_error("reconcile (%s): repair failed: %s", why, line);
		set_last_apply(d, "reconcile", 0, change_id, e.msg, r.ms_total);
		if (!bird_alive(d->bird))
			bird_disconnect(d, e.msg);
		return rc;
	}
	log_info("reconcile (%s): %s in %lld ms%s%s", why, force ? "applied" : "repaired",
		 (long long)r.ms_total, r.partial ? "; in part: " : "",
		 r.partial ? r.partial_text : "");
	set_last_apply(d, "reconcile", 1, change_id,
		       force ? "applied the desired state" : "repaired drift", r.ms_total);
	start_wake_window(d);
	return 1;
}

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
	/* After a first start, BIRD is compared with the fresh state before
	 * anything is applied (it may be in safe mode after that). */
	if (d->first_start_unchecked && daemon_check_first_start(d) < 0)
		return 0;
	char drift[ERR_MSG_MAX] = "";
	struct err e;
	int rc;
	if (!force) {
		struct buf cand = { 0 };
		char *current = NULL;
		rc = apply_plan(d->conf, d->state, d->tmpl, &cand, &current, &e);
		int file_drift = rc == 0 && (!current || strcmp(current, cand.p) != 0);
		free(current);
		buf_free(&cand);
		if (rc < 0) {
			log_error("reconcile (%s): %s", why, e.msg);
			return rc;
		}
		if (file_drift) {
			snprintf(drift, sizeof drift,
				 "%s differs from the desired state (edited by hand?)",
				 d->conf->include_path);
		} else {
			rc = verify_exports(d->bird, d->conf, d->state,
					    (int)d->conf->bird_timeout_ms, &e);
			if (rc == 0) {
				log_debug("reconcile (%s): in sync", why);
				return 0;
			}
			if (rc != -ERR_VERIFY) {
				log_error("reconcile (%s): %s", why, e.msg);
				if (!bird_alive(d->bird))
					bird_disconnect(d, e.msg);
				return rc;
			}
			snprintf(drift, sizeof drift, "%s", e.msg);
		}
	}
	if (force)
		log_info("reconcile (%s): applying the desired state", why);
	else
		log_warn("reconcile (%s): drift: %s; repairing", why, drift);
	struct apply_report r;
	char change_id[17];
	change_id_new(change_id);
	rc = apply_state(d->bird, d->conf, d->state, d->tmpl, 1, NULL, NULL, &r, &e);
	if (!force || r.changed)
		d->repairs++;
	if (rc < 0) {
		log_error("reconcile (%s): repair failed: %s", why, e.msg);
		set_last_apply(d, "reconcile", 0, change_id, e.msg, r.ms_total);
		if (!bird_alive(d->bird))
			bird_disconnect(d, e.msg);
		return rc;
	}
	log_info("reconcile (%s): %s in %lld ms", why, force ? "applied" : "repaired",
		 (long long)r.ms_total);
	set_last_apply(d, "reconcile", 1, change_id,
		       force ? "applied the desired state" : "repaired drift", r.ms_total);
	start_wake_window(d);
	return 1;
}


/* libFuzzer target: what routectl/fleet reads from outside, a fleet
 * document (fleet_parse) and a router's answer to GET /v1/status
 * (fleet_view_from_replies), which a broken or older routectld, a proxy,
 * or anything else on the port may send.
 *
 * The first byte picks: even, the rest is a fleet document; odd, the rest
 * is router r1's status answer in a fleet of one site with routers r1 and
 * r2, r2 answering a good status (so that merging and disagreement run).
 * Oracles: a document that loads has sites with routers, each with a name
 * and an api-url, and a token secret or a reason why not; a view has the
 * site, never more unreachable routers than routers, named services in
 * order, and the states a status can have. */
#include "common/err.h"
#include "fleet/fleet.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char fleet_doc[] =
	"{\"routectl-fleet:fleet\": {\"site\": [{\"name\": \"ash\", \"router\": ["
	"{\"name\": \"r1\", \"api-url\": \"http://10.0.0.1:8080\", \"token\": {\"env\": \"FUZZ_FLEET_TOKEN\"}},"
	"{\"name\": \"r2\", \"api-url\": \"http://10.0.0.2:8080\", \"token\": {\"env\": \"FUZZ_FLEET_TOKEN\"}}"
	"]}]}}";

static const char good_status[] =
	"{\"site\": \"ash\", \"generation\": 2, \"services\": ["
	"{\"name\": \"dns\", \"state\": \"announce\", \"prepend\": 0, \"next\": null},"
	"{\"name\": \"web\", \"state\": \"prepend\", \"prepend\": 2, \"next\": "
	"{\"state\": \"withdraw\", \"prepend\": 0, \"at\": \"2026-12-01T10:00:00Z\"}}]}";

static void check_document(const char *text)
{
	struct fleet *f = NULL;
	struct err e;
	if (fleet_parse(text, "fuzz.json", &f, &e) < 0) {
		if (f || !e.msg[0])
			abort();
		return;
	}
	if (!f || f->n_sites == 0)
		abort();
	for (size_t i = 0; i < f->n_sites; i++) {
		if (!f->sites[i].name || f->sites[i].n_routers == 0)
			abort();
		for (size_t j = 0; j < f->sites[i].n_routers; j++) {
			const struct fleet_router *r = &f->sites[i].routers[j];
			if (!r->name || !r->api_url || r->site != f->sites[i].name ||
			    !r->token.ref || !r->token.secret == !r->token.error)
				abort();
		}
	}
	fleet_check_tokens(f, &e);
	fleet_free(f);
}

static void check_view(const char *body, size_t len)
{
	setenv("FUZZ_FLEET_TOKEN", "fuzz", 1);
	struct fleet *f = NULL;
	struct err e;
	if (fleet_parse(fleet_doc, "fleet.json", &f, &e) < 0)
		abort();
	struct fleet_reply rep[2];
	memset(rep, 0, sizeof rep);
	rep[0].router = &f->sites[0].routers[0];
	rep[0].status = 200;
	rep[0].endpoint = "primary";
	rep[0].body = (char *)body;
	rep[0].body_len = len;
	rep[1].router = &f->sites[0].routers[1];
	rep[1].status = 200;
	rep[1].endpoint = "oob";
	rep[1].body = (char *)good_status;
	rep[1].body_len = strlen(good_status);
	struct fleet_replies r = { rep, 2 };
	struct fleet_view v;
	if (fleet_view_from_replies(f, &r, &v, &e) < 0)
		abort();
	if (v.n_sites != 1 || strcmp(v.sites[0].name, "ash") != 0 || v.sites[0].n_routers != 2 ||
	    v.sites[0].n_unreachable > 1 || !v.sites[0].routers[1].answered)
		abort();
	const struct fleet_view_site *s = &v.sites[0];
	for (size_t k = 0; k < s->n_services; k++) {
		const struct fleet_view_service *x = &s->services[k];
		if (!x->name || (k && strcmp(s->services[k - 1].name, x->name) >= 0))
			abort();
		if (x->known && x->mode != MODE_ANNOUNCE && x->mode != MODE_PREPEND &&
		    x->mode != MODE_WITHDRAW)
			abort();
		if (x->known && x->mode == MODE_PREPEND &&
		    (x->prepend < PREPEND_MIN || x->prepend > PREPEND_MAX))
			abort();
		if (x->has_next && !x->next_at)
			abort();
	}
	if (!s->routers[0].answered && !s->routers[0].error[0])
		abort();
	fleet_view_free(&v);
	fleet_free(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	char *text = malloc(size);
	if (!text)
		return 0;
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	if (data[0] % 2 == 0)
		check_document(text);
	else
		check_view(text, size - 1);
	free(text);
	return 0;
}

/* libFuzzer target: config files (conf_parse).
 *
 * Oracles: a refused input gives -ERR_INVALID and a message whose every line
 * names the file; an accepted config keeps the promises of conf.h: services
 * sorted by name and unique, each with a prefix, prefixes canonical (they
 * parse back to themselves), IPv4 before IPv6, sorted, and no prefix in two
 * services. */
#include "common/err.h"
#include "common/model.h"
#include "conf/conf.h"

#define TESTUTIL_NO_CHECK
#include "../unit/testutil.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NAME "fuzz"

static void check_conf(const struct conf *c)
{
	if (!c->site || !c->bird_socket || !c->include_path || !c->state_dir ||
	    !c->console_socket || c->local_as == 0)
		abort();
	for (size_t i = 0; i < c->n_services; i++) {
		const struct conf_service *s = &c->services[i];
		if (i > 0 && strcmp(c->services[i - 1].name, s->name) >= 0)
			abort();
		if (s->n_prefixes == 0 || conf_find_service(c, s->name) != s)
			abort();
		if ((s->initial_mode == MODE_PREPEND) !=
		    (s->initial_prepend >= PREPEND_MIN && s->initial_prepend <= PREPEND_MAX))
			abort();
		for (size_t k = 0; k < s->n_prefixes; k++) {
			struct prefix p;
			if (prefix_parse(s->prefixes[k].text, &p, NULL, 0) < 0 ||
			    prefix_cmp(&p, &s->prefixes[k]) != 0 || strcmp(p.text, s->prefixes[k].text))
				abort();
			if (k > 0 && prefix_cmp(&s->prefixes[k - 1], &s->prefixes[k]) >= 0)
				abort();
			for (size_t j = 0; j < i; j++)
				for (size_t m = 0; m < c->services[j].n_prefixes; m++)
					if (prefix_cmp(&c->services[j].prefixes[m], &s->prefixes[k]) == 0)
						abort();
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = tu_fuzz_text(data, size);
	if (!text)
		return 0;

	struct conf *c = NULL;
	struct err e = { 0 };
	int rc = conf_parse(text, NAME, &c, &e);
	free(text);
	if (rc < 0) {
		tu_fuzz_check_refusal(rc, c, e.msg, "config " NAME ": ");
		return 0;
	}
	check_conf(c);
	conf_free(c);
	return 0;
}

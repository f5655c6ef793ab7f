/* routectld: keeps the anycast announcements of one site in BIRD. */
#include "common/err.h"
#include "common/log.h"
#include "conf/conf.h"
#include "daemon/daemon.h"
#include "fleet/fleet.h"
#include "render/render.h"
#include "store/store.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_CONFIG "/etc/routectl/routectld.json"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: routectld [-c CONFIG] [-n] [-v]\n"
		"  -c CONFIG   configuration file (default %s)\n"
		"  -n          check the configuration, policy and template, then exit\n"
		"  -v          log debug messages\n"
		"  -V          print the version\n"
		"  -h, --help  print this help\n",
		DEFAULT_CONFIG);
}

/* -n: everything the daemon would load, without touching BIRD or state. */
static int check_only(const char *path)
{
	struct conf *c = NULL;
	struct policy p;
	char *tmpl = NULL;
	struct err e;
	err_clear(&e);
	int rc = conf_load(path, &c, &e);
	if (rc == 0)
		rc = policy_load(c->policy_path, &p, &e);
	if (rc == 0)
		rc = render_load_template(c, &tmpl, &e);
	if (rc == 0 && c->fleet_path) {
		/* the guards across sites read it at every change */
		struct fleet *f = NULL;
		rc = fleet_load(c->fleet_path, &f, &e);
		if (rc == 0 && !fleet_find_site(f, c->site))
			rc = err_set(&e, ERR_INVALID, "fleet document %s has no site '%s'",
				     c->fleet_path, c->site);
		fleet_free(f);
	}
	if (rc == 0) {
		struct state *st = state_new(c, time(NULL));
		struct buf out = { 0 };
		rc = st ? render_include(c, st, tmpl, &out, &e)
			: err_set(&e, ERR_NOMEM, "out of memory");
		buf_free(&out);
		state_free(st);
	}
	if (rc < 0) {
		fprintf(stderr, "routectld: %s\n", e.msg);
		fprintf(stderr, "routectld: %s: not valid\n", path);
	} else {
		size_t prefixes = 0;
		for (size_t i = 0; i < c->n_services; i++)
			prefixes += c->services[i].n_prefixes;
		printf("%s: OK (site %s, %zu services, %zu prefixes)\n", path, c->site,
		       c->n_services, prefixes);
	}
	free(tmpl);
	conf_free(c);
	return rc < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
	const char *config = DEFAULT_CONFIG;
	int check = 0, opt;
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	while ((opt = getopt_long(argc, argv, "c:nvVh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			config = optarg;
			break;
		case 'n':
			check = 1;
			break;
		case 'v':
			log_set_level(LOG_LVL_DEBUG);
			break;
		case 'V':
			printf("routectld %s\n", ROUTECTL_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "routectld: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (check)
		return check_only(config);

	struct daemon d;
	struct err e;
	err_clear(&e);
	if (daemon_init(&d, config, &e) < 0) {
		log_error("cannot start: %s", e.msg);
		daemon_free(&d);
		return 1;
	}
	int rc = daemon_run(&d);
	daemon_free(&d);
	return rc;
}

/* A fake BIRD control socket for unit tests: answers a fixed list of
 * commands in order, with replies given inline or recorded from BIRD 2.0.12
 * (files of tests/data/bird/). Runs in a thread of its own; what went wrong
 * is kept in bad and checked when it stops. */
#ifndef ROUTECTL_TEST_FAKEBIRD_H
#define ROUTECTL_TEST_FAKEBIRD_H

#include "bird/bird.h"
#include "common/err.h"
#include "common/fsutil.h"
#include "testutil.h"

#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

struct fake_exch {
	const char *cmd;     /* expected command line */
	const char *reply;   /* bytes to send, or a file of tests/data/bird/ if file */
	int file;
};

struct fake_bird {
	char path[128];
	int lfd;
	pthread_t th;
	const struct fake_exch *ex;
	size_t n_ex;
	size_t done;         /* commands answered */
	char bad[512];
};

static inline void *fake_bird_main(void *arg)
{
	struct fake_bird *f = arg;
	int fd = accept(f->lfd, NULL, NULL);
	if (fd < 0) {
		snprintf(f->bad, sizeof f->bad, "accept: %s", strerror(errno));
		return NULL;
	}
	static const char greeting[] = "0001 BIRD 2.0.12 ready.\n";
	tu_write_all(fd, greeting, sizeof greeting - 1);
	for (size_t i = 0; i < f->n_ex; i++) {
		char *line = tu_read_line(fd);
		if (!line) {
			if (!f->bad[0])
				snprintf(f->bad, sizeof f->bad, "EOF before command %zu ('%s')", i,
					 f->ex[i].cmd);
			break;
		}
		if (strcmp(line, f->ex[i].cmd) != 0 && !f->bad[0])
			snprintf(f->bad, sizeof f->bad, "command %zu: got '%s', want '%s'", i, line,
				 f->ex[i].cmd);
		free(line);
		if (f->ex[i].file) {
			char p[4096], *d = NULL;
			tu_data_path(p, sizeof p, "bird", f->ex[i].reply);
			struct err e;
			if (fs_read_file(p, 1 << 20, &d, NULL, &e) == 0)
				tu_write_all(fd, d, strlen(d));
			else if (!f->bad[0])
				snprintf(f->bad, sizeof f->bad, "%s", e.msg);
			free(d);
		} else {
			tu_write_all(fd, f->ex[i].reply, strlen(f->ex[i].reply));
		}
		f->done = i + 1;
	}
	char c;
	while (read(fd, &c, 1) > 0)
		;
	close(fd);
	return NULL;
}

/* Listens at path (a Unix socket) with the n exchanges of ex, and connects
 * to it. */
static inline struct bird_conn *fake_bird_start(struct fake_bird *f, const char *path,
						const struct fake_exch *ex, size_t n)
{
	memset(f, 0, sizeof *f);
	f->ex = ex;
	f->n_ex = n;
	snprintf(f->path, sizeof f->path, "%s", path);
	f->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(f->lfd, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", f->path);
	ck_assert_int_eq(bind(f->lfd, (struct sockaddr *)&sa, sizeof sa), 0);
	ck_assert_int_eq(listen(f->lfd, 4), 0);
	ck_assert_int_eq(pthread_create(&f->th, NULL, fake_bird_main, f), 0);
	struct bird_conn *c = NULL;
	struct err e;
	ck_assert_msg(bird_open(f->path, 2000, &c, &e) == 0, "%s", e.msg);
	return c;
}

/* Closes c, stops the fake and fails the test if it saw anything wrong. */
static inline void fake_bird_stop(struct fake_bird *f, struct bird_conn *c)
{
	bird_close(c);
	pthread_join(f->th, NULL);
	close(f->lfd);
	unlink(f->path);
	ck_assert_msg(f->bad[0] == '\0', "fake BIRD: %s", f->bad);
}

#endif

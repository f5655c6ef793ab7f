/* Logging: one record per line on stderr, or structured records to the
 * journal when stderr is connected to it (systemd's JOURNAL_STREAM).
 *
 * A line is "2026-11-30T07:00:00.123Z LEVEL: MESSAGE". A message is escaped
 * so that it never spans lines: a newline shows as the two characters "\n",
 * a carriage return as "\r", a tab as "\t", a backslash as "\\", any other
 * control character (and DEL) as "\xNN". Bytes >= 0x80 pass unchanged (UTF-8
 * text stays readable). A record is written with one write(2), so records of
 * two threads never mix within a line.
 *
 * Under systemd (JOURNAL_STREAM names the device and inode of stderr, see
 * systemd.exec(5)) and with libsystemd, records go to sd_journal_send() with
 * PRIORITY (syslog levels, RFC 5424), MESSAGE, and for change records a
 * MESSAGE_ID (fixed 128-bit ids, systemd's catalog convention) plus
 * CHANGE_ID, SITE and SERVICE fields; the journal keeps the message as is. */
#ifndef ROUTECTL_LOG_H
#define ROUTECTL_LOG_H

#include <stdarg.h>
#include <stddef.h>

enum log_level { LOG_LVL_DEBUG, LOG_LVL_INFO, LOG_LVL_WARN, LOG_LVL_ERROR };

/* MESSAGE_ID of a change record (applied or failed): a change asked through
 * the API, a staged step, a reconcile repair. */
#define LOG_MSGID_CHANGE "c3fb025a3cbf4473bed747b405d917b9"
/* MESSAGE_ID of a change of the BIRD connection's state (up, down). */
#define LOG_MSGID_BIRD_STATE "145a01379b324226a7572e8ab4385f85"

void log_set_level(enum log_level lvl);
void log_msg(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Fields of a structured record; any may be NULL (left out). */
struct log_fields {
	const char *message_id;   /* 32 lowercase hex digits */
	const char *change_id;
	const char *site;
	const char *service;
};

/* A record with structured fields (journal only; on a plain stderr the
 * line is the same as log_msg's). */
void log_record(enum log_level lvl, const struct log_fields *f, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Escapes msg as described above into out (size bytes, always
 * NUL-terminated, cut at a character boundary of the escaped form).
 * Returns the length the whole escaped text needs (without the NUL). */
size_t log_escape(const char *msg, char *out, size_t size);

/* Formats a whole stderr line (with the trailing newline) for a record:
 * "TIME LEVEL: escaped message\n", TIME in UTC with milliseconds. The
 * message is cut (with "...") to fit size. Returns the length written. */
size_t log_format_line(enum log_level lvl, long long epoch_ms, const char *msg, char *out,
		       size_t size);

#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)

#endif

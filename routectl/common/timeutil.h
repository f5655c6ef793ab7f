/* Clocks and timestamps. */
#ifndef ROUTECTL_TIMEUTIL_H
#define ROUTECTL_TIMEUTIL_H

#include <stdint.h>
#include <time.h>

/* Milliseconds on the monotonic clock. */
int64_t now_ms(void);

/* RFC 3339 UTC with seconds, "2026-11-25T10:29:28Z"; out must hold 21+ bytes. */
void time_format_utc(time_t t, char *out, size_t size);

/* Parses what time_format_utc writes (and any RFC 3339 "Z" or +hh:mm form
 * libyang accepts as yang:date-and-time); returns 0 or -ERR_INVALID. */
int time_parse_utc(const char *s, time_t *out);

#endif

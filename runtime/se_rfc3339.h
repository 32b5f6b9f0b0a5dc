/* se_rfc3339.h - RFC 3339 timestamps <-> seconds and nanoseconds since
 * the Unix epoch, the JSON form of google.protobuf.Timestamp.
 * THREAD: any (pure functions). */
#ifndef SE_RFC3339_H
#define SE_RFC3339_H

#include <stddef.h>
#include <stdint.h>

/* UTC text ("2024-03-01T12:00:00.5Z": a fraction of 3, 6 or 9 digits only
 * when nanos != 0) into out (at least 32 bytes, not NUL-terminated);
 * returns the length, or 0 when there is no such text (years outside
 * 1..9999, nanos outside 0..999999999). */
size_t se_rfc3339_format(int64_t seconds, int32_t nanos, char *out);

/* Parses s[0..len): date, 'T' (or 't' or ' '), time, an optional fraction
 * of 1..9 digits, 'Z' or an offset "+hh:mm"/"-hh:mm" (' ' for '+': a query
 * string's decoded '+'). 0 with *seconds and *nanos set, or -1. */
int se_rfc3339_parse(const char *s, size_t len, int64_t *seconds, int32_t *nanos);

#endif

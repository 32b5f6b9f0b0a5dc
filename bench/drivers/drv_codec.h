/* drv_codec.h - the small encoders se-bench-drivers needs, on libc alone:
 * SHA-1 and base64 (the WebSocket handshake's Sec-WebSocket-Accept), RFC 3339
 * timestamps with microseconds (the simulator sends its send time as the
 * report's "timestamp" and reads it back from each live update to measure
 * the location-to-watcher latency), clocks and a seeded PRNG.
 *
 * WHY here and not runtime/: the simulator links nothing but libc so that it
 * measures the stack, not itself, and builds on any Linux box.
 * THREAD: every function is reentrant (the PRNG state is the caller's).
 */
#ifndef DRV_CODEC_H
#define DRV_CODEC_H

#include <stddef.h>
#include <stdint.h>

/* Microseconds on CLOCK_MONOTONIC (intervals) and CLOCK_REALTIME (wall). */
int64_t drv_mono_us(void);
int64_t drv_wall_us(void);

/* xorshift64* PRNG; *state must be non-zero. */
uint64_t drv_rand(uint64_t *state);
/* Uniform double in [0, 1). */
double drv_rand01(uint64_t *state);

/* SHA-1 of n bytes into out[20]. */
void drv_sha1(const void *data, size_t n, uint8_t out[20]);

/* Standard base64 (with padding) of n bytes; out must hold 4*((n+2)/3)+1
 * bytes; NUL-terminated. Returns the length written. */
size_t drv_base64(const uint8_t *in, size_t n, char *out);

/* Sec-WebSocket-Accept for a Sec-WebSocket-Key (RFC 6455 4.2.2):
 * base64(SHA-1(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")); out >= 29 bytes. */
void drv_ws_accept(const char *key, char out[29]);

/* Formats wall-clock microseconds since the epoch as
 * "YYYY-MM-DDTHH:MM:SS.uuuuuuZ" (27 chars + NUL); out >= 28 bytes. */
size_t drv_rfc3339_format(int64_t us, char *out);

/* Parses an RFC 3339 time ("...Z" or "...+HH:MM"/"-HH:MM", 0-9 fraction
 * digits, extra digits beyond microseconds truncated) of n bytes into
 * microseconds since the epoch. Returns 0, or -1 if it is not one. */
int drv_rfc3339_parse(const char *s, size_t n, int64_t *us);

#endif

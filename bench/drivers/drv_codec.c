/* drv_codec.c - SHA-1, base64, RFC 3339 and clocks for se-bench-drivers
 * (see drv_codec.h). SHA-1 follows FIPS 180-4 directly: one 64-byte block
 * at a time, no streaming API (the only input is a 60-byte handshake key).
 * Dates use H. Hinnant's civil-from-days algorithms (no timegm/gmtime, so
 * no locale or TZ dependence and no library state). */
#include "drv_codec.h"

#include <string.h>
#include <time.h>

static int64_t clock_us(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t drv_mono_us(void) { return clock_us(CLOCK_MONOTONIC); }
int64_t drv_wall_us(void) { return clock_us(CLOCK_REALTIME); }

uint64_t drv_rand(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 2685821657736338717ULL;
}

double drv_rand01(uint64_t *s) { return (double)(drv_rand(s) >> 11) / 9007199254740992.0; }

/* ---- SHA-1 ----------------------------------------------------------------- */

static uint32_t rol(uint32_t v, int n) { return (v << n) | (v >> (32 - n)); }

static void sha1_block(uint32_t h[5], const uint8_t *p)
{
    uint32_t w[80];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 80; i++)
        w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    for (int i = 0; i < 80; i++) {
        uint32_t f, k;
        if (i < 20) {
            f = (b & c) | (~b & d);
            k = 0x5A827999;
        } else if (i < 40) {
            f = b ^ c ^ d;
            k = 0x6ED9EBA1;
        } else if (i < 60) {
            f = (b & c) | (b & d) | (c & d);
            k = 0x8F1BBCDC;
        } else {
            f = b ^ c ^ d;
            k = 0xCA62C1D6;
        }
        uint32_t t = rol(a, 5) + f + e + k + w[i];
        e = d;
        d = c;
        c = rol(b, 30);
        b = a;
        a = t;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
}

void drv_sha1(const void *data, size_t n, uint8_t out[20])
{
    uint32_t h[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
    const uint8_t *p = data;
    size_t left = n;
    for (; left >= 64; left -= 64, p += 64)
        sha1_block(h, p);
    uint8_t tail[128] = {0};
    memcpy(tail, p, left);
    tail[left] = 0x80;
    size_t tail_len = left + 1 + 8 <= 64 ? 64 : 128;
    uint64_t bits = (uint64_t)n * 8;
    for (int i = 0; i < 8; i++)
        tail[tail_len - 1 - i] = (uint8_t)(bits >> (8 * i));
    for (size_t off = 0; off < tail_len; off += 64)
        sha1_block(h, tail + off);
    for (int i = 0; i < 5; i++) {
        out[4 * i] = (uint8_t)(h[i] >> 24);
        out[4 * i + 1] = (uint8_t)(h[i] >> 16);
        out[4 * i + 2] = (uint8_t)(h[i] >> 8);
        out[4 * i + 3] = (uint8_t)h[i];
    }
}

size_t drv_base64(const uint8_t *in, size_t n, char *out)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < n)
            v |= in[i + 2];
        out[o++] = tbl[v >> 18 & 63];
        out[o++] = tbl[v >> 12 & 63];
        out[o++] = i + 1 < n ? tbl[v >> 6 & 63] : '=';
        out[o++] = i + 2 < n ? tbl[v & 63] : '=';
    }
    out[o] = '\0';
    return o;
}

void drv_ws_accept(const char *key, char out[29])
{
    char buf[128];
    size_t kn = strlen(key);
    if (kn > 60)
        kn = 60;
    memcpy(buf, key, kn);
    memcpy(buf + kn, "258EAFA5-E914-47DA-95CA-C5AB0DC85B11", 36);
    uint8_t digest[20];
    drv_sha1(buf, kn + 36, digest);
    drv_base64(digest, 20, out);
}

/* ---- RFC 3339 -------------------------------------------------------------- */

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static char *put_digits(char *o, unsigned v, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        o[i] = (char)('0' + v % 10);
        v /= 10;
    }
    return o + n;
}

size_t drv_rfc3339_format(int64_t us, char *out)
{
    int64_t s = us / 1000000;
    unsigned frac = (unsigned)(us % 1000000);
    int64_t days = s / 86400, y;
    unsigned sod = (unsigned)(s - days * 86400), m, d;
    civil_from_days(days, &y, &m, &d);
    char *o = put_digits(out, (unsigned)y, 4);
    *o++ = '-';
    o = put_digits(o, m, 2);
    *o++ = '-';
    o = put_digits(o, d, 2);
    *o++ = 'T';
    o = put_digits(o, sod / 3600, 2);
    *o++ = ':';
    o = put_digits(o, sod / 60 % 60, 2);
    *o++ = ':';
    o = put_digits(o, sod % 60, 2);
    *o++ = '.';
    o = put_digits(o, frac, 6);
    *o++ = 'Z';
    *o = '\0';
    return (size_t)(o - out);
}

/* n digits at s[*i] (advancing), or -1. */
static long take(const char *s, size_t len, size_t *i, int n)
{
    long v = 0;
    for (int k = 0; k < n; k++, (*i)++) {
        if (*i >= len || s[*i] < '0' || s[*i] > '9')
            return -1;
        v = v * 10 + (s[*i] - '0');
    }
    return v;
}

static int expect(const char *s, size_t len, size_t *i, const char *any)
{
    if (*i >= len || strchr(any, s[*i]) == NULL || s[*i] == '\0')
        return -1;
    (*i)++;
    return 0;
}

int drv_rfc3339_parse(const char *s, size_t n, int64_t *us)
{
    size_t i = 0;
    long y = take(s, n, &i, 4);
    if (y < 0 || expect(s, n, &i, "-") < 0)
        return -1;
    long mo = take(s, n, &i, 2);
    if (mo < 1 || mo > 12 || expect(s, n, &i, "-") < 0)
        return -1;
    long d = take(s, n, &i, 2);
    if (d < 1 || d > 31 || expect(s, n, &i, "Tt") < 0)
        return -1;
    long h = take(s, n, &i, 2);
    if (h < 0 || h > 23 || expect(s, n, &i, ":") < 0)
        return -1;
    long mi = take(s, n, &i, 2);
    if (mi < 0 || mi > 59 || expect(s, n, &i, ":") < 0)
        return -1;
    long se = take(s, n, &i, 2);
    if (se < 0 || se > 60)
        return -1;
    long frac = 0;
    if (i < n && s[i] == '.') {
        i++;
        int digits = 0;
        for (; i < n && s[i] >= '0' && s[i] <= '9'; i++, digits++)
            if (digits < 6)
                frac = frac * 10 + (s[i] - '0');
        if (digits == 0)
            return -1;
        for (; digits < 6; digits++)
            frac *= 10;
    }
    long off_min = 0;
    if (i < n && (s[i] == 'Z' || s[i] == 'z')) {
        i++;
    } else if (i < n && (s[i] == '+' || s[i] == '-')) {
        int sign = s[i++] == '-' ? -1 : 1;
        long oh = take(s, n, &i, 2);
        if (oh < 0 || expect(s, n, &i, ":") < 0)
            return -1;
        long om = take(s, n, &i, 2);
        if (om < 0)
            return -1;
        off_min = sign * (oh * 60 + om);
    } else {
        return -1;
    }
    if (i != n)
        return -1;
    int64_t secs = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 +
                   se - off_min * 60;
    *us = secs * 1000000 + frac;
    return 0;
}

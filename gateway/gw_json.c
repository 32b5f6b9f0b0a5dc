/* gw_json.c - JSON tokenizer and writer of the gateway (see gw_json.h).
 *
 * DESIGN: the parser is a recursive descent bounded by max_depth, one pass,
 * that validates everything (grammar, escapes, UTF-8) and records tokens;
 * readers then never re-check. The writer reserves the worst case of each
 * value once and fills the buffer directly (no per-value allocation).
 */
#include "gw_json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "se_log.h"

/* ---- gw_buf ------------------------------------------------------------ */

void gw_buf_init(gw_buf *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void gw_buf_dispose(gw_buf *b)
{
    free(b->data);
    gw_buf_init(b);
}

void gw_buf__grow(gw_buf *b, size_t need)
{
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->len < need)
        cap *= 2;
    char *p = realloc(b->data, cap);
    if (p == NULL) {
        se_log_error("out_of_memory", "gw_buf: cannot grow to %zu bytes", cap);
        abort();
    }
    b->data = p;
    b->cap = cap;
}

/* ---- UTF-8 ------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s (n bytes available), 0 if invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    if (c < 0x80)
        return 1;
    if (c < 0xC2 || c > 0xF4)
        return 0;
    if (c < 0xE0)
        return n >= 2 && (s[1] & 0xC0) == 0x80 ? 2 : 0;
    if (c < 0xF0) {
        if (n < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80)
            return 0;
        if ((c == 0xE0 && s[1] < 0xA0) || (c == 0xED && s[1] >= 0xA0))
            return 0; /* overlong, or a UTF-16 surrogate */
        return 3;
    }
    if (n < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80)
        return 0;
    if ((c == 0xF0 && s[1] < 0x90) || (c == 0xF4 && s[1] >= 0x90))
        return 0; /* overlong, or above U+10FFFF */
    return 4;
}

int gw_utf8_valid(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        if (u[i] < 0x80) {
            i++;
            continue;
        }
        size_t n = utf8_seq(u + i, len - i);
        if (n == 0)
            return 0;
        i += n;
    }
    return 1;
}

static size_t utf8_put(char *dst, uint32_t cp)
{
    if (cp < 0x80) {
        dst[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        dst[0] = (char)(0xC0 | (cp >> 6));
        dst[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        dst[0] = (char)(0xE0 | (cp >> 12));
        dst[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        dst[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    dst[0] = (char)(0xF0 | (cp >> 18));
    dst[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    dst[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    dst[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* ---- writer ------------------------------------------------------------ */

/* 0: copy as is; 1: escape; 2: non-ASCII (validate) */
static const uint8_t esc_class[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* '"' */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, /* '\\' */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
};

static char *put_escape(char *o, unsigned char c)
{
    static const char hex[] = "0123456789abcdef";
    *o++ = '\\';
    switch (c) {
    case '"': *o++ = '"'; break;
    case '\\': *o++ = '\\'; break;
    case '\n': *o++ = 'n'; break;
    case '\r': *o++ = 'r'; break;
    case '\t': *o++ = 't'; break;
    case '\b': *o++ = 'b'; break;
    case '\f': *o++ = 'f'; break;
    default:
        memcpy(o, "u00", 3);
        o[3] = hex[c >> 4];
        o[4] = hex[c & 15];
        o += 5;
    }
    return o;
}

/* Non-zero when a byte of v may be < 0x20, '"', '\\' or >= 0x80 (never a
 * false "no"; a false "maybe" only sends the word to the byte loop): a
 * byte below 0x20 wraps in v - 0x20.., a quote or backslash is a zero byte
 * of the xor, which wraps in x - 0x01.., and >= 0x80 has its high bit. */
static inline uint64_t special_bytes(uint64_t v)
{
    const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
    uint64_t q = v ^ (ones * '"'), bs = v ^ (ones * '\\');
    return ((v - ones * 0x20) | (q - ones) | (bs - ones) | v) & high;
}

/* End of the run of bytes from i that are copied as they are (8 at a time
 * while no byte in the word needs attention). */
static size_t plain_run(const unsigned char *u, size_t i, size_t len)
{
    while (i + 8 <= len) {
        uint64_t v;
        memcpy(&v, u + i, 8);
        if (special_bytes(v) != 0)
            break;
        i += 8;
    }
    while (i < len && esc_class[u[i]] == 0)
        i++;
    return i;
}

void gw_json_write_string(gw_buf *b, const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    char *o = gw_buf_reserve(b, len * 6 + 2), *o0 = o;
    *o++ = '"';
    size_t i = 0;
    while (i < len) {
        size_t run = plain_run(u, i, len);
        memcpy(o, u + i, run - i);
        o += run - i;
        i = run;
        if (i == len)
            break;
        if (esc_class[u[i]] == 1) {
            o = put_escape(o, u[i++]);
            continue;
        }
        size_t n = utf8_seq(u + i, len - i);
        if (n == 0) {
            memcpy(o, "\xEF\xBF\xBD", 3); /* U+FFFD for an invalid byte */
            o += 3;
            i++;
        } else {
            memcpy(o, u + i, n);
            o += n;
            i += n;
        }
    }
    *o++ = '"';
    b->len += (size_t)(o - o0);
}

static const char digit_pairs[201] = "00010203040506070809101112131415161718192021222324"
                                     "25262728293031323334353637383940414243444546474849"
                                     "50515253545556575859606162636465666768697071727374"
                                     "75767778798081828384858687888990919293949596979899";

void gw_json_write_uint64(gw_buf *b, uint64_t v)
{
    char *o = gw_buf_reserve(b, 20);
    size_t n = 1;
    for (uint64_t p = 10; n < 20 && v >= p; p *= 10)
        n++;
    char *q = o + n;
    while (v >= 100) {
        const char *d = digit_pairs + (v % 100) * 2;
        v /= 100;
        *--q = d[1];
        *--q = d[0];
    }
    if (v >= 10) {
        *--q = digit_pairs[v * 2 + 1];
        *--q = digit_pairs[v * 2];
    } else {
        *--q = (char)('0' + v);
    }
    b->len += n;
}

void gw_json_write_int64(gw_buf *b, int64_t v)
{
    if (v < 0) {
        gw_buf_putc(b, '-');
        gw_json_write_uint64(b, (uint64_t)0 - (uint64_t)v);
    } else {
        gw_json_write_uint64(b, (uint64_t)v);
    }
}

static int write_nonfinite(gw_buf *b, double v)
{
    if (isnan(v))
        gw_buf_append(b, "\"NaN\"", 5);
    else if (isinf(v))
        gw_buf_append(b, v > 0 ? "\"Infinity\"" : "\"-Infinity\"", v > 0 ? 10 : 11);
    else
        return 0;
    return 1;
}

/* Integral values below 2^53 print as integers without snprintf. */
static int write_integral(gw_buf *b, double v)
{
    if (v != floor(v) || fabs(v) >= 9007199254740992.0)
        return 0;
    if (v == 0 && signbit(v))
        gw_buf_append(b, "-0", 2);
    else
        gw_json_write_int64(b, (int64_t)v);
    return 1;
}

/* Values with at most 8 decimals and 15 digits (prices, coordinates,
 * ratings) without snprintf: the first k with v * 10^k = r integral that
 * gives back v. r / 10^k is the correctly rounded value of the decimal
 * r.10^-k (r and 10^k are exact doubles), which is what strtod returns for
 * its text, so the text reads back as v; the first k is the shortest. */
static int write_short_decimal(gw_buf *b, double v)
{
    static const double pow10[] = {1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8};
    static const uint64_t ipow10[] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000,
                                      100000000};
    double a = fabs(v);
    if (a >= 1e7 || a < 1e-4)
        return 0;
    for (int k = 1; k <= 8; k++) {
        double r = nearbyint(a * pow10[k]);
        if (r >= 1e15 || r / pow10[k] != a)
            continue;
        uint64_t ri = (uint64_t)r, whole = ri / ipow10[k], frac = ri % ipow10[k];
        if (v < 0)
            gw_buf_putc(b, '-');
        gw_json_write_uint64(b, whole);
        char *o = gw_buf_reserve(b, 9);
        o[0] = '.';
        for (int i = k; i >= 1; i--) {
            o[i] = (char)('0' + frac % 10);
            frac /= 10;
        }
        b->len += (size_t)k + 1;
        return 1;
    }
    return 0;
}

void gw_json_write_double(gw_buf *b, double v)
{
    if (write_nonfinite(b, v) || write_integral(b, v) || write_short_decimal(b, v))
        return;
    char tmp[40];
    int n = 0;
    for (int prec = 15; prec <= 17; prec++) {
        n = snprintf(tmp, sizeof tmp, "%.*g", prec, v);
        if (prec == 17 || strtod(tmp, NULL) == v)
            break;
    }
    gw_buf_append(b, tmp, (size_t)n);
}

void gw_json_write_float(gw_buf *b, float v)
{
    if (write_nonfinite(b, v) || write_integral(b, v))
        return;
    char tmp[40];
    int n = 0;
    for (int prec = 6; prec <= 9; prec++) {
        n = snprintf(tmp, sizeof tmp, "%.*g", prec, (double)v);
        if (prec == 9 || strtof(tmp, NULL) == v)
            break;
    }
    gw_buf_append(b, tmp, (size_t)n);
}

void gw_json_write_cents(gw_buf *b, int64_t cents)
{
    uint64_t m = cents < 0 ? (uint64_t)0 - (uint64_t)cents : (uint64_t)cents;
    if (cents < 0)
        gw_buf_putc(b, '-');
    gw_json_write_uint64(b, m / 100);
    unsigned frac = (unsigned)(m % 100);
    char *o = gw_buf_reserve(b, 3);
    o[0] = '.';
    o[1] = (char)('0' + frac / 10);
    o[2] = (char)('0' + frac % 10);
    b->len += frac % 10 ? 3 : 2;
}

void gw_json_write_base64(gw_buf *b, const uint8_t *d, size_t len)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *o = gw_buf_reserve(b, (len + 2) / 3 * 4 + 2), *o0 = o;
    *o++ = '"';
    size_t i = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)d[i] << 16 | (uint32_t)d[i + 1] << 8 | d[i + 2];
        o[0] = tab[v >> 18];
        o[1] = tab[(v >> 12) & 63];
        o[2] = tab[(v >> 6) & 63];
        o[3] = tab[v & 63];
        o += 4;
    }
    if (i < len) {
        uint32_t v = (uint32_t)d[i] << 16 | (i + 1 < len ? (uint32_t)d[i + 1] << 8 : 0);
        o[0] = tab[v >> 18];
        o[1] = tab[(v >> 12) & 63];
        o[2] = i + 1 < len ? tab[(v >> 6) & 63] : '=';
        o[3] = '=';
        o += 4;
    }
    *o++ = '"';
    b->len += (size_t)(o - o0);
}

/* ---- parser ------------------------------------------------------------ */

typedef struct parser {
    const unsigned char *s;
    size_t len, pos;
    gw_json_doc *d;
    unsigned max_depth;
    gw_json_perr *err;
    int enomem;
} parser;

static int parse_value(parser *p, unsigned depth);

static int fail(parser *p, const char *what)
{
    p->err->offset = p->pos;
    p->err->what = what;
    return -1;
}

static void skip_ws(parser *p)
{
    while (p->pos < p->len) {
        unsigned char c = p->s[p->pos];
        if (c != ' ' && c != '\n' && c != '\r' && c != '\t')
            break;
        p->pos++;
    }
}

static int doc_grow(gw_json_doc *d)
{
    size_t cap = d->cap ? d->cap * 2 : 64;
    gw_json_tok *t = d->heap ? realloc(d->toks, cap * sizeof *t) : malloc(cap * sizeof *t);
    if (t == NULL)
        return -1;
    if (!d->heap && d->n > 0)
        memcpy(t, d->toks, d->n * sizeof *t);
    d->toks = t;
    d->cap = cap;
    d->heap = 1;
    return 0;
}

/* Appends a token; returns its index or -1 (out of memory). */
static long new_tok(parser *p, gw_json_type type, size_t start)
{
    gw_json_doc *d = p->d;
    if (d->n == d->cap && doc_grow(d) != 0) {
        p->enomem = 1;
        return fail(p, "out of memory");
    }
    gw_json_tok *t = &d->toks[d->n];
    t->start = (uint32_t)start;
    t->len = 0;
    t->size = 0;
    t->next = (uint32_t)d->n + 1;
    t->type = (uint8_t)type;
    t->flags = 0;
    return (long)d->n++;
}

static int hex4(const unsigned char *s, uint32_t *out)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned c = s[i], h;
        if (c >= '0' && c <= '9')
            h = c - '0';
        else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
            h = (c | 0x20) - 'a' + 10;
        else
            return -1;
        v = v << 4 | h;
    }
    *out = v;
    return 0;
}

/* p->pos at the backslash. */
static int parse_escape(parser *p)
{
    if (p->pos + 1 >= p->len)
        return fail(p, "unterminated string");
    unsigned char e = p->s[p->pos + 1];
    if (e == '"' || e == '\\' || e == '/' || e == 'b' || e == 'f' || e == 'n' || e == 'r' ||
        e == 't') {
        p->pos += 2;
        return 0;
    }
    uint32_t cp, lo;
    if (e != 'u' || p->pos + 6 > p->len || hex4(p->s + p->pos + 2, &cp) != 0)
        return fail(p, "invalid escape in string");
    if (cp >= 0xDC00 && cp <= 0xDFFF)
        return fail(p, "lone UTF-16 surrogate in string");
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        const unsigned char *q = p->s + p->pos + 6;
        if (p->pos + 12 > p->len || q[0] != '\\' || q[1] != 'u' || hex4(q + 2, &lo) != 0 ||
            lo < 0xDC00 || lo > 0xDFFF)
            return fail(p, "lone UTF-16 surrogate in string");
        p->pos += 6;
    }
    p->pos += 6;
    return 0;
}

static long parse_string(parser *p)
{
    long idx = new_tok(p, GW_JSON_STRING, ++p->pos);
    if (idx < 0)
        return -1;
    size_t start = p->pos;
    uint8_t flags = 0;
    for (;;) {
        if (p->pos >= p->len)
            return fail(p, "unterminated string");
        unsigned char c = p->s[p->pos];
        if (c == '"')
            break;
        if (c == '\\') {
            flags |= GW_JSON_F_ESCAPED;
            if (parse_escape(p) != 0)
                return -1;
        } else if (c < 0x20) {
            return fail(p, "control character in string");
        } else if (c < 0x80) {
            p->pos++;
        } else {
            size_t n = utf8_seq(p->s + p->pos, p->len - p->pos);
            if (n == 0)
                return fail(p, "invalid UTF-8 in string");
            p->pos += n;
        }
    }
    gw_json_tok *t = &p->d->toks[idx];
    t->len = (uint32_t)(p->pos - start);
    t->flags = flags;
    p->pos++;
    return idx;
}

static size_t digits(parser *p)
{
    size_t n = 0;
    while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9') {
        p->pos++;
        n++;
    }
    return n;
}

static int parse_number(parser *p)
{
    size_t start = p->pos;
    uint8_t flags = 0;
    if (p->s[p->pos] == '-')
        p->pos++;
    if (p->pos < p->len && p->s[p->pos] == '0')
        p->pos++;
    else if (digits(p) == 0)
        return fail(p, "invalid number");
    if (p->pos < p->len && p->s[p->pos] == '.') {
        p->pos++;
        flags |= GW_JSON_F_NONINT;
        if (digits(p) == 0)
            return fail(p, "invalid number");
    }
    if (p->pos < p->len && (p->s[p->pos] | 0x20) == 'e') {
        p->pos++;
        flags |= GW_JSON_F_NONINT;
        if (p->pos < p->len && (p->s[p->pos] == '+' || p->s[p->pos] == '-'))
            p->pos++;
        if (digits(p) == 0)
            return fail(p, "invalid number");
    }
    long idx = new_tok(p, GW_JSON_NUMBER, start);
    if (idx < 0)
        return -1;
    p->d->toks[idx].len = (uint32_t)(p->pos - start);
    p->d->toks[idx].flags = flags;
    return 0;
}

static int parse_literal(parser *p, const char *word, size_t n, gw_json_type type)
{
    if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n) != 0)
        return fail(p, "invalid literal");
    long idx = new_tok(p, type, p->pos);
    if (idx < 0)
        return -1;
    p->d->toks[idx].len = (uint32_t)n;
    p->pos += n;
    return 0;
}

/* Closes a container token: its text length and where its subtree ends. */
static void close_container(parser *p, long idx)
{
    gw_json_tok *t = &p->d->toks[idx];
    t->len = (uint32_t)(p->pos - t->start);
    t->next = (uint32_t)p->d->n;
}

static int parse_object(parser *p, unsigned depth)
{
    if (depth > p->max_depth)
        return fail(p, "nesting too deep");
    long idx = new_tok(p, GW_JSON_OBJECT, p->pos++);
    if (idx < 0)
        return -1;
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == '}') {
        p->pos++;
        close_container(p, idx);
        return 0;
    }
    for (;;) {
        skip_ws(p);
        if (p->pos >= p->len || p->s[p->pos] != '"')
            return fail(p, "expected a string key");
        if (parse_string(p) < 0)
            return -1;
        skip_ws(p);
        if (p->pos >= p->len || p->s[p->pos] != ':')
            return fail(p, "expected ':'");
        p->pos++;
        if (parse_value(p, depth) != 0)
            return -1;
        p->d->toks[idx].size++;
        skip_ws(p);
        if (p->pos < p->len && p->s[p->pos] == ',') {
            p->pos++;
            continue;
        }
        if (p->pos < p->len && p->s[p->pos] == '}')
            break;
        return fail(p, "expected ',' or '}'");
    }
    p->pos++;
    close_container(p, idx);
    return 0;
}

static int parse_array(parser *p, unsigned depth)
{
    if (depth > p->max_depth)
        return fail(p, "nesting too deep");
    long idx = new_tok(p, GW_JSON_ARRAY, p->pos++);
    if (idx < 0)
        return -1;
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == ']') {
        p->pos++;
        close_container(p, idx);
        return 0;
    }
    for (;;) {
        if (parse_value(p, depth) != 0)
            return -1;
        p->d->toks[idx].size++;
        skip_ws(p);
        if (p->pos < p->len && p->s[p->pos] == ',') {
            p->pos++;
            continue;
        }
        if (p->pos < p->len && p->s[p->pos] == ']')
            break;
        return fail(p, "expected ',' or ']'");
    }
    p->pos++;
    close_container(p, idx);
    return 0;
}

static int parse_value(parser *p, unsigned depth)
{
    skip_ws(p);
    if (p->pos >= p->len)
        return fail(p, "unexpected end of input");
    switch (p->s[p->pos]) {
    case '{': return parse_object(p, depth + 1);
    case '[': return parse_array(p, depth + 1);
    case '"': return parse_string(p) < 0 ? -1 : 0;
    case 't': return parse_literal(p, "true", 4, GW_JSON_TRUE);
    case 'f': return parse_literal(p, "false", 5, GW_JSON_FALSE);
    case 'n': return parse_literal(p, "null", 4, GW_JSON_NULL);
    case '-':
    case '0': case '1': case '2': case '3': case '4':
    case '5': case '6': case '7': case '8': case '9':
        return parse_number(p);
    default: return fail(p, "unexpected character");
    }
}

void gw_json_doc_init(gw_json_doc *d, gw_json_tok *storage, size_t cap)
{
    d->toks = storage;
    d->n = 0;
    d->cap = storage != NULL ? cap : 0;
    d->heap = 0;
}

void gw_json_doc_dispose(gw_json_doc *d)
{
    if (d->heap)
        free(d->toks);
    gw_json_doc_init(d, NULL, 0);
}

int gw_json_parse(gw_json_doc *d, const char *text, size_t len, unsigned max_depth,
                  gw_json_perr *err)
{
    parser p = {(const unsigned char *)text, len, 0, d, max_depth, err, 0};
    d->n = 0;
    if (len >= UINT32_MAX)
        return fail(&p, "document too large");
    if (parse_value(&p, 0) != 0)
        return p.enomem ? GW_JSON_ENOMEM : -1;
    skip_ws(&p);
    if (p.pos != len)
        return fail(&p, "unexpected characters after the JSON value");
    return 0;
}

size_t gw_json_unescape(const char *src, size_t len, char *dst)
{
    size_t i = 0, o = 0;
    while (i < len) {
        char c = src[i];
        if (c != '\\') {
            dst[o++] = c;
            i++;
            continue;
        }
        char e = src[i + 1];
        i += 2;
        switch (e) {
        case 'b': dst[o++] = '\b'; break;
        case 'f': dst[o++] = '\f'; break;
        case 'n': dst[o++] = '\n'; break;
        case 'r': dst[o++] = '\r'; break;
        case 't': dst[o++] = '\t'; break;
        case 'u': {
            uint32_t cp = 0, lo = 0;
            hex4((const unsigned char *)src + i, &cp);
            i += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                hex4((const unsigned char *)src + i + 2, &lo);
                i += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            o += utf8_put(dst + o, cp);
            break;
        }
        default: dst[o++] = e; /* '"', '\\', '/' */
        }
    }
    return o;
}

/* gw_json.h - the gateway's own JSON: a tokenizer into a flat token array
 * and a writer into one growable buffer. No h2o, no other library.
 *
 * Parser: gw_json_parse() validates a whole document (RFC 8259, strict: no
 * comments, no trailing commas, no NaN, UTF-8 only, no lone surrogates) and
 * records one token per value in document order (jsmn style). Containers
 * know their child count (`size`: elements of an array, key/value pairs of
 * an object) and where their subtree ends (`next`), so a reader walks an
 * object as: key at i+1, its value at i+2, the next key at toks[i+2].next.
 * Tokens point into the caller's text; strings stay escaped until
 * gw_json_unescape() (most are not: GW_JSON_F_ESCAPED says which).
 *
 * Writer: gw_buf is one growable byte buffer meant to be reused across
 * requests (gw_buf_reset keeps the memory). Appends never fail: the buffer
 * aborts the process when memory runs out (the project's xmalloc policy).
 */
#ifndef GW_JSON_H
#define GW_JSON_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* ---- writer ------------------------------------------------------------ */

typedef struct gw_buf {
    char *data; /* not NUL-terminated */
    size_t len; /* bytes used */
    size_t cap; /* bytes allocated */
} gw_buf;

#define GW_BUF_INIT {NULL, 0, 0}

/* init/dispose an embedded buffer. OWNERSHIP: data belongs to the buffer
 * until dispose (or until the caller takes it and re-inits). */
void gw_buf_init(gw_buf *b);
void gw_buf_dispose(gw_buf *b);
/* Internal: grows so that `need` more bytes fit (aborts on OOM). */
void gw_buf__grow(gw_buf *b, size_t need);

static inline void gw_buf_reset(gw_buf *b) { b->len = 0; }

/* Makes room for n more bytes; returns where they go (commit with b->len += k). */
static inline char *gw_buf_reserve(gw_buf *b, size_t n)
{
    if (b->cap - b->len < n)
        gw_buf__grow(b, n);
    return b->data + b->len;
}

static inline void gw_buf_append(gw_buf *b, const void *p, size_t n)
{
    memcpy(gw_buf_reserve(b, n), p, n);
    b->len += n;
}

static inline void gw_buf_putc(gw_buf *b, char c)
{
    *gw_buf_reserve(b, 1) = c;
    b->len++;
}

/* A JSON string with its quotes. Bytes that are not valid UTF-8 are
 * written as U+FFFD, so the output is always valid JSON and valid UTF-8. */
void gw_json_write_string(gw_buf *b, const char *s, size_t len);
void gw_json_write_int64(gw_buf *b, int64_t v);
void gw_json_write_uint64(gw_buf *b, uint64_t v);
/* Shortest text that reads back as the same double (or float): tries 15,
 * 16 then 17 significant digits (6..9 for floats). NaN and infinities are
 * not JSON numbers: written as the strings "NaN", "Infinity", "-Infinity"
 * (proto3 JSON). */
void gw_json_write_double(gw_buf *b, double v);
void gw_json_write_float(gw_buf *b, float v);
/* An amount of cents as a decimal number: 1299 -> 12.99, 1290 -> 12.9,
 * 1200 -> 12.0, -5 -> -0.05. Exact (integer arithmetic only). */
void gw_json_write_cents(gw_buf *b, int64_t cents);
/* A JSON string holding standard base64 (RFC 4648, padded). */
void gw_json_write_base64(gw_buf *b, const uint8_t *data, size_t len);

/* ---- parser ------------------------------------------------------------ */

typedef enum gw_json_type {
    GW_JSON_OBJECT = 1,
    GW_JSON_ARRAY,
    GW_JSON_STRING,
    GW_JSON_NUMBER,
    GW_JSON_TRUE,
    GW_JSON_FALSE,
    GW_JSON_NULL,
} gw_json_type;

#define GW_JSON_F_ESCAPED 1u /* string: holds backslash escapes */
#define GW_JSON_F_NONINT 2u  /* number: has a fraction or an exponent */

typedef struct gw_json_tok {
    uint32_t start; /* string: first byte after the quote; else first byte */
    uint32_t len;   /* string: raw (escaped) length without quotes; number,
                       literal: text length; container: up to its closer */
    uint32_t size;  /* array: elements; object: key/value pairs; else 0 */
    uint32_t next;  /* index of the first token after this value's subtree */
    uint8_t type;   /* gw_json_type */
    uint8_t flags;  /* GW_JSON_F_* */
} gw_json_tok;

/* The token array. Starts in caller storage (typically a stack array) and
 * moves to the heap only when a document needs more tokens. */
typedef struct gw_json_doc {
    gw_json_tok *toks;
    size_t n;   /* tokens in use after a parse */
    size_t cap; /* tokens available */
    int heap;   /* toks is ours (malloc'd) */
} gw_json_doc;

typedef struct gw_json_perr {
    size_t offset;    /* byte offset of the problem in the text */
    const char *what; /* static text: "expected ':'", "invalid UTF-8", ... */
} gw_json_perr;

#define GW_JSON_ENOMEM (-2)

/* `storage` (may be NULL with cap 0) is used first. OWNERSHIP: storage
 * stays the caller's; dispose frees only what the doc allocated. */
void gw_json_doc_init(gw_json_doc *d, gw_json_tok *storage, size_t cap);
void gw_json_doc_dispose(gw_json_doc *d);

/* Parses text[0..len) (one value, whitespace around it allowed). Nesting
 * deeper than max_depth containers is an error. Texts of 4 GiB or more are
 * refused. Returns 0 with d->n tokens (toks[0] is the root).
 * ON ERROR: -1 with err filled (offset + static reason), or GW_JSON_ENOMEM
 * when the token array could not grow. THREAD: any (per doc). */
int gw_json_parse(gw_json_doc *d, const char *text, size_t len, unsigned max_depth,
                  gw_json_perr *err);

/* Decodes the escapes of a string token's raw bytes (validated by
 * gw_json_parse) into dst, which needs room for len bytes (the result is
 * never longer). Returns the decoded length; dst is not NUL-terminated. */
size_t gw_json_unescape(const char *src, size_t len, char *dst);

/* 1 when s[0..len) is valid UTF-8 (no overlongs, surrogates or > U+10FFFF). */
int gw_utf8_valid(const char *s, size_t len);

#endif

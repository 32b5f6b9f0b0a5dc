/* gw_transcode.c - the request direction of the transcoder: JSON body, path
 * variables and query string into a protobuf-c message (gw_transcode.h).
 *
 * DESIGN: the body is tokenized once (gw_json.c, token array on the stack
 * for all but large bodies) and then walked against the descriptors: keys
 * are found by binary search over fields_sorted_by_name, duplicates by a
 * bitset of field indexes. Path and query values go through the same
 * scalar decoders as JSON values (a tc_src is either a JSON token or a
 * plain text). The message is kept consistent for
 * protobuf_c_message_free_unpacked at every step (arrays are counted as
 * their slots are filled, a oneof case is set before its member), so any
 * error just frees the whole message.
 */
#include "gw_transcode.h"

#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_transcode_internal.h"
#include "se_rfc3339.h"

#define STACK_TOKENS 256
#define STACK_SCRATCH 1024
#define MAX_QUERY_FIELDS 32

static void *sys_alloc(void *data, size_t n)
{
    (void)data;
    return malloc(n);
}

static void sys_free(void *data, void *p)
{
    (void)data;
    free(p);
}

static ProtobufCAllocator sys_allocator = {sys_alloc, sys_free, NULL};
static const gw_transcode_limits default_limits = {GW_TRANSCODE_DEFAULT_MAX_BODY,
                                                   GW_TRANSCODE_DEFAULT_MAX_DEPTH};

typedef struct tc_ctx {
    ProtobufCAllocator *alloc;
    const char *text;        /* the JSON body */
    const gw_json_tok *toks; /* its tokens */
    gw_transcode_error *err;
    size_t path_len;
    char path[160]; /* field path of the value being decoded: "items[1].quantity" */
} tc_ctx;

enum { SRC_TEXT = 0 }; /* else a gw_json_type */

/* A value to decode: the text of a JSON token, or a path/query text. */
typedef struct tc_src {
    const char *s;
    size_t len;
    int kind;    /* SRC_TEXT or gw_json_type */
    int escaped; /* JSON string with backslash escapes */
} tc_src;

enum { ORIGIN_PATH, ORIGIN_QUERY };

typedef struct query_seen {
    size_t n;
    struct {
        const ProtobufCMessage *m;
        const ProtobufCFieldDescriptor *f;
    } e[MAX_QUERY_FIELDS];
} query_seen;

static int dec_object(tc_ctx *c, uint32_t oi, ProtobufCMessage *m);

/* ---- errors and field paths -------------------------------------------- */

/* Request text for an error message: at most ~40 bytes, printable ASCII or
 * valid UTF-8, '?' for anything else. */
static const char *show(char *buf, size_t cap, const char *s, size_t len)
{
    size_t o = 0, i = 0;
    while (i < len && o + 8 < cap) {
        unsigned char ch = (unsigned char)s[i];
        size_t n = ch < 0x80 ? 1 : ch < 0xE0 ? 2 : ch < 0xF0 ? 3 : 4;
        if (ch < 0x80 ? (ch >= 0x20 && ch != 0x7f) : (i + n <= len && gw_utf8_valid(s + i, n))) {
            memcpy(buf + o, s + i, n);
            o += n;
            i += n;
        } else {
            buf[o++] = '?';
            i++;
        }
    }
    if (i < len) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o] = '\0';
    return buf;
}

static int vfail_status(tc_ctx *c, int http, grpc_status_code code, const char *fmt, va_list ap)
{
    gw_transcode_error *e = c->err;
    e->http_status = http;
    e->code = code;
    size_t o = 0;
    if (c->path_len > 0) {
        int n = snprintf(e->message, sizeof e->message, "%s: ", c->path);
        o = n > 0 && (size_t)n < sizeof e->message ? (size_t)n : 0;
    }
    int n = vsnprintf(e->message + o, sizeof e->message - o, fmt, ap);
    if (n > 0 && (size_t)n >= sizeof e->message - o) { /* truncated: no split UTF-8 */
        size_t len = strlen(e->message);
        while (len > 0 && !gw_utf8_valid(e->message, len))
            e->message[--len] = '\0';
    }
    return -1;
}

__attribute__((format(printf, 2, 3))) static int fail(tc_ctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail_status(c, 400, GRPC_STATUS_INVALID_ARGUMENT, fmt, ap);
    va_end(ap);
    return -1;
}

__attribute__((format(printf, 4, 5))) static int fail_status(tc_ctx *c, int http,
                                                             grpc_status_code code,
                                                             const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail_status(c, http, code, fmt, ap);
    va_end(ap);
    return -1;
}

static int fail_oom(tc_ctx *c)
{
    c->path_len = 0;
    c->path[0] = '\0';
    return fail_status(c, 413, GRPC_STATUS_RESOURCE_EXHAUSTED, "request too large to decode");
}

static size_t path_append(tc_ctx *c, const char *s, size_t n)
{
    size_t saved = c->path_len;
    if (saved + n < sizeof c->path) {
        memcpy(c->path + saved, s, n);
        c->path_len += n;
        c->path[c->path_len] = '\0';
    }
    return saved;
}

static size_t push_name(tc_ctx *c, const char *name)
{
    size_t saved = c->path_len;
    if (saved > 0)
        path_append(c, ".", 1);
    path_append(c, name, strlen(name));
    return saved;
}

static size_t push_index(tc_ctx *c, size_t i)
{
    char tmp[24];
    size_t n = sizeof tmp;
    tmp[--n] = ']';
    do {
        tmp[--n] = (char)('0' + i % 10);
        i /= 10;
    } while (i != 0);
    tmp[--n] = '[';
    return path_append(c, tmp + n, sizeof tmp - n);
}

static void pop(tc_ctx *c, size_t saved)
{
    c->path_len = saved;
    c->path[saved] = '\0';
}

static const char *kind_name(int kind)
{
    switch (kind) {
    case GW_JSON_OBJECT: return "object";
    case GW_JSON_ARRAY: return "array";
    case GW_JSON_STRING: return "string";
    case GW_JSON_NUMBER: return "number";
    case GW_JSON_TRUE:
    case GW_JSON_FALSE: return "boolean";
    case GW_JSON_NULL: return "null";
    default: return "text";
    }
}

static const char *expected_name(const ProtobufCFieldDescriptor *f)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_DOUBLE: return "a number";
    case PROTOBUF_C_TYPE_BOOL: return "a boolean";
    case PROTOBUF_C_TYPE_ENUM:
    case PROTOBUF_C_TYPE_STRING: return "a string";
    case PROTOBUF_C_TYPE_BYTES: return "a base64 string";
    case PROTOBUF_C_TYPE_MESSAGE:
        return GW__IS_TIMESTAMP(f) ? "an RFC 3339 timestamp string" : "an object";
    default: return gw__tc_is_cents(f) ? "a decimal amount" : "an integer";
    }
}

static int type_error(tc_ctx *c, const ProtobufCFieldDescriptor *f, const tc_src *v)
{
    char b[64];
    if (v->kind == SRC_TEXT)
        return fail(c, "expected %s, got \"%s\"", expected_name(f), show(b, sizeof b, v->s, v->len));
    return fail(c, "expected %s, got %s", expected_name(f), kind_name(v->kind));
}

/* ---- allocation and descriptors ---------------------------------------- */

static void *tc_alloc(tc_ctx *c, size_t n)
{
    void *p = c->alloc->alloc(c->alloc->allocator_data, n ? n : 1);
    if (p == NULL)
        fail_oom(c);
    return p;
}

static void tc_free(tc_ctx *c, void *p)
{
    if (p != NULL)
        c->alloc->free(c->alloc->allocator_data, p);
}

static ProtobufCMessage *new_msg(tc_ctx *c, const ProtobufCMessageDescriptor *d)
{
    ProtobufCMessage *m = tc_alloc(c, d->sizeof_message);
    if (m != NULL)
        d->message_init(m);
    return m;
}

/* Binary search over fields_sorted_by_name. */
static const ProtobufCFieldDescriptor *field_by_name(const ProtobufCMessageDescriptor *d,
                                                     const char *s, size_t n)
{
    const gw__msg_meta *mm = gw__meta(d);
    unsigned lo = 0, hi = d->n_fields;
    while (lo < hi) {
        unsigned mid = lo + (hi - lo) / 2, idx = d->fields_sorted_by_name[mid];
        const ProtobufCFieldDescriptor *f = &d->fields[idx];
        size_t fl = mm != NULL ? mm->name_len[idx] : strlen(f->name);
        int r = memcmp(f->name, s, fl < n ? fl : n);
        if (r == 0)
            r = (fl > n) - (fl < n);
        if (r == 0)
            return f;
        if (r < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* proto2-style optional scalar with a has_ member */
static int has_flag(const ProtobufCFieldDescriptor *f)
{
    return f->label == PROTOBUF_C_LABEL_OPTIONAL && !(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
           f->type != PROTOBUF_C_TYPE_STRING && f->type != PROTOBUF_C_TYPE_MESSAGE;
}

/* ---- scalar decoders: dst is the member's storage ---------------------- */

static int is_number(const tc_src *v)
{
    return v->kind == GW_JSON_NUMBER || (v->kind == SRC_TEXT && gw__number_syntax(v->s, v->len));
}

static const char *int_type_name(const ProtobufCFieldDescriptor *f)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32: return "int32";
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32: return "uint32";
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64: return "uint64";
    default: return "int64";
    }
}

/* Stores sign and magnitude into an integer member. -1 if out of range. */
static int store_integer(const ProtobufCFieldDescriptor *f, void *dst, int neg, uint64_t mag)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        if (mag > (neg ? 2147483648u : 2147483647u))
            return -1;
        *(int32_t *)dst = neg ? (int32_t)(-(int64_t)mag) : (int32_t)mag;
        return 0;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        if (neg || mag > UINT32_MAX)
            return -1;
        *(uint32_t *)dst = (uint32_t)mag;
        return 0;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        if (neg)
            return -1;
        *(uint64_t *)dst = mag;
        return 0;
    default:
        if (mag > (neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX))
            return -1;
        *(int64_t *)dst = !neg ? (int64_t)mag : mag > INT64_MAX ? INT64_MIN : -(int64_t)mag;
        return 0;
    }
}

static int dec_integer(tc_ctx *c, const ProtobufCFieldDescriptor *f, void *dst, const tc_src *v)
{
    if (!is_number(v))
        return type_error(c, f, v);
    int cents = gw__tc_is_cents(f), neg;
    uint64_t mag = 0;
    char b[64];
    const char *tname = int_type_name(f);
    gw__dec_rc rc = gw__dec_parse(v->s, v->len, cents ? 2 : 0, &neg, &mag);
    if (rc == GW__DEC_FRACTION)
        return cents ? fail(c, "%s has more than 2 decimal places", show(b, sizeof b, v->s, v->len))
                     : fail(c, "expected an integer, got %s", show(b, sizeof b, v->s, v->len));
    if (mag == 0)
        neg = 0;
    if (rc == GW__DEC_RANGE || store_integer(f, dst, neg, mag) != 0)
        return fail(c, "%s is out of range for %s", show(b, sizeof b, v->s, v->len),
                    cents ? "an amount" : tname);
    return 0;
}

static int dec_float(tc_ctx *c, const ProtobufCFieldDescriptor *f, void *dst, const tc_src *v)
{
    if (!is_number(v))
        return type_error(c, f, v);
    char tmp[128], *num = tmp, b[64];
    if (v->len >= sizeof tmp && (num = malloc(v->len + 1)) == NULL)
        return fail_oom(c);
    memcpy(num, v->s, v->len);
    num[v->len] = '\0';
    int ok;
    if (f->type == PROTOBUF_C_TYPE_FLOAT) {
        float x = strtof(num, NULL);
        ok = isfinite(x);
        *(float *)dst = x;
    } else {
        double x = strtod(num, NULL);
        ok = isfinite(x);
        *(double *)dst = x;
    }
    if (num != tmp)
        free(num);
    if (!ok)
        return fail(c, "%s is out of range for %s", show(b, sizeof b, v->s, v->len),
                    f->type == PROTOBUF_C_TYPE_FLOAT ? "float" : "double");
    return 0;
}

static int dec_bool(tc_ctx *c, const ProtobufCFieldDescriptor *f, void *dst, const tc_src *v)
{
    protobuf_c_boolean *b = dst;
    if (v->kind == GW_JSON_TRUE || v->kind == GW_JSON_FALSE) {
        *b = v->kind == GW_JSON_TRUE;
        return 0;
    }
    if (v->kind == SRC_TEXT && ((v->len == 4 && memcmp(v->s, "true", 4) == 0) ||
                                (v->len == 1 && v->s[0] == '1'))) {
        *b = 1;
        return 0;
    }
    if (v->kind == SRC_TEXT && ((v->len == 5 && memcmp(v->s, "false", 5) == 0) ||
                                (v->len == 1 && v->s[0] == '0'))) {
        *b = 0;
        return 0;
    }
    return type_error(c, f, v);
}

static int dec_string(tc_ctx *c, const ProtobufCFieldDescriptor *f, char **dst, const tc_src *v)
{
    if (v->kind != GW_JSON_STRING && v->kind != SRC_TEXT)
        return type_error(c, f, v);
    if (v->len == 0 && f->label != PROTOBUF_C_LABEL_REPEATED &&
        f->default_value == (const void *)protobuf_c_empty_string) {
        *dst = (char *)protobuf_c_empty_string; /* free_unpacked skips the default */
        return 0;
    }
    char *s = tc_alloc(c, v->len + 1);
    if (s == NULL)
        return -1;
    size_t n = v->len;
    if (v->escaped)
        n = gw_json_unescape(v->s, v->len, s);
    else
        memcpy(s, v->s, n);
    s[n] = '\0';
    if ((v->kind == SRC_TEXT && !gw_utf8_valid(s, n)) || memchr(s, '\0', n) != NULL) {
        tc_free(c, s);
        return fail(c, v->kind == SRC_TEXT ? "invalid UTF-8 or NUL in text"
                                            : "strings may not contain NUL (\\u0000)");
    }
    *dst = s;
    return 0;
}

/* The unescaped text of a short string value (enum names, timestamps) in
 * tmp; longer values come back truncated to cap, which no valid one is. */
static size_t short_text(const tc_src *v, char *tmp, size_t cap, const char **s)
{
    if (!v->escaped) {
        *s = v->s;
        return v->len;
    }
    *s = tmp;
    return v->len <= cap ? gw_json_unescape(v->s, v->len, tmp) : cap;
}

static int enum_error(tc_ctx *c, const ProtobufCEnumDescriptor *ed, const char *s, size_t n,
                      int quoted)
{
    char b[64], list[160];
    gw__enum_list(ed, list, sizeof list);
    return fail(c, quoted ? "unknown value \"%s\"; expected one of %s"
                          : "unknown value %s; expected one of %s",
                show(b, sizeof b, s, n), list);
}

static int dec_enum(tc_ctx *c, const ProtobufCFieldDescriptor *f, void *dst, const tc_src *v)
{
    const ProtobufCEnumDescriptor *ed = f->descriptor;
    if (v->kind == GW_JSON_NUMBER) {
        int neg;
        uint64_t mag;
        const ProtobufCEnumValue *ev = NULL;
        if (gw__dec_parse(v->s, v->len, 0, &neg, &mag) == GW__DEC_OK && mag <= INT32_MAX)
            ev = protobuf_c_enum_descriptor_get_value(ed, neg ? -(int)mag : (int)mag);
        if (ev == NULL || gw__enum_is_unspecified(ev))
            return enum_error(c, ed, v->s, v->len, 0);
        *(int *)dst = ev->value;
        return 0;
    }
    if (v->kind != GW_JSON_STRING && v->kind != SRC_TEXT)
        return type_error(c, f, v);
    char tmp[64];
    const char *s;
    size_t n = short_text(v, tmp, sizeof tmp, &s);
    const ProtobufCEnumValue *ev = gw__enum_lookup(ed, s, n);
    if (ev == NULL)
        return enum_error(c, ed, s, n, 1);
    *(int *)dst = ev->value;
    return 0;
}

static int dec_timestamp(tc_ctx *c, const ProtobufCFieldDescriptor *f, ProtobufCMessage **dst,
                         const tc_src *v)
{
    if (v->kind != GW_JSON_STRING && v->kind != SRC_TEXT)
        return type_error(c, f, v);
    char tmp[64], b[64];
    const char *s;
    size_t n = short_text(v, tmp, sizeof tmp, &s);
    int64_t secs;
    int32_t nanos;
    if (se_rfc3339_parse(s, n, &secs, &nanos) != 0)
        return fail(c, "invalid timestamp \"%s\"; expected RFC 3339 like 2026-11-26T14:03:54Z",
                    show(b, sizeof b, s, n));
    Google__Protobuf__Timestamp *ts =
        (Google__Protobuf__Timestamp *)new_msg(c, &google__protobuf__timestamp__descriptor);
    if (ts == NULL)
        return -1;
    ts->seconds = secs;
    ts->nanos = nanos;
    *dst = &ts->base;
    return 0;
}

static int dec_bytes(tc_ctx *c, const ProtobufCFieldDescriptor *f, ProtobufCBinaryData *dst,
                     const tc_src *v)
{
    if (v->kind != GW_JSON_STRING && v->kind != SRC_TEXT)
        return type_error(c, f, v);
    const char *s = v->s;
    size_t n = v->len;
    char *tmp = NULL;
    if (v->escaped) {
        if ((tmp = tc_alloc(c, n)) == NULL)
            return -1;
        n = gw_json_unescape(v->s, v->len, tmp);
        s = tmp;
    }
    uint8_t *out = tc_alloc(c, n / 4 * 3 + 3);
    size_t out_len = 0;
    int rc = out == NULL ? -1 : gw__b64_decode(s, n, out, &out_len);
    tc_free(c, tmp);
    if (rc != 0) {
        tc_free(c, out);
        return out == NULL ? -1 : fail(c, "invalid base64");
    }
    dst->data = out;
    dst->len = out_len;
    return 0;
}

static int dec_scalar(tc_ctx *c, const ProtobufCFieldDescriptor *f, void *dst, const tc_src *v)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_DOUBLE: return dec_float(c, f, dst, v);
    case PROTOBUF_C_TYPE_BOOL: return dec_bool(c, f, dst, v);
    case PROTOBUF_C_TYPE_ENUM: return dec_enum(c, f, dst, v);
    case PROTOBUF_C_TYPE_STRING: return dec_string(c, f, dst, v);
    case PROTOBUF_C_TYPE_BYTES: return dec_bytes(c, f, dst, v);
    case PROTOBUF_C_TYPE_MESSAGE:
        if (GW__IS_TIMESTAMP(f))
            return dec_timestamp(c, f, dst, v);
        return type_error(c, f, v);
    default: return dec_integer(c, f, dst, v);
    }
}

/* ---- JSON values ------------------------------------------------------- */

/* The JSON value at token vi into the member storage dst of field f. */
static int dec_value(tc_ctx *c, const ProtobufCFieldDescriptor *f, void *dst, uint32_t vi)
{
    const gw_json_tok *t = &c->toks[vi];
    if (f->type == PROTOBUF_C_TYPE_MESSAGE && !GW__IS_TIMESTAMP(f)) {
        if (t->type != GW_JSON_OBJECT) {
            tc_src v = {NULL, 0, t->type, 0};
            return type_error(c, f, &v);
        }
        ProtobufCMessage **pm = dst;
        if (*pm == NULL && (*pm = new_msg(c, f->descriptor)) == NULL)
            return -1;
        return dec_object(c, vi, *pm);
    }
    tc_src v = {c->text + t->start, t->len, t->type, (t->flags & GW_JSON_F_ESCAPED) != 0};
    return dec_scalar(c, f, dst, &v);
}

static int dec_repeated(tc_ctx *c, const ProtobufCFieldDescriptor *f, ProtobufCMessage *m,
                        uint32_t vi)
{
    const gw_json_tok *t = &c->toks[vi];
    if (t->type != GW_JSON_ARRAY)
        return fail(c, "expected an array, got %s", kind_name(t->type));
    if (t->size == 0)
        return 0;
    size_t *np = (size_t *)((char *)m + f->quantifier_offset), esz = gw__elem_size(f);
    char *a = tc_alloc(c, t->size * esz);
    if (a == NULL)
        return -1;
    memset(a, 0, t->size * esz);
    *(void **)((char *)m + f->offset) = a;
    *np = 0;
    uint32_t j = vi + 1;
    for (uint32_t k = 0; k < t->size; k++, j = c->toks[j].next) {
        size_t saved = push_index(c, k);
        if (c->toks[j].type == GW_JSON_NULL)
            return fail(c, "expected %s, got null", expected_name(f));
        (*np)++; /* a zeroed slot is safe to free */
        if (dec_value(c, f, a + k * esz, j) != 0)
            return -1;
        pop(c, saved);
    }
    return 0;
}

static const char *oneof_member_name(const ProtobufCMessage *m, uint32_t id)
{
    const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field(m->descriptor, id);
    return f != NULL ? f->name : "?";
}

/* Sets the oneof case of f (before its member is stored). */
static int claim_oneof(tc_ctx *c, const ProtobufCFieldDescriptor *f, ProtobufCMessage *m)
{
    if (!(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
        return 0;
    uint32_t *cs = (uint32_t *)((char *)m + f->quantifier_offset);
    if (*cs != 0 && *cs != f->id)
        return fail(c, "only one field of a oneof may be set, and \"%s\" is",
                    oneof_member_name(m, *cs));
    *cs = f->id;
    return 0;
}

static int dec_field(tc_ctx *c, const ProtobufCFieldDescriptor *f, ProtobufCMessage *m,
                     uint32_t vi)
{
    if (c->toks[vi].type == GW_JSON_NULL)
        return 0; /* null: unset (proto3 JSON) */
    if (f->label == PROTOBUF_C_LABEL_REPEATED)
        return dec_repeated(c, f, m, vi);
    if (claim_oneof(c, f, m) != 0 || dec_value(c, f, (char *)m + f->offset, vi) != 0)
        return -1;
    if (has_flag(f))
        *(protobuf_c_boolean *)((char *)m + f->quantifier_offset) = 1;
    return 0;
}

/* One key/value pair of an object: key token at ki, value at ki + 1. */
static int dec_member(tc_ctx *c, ProtobufCMessage *m, uint64_t *seen, uint32_t ki)
{
    const gw_json_tok *k = &c->toks[ki];
    char kb[128], b[64];
    const char *key = c->text + k->start;
    size_t klen = k->len;
    if ((k->flags & GW_JSON_F_ESCAPED) && klen <= sizeof kb) {
        klen = gw_json_unescape(key, klen, kb);
        key = kb;
    }
    const ProtobufCFieldDescriptor *f = field_by_name(m->descriptor, key, klen);
    if (f == NULL)
        return fail(c, "unknown field \"%s\"", show(b, sizeof b, key, klen));
    size_t idx = (size_t)(f - m->descriptor->fields);
    if (seen[idx / 64] >> (idx % 64) & 1)
        return fail(c, "duplicate field \"%s\"", f->name);
    seen[idx / 64] |= 1ull << (idx % 64);
    size_t saved = push_name(c, f->name);
    int rc = dec_field(c, f, m, ki + 1);
    pop(c, saved);
    return rc;
}

static int dec_object(tc_ctx *c, uint32_t oi, ProtobufCMessage *m)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    uint64_t seen_small[4] = {0, 0, 0, 0}, *seen = seen_small;
    if (d->n_fields > 256 && (seen = calloc((d->n_fields + 63) / 64, sizeof *seen)) == NULL)
        return fail_oom(c);
    int rc = 0;
    uint32_t j = oi + 1, n = c->toks[oi].size;
    for (uint32_t k = 0; k < n && rc == 0; k++, j = c->toks[j + 1].next)
        rc = dec_member(c, m, seen, j);
    if (seen != seen_small)
        free(seen);
    return rc;
}

/* The JSON text into m: the whole message (field "*") or one field. */
static int dec_json(tc_ctx *c, const char *json, size_t len, unsigned max_depth,
                    const char *field, ProtobufCMessage *m)
{
    gw_json_tok stack_toks[STACK_TOKENS];
    gw_json_doc doc;
    gw_json_perr perr;
    gw_json_doc_init(&doc, stack_toks, STACK_TOKENS);
    int rc = gw_json_parse(&doc, json, len, max_depth, &perr);
    if (rc == GW_JSON_ENOMEM) {
        rc = fail_oom(c);
    } else if (rc != 0 && strcmp(perr.what, "nesting too deep") == 0) {
        rc = fail(c, "invalid JSON: nested deeper than %u levels (at offset %zu)", max_depth,
                  perr.offset);
    } else if (rc != 0) {
        rc = fail(c, "invalid JSON at offset %zu: %s", perr.offset, perr.what);
    } else {
        c->text = json;
        c->toks = doc.toks;
        const ProtobufCFieldDescriptor *f;
        if (strcmp(field, "*") == 0) {
            rc = doc.toks[0].type == GW_JSON_OBJECT
                     ? dec_object(c, 0, m)
                     : fail(c, "expected a JSON object, got %s", kind_name(doc.toks[0].type));
        } else if ((f = field_by_name(m->descriptor, field, strlen(field))) == NULL) {
            rc = fail(c, "route binds the body to unknown field \"%s\"", field);
        } else {
            size_t saved = push_name(c, f->name);
            rc = dec_field(c, f, m, 0);
            pop(c, saved);
        }
    }
    gw_json_doc_dispose(&doc);
    return rc;
}

/* ---- path variables and query parameters ------------------------------- */

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'f')
        return (ch | 0x20) - 'a' + 10;
    return -1;
}

/* Percent-decodes s into out (room for n bytes); '+' is a space in query
 * strings. Returns the length or -1 for a malformed escape. */
static long pct_decode(const char *s, size_t n, int plus_is_space, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%') {
            int hi = i + 2 < n ? hexval(s[i + 1]) : -1, lo = i + 2 < n ? hexval(s[i + 2]) : -1;
            if (hi < 0 || lo < 0)
                return -1;
            out[o++] = (char)(hi << 4 | lo);
            i += 2;
        } else {
            out[o++] = plus_is_space && s[i] == '+' ? ' ' : s[i];
        }
    }
    return (long)o;
}

/* Frees whatever f's member holds (a path variable replaces a body value). */
static void clear_member(tc_ctx *c, const ProtobufCFieldDescriptor *f, ProtobufCMessage *m)
{
    char *member = (char *)m + f->offset;
    if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
        *(uint32_t *)((char *)m + f->quantifier_offset) != f->id)
        return;
    if (f->type == PROTOBUF_C_TYPE_STRING) {
        char **s = (char **)member;
        if (*s != NULL && *s != f->default_value)
            tc_free(c, *s);
        *s = (char *)f->default_value;
    } else if (f->type == PROTOBUF_C_TYPE_BYTES) {
        ProtobufCBinaryData *bd = (ProtobufCBinaryData *)member;
        tc_free(c, bd->data);
        bd->data = NULL;
        bd->len = 0;
    } else if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
        ProtobufCMessage **sub = (ProtobufCMessage **)member;
        if (*sub != NULL)
            protobuf_c_message_free_unpacked(*sub, c->alloc);
        *sub = NULL;
    }
}

/* Appends one value to a repeated field (capacity: 4, 8, 16, ...). */
static int append_text(tc_ctx *c, const ProtobufCFieldDescriptor *f, ProtobufCMessage *m,
                       const tc_src *v)
{
    size_t *np = (size_t *)((char *)m + f->quantifier_offset), n = *np, esz = gw__elem_size(f);
    char **arr = (char **)((char *)m + f->offset);
    if (n == 0 || (n >= 4 && (n & (n - 1)) == 0)) {
        size_t cap = n == 0 ? 4 : 2 * n;
        char *na = tc_alloc(c, cap * esz);
        if (na == NULL)
            return -1;
        memset(na, 0, cap * esz);
        if (n > 0)
            memcpy(na, *arr, n * esz);
        tc_free(c, *arr);
        *arr = na;
    }
    (*np)++;
    return dec_scalar(c, f, *arr + n * esz, v);
}

static int seen_in_query(query_seen *qs, const ProtobufCMessage *m,
                         const ProtobufCFieldDescriptor *f)
{
    for (size_t i = 0; i < qs->n; i++)
        if (qs->e[i].m == m && qs->e[i].f == f)
            return 1;
    if (qs->n < MAX_QUERY_FIELDS) {
        qs->e[qs->n].m = m;
        qs->e[qs->n].f = f;
        qs->n++;
    }
    return 0;
}

/* The field a dotted name ("a.b") reaches from m, creating the messages on
 * the way; NULL with *mp unchanged if there is no such scalar path. */
static const ProtobufCFieldDescriptor *resolve(tc_ctx *c, ProtobufCMessage **mp, const char *name,
                                               size_t nlen, int *rc)
{
    ProtobufCMessage *m = *mp;
    *rc = 0;
    for (;;) {
        const char *dot = memchr(name, '.', nlen);
        size_t sl = dot != NULL ? (size_t)(dot - name) : nlen;
        const ProtobufCFieldDescriptor *f = field_by_name(m->descriptor, name, sl);
        if (f == NULL || dot == NULL) {
            *mp = m;
            return f;
        }
        if (f->type != PROTOBUF_C_TYPE_MESSAGE || GW__IS_TIMESTAMP(f) ||
            f->label == PROTOBUF_C_LABEL_REPEATED)
            return NULL;
        ProtobufCMessage **sub = (ProtobufCMessage **)((char *)m + f->offset);
        if (claim_oneof(c, f, m) != 0 || (*sub == NULL && (*sub = new_msg(c, f->descriptor)) == NULL)) {
            *rc = -1;
            return NULL;
        }
        m = *sub;
        name = dot + 1;
        nlen -= sl + 1;
    }
}

/* Sets the field named by a path variable or query parameter (c->path holds
 * the name) from its decoded text. */
static int set_text(tc_ctx *c, ProtobufCMessage *m, const char *name, size_t nlen,
                    const char *val, size_t vlen, int origin, query_seen *qs)
{
    int rc;
    char b[64];
    const ProtobufCFieldDescriptor *f = resolve(c, &m, name, nlen, &rc);
    if (f == NULL || (f->type == PROTOBUF_C_TYPE_MESSAGE && !GW__IS_TIMESTAMP(f))) {
        if (rc != 0)
            return rc;
        pop(c, 0);
        return fail(c, origin == ORIGIN_QUERY ? "unknown query parameter \"%s\""
                                              : "route names unknown path variable \"%s\"",
                    show(b, sizeof b, name, nlen));
    }
    tc_src v = {val, vlen, SRC_TEXT, 0};
    if (f->label == PROTOBUF_C_LABEL_REPEATED)
        return origin == ORIGIN_QUERY ? append_text(c, f, m, &v)
                                      : fail(c, "a path variable cannot set a repeated field");
    if (origin == ORIGIN_QUERY && vlen == 0)
        return 0; /* "?status=" : no filter */
    if (origin == ORIGIN_QUERY && seen_in_query(qs, m, f))
        return fail(c, "duplicate query parameter");
    clear_member(c, f, m);
    if (claim_oneof(c, f, m) != 0 || dec_scalar(c, f, (char *)m + f->offset, &v) != 0)
        return -1;
    if (has_flag(f))
        *(protobuf_c_boolean *)((char *)m + f->quantifier_offset) = 1;
    return 0;
}

static int bind_path(tc_ctx *c, const gw_path_params *pp, ProtobufCMessage *m, char *scratch)
{
    for (size_t i = 0; pp != NULL && i < pp->n; i++) {
        const gw_str *name = &pp->params[i].name, *val = &pp->params[i].value;
        pop(c, 0);
        path_append(c, name->ptr, name->len);
        long vlen = pct_decode(val->ptr, val->len, 0, scratch);
        if (vlen < 0)
            return fail(c, "malformed percent-encoding in the path");
        if (set_text(c, m, name->ptr, name->len, scratch, (size_t)vlen, ORIGIN_PATH, NULL) != 0)
            return -1;
    }
    pop(c, 0);
    return 0;
}

/* 1 when `key` is `bound` or a field under it ("a" binds "a.b"). */
static int bound_by(const char *key, size_t klen, const char *bound, size_t blen)
{
    return klen >= blen && memcmp(key, bound, blen) == 0 && (klen == blen || key[blen] == '.');
}

static int check_unbound(tc_ctx *c, const se_http_route *route, const gw_path_params *pp,
                         const char *key, size_t klen)
{
    char b[64];
    for (size_t i = 0; pp != NULL && i < pp->n; i++)
        if (bound_by(key, klen, pp->params[i].name.ptr, pp->params[i].name.len))
            return fail(c, "query parameter \"%s\" is bound by the path",
                        show(b, sizeof b, key, klen));
    if (route->body != NULL && bound_by(key, klen, route->body, strlen(route->body)))
        return fail(c, "query parameter \"%s\" is bound by the body", show(b, sizeof b, key, klen));
    return 0;
}

static int bind_query_param(tc_ctx *c, const se_http_route *route, const gw_path_params *pp,
                            const char *seg, size_t sl, ProtobufCMessage *m, char *scratch,
                            query_seen *qs)
{
    const char *eq = memchr(seg, '=', sl);
    size_t kraw = eq != NULL ? (size_t)(eq - seg) : sl;
    long klen = pct_decode(seg, kraw, 1, scratch);
    long vlen = eq != NULL ? pct_decode(eq + 1, sl - kraw - 1, 1, scratch + (klen > 0 ? klen : 0)) : 0;
    if (klen <= 0 || vlen < 0)
        return fail(c, "malformed query string");
    pop(c, 0);
    if (check_unbound(c, route, pp, scratch, (size_t)klen) != 0)
        return -1;
    path_append(c, scratch, (size_t)klen);
    int rc = set_text(c, m, scratch, (size_t)klen, scratch + klen, (size_t)vlen, ORIGIN_QUERY, qs);
    pop(c, 0);
    return rc;
}

static int bind_query(tc_ctx *c, const se_http_route *route, const gw_path_params *pp,
                      const char *q, size_t qlen, ProtobufCMessage *m, char *scratch)
{
    if (q == NULL || qlen == 0)
        return 0;
    if (route->body != NULL && strcmp(route->body, "*") == 0)
        return fail(c, "this route takes no query parameters");
    query_seen qs;
    qs.n = 0;
    for (size_t i = 0; i < qlen;) {
        const char *seg = q + i, *amp = memchr(seg, '&', qlen - i);
        size_t sl = amp != NULL ? (size_t)(amp - seg) : qlen - i;
        i += sl + 1;
        if (sl > 0 && bind_query_param(c, route, pp, seg, sl, m, scratch, &qs) != 0)
            return -1;
    }
    return 0;
}

/* ---- entry points ------------------------------------------------------ */

static int blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
            return 0;
    return 1;
}

static size_t scratch_size(const gw_path_params *pp, size_t query_len)
{
    size_t need = query_len;
    for (size_t i = 0; pp != NULL && i < pp->n; i++)
        if (pp->params[i].value.len > need)
            need = pp->params[i].value.len;
    return need + 1;
}

static int bind_all(tc_ctx *c, const se_http_route *route, const gw_path_params *params,
                    const char *query, size_t query_len, const char *body, size_t body_len,
                    const gw_transcode_limits *limits, ProtobufCMessage *m)
{
    if (body != NULL && !blank(body, body_len)) {
        if (route->body == NULL)
            return fail(c, "this route takes no request body");
        if (dec_json(c, body, body_len, limits->max_depth, route->body, m) != 0)
            return -1;
    }
    char stack_scratch[STACK_SCRATCH], *scratch = stack_scratch;
    size_t need = scratch_size(params, query_len);
    if (need > sizeof stack_scratch && (scratch = malloc(need)) == NULL)
        return fail_oom(c);
    int rc = bind_path(c, params, m, scratch);
    if (rc == 0)
        rc = bind_query(c, route, params, query, query_len, m, scratch);
    if (scratch != stack_scratch)
        free(scratch);
    return rc;
}

static void start(gw_transcode_error *err, const gw_transcode_limits **limits,
                  ProtobufCAllocator **alloc, ProtobufCMessage **out)
{
    gw_transcode_init();
    if (*limits == NULL)
        *limits = &default_limits;
    if (*alloc == NULL)
        *alloc = &sys_allocator;
    err->http_status = 0;
    err->code = GRPC_STATUS_OK;
    err->message[0] = '\0';
    *out = NULL;
}

static int too_large(tc_ctx *c, size_t len, size_t max)
{
    return fail_status(c, 413, GRPC_STATUS_RESOURCE_EXHAUSTED,
                       "request body of %zu bytes exceeds the limit of %zu bytes", len, max);
}

int gw_transcode_request(const se_http_route *route, const gw_path_params *params,
                         const char *query, size_t query_len, const char *body, size_t body_len,
                         const gw_transcode_limits *limits, ProtobufCAllocator *alloc,
                         ProtobufCMessage **out, gw_transcode_error *err)
{
    start(err, &limits, &alloc, out);
    tc_ctx c = {.alloc = alloc, .err = err};
    if (body_len > limits->max_body_bytes)
        return too_large(&c, body_len, limits->max_body_bytes);
    ProtobufCMessage *m = new_msg(&c, route->method->input);
    if (m == NULL)
        return -1;
    if (bind_all(&c, route, params, query, query_len, body, body_len, limits, m) != 0) {
        protobuf_c_message_free_unpacked(m, alloc);
        return -1;
    }
    *out = m;
    return 0;
}

int gw_transcode_json_to_message(const ProtobufCMessageDescriptor *desc, const char *json,
                                 size_t len, const gw_transcode_limits *limits,
                                 ProtobufCAllocator *alloc, ProtobufCMessage **out,
                                 gw_transcode_error *err)
{
    start(err, &limits, &alloc, out);
    tc_ctx c = {.alloc = alloc, .err = err};
    if (len > limits->max_body_bytes)
        return too_large(&c, len, limits->max_body_bytes);
    ProtobufCMessage *m = new_msg(&c, desc);
    if (m == NULL)
        return -1;
    if (dec_json(&c, json, len, limits->max_depth, "*", m) != 0) {
        protobuf_c_message_free_unpacked(m, alloc);
        return -1;
    }
    *out = m;
    return 0;
}

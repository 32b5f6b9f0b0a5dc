/* gw_transcode_out.c - the response direction of the transcoder: a
 * protobuf-c message to contract JSON (mapping in gw_transcode.h).
 *
 * DESIGN: one recursive walk over the descriptor, fields in field-number
 * order, writing straight into the caller's gw_buf (no allocation once the
 * buffer has grown to the usual response size).
 */
#include <ctype.h>
#include <string.h>

#include "gw_transcode.h"
#include "gw_transcode_internal.h"
#include "se_log.h"
#include "se_rfc3339.h"

static int enc_message(gw_buf *b, const ProtobufCMessage *m);

/* prefix: the type prefix length of every value (0xFF: not known). */
static void enc_enum(gw_buf *b, const ProtobufCFieldDescriptor *f, int value, unsigned prefix)
{
    const ProtobufCEnumDescriptor *ed = f->descriptor;
    const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(ed, value);
    if (ev == NULL) { /* a value newer than our descriptors: its number */
        gw_json_write_int64(b, value);
        return;
    }
    if (gw__enum_is_unspecified(ev)) {
        gw_buf_append(b, "null", 4);
        return;
    }
    const char *s = ev->name + (prefix != 0xFF ? prefix : gw__enum_prefix_len(ed, ev->name));
    size_t n = strlen(s);
    char *o = gw_buf_reserve(b, n + 2);
    o[0] = '"';
    for (size_t i = 0; i < n; i++)
        o[i + 1] = (char)tolower((unsigned char)s[i]);
    o[n + 1] = '"';
    b->len += n + 2;
}

static int enc_timestamp(gw_buf *b, const ProtobufCFieldDescriptor *f,
                         const Google__Protobuf__Timestamp *ts)
{
    char *o = gw_buf_reserve(b, 40);
    size_t n = se_rfc3339_format(ts->seconds, ts->nanos, o + 1);
    if (n == 0) {
        se_log_error("transcode_bad_timestamp",
                     "field %s: timestamp %lld.%09d has no RFC 3339 form", f->name,
                     (long long)ts->seconds, (int)ts->nanos);
        return -1;
    }
    o[0] = '"';
    o[n + 1] = '"';
    b->len += n + 2;
    return 0;
}

/* What gw__meta knows about a field (NULL meta: compute it). */
typedef struct field_hint {
    int cents;           /* 1/0, -1: not known */
    unsigned enum_prefix; /* 0xFF: not known */
} field_hint;

/* One value (not an array) of field f stored at p. */
static int enc_value(gw_buf *b, const ProtobufCFieldDescriptor *f, const void *p,
                     const field_hint *h)
{
    int cents = h->cents;
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        if (cents > 0 || (cents < 0 && gw__tc_is_cents(f)))
            gw_json_write_cents(b, *(const int32_t *)p);
        else
            gw_json_write_int64(b, *(const int32_t *)p);
        return 0;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        if (cents > 0 || (cents < 0 && gw__tc_is_cents(f)))
            gw_json_write_cents(b, *(const int64_t *)p);
        else
            gw_json_write_int64(b, *(const int64_t *)p);
        return 0;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32: gw_json_write_uint64(b, *(const uint32_t *)p); return 0;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64: gw_json_write_uint64(b, *(const uint64_t *)p); return 0;
    case PROTOBUF_C_TYPE_FLOAT: gw_json_write_float(b, *(const float *)p); return 0;
    case PROTOBUF_C_TYPE_DOUBLE: gw_json_write_double(b, *(const double *)p); return 0;
    case PROTOBUF_C_TYPE_BOOL:
        if (*(const protobuf_c_boolean *)p)
            gw_buf_append(b, "true", 4);
        else
            gw_buf_append(b, "false", 5);
        return 0;
    case PROTOBUF_C_TYPE_ENUM: enc_enum(b, f, *(const int *)p, h->enum_prefix); return 0;
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)p;
        gw_json_write_string(b, s != NULL ? s : "", s != NULL ? strlen(s) : 0);
        return 0;
    }
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *bd = p;
        gw_json_write_base64(b, bd->data, bd->len);
        return 0;
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *sub = *(ProtobufCMessage *const *)p;
        if (sub == NULL) {
            gw_buf_append(b, "null", 4);
            return 0;
        }
        if (GW__IS_TIMESTAMP(f))
            return enc_timestamp(b, f, (const Google__Protobuf__Timestamp *)sub);
        return enc_message(b, sub);
    }
    }
    return 0;
}

/* The value of field f of m: an array for repeated fields. */
static int enc_field(gw_buf *b, const ProtobufCFieldDescriptor *f, const ProtobufCMessage *m,
                     const field_hint *h)
{
    const char *member = (const char *)m + f->offset;
    if (f->label != PROTOBUF_C_LABEL_REPEATED)
        return enc_value(b, f, member, h);
    size_t n = *(const size_t *)((const char *)m + f->quantifier_offset);
    const char *arr = *(char *const *)member;
    size_t esz = gw__elem_size(f);
    gw_buf_putc(b, '[');
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            gw_buf_putc(b, ',');
        if (enc_value(b, f, arr + i * esz, h) != 0)
            return -1;
    }
    gw_buf_putc(b, ']');
    return 0;
}

/* Whether f is written: see "presence" in gw_transcode.h. */
static int present(const ProtobufCFieldDescriptor *f, const ProtobufCMessage *m)
{
    const char *base = (const char *)m;
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
        return *(const uint32_t *)(base + f->quantifier_offset) == f->id;
    if (f->label == PROTOBUF_C_LABEL_REPEATED)
        return 1;
    if (f->type == PROTOBUF_C_TYPE_MESSAGE)
        return *(ProtobufCMessage *const *)(base + f->offset) != NULL;
    if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type != PROTOBUF_C_TYPE_STRING)
        return *(const protobuf_c_boolean *)(base + f->quantifier_offset);
    return 1;
}

static int enc_message(gw_buf *b, const ProtobufCMessage *m)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    const gw__msg_meta *mm = gw__meta(d);
    gw_buf_putc(b, '{');
    int first = 1;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (!present(f, m))
            continue;
        size_t n = mm != NULL ? mm->name_len[i] : strlen(f->name);
        char *o = gw_buf_reserve(b, n + 4);
        size_t k = 0;
        if (!first)
            o[k++] = ',';
        o[k++] = '"';
        memcpy(o + k, f->name, n);
        k += n;
        o[k++] = '"';
        o[k++] = ':';
        b->len += k;
        first = 0;
        field_hint h = {-1, 0xFF};
        if (mm != NULL) {
            h.cents = mm->cents[i];
            h.enum_prefix = mm->enum_prefix[i];
        }
        if (enc_field(b, f, m, &h) != 0)
            return -1;
    }
    gw_buf_putc(b, '}');
    return 0;
}

int gw_transcode_response(const ProtobufCMessage *msg, gw_buf *out)
{
    gw_transcode_init();
    size_t start = out->len;
    if (enc_message(out, msg) != 0) {
        out->len = start;
        return -1;
    }
    return 0;
}

int gw_transcode_route_response(const se_http_route *route, const ProtobufCMessage *msg,
                                gw_buf *out)
{
    if (route->response_body == NULL)
        return gw_transcode_response(msg, out);
    gw_transcode_init();
    const ProtobufCFieldDescriptor *f = NULL;
    for (unsigned i = 0; i < msg->descriptor->n_fields && f == NULL; i++)
        if (strcmp(msg->descriptor->fields[i].name, route->response_body) == 0)
            f = &msg->descriptor->fields[i];
    if (f == NULL) {
        se_log_error("transcode_bad_route", "response_body %s is not a field of %s",
                     route->response_body, msg->descriptor->name);
        return -1;
    }
    size_t start = out->len;
    if (!present(f, msg)) {
        gw_buf_append(out, "null", 4);
        return 0;
    }
    field_hint h = {-1, 0xFF};
    if (enc_field(out, f, msg, &h) != 0) {
        out->len = start;
        return -1;
    }
    return 0;
}

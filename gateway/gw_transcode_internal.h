/* gw_transcode_internal.h - internal, do not use outside gw_transcode*.c:
 * the value conversions shared by the request and response directions
 * (gw_transcode_val.c). */
#ifndef GW_TRANSCODE_INTERNAL_H
#define GW_TRANSCODE_INTERNAL_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

#include "google/protobuf/timestamp.pb-c.h"

#define GW__IS_TIMESTAMP(f) ((f)->descriptor == (const void *)&google__protobuf__timestamp__descriptor)

/* Bytes per element of a repeated field's array. */
static inline size_t gw__elem_size(const ProtobufCFieldDescriptor *f)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_DOUBLE: return 8;
    case PROTOBUF_C_TYPE_BOOL: return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_STRING: return sizeof(char *);
    case PROTOBUF_C_TYPE_BYTES: return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE: return sizeof(ProtobufCMessage *);
    default: return 4; /* 32-bit integers, enums, float */
    }
}

/* Per-message facts computed once (gw_transcode_init) for every message
 * reachable from the registry's services, indexed like desc->fields. */
typedef struct gw__msg_meta {
    const ProtobufCMessageDescriptor *desc;
    const uint16_t *name_len; /* strlen(fields[i].name) */
    const uint8_t *cents;     /* fields[i] is a cents field */
    const uint8_t *enum_prefix; /* enum fields: gw__enum_prefix_len shared by
                                   every value of the type, else 0xFF */
} gw__msg_meta;

/* The facts of d, or NULL for a message outside the registry (callers then
 * compute them: strlen, gw__tc_is_cents). THREAD: any, after init. */
const gw__msg_meta *gw__meta(const ProtobufCMessageDescriptor *d);

/* 1 when the field carries [(swifteats.api.cents) = true]. */
int gw__tc_is_cents(const ProtobufCFieldDescriptor *f);

/* Length of the "RESTAURANT_STATUS_" prefix of an enum value name (the
 * enum type's short name in SCREAMING_SNAKE plus '_'), 0 if it has none. */
size_t gw__enum_prefix_len(const ProtobufCEnumDescriptor *ed, const char *value_name);
/* 1 for the zero value named *_UNSPECIFIED (written as null). */
int gw__enum_is_unspecified(const ProtobufCEnumValue *v);
/* The value a request string names ("open", "OPEN", "RESTAURANT_STATUS_OPEN"),
 * NULL if none (unspecified is never named). */
const ProtobufCEnumValue *gw__enum_lookup(const ProtobufCEnumDescriptor *ed, const char *s,
                                          size_t len);
/* "open, closed, busy, maintenance" into dst (truncated with "..."). */
void gw__enum_list(const ProtobufCEnumDescriptor *ed, char *dst, size_t cap);


/* 1 when s[0..len) is a JSON number (RFC 8259 grammar). */
int gw__number_syntax(const char *s, size_t len);

typedef enum gw__dec_rc {
    GW__DEC_OK = 0,
    GW__DEC_FRACTION = 1, /* not a whole number of 10^-scale */
    GW__DEC_RANGE = 2,    /* magnitude above UINT64_MAX */
} gw__dec_rc;
/* Exact decimal of a JSON number text (valid syntax) times 10^scale:
 * sign and magnitude. No floating point. */
gw__dec_rc gw__dec_parse(const char *s, size_t len, unsigned scale, int *neg, uint64_t *mag);

/* Standard or URL-safe base64, padding optional. out needs len*3/4+3
 * bytes. 0 with *out_len, or -1. */
int gw__b64_decode(const char *s, size_t len, uint8_t *out, size_t *out_len);

#endif

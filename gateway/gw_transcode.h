/* gw_transcode.h - the one generic JSON <-> protobuf transcoder of the
 * gateway, driven by protobuf-c descriptors and the generated route table.
 * No h2o here: it is unit-tested on its own (tests/unit/gateway/).
 *
 * JSON mapping (the REST contract, rest-api.md "Conventions"):
 *  - keys are the proto field names (snake_case); unknown keys, duplicate
 *    keys and two members of one oneof are 400s;
 *  - int32/int64/uint32/uint64 (and the fixed/sint kinds) are JSON numbers,
 *    also the 64-bit ones; in requests a number is accepted when its value
 *    is integral and in range ("1e2" is 100, "1.5" is an error);
 *  - fields marked [(swifteats.api.cents) = true] are decimal numbers of
 *    the currency unit: 1299 <-> 12.99 (written 12.99, 12.9, 12.0);
 *    requests may carry any number whose value is a whole number of cents
 *    ("12.99", 12.9, 12, 1.299e1, 12.990), decoded exactly from the text,
 *    never through a float; 12.999 is an error;
 *  - double/float: shortest text that reads back to the same value; NaN and
 *    infinities are written as "NaN"/"Infinity" strings and refused in
 *    requests (not finite);
 *  - enums: the value name without the SCREAMING_SNAKE prefix of the enum
 *    type, lower-cased (ORDER_STATUS_PAYMENT_PROCESSING <->
 *    "payment_processing"); requests also accept any case, the full value
 *    name and the number of a defined value. The zero value *_UNSPECIFIED is
 *    written as null (it is never a valid state) and is not accepted as a
 *    string; null (or absence) means unspecified;
 *  - google.protobuf.Timestamp: RFC 3339 string, written in UTC with "Z" and
 *    a fraction of 3, 6 or 9 digits only when nanos != 0; requests accept
 *    any offset and 1..9 fractional digits;
 *  - bytes: base64 (requests: standard or URL-safe, padding optional);
 *  - repeated: arrays, always written (possibly []); null reads as [];
 *  - presence: one-field oneofs `_name` (proto3 optional) and other oneof
 *    members are written only when their case is set; unset message fields
 *    are omitted; every other scalar is always written ("review_count": 0);
 *  - strings are UTF-8 both ways (invalid input is a 400, invalid bytes in a
 *    message are written as U+FFFD; a NUL character is refused).
 * Maps are not supported (no contract message has one).
 *
 * Every error names the field with its path ("items[1].quantity: expected
 * an integer, got string").
 */
#ifndef GW_TRANSCODE_H
#define GW_TRANSCODE_H

#include <grpc/status.h>
#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

#include "gw_json.h"
#include "se_rpc_desc.h"

#define GW_TRANSCODE_MAX_PATH_PARAMS 8
#define GW_TRANSCODE_DEFAULT_MAX_BODY (1024 * 1024)
#define GW_TRANSCODE_DEFAULT_MAX_DEPTH 32

typedef struct gw_str {
    const char *ptr;
    size_t len;
} gw_str;

/* Path variables of a matched route: names as in the template
 * ({restaurant_id}, nested {a.b} allowed), raw values as they appear in the
 * path (percent-encoding is decoded here). */
typedef struct gw_path_params {
    size_t n;
    struct {
        gw_str name;
        gw_str value;
    } params[GW_TRANSCODE_MAX_PATH_PARAMS];
} gw_path_params;

typedef struct gw_transcode_limits {
    size_t max_body_bytes; /* larger bodies: 413 */
    unsigned max_depth;    /* JSON nesting limit (containers) */
} gw_transcode_limits;

/* Why a request could not be transcoded: what the HTTP answer should say. */
typedef struct gw_transcode_error {
    int http_status;       /* 400, or 413 (body too large / too big to decode) */
    grpc_status_code code; /* INVALID_ARGUMENT or RESOURCE_EXHAUSTED */
    char message[256];     /* names the field; NUL-terminated, printable ASCII
                              except for valid UTF-8 from the request */
} gw_transcode_error;

/* Builds the lookup tables (the cents fields of se_registry_cents_fields).
 * Idempotent and thread-safe (pthread_once); the transcode functions call
 * it themselves, calling it at start-up only moves the cost there. */
void gw_transcode_init(void);

/* Builds route->method->input from a request: the JSON body into the field
 * route->body names ("*": the whole message; NULL: the route takes no body
 * and a non-blank body is a 400; an empty body reads as {}), then the path
 * variables (they win over the body), then the query string (only into
 * fields bound neither by the path nor by the body; a repeated field by
 * repeating the parameter; empty values leave the field unset; unknown
 * parameters are a 400; routes with body "*" take no query parameters).
 * `query` is the raw query string without '?', may be NULL. `limits` NULL:
 * the defaults above.
 * OWNERSHIP: *out is allocated with `alloc` (NULL: malloc) and belongs to
 * the caller: protobuf_c_message_free_unpacked(*out, alloc).
 * THREAD: any. ON ERROR: -1, *out NULL, nothing left allocated, err filled
 * (not logged: the caller logs the request). */
int gw_transcode_request(const se_http_route *route, const gw_path_params *params,
                         const char *query, size_t query_len, const char *body, size_t body_len,
                         const gw_transcode_limits *limits, ProtobufCAllocator *alloc,
                         ProtobufCMessage **out, gw_transcode_error *err);

/* The lower level: one JSON object into a new message of type `desc`.
 * Same ownership and errors as gw_transcode_request (no size limit here
 * beyond limits->max_body_bytes). */
int gw_transcode_json_to_message(const ProtobufCMessageDescriptor *desc, const char *json,
                                 size_t len, const gw_transcode_limits *limits,
                                 ProtobufCAllocator *alloc, ProtobufCMessage **out,
                                 gw_transcode_error *err);

/* Appends the JSON of msg to out (reuse one buffer: gw_buf_reset between
 * requests). THREAD: any (per buffer). ON ERROR: -1, logged, out->len
 * restored: a message that has no JSON form (a Timestamp outside years
 * 1..9999 or with nanos outside 0..999999999). */
int gw_transcode_response(const ProtobufCMessage *msg, gw_buf *out);

/* The response of a route: the whole message, or only the field
 * route->response_body names (null when that field is unset). */
int gw_transcode_route_response(const se_http_route *route, const ProtobufCMessage *msg,
                                gw_buf *out);

#endif

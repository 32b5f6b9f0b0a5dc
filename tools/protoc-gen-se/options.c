/* options.c - custom options. protobuf-c does not parse extensions: they
 * stay in ProtobufCMessage.unknown_fields (tag, wire type, and the raw
 * bytes after the tag: the varint, or the length prefix plus payload). */
#include <stdlib.h>
#include <string.h>
#include "plugin.h"
#include "google/api/http.pb-c.h"

/* Reads a varint from p[0..n); returns bytes used, 0 when malformed. */
static size_t read_varint(const uint8_t *p, size_t n, uint64_t *v)
{
    uint64_t r = 0;
    for (size_t i = 0; i < n && i < 10; i++) {
        r |= (uint64_t)(p[i] & 0x7f) << (7 * i);
        if ((p[i] & 0x80) == 0) {
            *v = r;
            return i + 1;
        }
    }
    return 0;
}

static const ProtobufCMessageUnknownField *find_unknown(const ProtobufCMessage *msg,
                                                        uint32_t tag)
{
    const ProtobufCMessageUnknownField *found = NULL;
    for (unsigned i = 0; msg != NULL && i < msg->n_unknown_fields; i++)
        if (msg->unknown_fields[i].tag == tag)
            found = &msg->unknown_fields[i]; /* last one wins, as in protobuf */
    return found;
}

int opt_varint(const ProtobufCMessage *msg, uint32_t tag, uint64_t *out)
{
    const ProtobufCMessageUnknownField *u = find_unknown(msg, tag);
    if (u == NULL)
        return 0;
    if (u->wire_type != PROTOBUF_C_WIRE_TYPE_VARINT)
        return -1;
    return read_varint(u->data, u->len, out) == u->len ? 1 : -1;
}

int opt_bytes(const ProtobufCMessage *msg, uint32_t tag, const uint8_t **data, size_t *len)
{
    const ProtobufCMessageUnknownField *u = find_unknown(msg, tag);
    if (u == NULL)
        return 0;
    if (u->wire_type != PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED)
        return -1;
    uint64_t n;
    size_t used = read_varint(u->data, u->len, &n);
    if (used == 0 || n != u->len - used)
        return -1;
    *data = u->data + used;
    *len = (size_t)n;
    return 1;
}

static char *nonempty(const char *s)
{
    return s != NULL && s[0] != '\0' ? xstrdup(s) : NULL;
}

/* Appends the route of `rule` and then of each additional binding. */
static void add_rules(se_gen *g, const Google__Api__HttpRule *rule, const char *where,
                      se_method_opts *mo)
{
    const char *verb = NULL, *path = NULL;
    switch (rule->pattern_case) {
    case GOOGLE__API__HTTP_RULE__PATTERN_GET: verb = "GET"; path = rule->get; break;
    case GOOGLE__API__HTTP_RULE__PATTERN_PUT: verb = "PUT"; path = rule->put; break;
    case GOOGLE__API__HTTP_RULE__PATTERN_POST: verb = "POST"; path = rule->post; break;
    case GOOGLE__API__HTTP_RULE__PATTERN_DELETE: verb = "DELETE"; path = rule->delete_; break;
    case GOOGLE__API__HTTP_RULE__PATTERN_PATCH: verb = "PATCH"; path = rule->patch; break;
    case GOOGLE__API__HTTP_RULE__PATTERN_CUSTOM:
        if (rule->custom != NULL) {
            verb = rule->custom->kind;
            path = rule->custom->path;
        }
        break;
    default:
        break;
    }
    if (verb == NULL || verb[0] == '\0' || path == NULL || path[0] != '/') {
        gen_error(g, "%s: google.api.http rule needs an HTTP method and a path "
                  "starting with '/'", where);
        return;
    }
    mo->routes = xrealloc(mo->routes, (mo->n_routes + 1) * sizeof *mo->routes);
    se_route *r = &mo->routes[mo->n_routes++];
    r->http_method = xstrdup(verb);
    r->path = xstrdup(path);
    r->body = nonempty(rule->body);
    r->response_body = nonempty(rule->response_body);
    for (size_t i = 0; i < rule->n_additional_bindings; i++)
        add_rules(g, rule->additional_bindings[i], where, mo);
}

static void decode_http(se_gen *g, const ProtobufCMessage *opts, const char *where,
                        se_method_opts *mo)
{
    const uint8_t *data;
    size_t len;
    int rc = opt_bytes(opts, SE_EXT_HTTP, &data, &len);
    if (rc == 0)
        return;
    Google__Api__HttpRule *rule = rc < 0 ? NULL : google__api__http_rule__unpack(NULL, len, data);
    if (rule == NULL) {
        gen_error(g, "%s: cannot decode the google.api.http option", where);
        return;
    }
    add_rules(g, rule, where, mo);
    google__api__http_rule__free_unpacked(rule, NULL);
}

/* Reads an int32 option; keeps *v when absent. */
static void decode_int(se_gen *g, const ProtobufCMessage *opts, uint32_t tag,
                       const char *name, const char *where, int *v)
{
    uint64_t raw;
    int rc = opt_varint(opts, tag, &raw);
    if (rc < 0)
        gen_error(g, "%s: malformed option (%s)", where, name);
    else if (rc > 0)
        *v = (int)(int32_t)(uint32_t)raw; /* int32 on the wire: low 32 bits */
}

void method_opts_init(se_gen *g, const Google__Protobuf__MethodDescriptorProto *m,
                      const char *where, se_method_opts *mo)
{
    memset(mo, 0, sizeof *mo);
    mo->success_status = 200;
    const Google__Protobuf__MethodOptions *o = m->options;
    if (o == NULL)
        return;
    mo->idempotent = o->has_idempotency_level &&
        (o->idempotency_level == GOOGLE__PROTOBUF__METHOD_OPTIONS__IDEMPOTENCY_LEVEL__NO_SIDE_EFFECTS ||
         o->idempotency_level == GOOGLE__PROTOBUF__METHOD_OPTIONS__IDEMPOTENCY_LEVEL__IDEMPOTENT);
    decode_http(g, &o->base, where, mo);
    decode_int(g, &o->base, SE_EXT_HTTP_SUCCESS_CODE, "swifteats.api.http_success_code",
               where, &mo->success_status);
    decode_int(g, &o->base, SE_EXT_TIMEOUT_MS, "swifteats.api.timeout_ms", where,
               &mo->timeout_ms);
    if (mo->success_status < 100 || mo->success_status > 599)
        gen_error(g, "%s: (swifteats.api.http_success_code) %d is not an HTTP status",
                  where, mo->success_status);
    if (mo->timeout_ms < 0)
        gen_error(g, "%s: (swifteats.api.timeout_ms) %d is negative", where, mo->timeout_ms);
}

void method_opts_dispose(se_method_opts *mo)
{
    for (size_t i = 0; i < mo->n_routes; i++) {
        free(mo->routes[i].http_method);
        free(mo->routes[i].path);
        free(mo->routes[i].body);
        free(mo->routes[i].response_body);
    }
    free(mo->routes);
    memset(mo, 0, sizeof *mo);
}

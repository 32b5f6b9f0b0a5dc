/* se_rpc_desc.h - the static descriptions our generator (tools/protoc-gen-se) emits.
 *
 * Everything here is plain constant data: gen/ fills these structs from the
 * .proto files and the runtime and the gateway read them. Nothing in this
 * header has behaviour, so gen/ code depends on the runtime's *types* only.
 *
 * Must be kept in sync with tools/protoc-gen-se/ (which writes initialisers
 * for these structs field by field).
 */
#ifndef SE_RPC_DESC_H
#define SE_RPC_DESC_H

#include <stddef.h>
#include <stdint.h>
#include <protobuf-c/protobuf-c.h>

typedef struct se_call se_call; /* a server-side call, see se_rpc.h */

/* The four gRPC method kinds. protoc-c's own service descriptors lose this. */
typedef enum se_rpc_kind {
    SE_RPC_UNARY = 0,
    SE_RPC_SERVER_STREAMING = 1,
    SE_RPC_CLIENT_STREAMING = 2,
    SE_RPC_BIDI_STREAMING = 3,
} se_rpc_kind;

/* Calls the typed handler of one method in a generated handler table.
 * `handlers` points at the service's generated `<service>_handlers` struct,
 * `req` is the decoded request (NULL for the end of a client stream).
 * Returns 0 when a handler ran, -1 when the table has no handler for the
 * method (the runtime then answers UNIMPLEMENTED). */
typedef int (*se_invoke_fn)(se_call *call, const ProtobufCMessage *req,
                            const void *handlers, void *ctx);

typedef struct se_method_desc {
    const char *path;      /* wire path, "/swifteats.v1.MenuService/GetRestaurant" */
    const char *name;      /* "GetRestaurant" */
    se_rpc_kind kind;
    int idempotent;        /* 1 when idempotency_level is NO_SIDE_EFFECTS or
                              IDEMPOTENT: the client may retry on UNAVAILABLE */
    const ProtobufCMessageDescriptor *input;
    const ProtobufCMessageDescriptor *output;
    se_invoke_fn invoke;   /* generated trampoline into the handler table */
} se_method_desc;

/* One REST binding from a google.api.http annotation (additional_bindings
 * become routes of their own). */
typedef struct se_http_route {
    const char *http_method;   /* "GET", "POST", "PUT", "PATCH", "DELETE" */
    const char *path;          /* template as annotated: "/api/v1/orders/{order_id}" */
    const char *body;          /* NULL: no body; "*": whole request; else a field name */
    const char *response_body; /* NULL: whole response; else a field name */
    int success_status;        /* HTTP status on OK: 200 unless (swifteats.api.http_success_code) */
    int timeout_ms;            /* deadline for the RPC; 0 = the gateway's default
                                  ((swifteats.api.timeout_ms)) */
    const se_method_desc *method; /* request/response descriptors via method->input/output */
} se_http_route;

typedef struct se_service_desc {
    const char *name;          /* full name, "swifteats.v1.MenuService" */
    const char *file;          /* "swifteats/v1/menu.proto" */
    size_t n_methods;
    const se_method_desc *methods;
    size_t n_routes;
    const se_http_route *routes;
} se_service_desc;

/* A serialized google.protobuf.FileDescriptorProto, exactly as protoc saw it
 * (with source info for our own files), for server reflection. */
typedef struct se_file_desc {
    const char *name;          /* "swifteats/v1/menu.proto" */
    const uint8_t *data;
    size_t len;
} se_file_desc;

/* The registry: every file, service and route gen/ knows about
 * (gen/se_registry.c, written by the generator). */
extern const se_file_desc se_registry_files[];
extern const size_t se_registry_n_files;
extern const se_service_desc *const se_registry_services[];
extern const size_t se_registry_n_services;
extern const se_http_route *const se_registry_routes[];
extern const size_t se_registry_n_routes;

#endif

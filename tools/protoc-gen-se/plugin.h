/* plugin.h - internals of protoc-gen-se, the protoc plugin that writes our
 * RPC stubs, route tables and the descriptor registry into gen/.
 *
 * DESIGN: main.c reads one CodeGeneratorRequest from stdin and builds a
 * symbol table of every message protoc passed (full name -> protoc-c C
 * names and defining file). emit_service.c writes <path>.se.h/.se.c for each
 * file_to_generate with services; emit_registry.c writes se_registry.h/.c.
 * Every output is a pure function of the request (no time stamps, no hash
 * order), so regenerating is byte-identical (CI diffs gen/).
 *
 * Error policy: the plugin is a short-lived batch tool. Allocation failures
 * abort (xmalloc); problems in the input (unknown type, name clash, bad
 * option encoding) are reported through CodeGeneratorResponse.error, which
 * protoc prints with the file name, and the run produces no files.
 */
#ifndef SE_PLUGIN_H
#define SE_PLUGIN_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include "google/protobuf/descriptor.pb-c.h"
#include "google/protobuf/compiler/plugin.pb-c.h"

/* ---- memory and strings (util.c) ---------------------------------------- */

void *xmalloc(size_t n);           /* aborts on failure */
void *xcalloc(size_t n, size_t sz);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A growable NUL-terminated string. Zero-initialise, append, take .s. */
typedef struct sbuf {
    char *s;
    size_t len, cap;
} sbuf;
void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sb_vprintf(sbuf *b, const char *fmt, va_list ap);
void sb_append(sbuf *b, const char *s, size_t n);
void sb_free(sbuf *b);
/* Writes `text` as a C block comment indented by `indent` spaces, one line
 * per source line; "*" "/" sequences are defused. Nothing for NULL/"". */
void sb_comment(sbuf *b, const char *text, int indent);
/* Appends s[0..n) as one C string literal (escaped, trigraph-safe). */
void sb_cquote(sbuf *b, const char *s, size_t n);
/* Appends a C string literal for s, or NULL. */
void sb_cstr_or_null(sbuf *b, const char *s);

/* ---- names (names.c) ---------------------------------------------------- */

/* protoc-c's names for a message with full name "pkg.Outer.Inner":
 * FullNameToC -> "Pkg__Outer__Inner", FullNameToLower -> "pkg__outer__inner". */
char *pbc_type_name(const char *full_name);
char *pbc_lower_name(const char *full_name);
/* "swifteats/v1/menu.proto" -> "swifteats/v1/menu" (+ suffix). */
char *strip_proto(const char *file, const char *suffix);
/* Our snake case: "GetRestaurant" -> "get_restaurant", "HTTPRule" -> "http_rule". */
char *snake_case(const char *camel);
char *upper_case(const char *s);
/* Service prefix: package dots -> '_', service snake cased. */
char *service_prefix(const char *package, const char *service);
/* 1 when `s` is a C11 keyword (then a struct member needs a '_' suffix). */
int is_c_keyword(const char *s);

/* ---- options carried as unknown fields (options.c) ----------------------- */

#define SE_EXT_HTTP 72295728u          /* google.api.http, HttpRule */
#define SE_EXT_HTTP_SUCCESS_CODE 50001u /* swifteats.api.http_success_code */
#define SE_EXT_TIMEOUT_MS 50002u        /* swifteats.api.timeout_ms */
#define SE_EXT_CENTS 50003u             /* swifteats.api.cents (FieldOptions) */

/* Finds the last occurrence of varint extension `tag` in msg's unknown
 * fields. Returns 1 and sets *out, 0 when absent, -1 when malformed. */
int opt_varint(const ProtobufCMessage *msg, uint32_t tag, uint64_t *out);
/* Finds length-delimited extension `tag`: 1 and sets *data and *len (payload
 * without the length prefix, pointing into msg), 0 absent, -1 malformed. */
int opt_bytes(const ProtobufCMessage *msg, uint32_t tag, const uint8_t **data, size_t *len);

/* ---- the request and its symbol table (main.c) -------------------------- */

typedef struct se_msg_sym {
    char *full_name;   /* ".pkg.Outer.Inner", as field/method type names */
    char *c_type;      /* "Pkg__Outer__Inner" */
    char *c_desc;      /* "pkg__outer__inner__descriptor" */
    const Google__Protobuf__FileDescriptorProto *file;
    const Google__Protobuf__DescriptorProto *msg;
} se_msg_sym;

typedef struct se_gen {
    const Google__Protobuf__Compiler__CodeGeneratorRequest *req;
    /* raw serialized bytes of req->proto_file[i], sliced from stdin */
    const uint8_t **file_data;
    size_t *file_len;
    se_msg_sym *syms;
    size_t n_syms;
    char *error;       /* first error, or NULL */
} se_gen;

/* Records the first error (printf-style); later errors are dropped. */
void gen_error(se_gen *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Looks a ".pkg.Type" name up; NULL (and an error recorded) when unknown. */
const se_msg_sym *gen_lookup(se_gen *g, const char *full_name);
const Google__Protobuf__FileDescriptorProto *gen_file(const se_gen *g, const char *name);
/* Leading comment of the element at `path` in file f, or NULL. */
const char *gen_comment(const Google__Protobuf__FileDescriptorProto *f,
                        const int32_t *path, size_t n_path);

/* One output file; content is owned by the list. */
typedef struct se_out {
    char *name;
    char *content;
} se_out;
typedef struct se_outs {
    se_out *v;
    size_t n, cap;
} se_outs;
void outs_add(se_outs *o, char *name, sbuf *content); /* takes both */

/* ---- emitters ---------------------------------------------------------- */

/* Writes <path>.se.h/.se.c for file f if it has services. */
void emit_file(se_gen *g, const Google__Protobuf__FileDescriptorProto *f, se_outs *out);
/* Writes se_registry.h/.c for the whole request. */
void emit_registry(se_gen *g, se_outs *out);

/* Method kind: bit 0 server streaming, bit 1 client streaming, as
 * se_rpc_kind in runtime/se_rpc_desc.h. */
typedef enum mkind {
    KIND_UNARY = 0,
    KIND_SERVER_STREAMING = 1,
    KIND_CLIENT_STREAMING = 2,
    KIND_BIDI_STREAMING = 3,
} mkind;

/* Route facts decoded from a method's options (shared by both emitters). */
typedef struct se_route {
    char *http_method, *path, *body, *response_body; /* body/response_body NULL if unset */
} se_route;
typedef struct se_method_opts {
    int idempotent;
    int success_status;   /* 200 unless the option says otherwise */
    int timeout_ms;
    se_route *routes;
    size_t n_routes;
} se_method_opts;
/* Decodes options of m (errors recorded in g); free with method_opts_dispose. */
void method_opts_init(se_gen *g, const Google__Protobuf__MethodDescriptorProto *m,
                      const char *where, se_method_opts *mo);
void method_opts_dispose(se_method_opts *mo);

#endif

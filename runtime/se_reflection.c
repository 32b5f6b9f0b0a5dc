/* se_reflection.c - gRPC server reflection (grpc.reflection.v1 and v1alpha).
 *
 * DESIGN
 * ServerReflectionInfo is a bidi stream: the runtime calls our handler once
 * per request message (never concurrently for one call) and once with
 * req == NULL when the client half-closes; we answer each request with
 * exactly one response and finish with OK at the end.
 *
 * Answers come from two sources:
 *   - list_services: the server's registered services (se__server_services),
 *     which include Health and both reflection services;
 *   - everything else: se_registry_files (the serialized
 *     FileDescriptorProtos protoc saw). An index is built once per process
 *     (pthread_once) by parsing every file with descriptor.pb-c.h: a sorted
 *     table of fully-qualified symbols (messages and nested messages, enums,
 *     enum values, services, methods, fields, oneofs, extensions) -> file,
 *     the extensions (extendee, number) -> file, and each file's resolved
 *     dependencies. The index is immutable afterwards and shared by every
 *     server and thread; it lives until the process exits.
 * File answers carry the file itself first, then its transitive
 * dependencies (each once), as the stored bytes.
 *
 * v1 and v1alpha are the same messages on the wire in another package. The
 * logic works on v1 messages; a v1alpha request is re-read as v1 and the v1
 * answer re-read as v1alpha (pack + unpack) before it is sent.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/support/alloc.h>
#include <grpc/support/string_util.h>

#include "google/protobuf/descriptor.pb-c.h"
#include "grpc/reflection/v1/reflection.se.h"
#include "grpc/reflection/v1alpha/reflection.se.h"
#include "se_log.h"
#include "se_rpc_internal.h"

typedef Grpc__Reflection__V1__ServerReflectionRequest refl_request;
typedef Grpc__Reflection__V1__ServerReflectionResponse refl_response;
typedef Google__Protobuf__DescriptorProto msg_proto;
typedef Google__Protobuf__EnumDescriptorProto enum_proto;
typedef Google__Protobuf__FieldDescriptorProto field_proto;

/* ---- the index --------------------------------------------------------- */

typedef struct refl_symbol {
    char *name;  /* fully qualified, no leading dot; owned */
    size_t file; /* index into se_registry_files */
} refl_symbol;

typedef struct refl_extension {
    char *extendee; /* fully qualified, no leading dot; owned */
    int32_t number;
    size_t file;
} refl_extension;

typedef struct refl_file_deps {
    size_t n;
    size_t *files; /* dependencies found in the registry; owned */
} refl_file_deps;

typedef struct refl_index {
    refl_symbol *syms; /* sorted by name */
    size_t n_syms, cap_syms;
    refl_extension *exts;
    size_t n_exts, cap_exts;
    refl_file_deps *deps; /* one per registry file */
} refl_index;

static refl_index g_index;
static pthread_once_t g_index_once = PTHREAD_ONCE_INIT;

static char *join_name(const char *scope, const char *name)
{
    if (!name)
        name = "";
    if (!scope || !*scope)
        return gpr_strdup(name);
    size_t a = strlen(scope), b = strlen(name);
    char *s = gpr_malloc(a + 1 + b + 1);
    memcpy(s, scope, a);
    s[a] = '.';
    memcpy(s + a + 1, name, b + 1);
    return s;
}

/* Takes ownership of `name`. */
static void add_symbol(char *name, size_t file)
{
    refl_index *ix = &g_index;
    if (ix->n_syms == ix->cap_syms) {
        ix->cap_syms = ix->cap_syms ? 2 * ix->cap_syms : 256;
        ix->syms = gpr_realloc(ix->syms, ix->cap_syms * sizeof(*ix->syms));
    }
    ix->syms[ix->n_syms++] = (refl_symbol){.name = name, .file = file};
}

static void add_extension(const field_proto *f, const char *scope, size_t file)
{
    refl_index *ix = &g_index;
    add_symbol(join_name(scope, f->name), file);
    if (!f->extendee || !f->has_number)
        return;
    if (ix->n_exts == ix->cap_exts) {
        ix->cap_exts = ix->cap_exts ? 2 * ix->cap_exts : 32;
        ix->exts = gpr_realloc(ix->exts, ix->cap_exts * sizeof(*ix->exts));
    }
    const char *extendee = f->extendee[0] == '.' ? f->extendee + 1 : f->extendee;
    ix->exts[ix->n_exts++] = (refl_extension){
        .extendee = gpr_strdup(extendee), .number = f->number, .file = file};
}

/* Enum values are scoped like their enum (C++ scoping rules), so they are
 * siblings of the enum: scope.VALUE. */
static void index_enum(const enum_proto *e, const char *scope, size_t file)
{
    add_symbol(join_name(scope, e->name), file);
    for (size_t i = 0; i < e->n_value; i++)
        add_symbol(join_name(scope, e->value[i]->name), file);
}

static void index_message(const msg_proto *m, const char *scope, size_t file)
{
    char *full = join_name(scope, m->name);
    add_symbol(gpr_strdup(full), file);
    for (size_t i = 0; i < m->n_field; i++)
        add_symbol(join_name(full, m->field[i]->name), file);
    for (size_t i = 0; i < m->n_oneof_decl; i++)
        add_symbol(join_name(full, m->oneof_decl[i]->name), file);
    for (size_t i = 0; i < m->n_extension; i++)
        add_extension(m->extension[i], full, file);
    for (size_t i = 0; i < m->n_nested_type; i++)
        index_message(m->nested_type[i], full, file);
    for (size_t i = 0; i < m->n_enum_type; i++)
        index_enum(m->enum_type[i], full, file);
    gpr_free(full);
}

static void index_services(const Google__Protobuf__FileDescriptorProto *fd, size_t file)
{
    for (size_t i = 0; i < fd->n_service; i++) {
        const Google__Protobuf__ServiceDescriptorProto *sv = fd->service[i];
        char *full = join_name(fd->package, sv->name);
        add_symbol(gpr_strdup(full), file);
        for (size_t j = 0; j < sv->n_method; j++)
            add_symbol(join_name(full, sv->method[j]->name), file);
        gpr_free(full);
    }
}

static long find_file(const char *name)
{
    for (size_t i = 0; i < se_registry_n_files; i++)
        if (strcmp(se_registry_files[i].name, name) == 0)
            return (long)i;
    return -1;
}

static void index_deps(const Google__Protobuf__FileDescriptorProto *fd, size_t file)
{
    refl_file_deps *d = &g_index.deps[file];
    d->files = gpr_malloc((fd->n_dependency ? fd->n_dependency : 1) * sizeof(*d->files));
    for (size_t i = 0; i < fd->n_dependency; i++) {
        long dep = find_file(fd->dependency[i]);
        if (dep < 0) {
            se_log_warn("reflection_missing_dependency", "%s imports %s, which is not in the registry",
                        se_registry_files[file].name, fd->dependency[i]);
            continue;
        }
        d->files[d->n++] = (size_t)dep;
    }
}

static void index_file(size_t file)
{
    const se_file_desc *f = &se_registry_files[file];
    Google__Protobuf__FileDescriptorProto *fd =
        google__protobuf__file_descriptor_proto__unpack(NULL, f->len, f->data);
    if (!fd) {
        se_log_error("reflection_bad_descriptor", "cannot parse the descriptor of %s (%zu bytes)",
                     f->name, f->len);
        return;
    }
    for (size_t i = 0; i < fd->n_message_type; i++)
        index_message(fd->message_type[i], fd->package, file);
    for (size_t i = 0; i < fd->n_enum_type; i++)
        index_enum(fd->enum_type[i], fd->package, file);
    for (size_t i = 0; i < fd->n_extension; i++)
        add_extension(fd->extension[i], fd->package, file);
    index_services(fd, file);
    index_deps(fd, file);
    google__protobuf__file_descriptor_proto__free_unpacked(fd, NULL);
}

static int cmp_symbol(const void *a, const void *b)
{
    return strcmp(((const refl_symbol *)a)->name, ((const refl_symbol *)b)->name);
}

static void build_index(void)
{
    g_index.deps = gpr_zalloc((se_registry_n_files ? se_registry_n_files : 1) *
                              sizeof(*g_index.deps));
    for (size_t i = 0; i < se_registry_n_files; i++)
        index_file(i);
    if (g_index.n_syms)
        qsort(g_index.syms, g_index.n_syms, sizeof(*g_index.syms), cmp_symbol);
    se_log_debug("reflection_index_built", "%zu files, %zu symbols, %zu extensions",
                 se_registry_n_files, g_index.n_syms, g_index.n_exts);
}

static const refl_index *index_get(void)
{
    pthread_once(&g_index_once, build_index);
    return &g_index;
}

static long find_symbol(const refl_index *ix, const char *name)
{
    if (!ix->n_syms)
        return -1;
    refl_symbol key = {.name = (char *)name};
    const refl_symbol *s = bsearch(&key, ix->syms, ix->n_syms, sizeof(*ix->syms), cmp_symbol);
    return s ? (long)s->file : -1;
}

/* ---- answers ----------------------------------------------------------- */

/* One response under construction; the parts the oneof points at. */
typedef struct answer {
    refl_response resp;
    Grpc__Reflection__V1__FileDescriptorResponse files;
    Grpc__Reflection__V1__ListServiceResponse list;
    Grpc__Reflection__V1__ExtensionNumberResponse numbers;
    Grpc__Reflection__V1__ErrorResponse error;
    void *owned[2]; /* arrays to free after sending */
    char error_text[256];
} answer;

static void answer_error(answer *a, grpc_status_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void answer_error(answer *a, grpc_status_code code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->error_text, sizeof(a->error_text), fmt, ap);
    va_end(ap);
    se_log_debug("reflection_error_answer", "%s: %s", se_status_name(code), a->error_text);
    grpc__reflection__v1__error_response__init(&a->error);
    a->error.error_code = (int32_t)code;
    a->error.error_message = a->error_text;
    a->resp.message_response_case =
        GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_ERROR_RESPONSE;
    a->resp.error_response = &a->error;
}

static void collect_files(const refl_index *ix, size_t file, unsigned char *seen, size_t *out,
                          size_t *n)
{
    if (seen[file])
        return;
    seen[file] = 1;
    out[(*n)++] = file;
    for (size_t i = 0; i < ix->deps[file].n; i++)
        collect_files(ix, ix->deps[file].files[i], seen, out, n);
}

/* The file and its transitive dependencies, the file first; kind and name
 * describe the request for the NOT_FOUND message. */
static void answer_file(answer *a, const refl_index *ix, long file, const char *kind,
                        const char *name)
{
    if (file < 0) {
        answer_error(a, GRPC_STATUS_NOT_FOUND, "reflection: %s \"%s\" not found", kind, name);
        return;
    }
    unsigned char *seen = gpr_zalloc(se_registry_n_files);
    size_t *order = gpr_malloc(se_registry_n_files * sizeof(*order));
    size_t n = 0;
    collect_files(ix, (size_t)file, seen, order, &n);
    ProtobufCBinaryData *blobs = gpr_malloc(n * sizeof(*blobs));
    for (size_t i = 0; i < n; i++) {
        blobs[i].data = (uint8_t *)se_registry_files[order[i]].data;
        blobs[i].len = se_registry_files[order[i]].len;
    }
    gpr_free(seen);
    gpr_free(order);
    grpc__reflection__v1__file_descriptor_response__init(&a->files);
    a->files.n_file_descriptor_proto = n;
    a->files.file_descriptor_proto = blobs;
    a->owned[0] = blobs;
    a->resp.message_response_case =
        GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_FILE_DESCRIPTOR_RESPONSE;
    a->resp.file_descriptor_response = &a->files;
}

static void answer_list(answer *a, const se_server *s)
{
    const se_service_desc *stack[64];
    const se_service_desc **svcs = stack;
    size_t n = se__server_services(s, stack, 64);
    if (n > 64) {
        svcs = gpr_malloc(n * sizeof(*svcs));
        n = se__server_services(s, svcs, n);
    }
    /* One block: n ServiceResponse structs, then n pointers to them. */
    Grpc__Reflection__V1__ServiceResponse *items = gpr_malloc(
        (n ? n : 1) * (sizeof(*items) + sizeof(Grpc__Reflection__V1__ServiceResponse *)));
    Grpc__Reflection__V1__ServiceResponse **ptrs = (void *)(items + n);
    for (size_t i = 0; i < n; i++) {
        grpc__reflection__v1__service_response__init(&items[i]);
        items[i].name = (char *)svcs[i]->name;
        ptrs[i] = &items[i];
    }
    if (svcs != stack)
        gpr_free(svcs);
    grpc__reflection__v1__list_service_response__init(&a->list);
    a->list.n_service = n;
    a->list.service = ptrs;
    a->owned[0] = items;
    a->resp.message_response_case =
        GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_LIST_SERVICES_RESPONSE;
    a->resp.list_services_response = &a->list;
}

static void answer_extension(answer *a, const refl_index *ix,
                             const Grpc__Reflection__V1__ExtensionRequest *er)
{
    if (!er || !er->containing_type) {
        answer_error(a, GRPC_STATUS_INVALID_ARGUMENT,
                     "reflection: file_containing_extension needs a containing_type");
        return;
    }
    for (size_t i = 0; i < ix->n_exts; i++) {
        const refl_extension *e = &ix->exts[i];
        if (e->number == er->extension_number && strcmp(e->extendee, er->containing_type) == 0) {
            answer_file(a, ix, (long)e->file, "extension", e->extendee);
            return;
        }
    }
    answer_error(a, GRPC_STATUS_NOT_FOUND, "reflection: extension %d of %s not found",
                 (int)er->extension_number, er->containing_type);
}

static void answer_extension_numbers(answer *a, const refl_index *ix, char *type)
{
    if (find_symbol(ix, type) < 0) {
        answer_error(a, GRPC_STATUS_NOT_FOUND, "reflection: type \"%s\" not found", type);
        return;
    }
    int32_t *nums = gpr_malloc((ix->n_exts ? ix->n_exts : 1) * sizeof(*nums));
    size_t n = 0;
    for (size_t i = 0; i < ix->n_exts; i++)
        if (strcmp(ix->exts[i].extendee, type) == 0)
            nums[n++] = ix->exts[i].number;
    grpc__reflection__v1__extension_number_response__init(&a->numbers);
    a->numbers.base_type_name = type;
    a->numbers.n_extension_number = n;
    a->numbers.extension_number = nums;
    a->owned[0] = nums;
    a->resp.message_response_case =
        GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_ALL_EXTENSION_NUMBERS_RESPONSE;
    a->resp.all_extension_numbers_response = &a->numbers;
}

static void answer_request(answer *a, const refl_request *req, const se_server *s)
{
    const refl_index *ix = index_get();
    grpc__reflection__v1__server_reflection_response__init(&a->resp);
    a->resp.valid_host = req->host ? req->host : (char *)"";
    a->resp.original_request = (refl_request *)req;
    switch (req->message_request_case) {
    case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_LIST_SERVICES:
        answer_list(a, s);
        break;
    case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_BY_FILENAME:
        answer_file(a, ix, find_file(req->file_by_filename), "file", req->file_by_filename);
        break;
    case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_SYMBOL:
        answer_file(a, ix, find_symbol(ix, req->file_containing_symbol), "symbol",
                    req->file_containing_symbol);
        break;
    case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_EXTENSION:
        answer_extension(a, ix, req->file_containing_extension);
        break;
    case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_ALL_EXTENSION_NUMBERS_OF_TYPE:
        answer_extension_numbers(a, ix, req->all_extension_numbers_of_type);
        break;
    default:
        answer_error(a, GRPC_STATUS_UNIMPLEMENTED, "reflection: unknown or empty request (case %d)",
                     (int)req->message_request_case);
        break;
    }
}

/* ---- wire glue --------------------------------------------------------- */

/* Re-reads `msg` as a message of `to` (same wire format). OWNERSHIP: the
 * result is the caller's (protobuf_c_message_free_unpacked). ON ERROR: NULL,
 * logged. */
static ProtobufCMessage *convert(const ProtobufCMessage *msg, const ProtobufCMessageDescriptor *to)
{
    size_t len = protobuf_c_message_get_packed_size(msg);
    uint8_t *buf = gpr_malloc(len ? len : 1);
    protobuf_c_message_pack(msg, buf);
    ProtobufCMessage *out = protobuf_c_message_unpack(to, NULL, len, buf);
    gpr_free(buf);
    if (!out)
        se_log_error("reflection_convert_failed", "cannot re-read %s as %s (%zu bytes)",
                     msg->descriptor->name, to->name, len);
    return out;
}

/* Answers one request on a v1 or v1alpha stream; `resp_desc` is the
 * stream's response type. */
static void serve_one(se_call *call, const ProtobufCMessage *req,
                      const ProtobufCMessageDescriptor *resp_desc, se_server *s)
{
    const ProtobufCMessageDescriptor *v1_req = &grpc__reflection__v1__server_reflection_request__descriptor;
    ProtobufCMessage *converted = NULL;
    if (req->descriptor != v1_req && !(converted = convert(req, v1_req))) {
        se_call_finish(call, GRPC_STATUS_INTERNAL, "reflection: bad request");
        return;
    }
    answer a;
    memset(&a, 0, sizeof(a));
    answer_request(&a, converted ? (refl_request *)converted : (const refl_request *)req, s);
    if (resp_desc == a.resp.base.descriptor) {
        se_call_send(call, &a.resp.base);
    } else {
        ProtobufCMessage *out = convert(&a.resp.base, resp_desc);
        if (out) {
            se_call_send(call, out);
            protobuf_c_message_free_unpacked(out, NULL);
        } else { /* cannot happen (same wire format); never leave the client waiting */
            se_call_finish(call, GRPC_STATUS_INTERNAL, "reflection: cannot encode the answer");
        }
    }
    for (size_t i = 0; i < sizeof(a.owned) / sizeof(a.owned[0]); i++)
        gpr_free(a.owned[i]);
    if (converted)
        protobuf_c_message_free_unpacked(converted, NULL);
}

static void on_info_v1(se_call *call, const Grpc__Reflection__V1__ServerReflectionRequest *req,
                       void *ctx)
{
    if (!req) {
        se_call_finish(call, GRPC_STATUS_OK, "%s", "");
        return;
    }
    serve_one(call, &req->base, &grpc__reflection__v1__server_reflection_response__descriptor, ctx);
}

static void on_info_v1alpha(se_call *call,
                            const Grpc__Reflection__V1alpha__ServerReflectionRequest *req,
                            void *ctx)
{
    if (!req) {
        se_call_finish(call, GRPC_STATUS_OK, "%s", "");
        return;
    }
    serve_one(call, &req->base, &grpc__reflection__v1alpha__server_reflection_response__descriptor,
              ctx);
}

static const grpc_reflection_v1_server_reflection_handlers v1_handlers = {
    .server_reflection_info = on_info_v1,
};
static const grpc_reflection_v1alpha_server_reflection_handlers v1alpha_handlers = {
    .server_reflection_info = on_info_v1alpha,
};

int se_reflection_register(se_server *s)
{
    if (grpc_reflection_v1_server_reflection_register(s, &v1_handlers, s) != 0 ||
        grpc_reflection_v1alpha_server_reflection_register(s, &v1alpha_handlers, s) != 0) {
        se_log_error("reflection_register_failed", "could not register ServerReflection");
        return -1;
    }
    return 0;
}

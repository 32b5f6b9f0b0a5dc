/* emit_service.c - writes <path>.se.h and <path>.se.c for one .proto file:
 * per service the method/route/service tables, invoke trampolines, the typed
 * handler table and registration, and typed client stubs. The naming
 * convention is fixed (other code relies on it): see the project preamble
 * and runtime/se_rpc_desc.h. */
#include <stdlib.h>
#include <string.h>
#include "plugin.h"

typedef struct mth {
    const Google__Protobuf__MethodDescriptorProto *m;
    char *snake;   /* "get_restaurant" */
    char *upper;   /* "GET_RESTAURANT" */
    mkind kind;
    const se_msg_sym *in, *out;
    se_method_opts opts;
    const char *comment;
} mth;

typedef struct svc {
    const Google__Protobuf__ServiceDescriptorProto *s;
    char *full;    /* "swifteats.v1.MenuService" */
    char *p;       /* "swifteats_v1_menu_service" */
    char *P;       /* "SWIFTEATS_V1_MENU_SERVICE" */
    const char *comment;
    mth *m;
    size_t n;
    size_t n_routes;
} svc;

static const char *const kind_names[] = {
    "SE_RPC_UNARY", "SE_RPC_SERVER_STREAMING", "SE_RPC_CLIENT_STREAMING",
    "SE_RPC_BIDI_STREAMING",
};

static void mth_init(se_gen *g, const Google__Protobuf__FileDescriptorProto *f, svc *sv,
                     size_t si, size_t mi)
{
    mth *x = &sv->m[mi];
    const Google__Protobuf__MethodDescriptorProto *m = sv->s->method[mi];
    x->m = m;
    x->snake = snake_case(m->name);
    x->upper = upper_case(x->snake);
    x->kind = (mkind)((m->has_client_streaming && m->client_streaming ? 2 : 0) |
                              (m->has_server_streaming && m->server_streaming ? 1 : 0));
    x->in = gen_lookup(g, m->input_type);
    x->out = gen_lookup(g, m->output_type);
    char *where = xasprintf("%s: %s.%s", f->name, sv->full, m->name);
    if (is_c_keyword(x->snake))
        gen_error(g, "%s: the method name becomes the C keyword \"%s\" (protoc-c's "
                  "service struct would not compile); rename it", where, x->snake);
    method_opts_init(g, m, where, &x->opts);
    free(where);
    int32_t path[4] = {6, (int32_t)si, 2, (int32_t)mi};
    x->comment = gen_comment(f, path, 4);
    sv->n_routes += x->opts.n_routes;
}

static void svc_init(se_gen *g, const Google__Protobuf__FileDescriptorProto *f, svc *sv,
                     size_t si)
{
    memset(sv, 0, sizeof *sv);
    sv->s = f->service[si];
    int pkg = f->package != NULL && f->package[0] != '\0';
    sv->full = pkg ? xasprintf("%s.%s", f->package, sv->s->name) : xstrdup(sv->s->name);
    sv->p = service_prefix(f->package, sv->s->name);
    sv->P = upper_case(sv->p);
    int32_t path[2] = {6, (int32_t)si};
    sv->comment = gen_comment(f, path, 2);
    sv->n = sv->s->n_method;
    sv->m = xcalloc(sv->n, sizeof *sv->m);
    for (size_t i = 0; i < sv->n; i++)
        mth_init(g, f, sv, si, i);
}

static void svc_dispose(svc *sv)
{
    for (size_t i = 0; i < sv->n; i++) {
        free(sv->m[i].snake);
        free(sv->m[i].upper);
        method_opts_dispose(&sv->m[i].opts);
    }
    free(sv->m);
    free(sv->full);
    free(sv->p);
    free(sv->P);
}

/* ---- name clashes ------------------------------------------------------ */

typedef struct names {
    char **v;
    size_t n;
} names;

static void name_add(se_gen *g, names *ns, const char *where, char *name)
{
    for (size_t i = 0; i < ns->n; i++)
        if (strcmp(ns->v[i], name) == 0)
            gen_error(g, "%s: generated name %s is defined twice; rename the method "
                      "or service", where, name);
    ns->v = xrealloc(ns->v, (ns->n + 1) * sizeof *ns->v);
    ns->v[ns->n++] = name;
}

/* Every identifier this file defines must be unique (e.g. a method named
 * "Register" would collide with <prefix>_register). */
static void check_names(se_gen *g, const char *file, svc *sv, size_t n)
{
    names ns = {0};
    for (size_t i = 0; i < n; i++) {
        const char *p = sv[i].p;
        static const char *const fixed[] = {"_service", "_methods", "_routes", "_handlers",
                                            "_register", "_N_METHODS"};
        for (size_t k = 0; k < sizeof fixed / sizeof fixed[0]; k++)
            name_add(g, &ns, file, xasprintf("%s%s", p, fixed[k]));
        for (size_t j = 0; j < sv[i].n; j++) {
            const char *m = sv[i].m[j].snake;
            name_add(g, &ns, file, xasprintf("%s_%s", p, m));
            name_add(g, &ns, file, xasprintf("%s_%s_async", p, m));
            name_add(g, &ns, file, xasprintf("%s_%s_open", p, m));
            name_add(g, &ns, file, xasprintf("%s_%s_cb", p, m));
            name_add(g, &ns, file, xasprintf("%s_METHOD_%s", p, sv[i].m[j].upper));
        }
    }
    for (size_t i = 0; i < ns.n; i++)
        free(ns.v[i]);
    free(ns.v);
}

/* ---- header ------------------------------------------------------------ */

static void guard_name(sbuf *b, const char *file)
{
    char *stem = strip_proto(file, "");
    sb_printf(b, "SE_GEN_");
    for (const char *c = stem; *c; c++) {
        char u = (*c >= 'a' && *c <= 'z') ? (char)(*c - 'a' + 'A') : *c;
        if (!((u >= 'A' && u <= 'Z') || (u >= '0' && u <= '9')))
            u = '_';
        sb_append(b, &u, 1);
    }
    sb_printf(b, "_SE_H");
    free(stem);
}

/* Own .pb-c.h first, then the headers of other files whose messages the
 * methods use, in request order, each once. */
static void emit_includes(se_gen *g, sbuf *b, const Google__Protobuf__FileDescriptorProto *f,
                          svc *sv, size_t n)
{
    char *own = strip_proto(f->name, ".pb-c.h");
    sb_printf(b, "#include \"se_rpc.h\"\n#include \"%s\"\n", own);
    free(own);
    for (size_t fi = 0; fi < g->req->n_proto_file; fi++) {
        const Google__Protobuf__FileDescriptorProto *dep = g->req->proto_file[fi];
        int used = 0;
        for (size_t i = 0; i < n && dep != f; i++)
            for (size_t j = 0; j < sv[i].n; j++)
                used |= (sv[i].m[j].in && sv[i].m[j].in->file == dep) ||
                        (sv[i].m[j].out && sv[i].m[j].out->file == dep);
        if (used) {
            char *h = strip_proto(dep->name, ".pb-c.h");
            sb_printf(b, "#include \"%s\"\n", h);
            free(h);
        }
    }
}

static const char *kind_text(mkind k)
{
    static const char *const t[] = {"unary", "server streaming", "client streaming",
                                    "bidirectional streaming"};
    return t[k];
}

/* The doc comment of a method: proto comment, then its signature line. */
static void method_doc(sbuf *b, const svc *sv, const mth *x, int indent, const char *extra)
{
    sbuf d = {0};
    if (x->comment != NULL)
        sb_printf(&d, "%s\n", x->comment);
    sb_printf(&d, "%s %s: %s%s.", sv->full, x->m->name, kind_text(x->kind),
              x->opts.idempotent ? ", idempotent (retried on UNAVAILABLE)" : "");
    for (size_t r = 0; r < x->opts.n_routes; r++)
        sb_printf(&d, "\nREST: %s %s -> %d", x->opts.routes[r].http_method,
                  x->opts.routes[r].path, x->opts.success_status);
    if (extra != NULL)
        sb_printf(&d, "\n%s", extra);
    sb_comment(b, d.s, indent);
    sb_free(&d);
}

static void emit_decls(sbuf *b, const svc *sv)
{
    sb_printf(b, "\n/* ==== %s ==== */\n\n", sv->full);
    sb_comment(b, sv->comment, 0);
    sb_printf(b, "enum {\n");
    for (size_t i = 0; i < sv->n; i++)
        sb_printf(b, "    %s_METHOD_%s = %zu,\n", sv->P, sv->m[i].upper, i);
    sb_printf(b, "    %s_N_METHODS = %zu\n};\n\n", sv->P, sv->n);
    sb_printf(b,
              "/* The service, its methods (indexed by the enum above) and its REST\n"
              " * routes; both tables end with an all-zero entry. */\n"
              "extern const se_service_desc %s_service;\n"
              "extern const se_method_desc %s_methods[];\n"
              "extern const se_http_route %s_routes[];\n\n", sv->p, sv->p, sv->p);
}

static void emit_handlers(sbuf *b, const svc *sv)
{
    sb_printf(b,
              "/* Server side: one handler per method, called on a server thread with\n"
              " * the decoded request (valid until the call completes); it completes\n"
              " * the call exactly once (se_rpc.h). A NULL slot answers UNIMPLEMENTED. */\n"
              "typedef struct %s_handlers {\n", sv->p);
    for (size_t i = 0; i < sv->n; i++) {
        const mth *x = &sv->m[i];
        const char *extra = x->kind >= KIND_CLIENT_STREAMING
            ? "Called once per received message, then once with req == NULL at the "
              "end of the client stream."
            : NULL;
        method_doc(b, sv, x, 4, extra);
        sb_printf(b, "    void (*%s)(se_call *call, const %s *req, void *ctx);\n",
                  x->snake, x->in ? x->in->c_type : "void");
    }
    if (sv->n == 0)
        sb_printf(b, "    char no_methods_; /* C11 has no empty structs */\n");
    sb_printf(b, "} %s_handlers;\n\n", sv->p);
    sb_printf(b,
              "/* Registers the handler table on `s` (before se_server_start). `h` and\n"
              " * `ctx` must outlive the server. ON ERROR: -1, logged. */\n"
              "static inline int %s_register(\n"
              "        se_server *s, const %s_handlers *h, void *ctx)\n"
              "{\n"
              "    return se_server_add_service(s, &%s_service, h, ctx);\n"
              "}\n", sv->p, sv->p, sv->p);
}

static void emit_unary_client(sbuf *b, const svc *sv, const mth *x)
{
    const char *p = sv->p, *req = x->in->c_type, *resp = x->out->c_type;
    sb_printf(b, "\n");
    method_doc(b, sv, x, 0,
               "Blocking call: 0 and *resp (yours: se_msg_free) on OK; else -1, *resp\n"
               "NULL and `st` says why. `_async`: cb runs once on a runtime client\n"
               "thread (resp yours, NULL unless OK); NULL return: cb never runs.");
    sb_printf(b,
              "static inline int %s_%s(\n"
              "        se_channel *ch, const %s *req, %s **resp,\n"
              "        const se_call_opts *opts, se_status *st)\n"
              "{\n"
              "    ProtobufCMessage *out = NULL;\n"
              "    int rc = se_rpc_unary(ch, &%s_methods[%s_METHOD_%s],\n"
              "                          (const ProtobufCMessage *)req, &out, opts, st);\n"
              "    *resp = (%s *)out;\n"
              "    return rc;\n"
              "}\n\n", p, x->snake, req, resp, p, sv->P, x->upper, resp);
    sb_printf(b,
              "typedef void (*%s_%s_cb)(\n"
              "        void *arg, const se_status *st, %s *resp);\n\n"
              "static inline void %s__%s_adapt(void (*fn)(void), void *arg,\n"
              "        const se_status *st, ProtobufCMessage *resp)\n"
              "{\n"
              "    ((%s_%s_cb)fn)(arg, st, (%s *)resp);\n"
              "}\n\n", p, x->snake, resp, p, x->snake, p, x->snake, resp);
    sb_printf(b,
              "static inline se_pending *%s_%s_async(\n"
              "        se_channel *ch, const %s *req,\n"
              "        const se_call_opts *opts, %s_%s_cb cb, void *arg)\n"
              "{\n"
              "    return se_rpc_unary_async_typed(ch, &%s_methods[%s_METHOD_%s],\n"
              "                                    (const ProtobufCMessage *)req, opts,\n"
              "                                    %s__%s_adapt, (void (*)(void))cb, arg);\n"
              "}\n", p, x->snake, req, p, x->snake, p, sv->P, x->upper, p, x->snake);
}

static void emit_stream_client(sbuf *b, const svc *sv, const mth *x)
{
    const char *p = sv->p, *req = x->in->c_type;
    sb_printf(b, "\n");
    char *doc = xasprintf("`_open`: a blocking reader (se_stream_read gives each %s,\n"
                          "yours: se_msg_free; then se_stream_close); NULL and `st` set on\n"
                          "failure to start. `_async`: cbs->on_message per message, then\n"
                          "cbs->on_end once, on a runtime client thread; NULL: no callback.",
                          x->out->c_type);
    method_doc(b, sv, x, 0, doc);
    free(doc);
    sb_printf(b,
              "static inline se_stream *%s_%s_open(\n"
              "        se_channel *ch, const %s *req,\n"
              "        const se_call_opts *opts, se_status *st)\n"
              "{\n"
              "    return se_rpc_stream_open(ch, &%s_methods[%s_METHOD_%s],\n"
              "                              (const ProtobufCMessage *)req, opts, st);\n"
              "}\n\n", p, x->snake, req, p, sv->P, x->upper);
    sb_printf(b,
              "static inline se_pending *%s_%s_async(\n"
              "        se_channel *ch, const %s *req,\n"
              "        const se_call_opts *opts, const se_stream_cbs *cbs, void *arg)\n"
              "{\n"
              "    return se_rpc_stream_async(ch, &%s_methods[%s_METHOD_%s],\n"
              "                               (const ProtobufCMessage *)req, opts, cbs, arg);\n"
              "}\n", p, x->snake, req, p, sv->P, x->upper);
}

static void emit_clients(sbuf *b, const svc *sv)
{
    int any = 0;
    for (size_t i = 0; i < sv->n; i++) {
        const mth *x = &sv->m[i];
        if (x->kind >= KIND_CLIENT_STREAMING)
            continue; /* client and bidi streams: server side only */
        if (!any++)
            sb_printf(b, "\n/* ---- %s client ---- */\n", sv->full);
        if (x->kind == KIND_UNARY)
            emit_unary_client(b, sv, x);
        else
            emit_stream_client(b, sv, x);
    }
}

static void emit_header(se_gen *g, const Google__Protobuf__FileDescriptorProto *f, svc *sv,
                        size_t n, sbuf *b)
{
    sb_printf(b, "/* Generated by protoc-gen-se from %s; do not edit. */\n", f->name);
    sb_printf(b, "#ifndef ");
    guard_name(b, f->name);
    sb_printf(b, "\n#define ");
    guard_name(b, f->name);
    sb_printf(b, "\n\n");
    emit_includes(g, b, f, sv, n);
    for (size_t i = 0; i < n; i++) {
        emit_decls(b, &sv[i]);
        emit_handlers(b, &sv[i]);
        emit_clients(b, &sv[i]);
    }
    sb_printf(b, "\n#endif\n");
}

/* ---- source ------------------------------------------------------------ */

static void emit_invokers(sbuf *b, const svc *sv)
{
    for (size_t i = 0; i < sv->n; i++) {
        const mth *x = &sv->m[i];
        sb_printf(b,
                  "static int %s__%s_invoke(se_call *call, const ProtobufCMessage *req,\n"
                  "        const void *handlers, void *ctx)\n"
                  "{\n"
                  "    const %s_handlers *h = handlers;\n"
                  "    if (h->%s == NULL)\n"
                  "        return -1;\n"
                  "    h->%s(call, (const %s *)req, ctx);\n"
                  "    return 0;\n"
                  "}\n\n", sv->p, x->snake, sv->p, x->snake, x->snake, x->in->c_type);
    }
}

static void emit_methods(sbuf *b, const svc *sv)
{
    sb_printf(b, "const se_method_desc %s_methods[] = {\n", sv->p);
    for (size_t i = 0; i < sv->n; i++) {
        const mth *x = &sv->m[i];
        sb_printf(b, "    [%s_METHOD_%s] = {\n        .path = ", sv->P, x->upper);
        char *path = xasprintf("/%s/%s", sv->full, x->m->name);
        sb_cstr_or_null(b, path);
        free(path);
        sb_printf(b, ",\n        .name = ");
        sb_cstr_or_null(b, x->m->name);
        sb_printf(b,
                  ",\n        .kind = %s,\n        .idempotent = %d,\n"
                  "        .input = &%s,\n        .output = &%s,\n"
                  "        .invoke = %s__%s_invoke,\n    },\n",
                  kind_names[x->kind], x->opts.idempotent, x->in->c_desc, x->out->c_desc,
                  sv->p, x->snake);
    }
    sb_printf(b, "    [%s_N_METHODS] = {.path = NULL},\n};\n\n", sv->P);
}

static void emit_route(sbuf *b, const svc *sv, const mth *x, const se_route *r)
{
    sb_printf(b, "    {\n        .http_method = ");
    sb_cstr_or_null(b, r->http_method);
    sb_printf(b, ",\n        .path = ");
    sb_cstr_or_null(b, r->path);
    sb_printf(b, ",\n        .body = ");
    sb_cstr_or_null(b, r->body);
    sb_printf(b, ",\n        .response_body = ");
    sb_cstr_or_null(b, r->response_body);
    sb_printf(b,
              ",\n        .success_status = %d,\n        .timeout_ms = %d,\n"
              "        .method = &%s_methods[%s_METHOD_%s],\n    },\n",
              x->opts.success_status, x->opts.timeout_ms, sv->p, sv->P, x->upper);
}

static void emit_routes_service(sbuf *b, const svc *sv, const char *file)
{
    sb_printf(b, "const se_http_route %s_routes[] = {\n", sv->p);
    for (size_t i = 0; i < sv->n; i++)
        for (size_t r = 0; r < sv->m[i].opts.n_routes; r++)
            emit_route(b, sv, &sv->m[i], &sv->m[i].opts.routes[r]);
    sb_printf(b, "    {.http_method = NULL},\n};\n\n");
    sb_printf(b, "const se_service_desc %s_service = {\n    .name = ", sv->p);
    sb_cstr_or_null(b, sv->full);
    sb_printf(b, ",\n    .file = ");
    sb_cstr_or_null(b, file);
    sb_printf(b,
              ",\n    .n_methods = %s_N_METHODS,\n    .methods = %s_methods,\n"
              "    .n_routes = %zu,\n    .routes = %s_routes,\n};\n",
              sv->P, sv->p, sv->n_routes, sv->p);
}

static void emit_source(const Google__Protobuf__FileDescriptorProto *f, svc *sv, size_t n,
                        sbuf *b)
{
    char *h = strip_proto(f->name, ".se.h");
    sb_printf(b, "/* Generated by protoc-gen-se from %s; do not edit. */\n"
              "#include \"%s\"\n", f->name, h);
    free(h);
    for (size_t i = 0; i < n; i++) {
        sb_printf(b, "\n/* ==== %s ==== */\n\n", sv[i].full);
        emit_invokers(b, &sv[i]);
        emit_methods(b, &sv[i]);
        emit_routes_service(b, &sv[i], f->name);
    }
}

void emit_file(se_gen *g, const Google__Protobuf__FileDescriptorProto *f, se_outs *out)
{
    if (f->n_service == 0)
        return;
    svc *sv = xcalloc(f->n_service, sizeof *sv);
    for (size_t i = 0; i < f->n_service; i++)
        svc_init(g, f, &sv[i], i);
    check_names(g, f->name, sv, f->n_service);
    if (g->error == NULL) {
        sbuf h = {0}, c = {0};
        emit_header(g, f, sv, f->n_service, &h);
        emit_source(f, sv, f->n_service, &c);
        outs_add(out, strip_proto(f->name, ".se.h"), &h);
        outs_add(out, strip_proto(f->name, ".se.c"), &c);
    }
    for (size_t i = 0; i < f->n_service; i++)
        svc_dispose(&sv[i]);
    free(sv);
}

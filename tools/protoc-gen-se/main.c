/* main.c - protoc-gen-se: protoc plugin writing our RPC stubs into gen/.
 *
 * protoc runs it with a CodeGeneratorRequest on stdin and reads a
 * CodeGeneratorResponse from stdout (see plugin.h for the design).
 * Exit status: 0 when a response was written (it may carry an error that
 * protoc then reports), 1 when stdin/stdout failed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "plugin.h"

/* ---- input ------------------------------------------------------------- */

static uint8_t *read_all(FILE *f, size_t *len)
{
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = xmalloc(cap);
    for (;;) {
        if (n == cap)
            buf = xrealloc(buf, cap *= 2);
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    if (ferror(f)) {
        perror("protoc-gen-se: reading stdin");
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

static size_t varint_at(const uint8_t *p, size_t n, uint64_t *v)
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

/* Finds the raw bytes of every proto_file (field 15) in the serialized
 * request, so the registry holds exactly what protoc sent (extensions in
 * options included) with no re-encoding. Returns -1 on malformed input. */
static int slice_files(se_gen *g, const uint8_t *p, size_t n)
{
    size_t count = 0, want = g->req->n_proto_file;
    g->file_data = xcalloc(want, sizeof *g->file_data);
    g->file_len = xcalloc(want, sizeof *g->file_len);
    while (n > 0) {
        uint64_t key, v;
        size_t used = varint_at(p, n, &key);
        if (used == 0)
            return -1;
        p += used, n -= used;
        switch (key & 7) {
        case 0: used = varint_at(p, n, &v); if (used == 0) return -1; break;
        case 1: if (n < 8) return -1; used = 8; break;
        case 5: if (n < 4) return -1; used = 4; break;
        case 2:
            used = varint_at(p, n, &v);
            if (used == 0 || v > n - used)
                return -1;
            if ((key >> 3) == 15 && count < want) {
                g->file_data[count] = p + used;
                g->file_len[count++] = (size_t)v;
            }
            used += (size_t)v;
            break;
        default: return -1;
        }
        p += used, n -= used;
    }
    return count == want ? 0 : -1;
}

/* ---- symbol table ------------------------------------------------------ */

static void add_messages(se_gen *g, const Google__Protobuf__FileDescriptorProto *f,
                         const char *scope, Google__Protobuf__DescriptorProto **msgs,
                         size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const Google__Protobuf__DescriptorProto *m = msgs[i];
        g->syms = xrealloc(g->syms, (g->n_syms + 1) * sizeof *g->syms);
        se_msg_sym *s = &g->syms[g->n_syms++];
        s->full_name = xasprintf("%s.%s", scope, m->name);
        s->c_type = pbc_type_name(s->full_name);
        char *lower = pbc_lower_name(s->full_name);
        s->c_desc = xasprintf("%s__descriptor", lower);
        free(lower);
        s->file = f;
        s->msg = m;
        char *inner = xstrdup(s->full_name); /* g->syms may move */
        add_messages(g, f, inner, m->nested_type, m->n_nested_type);
        free(inner);
    }
}

static void build_symbols(se_gen *g)
{
    for (size_t i = 0; i < g->req->n_proto_file; i++) {
        const Google__Protobuf__FileDescriptorProto *f = g->req->proto_file[i];
        char *scope = f->package && f->package[0] ? xasprintf(".%s", f->package) : xstrdup("");
        add_messages(g, f, scope, f->message_type, f->n_message_type);
        free(scope);
    }
}

const se_msg_sym *gen_lookup(se_gen *g, const char *full_name)
{
    for (size_t i = 0; i < g->n_syms; i++)
        if (strcmp(g->syms[i].full_name, full_name) == 0)
            return &g->syms[i];
    gen_error(g, "unknown message type %s", full_name);
    return NULL;
}

const Google__Protobuf__FileDescriptorProto *gen_file(const se_gen *g, const char *name)
{
    for (size_t i = 0; i < g->req->n_proto_file; i++)
        if (strcmp(g->req->proto_file[i]->name, name) == 0)
            return g->req->proto_file[i];
    return NULL;
}

const char *gen_comment(const Google__Protobuf__FileDescriptorProto *f,
                        const int32_t *path, size_t n_path)
{
    const Google__Protobuf__SourceCodeInfo *sci = f->source_code_info;
    for (size_t i = 0; sci != NULL && i < sci->n_location; i++) {
        const Google__Protobuf__SourceCodeInfo__Location *l = sci->location[i];
        if (l->n_path == n_path && memcmp(l->path, path, n_path * sizeof *path) == 0)
            return l->leading_comments;
    }
    return NULL;
}

void gen_error(se_gen *g, const char *fmt, ...)
{
    if (g->error != NULL)
        return;
    sbuf b = {0};
    va_list ap;
    va_start(ap, fmt);
    sb_vprintf(&b, fmt, ap);
    va_end(ap);
    g->error = b.s;
}

void outs_add(se_outs *o, char *name, sbuf *content)
{
    if (o->n == o->cap) {
        o->cap = o->cap ? 2 * o->cap : 16;
        o->v = xrealloc(o->v, o->cap * sizeof *o->v);
    }
    o->v[o->n].name = name;
    o->v[o->n].content = content->s ? content->s : xstrdup("");
    o->n++;
    content->s = NULL;
    content->len = content->cap = 0;
}

/* ---- output ------------------------------------------------------------ */

static int write_response(const se_gen *g, const se_outs *outs)
{
    Google__Protobuf__Compiler__CodeGeneratorResponse resp =
        GOOGLE__PROTOBUF__COMPILER__CODE_GENERATOR_RESPONSE__INIT;
    Google__Protobuf__Compiler__CodeGeneratorResponse__File *files = NULL, **fp = NULL;
    resp.has_supported_features = 1;
    resp.supported_features =
        GOOGLE__PROTOBUF__COMPILER__CODE_GENERATOR_RESPONSE__FEATURE__FEATURE_PROTO3_OPTIONAL;
    if (g->error != NULL) {
        resp.error = g->error;
    } else {
        files = xcalloc(outs->n, sizeof *files);
        fp = xcalloc(outs->n, sizeof *fp);
        for (size_t i = 0; i < outs->n; i++) {
            google__protobuf__compiler__code_generator_response__file__init(&files[i]);
            files[i].name = outs->v[i].name;
            files[i].content = outs->v[i].content;
            fp[i] = &files[i];
        }
        resp.n_file = outs->n;
        resp.file = fp;
    }
    size_t len = google__protobuf__compiler__code_generator_response__get_packed_size(&resp);
    uint8_t *buf = xmalloc(len);
    google__protobuf__compiler__code_generator_response__pack(&resp, buf);
    int rc = fwrite(buf, 1, len, stdout) == len && fflush(stdout) == 0 ? 0 : -1;
    if (rc != 0)
        perror("protoc-gen-se: writing stdout");
    free(buf);
    free(files);
    free(fp);
    return rc;
}

static void gen_dispose(se_gen *g, se_outs *outs)
{
    for (size_t i = 0; i < g->n_syms; i++) {
        free(g->syms[i].full_name);
        free(g->syms[i].c_type);
        free(g->syms[i].c_desc);
    }
    free(g->syms);
    free(g->file_data);
    free(g->file_len);
    free(g->error);
    for (size_t i = 0; i < outs->n; i++) {
        free(outs->v[i].name);
        free(outs->v[i].content);
    }
    free(outs->v);
}

int main(void)
{
    size_t len;
    uint8_t *in = read_all(stdin, &len);
    if (in == NULL)
        return 1;
    Google__Protobuf__Compiler__CodeGeneratorRequest *req =
        google__protobuf__compiler__code_generator_request__unpack(NULL, len, in);
    if (req == NULL) {
        fprintf(stderr, "protoc-gen-se: stdin is not a CodeGeneratorRequest (%zu bytes)\n", len);
        free(in);
        return 1;
    }
    se_gen g = {.req = req};
    se_outs outs = {0};
    if (slice_files(&g, in, len) != 0)
        gen_error(&g, "cannot locate proto_file entries in the request");
    build_symbols(&g);
    for (size_t i = 0; i < req->n_file_to_generate && g.error == NULL; i++) {
        const Google__Protobuf__FileDescriptorProto *f = gen_file(&g, req->file_to_generate[i]);
        if (f == NULL)
            gen_error(&g, "%s: not among the request's proto_file", req->file_to_generate[i]);
        else
            emit_file(&g, f, &outs);
    }
    if (g.error == NULL)
        emit_registry(&g, &outs);
    int rc = write_response(&g, &outs) == 0 ? 0 : 1;
    gen_dispose(&g, &outs);
    google__protobuf__compiler__code_generator_request__free_unpacked(req, NULL);
    free(in);
    return rc;
}

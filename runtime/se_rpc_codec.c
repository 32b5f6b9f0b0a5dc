/* se_rpc_codec.c - protobuf-c messages <-> gRPC byte buffers, and statuses.
 *
 * Encoding packs straight into one gRPC slice (no intermediate buffer).
 * Decoding reads a single-slice buffer in place; a multi-slice buffer (a
 * large message split by the transport) is joined once first. A server
 * call's request is decoded into the call's own memory (no malloc/free per
 * field; it goes away with the call, which is exactly its lifetime).
 */
#include <string.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/slice.h>

#include "se_rpc_priv.h"

grpc_slice se__encode_slice(const ProtobufCMessage *msg)
{
    size_t len = protobuf_c_message_get_packed_size(msg);
    grpc_slice s = grpc_slice_malloc(len);
    size_t n = protobuf_c_message_pack(msg, GRPC_SLICE_START_PTR(s));
    (void)n; /* protobuf-c packs exactly get_packed_size() bytes */
    return s;
}

grpc_byte_buffer *se__encode(const ProtobufCMessage *msg)
{
    grpc_slice s = se__encode_slice(msg);
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    return bb;
}

static void *call_alloc(void *data, size_t size)
{
    se_call *c = data;
    size_t need = (size + 15) & ~(size_t)15;
    if (need <= SE_CALL_ARENA - c->arena_used) {
        void *p = c->arena + c->arena_used;
        c->arena_used += need;
        return p;
    }
    /* grpc_call_arena_alloc sets up an ExecCtx per call: only for spills */
    return grpc_call_arena_alloc(c->call, need ? need : 16);
}

static void call_free(void *data, void *p)
{
    (void)data;
    (void)p;
}

ProtobufCAllocator se__call_allocator(se_call *c)
{
    return (ProtobufCAllocator){.alloc = call_alloc, .free = call_free, .allocator_data = c};
}

ProtobufCMessage *se__decode(const ProtobufCMessageDescriptor *desc, grpc_byte_buffer *bb,
                             ProtobufCAllocator *alloc)
{
    if (bb->type != GRPC_BB_RAW || bb->data.raw.compression != GRPC_COMPRESS_NONE ||
        bb->data.raw.slice_buffer.count != 1) {
        /* compressed or split: let the reader decompress and join */
        grpc_byte_buffer_reader rd;
        if (!grpc_byte_buffer_reader_init(&rd, bb))
            return NULL;
        grpc_slice all = grpc_byte_buffer_reader_readall(&rd);
        grpc_byte_buffer_reader_destroy(&rd);
        ProtobufCMessage *m = protobuf_c_message_unpack(desc, alloc, GRPC_SLICE_LENGTH(all),
                                                        GRPC_SLICE_START_PTR(all));
        grpc_slice_unref(all);
        return m;
    }
    grpc_slice s = bb->data.raw.slice_buffer.slices[0];
    return protobuf_c_message_unpack(desc, alloc, GRPC_SLICE_LENGTH(s), GRPC_SLICE_START_PTR(s));
}

void se__status_from_grpc(se_status *st, grpc_status_code code, grpc_slice details)
{
    st->code = code;
    size_t n = GRPC_SLICE_LENGTH(details);
    if (n >= sizeof st->message)
        n = sizeof st->message - 1;
    memcpy(st->message, GRPC_SLICE_START_PTR(details), n);
    st->message[n] = '\0';
}

/* se_rpc_stream.c - server-streaming calls with a blocking reader.
 *
 * DESIGN
 * Each se_stream owns a GRPC_CQ_PLUCK completion queue, so several streams
 * (and blocking unary calls) can be read from one thread without mixing
 * their events. Open starts two batches (send side + RECV_INITIAL_METADATA;
 * RECV_STATUS_ON_CLIENT); each read starts one RECV_MESSAGE and plucks it.
 * When the reader gets the end of the stream it plucks the other two and
 * reports the status. Close cancels a stream that has not ended and plucks
 * whatever is still in flight before freeing. Streams are never retried.
 * THREAD: one thread at a time per stream.
 */
#include <string.h>

#include <grpc/byte_buffer.h>
#include <grpc/support/alloc.h>

#include "se_log.h"
#include "se_rpc_priv.h"

struct se_stream {
    const se_method_desc *m;
    grpc_call *call;
    grpc_completion_queue *cq;
    se__md_out md;               /* copied: sent after open returns */
    se__client_io io;
    int main_pending;            /* send batch not plucked yet */
    int status_pending;          /* status batch not plucked yet */
    int ended;
    se_status end_status;
    char tag_main, tag_status, tag_msg; /* addresses are the tags */
};

static void pluck(se_stream *s, void *tag)
{
    grpc_completion_queue_pluck(s->cq, tag, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
}

static void stream_free(se_stream *s)
{
    if (s->main_pending)
        pluck(s, &s->tag_main);
    if (s->status_pending)
        pluck(s, &s->tag_status);
    if (s->call)
        grpc_call_unref(s->call);
    se__io_dispose(&s->io);
    se__md_dispose(&s->md);
    grpc_completion_queue_destroy(s->cq);
    gpr_free(s);
}

se_stream *se_rpc_stream_open(se_channel *ch, const se_method_desc *m,
                              const ProtobufCMessage *req, const se_call_opts *opts,
                              se_status *st)
{
    se_stream *s = gpr_zalloc(sizeof(*s));
    s->m = m;
    s->cq = grpc_completion_queue_create_for_pluck(NULL);
    se__md_build(&s->md, opts, 1);
    grpc_slice req_s = se__encode_slice(req);
    se__io_init(&s->io, req_s);
    grpc_slice_unref(req_s);
    s->call = se__create_call(ch, m, se__parent_call(opts), s->cq, se__client_deadline(opts));

    grpc_op ops[4];
    se__io_status_op(&ops[0], &s->io);
    grpc_call_error e = grpc_call_start_batch(s->call, ops, 1, &s->tag_status, NULL);
    if (e == GRPC_CALL_OK) {
        s->status_pending = 1;
        se__io_send_ops(ops, &s->io, &s->md);
        e = grpc_call_start_batch(s->call, ops, 4, &s->tag_main, NULL);
        if (e == GRPC_CALL_OK) {
            s->main_pending = 1;
            return s;
        }
        grpc_call_cancel(s->call, NULL);
    }
    se_log_error("rpc_call_failed", "%s: cannot start stream: %s", m->path,
                 grpc_call_error_to_string(e));
    se_status_set(st, GRPC_STATUS_INTERNAL, "cannot start stream: %s",
                  grpc_call_error_to_string(e));
    stream_free(s);
    return NULL;
}

/* The stream is over: collect the status (or keep our own failure). */
static void stream_end(se_stream *s, const se_status *failure)
{
    if (s->main_pending)
        pluck(s, &s->tag_main);
    if (s->status_pending)
        pluck(s, &s->tag_status);
    s->main_pending = s->status_pending = 0;
    if (failure)
        s->end_status = *failure;
    else
        se__status_from_grpc(&s->end_status, s->io.status, s->io.details);
    s->ended = 1;
}

int se_stream_read(se_stream *s, ProtobufCMessage **msg, se_status *st)
{
    *msg = NULL;
    if (!s->ended) {
        grpc_op op;
        se__io_recv_message_op(&op, &s->io);
        grpc_call_error e = grpc_call_start_batch(s->call, &op, 1, &s->tag_msg, NULL);
        se_status failure;
        if (e != GRPC_CALL_OK) {
            se_status_set(&failure, GRPC_STATUS_INTERNAL, "cannot read stream: %s",
                          grpc_call_error_to_string(e));
            grpc_call_cancel(s->call, NULL);
            stream_end(s, &failure);
        } else {
            pluck(s, &s->tag_msg);
            grpc_byte_buffer *bb = s->io.recv_bb;
            s->io.recv_bb = NULL;
            if (bb) {
                *msg = se__decode(s->m->output, bb, NULL);
                grpc_byte_buffer_destroy(bb);
                if (*msg)
                    return 1;
                se_status_set(&failure, GRPC_STATUS_INTERNAL, "cannot decode %s",
                              s->m->output->name);
                grpc_call_cancel_with_status(s->call, failure.code, failure.message, NULL);
                stream_end(s, &failure);
            } else {
                stream_end(s, NULL);
            }
        }
    }
    *st = s->end_status;
    return 0;
}

void se_stream_close(se_stream *s)
{
    if (!s)
        return;
    if (!s->ended)
        grpc_call_cancel(s->call, NULL);
    stream_free(s);
}

/* gw_arena.h - a bump allocator for decoded RPC responses, as a
 * ProtobufCAllocator (se_call_opts.resp_allocator).
 *
 * A response of many small fields costs no malloc/free per field: it is
 * decoded into one buffer the owner keeps across calls (allocated on first
 * use), with malloc'd spills for what does not fit, and released all at
 * once by gw_arena_reset. frees are no-ops.
 *
 * THREAD: one thread at a time; the hand-off between the runtime client
 * thread (which decodes into it) and the loop (which reads and resets it)
 * is ordered by the task post. OWNERSHIP: embedded in its owner, which
 * must not move while the allocator is in use (alloc.allocator_data points
 * at the arena).
 */
#ifndef GW_ARENA_H
#define GW_ARENA_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

typedef struct gw_arena_spill gw_arena_spill;

typedef struct gw_arena {
    char *buf;                /* `cap` bytes, allocated on first use */
    size_t cap;
    size_t used;
    gw_arena_spill *spills;
    ProtobufCAllocator alloc; /* allocator_data = this arena */
} gw_arena;

/* `bytes`: the size of the kept buffer. Allocates nothing yet. */
void gw_arena_init(gw_arena *a, size_t bytes);
/* Forgets everything allocated; keeps buf for the next response. */
void gw_arena_reset(gw_arena *a);
/* Frees everything, buf too (the arena may be initialised again). */
void gw_arena_dispose(gw_arena *a);

#endif

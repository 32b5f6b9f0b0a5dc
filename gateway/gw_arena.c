/* gw_arena.c - the bump allocator of decoded responses (gw_arena.h). */
#include "gw_arena.h"

#include <stdlib.h>
#include <string.h>

#define ARENA_ALIGN 16

struct gw_arena_spill {
    struct gw_arena_spill *next;
    max_align_t data[];
};

static void *arena_alloc(void *data, size_t size)
{
    gw_arena *a = data;
    size_t need = (size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    if (a->buf == NULL && (a->buf = malloc(a->cap)) == NULL)
        return NULL; /* the decode fails: the caller sees INTERNAL */
    if (need <= a->cap - a->used) {
        void *p = a->buf + a->used;
        a->used += need;
        return p;
    }
    gw_arena_spill *s = malloc(sizeof *s + need);
    if (s == NULL)
        return NULL;
    s->next = a->spills;
    a->spills = s;
    return s->data;
}

static void arena_free(void *data, void *p)
{
    (void)data;
    (void)p; /* released all at once by gw_arena_reset */
}

void gw_arena_init(gw_arena *a, size_t bytes)
{
    memset(a, 0, sizeof *a);
    a->cap = bytes;
    a->alloc = (ProtobufCAllocator){arena_alloc, arena_free, a};
}

void gw_arena_reset(gw_arena *a)
{
    while (a->spills != NULL) {
        gw_arena_spill *s = a->spills;
        a->spills = s->next;
        free(s);
    }
    a->used = 0;
}

void gw_arena_dispose(gw_arena *a)
{
    gw_arena_reset(a);
    free(a->buf);
    a->buf = NULL;
}

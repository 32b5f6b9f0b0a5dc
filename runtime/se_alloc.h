/* se_alloc.h - allocation that never returns NULL.
 *
 * Our policy for small, bounded allocations (messages, rows, table nodes):
 * running out of memory is not a condition a service can recover from in a
 * useful way, so these log an "out_of_memory" line with the size and abort
 * instead of handing every caller a NULL to check. Sizes of 0 allocate 1
 * byte, so a valid pointer always comes back. Allocations whose size comes
 * from a client must be bounded by the caller first.
 * OWNERSHIP: the caller frees with free(). THREAD: any.
 */
#ifndef SE_ALLOC_H
#define SE_ALLOC_H

#include <stddef.h>

void *se_xmalloc(size_t n);
void *se_xcalloc(size_t n, size_t size);
void *se_xrealloc(void *p, size_t n);
char *se_xstrdup(const char *s);        /* NULL stays NULL */
char *se_xstrndup(const char *s, size_t n);

#endif

#include "se_alloc.h"

#include <stdlib.h>
#include <string.h>

#include "se_log.h"

static void *checked(void *p, const char *what, size_t n)
{
    if (p == NULL) {
        se_log_error("out_of_memory", "%s(%zu) failed", what, n);
        abort();
    }
    return p;
}

void *se_xmalloc(size_t n)
{
    return checked(malloc(n ? n : 1), "malloc", n);
}

void *se_xcalloc(size_t n, size_t size)
{
    return checked(calloc(n ? n : 1, size ? size : 1), "calloc", n * size);
}

void *se_xrealloc(void *p, size_t n)
{
    return checked(realloc(p, n ? n : 1), "realloc", n);
}

char *se_xstrndup(const char *s, size_t n)
{
    if (s == NULL)
        return NULL;
    size_t len = strnlen(s, n);
    char *d = se_xmalloc(len + 1);
    memcpy(d, s, len);
    d[len] = '\0';
    return d;
}

char *se_xstrdup(const char *s)
{
    return s == NULL ? NULL : se_xstrndup(s, strlen(s));
}

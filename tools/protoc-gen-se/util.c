/* util.c - allocation, growable strings and comment formatting. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "plugin.h"

static void oom(size_t n)
{
    fprintf(stderr, "protoc-gen-se: out of memory allocating %zu bytes\n", n);
    abort();
}

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL)
        oom(n);
    return p;
}

void *xcalloc(size_t n, size_t sz)
{
    void *p = calloc(n ? n : 1, sz ? sz : 1);
    if (p == NULL)
        oom(n * sz);
    return p;
}

void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (q == NULL)
        oom(n);
    return q;
}

char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    return memcpy(xmalloc(n), s, n);
}

char *xasprintf(const char *fmt, ...)
{
    sbuf b = {0};
    va_list ap;
    va_start(ap, fmt);
    sb_vprintf(&b, fmt, ap);
    va_end(ap);
    return b.s;
}

static void sb_reserve(sbuf *b, size_t extra)
{
    if (b->len + extra + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1)
        cap *= 2;
    b->s = xrealloc(b->s, cap);
    b->cap = cap;
}

void sb_vprintf(sbuf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0) {
        fprintf(stderr, "protoc-gen-se: bad format \"%s\"\n", fmt);
        abort();
    }
    sb_reserve(b, (size_t)n);
    vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
}

void sb_printf(sbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sb_vprintf(b, fmt, ap);
    va_end(ap);
}

void sb_append(sbuf *b, const char *s, size_t n)
{
    sb_reserve(b, n);
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

void sb_free(sbuf *b)
{
    free(b->s);
    b->s = NULL;
    b->len = b->cap = 0;
}

/* Appends one comment line with trailing blanks removed and comment
 * delimiters defused. */
static void comment_line(sbuf *b, const char *line, size_t n, int indent)
{
    while (n > 0 && (line[n - 1] == ' ' || line[n - 1] == '\t' || line[n - 1] == '\r'))
        n--;
    sb_printf(b, "%*s *", indent, "");
    if (n > 0 && line[0] != ' ')
        sb_append(b, " ", 1); /* also keeps a leading '/' from closing the comment */
    for (size_t i = 0; i < n; i++) {
        char c = line[i];
        if ((c == '*' && i + 1 < n && line[i + 1] == '/') ||
            (c == '/' && i + 1 < n && line[i + 1] == '*'))
            c = ' ';
        sb_append(b, &c, 1);
    }
    sb_append(b, "\n", 1);
}

void sb_comment(sbuf *b, const char *text, int indent)
{
    if (text == NULL)
        return;
    size_t len = strlen(text);
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == ' '))
        len--;
    if (len == 0)
        return;
    sb_printf(b, "%*s/*\n", indent, "");
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        comment_line(b, p, n, indent);
        p += n + (nl ? 1 : 0);
    }
    sb_printf(b, "%*s */\n", indent, "");
}

void sb_cquote(sbuf *b, const char *s, size_t n)
{
    sb_append(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        /* '?' is escaped too: -std=c11 enables trigraphs */
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\' && c != '?')
            sb_append(b, (const char *)&c, 1);
        else
            sb_printf(b, "\\%03o", c); /* 3 octal digits: never absorbs the next char */
    }
    sb_append(b, "\"", 1);
}

void sb_cstr_or_null(sbuf *b, const char *s)
{
    if (s == NULL)
        sb_append(b, "NULL", 4);
    else
        sb_cquote(b, s, strlen(s));
}

/* names.c - C identifiers: protoc-c's (which we must match exactly, see
 * protobuf-c's protoc-c/c_helpers.cc FullNameToC/FullNameToLower) and ours. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include "plugin.h"

/* protoc-c ToCamel: drop '_', upper-case the first letter and each letter
 * after an '_'. */
static void pbc_camel(sbuf *b, const char *s, size_t n)
{
    int up = 1;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '_') {
            up = 1;
            continue;
        }
        if (up)
            c = (char)toupper((unsigned char)c);
        up = 0;
        sb_append(b, &c, 1);
    }
}

/* protoc-c CamelToLower: '_' before an upper-case letter that follows a
 * non-upper-case character, then lower-case everything. */
static void pbc_lower(sbuf *b, const char *s, size_t n)
{
    int was_upper = 1;
    for (size_t i = 0; i < n; i++) {
        int is_upper = isupper((unsigned char)s[i]) != 0;
        char c = (char)tolower((unsigned char)s[i]);
        if (is_upper && !was_upper)
            sb_append(b, "_", 1);
        sb_append(b, &c, 1);
        was_upper = is_upper;
    }
}

/* Splits on '.', skipping empty pieces, and joins the converted pieces
 * with "__". */
static char *pbc_join(const char *full, void (*conv)(sbuf *, const char *, size_t))
{
    sbuf b = {0};
    sb_append(&b, "", 0);
    const char *p = full;
    while (*p) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        if (n > 0) {
            if (b.len > 0)
                sb_append(&b, "__", 2);
            conv(&b, p, n);
        }
        p += n + (dot ? 1 : 0);
    }
    return b.s;
}

char *pbc_type_name(const char *full_name)
{
    return pbc_join(full_name, pbc_camel);
}

char *pbc_lower_name(const char *full_name)
{
    return pbc_join(full_name, pbc_lower);
}

char *strip_proto(const char *file, const char *suffix)
{
    size_t n = strlen(file);
    if (n >= 6 && strcmp(file + n - 6, ".proto") == 0)
        n -= 6;
    return xasprintf("%.*s%s", (int)n, file, suffix);
}

char *snake_case(const char *s)
{
    sbuf b = {0};
    sb_append(&b, "", 0);
    size_t n = strlen(s);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (isupper(c) && i > 0 && s[i - 1] != '_') {
            unsigned char prev = (unsigned char)s[i - 1];
            int next_lower = i + 1 < n && islower((unsigned char)s[i + 1]);
            if (islower(prev) || isdigit(prev) || (isupper(prev) && next_lower))
                sb_append(&b, "_", 1);
        }
        char lc = (char)tolower(c);
        sb_append(&b, &lc, 1);
    }
    return b.s;
}

char *upper_case(const char *s)
{
    char *r = xstrdup(s);
    for (char *p = r; *p; p++)
        *p = (char)toupper((unsigned char)*p);
    return r;
}

char *service_prefix(const char *package, const char *service)
{
    char *pkg = xstrdup(package ? package : "");
    for (char *p = pkg; *p; p++)
        *p = *p == '.' ? '_' : (char)tolower((unsigned char)*p);
    char *svc = snake_case(service);
    char *r = pkg[0] ? xasprintf("%s_%s", pkg, svc) : xstrdup(svc);
    free(pkg);
    free(svc);
    return r;
}

int is_c_keyword(const char *s)
{
    static const char *const kw[] = {
        "auto", "break", "case", "char", "const", "continue", "default", "do",
        "double", "else", "enum", "extern", "float", "for", "goto", "if",
        "inline", "int", "long", "register", "restrict", "return", "short",
        "signed", "sizeof", "static", "struct", "switch", "typedef", "union",
        "unsigned", "void", "volatile", "while", "bool", "true", "false",
    };
    for (size_t i = 0; i < sizeof kw / sizeof kw[0]; i++)
        if (strcmp(s, kw[i]) == 0)
            return 1;
    return 0;
}

/* gw_transcode_val.c - value conversions of the transcoder: which fields
 * are cents, enum names, RFC 3339 timestamps, exact decimals, base64.
 *
 * DESIGN: the cents fields are a set of field descriptor pointers (open
 * addressing, built once from se_registry_cents_fields); everything else is
 * computed from the descriptors on the fly (enum prefixes are a few
 * character compares) so there is no cache to keep in sync.
 */
#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gw_transcode.h"
#include "gw_transcode_internal.h"
#include "se_alloc.h"
#include "se_log.h"
#include "se_registry.h"

/* ---- cents set --------------------------------------------------------- */

static const void **cents_tab; /* slots, NULL = empty; never freed */
static unsigned cents_bits;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static size_t cents_slot(const void *p)
{
    return (size_t)(((uint64_t)(uintptr_t)p * 0x9E3779B97F4A7C15ull) >> (64 - cents_bits));
}

static void cents_insert(const void *p)
{
    size_t mask = ((size_t)1 << cents_bits) - 1;
    for (size_t i = cents_slot(p);; i = (i + 1) & mask) {
        if (cents_tab[i] == NULL || cents_tab[i] == p) {
            cents_tab[i] = p;
            return;
        }
    }
}

/* ---- per-message facts ------------------------------------------------- */

static gw__msg_meta *metas; /* open addressing by descriptor; never freed */
static unsigned meta_bits;
static size_t n_metas;

static size_t meta_slot(const void *p)
{
    return (size_t)(((uint64_t)(uintptr_t)p * 0x9E3779B97F4A7C15ull) >> (64 - meta_bits));
}

const gw__msg_meta *gw__meta(const ProtobufCMessageDescriptor *d)
{
    size_t mask = ((size_t)1 << meta_bits) - 1;
    for (size_t i = meta_slot(d);; i = (i + 1) & mask) {
        if (metas[i].desc == d)
            return &metas[i];
        if (metas[i].desc == NULL)
            return NULL;
    }
}

/* The prefix length every value of ed has, 0xFF if they differ. */
static uint8_t shared_enum_prefix(const ProtobufCEnumDescriptor *ed)
{
    size_t p = ed->n_values > 0 ? gw__enum_prefix_len(ed, ed->values[0].name) : 0;
    for (unsigned i = 1; i < ed->n_values; i++)
        if (gw__enum_prefix_len(ed, ed->values[i].name) != p)
            return 0xFF;
    return p < 0xFF ? (uint8_t)p : 0xFF;
}

/* Adds d and every message type under it (metas sized for the worst case). */
static void meta_add(const ProtobufCMessageDescriptor *d, size_t cap)
{
    if (d == NULL || gw__meta(d) != NULL || n_metas * 2 >= cap)
        return;
    size_t mask = cap - 1, i = meta_slot(d);
    while (metas[i].desc != NULL)
        i = (i + 1) & mask;
    uint16_t *len = se_xcalloc(d->n_fields, sizeof *len);
    uint8_t *cents = se_xcalloc(d->n_fields, sizeof *cents);
    uint8_t *prefix = se_xcalloc(d->n_fields, sizeof *prefix);
    for (unsigned k = 0; k < d->n_fields; k++) {
        len[k] = (uint16_t)strlen(d->fields[k].name);
        cents[k] = (uint8_t)gw__tc_is_cents(&d->fields[k]);
        prefix[k] = d->fields[k].type == PROTOBUF_C_TYPE_ENUM
                        ? shared_enum_prefix(d->fields[k].descriptor)
                        : 0xFF;
    }
    metas[i] = (gw__msg_meta){d, len, cents, prefix};
    n_metas++;
    for (unsigned k = 0; k < d->n_fields; k++)
        if (d->fields[k].type == PROTOBUF_C_TYPE_MESSAGE)
            meta_add(d->fields[k].descriptor, cap);
}

static void init_metas(void)
{
    meta_bits = 10; /* 1024 slots: the registry has ~100 message types */
    metas = se_xcalloc((size_t)1 << meta_bits, sizeof *metas);
    for (size_t i = 0; i < se_registry_n_services; i++) {
        const se_service_desc *sd = se_registry_services[i];
        for (size_t m = 0; m < sd->n_methods; m++) {
            meta_add(sd->methods[m].input, (size_t)1 << meta_bits);
            meta_add(sd->methods[m].output, (size_t)1 << meta_bits);
        }
    }
}

static void init_tables(void)
{
    cents_bits = 4;
    while (((size_t)1 << cents_bits) < 4 * se_registry_n_cents_fields)
        cents_bits++;
    cents_tab = se_xcalloc((size_t)1 << cents_bits, sizeof *cents_tab);
    for (size_t i = 0; i < se_registry_n_cents_fields; i++) {
        const se_cents_field *cf = &se_registry_cents_fields[i];
        const ProtobufCFieldDescriptor *f =
            protobuf_c_message_descriptor_get_field(cf->message, cf->field_number);
        if (f == NULL) {
            se_log_error("transcode_init", "cents field %s #%u not in its descriptor",
                         cf->message->name, cf->field_number);
            continue;
        }
        cents_insert(f);
    }
    init_metas();
}

void gw_transcode_init(void)
{
    pthread_once(&init_once, init_tables);
}

int gw__tc_is_cents(const ProtobufCFieldDescriptor *f)
{
    size_t mask = ((size_t)1 << cents_bits) - 1;
    for (size_t i = cents_slot(f);; i = (i + 1) & mask) {
        if (cents_tab[i] == f)
            return 1;
        if (cents_tab[i] == NULL)
            return 0;
    }
}

/* ---- enums ------------------------------------------------------------- */

size_t gw__enum_prefix_len(const ProtobufCEnumDescriptor *ed, const char *v)
{
    const char *t = ed->short_name;
    size_t j = 0;
    for (size_t i = 0; t[i] != '\0'; i++) {
        unsigned char c = (unsigned char)t[i];
        if (i > 0 && isupper(c) &&
            (!isupper((unsigned char)t[i - 1]) || islower((unsigned char)t[i + 1]))) {
            if (v[j++] != '_')
                return 0;
        }
        if (v[j++] != toupper(c))
            return 0;
    }
    return v[j] == '_' && v[j + 1] != '\0' ? j + 1 : 0;
}

int gw__enum_is_unspecified(const ProtobufCEnumValue *v)
{
    size_t n = strlen(v->name);
    return v->value == 0 && n >= 12 && strcmp(v->name + n - 12, "_UNSPECIFIED") == 0;
}

const ProtobufCEnumValue *gw__enum_lookup(const ProtobufCEnumDescriptor *ed, const char *s,
                                          size_t len)
{
    for (unsigned i = 0; i < ed->n_values; i++) {
        const ProtobufCEnumValue *v = &ed->values[i];
        if (gw__enum_is_unspecified(v))
            continue;
        const char *short_name = v->name + gw__enum_prefix_len(ed, v->name);
        if ((strlen(short_name) == len && strncasecmp(short_name, s, len) == 0) ||
            (strlen(v->name) == len && memcmp(v->name, s, len) == 0))
            return v;
    }
    return NULL;
}

void gw__enum_list(const ProtobufCEnumDescriptor *ed, char *dst, size_t cap)
{
    size_t o = 0;
    dst[0] = '\0';
    for (unsigned i = 0; i < ed->n_values; i++) {
        const ProtobufCEnumValue *v = &ed->values[i];
        if (gw__enum_is_unspecified(v))
            continue;
        const char *sn = v->name + gw__enum_prefix_len(ed, v->name);
        size_t n = strlen(sn);
        if (o + n + 8 >= cap) {
            memcpy(dst + o, o ? ", ..." : "...", o ? 6 : 4);
            return;
        }
        if (o) {
            memcpy(dst + o, ", ", 2);
            o += 2;
        }
        for (size_t k = 0; k < n; k++)
            dst[o++] = (char)tolower((unsigned char)sn[k]);
        dst[o] = '\0';
    }
}

/* ---- numbers ----------------------------------------------------------- */

static size_t skip_digits(const char *s, size_t len, size_t i)
{
    while (i < len && s[i] >= '0' && s[i] <= '9')
        i++;
    return i;
}

int gw__number_syntax(const char *s, size_t len)
{
    size_t i = 0, j;
    if (i < len && s[i] == '-')
        i++;
    if (i < len && s[i] == '0')
        i++;
    else if ((j = skip_digits(s, len, i)) > i)
        i = j;
    else
        return 0;
    if (i < len && s[i] == '.') {
        if ((j = skip_digits(s, len, i + 1)) == i + 1)
            return 0;
        i = j;
    }
    if (i < len && (s[i] | 0x20) == 'e') {
        i++;
        if (i < len && (s[i] == '+' || s[i] == '-'))
            i++;
        if ((j = skip_digits(s, len, i)) == i)
            return 0;
        i = j;
    }
    return i == len;
}

gw__dec_rc gw__dec_parse(const char *s, size_t len, unsigned scale, int *neg, uint64_t *mag)
{
    size_t i = 0;
    *neg = s[0] == '-';
    i += (size_t)*neg;
    const char *ip = s + i;
    size_t ni = skip_digits(s, len, i) - i, nf = 0;
    i += ni;
    const char *fp = s + i + 1;
    if (i < len && s[i] == '.') {
        nf = skip_digits(s, len, i + 1) - (i + 1);
        i += 1 + nf;
    }
    long exp = 0;
    if (i < len && (s[i] | 0x20) == 'e') {
        int eneg = s[++i] == '-';
        if (s[i] == '-' || s[i] == '+')
            i++;
        for (; i < len; i++)
            if (exp < 1000000)
                exp = exp * 10 + (s[i] - '0');
        exp = eneg ? -exp : exp;
    }
#define DIGIT(k) ((k) < ni ? ip[(k)] : fp[(k) - ni])
    size_t nd = ni + nf, keep = nd;
    long e = exp - (long)nf + (long)scale;
    if (e < 0) {
        size_t drop = (size_t)-e < nd ? (size_t)-e : nd;
        for (size_t k = nd - drop; k < nd; k++)
            if (DIGIT(k) != '0')
                return GW__DEC_FRACTION;
        keep = nd - drop;
        e = 0;
    }
    uint64_t v = 0;
    for (size_t k = 0; k < keep; k++) {
        unsigned dg = (unsigned)(DIGIT(k) - '0');
        if (v > (UINT64_MAX - dg) / 10)
            return GW__DEC_RANGE;
        v = v * 10 + dg;
    }
#undef DIGIT
    for (; e > 0 && v != 0; e--) {
        if (v > UINT64_MAX / 10)
            return GW__DEC_RANGE;
        v *= 10;
    }
    *mag = v;
    return GW__DEC_OK;
}

/* ---- base64 ------------------------------------------------------------ */

static int b64_val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

int gw__b64_decode(const char *s, size_t len, uint8_t *out, size_t *out_len)
{
    while (len > 0 && s[len - 1] == '=')
        len--;
    if (len % 4 == 1)
        return -1;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64_val((unsigned char)s[i]);
        if (v < 0)
            return -1;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    *out_len = o;
    return 0;
}

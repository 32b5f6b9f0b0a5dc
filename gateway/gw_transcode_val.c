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

/* ---- timestamps -------------------------------------------------------- */

#define TS_MIN_SECONDS (-62135596800LL) /* 0001-01-01T00:00:00Z */
#define TS_MAX_SECONDS 253402300799LL   /* 9999-12-31T23:59:59Z */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static char *put_digits(char *o, unsigned v, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        o[i] = (char)('0' + v % 10);
        v /= 10;
    }
    return o + n;
}

size_t gw__ts_format(int64_t s, int32_t nanos, char *out)
{
    if (s < TS_MIN_SECONDS || s > TS_MAX_SECONDS || nanos < 0 || nanos > 999999999)
        return 0;
    int64_t days = (s >= 0 ? s : s - 86399) / 86400, y;
    unsigned sod = (unsigned)(s - days * 86400), m, d;
    civil_from_days(days, &y, &m, &d);
    char *o = put_digits(out, (unsigned)y, 4);
    *o++ = '-';
    o = put_digits(o, m, 2);
    *o++ = '-';
    o = put_digits(o, d, 2);
    *o++ = 'T';
    o = put_digits(o, sod / 3600, 2);
    *o++ = ':';
    o = put_digits(o, sod / 60 % 60, 2);
    *o++ = ':';
    o = put_digits(o, sod % 60, 2);
    if (nanos != 0) {
        *o++ = '.';
        if (nanos % 1000000 == 0)
            o = put_digits(o, (unsigned)nanos / 1000000, 3);
        else if (nanos % 1000 == 0)
            o = put_digits(o, (unsigned)nanos / 1000, 6);
        else
            o = put_digits(o, (unsigned)nanos, 9);
    }
    *o++ = 'Z';
    return (size_t)(o - out);
}

/* n decimal digits at s[*i], advancing; -1 if not digits. */
static long take_digits(const char *s, size_t len, size_t *i, int n)
{
    long v = 0;
    for (int k = 0; k < n; k++, (*i)++) {
        if (*i >= len || s[*i] < '0' || s[*i] > '9')
            return -1;
        v = v * 10 + (s[*i] - '0');
    }
    return v;
}

static int take_char(const char *s, size_t len, size_t *i, char c)
{
    if (*i >= len || s[*i] != c)
        return -1;
    (*i)++;
    return 0;
}

static int days_in_month(long y, long m)
{
    static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 ? 28 + leap : dim[m - 1];
}

/* The fraction ".d{1,9}" if present, in nanos. */
static int take_fraction(const char *s, size_t len, size_t *i, int32_t *nanos)
{
    *nanos = 0;
    if (*i >= len || s[*i] != '.')
        return 0;
    (*i)++;
    int n = 0;
    int32_t v = 0;
    while (*i < len && s[*i] >= '0' && s[*i] <= '9') {
        if (++n > 9)
            return -1;
        v = v * 10 + (s[(*i)++] - '0');
    }
    if (n == 0)
        return -1;
    while (n++ < 9)
        v *= 10;
    *nanos = v;
    return 0;
}

/* "Z" or "+hh:mm" / "-hh:mm" (a ' ' stands for '+': a query string's '+'
 * decodes to a space); the offset in seconds east of UTC. */
static int take_offset(const char *s, size_t len, size_t *i, long *off)
{
    *off = 0;
    if (*i < len && (s[*i] == 'Z' || s[*i] == 'z')) {
        (*i)++;
        return 0;
    }
    if (*i >= len || (s[*i] != '+' && s[*i] != '-' && s[*i] != ' '))
        return -1;
    int sign = s[(*i)++] == '-' ? -1 : 1;
    long oh = take_digits(s, len, i, 2);
    if (oh < 0 || oh > 23 || take_char(s, len, i, ':') != 0)
        return -1;
    long om = take_digits(s, len, i, 2);
    if (om < 0 || om > 59)
        return -1;
    *off = sign * (oh * 3600 + om * 60);
    return 0;
}

int gw__ts_parse(const char *s, size_t len, int64_t *seconds, int32_t *nanos)
{
    size_t i = 0;
    long y = take_digits(s, len, &i, 4);
    if (y < 1 || take_char(s, len, &i, '-') != 0)
        return -1;
    long mo = take_digits(s, len, &i, 2);
    if (mo < 1 || mo > 12 || take_char(s, len, &i, '-') != 0)
        return -1;
    long d = take_digits(s, len, &i, 2);
    if (d < 1 || d > days_in_month(y, mo))
        return -1;
    if (i >= len || (s[i] != 'T' && s[i] != 't' && s[i] != ' '))
        return -1;
    i++;
    long h = take_digits(s, len, &i, 2);
    if (h < 0 || h > 23 || take_char(s, len, &i, ':') != 0)
        return -1;
    long mi = take_digits(s, len, &i, 2);
    if (mi < 0 || mi > 59 || take_char(s, len, &i, ':') != 0)
        return -1;
    long se = take_digits(s, len, &i, 2);
    long off;
    if (se < 0 || se > 59 || take_fraction(s, len, &i, nanos) != 0 ||
        take_offset(s, len, &i, &off) != 0 || i != len)
        return -1;
    int64_t t = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + se -
                off;
    if (t < TS_MIN_SECONDS || t > TS_MAX_SECONDS)
        return -1;
    *seconds = t;
    return 0;
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

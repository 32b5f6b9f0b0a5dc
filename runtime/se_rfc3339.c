/* se_rfc3339.c - RFC 3339 timestamps (se_rfc3339.h): the gateway's JSON
 * transcoder and the benchmarks' clients format and parse them the same
 * way. Dates are proleptic Gregorian, converted with H. Hinnant's
 * days-from-civil algorithms (no libc time zone machinery, no locale).
 */
#include "se_rfc3339.h"


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

size_t se_rfc3339_format(int64_t s, int32_t nanos, char *out)
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

int se_rfc3339_parse(const char *s, size_t len, int64_t *seconds, int32_t *nanos)
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


/* A small printf for helpers: the kernel's bprintf subset, byte by byte. */
#include <errno.h>

#include "format.h"
#include "safemem.h"

struct sink {
    char *out;
    size_t cap;
    size_t len;
};

static void put(struct sink *s, char c)
{
    if (s->len + 1 < s->cap)
        s->out[s->len] = c;
    s->len++;
}

struct spec {
    int left, zero, plus, space, alt;
    unsigned width;
    int precision; /* -1: none */
};

static void pad(struct sink *s, unsigned n, char c)
{
    while (n--)
        put(s, c);
}

static void emit_text(struct sink *s, const struct spec *sp, const char *text, size_t n)
{
    if (sp->precision >= 0 && (size_t)sp->precision < n)
        n = (size_t)sp->precision;
    unsigned fill = sp->width > n ? sp->width - (unsigned)n : 0;
    if (!sp->left)
        pad(s, fill, ' ');
    for (size_t i = 0; i < n; i++)
        put(s, text[i]);
    if (sp->left)
        pad(s, fill, ' ');
}

static void emit_number(struct sink *s, const struct spec *sp, uint64_t v, int negative, unsigned base,
                        int upper, const char *prefix)
{
    char digits[24];
    unsigned n = 0;
    const char *set = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    do {
        digits[n++] = set[v % base];
        v /= base;
    } while (v);
    char sign = negative ? '-' : sp->plus ? '+' : sp->space ? ' ' : 0;
    unsigned plen = 0;
    while (prefix && prefix[plen])
        plen++;
    unsigned prec = sp->precision > (int)n ? (unsigned)sp->precision : n;
    unsigned body = prec + (sign ? 1 : 0) + plen;
    unsigned fill = sp->width > body ? sp->width - body : 0;
    if (!sp->left && !(sp->zero && sp->precision < 0))
        pad(s, fill, ' ');
    if (sign)
        put(s, sign);
    for (unsigned i = 0; i < plen; i++)
        put(s, prefix[i]);
    if (!sp->left && sp->zero && sp->precision < 0)
        pad(s, fill, '0');
    pad(s, prec - n, '0');
    while (n)
        put(s, digits[--n]);
    if (sp->left)
        pad(s, fill, ' ');
}

static unsigned parse_number(const char **p)
{
    unsigned v = 0;
    while (**p >= '0' && **p <= '9' && v < 10000)
        v = v * 10 + (unsigned)(*(*p)++ - '0');
    return v;
}

int64_t bpftime_format(char *out, size_t cap, const char *fmt, const uint64_t *args, size_t nargs)
{
    struct sink s = {out, cap, 0};
    size_t next = 0;
    for (const char *p = fmt; *p; p++) {
        if (*p != '%') {
            put(&s, *p);
            continue;
        }
        p++;
        if (*p == '%') {
            put(&s, '%');
            continue;
        }
        struct spec sp = {0, 0, 0, 0, 0, 0, -1};
        for (;; p++) {
            if (*p == '-') sp.left = 1;
            else if (*p == '0') sp.zero = 1;
            else if (*p == '+') sp.plus = 1;
            else if (*p == ' ') sp.space = 1;
            else if (*p == '#') sp.alt = 1;
            else break;
        }
        sp.width = parse_number(&p);
        if (*p == '.') {
            p++;
            sp.precision = (int)parse_number(&p);
        }
        int longs = 0;
        while (*p == 'l' && longs < 2) {
            longs++;
            p++;
        }
        if (next >= nargs)
            return -EINVAL;
        uint64_t a = args[next++];
        switch (*p) {
        case 'd':
        case 'i': {
            int64_t v = longs ? (int64_t)a : (int64_t)(int32_t)a;
            emit_number(&s, &sp, v < 0 ? 0 - (uint64_t)v : (uint64_t)v, v < 0, 10, 0, NULL);
            break;
        }
        case 'u':
            emit_number(&s, &sp, longs ? a : (uint32_t)a, 0, 10, 0, NULL);
            break;
        case 'x':
        case 'X':
            emit_number(&s, &sp, longs ? a : (uint32_t)a, 0, 16, *p == 'X',
                        sp.alt && a ? (*p == 'X' ? "0X" : "0x") : NULL);
            break;
        case 'c': {
            char c = (char)a;
            if (longs)
                return -EINVAL;
            emit_text(&s, &sp, &c, 1);
            break;
        }
        case 's': {
            char str[256];
            if (longs)
                return -EINVAL;
            int64_t n = bpftime_safe_read_str(str, (const char *)(uintptr_t)a, sizeof str);
            emit_text(&s, &sp, str, n > 0 ? (size_t)n - 1 : 0);
            break;
        }
        case 'p':
            if (longs)
                return -EINVAL;
            if (p[1] == 'x' || p[1] == 'K')
                p++;
            emit_number(&s, &sp, a, 0, 16, 0, "0x");
            break;
        default:
            return -EINVAL;
        }
    }
    if (cap)
        out[s.len < cap ? s.len : cap - 1] = 0;
    return (int64_t)s.len;
}

/* Reporting misuse and internal failures without allocating: messages are
 * formatted into a stack buffer and written straight to fd 2. */
#include "internal.h"
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

size_t fmt_u64(char *buf, uint64_t v) {
    char tmp[24];
    size_t n = 0;
    do { tmp[n++] = (char)('0' + v % 10); v /= 10; } while (v);
    for (size_t i = 0; i < n; i++) buf[i] = tmp[n - 1 - i];
    return n;
}

size_t fmt_hex(char *buf, uintptr_t v) {
    static const char digits[] = "0123456789abcdef";
    char tmp[20];
    size_t n = 0;
    do { tmp[n++] = digits[v & 15]; v >>= 4; } while (v);
    buf[0] = '0'; buf[1] = 'x';
    for (size_t i = 0; i < n; i++) buf[2 + i] = tmp[n - 1 - i];
    return n + 2;
}

static size_t put(char *buf, size_t at, size_t cap, const char *s) {
    size_t n = strlen(s);
    if (at + n > cap) n = cap - at;
    memcpy(buf + at, s, n);
    return at + n;
}

static void write_all(const char *buf, size_t n) {
    while (n) {
        ssize_t w = write(2, buf, n);
        if (w <= 0) return;
        buf += w; n -= (size_t)w;
    }
}

/* "cairn: <what> 0x...\n", then abort(). */
void cairn_fatal(const char *what, const void *p) {
    char buf[256];
    size_t n = put(buf, 0, sizeof buf - 40, "cairn: ");
    n = put(buf, n, sizeof buf - 40, what);
    buf[n++] = ' ';
    n += fmt_hex(buf + n, (uintptr_t)p);
    buf[n++] = '\n';
    write_all(buf, n);
    abort();
}

void cairn_assert_fail(const char *c, const char *f, int l) {
    char buf[512];
    size_t n = put(buf, 0, 400, "cairn: internal assertion failed: ");
    n = put(buf, n, 400, c);
    n = put(buf, n, 460, " at ");
    n = put(buf, n, 490, f);
    buf[n++] = ':';
    n += fmt_u64(buf + n, (uint64_t)l);
    buf[n++] = '\n';
    write_all(buf, n);
    abort();
}

void cairn_warn(const char *msg, const char *detail) {
    char buf[512];
    size_t n = put(buf, 0, 500, "cairn: warning: ");
    n = put(buf, n, 500, msg);
    if (detail) n = put(buf, n, 500, detail);
    buf[n++] = '\n';
    write_all(buf, n);
}

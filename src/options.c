/* All CAIRN_* options, in one place. Parsed once during initialisation,
 * with getenv (which never allocates) and a hand-written number parser; an
 * invalid value is reported and the default kept. */
#include "internal.h"
#include "cairn.h"
#include <stdlib.h>

options_t cairn_opt = { .stats = false, .verbose = false,
                        .purge_delay_ms = 10, .arenas = 0 };

/* Parses a non-negative decimal integer; false if s is not one. */
static bool parse_num(const char *s, long max, long *out) {
    long v = 0;
    if (!*s) return false;
    for (; *s; s++) {
        if (*s < '0' || *s > '9') return false;
        v = v * 10 + (*s - '0');
        if (v > max) return false;
    }
    *out = v;
    return true;
}

static bool parse_bool(const char *name, bool *out) {
    const char *s = getenv(name);
    if (!s) return false;
    if ((s[0] == '1' || s[0] == 'y' || s[0] == 'Y' || s[0] == 't') ) *out = true;
    else if (s[0] == '0' || s[0] == 'n' || s[0] == 'N' || s[0] == 'f' || !s[0]) *out = false;
    else cairn_warn("ignoring invalid boolean in ", name);
    return true;
}

static void parse_long(const char *name, long max, long *out) {
    const char *s = getenv(name);
    long v;
    if (!s) return;
    if (parse_num(s, max, &v)) *out = v;
    else cairn_warn("ignoring invalid number in ", name);
}

void options_init(void) {
    long arenas = 0;
    parse_bool("CAIRN_STATS", &cairn_opt.stats);
    parse_bool("CAIRN_VERBOSE", &cairn_opt.verbose);
    parse_long("CAIRN_PURGE_DELAY", 3600L * 1000, &cairn_opt.purge_delay_ms);
    parse_long("CAIRN_ARENAS", 64, &arenas);
    cairn_opt.arenas = (unsigned)arenas;   /* 0: chosen from the CPU count */
}

API void cairn_options_print(FILE *f) {
    fprintf(f, "cairn %d.%d.%d options:\n", CAIRN_VERSION_MAJOR,
            CAIRN_VERSION_MINOR, CAIRN_VERSION_PATCH);
    fprintf(f, "  CAIRN_STATS=%d\n  CAIRN_VERBOSE=%d\n", cairn_opt.stats, cairn_opt.verbose);
    fprintf(f, "  CAIRN_PURGE_DELAY=%ld (ms)\n", cairn_opt.purge_delay_ms);
    fprintf(f, "  CAIRN_ARENAS=%u\n", arenas_count());
}

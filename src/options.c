/* All CAIRN_* options, in one place. Parsed once during initialisation,
 * with getenv (which never allocates) and a hand-written number parser; an
 * invalid value is reported and the default kept. */
#include "internal.h"
#include "cairn.h"
#include <stdlib.h>
#include <string.h>

options_t cairn_opt = { .stats = 0, .verbose = false, .background = true,
                        .purge_delay_ms = 1000, .arenas = 0 };

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

/* "N" and "Nms" are milliseconds, "Ns" seconds. */
bool parse_duration_ms(const char *s, long max_ms, long *out) {
    char num[24];
    size_t n = 0;
    while (s[n] >= '0' && s[n] <= '9' && n < sizeof num - 1) { num[n] = s[n]; n++; }
    num[n] = 0;
    long v, scale = !strcmp(s + n, "s") ? 1000 : (!s[n] || !strcmp(s + n, "ms")) ? 1 : 0;
    if (!scale || !parse_num(num, max_ms, &v) || v > max_ms / scale) return false;
    *out = v * scale;
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

static void parse_duration(const char *name, long max_ms, long *out) {
    const char *s = getenv(name);
    if (s && !parse_duration_ms(s, max_ms, out))
        cairn_warn("ignoring invalid duration (use N, Nms or Ns) in ", name);
}

void options_init(void) {
    long arenas = 0;
    const char *st = getenv("CAIRN_STATS");
    if (st && !strcmp(st, "json")) cairn_opt.stats = 2;
    else if (st) {
        bool on = false;
        parse_bool("CAIRN_STATS", &on);
        cairn_opt.stats = on;
    }
    parse_duration("CAIRN_STATS_INTERVAL", 3600L * 1000, &cairn_opt.stats_interval_ms);
    cairn_opt.stats_file = getenv("CAIRN_STATS_FILE");
    if (cairn_opt.stats_interval_ms && !cairn_opt.stats_file)
        cairn_warn("CAIRN_STATS_INTERVAL needs CAIRN_STATS_FILE: no timeline", "");
    parse_bool("CAIRN_VERBOSE", &cairn_opt.verbose);
    parse_bool("CAIRN_BACKGROUND", &cairn_opt.background);
    parse_duration("CAIRN_PURGE_DELAY", 3600L * 1000, &cairn_opt.purge_delay_ms);
    parse_long("CAIRN_ARENAS", 64, &arenas);
    parse_bool("CAIRN_THP", &cairn_opt.thp);
    cairn_opt.arenas = (unsigned)arenas;   /* 0: chosen from the CPU count */
}

API void cairn_options_print(FILE *f) {
    fprintf(f, "cairn %d.%d.%d options:\n", CAIRN_VERSION_MAJOR,
            CAIRN_VERSION_MINOR, CAIRN_VERSION_PATCH);
    fprintf(f, "  CAIRN_STATS=%s\n  CAIRN_VERBOSE=%d\n", cairn_opt.stats == 2 ? "json" : cairn_opt.stats ? "1" : "0",
            cairn_opt.verbose);
    if (cairn_opt.stats_interval_ms)
        fprintf(f, "  CAIRN_STATS_INTERVAL=%ldms CAIRN_STATS_FILE=%s\n", cairn_opt.stats_interval_ms,
                cairn_opt.stats_file ? cairn_opt.stats_file : "(none)");
    fprintf(f, "  CAIRN_PURGE_DELAY=%ldms\n", cairn_opt.purge_delay_ms);
    fprintf(f, "  CAIRN_BACKGROUND=%d (purger thread %s)\n", cairn_opt.background,
            purge_thread_running() ? "running" : cairn_opt.background ? "not started yet" : "off");
    fprintf(f, "  CAIRN_ARENAS=%u\n", arenas_count());
    fprintf(f, "  CAIRN_THP=%d\n", cairn_opt.thp);
    fprintf(f, "  (page size %zu, address space %u bits, mapped below 2^%u)\n", os_page_size(),
            os_space_bits(), os_map_bits());
}

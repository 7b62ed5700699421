# cairn build. Plain `make` builds build/libcairn.so and build/libcairn.a.
PREFIX  ?= /usr/local
DESTDIR ?=
LIBDIR  ?= $(PREFIX)/lib
INCDIR  ?= $(PREFIX)/include
CC      ?= cc
VERSION := 1.1.0
SONAME  := libcairn.so.1

BUILD   := build
WARN    := -Wall -Wextra -Werror
CSTD    := -std=c11 -D_GNU_SOURCE
OPT     ?= -O2 -g
# Flags every build of the allocator uses (release, debug, sanitizers).
CAIRN_CFLAGS := $(CSTD) $(WARN) -Iinclude -Isrc -fPIC -fvisibility=hidden \
	-fno-semantic-interposition -ftls-model=initial-exec -fasynchronous-unwind-tables -fno-builtin-malloc \
	-fno-builtin-free -fno-builtin-calloc -fno-builtin-realloc
CFLAGS  ?=
LDLIBS  := -lpthread

# Core sources: everything but the standard-name override layer. Sanitizer
# and prefixed-API builds compile these alone.
CAIRN_OVERRIDE_SRCS := src/override.c src/override_cxx.c
CAIRN_CORE_SRCS := $(filter-out $(CAIRN_OVERRIDE_SRCS) src/trace.c,$(wildcard src/*.c))
CAIRN_SRCS      := $(CAIRN_CORE_SRCS) $(CAIRN_OVERRIDE_SRCS)
CAIRN_HDRS      := $(wildcard src/*.h) include/cairn.h

OBJS       := $(patsubst src/%.c,$(BUILD)/obj/%.o,$(CAIRN_SRCS))
DEBUG_OBJS := $(patsubst src/%.c,$(BUILD)/dbg/%.o,$(CAIRN_SRCS))
SECURE_OBJS := $(patsubst src/%.c,$(BUILD)/sec/%.o,$(CAIRN_SRCS))
STATS_OBJS := $(patsubst src/%.c,$(BUILD)/sta/%.o,$(CAIRN_SRCS))

.PHONY: all clean install uninstall debug stats run test bench bench-quick
all: $(BUILD)/libcairn.so $(BUILD)/libcairn.a $(BUILD)/libcairn-secure.so $(BUILD)/libcairn-stats.so

$(BUILD)/obj/%.o: src/%.c $(CAIRN_HDRS) | $(BUILD)/obj
	$(CC) $(CAIRN_CFLAGS) $(OPT) $(CFLAGS) -DNDEBUG -c $< -o $@
$(BUILD)/dbg/%.o: src/%.c $(CAIRN_HDRS) | $(BUILD)/dbg
	$(CC) $(CAIRN_CFLAGS) -O1 -g $(CFLAGS) -DCAIRN_DEBUG=1 -c $< -o $@
$(BUILD)/sec/%.o: src/%.c $(CAIRN_HDRS) | $(BUILD)/sec
	$(CC) $(CAIRN_CFLAGS) $(OPT) $(CFLAGS) -DNDEBUG -DCAIRN_SECURE=1 -c $< -o $@
$(BUILD)/sta/%.o: src/%.c $(CAIRN_HDRS) | $(BUILD)/sta
	$(CC) $(CAIRN_CFLAGS) $(OPT) $(CFLAGS) -DNDEBUG -DCAIRN_EXACT_COUNTS=1 -c $< -o $@
$(BUILD)/obj $(BUILD)/dbg $(BUILD)/sec $(BUILD)/sta:
	mkdir -p $@

$(BUILD)/libcairn.so.$(VERSION): $(OBJS)
	$(CC) -shared -Wl,-soname,$(SONAME) -Wl,-z,nodelete -o $@ $(OBJS) $(LDLIBS)
$(BUILD)/libcairn.so: $(BUILD)/libcairn.so.$(VERSION)
	ln -sf libcairn.so.$(VERSION) $(BUILD)/$(SONAME)
	ln -sf libcairn.so.$(VERSION) $@
# Secure build (docs/SECURITY.md): canaries, quarantine, guard pages.
$(BUILD)/libcairn-secure.so: $(SECURE_OBJS)
	$(CC) -shared -Wl,-soname,libcairn-secure.so -Wl,-z,nodelete -o $@ $(SECURE_OBJS) $(LDLIBS)
# Statistics level 1: every small malloc and free counted (a store each).
stats: $(BUILD)/libcairn-stats.so
$(BUILD)/libcairn-stats.so: $(STATS_OBJS)
	$(CC) -shared -Wl,-soname,libcairn-stats.so -Wl,-z,nodelete -o $@ $(STATS_OBJS) $(LDLIBS)
$(BUILD)/libcairn.a: $(OBJS)
	rm -f $@ && ar rcs $@ $(OBJS)
# Debug build: internal asserts on (CAIRN_DEBUG), same API.
debug: $(BUILD)/libcairn-debug.so
$(BUILD)/libcairn-debug.so: $(DEBUG_OBJS)
	$(CC) -shared -Wl,-soname,libcairn-debug.so -o $@ $(DEBUG_OBJS) $(LDLIBS)

$(BUILD)/cairn.pc: cairn.pc.in
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
	    -e 's|@INCDIR@|$(INCDIR)|' -e 's|@VERSION@|$(VERSION)|' $< > $@

install: all $(BUILD)/cairn.pc
	install -d $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCDIR) $(DESTDIR)$(PREFIX)/bin
	install -m 644 include/cairn.h $(DESTDIR)$(INCDIR)/cairn.h
	install -m 755 $(BUILD)/libcairn.so.$(VERSION) $(DESTDIR)$(LIBDIR)/
	ln -sf libcairn.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf libcairn.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libcairn.so
	install -m 644 $(BUILD)/libcairn.a $(DESTDIR)$(LIBDIR)/
	install -m 755 $(BUILD)/libcairn-secure.so $(BUILD)/libcairn-stats.so $(DESTDIR)$(LIBDIR)/
	install -m 644 $(BUILD)/cairn.pc $(DESTDIR)$(LIBDIR)/pkgconfig/cairn.pc
	sed -e 's|@LIBDIR@|$(LIBDIR)|' tools/cairn-run.in > $(DESTDIR)$(PREFIX)/bin/cairn-run
	chmod 755 $(DESTDIR)$(PREFIX)/bin/cairn-run
	install -m 755 $(BUILD)/libcairn-trace.so $(DESTDIR)$(LIBDIR)/
	install -m 755 $(BUILD)/tools/cairn-trace $(BUILD)/tools/cairn-replay $(DESTDIR)$(PREFIX)/bin/
uninstall:
	rm -f $(DESTDIR)$(INCDIR)/cairn.h $(DESTDIR)$(LIBDIR)/libcairn.* \
	      $(DESTDIR)$(LIBDIR)/pkgconfig/cairn.pc $(DESTDIR)$(PREFIX)/bin/cairn-run \
	      $(DESTDIR)$(LIBDIR)/libcairn-trace.so $(DESTDIR)$(PREFIX)/bin/cairn-trace \
	      $(DESTDIR)$(PREFIX)/bin/cairn-replay

# `make run`: a real allocation-heavy program under cairn, report at exit.
PYTHON ?= $(firstword $(wildcard /usr/bin/python3) python3)
CMD ?= $(PYTHON) tools/demo_workload.py
run: all
	@echo "== running under cairn: $(CMD)"
	LD_PRELOAD=$(abspath $(BUILD)/libcairn.so) CAIRN_STATS=1 PYTHONMALLOC=malloc $(CMD)

clean:
	rm -rf $(BUILD)

-include tests/tests.mk
-include tests/cross.mk
-include bench/bench.mk
-include tools/tools.mk

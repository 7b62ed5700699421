# tests/tests.mk: cairn test suite (included by the top-level Makefile).
#   make test          build everything, run the whole suite (run.sh)
#   make test-quick    same with CAIRN_TEST_QUICK=1 (smaller stress sizes)
#   make test-asan     only the ASan+UBSan builds
#   make test-tsan     only the TSan builds
#   make test-build    build the test programs without running them
#   make test TESTS=regex   run only tests whose name matches
# Test programs are built four ways under build/tests/:
#   std/   standard names, linked against build/libcairn.so
#   pfx/   cairn_* names, linked with the core sources (no override layer;
#          CAIRN_DEBUG=1 so internal asserts are on)
#   asan/  like pfx/ with -fsanitize=address,undefined
#   tsan/  like pfx/ with -fsanitize=thread
TB          := $(BUILD)/tests
# -fno-builtin-<alloc>: the compiler must not reason about the allocation
# functions under test (e.g. delete a memset before free, or fold malloc(0)).
TEST_NOBUILTIN := $(addprefix -fno-builtin-,malloc free calloc realloc reallocarray \
	aligned_alloc posix_memalign memalign valloc pvalloc strdup)
TEST_CFLAGS := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -O2 -g -pthread -Iinclude -Itests \
	$(TEST_NOBUILTIN)
SAN_CC      ?= $(CC)
SAN_CFLAGS  := $(CAIRN_CFLAGS) -Itests -O1 -g -pthread -fno-omit-frame-pointer \
               -DCAIRN_DEBUG=1 -DCAIRN_PREFIXED
TEST_HDRS   := tests/testutil.h include/cairn.h
CXX         ?= g++
TESTS       ?=

STD_TESTS  := t_api t_calloc t_locked t_exact t_sizeclass t_trim t_pooled t_idle t_options t_holes t_limits t_exitdtor t_reuse t_stress t_remote t_threads t_fork t_faults t_misuse t_secure
PFX_TESTS  := t_internal t_ledger t_api t_calloc t_stress t_faults t_misuse t_remote t_threads t_fork
ASAN_TESTS := t_api t_calloc t_sizeclass t_reuse t_stress t_faults t_remote
TSAN_TESTS := t_remote t_threads t_stress

STD_BINS  := $(addprefix $(TB)/std/,$(STD_TESTS)) $(TB)/std/t_cxx
PFX_BINS  := $(addprefix $(TB)/pfx/,$(PFX_TESTS))
ASAN_BINS := $(addprefix $(TB)/asan/,$(ASAN_TESTS))
TSAN_BINS := $(addprefix $(TB)/tsan/,$(TSAN_TESTS))
PFX_OBJS  := $(patsubst src/%.c,$(TB)/pfx/obj/%.o,$(CAIRN_CORE_SRCS))

.PHONY: test test-quick test-asan test-tsan test-build
.SECONDARY: $(PFX_OBJS)
test-build: $(BUILD)/libcairn.so $(BUILD)/libcairn-secure.so $(BUILD)/libcairn-stats.so $(STD_BINS) $(PFX_BINS) $(ASAN_BINS) $(TSAN_BINS)

# A test program that fails to build makes its tests fail in the runner
# (which still prints the summary line) instead of stopping make here.
test:
	@$(MAKE) --no-print-directory -k test-build || echo "*** some test programs failed to build"
	@bash tests/run.sh $(BUILD) '$(TESTS)'
test-quick:
	@$(MAKE) --no-print-directory -k test-build || echo "*** some test programs failed to build"
	@CAIRN_TEST_QUICK=1 bash tests/run.sh $(BUILD) '$(TESTS)'
test-asan:
	@$(MAKE) --no-print-directory -k $(ASAN_BINS) $(BUILD)/libcairn.so || echo "*** build failed"
	@bash tests/run.sh $(BUILD) '^asan-'
test-tsan:
	@$(MAKE) --no-print-directory -k $(TSAN_BINS) $(BUILD)/libcairn.so || echo "*** build failed"
	@bash tests/run.sh $(BUILD) '^tsan-'

$(TB)/std/%: tests/%.c $(TEST_HDRS) $(BUILD)/libcairn.so tests/tests.mk
	@mkdir -p $(@D)
	$(CC) $(TEST_CFLAGS) $< -o $@ -L$(BUILD) -lcairn -Wl,-rpath,$(abspath $(BUILD)) $(LDLIBS)

# t_early: a library whose constructor allocates first (malloc(0)), and a
# program linked to it but not to cairn: the runner preloads each library.
$(TB)/std/libearly.so: tests/early_lib.c tests/tests.mk
	@mkdir -p $(@D)
	$(CC) $(TEST_CFLAGS) -fPIC -shared $< -o $@
$(TB)/std/t_early: tests/t_early.c $(TEST_HDRS) $(TB)/std/libearly.so tests/tests.mk
	@mkdir -p $(@D)
	$(CC) $(TEST_CFLAGS) $< -o $@ -L$(TB)/std -learly -Wl,-rpath,$(abspath $(TB)/std) $(LDLIBS)
test-build: $(TB)/std/t_early

# C++: operator new/delete through libcairn.so
$(TB)/std/t_cxx: tests/t_cxx.cpp include/cairn.h $(BUILD)/libcairn.so tests/tests.mk
	@mkdir -p $(@D)
	$(CXX) -std=c++17 -Wall -Wextra -Werror -O2 -g -Iinclude $< -o $@ -L$(BUILD) -lcairn -Wl,-rpath,$(abspath $(BUILD))

$(TB)/pfx/obj/%.o: src/%.c $(CAIRN_HDRS)
	@mkdir -p $(@D)
	$(CC) $(CAIRN_CFLAGS) -O2 -g -DCAIRN_DEBUG=1 -c $< -o $@
$(TB)/pfx/%: tests/%.c $(TEST_HDRS) $(PFX_OBJS) tests/tests.mk
	@mkdir -p $(@D)
	$(CC) $(TEST_CFLAGS) -Isrc -DCAIRN_PREFIXED $< $(PFX_OBJS) -o $@ $(LDLIBS) -ldl

$(TB)/asan/%: tests/%.c $(TEST_HDRS) $(CAIRN_CORE_SRCS) $(CAIRN_HDRS)
	@mkdir -p $(@D)
	$(SAN_CC) $(SAN_CFLAGS) -fsanitize=address,undefined -fno-sanitize-recover=all \
		$< $(CAIRN_CORE_SRCS) -o $@ $(LDLIBS)
$(TB)/tsan/%: tests/%.c $(TEST_HDRS) $(CAIRN_CORE_SRCS) $(CAIRN_HDRS)
	@mkdir -p $(@D)
	$(SAN_CC) $(SAN_CFLAGS) -fsanitize=thread $< $(CAIRN_CORE_SRCS) -o $@ $(LDLIBS)

# ---- fuzzers (tests/fuzz/, see tests/fuzz/README.md) ---------------------------
# t_fuzz, the seeded random driver, is built like the other tests:
#   pfx/t_fuzz   cairn_* names, core sources with CAIRN_DEBUG=1 (asserts on)
#   asan/t_fuzz  the same with -fsanitize=address,undefined
#   tsan/t_fuzz  the same with -fsanitize=thread
#   std/t_fuzz   linked against libcairn.so; also calls the standard names (-N mix)
# asan/fuzz_replay is fuzz_ops.c (the libFuzzer target) with a plain main()
# instead of libFuzzer: it replays tests/fuzz/regress/*.ops and random inputs.
# regress/NAME is the regression program tests/fuzz/regress/NAME.c, built
# with ASan+UBSan by clang when there is one (its UBSan sees more), else by
# $(SAN_CC). The suite runs all of them (fuzz-* in tests/run.sh). fuzz_ops
# itself needs clang (libFuzzer) and is built and run only by `make fuzz`.
FUZZ_HDRS    := tests/fuzz/fuzz_common.h $(TEST_HDRS)
FUZZ_CLANG   ?= clang
FUZZ_REGRESS_CC ?= $(if $(shell command -v $(FUZZ_CLANG) 2>/dev/null),$(FUZZ_CLANG),$(SAN_CC))
FUZZ_REGRESS := $(patsubst tests/fuzz/regress/%.c,$(TB)/regress/%,$(wildcard tests/fuzz/regress/*.c))
FUZZ_BINS    := $(TB)/pfx/t_fuzz $(TB)/asan/t_fuzz $(TB)/tsan/t_fuzz $(TB)/std/t_fuzz $(TB)/asan/fuzz_replay \
	$(FUZZ_REGRESS)
test-build: $(FUZZ_BINS)

$(TB)/pfx/t_fuzz: tests/fuzz/t_fuzz.c $(FUZZ_HDRS) $(PFX_OBJS) tests/tests.mk
	@mkdir -p $(@D)
	$(CC) $(TEST_CFLAGS) -DCAIRN_PREFIXED $< $(PFX_OBJS) -o $@ $(LDLIBS)
$(TB)/std/t_fuzz: tests/fuzz/t_fuzz.c $(FUZZ_HDRS) $(BUILD)/libcairn.so tests/tests.mk
	@mkdir -p $(@D)
	$(CC) $(TEST_CFLAGS) -DFUZZ_STD_NAMES $< -o $@ -L$(BUILD) -lcairn -Wl,-rpath,$(abspath $(BUILD)) $(LDLIBS)
$(TB)/asan/t_fuzz: tests/fuzz/t_fuzz.c $(FUZZ_HDRS) $(CAIRN_CORE_SRCS) $(CAIRN_HDRS) tests/tests.mk
	@mkdir -p $(@D)
	$(SAN_CC) $(SAN_CFLAGS) $(TEST_NOBUILTIN) -fsanitize=address,undefined -fno-sanitize-recover=all \
		$< $(CAIRN_CORE_SRCS) -o $@ $(LDLIBS)
$(TB)/tsan/t_fuzz: tests/fuzz/t_fuzz.c $(FUZZ_HDRS) $(CAIRN_CORE_SRCS) $(CAIRN_HDRS) tests/tests.mk
	@mkdir -p $(@D)
	$(SAN_CC) $(SAN_CFLAGS) $(TEST_NOBUILTIN) -fsanitize=thread $< $(CAIRN_CORE_SRCS) -o $@ $(LDLIBS)
$(TB)/asan/fuzz_replay: tests/fuzz/fuzz_ops.c $(FUZZ_HDRS) $(CAIRN_CORE_SRCS) $(CAIRN_HDRS) tests/tests.mk
	@mkdir -p $(@D)
	$(SAN_CC) $(SAN_CFLAGS) $(TEST_NOBUILTIN) -DFUZZ_REPLAY_MAIN -fsanitize=address,undefined \
		-fno-sanitize-recover=all $< $(CAIRN_CORE_SRCS) -o $@ $(LDLIBS)
$(TB)/regress/%: tests/fuzz/regress/%.c $(TEST_HDRS) $(CAIRN_CORE_SRCS) $(CAIRN_HDRS) tests/tests.mk
	@mkdir -p $(@D)
	$(FUZZ_REGRESS_CC) $(SAN_CFLAGS) $(TEST_NOBUILTIN) -fsanitize=address,undefined -fno-sanitize-recover=all \
		$< $(CAIRN_CORE_SRCS) -o $@ $(LDLIBS)

# `make fuzz`: the long run (tests/fuzz/fuzz.sh; not part of `make test`).
# FUZZ_SECONDS (default 600) is the total, split between
#   - the random driver, FUZZ_DRIVER_SECONDS (half): runs of FUZZ_CHUNK
#     seconds, each with its own seed (FUZZ_SEED, FUZZ_SEED+1, ...) and one
#     of several configurations (threads, fork rate, purge settings, the
#     pfx/asan/std/tsan builds; FUZZ_CONFIG_START: the first, 0-7),
#     FUZZ_THREADS worker threads at most;
#   - libFuzzer on fuzz_ops, FUZZ_LIBFUZZER_SECONDS (the rest; 0 skips it
#     and the need for clang). The coverage-guided engine is libFuzzer
#     (clang's -fsanitize=fuzzer, in libclang-rt): in process, nothing else
#     to install; AFL++ is not installed here and its fork server buys
#     nothing for a library API.
#   make fuzz BUILD=build-fuzz FUZZ_SECONDS=1200 FUZZ_SEED=42 FUZZ_THREADS=4
# Logs go to $(BUILD)/fuzz/, the corpus grows in $(BUILD)/fuzz-corpus,
# crash inputs go to $(BUILD)/fuzz-crashes/.
FUZZ_SECONDS ?= 600
FUZZ_DRIVER_SECONDS ?= $(shell expr $(FUZZ_SECONDS) / 2)
FUZZ_LIBFUZZER_SECONDS ?= $(shell expr $(FUZZ_SECONDS) - $(FUZZ_DRIVER_SECONDS))
FUZZ_SEED    ?= $(shell date +%s)
FUZZ_THREADS ?= 4
FUZZ_CHUNK   ?= 120
FUZZ_CONFIG_START ?= 0
FUZZ_LIBFUZZER_FLAGS ?= -max_len=2048 -len_control=10
FUZZ_OPS_CFLAGS := $(CAIRN_CFLAGS) -Itests -O1 -g -pthread -fno-omit-frame-pointer \
	-DCAIRN_DEBUG=1 -DCAIRN_PREFIXED $(TEST_NOBUILTIN) \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -fsanitize-recover=pointer-overflow
.PHONY: fuzz fuzz-build fuzz-regress
fuzz-build: $(FUZZ_BINS) $(if $(filter-out 0,$(FUZZ_LIBFUZZER_SECONDS)),$(BUILD)/fuzz/fuzz_ops)
$(BUILD)/fuzz/fuzz_ops: tests/fuzz/fuzz_ops.c $(FUZZ_HDRS) $(CAIRN_CORE_SRCS) $(CAIRN_HDRS) tests/tests.mk
	@mkdir -p $(@D)
	$(FUZZ_CLANG) $(FUZZ_OPS_CFLAGS) $< $(CAIRN_CORE_SRCS) -o $@ $(LDLIBS)
fuzz: fuzz-build
	@FUZZ_DRIVER_SECONDS=$(FUZZ_DRIVER_SECONDS) FUZZ_LIBFUZZER_SECONDS=$(FUZZ_LIBFUZZER_SECONDS) \
	    FUZZ_SEED=$(FUZZ_SEED) FUZZ_THREADS=$(FUZZ_THREADS) FUZZ_CHUNK=$(FUZZ_CHUNK) \
	    FUZZ_CONFIG_START=$(FUZZ_CONFIG_START) \
	    FUZZ_LIBFUZZER_FLAGS='$(FUZZ_LIBFUZZER_FLAGS)' bash tests/fuzz/fuzz.sh $(BUILD)

# `make fuzz-regress`: build and replay only the regressions (what the
# fuzz-regress-* and fuzz-replay tests of the suite do).
fuzz-regress: $(FUZZ_REGRESS) $(TB)/asan/fuzz_replay $(TB)/pfx/t_fuzz
	@bash tests/run.sh $(BUILD) '^fuzz-(regress|replay)'

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

STD_TESTS  := t_api t_sizeclass t_trim t_pooled t_idle t_options t_holes t_limits t_exitdtor t_reuse t_stress t_remote t_threads t_fork t_faults t_misuse
PFX_TESTS  := t_internal t_ledger t_api t_stress t_faults t_misuse t_remote t_threads t_fork
ASAN_TESTS := t_api t_sizeclass t_reuse t_stress t_faults t_remote
TSAN_TESTS := t_remote t_threads t_stress

STD_BINS  := $(addprefix $(TB)/std/,$(STD_TESTS)) $(TB)/std/t_cxx
PFX_BINS  := $(addprefix $(TB)/pfx/,$(PFX_TESTS))
ASAN_BINS := $(addprefix $(TB)/asan/,$(ASAN_TESTS))
TSAN_BINS := $(addprefix $(TB)/tsan/,$(TSAN_TESTS))
PFX_OBJS  := $(patsubst src/%.c,$(TB)/pfx/obj/%.o,$(CAIRN_CORE_SRCS))

.PHONY: test test-quick test-asan test-tsan test-build
.SECONDARY: $(PFX_OBJS)
test-build: $(BUILD)/libcairn.so $(STD_BINS) $(PFX_BINS) $(ASAN_BINS) $(TSAN_BINS)

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


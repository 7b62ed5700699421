# tests/cross.mk: arm64 (aarch64) cross build (included by the top-level
# Makefile, after tests/tests.mk, whose flags it reuses).
#   make arm64        cross-compile libcairn.so, libcairn.a and the arm64 test
#                     programs into $(ARM64_BUILD) (default build-arm64/)
#   make test-arm64   build them and run the arm64-* tests of tests/run.sh,
#                     which run the programs under qemu-user (qemu-aarch64)
# Needs Debian's gcc-aarch64-linux-gnu and libc6-dev-arm64-cross (and
# qemu-user to run the tests); .ci/run installs them. Test programs:
#   std/   standard names, linked against $(ARM64_BUILD)/libcairn.so
#   pfx/   cairn_* names, linked with the core sources (CAIRN_DEBUG=1)
ARM64_BUILD  ?= $(BUILD)-arm64
ARM64_PREFIX ?= aarch64-linux-gnu-
ARM64_CC     ?= $(ARM64_PREFIX)gcc
ARM64_AR     ?= $(ARM64_PREFIX)ar
# Extra flags for the cross build only (the host's CFLAGS may not suit arm64).
ARM64_CFLAGS ?=
ARM64_TB     := $(ARM64_BUILD)/tests

ARM64_STD_TESTS := t_api t_sizeclass t_reuse t_limits t_trim t_holes t_stress t_remote t_threads \
	t_fork t_faults t_misuse
ARM64_PFX_TESTS := t_internal t_api t_stress t_remote t_threads t_misuse

ARM64_OBJS     := $(patsubst src/%.c,$(ARM64_BUILD)/obj/%.o,$(CAIRN_SRCS))
ARM64_PFX_OBJS := $(patsubst src/%.c,$(ARM64_TB)/pfx/obj/%.o,$(CAIRN_CORE_SRCS))
ARM64_LIB      := $(ARM64_BUILD)/libcairn.so
ARM64_BINS     := $(addprefix $(ARM64_TB)/std/,$(ARM64_STD_TESTS)) \
	$(addprefix $(ARM64_TB)/pfx/,$(ARM64_PFX_TESTS))
ARM64_MK       := tests/cross.mk tests/tests.mk

.PHONY: arm64 test-arm64 arm64-check-cc
.SECONDARY: $(ARM64_OBJS) $(ARM64_PFX_OBJS)
arm64: $(ARM64_LIB) $(ARM64_BUILD)/libcairn.a $(ARM64_BINS)
test-arm64:
	@bash tests/run.sh $(BUILD) '^arm64-'

# A missing cross compiler stops the build with one clear line.
arm64-check-cc:
	@command -v $(ARM64_CC) >/dev/null 2>&1 || { echo "*** arm64: cross compiler '$(ARM64_CC)'" \
	    "not found; install it with: apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross"; exit 1; }

$(ARM64_BUILD)/obj/%.o: src/%.c $(CAIRN_HDRS) $(ARM64_MK) | arm64-check-cc
	@mkdir -p $(@D)
	$(ARM64_CC) $(CAIRN_CFLAGS) $(OPT) $(ARM64_CFLAGS) -DNDEBUG -c $< -o $@
$(ARM64_BUILD)/libcairn.so.$(VERSION): $(ARM64_OBJS)
	$(ARM64_CC) -shared -Wl,-soname,$(SONAME) -Wl,-z,nodelete -o $@ $(ARM64_OBJS) $(LDLIBS)
$(ARM64_LIB): $(ARM64_BUILD)/libcairn.so.$(VERSION)
	ln -sf libcairn.so.$(VERSION) $(ARM64_BUILD)/$(SONAME)
	ln -sf libcairn.so.$(VERSION) $@
$(ARM64_BUILD)/libcairn.a: $(ARM64_OBJS)
	rm -f $@ && $(ARM64_AR) rcs $@ $(ARM64_OBJS)

$(ARM64_TB)/std/%: tests/%.c $(TEST_HDRS) $(ARM64_LIB) $(ARM64_MK)
	@mkdir -p $(@D)
	$(ARM64_CC) $(TEST_CFLAGS) $(ARM64_CFLAGS) $< -o $@ -L$(ARM64_BUILD) -lcairn \
		-Wl,-rpath,$(abspath $(ARM64_BUILD)) $(LDLIBS)
$(ARM64_TB)/pfx/obj/%.o: src/%.c $(CAIRN_HDRS) $(ARM64_MK) | arm64-check-cc
	@mkdir -p $(@D)
	$(ARM64_CC) $(CAIRN_CFLAGS) -O2 -g $(ARM64_CFLAGS) -DCAIRN_DEBUG=1 -c $< -o $@
$(ARM64_TB)/pfx/%: tests/%.c $(TEST_HDRS) $(ARM64_PFX_OBJS) $(ARM64_MK)
	@mkdir -p $(@D)
	$(ARM64_CC) $(TEST_CFLAGS) $(ARM64_CFLAGS) -Isrc -DCAIRN_PREFIXED $< $(ARM64_PFX_OBJS) -o $@ $(LDLIBS) -ldl

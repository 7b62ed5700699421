# tools/tools.mk: trace record and replay (included by the top-level Makefile).
#   make tools        build/libcairn-trace.so, build/tools/cairn-trace and
#                     build/tools/cairn-replay
# libcairn-trace.so is the allocator built again with -DCAIRN_TRACING plus
# src/trace.c, the recorder; libcairn.so never contains src/trace.c (the
# Makefile filters it out of CAIRN_CORE_SRCS). cairn-replay must not link
# libcairn: it replays through whichever malloc is preloaded.
TRACE_SRCS  := $(CAIRN_SRCS) src/trace.c
TRACE_OBJS  := $(patsubst src/%.c,$(BUILD)/trace-obj/%.o,$(TRACE_SRCS))
TOOLS_DIR   := $(BUILD)/tools
TOOLS_HDRS  := tools/tracefile.h
# -fno-builtin-*: the compiler must not fold the replayed calls (e.g. drop
# a malloc whose block is only filled and freed).
TOOLS_CFLAGS := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -O2 -g -pthread -Itools \
	$(addprefix -fno-builtin-,malloc free calloc realloc memalign posix_memalign valloc pvalloc)
TRACE_TOOLS := $(BUILD)/libcairn-trace.so $(TOOLS_DIR)/cairn-trace $(TOOLS_DIR)/cairn-replay
# Test helper: a threaded program to record (plain: whatever malloc is
# preloaded).
TRACE_TEST_BINS := $(TB)/trace/t_trace_prog

.PHONY: tools
tools: $(TRACE_TOOLS)
test-build: $(TRACE_TOOLS) $(TRACE_TEST_BINS)
install: $(TRACE_TOOLS)

$(BUILD)/trace-obj/%.o: src/%.c $(CAIRN_HDRS) tools/tools.mk | $(BUILD)/trace-obj
	$(CC) $(CAIRN_CFLAGS) $(OPT) $(CFLAGS) -DNDEBUG -DCAIRN_TRACING -c $< -o $@
$(BUILD)/trace-obj $(TOOLS_DIR):
	mkdir -p $@
$(BUILD)/libcairn-trace.so: $(TRACE_OBJS)
	$(CC) -shared -Wl,-soname,libcairn-trace.so -Wl,-z,nodelete -o $@ $(TRACE_OBJS) $(LDLIBS)

$(TOOLS_DIR)/%.o: tools/%.c $(TOOLS_HDRS) tools/tools.mk | $(TOOLS_DIR)
	$(CC) $(TOOLS_CFLAGS) $(CFLAGS) -c $< -o $@
$(TOOLS_DIR)/cairn-trace: $(TOOLS_DIR)/cairn-trace.o $(TOOLS_DIR)/tracefile.o
	$(CC) -o $@ $^ -pthread
$(TOOLS_DIR)/cairn-replay: $(TOOLS_DIR)/cairn-replay.o $(TOOLS_DIR)/tracefile.o
	$(CC) -o $@ $^ -pthread -ldl

$(TB)/trace/t_trace_prog: tests/t_trace_prog.c tools/tools.mk
	@mkdir -p $(@D)
	$(CC) $(TEST_CFLAGS) $< -o $@ $(LDLIBS)

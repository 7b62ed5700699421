# cairn benchmark suite (included by the top-level Makefile).
#
#   make bench         full run, every workload x allocator, >= 3 repetitions,
#                      writes bench/results/latest.{csv,md,json,*.png} and
#                      regenerates docs/BENCHMARKS.md            (< 30 min)
#   make bench-quick   same workloads, small parameters, results in
#                      bench/results/quick.*                      (< 3 min)
#   make bench-smoke   builds the suite, runs one tiny workload under cairn
#                      and glibc and checks the outputs agree (seconds;
#                      no timing assertions)
#
# Pass runner options with BENCH_ARGS, e.g.
#   make bench BENCH_ARGS='--only larson --alloc cairn,glibc'
#   make bench BENCH_ARGS=--hardened   (also the hardened peer builds)
# or call the runner directly: python3 bench/run.py --help
#
# The workloads are C (BENCH_CC) except cxx_map, which is C++ (BENCH_CXX,
# Debian's g++).

BENCH_BUILD    := $(BUILD)/bench
BENCH_CC       ?= $(CC)
BENCH_CFLAGS   ?= -O2 -g -pthread -Wall -Wextra
BENCH_CXX      ?= g++
BENCH_CXXFLAGS ?= -O2 -g -std=c++17 -Wall -Wextra
BENCH_PYTHON   ?= python3
BENCH_ARGS     ?=
BENCH_WORKLOADS := larson xmalloc cache mstress alloc_test glibc_bench fastpath \
                   realloc_grow large calloc_sparse frag churn idle probe runwrap
BENCH_BINS     := $(addprefix $(BENCH_BUILD)/,$(BENCH_WORKLOADS)) \
                  $(BENCH_BUILD)/libglibcshim.so $(BENCH_BUILD)/icount
# C++ workloads (Debian package g++; bench/run.py installs it when missing).
# Without a C++ compiler they are not built and the runner skips them with
# a notice, so bench-build and bench-smoke still work.
BENCH_CXX_WORKLOADS := cxx_map
ifneq ($(shell command -v $(BENCH_CXX) 2>/dev/null),)
BENCH_BINS     += $(addprefix $(BENCH_BUILD)/,$(BENCH_CXX_WORKLOADS))
endif

.PHONY: bench bench-quick bench-smoke bench-build bench-report

bench-build: $(BENCH_BINS)

$(BENCH_BUILD)/%: bench/workloads/%.c bench/workloads/common.h | $(BENCH_BUILD)
	$(BENCH_CC) $(BENCH_CFLAGS) -o $@ $< -ldl -lm

$(BENCH_BUILD)/%: bench/workloads/%.cpp | $(BENCH_BUILD)
	$(BENCH_CXX) $(BENCH_CXXFLAGS) -o $@ $<

# Instruction counter for allocators that cannot run under callgrind.
$(BENCH_BUILD)/icount: bench/icount.c | $(BENCH_BUILD)
	$(BENCH_CC) $(BENCH_CFLAGS) -Werror -o $@ $<

$(BENCH_BUILD)/libglibcshim.so: bench/workloads/glibc_shim.c | $(BENCH_BUILD)
	$(BENCH_CC) -O2 -shared -fPIC -o $@ $< -ldl

$(BENCH_BUILD):
	mkdir -p $@

bench: all bench-build
	$(BENCH_PYTHON) bench/run.py --mode full --write-docs $(BENCH_ARGS)

bench-quick: all bench-build
	$(BENCH_PYTHON) bench/run.py --mode quick $(BENCH_ARGS)

bench-smoke: all bench-build
	$(BENCH_PYTHON) bench/run.py --mode smoke $(BENCH_ARGS)

# Re-render tables, charts and docs/BENCHMARKS.md from bench/results/latest.json
bench-report:
	$(BENCH_PYTHON) bench/run.py --report-only --write-docs $(BENCH_ARGS)

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
# or call the runner directly: python3 bench/run.py --help

BENCH_BUILD    := $(BUILD)/bench
BENCH_CC       ?= $(CC)
BENCH_CFLAGS   ?= -O2 -g -pthread -Wall -Wextra
BENCH_PYTHON   ?= python3
BENCH_ARGS     ?=
BENCH_WORKLOADS := larson xmalloc cache mstress alloc_test glibc_bench fastpath \
                   realloc_grow large frag probe runwrap
BENCH_BINS     := $(addprefix $(BENCH_BUILD)/,$(BENCH_WORKLOADS)) \
                  $(BENCH_BUILD)/libglibcshim.so

.PHONY: bench bench-quick bench-smoke bench-build bench-report

bench-build: $(BENCH_BINS)

$(BENCH_BUILD)/%: bench/workloads/%.c bench/workloads/common.h | $(BENCH_BUILD)
	$(BENCH_CC) $(BENCH_CFLAGS) -o $@ $< -ldl

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

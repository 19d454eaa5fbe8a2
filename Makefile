# Makefile - a thin wrapper over CMake. `make test` and `make demo` are the two set-up commands.
BUILD ?= build
SAN_BUILD ?= build-sanitize
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_WORK ?= $(FUZZ_BUILD)/corpus-work
FUZZ_TARGETS = manifest policy analytics strategy duration cxone
VALGRIND_BUILD ?= build-valgrind
BENCH_BUILD ?= build-bench
# e2e tests check child processes (not traced); the Monte Carlo and 1,000-org scale tests
# take too long under memcheck to be worth it.
VALGRIND_SKIP ?= test_e2e_|_cli$$|test_stats_mc|test_sim_scale
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?=

.PHONY: all deps deps-test build test test-sanitize demo bench fuzz fuzz-smoke fuzz-build valgrind clean format \
	format-check tidy lint

all: build

deps:
	@scripts/deps.sh

# The dashboard test drives headless Chromium and test_stats_scipy runs SciPy; both are
# installed when possible, and the tests report SKIPPED where they are not (.ci/run requires them).
deps-test:
	@scripts/deps.sh --with-chromium --with-scipy --optional

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DRG_WERROR=ON $(CMAKE_FLAGS)

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

test: deps-test build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# The end-to-end PostgreSQL twins (test_e2e_*_pg) run the same engine code as their SQLite
# runs, which the sanitizers see; the store's PostgreSQL suites (test_store*_pg) stay in, so
# the libpq driver is checked too. SAN_EXCLUDE= runs everything.
SAN_EXCLUDE ?= ^test_e2e_.*_pg$$
test-sanitize: deps deps-test
	cmake -S . -B $(SAN_BUILD) -DRG_WERROR=ON -DRG_SANITIZE=address,undefined $(CMAKE_FLAGS)
	cmake --build $(SAN_BUILD) -j $(JOBS)
	cd $(SAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		ctest --output-on-failure -j $(JOBS) $(if $(SAN_EXCLUDE),-E '$(SAN_EXCLUDE)')

# libFuzzer needs clang; the library is built with -fsanitize=fuzzer-no-link,address,undefined.
# Each target runs FUZZ_SECONDS on a scratch copy of its seed corpus (the tree's corpus is
# never written); crashes land in $(FUZZ_BUILD)/artifacts. Keep a reproducer by copying it
# to tests/fuzz/regressions/<target>/ (fixed) or regressions/open/<target>/ (not yet).
fuzz-build:
	@scripts/deps.sh --with-clang
	CC=clang cmake -S . -B $(FUZZ_BUILD) -DRG_FUZZ=ON -DRG_BUILD_TESTS=OFF $(CMAKE_FLAGS)
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target fuzz_all

fuzz: fuzz-build
	@mkdir -p $(FUZZ_BUILD)/artifacts
	@set -e; for t in $(FUZZ_TARGETS); do \
		rm -rf $(FUZZ_WORK)/$$t; mkdir -p $(FUZZ_WORK)/$$t; \
		cp tests/fuzz/corpus/$$t/* $(FUZZ_WORK)/$$t/; \
		echo "fuzz_$$t: $(FUZZ_SECONDS) s"; \
		ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		$(FUZZ_BUILD)/tests/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -max_len=16384 \
			-rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
			-artifact_prefix=$(FUZZ_BUILD)/artifacts/$$t- $(FUZZ_WORK)/$$t \
			tests/fuzz/regressions/$$t; \
	done

fuzz-smoke:
	$(MAKE) fuzz FUZZ_SECONDS=30

# Every unit and integration test under valgrind memcheck, without sanitizers (they do not
# mix). A definite leak or any memory error fails the test.
valgrind: deps
	cmake -S . -B $(VALGRIND_BUILD) -DRG_WERROR=ON -DRG_SANITIZE= $(CMAKE_FLAGS)
	cmake --build $(VALGRIND_BUILD) -j $(JOBS)
	cd $(VALGRIND_BUILD) && ctest --output-on-failure -j $(JOBS) -LE "open-bug" \
		-E "$(VALGRIND_SKIP)" --timeout 900 \
		-T memcheck --overwrite MemoryCheckCommand=$$(command -v valgrind) \
		--overwrite MemoryCheckCommandOptions="--error-exitcode=1 --leak-check=full \
			--errors-for-leak-kinds=definite --show-leak-kinds=definite --num-callers=30 \
			--trace-children=no"

# The build's output goes to a log, shown only when it fails, so the story starts at once.
demo: deps
	@mkdir -p $(BUILD)
	@echo "building rollgate (log: $(BUILD)/demo-build.log) ..."
	@{ [ -f $(BUILD)/CMakeCache.txt ] || cmake -S . -B $(BUILD) -DRG_WERROR=ON $(CMAKE_FLAGS); } \
		>$(BUILD)/demo-build.log 2>&1 && cmake --build $(BUILD) -j $(JOBS) \
		>>$(BUILD)/demo-build.log 2>&1 || { cat $(BUILD)/demo-build.log; exit 1; }
	@$(BUILD)/cli/rollgate demo

# Benchmarks (bench/): a Release build without sanitizers, every benchmark run, BENCHMARKS.md
# rewritten. About 25 minutes on 2 cores; DQ_REPS=200 for a quick look.
bench:
	cmake -S . -B $(BENCH_BUILD) -DCMAKE_BUILD_TYPE=Release -DRG_SANITIZE= -DRG_WERROR=OFF \
		$(CMAKE_FLAGS)
	cmake --build $(BENCH_BUILD) -j $(JOBS) --target sim_throughput rollback_latency \
		tick_scale poll_tick serve_load stats_speed decision_quality store_backends hosts \
		rollgate rollgate-sim
	bench/run.sh $(BENCH_BUILD) BENCHMARKS.md

clean:
	rm -rf $(BUILD) $(SAN_BUILD) $(FUZZ_BUILD) $(VALGRIND_BUILD) $(BENCH_BUILD)

# Formatting: every tracked C file with the repo's .clang-format (idempotent: a second run
# changes nothing). `make lint` checks it without writing.
FORMAT_FILES = $$(git ls-files '*.c' '*.h')

format:
	clang-format -i $(FORMAT_FILES)

format-check:
	clang-format --dry-run -Werror $(FORMAT_FILES)

# clang-tidy with the repo's .clang-tidy over every file the build compiles (scripts/tidy.sh).
tidy: $(BUILD)/CMakeCache.txt
	scripts/tidy.sh $(BUILD)

# What CI checks before the tests (.ci/run): formatting, clang-tidy, each public header alone
# (test_headers) and the layer graph over the built libraries (test_layers, and that the
# check catches a wrong call: test_layers_catches).
lint: format-check build tidy
	cd $(BUILD) && ctest --output-on-failure -R '^test_(headers|layers|layers_catches)$$'

# Thin wrapper over CMake and the scripts; the real work lives in scripts/.
#   make            configure and build in build/
#   make test       THE test command: scripts/test.sh (SE_TEST_QUICK=1 skips
#                   the valgrind and sanitizer passes)
#   make run        build, start the stack and every component in the foreground
#   make gen        rebuild protoc-gen-se, regenerate gen/ from proto/
#   make gen-check  fail if gen/ is stale
#   make bench      run the benchmarks (bench/run.sh)
#   make asan       ASan+UBSan build in build-asan/
#   make clean      remove build folders and .run/
BUILD ?= build
ASAN_BUILD ?= build-asan
JOBS ?= $(shell nproc)
PLUGIN = $(CURDIR)/$(BUILD)/tools/protoc-gen-se/protoc-gen-se

.PHONY: all build configure test run gen gen-check bench asan clean

all: build

configure:
	@scripts/install-deps.sh
	cmake -S . -B $(BUILD)

build: configure
	cmake --build $(BUILD) -j $(JOBS)

test:
	scripts/test.sh

run:
	scripts/run.sh

gen: configure
	cmake --build $(BUILD) -j $(JOBS) --target protoc-gen-se
	SE_PROTOC_GEN_SE=$(PLUGIN) scripts/gen.sh

gen-check: configure
	cmake --build $(BUILD) -j $(JOBS) --target protoc-gen-se
	SE_PROTOC_GEN_SE=$(PLUGIN) scripts/gen.sh --check

bench: build
	@if [ -x bench/run.sh ]; then bench/run.sh; else echo "bench/run.sh not found"; exit 1; fi

asan:
	@scripts/install-deps.sh
	cmake -S . -B $(ASAN_BUILD) -DSE_SANITIZE=ON
	cmake --build $(ASAN_BUILD) -j $(JOBS)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
	@if [ -f .run/stack/env ]; then scripts/stack.sh stop .run/stack || true; fi
	rm -rf .run

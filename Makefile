# Thin wrapper over CMake and the scripts; the real work lives in scripts/.
#   make            configure and build in build/
#   make test       THE test command: scripts/test.sh (SE_TEST_QUICK=1 skips
#                   the valgrind and sanitizer passes)
#   make run        build, start the stack and every component in the foreground
#   make gen        rebuild protoc-gen-se, regenerate gen/ from proto/
#   make gen-check  fail if gen/ is stale
#   make bench      run the benchmarks (bench/run.sh)
#   make asan       ASan+UBSan build in build-asan/
#   make k8s-render OUT=<dir> [VALUES="<values file>..."]
#                   render the Kubernetes chart (deploy/k8s) into <dir>,
#                   one file per object (tools/k8s/render, offline)
#   make k8s-check  validate the chart and the image build offline
#                   (scripts/k8s-check.sh; CI runs it after make test)
#   make clean      remove build folders (build-k8s too) and .run/
BUILD ?= build
ASAN_BUILD ?= build-asan
JOBS ?= $(shell nproc)
PLUGIN = $(CURDIR)/$(BUILD)/tools/protoc-gen-se/protoc-gen-se
K8S_DIR ?= build-k8s

.PHONY: all build configure test run gen gen-check bench asan k8s-render k8s-check clean

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

k8s-render:
	@test -n "$(OUT)" || { echo 'usage: make k8s-render OUT=<dir> [VALUES="deploy/k8s/values-production.yaml"]' >&2; exit 2; }
	@scripts/install-deps.sh
	tools/k8s/build-render.sh $(K8S_DIR)/bin/k8s-render
	$(K8S_DIR)/bin/k8s-render --chart deploy/k8s $(foreach f,$(VALUES),-f $(f)) --out $(OUT)

k8s-check:
	@scripts/install-deps.sh
	SE_BUILD_DIR=$(BUILD) SE_K8S_DIR=$(K8S_DIR) scripts/k8s-check.sh

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(K8S_DIR)
	@if [ -f .run/stack/env ]; then scripts/stack.sh stop .run/stack || true; fi
	rm -rf .run

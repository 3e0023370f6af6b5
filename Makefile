# Parley: `make run` starts the server on ./data; `make cluster` starts a local cluster of
# nodes behind HAProxy, with PostgreSQL and NATS, on ./cluster-data (scripts/cluster.sh;
# CLUSTER_NODES, CLUSTER_PORT, CLUSTER_DIR...); `make test` runs every test (the fuzz
# targets too, 20 s each: CTest's `fuzz`; the suites under ASan+UBSan and TSan: `asan` and
# `tsan`); `make fuzz` runs only the fuzz targets (FUZZ_ARGS="--long" for 10 minutes each;
# see tests/fuzz/run.sh); `make sanitize` runs only the sanitizer builds (tests/sanitize/).
# All install what is missing first (scripts/install-deps.sh, Debian 12 + npm).
BUILD ?= build
JOBS ?= $(shell nproc)

.PHONY: all deps configure build run cluster test fuzz sanitize clean

all: build

deps:
	@bash scripts/install-deps.sh

build: configure
	@cmake --build $(BUILD) -j $(JOBS)

configure: deps
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null

run: configure
	@cmake --build $(BUILD) -j $(JOBS) --target parley parley_web
	$(BUILD)/parley serve --host 127.0.0.1 --port 8080 --data-dir ./data --set web.dir=$(BUILD)/web

cluster: configure
	@cmake --build $(BUILD) -j $(JOBS) --target parley parley_web
	@BUILD=$(BUILD) bash scripts/cluster.sh

test: build
	cd $(BUILD) && ctest --output-on-failure --timeout 900

fuzz: deps
	@FUZZ_BUILD=$(BUILD)-fuzz bash tests/fuzz/run.sh $(FUZZ_ARGS)

sanitize: configure
	@SANITIZE_BUILD=$(BUILD)-fuzz bash tests/sanitize/asan.sh
	@cmake --build $(BUILD) -j $(JOBS) --target parley_integration_tests
	@SANITIZE_BUILD=$(BUILD)-tsan TSAN_TEST_BIN=$(BUILD)/parley_integration_tests \
	  bash tests/sanitize/tsan.sh

clean:
	rm -rf $(BUILD) $(BUILD)-fuzz $(BUILD)-tsan

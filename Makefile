# Parley: `make run` starts the server on ./data; `make test` runs every test.
# Both install what is missing first (scripts/install-deps.sh, Debian 12 + npm).
BUILD ?= build
JOBS ?= $(shell nproc)

.PHONY: all deps configure build run test clean

all: build

deps:
	@bash scripts/install-deps.sh

build: configure
	@cmake --build $(BUILD) -j $(JOBS)

configure: deps
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null

run: configure
	@cmake --build $(BUILD) -j $(JOBS) --target parley
	$(BUILD)/parley serve --host 127.0.0.1 --port 8080 --data-dir ./data

test: build
	cd $(BUILD) && ctest --output-on-failure --timeout 900

clean:
	rm -rf $(BUILD)

# Riffle: `make run` starts one broker on 127.0.0.1:9092 with data in ./data;
# `make test` installs what the tests need (if missing) and runs every test.

CARGO   ?= cargo
BIN     := target/release/riffle
PYTHON  ?= python3

.PHONY: all build run test test-rust compat deps bench help

all: build

help:
	@echo "make run      build, then start a broker on 127.0.0.1:9092 (data in ./data)"
	@echo "make test     install test dependencies if missing, run every test"
	@echo "make compat   stock clients against a broker it starts (or BOOTSTRAP=host:port)"
	@echo "make bench    criterion micro-benchmarks of the produce and fetch paths"

build:
	$(CARGO) build --release

run: build
	$(BIN) serve --override listeners=PLAINTEXT://127.0.0.1:9092 --override log.dirs=./data $(ARGS)

# Unit tests, wire tests (protocol-tests/) and bad-input tests, against real broker
# processes; then the stock-client compatibility suite (compat/).
test: build deps
	$(CARGO) test --release
	$(PYTHON) compat/run.py --broker-bin $(BIN)

test-rust: build
	$(CARGO) test --release

deps:
	bash compat/install.sh

compat: build deps
	$(PYTHON) compat/run.py --broker-bin $(BIN) $(if $(BOOTSTRAP),--bootstrap $(BOOTSTRAP))

# Micro-benchmarks (criterion). The end-to-end load run joins later (issue 6).
bench:
	$(CARGO) bench --bench log

# Riffle: `make run` starts one broker on 127.0.0.1:9092 with data in ./data;
# `make test` installs what the tests need (if missing) and runs every test.

CARGO   ?= cargo
BIN     := target/release/riffle
PYTHON  ?= python3

.PHONY: all build run cluster test test-rust compat deps bench fuzz help

all: build

help:
	@echo "make run      build, then start a broker on 127.0.0.1:9092 (data in ./data)"
	@echo "make cluster  build, then start three brokers on 127.0.0.1:9092-9094 (data in ./data/cluster/N)"
	@echo "make test     install test dependencies if missing, run every test"
	@echo "make compat   stock clients against a broker it starts (or BOOTSTRAP=host:port)"
	@echo "make bench    criterion micro-benchmarks, then the end-to-end load run; figures to BENCHMARKS.md"
	@echo "make fuzz     every cargo-fuzz target for FUZZ_SECONDS (600) each; see FUZZING.md"

build:
	$(CARGO) build --release

run: build
	$(BIN) serve --override listeners=PLAINTEXT://127.0.0.1:9092 --override log.dirs=./data $(ARGS)

# Three brokers (each also a controller) on 9092, 9093, 9094; Ctrl-C stops them all.
cluster: build
	$(BIN) cluster --brokers 3 --base-port 9092 --data-dir ./data/cluster $(ARGS)

# Unit tests, wire tests (protocol-tests/) and bad-input tests, against real broker
# processes; the benchmarks are built (not run: nothing here depends on a timing); the
# fuzz targets run a few seconds each with a fixed seed (so they cannot rot); then the
# stock-client compatibility suite (compat/).
test: build deps
	$(CARGO) test --release
	$(CARGO) bench --bench log --no-run
	$(PYTHON) -m py_compile benches/e2e.py
	bash fuzz/run.sh 5
	$(PYTHON) compat/run.py --broker-bin $(BIN)

test-rust: build
	$(CARGO) test --release

deps:
	bash compat/install.sh

compat: build deps
	$(PYTHON) compat/run.py --broker-bin $(BIN) $(if $(BOOTSTRAP),--bootstrap $(BOOTSTRAP))

# Coverage-guided fuzzing (cargo-fuzz, libFuzzer): request decoding and dispatch, record
# batches, segment recovery, peer frames. FUZZING.md has the figures of the last long run.
FUZZ_SECONDS ?= 600
fuzz:
	bash fuzz/run.sh $(FUZZ_SECONDS)

# Criterion micro-benchmarks (benches/log.rs), then the end-to-end run (benches/e2e.py):
# a release broker driven by rdkafka_performance, which benches/install.sh builds from
# Debian's librdkafka sources. Both write their figures into BENCHMARKS.md.
bench: build
	$(CARGO) bench --bench log
	tool=$$(bash benches/install.sh target/bench-tools) && \
	  $(PYTHON) benches/e2e.py --broker-bin $(BIN) --tool "$$tool" --out BENCHMARKS.md

# Riffle: `make run` starts one broker on 127.0.0.1:9092 with data in ./data;
# `make test` installs what the tests need (if missing) and runs every test.

CARGO   ?= cargo
BIN     := target/release/riffle
PYTHON  ?= python3

.PHONY: all build run cluster test test-rust compat compat-reference deps bench fuzz help

all: build

help:
	@echo "make run      build, then start a broker on 127.0.0.1:9092 (data in ./data)"
	@echo "make cluster  build, then start three brokers on 127.0.0.1:9092-9094 (data in ./data/cluster/N)"
	@echo "make test     install test dependencies if missing, run every test"
	@echo "make compat   stock clients against a broker it starts (or BOOTSTRAP=host:port)"
	@echo "make compat-reference  the same suite against Apache Kafka (compat/kafka/pom.xml names the version)"
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
# stock-client compatibility suite (compat/), then a cut of it against Apache Kafka
# (compat/reference-cut.txt: every client and area once), so that the scenarios cannot
# drift from Kafka unseen; `make compat-reference` runs all of them against Kafka.
test: build deps
	$(CARGO) test --release
	$(CARGO) bench --bench log --no-run
	$(PYTHON) -m py_compile benches/e2e.py
	$(PYTHON) -m compileall -q benches
	bash fuzz/run.sh 5
	$(PYTHON) compat/run.py --broker-bin $(BIN)
	$(PYTHON) compat/run.py --flavour kafka --broker-bin $(BIN) --cut compat/reference-cut.txt

test-rust: build
	$(CARGO) test --release

deps:
	bash compat/install.sh

compat: build deps
	$(PYTHON) compat/run.py --broker-bin $(BIN) $(if $(BOOTSTRAP),--bootstrap $(BOOTSTRAP))

# Every compat scenario against Apache Kafka (the reference); deliberate differences are
# listed in compat/reference-differences.txt.
compat-reference: build deps
	$(PYTHON) compat/run.py --flavour kafka --broker-bin $(BIN)

# Coverage-guided fuzzing (cargo-fuzz, libFuzzer): request decoding and dispatch, record
# batches, segment recovery, peer frames. FUZZING.md has the figures of the last long run.
FUZZ_SECONDS ?= 600
fuzz:
	bash fuzz/run.sh $(FUZZ_SECONDS)

# Criterion micro-benchmarks (benches/log.rs), then the end-to-end run (benches/e2e.py):
# Riffle and Apache Kafka side by side (compat/kafka), driven by rdkafka_performance
# (which benches/install.sh builds from Debian's librdkafka sources) and by Kafka's own
# perf-test tools. Both write their figures into BENCHMARKS.md; the raw end-to-end results
# stay in target/bench-results.pickle (`benches/e2e.py --report-from` re-renders them).
# BENCH_ARGS=--quick checks the script in a few minutes (its figures mean nothing).
bench: build
	$(CARGO) bench --bench log
	tool=$$(bash benches/install.sh target/bench-tools) && \
	  $(PYTHON) benches/e2e.py --broker-bin $(BIN) --tool "$$tool" --out BENCHMARKS.md \
	    --save target/bench-results.pickle $(BENCH_ARGS)
	bash benches/tls_cost.sh | tee target/tls-cost.txt

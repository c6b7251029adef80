#!/usr/bin/env python3
"""End-to-end benchmark: Riffle and Apache Kafka side by side, in the same run.

Both brokers run on this machine, alternating case by case, driven by the same load
generators with the same topics (6 partitions) and the same settings (Kafka's property
names): a single broker, and three nodes (each a broker and a controller) with
replication factor 3 and min.insync.replicas=2. Two load generators drive both:
librdkafka's rdkafka_performance (benches/install.sh builds it) and Kafka's own
kafka-producer-perf-test / kafka-consumer-perf-test (org.apache.kafka.tools.*, from
the jars compat/kafka builds). Kafka is started as the compat suite starts it
(compat/harness/apache_kafka.py): a KRaft node with kafka-run-class's stock JVM options.

Each load run gets broker processes of its own. Its broker cost is read from the kernel:
the CPU seconds (user + system) the broker processes used from the moment they were
ready and warmed up to the moment the load generator exited (each process's CPU clock,
which counts exited threads too), summed over the nodes; and each node's peak RSS
(VmHWM). Start-up, warm-up and the clean stop are measured apart.

Writes the figures to BENCHMARKS.md between the e2e markers (the rest of the file is
kept), led by a table of Riffle / Kafka ratios. Never fails on a figure: a benchmark
reports, it does not judge.

Usage: python3 benches/e2e.py --broker-bin target/release/riffle --tool PATH [--out BENCHMARKS.md] [--quick]
                              [--save RESULTS.pickle] [--report-from RESULTS.pickle] [--no-profile]
  --quick: a few thousand messages per run and one repeat, to check the script end to end.
  --save / --report-from: keep the raw results; write the report from them without measuring.
  RIFFLE_BENCH_REPEATS (default 3) and RIFFLE_BENCH_CLUSTER_REPEATS (default 1): repeats
  of each single-broker and three-broker case (each three-broker repeat adds ~7 minutes).
"""

import argparse
import os
import pickle
import shutil
import sys
import tempfile
import time
from pathlib import Path

# The parts live in benches/e2e/ (this script's directory is on sys.path, and the package
# directory is found before this file). Scale is imported here too: results saved before
# the split name it __main__.Scale, and --report-from loads them in this module.
from e2e.host import file_write_cost, machine
from e2e.loadgen import KafkaPerf, Rdkafka
from e2e.processes import Kafka, Riffle
from e2e.progress import log
from e2e.report import write_report
from e2e.runs import Alternation, footprint, heap_search, latencies, riffle_only, side_by_side, startup
from e2e.scale import Scale, full_scale, quick_scale  # noqa: F401  (Scale: see above)
from e2e.settings import ROOT


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--broker-bin", default=str(ROOT / "target/release/riffle"))
    ap.add_argument("--tool", help="rdkafka_performance (benches/install.sh prints its path)")
    ap.add_argument("--out", default=str(ROOT / "BENCHMARKS.md"))
    ap.add_argument("--no-profile", action="store_true")
    ap.add_argument("--quick", action="store_true", help="tiny runs, one repeat: checks the script, not the brokers")
    ap.add_argument("--save", metavar="PATH", help="also keep the raw results (a pickle) there")
    ap.add_argument("--report-from", metavar="PATH", help="measure nothing: write the report from saved results")
    args = ap.parse_args()
    if args.report_from:
        with open(args.report_from, "rb") as f:
            write_report(args.out, pickle.load(f))
        return
    if not args.tool:
        ap.error("--tool is required (benches/install.sh prints rdkafka_performance's path)")
    S = quick_scale() if args.quick else full_scale()
    rd, kp = Rdkafka(args.tool), KafkaPerf()
    profile = not args.no_profile and shutil.which("perf") is not None
    work = Path(tempfile.mkdtemp(prefix="riffle-bench-"))
    riffle, kafka = Riffle(os.path.abspath(args.broker_bin)), Kafka(work)
    flavours = (riffle, kafka)
    alternate = Alternation(flavours)
    dirs = (work / f"run-{i}" for i in range(1_000_000))
    results = {"machine": machine(), "scale": S, "riffle": riffle.version, "kafka": kafka.version,
               "librdkafka": rd.version, "quick": args.quick}
    t0 = time.monotonic()
    try:
        log("warming the page cache (scratch file)")
        results["write_cost"] = file_write_cost(work / "scratch", 1 if args.quick else 2)
        log("exec → first ApiVersions answered")
        wanted = dict(zip((fl.name for fl in flavours), S.startups))
        starts = {fl.name: [] for fl in flavours}
        for i in range(max(S.startups)):
            for fl in alternate():
                if len(starts[fl.name]) < wanted[fl.name]:
                    starts[fl.name].append(startup(fl, work / f"start-{fl.name}-{i}"))
                    shutil.rmtree(work / f"start-{fl.name}-{i}")
        results["startup"] = starts
        log("footprint: Riffle's representative run")
        results["footprint_riffle"] = footprint(riffle, rd, work / "footprint-riffle", S)
        results["heaps"] = heap_search(kafka, rd, work, S)
        results["single"] = side_by_side((rd, kp), rd, 1, S.repeats, S, dirs, alternate)
        results["cluster"] = side_by_side((rd, kp), rd, 3, S.cluster_repeats, S, dirs, alternate)
        results["latency"] = latencies(rd, kp, S, dirs, alternate)
        results.update(riffle_only(riffle, rd, work, S, profile, dirs))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results["minutes"] = (time.monotonic() - t0) / 60
    if args.save:
        with open(args.save, "wb") as f:
            pickle.dump(results, f)
    write_report(args.out, results)
    log(f"figures written to {args.out} ({results['minutes']:.1f} min)")


if __name__ == "__main__":
    sys.exit(main())

"""Paths, the compat harness's apache_kafka module (how Kafka is started) and the
constants every part of the benchmark shares."""

import os
import sys
from pathlib import Path


ROOT = Path(__file__).resolve().parent.parent.parent  # benches/e2e/settings.py -> the repository
sys.path.insert(0, str(ROOT / "compat"))
from harness import apache_kafka as kafka_ref  # noqa: E402  (compat/harness/apache_kafka.py: how Kafka is started)

GIB = 1 << 30
CORES = os.cpu_count() or 1
PARTITIONS = 6
LINGER_MS = 5          # librdkafka's and the Java producer's own default; both tools get it explicitly
LATENCY_RATE = 10_000  # msgs/s of 100 B: far below either broker's limit, on 1 or 3 brokers
TOOL_HEAP = "-Xmx512m"  # what bin/kafka-*-perf-test.sh give their JVM
HEAPS = ("1G", "512m", "256m", "128m", "64m")  # Kafka heaps tried, largest (the stock one) first
RUN_TIMEOUT = 300

# Settings both flavours get. Kafka's stock config/server.properties sets
# group.initial.rebalance.delay.ms=0 too (the default would hold every first join 3 s).
BENCH_SETTINGS = {"num.partitions": str(PARTITIONS), "group.initial.rebalance.delay.ms": "0"}
CLUSTER_SETTINGS = {"default.replication.factor": "3", "min.insync.replicas": "2",
                    "offsets.topic.replication.factor": "3"}

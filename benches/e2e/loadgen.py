"""Load generators: librdkafka's rdkafka_performance and Kafka's own perf tools."""

import re
import resource
import shutil
import statistics
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from .settings import LINGER_MS, PARTITIONS, RUN_TIMEOUT, TOOL_HEAP, kafka_ref


def run_client(argv, timeout=RUN_TIMEOUT):
    """Runs a load generator to its end: (its output, its CPU seconds, its wall seconds)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = r.stdout + r.stderr
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[-12:])} exited {r.returncode}:\n{out[-2000:]}")
    return out, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime), wall


def load_result(msgs, nbytes, ms, cpu, wall):
    ms = max(ms, 1)  # a tool's whole milliseconds: a tiny run can read 0
    return {"msgs": msgs, "bytes": nbytes, "ms": ms, "msgs_s": msgs / (ms / 1000), "mb_s": nbytes / 1e6 / (ms / 1000),
            "client_cpu_s": cpu, "client_wall_s": wall}


def percentiles(samples_ms, avg=None):
    lat = sorted(samples_ms)
    if not lat:
        raise RuntimeError("no latency samples")
    pick = lambda q: lat[min(len(lat) - 1, int(len(lat) * q))]
    return {"samples": len(lat), "avg_ms": statistics.fmean(lat) if avg is None else avg,
            "p50_ms": pick(0.50), "p99_ms": pick(0.99), "p999_ms": pick(0.999), "max_ms": lat[-1]}


class Rdkafka:
    """librdkafka's own load generator, rdkafka_performance."""
    name = "rdkafka_performance"

    def __init__(self, path):
        self.path = path
        r = subprocess.run([path], capture_output=True, text=True)
        m = re.search(r"librdkafka version (\S+)", r.stdout + r.stderr)
        self.version = m.group(1) if m else "?"

    def produce(self, bootstrap, topic, size, count, acks, timeout=RUN_TIMEOUT):
        out, cpu, wall = run_client([self.path, "-P", "-t", topic, "-s", str(size), "-c", str(count), "-a", str(acks),
                                     "-X", f"linger.ms={LINGER_MS}", "-b", bootstrap, "-q"], timeout)
        m = re.findall(r"(\d+) messages produced \((\d+) bytes\), (\d+) delivered .*? in (\d+)ms", out)
        if not m:
            raise RuntimeError(f"no result in producer output:\n{out[-2000:]}")
        _, nbytes, delivered, ms = map(int, m[-1])
        if delivered != count:
            raise RuntimeError(f"only {delivered} of {count} delivered:\n{out[-2000:]}")
        return load_result(delivered, nbytes, ms, cpu, wall)

    def consume(self, bootstrap, topic, count, size=None, timeout=RUN_TIMEOUT):
        """Reads `count` messages from every partition (`size` is not needed: the tool
        counts bytes itself)."""
        parts = [a for p in range(PARTITIONS) for a in ("-p", str(p))]
        # -e: stop at the end of every partition too, so that missing data fails the run
        # instead of hanging it.
        out, cpu, wall = run_client([self.path, "-C", "-t", topic, *parts, "-o", "beginning", "-c", str(count), "-e",
                                     "-b", bootstrap, "-q"], timeout)
        m = re.findall(r"(\d+) messages \((\d+) bytes\) consumed in (\d+)ms", out)
        if not m:
            raise RuntimeError(f"no result in consumer output:\n{out[-2000:]}")
        msgs, nbytes, ms = map(int, m[-1])
        if msgs < count:
            raise RuntimeError(f"only {msgs} of {count} messages to read:\n{out[-2000:]}")
        return load_result(msgs, nbytes, ms, cpu, wall)

    def group_consume(self, bootstrap, topic, count):
        """Reads `count` messages as a member of a new consumer group."""
        run_client([self.path, "-C", "-G", f"warm-{uuid.uuid4().hex[:8]}", "-t", topic, "-c", str(count),
                    "-b", bootstrap, "-q"])

    def latency(self, bootstrap, topic, acks, rate, count, skip):
        """Produce latency (to the delivery report) and end-to-end latency (to a consumer
        receiving the message) of the same messages, at `rate`: a consumer reading every
        partition, then a producer with linger.ms=0 (the tool's default would measure
        lingering), both with -l, each writing a sample per message (µs). The first
        `skip` messages are left out: the clients are still connecting."""
        tmp = Path(tempfile.mkdtemp(prefix="riffle-lat-"))
        parts = [a for p in range(PARTITIONS) for a in ("-p", str(p))]
        consumer = subprocess.Popen([self.path, "-C", "-t", topic, *parts, "-o", "beginning", "-c", str(count + skip),
                                     "-l", "-A", str(tmp / "e2e"), "-b", bootstrap, "-q"],
                                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(2.0)  # the consumer is fetching before the first message is sent
            run_client([self.path, "-P", "-t", topic, "-s", "100", "-c", str(count + skip), "-r", str(rate),
                        "-a", str(acks), "-l", "-A", str(tmp / "produce"), "-X", "linger.ms=0", "-b", bootstrap, "-q"])
            consumer.wait(timeout=60)
            read = lambda f: [int(x) / 1000 for x in (tmp / f).read_text().split() if x.strip().isdigit()][skip:]
            return {"produce": percentiles(read("produce")), "e2e": percentiles(read("e2e"))}
        finally:
            if consumer.poll() is None:
                consumer.kill()
                consumer.wait()
            shutil.rmtree(tmp, ignore_errors=True)


class KafkaPerf:
    """Kafka's own load generators, as bin/kafka-producer-perf-test.sh and
    bin/kafka-consumer-perf-test.sh run them, and EndToEndLatency."""
    name = "kafka-*-perf-test"

    def __init__(self):
        self.version = kafka_ref.kafka_version()

    @staticmethod
    def argv(main, *args):
        return kafka_ref.java_argv(f"org.apache.kafka.tools.{main}", *args, heap=TOOL_HEAP)

    # "%d records sent, %f records/sec (%.2f MB/sec), %.2f ms avg latency, %.2f ms max latency,
    #  %d ms 50th, %d ms 95th, %d ms 99th, %d ms 99.9th."
    TOTAL = re.compile(r"(\d+) records sent, ([\d.]+) records/sec \([\d.]+ MB/sec\), ([\d.]+) ms avg latency, "
                       r"([\d.]+) ms max latency, (\d+) ms 50th, (\d+) ms 95th, (\d+) ms 99th, (\d+) ms 99\.9th")

    def _producer(self, bootstrap, topic, size, count, acks, throughput, linger, extra=(), timeout=RUN_TIMEOUT):
        out, cpu, wall = run_client(self.argv(
            "ProducerPerformance", "--topic", topic, "--num-records", str(count), "--record-size", str(size),
            "--throughput", str(throughput), *extra, "--command-property", f"bootstrap.servers={bootstrap}",
            f"acks={'all' if acks == -1 else acks}", f"linger.ms={linger}"), timeout)
        m = self.TOTAL.findall(out)
        if not m:
            raise RuntimeError(f"no result in kafka-producer-perf-test output:\n{out[-2000:]}")
        return m, cpu, wall, out

    def produce(self, bootstrap, topic, size, count, acks, timeout=RUN_TIMEOUT):
        m, cpu, wall, out = self._producer(bootstrap, topic, size, count, acks, -1, LINGER_MS, timeout=timeout)
        sent, rate = int(m[-1][0]), float(m[-1][1])
        if sent != count:
            raise RuntimeError(f"only {sent} of {count} sent:\n{out[-2000:]}")
        return load_result(sent, sent * size, sent / rate * 1000, cpu, wall)

    def consume(self, bootstrap, topic, count, size, timeout=RUN_TIMEOUT):
        """Its own figures leave out the group join (fetch.time.ms); so do these."""
        out, cpu, wall = run_client(self.argv(
            "ConsumerPerformance", "--bootstrap-server", bootstrap, "--topic", topic, "--num-records", str(count),
            "--group", f"perf-{uuid.uuid4().hex[:8]}", "--timeout", "30000"), timeout)
        # start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec,
        # rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec
        stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d:\d{3}"
        m = re.findall(rf"^{stamp}, {stamp}, ([\d.]+), ([\d.]+), (\d+), ([\d.]+), (-?\d+), (\d+),", out, re.M)
        if not m:
            raise RuntimeError(f"no result in kafka-consumer-perf-test output:\n{out[-2000:]}")
        msgs, fetch_ms = int(m[-1][2]), int(m[-1][5])
        if msgs < count:
            raise RuntimeError(f"only {msgs} of {count} consumed:\n{out[-2000:]}")
        return load_result(msgs, msgs * size, max(fetch_ms, 1), cpu, wall)

    def produce_latency(self, bootstrap, topic, acks, rate, count, skip):
        """kafka-producer-perf-test at `rate`, linger.ms=0, its steady-state total (the
        first `skip` records are its --warmup-records). It reports whole milliseconds."""
        m, _, _, _ = self._producer(bootstrap, topic, 100, count + skip, acks, rate, 0,
                                    ("--warmup-records", str(skip)))
        sent, _, avg, mx, p50, _, p99, p999 = m[-1]
        return {"samples": int(sent), "avg_ms": float(avg), "p50_ms": float(p50), "p99_ms": float(p99),
                "p999_ms": float(p999), "max_ms": float(mx)}

    def e2e_latency(self, bootstrap, topic, acks, count):
        """EndToEndLatency: one message at a time, sent synchronously, then polled for;
        its percentiles are whole milliseconds, its average is not."""
        out, _, _ = run_client(self.argv("EndToEndLatency", bootstrap, topic, str(count),
                                         "all" if acks == -1 else str(acks), "100"))
        avg = re.search(r"Avg latency: ([\d.]+) ms", out)
        p = re.search(r"Percentiles: 50th = (\d+), 99th = (\d+), 99\.9th = (\d+)", out)
        if not (avg and p):
            raise RuntimeError(f"no result in EndToEndLatency output:\n{out[-2000:]}")
        return {"samples": count, "avg_ms": float(avg.group(1)), "p50_ms": float(p.group(1)),
                "p99_ms": float(p.group(2)), "p999_ms": float(p.group(3)), "max_ms": None}

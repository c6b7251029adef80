#!/usr/bin/env python3
"""End-to-end benchmark: a release broker driven by librdkafka's own load generator
(rdkafka_performance), with the broker's own cost read from the kernel.

Each load run gets a broker process of its own (on a shared data directory), so that
os.wait4() reports exactly that run's CPU seconds (user + system) and peak RSS. Start
and stop are included; their cost is measured on its own and reported.

Writes the figures to BENCHMARKS.md (between the e2e markers; the rest of the file is
kept). Never fails on a figure: a benchmark reports, it does not judge.

Usage: python3 benches/e2e.py --broker-bin target/release/riffle --tool PATH [--out BENCHMARKS.md]
"""

import argparse
import datetime
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GIB = 1 << 30
PARTITIONS = 6
REPEATS = int(os.environ.get("RIFFLE_BENCH_REPEATS", "5"))


def log(msg):
    print(f"[e2e] {msg}", flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broker:
    """One `riffle serve` process on 127.0.0.1, stopped with SIGTERM (a clean stop)."""

    def __init__(self, binary, data, port=None, overrides=(), wait=True):
        self.port = port or free_port()
        args = [binary, "serve",
                "--override", f"listeners=PLAINTEXT://127.0.0.1:{self.port}",
                "--override", f"log.dirs={data}",
                "--override", f"num.partitions={PARTITIONS}"]
        for o in overrides:
            args += ["--override", o]
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.ready = threading.Event()
        self.log_tail = []
        threading.Thread(target=self._drain, daemon=True).start()
        if wait:
            self.wait_ready()

    def wait_ready(self):
        if not self.ready.wait(60):
            self.kill()
            raise RuntimeError("broker did not start:\n" + "\n".join(self.log_tail[-20:]))

    def _drain(self):
        for line in self.proc.stderr:
            self.log_tail = (self.log_tail + [line.rstrip()])[-50:]
            if "broker started" in line:
                self.ready.set()

    @property
    def bootstrap(self):
        return f"127.0.0.1:{self.port}"

    def cpu_so_far(self):
        """CPU seconds the broker's live threads have used (per-thread schedstat, in ns).
        Threads that already exited are missed, so this can only undercount start-up,
        which leaves it in the run's figure: the safe side."""
        total = 0
        for task in Path(f"/proc/{self.proc.pid}/task").iterdir():
            try:
                total += int((task / "schedstat").read_text().split()[0])
            except (OSError, ValueError, IndexError):
                pass
        return total / 1e9

    def status_kib(self, field):
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
        return 0

    def stop(self, sig=signal.SIGTERM):
        """Stops the broker; returns (cpu seconds, peak RSS in KiB) of its whole life.
        The peak is VmHWM, read just before the stop: wait4's ru_maxrss would count the
        forked Python process from before the exec."""
        peak = self.status_kib("VmHWM")
        self.proc.send_signal(sig)
        _, status, usage = os.wait4(self.proc.pid, 0)
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        return usage.ru_utime + usage.ru_stime, peak

    def kill(self):
        return self.stop(signal.SIGKILL)


def api_versions_answered(port, deadline):
    """Connects and sends ApiVersions v0 until a response arrives; True if it did."""
    request = struct.pack(">hhih", 18, 0, 1, 0)  # key, version, correlation id, empty client id
    frame = struct.pack(">i", len(request)) + request
    while time.perf_counter() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(frame)
                if len(s.recv(4)) == 4:
                    return True
        except OSError:
            time.sleep(0.0002)
    return False


def startup_ms(binary, data, runs):
    """Milliseconds from exec to the first ApiVersions answered, over `runs` starts."""
    times = []
    for _ in range(runs):
        port = free_port()
        t0 = time.perf_counter()
        proc = subprocess.Popen([binary, "serve", "--override", f"listeners=PLAINTEXT://127.0.0.1:{port}",
                                 "--override", f"log.dirs={data}"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        ok = api_versions_answered(port, t0 + 60)
        times.append((time.perf_counter() - t0) * 1000)
        proc.send_signal(signal.SIGTERM)
        proc.wait()
        if not ok:
            raise RuntimeError("broker never answered ApiVersions")
    return times


class Tool:
    def __init__(self, path):
        self.path = path
        r = subprocess.run([path], capture_output=True, text=True)
        out = r.stdout + r.stderr
        m = re.search(r"librdkafka version (\S+)", out)
        self.version = m.group(1) if m else "?"

    def run(self, args, timeout=180):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        r = subprocess.run([self.path, *args], capture_output=True, text=True, timeout=timeout)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.last_cpu_s = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        out = r.stdout + r.stderr
        if r.returncode != 0:
            raise RuntimeError(f"rdkafka_performance {' '.join(args)} exited {r.returncode}:\n{out[-2000:]}")
        return out

    def produce(self, bootstrap, topic, size, count, acks, extra=()):
        out = self.run(["-P", "-t", topic, "-s", str(size), "-c", str(count), "-a", str(acks),
                        "-b", bootstrap, "-q", *extra])
        m = re.findall(r"(\d+) messages produced \((\d+) bytes\), (\d+) delivered .*? in (\d+)ms: (\d+) msgs/s and ([\d.]+) MB/s", out)
        if not m:
            raise RuntimeError(f"no result in producer output:\n{out[-2000:]}")
        produced, nbytes, delivered, ms, rate, mbs = m[-1]
        if int(delivered) != count:
            raise RuntimeError(f"only {delivered} of {count} delivered:\n{out[-2000:]}")
        return {"msgs": int(delivered), "bytes": int(nbytes), "ms": int(ms), "msgs_s": int(rate), "mb_s": float(mbs),
                "client_cpu_s": self.last_cpu_s}

    def consume(self, bootstrap, topic, count):
        parts = [a for p in range(PARTITIONS) for a in ("-p", str(p))]
        out = self.run(["-C", "-t", topic, *parts, "-o", "beginning", "-c", str(count), "-b", bootstrap, "-q"])
        m = re.findall(r"(\d+) messages \((\d+) bytes\) consumed in (\d+)ms: (\d+) msgs/s \(([\d.]+) MB/s\)", out)
        if not m:
            raise RuntimeError(f"no result in consumer output:\n{out[-2000:]}")
        msgs, nbytes, ms, rate, mbs = m[-1]
        return {"msgs": int(msgs), "bytes": int(nbytes), "ms": int(ms), "msgs_s": int(rate), "mb_s": float(mbs),
                "client_cpu_s": self.last_cpu_s}


def recycle_memory(path, nbytes):
    """Writes and deletes a scratch file of `nbytes`, so that the page cache a run is
    about to fill reuses memory this VM has already backed (see the report)."""
    block = b"\x5a" * (1 << 20)
    with open(path, "wb") as f:
        for _ in range(max(1, nbytes >> 20)):
            f.write(block)
    os.unlink(path)


def measured(binary, data, fn, profile=None, warm=0):
    """Runs `fn(broker)` against a fresh broker process; adds the broker's cost. With
    `warm`, first recycles that many bytes of memory for the page cache."""
    if warm:
        recycle_memory(data.parent / "scratch", warm)
    b = Broker(binary, data)
    startup = b.cpu_so_far()
    perf = None
    if profile:
        perf = subprocess.Popen(["perf", "record", "-F", "4999", "-g", "-p", str(b.proc.pid), "-o", profile],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
    try:
        result = fn(b)
    except Exception:
        log("broker log tail:\n" + "\n".join(b.log_tail[-30:]))
        raise
    finally:
        if perf:
            perf.send_signal(signal.SIGINT)
            perf.wait()
        cpu, peak = b.stop()
    # The load and the clean stop; start-up is not the run's cost (it is measured apart).
    result["cpu_s"] = cpu - startup
    result["peak_rss_kib"] = peak
    result["cpu_per_gib"] = cpu / (result["bytes"] / GIB) if result.get("bytes") else None
    return result


def median_run(rs):
    """The median of each figure over repeated runs (peak RSS: the largest)."""
    out = dict(rs[0])
    for k in ("msgs_s", "mb_s", "cpu_s", "cpu_per_gib", "ms", "client_cpu_s"):
        vals = [r[k] for r in rs if r.get(k) is not None]
        if vals:
            out[k] = statistics.median(vals)
    out["peak_rss_kib"] = max(r["peak_rss_kib"] for r in rs)
    out["reps"] = len(rs)
    return out


def latency(tool, bootstrap, topic, acks, rate, count):
    """Per-message produce latency (rdkafka_performance -l -A) at a fixed rate, with
    linger.ms=0 (the tool's own default is 1000 ms, which would measure lingering)."""
    with tempfile.NamedTemporaryFile(prefix="riffle-lat-", suffix=".txt", delete=False) as f:
        path = f.name
    try:
        tool.run(["-P", "-t", topic, "-s", "100", "-c", str(count), "-r", str(rate), "-a", str(acks), "-l", "-A", path,
                  "-X", "linger.ms=0", "-b", bootstrap, "-q"])
        lat = sorted(int(x) for x in Path(path).read_text().split() if x.strip().lstrip("-").isdigit())
    finally:
        os.unlink(path)
    if not lat:
        raise RuntimeError("no latency samples")
    pick = lambda q: lat[min(len(lat) - 1, int(len(lat) * q))] / 1000
    return {"rate": rate, "samples": len(lat), "p50_ms": pick(0.50), "p99_ms": pick(0.99), "max_ms": lat[-1] / 1000}


def file_write_cost(path, gib):
    """CPU seconds per GiB that this machine's kernel spends writing a file from memory
    (1 MiB writes), for a first fill of the page cache and for a second one into pages
    freed by deleting the first. On a VM the first touch of guest memory is paid to the
    host; writing the scratch file once also warms the memory the runs will use."""
    block = b"\xa5" * (1 << 20)
    costs = []
    for _ in range(2):
        t0 = os.times()
        with open(path, "wb") as f:
            for _ in range(gib << 10):
                f.write(block)
        t1 = os.times()
        os.unlink(path)
        costs.append((t1.user + t1.system - t0.user - t0.system) / gib)
    return costs


def machine():
    mem = next((int(l.split()[1]) for l in Path("/proc/meminfo").read_text().splitlines() if l.startswith("MemTotal:")), 0)
    model = next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines() if l.startswith("model name")), platform.processor())
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip() or "?"
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    return {"cores": os.cpu_count(), "mem_gib": mem / (1 << 20), "cpu": model, "kernel": platform.release(),
            "commit": commit + ("+dirty" if dirty else ""), "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M")}


def perf_top(profile, limit=14):
    """The hottest symbols of a perf profile (self time): the top `limit` overall, the
    share spent in the broker's own code, and that code's top symbols."""
    empty = {"top": [], "own_share": None, "own": []}
    if not profile or not os.path.exists(profile):
        return empty
    r = subprocess.run(["perf", "report", "-i", profile, "--no-children", "--sort", "dso,symbol", "--stdio", "-g", "none"],
                       capture_output=True, text=True)
    rows = []
    for line in r.stdout.splitlines():
        m = re.match(r"\s+([\d.]+)%\s+(\S+)\s+\[([k.])\]\s+(.+?)(\s{2,}.*)?$", line)
        if m:
            rows.append((float(m.group(1)), m.group(2), m.group(4).strip()))
    if not rows:
        return empty
    own = [row for row in rows if row[1] == "riffle"]
    return {"top": [row for row in rows if row[0] >= 1][:limit], "own_share": sum(row[0] for row in own), "own": own[:8]}


def brokers_registered(port):
    """How many brokers a Metadata v1 response from 127.0.0.1:port lists (0 on error)."""
    request = struct.pack(">hhihi", 3, 1, 1, -1, 0)  # Metadata v1, no client id, no topics
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.sendall(struct.pack(">i", len(request)) + request)
            head = s.recv(12)
            return struct.unpack(">i", head[8:12])[0] if len(head) == 12 else 0
    except OSError:
        return 0


class Cluster:
    """Three `riffle serve` nodes (broker and controller each) on 127.0.0.1; new topics
    get 6 partitions with replication factor 3."""

    def __init__(self, binary, data, n=3):
        ports = [free_port() for _ in range(2 * n)]
        voters = ",".join(f"{i + 1}@127.0.0.1:{ports[n + i]}" for i in range(n))
        self.nodes = []
        for i in range(n):
            overrides = ["node.id=%d" % (i + 1), "process.roles=broker,controller",
                         f"listeners=PLAINTEXT://127.0.0.1:{ports[i]},CONTROLLER://127.0.0.1:{ports[n + i]}",
                         f"controller.quorum.voters={voters}", f"default.replication.factor={n}",
                         "min.insync.replicas=2"]
            # A cluster broker serves once the quorum has registered it: start all first.
            self.nodes.append(Broker(binary, data / str(i + 1), ports[i], overrides, wait=False))
        for b in self.nodes:
            b.wait_ready()
        deadline = time.monotonic() + 60
        while brokers_registered(self.nodes[0].port) < n:
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the cluster did not register all its brokers within 60 s")
            time.sleep(0.05)
        self.startup = sum(b.cpu_so_far() for b in self.nodes)

    @property
    def bootstrap(self):
        return ",".join(b.bootstrap for b in self.nodes)

    def stop(self):
        """(CPU seconds of all nodes, largest peak RSS in KiB)."""
        stopped = [b.stop() for b in self.nodes]
        return sum(c for c, _ in stopped), max(p for _, p in stopped)


def cluster_measured(binary, data, fn):
    """Runs `fn(cluster)` against a fresh 3-broker cluster; the broker cost is the sum
    over the three processes, start-up excluded."""
    c = Cluster(binary, data)
    try:
        result = fn(c)
    finally:
        cpu, peak = c.stop()
    result["cpu_s"] = cpu - c.startup
    result["peak_rss_kib"] = peak
    result["cpu_per_gib"] = result["cpu_s"] / (result["bytes"] / GIB) if result.get("bytes") else None
    return result


def cluster_supported(binary):
    r = subprocess.run([binary, "--help"], capture_output=True, text=True)
    return re.search(r"^\s+cluster\b", r.stdout, re.M) is not None


def fmt_runs(rows):
    out = ["| run | msgs | msgs/s | MB/s | broker CPU s | broker CPU s per GiB | broker peak RSS MiB | client CPU s |",
           "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, r in rows:
        per = f"{r['cpu_per_gib']:.2f}" if r.get("cpu_per_gib") is not None else "-"
        out.append(f"| {name} | {r['msgs']:,} | {r['msgs_s']:,.0f} | {r['mb_s']:.1f} | {r['cpu_s']:.3f} | {per} | "
                   f"{r['peak_rss_kib'] / 1024:.1f} | {r.get('client_cpu_s', 0):.2f} |")
    return "\n".join(out)


def micro_table():
    """Criterion's estimates from its last run (target/criterion), if `cargo bench` ran;
    entries more than an hour older than the newest are left over from earlier runs."""
    base = ROOT / "target" / "criterion"
    found = []
    for est in base.glob("**/new/estimates.json"):
        try:
            mean = json.loads(est.read_text())["mean"]["point_estimate"]  # ns
            info = json.loads((est.parent / "benchmark.json").read_text())
        except (OSError, ValueError, KeyError):
            continue
        found.append((est.stat().st_mtime, info.get("full_id", est.parent.parent.name), mean, info.get("throughput") or {}))
    if not found:
        return "_Not run: `cargo bench --bench log` writes them (`make bench` does)._"
    newest = max(f[0] for f in found)
    rows = []
    for _, name, mean, tp in sorted((f for f in found if f[0] > newest - 3600), key=lambda f: f[1]):
        rate = f"{tp['Bytes'] / mean:.2f} GB/s" if "Bytes" in tp else ""
        rows.append(f"| {name} | {mean / 1000:,.3f} µs | {1e9 / mean:,.0f} | {rate} |")
    return "| benchmark | mean time | per second | throughput |\n|---|---:|---:|---:|\n" + "\n".join(rows)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--broker-bin", default=str(ROOT / "target/release/riffle"))
    ap.add_argument("--tool", required=True)
    ap.add_argument("--out", default=str(ROOT / "BENCHMARKS.md"))
    ap.add_argument("--no-profile", action="store_true")
    args = ap.parse_args()
    binary = os.path.abspath(args.broker_bin)
    tool = Tool(args.tool)
    profile = not args.no_profile and shutil.which("perf") is not None
    work = Path(tempfile.mkdtemp(prefix="riffle-bench-"))
    results = {"machine": machine(), "tool": tool.version}
    try:
        log("warming the page cache (scratch file)")
        results["write_cost"] = file_write_cost(work / "scratch", 2)
        log("start-up and idle footprint")
        empty = work / "empty"
        results["startup_empty"] = startup_ms(binary, empty, 15)
        b = Broker(binary, work / "idle")
        time.sleep(1.0)
        results["idle_rss_kib"] = b.status_kib("VmRSS")
        results["idle_cycle"] = b.stop()  # start, 1 s idle, clean stop

        # Each produce run gets an empty data directory, so no run pays for opening the
        # partitions of the ones before it; consume runs read one of those directories.
        runs = {}
        dirs = (work / f"run-{n}" for n in range(1_000_000))
        for rep in range(REPEATS):
            sources = {}
            for linger, tag in ((None, "tool defaults"), ("5", "linger.ms=5")):
                for size, count in ((100, 1_000_000), (1024, 200_000)):
                    for acks in (1, -1):
                        a = "all" if acks == -1 else str(acks)
                        name = f"produce {count:,} × {size} B, acks={a}, {tag}"
                        extra = () if linger is None else ("-X", f"linger.ms={linger}")
                        data = next(dirs)
                        log(f"{name} ({rep + 1}/{REPEATS})")
                        runs.setdefault(name, []).append(measured(binary, data, lambda b: tool.produce(b.bootstrap, "bench", size, count, acks, extra), warm=3 * size * count))
                        if linger is None and acks == 1:
                            sources[(size, count)] = data
                        else:
                            shutil.rmtree(data)
            # Read back what the tool wrote with its defaults: full-size batches.
            # The first read of just-written pages costs the kernel more than later ones
            # (their first access moves them along the page LRU); both are shown.
            for (size, count), data in sources.items():
                for name in (f"consume {count:,} × {size} B, first read", f"consume {count:,} × {size} B, read again"):
                    log(f"{name} ({rep + 1}/{REPEATS})")
                    runs.setdefault(name, []).append(measured(binary, data, lambda b: tool.consume(b.bootstrap, "bench", count)))
                if profile and rep == 0 and size == 1024:
                    log("profiles")
                    measured(binary, data, lambda b: tool.consume(b.bootstrap, "bench", count), str(work / "fetch.perf"))
                    measured(binary, work / "profile", lambda b: tool.produce(b.bootstrap, "bench", 1024, 600_000, 1, ("-X", "linger.ms=5")), str(work / "produce.perf"), warm=1800 << 20)
                    shutil.rmtree(work / "profile")
                shutil.rmtree(data)
        results["single"] = [(name, median_run(rs)) for name, rs in runs.items()]

        log("produce latency")
        data = work / "latency"
        b = Broker(binary, data)
        results["latency"] = [(acks, latency(tool, b.bootstrap, f"lat-acks{acks}", acks, 10_000, 50_000)) for acks in (1, -1)]
        b.stop()

        log("1,000 partitions of data")
        many = work / "many"
        b = Broker(binary, many, overrides=["num.partitions=1000"])
        tool.produce(b.bootstrap, "many", 100, 300_000, 1)
        b.stop()
        results["startup_1000_clean"] = startup_ms(binary, many, 10)
        b = Broker(binary, many)
        b.kill()  # no clean-shutdown marker: the next start scans every active segment
        t0 = time.perf_counter()
        port = free_port()
        proc = subprocess.Popen([binary, "serve", "--override", f"listeners=PLAINTEXT://127.0.0.1:{port}", "--override", f"log.dirs={many}"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        api_versions_answered(port, t0 + 120)
        results["startup_1000_unclean"] = (time.perf_counter() - t0) * 1000
        proc.send_signal(signal.SIGTERM)
        proc.wait()

        results["cluster"] = None
        if cluster_supported(binary):
            log("three brokers, replication factor 3")
            crun = {}
            for rep in range(REPEATS):
                for size, count in ((100, 1_000_000), (1024, 200_000)):
                    for acks in (1, -1):
                        a = "all" if acks == -1 else str(acks)
                        name = f"produce {count:,} × {size} B, acks={a}, linger.ms=5, RF=3"
                        data = next(dirs)
                        log(f"{name} ({rep + 1}/{REPEATS})")
                        recycle_memory(work / "scratch", 9 * size * count)
                        crun.setdefault(name, []).append(cluster_measured(binary, data, lambda c: tool.produce(c.bootstrap, "bench", size, count, acks, ("-X", "linger.ms=5"))))
                        shutil.rmtree(data)
            results["cluster"] = [(name, median_run(rs)) for name, rs in crun.items()]
        no_profile = {"top": [], "own": [], "own_share": 0.0}
        results["profile_produce"] = perf_top(str(work / "produce.perf")) if profile else no_profile
        results["profile_fetch"] = perf_top(str(work / "fetch.perf")) if profile else no_profile
    finally:
        shutil.rmtree(work, ignore_errors=True)

    write_report(args.out, results)
    log(f"figures written to {args.out}")


def targets_table(r):
    """Each target of issue 6 against this run's figure."""
    runs = dict(r["single"])
    se, s1 = statistics.median(r["startup_empty"]), statistics.median(r["startup_1000_clean"])
    rows = [
        # (target, figure, value, limit, lower is better)
        ("broker CPU per GiB produced, acks=1, 1 KiB (linger.ms=5)", "CPU s/GiB", runs["produce 200,000 × 1024 B, acks=1, linger.ms=5"]["cpu_per_gib"], 0.8, True),
        ("broker CPU per GiB produced, acks=1, 1 KiB (tool defaults)", "CPU s/GiB", runs["produce 200,000 × 1024 B, acks=1, tool defaults"]["cpu_per_gib"], 0.8, True),
        ("broker CPU per GiB fetched, 1 KiB, first read", "CPU s/GiB", runs["consume 200,000 × 1024 B, first read"]["cpu_per_gib"], 0.35, True),
        ("broker CPU per GiB fetched, 1 KiB, read again", "CPU s/GiB", runs["consume 200,000 × 1024 B, read again"]["cpu_per_gib"], 0.35, True),
        ("produce 100 B msgs/s (linger.ms=5)", "msgs/s", runs["produce 1,000,000 × 100 B, acks=1, linger.ms=5"]["msgs_s"], 730_000, False),
        ("produce 100 B msgs/s (tool defaults)", "msgs/s", runs["produce 1,000,000 × 100 B, acks=1, tool defaults"]["msgs_s"], 730_000, False),
        ("produce 1 KiB MB/s (linger.ms=5)", "MB/s", runs["produce 200,000 × 1024 B, acks=1, linger.ms=5"]["mb_s"], 440, False),
        ("produce 1 KiB MB/s (tool defaults)", "MB/s", runs["produce 200,000 × 1024 B, acks=1, tool defaults"]["mb_s"], 440, False),
        ("consume 100 B msgs/s (read again)", "msgs/s", runs["consume 1,000,000 × 100 B, read again"]["msgs_s"], 4_000_000, False),
        ("consume 1 KiB MB/s (read again)", "MB/s", runs["consume 200,000 × 1024 B, read again"]["mb_s"], 1700, False),
        ("idle RSS", "MiB", r["idle_rss_kib"] / 1024, 12, True),
        ("exec → first ApiVersions, empty data dir", "ms", se, 10, True),
        ("exec → first ApiVersions, 1,000 partitions of data", "ms", s1, 300, True),
    ]
    out = ["| target | this run | goal | met? |", "|---|---:|---:|---|"]
    for name, unit, value, limit, lower in rows:
        met = value < limit if lower else value >= limit
        miss = (value / limit - 1) if lower else (1 - value / limit)
        verdict = "yes" if met else f"no, by {miss:.0%}"
        fmt = (lambda v: f"{v:,.2f}") if limit < 100 else (lambda v: f"{v:,.0f}")
        out.append(f"| {name} | {fmt(value)} {unit} | {'<' if lower else '≥'} {fmt(limit)} | {verdict} |")
    return "\n".join(out)


def write_report(out, r):
    m = r["machine"]
    se, s1 = r["startup_empty"], r["startup_1000_clean"]
    lines = [
        "<!-- e2e:begin (written by benches/e2e.py; edit outside these markers) -->",
        "## End to end (`make bench`)",
        "",
        f"Machine: {m['cores']} cores ({m['cpu']}), {m['mem_gib']:.1f} GiB RAM, Linux {m['kernel']}; "
        f"commit {m['commit']}; {m['date']}. Client: rdkafka_performance, librdkafka {r['tool']}, "
        "built from Debian's source package; client and broker share the machine.",
        "",
        f"Topics have {PARTITIONS} partitions. Every figure is the median of {REPEATS} runs (peak RSS: the largest). "
        "Produce runs go once with the tool's defaults, where it sets linger.ms=1000: the last, partial batch of "
        "each partition then waits a second, which caps a run of 200 MB at about 200 MB/s whatever the broker does; "
        "and once with linger.ms=5, librdkafka's own default, which measures the broker. Consume runs read the "
        "topics written with the tool's defaults (full 1 MB batches). "
        "Each run has a broker process of its own. Its CPU seconds (user + system) are its whole life's, from "
        "wait4(2), less what its threads had used when it was ready (per-thread schedstat): the load and the clean "
        f"stop, not the start-up (an idle start, 1 s wait and stop costs {r['idle_cycle'][0]:.3f} CPU s in all). Its peak RSS is "
        "VmHWM read just before the stop. The client's CPU seconds (rdkafka_performance, getrusage) show which side "
        "the run was bound by. MB are 10^6 bytes of message payload; CPU per GiB divides the broker's CPU by the "
        "payload moved.",
        "",
        "This VM hands freed guest memory back to its host (virtio-balloon free page reporting), and the next "
        "first touch of such a page is slow: writing a 2 GiB file cost the kernel "
        f"{r['write_cost'][0]:.2f} CPU s per GiB, and writing it again right after deleting it {r['write_cost'][1]:.2f}. "
        "A produce run fills the page cache, so it would pay that toll for the machine rather than for the broker; "
        "each produce run is therefore preceded by writing and deleting a scratch file three times its payload, "
        "so that its page cache reuses memory the VM has backed.",
        "",
        "### Single broker",
        "",
        fmt_runs(r["single"]),
        "",
        "### Produce latency",
        "",
        "rdkafka_performance `-l -A` (per-message delivery latency) at a fixed rate, 100 B messages, `linger.ms=0`:",
        "",
        "| acks | rate msgs/s | samples | p50 ms | p99 ms | max ms |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for acks, l in r["latency"]:
        lines.append(f"| {'all' if acks == -1 else acks} | {l['rate']:,} | {l['samples']:,} | {l['p50_ms']:.2f} | {l['p99_ms']:.2f} | {l['max_ms']:.2f} |")
    lines += ["", "### Targets (issue 6)", "", targets_table(r), ""]
    lines += [
        "",
        "### Start-up and footprint",
        "",
        "| measure | value |",
        "|---|---:|",
        f"| exec → first ApiVersions answered, empty data dir (median of {len(se)}; min–max) | {statistics.median(se):.1f} ms ({min(se):.1f}–{max(se):.1f}) |",
        f"| same, 1,000 partitions of data after a clean stop (median of {len(s1)}; min–max) | {statistics.median(s1):.1f} ms ({min(s1):.1f}–{max(s1):.1f}) |",
        f"| same, 1,000 partitions after SIGKILL (every active segment CRC-scanned) | {r['startup_1000_unclean']:.1f} ms |",
        f"| idle RSS (empty data dir, 1 s after start) | {r['idle_rss_kib'] / 1024:.1f} MiB |",
        "",
        "### Three brokers, RF=3",
        "",
    ]
    if r["cluster"] is None:
        lines.append("Not run: this build has no `riffle cluster` (multi-broker replication is issue 5).")
    else:
        lines.append("Three `riffle serve` nodes (each a broker and a controller) on this machine, a topic of 6 "
                     "partitions with replication factor 3 and min.insync.replicas=2; every byte is written three "
                     "times (leader and two follower fetches). Broker CPU is the sum over the three processes, "
                     f"start-up excluded; peak RSS is the largest node's. Median of {REPEATS} runs, each on a fresh cluster.")
        lines += ["", fmt_runs(r["cluster"])]
    lines += ["", "### Where the broker's time goes", ""]
    for title, prof in (("produce 600,000 × 1 KiB, acks=1, linger.ms=5", r["profile_produce"]), ("consume 200,000 × 1 KiB", r["profile_fetch"])):
        lines.append(f"`perf record -g` on the broker during {title}; self time, symbols over 1%:")
        lines.append("")
        if prof["top"]:
            lines.append("| self % | object | symbol |")
            lines.append("|---:|---|---|")
            lines += [f"| {p:.1f} | {dso} | `{sym}` |" for p, dso, sym in prof["top"]]
            lines.append("")
            own = ", ".join(f"`{sym}` {p:.1f}%" for p, _, sym in prof["own"])
            lines.append(f"The broker's own code (object `riffle`) took {prof['own_share']:.1f}% in all; its top symbols: {own or 'none'}.")
        else:
            lines.append("_perf was not available._")
        lines.append("")
    lines += ["### Micro-benchmarks (criterion, `benches/`)", "", micro_table(), "",
              "<!-- e2e:end -->"]
    block = "\n".join(lines) + "\n"
    path = Path(out)
    text = path.read_text() if path.exists() else "# Benchmarks\n\n"
    if "<!-- e2e:begin" in text and "<!-- e2e:end -->" in text:
        head = text[: text.index("<!-- e2e:begin")]
        tail = text[text.index("<!-- e2e:end -->") + len("<!-- e2e:end -->"):].lstrip("\n")
        text = head + block + ("\n" + tail if tail else "")
    else:
        text = text.rstrip("\n") + "\n\n" + block
    path.write_text(text)


if __name__ == "__main__":
    sys.exit(main())

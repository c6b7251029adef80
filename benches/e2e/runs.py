"""Measured runs: each case against fresh deployments of each flavour, side by side;
latencies; start-up; the memory footprint and Kafka's heap search; what only Riffle is
measured on (start-up with data, perf profiles)."""

import os
import re
import shutil
import signal
import statistics
import subprocess
import time
from pathlib import Path

from .host import disk_busy_ms, recycle_memory
from .processes import PORTS, Deployment
from .progress import log
from .settings import GIB, LATENCY_RATE
from .wire import ensure_topic


def warm_up(rd, d, warm, group=False):
    """Before every measured run: `warm` messages of 100 B produced to a topic of its own
    and read back, with rdkafka_performance. A JVM compiles its hot paths only once they
    have run a while, and a long-lived broker has long done so: measured cold, Kafka
    would be charged for its JIT compiler. Riffle gets the same. With `group`, they are
    read in a consumer group, which also creates __consumer_offsets (50 partitions) and
    its coordinator's state: a consumer group's run must not pay for that."""
    ensure_topic(d, "warmup")
    rd.produce(d.bootstrap, "warmup", 100, warm, 1)
    if group:
        rd.group_consume(d.bootstrap, "warmup", warm)
    else:
        rd.consume(d.bootstrap, "warmup", warm)


def retried(what, fn):
    """fn(), once more if it fails: one stray failure (a port taken meanwhile, a client
    timing out) should not cost a half-hour run. A second failure is the run's."""
    try:
        return fn()
    except (RuntimeError, subprocess.TimeoutExpired, OSError) as e:
        log(f"{what} failed, once more: {str(e).splitlines()[0] if str(e) else e!r}")
        return fn()


def measured(flavour, rd, data, n, fn, warm, recycle=0, profile=None, group=False):
    """Runs `fn(deployment)` against a fresh deployment of `flavour` on `data`, warmed up,
    with its topic "bench" ready; adds the brokers' cost over the load generator's life
    (`cpu_s`), their clean stop's (`stop_cpu_s`), and how busy each side and the disk were."""
    if recycle:
        recycle_memory(data.parent / "scratch", recycle)
    d = Deployment(flavour, data, n)
    perf = None
    try:
        warm_up(rd, d, warm, group)
        ensure_topic(d, "bench")
        d.mark()
        if profile:
            perf = subprocess.Popen(["perf", "record", "-F", "4999", "-g", "-p", str(d.nodes[0].proc.pid), "-o", profile],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(0.5)
        disk0 = disk_busy_ms()
        result = fn(d)
        result["cpu_s"] = d.cpu_so_far() - d.startup
        disk1 = disk_busy_ms()
    except Exception:
        log("broker log tails:\n" + d.log_tails())
        raise
    finally:
        if perf:
            perf.send_signal(signal.SIGINT)
            perf.wait()
        cpu, peak, clean = d.stop()
    wall = result["client_wall_s"]
    result.update(stop_cpu_s=cpu - d.startup - result["cpu_s"], peak_rss_kib=peak, clean_stop=clean,
                  cpu_per_gib=result["cpu_s"] / (result["bytes"] / GIB),
                  client_cores=result["client_cpu_s"] / wall, broker_cores=result["cpu_s"] / wall,
                  disk_busy=max([(disk1[k] - disk0.get(k, 0)) / 1000 / wall for k in disk1] or [0]))
    return result


FIGURES = ("msgs_s", "mb_s", "cpu_s", "cpu_per_gib", "ms", "client_cpu_s", "client_wall_s", "stop_cpu_s",
           "client_cores", "broker_cores", "disk_busy")


def median_run(rs):
    """The median of each figure over repeated runs (peak RSS: the largest)."""
    out = dict(rs[0])
    for k in FIGURES:
        vals = [r[k] for r in rs if r.get(k) is not None]
        if vals:
            out[k] = statistics.median(vals)
    out["peak_rss_kib"] = max(r["peak_rss_kib"] for r in rs)
    out["clean_stop"] = all(r["clean_stop"] for r in rs)
    out["reps"] = len(rs)
    return out


def fresh(data):
    """`data`, emptied: a produce run (or its second attempt) starts from nothing."""
    shutil.rmtree(data, ignore_errors=True)
    PORTS.pop(str(data), None)
    for leftover in data.parent.glob(data.name + ".*"):
        leftover.unlink()
    return data


def acks_name(acks):
    return "all" if acks == -1 else str(acks)


def case_name(kind, size, count, acks=None, variant=""):
    if kind == "produce":
        return f"produce {count:,} × {size} B, acks={acks_name(acks)}"
    return f"consume {count:,} × {size} B" + (f", {variant}" if variant else "")


class Alternation:
    """Which flavour goes first flips at every case, so that neither is always the one
    that runs right after the other's (page cache, memory, a JIT's leftovers)."""

    def __init__(self, flavours):
        self.flavours = list(flavours)

    def __call__(self):
        order = list(self.flavours)
        self.flavours.reverse()
        return order


def side_by_side(gens, rd, n, repeats, S, dirs, alternate):
    """Every produce case (100 B and 1 KiB, acks=1 and acks=all) and consume case (the
    acks=all data read back) of each load generator, against n-node deployments of each
    flavour (in the order `alternate` gives). Returns one row per (load generator,
    case) with each flavour's medians."""
    rows = {}

    def record(gen, kind, size, count, acks, variant, fl, r):
        key = (gen.name, kind, size, acks, variant)
        row = rows.setdefault(key, {"n": n, "gen": gen.name, "kind": kind, "size": size, "count": count, "acks": acks,
                                    "variant": variant, "name": case_name(kind, size, count, acks, variant), "runs": {}})
        row["runs"].setdefault(fl.name, []).append(r)

    for rep in range(repeats):
        for gen in gens:
            for size, count in ((100, S.small), (1024, S.large)):
                sources = {}
                for acks in (1, -1):
                    for fl in alternate():
                        data = next(dirs)
                        log(f"{n} × {fl.name}, {gen.name}: {case_name('produce', size, count, acks)} ({rep + 1}/{repeats})")
                        r = retried(f"{fl.name} produce", lambda: measured(
                            fl, rd, fresh(data), n, lambda d: gen.produce(d.bootstrap, "bench", size, count, acks),
                            S.warm, recycle=3 * n * size * count))
                        record(gen, "produce", size, count, acks, "", fl, r)
                        # The consume runs read what acks=all wrote: every in-sync replica
                        # holds it, so restarting a cluster on it cannot lose any. (acks=1
                        # data a leader had not replicated yet when the cluster stopped
                        # may be gone after the restart.)
                        if acks == -1:
                            sources[fl.name] = data
                        else:
                            shutil.rmtree(data)
                # The first read of just-written pages costs the kernel more than later
                # ones (their first access moves them along the page LRU): with
                # rdkafka_performance on one broker, both are shown.
                variants = ("first read", "read again") if (gen is rd and n == 1) else ("",)
                for variant in variants:
                    for fl in alternate():
                        log(f"{n} × {fl.name}, {gen.name}: {case_name('consume', size, count, None, variant)} ({rep + 1}/{repeats})")
                        r = retried(f"{fl.name} consume", lambda: measured(
                            fl, rd, sources[fl.name], n, lambda d: gen.consume(d.bootstrap, "bench", count, size), S.warm,
                            group=gen is not rd))
                        record(gen, "consume", size, count, None, variant, fl, r)
                for data in sources.values():
                    shutil.rmtree(data)
    for row in rows.values():
        row["by"] = {name: median_run(rs) for name, rs in row.pop("runs").items()}
    return list(rows.values())


def latencies(rd, kp, S, dirs, alternate):
    """At LATENCY_RATE msgs/s of 100 B: one broker with acks=1, three with acks=all.
    Per deployment: rdkafka_performance's produce and end-to-end latency of the same
    messages, kafka-producer-perf-test's produce latency, and EndToEndLatency."""
    out = []
    for n, acks in ((1, 1), (3, -1)):
        row = {"n": n, "acks": acks, "by": {}}
        for fl in alternate():
            log(f"latency: {n} × {fl.name}, acks={acks_name(acks)}")
            d = Deployment(fl, next(dirs), n)
            try:
                warm_up(rd, d, S.warm, group=True)
                for t in ("lat-warm", "lat-rd", "lat-pp", "lat-e2e"):
                    ensure_topic(d, t)
                # The bulk warm-up sends few, large requests; at this rate with linger.ms=0
                # every message is a request of its own, a path a cold JVM has yet to
                # compile (its first such run queues for seconds). Both get it, unmeasured.
                rd.latency(d.bootstrap, "lat-warm", acks, LATENCY_RATE, S.latency_skip * 2, 0)
                lat = rd.latency(d.bootstrap, "lat-rd", acks, LATENCY_RATE, S.latency, S.latency_skip)
                lat["pp"] = kp.produce_latency(d.bootstrap, "lat-pp", acks, LATENCY_RATE, S.latency, S.latency_skip)
                lat["e2e_closed"] = kp.e2e_latency(d.bootstrap, "lat-e2e", acks, S.round_trips)
                row["by"][fl.name] = lat
            except Exception:
                log("broker log tails:\n" + d.log_tails())
                raise
            finally:
                d.stop()
        out.append(row)
    return out


def startup(flavour, data, extra=None):
    """(ms from exec to the first ApiVersions answered, CPU seconds by then)."""
    d = Deployment(flavour, data, 1, extra)
    ms, cpu = d.nodes[0].ready_ms, d.startup
    d.stop()
    return ms, cpu


def footprint(flavour, rd, data, S, timeout=120):
    """The representative run for memory: start, 1 s idle (idle RSS), then produce
    S.large × 1 KiB with acks=1 and read it back; peak RSS over the whole life.
    `completed`: the run did, the broker stopped cleanly and logged no OutOfMemoryError."""
    out = {"completed": False, "idle_rss_kib": None, "peak_rss_kib": None}
    try:
        d = Deployment(flavour, data, 1)
    except RuntimeError as e:
        out["error"] = "did not start: " + first_error(str(data) + ".log", str(e).splitlines()[0])
        return out
    clean = False
    try:
        time.sleep(1.0)
        out["idle_rss_kib"] = d.status_kib("VmRSS")
        ensure_topic(d, "bench")
        out["produce"] = rd.produce(d.bootstrap, "bench", 1024, S.large, 1, timeout=timeout)
        out["consume"] = rd.consume(d.bootstrap, "bench", S.large, timeout=timeout)
        out["cpu_s"] = d.cpu_so_far() - d.startup
    except (RuntimeError, subprocess.TimeoutExpired, OSError) as e:
        out["error"] = str(e).splitlines()[0]
    finally:
        _, out["peak_rss_kib"], clean = d.stop()
    oom = d.logged("OutOfMemoryError")
    out["completed"] = "error" not in out and clean and not oom
    if oom:
        out["error"] = first_error(d.nodes[0].log_path, "OutOfMemoryError in the broker's log")
    elif not clean and "error" not in out:
        out["error"] = "no clean stop"
    return out


def first_error(log_path, default):
    """The broker's first line that says what went wrong (for the heap table's note)."""
    try:
        lines = Path(log_path).read_text(errors="replace").splitlines()
    except OSError:
        return default
    clean = lambda l: re.sub(r"^\[[^]]*\] ", "", l).strip()[:160]
    errors = [clean(l) for l in lines if " ERROR " in l or " FATAL " in l]
    oom = [clean(l) for l in lines if "OutOfMemoryError" in l]
    said = errors[:1] + [o for o in oom[:1] if not errors or o not in errors[0]]
    return "; ".join(said) or default


def heap_search(kafka, rd, work, S):
    """Kafka's representative run at each heap of S.heaps (-Xmx = -Xms, as stock), the
    largest first, until one does not complete."""
    out = []
    for size in S.heaps:
        log(f"Kafka with -Xmx{size} -Xms{size}: representative run")
        r = footprint(kafka.with_heap(size), rd, work / f"heap-{size}", S)
        out.append((size, r))
        shutil.rmtree(work / f"heap-{size}", ignore_errors=True)
        if not r["completed"]:
            break
    return out


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


def riffle_only(riffle, rd, work, S, profile, dirs):
    """What only Riffle is measured on: its start with 1,000 partitions of data (clean
    and after SIGKILL), and, with perf, where its time goes producing and fetching."""
    out = {}
    log("Riffle: 1,000 partitions of data")
    many = work / "many"
    d = Deployment(riffle, many, 1, {"num.partitions": "1000"})
    rd.produce(d.bootstrap, "many", 100, S.many, 1)
    d.stop()
    out["startup_1000_clean"] = [startup(riffle, many)[0] for _ in range(S.many_starts)]
    Deployment(riffle, many, 1).kill()  # no clean-shutdown marker: the next start scans every active segment
    out["startup_1000_unclean"] = startup(riffle, many)[0]
    shutil.rmtree(many)
    out["profile_produce"] = out["profile_fetch"] = {"top": [], "own": [], "own_share": None}
    if profile:
        log("Riffle: profiles")
        data = next(dirs)
        measured(riffle, rd, data, 1, lambda d: rd.produce(d.bootstrap, "bench", 1024, S.profile, 1), S.warm,
                 recycle=3 * 1024 * S.profile, profile=str(work / "produce.perf"))
        measured(riffle, rd, data, 1, lambda d: rd.consume(d.bootstrap, "bench", S.profile), S.warm,
                 profile=str(work / "fetch.perf"))
        shutil.rmtree(data)
        out["profile_produce"] = perf_top(str(work / "produce.perf"))
        out["profile_fetch"] = perf_top(str(work / "fetch.perf"))
    return out

"""The report: the results rendered into BENCHMARKS.md, between the e2e markers."""

import json
import math
import statistics
from pathlib import Path

from .loadgen import Rdkafka
from .runs import acks_name
from .settings import CORES, LATENCY_RATE, PARTITIONS, ROOT


def ratio(r, k):
    """Riffle / Kafka, printed with two significant digits."""
    if r is None or k is None or k == 0 or r == 0:
        return "–"
    x = r / k
    return f"{x:.0f}" if x >= 100 else f"{x:.2g}"


def bound_by(r, cores=CORES):
    """What most plausibly limited a run, from how busy each side was over the load
    generator's life (in cores: CPU seconds / wall seconds) and the disk's busy share."""
    c, b = r["client_cores"], r["broker_cores"]
    if r.get("disk_busy", 0) >= 0.8:
        return "disk"
    if c + b >= 0.85 * cores:
        return "CPU: " + ("client" if c >= b else "broker")
    if c >= 0.85:
        return "client"
    if b >= 0.85:
        return "broker"
    return "waits"


def topology(n):
    return "1 broker" if n == 1 else f"{n} brokers, RF={n}"


def geomean(xs):
    xs = [x for x in xs if x and x > 0]
    return math.exp(statistics.fmean(math.log(x) for x in xs)) if xs else None


def lead_table(r):
    """One row per load run: throughput (higher is better) and broker CPU per GiB (lower
    is better), Riffle's figure, Kafka's and their ratio; what bounded each."""
    cores = r["machine"]["cores"]
    out = ["| brokers | load generator | run | MB/s Riffle | MB/s Kafka | Riffle / Kafka (higher is better) | "
           "broker CPU s/GiB Riffle | Kafka | Riffle / Kafka (lower is better) | bound by (Riffle; Kafka) |",
           "|---|---|---|---:|---:|---:|---:|---:|---:|---|"]
    tput, cost = [], []
    for row in r["single"] + r["cluster"]:
        R, K = row["by"]["Riffle"], row["by"]["Kafka"]
        out.append(f"| {topology(row['n'])} | {row['gen']} | {row['name']} | {R['mb_s']:,.1f} | {K['mb_s']:,.1f} | "
                   f"**{ratio(R['mb_s'], K['mb_s'])}** | {R['cpu_per_gib']:.2f} | {K['cpu_per_gib']:.2f} | "
                   f"**{ratio(R['cpu_per_gib'], K['cpu_per_gib'])}** | {bound_by(R, cores)}; {bound_by(K, cores)} |")
        tput.append(R["mb_s"] / K["mb_s"])
        cost.append(R["cpu_per_gib"] / K["cpu_per_gib"] if K["cpu_per_gib"] else None)
    g1, g2 = geomean(tput), geomean(cost)
    out += ["", f"Geometric mean over these {len(tput)} runs: throughput Riffle / Kafka **{g1:.2g}**, "
                f"broker CPU per GiB Riffle / Kafka **{g2:.2g}**." if g1 and g2 else ""]
    return "\n".join(out)


def smallest_heap(r):
    done = [(size, f) for size, f in r["heaps"] if f["completed"]]
    return done[-1] if done else (None, None)


def footprint_table(r):
    """Memory and start-up, Riffle against Kafka at its stock heap and at its smallest."""
    R = r["footprint_riffle"]
    stock = dict(r["heaps"]).get(r["scale"].heaps[0], {})
    size, small = smallest_heap(r)
    size = size or "? (none completed)"
    mib = lambda f, k: (f or {}).get(k) and f[k] / 1024
    rs, ks = r["startup"]["Riffle"], r["startup"]["Kafka"]
    sm = lambda xs, i: statistics.median(x[i] for x in xs)
    rows = [
        ("idle RSS, MiB (1 s after start, empty)", "Kafka -Xmx1G -Xms1G (stock)", mib(R, "idle_rss_kib"), mib(stock, "idle_rss_kib")),
        ("idle RSS, MiB", f"Kafka -Xmx{size} (smallest that completes)", mib(R, "idle_rss_kib"), mib(small, "idle_rss_kib")),
        (f"peak RSS, MiB (produce + consume {r['scale'].large:,} × 1 KiB)", "Kafka stock", mib(R, "peak_rss_kib"), mib(stock, "peak_rss_kib")),
        ("peak RSS, MiB (same run)", f"Kafka -Xmx{size}", mib(R, "peak_rss_kib"), mib(small, "peak_rss_kib")),
        (f"exec → first ApiVersions answered, ms (median of {len(rs)} / {len(ks)})", "Kafka stock", sm(rs, 0), sm(ks, 0)),
        ("CPU s used by then", "Kafka stock", sm(rs, 1), sm(ks, 1)),
    ]
    out = ["| figure (lower is better) | against | Riffle | Kafka | Riffle / Kafka |", "|---|---|---:|---:|---:|"]
    for name, against, a, b in rows:
        fmt = lambda v: "–" if v is None else (f"{v:,.0f}" if v >= 100 else f"{v:,.3g}")
        out.append(f"| {name} | {against} | {fmt(a)} | {fmt(b)} | **{ratio(a, b)}** |")
    return "\n".join(out)


LATENCY_KINDS = (
    ("produce", "rdkafka_performance", "produce (to the delivery report)"),
    ("e2e", "rdkafka_performance", "end to end (produce to a consumer receiving it)"),
    ("pp", "kafka-producer-perf-test", "produce (to the send callback); whole ms"),
    ("e2e_closed", "EndToEndLatency", "end to end, one message at a time (not at the rate); whole ms"),
)


def latency_table(r):
    head = "| brokers | tool | latency |" + "".join(f" {q} Riffle | {q} Kafka | ratio |" for q in ("avg", "p50", "p99", "p99.9"))
    out = [head + " samples |", "|---|---|---|" + "---:|" * 13]
    for row in r["latency"]:
        R, K = row["by"]["Riffle"], row["by"]["Kafka"]
        for key, tool, what in LATENCY_KINDS:
            a, b = R[key], K[key]
            cells = "".join(f" {a[q]:.2f} | {b[q]:.2f} | **{ratio(a[q], b[q])}** |" for q in ("avg_ms", "p50_ms", "p99_ms", "p999_ms"))
            out.append(f"| {topology(row['n'])}, acks={acks_name(row['acks'])} | {tool} | {what} |{cells} {a['samples']:,} |")
    return "\n".join(out)


def detail_table(rows, cores):
    out = ["| load generator | run | broker | msgs/s | MB/s | broker CPU s | CPU s per GiB | clean stop CPU s | "
           "peak RSS MiB | client CPU s | client / broker cores | disk busy | bound by |",
           "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for row in rows:
        for name in ("Riffle", "Kafka"):
            x = row["by"][name]
            out.append(f"| {row['gen']} | {row['name']} | {name} | {x['msgs_s']:,.0f} | {x['mb_s']:,.1f} | {x['cpu_s']:.3f} | "
                       f"{x['cpu_per_gib']:.2f} | {x['stop_cpu_s']:.2f}{'' if x['clean_stop'] else ' (not clean)'} | "
                       f"{x['peak_rss_kib'] / 1024:,.1f} | {x['client_cpu_s']:.2f} | {x['client_cores']:.2f} / "
                       f"{x['broker_cores']:.2f} | {x['disk_busy']:.0%} | {bound_by(x, cores)} |")
    return "\n".join(out)


def heap_table(r):
    out = ["| heap (-Xmx = -Xms) | completed | idle RSS MiB | peak RSS MiB | produce MB/s | consume MB/s | broker CPU s | note |",
           "|---|---|---:|---:|---:|---:|---:|---|"]
    for size, f in [("Riffle", r["footprint_riffle"])] + list(r["heaps"]):
        v = lambda k: f"{f[k] / 1024:,.1f}" if f.get(k) else "–"
        mb = lambda k: f"{f[k]['mb_s']:,.1f}" if k in f else "–"
        name = "Riffle (no heap)" if size == "Riffle" else f"Kafka {size}"
        cpu = f"{f['cpu_s']:.2f}" if "cpu_s" in f else "–"
        out.append(f"| {name} | {'yes' if f['completed'] else 'no'} | {v('idle_rss_kib')} | {v('peak_rss_kib')} | "
                   f"{mb('produce')} | {mb('consume')} | {cpu} | {f.get('error', '')} |")
    return "\n".join(out)


def find(r, gen, kind, size, acks=None, variant=""):
    for row in r["single"]:
        if (row["gen"], row["kind"], row["size"], row["acks"], row["variant"]) == (gen, kind, size, acks, variant):
            return row["by"]["Riffle"]
    raise KeyError((gen, kind, size, acks, variant))


def targets_table(r):
    """Each target of issue 6 against this run's Riffle figure (rdkafka_performance, one broker)."""
    g = Rdkafka.name
    p1k, p100 = find(r, g, "produce", 1024, 1), find(r, g, "produce", 100, 1)
    rows = [
        # (target, unit, value, limit, lower is better)
        ("broker CPU per GiB produced, acks=1, 1 KiB (linger.ms=5)", "CPU s/GiB", p1k["cpu_per_gib"], 0.8, True),
        ("broker CPU per GiB fetched, 1 KiB, first read", "CPU s/GiB", find(r, g, "consume", 1024, None, "first read")["cpu_per_gib"], 0.35, True),
        ("broker CPU per GiB fetched, 1 KiB, read again", "CPU s/GiB", find(r, g, "consume", 1024, None, "read again")["cpu_per_gib"], 0.35, True),
        ("produce 100 B msgs/s (linger.ms=5)", "msgs/s", p100["msgs_s"], 730_000, False),
        ("produce 1 KiB MB/s (linger.ms=5)", "MB/s", p1k["mb_s"], 440, False),
        ("consume 100 B msgs/s (read again)", "msgs/s", find(r, g, "consume", 100, None, "read again")["msgs_s"], 4_000_000, False),
        ("consume 1 KiB MB/s (read again)", "MB/s", find(r, g, "consume", 1024, None, "read again")["mb_s"], 1700, False),
        ("idle RSS", "MiB", r["footprint_riffle"]["idle_rss_kib"] / 1024, 12, True),
        ("exec → first ApiVersions, empty data dir", "ms", statistics.median(x[0] for x in r["startup"]["Riffle"]), 10, True),
        ("exec → first ApiVersions, 1,000 partitions of data", "ms", statistics.median(r["startup_1000_clean"]), 300, True),
    ]
    out = ["| target | this run | goal | met? |", "|---|---:|---:|---|"]
    for name, unit, value, limit, lower in rows:
        met = value < limit if lower else value >= limit
        miss = (value / limit - 1) if lower else (1 - value / limit)
        verdict = "yes" if met else f"no, by {miss:.0%}"
        fmt = (lambda v: f"{v:,.2f}") if limit < 100 else (lambda v: f"{v:,.0f}")
        out.append(f"| {name} | {fmt(value)} {unit} | {'<' if lower else '≥'} {fmt(limit)} | {verdict} |")
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


def profile_section(r):
    lines = []
    for title, prof in ((f"produce {r['scale'].profile:,} × 1 KiB, acks=1, linger.ms=5", r["profile_produce"]),
                        (f"consume {r['scale'].profile:,} × 1 KiB", r["profile_fetch"])):
        lines += [f"`perf record -g` on Riffle during {title}; self time, symbols over 1%:", ""]
        if prof["top"]:
            lines += ["| self % | object | symbol |", "|---:|---|---|"]
            lines += [f"| {p:.1f} | {dso} | `{sym}` |" for p, dso, sym in prof["top"]]
            own = ", ".join(f"`{sym}` {p:.1f}%" for p, _, sym in prof["own"])
            lines += ["", f"The broker's own code (object `riffle`) took {prof['own_share']:.1f}% in all; its top symbols: {own or 'none'}."]
        else:
            lines.append("_perf was not available._")
        lines.append("")
    return lines


def write_report(out, r):
    m, S = r["machine"], r["scale"]
    size, _ = smallest_heap(r)
    s1 = r["startup_1000_clean"]
    lines = [
        "<!-- e2e:begin (written by benches/e2e.py; edit outside these markers) -->",
        "## End to end (`make bench`): Riffle and Apache Kafka side by side",
        "",
        *(["**A `--quick` run: a few thousand messages per run, one repeat. It checks the script; its figures mean "
           "nothing.**", ""] if r["quick"] else []),
        f"Machine: {m['cores']} cores ({m['cpu']}), {m['mem_gib']:.1f} GiB RAM, Linux {m['kernel']}, disks {m['disks']}; "
        f"{m['date']}, {r['minutes']:.0f} minutes. Brokers: Riffle ({r['riffle']}, commit {m['commit']}, release build) "
        f"and Apache Kafka {r['kafka']} (KRaft, OpenJDK {m['java']}, kafka-run-class's stock JVM options and heap, "
        "-Xmx1G -Xms1G). Load generators: rdkafka_performance (librdkafka "
        f"{r['librdkafka']}, built from Debian's source package) and Kafka {r['kafka']}'s own kafka-producer-perf-test "
        "/ kafka-consumer-perf-test (org.apache.kafka.tools, -Xmx512m as their scripts give them). Brokers and load "
        "generator share the machine and talk over loopback.",
        "",
        "### Riffle / Kafka",
        "",
        f"Each case runs against Riffle and against Kafka in turn (who goes first alternates), with the same load "
        f"generator, settings and topics: {PARTITIONS} partitions; on three brokers (each also a controller) "
        "replication factor 3 and min.insync.replicas=2. Producers use linger.ms=5 and each tool's other defaults; "
        "consumers read back what the acks=all run wrote. MB are 10^6 bytes of payload. Broker CPU is summed over a "
        "deployment's processes and divided by the payload moved. A ratio below 1 means Riffle's figure is the "
        f"smaller. Figures are medians of {S.repeats} runs on one broker; on three brokers "
        + (f"medians of {S.cluster_repeats} runs." if S.cluster_repeats > 1 else "single runs (a Kafka cluster's "
           "start and stop make each one long on this machine; RIFFLE_BENCH_CLUSTER_REPEATS sets more)."),
        "",
        lead_table(r),
        "",
        footprint_table(r),
        "",
        f"Latency at {LATENCY_RATE:,} messages/s of 100 B (lower is better; milliseconds):",
        "",
        latency_table(r),
        "",
        "### How it is measured",
        "",
        "- **One deployment per run.** Every run starts its brokers afresh (produce runs on empty data directories, "
        "consume runs on what the produce run left), waits until each answers ApiVersions and a three-broker "
        "cluster lists all three, then warms them up: "
        f"{S.warm:,} messages of 100 B produced to a topic of their own and read back, with rdkafka_performance "
        "(in a consumer group before a run whose load generator joins one, so that creating __consumer_offsets is "
        "not in that run). A JVM compiles its hot paths only after they have run a while, and a long-lived broker "
        "has long done so; measured cold, Kafka would be charged for its JIT compiler. Riffle gets the same warm-up. "
        "The run's topic is then created (as auto-creation does) and the run starts once every partition has a leader "
        "and all its replicas in sync.",
        "- **Broker CPU** is each broker process's CPU clock (user + system, exited threads included, to the "
        "nanosecond), from the end of the warm-up to the load generator's exit, summed over the deployment. Start-up, "
        "warm-up and the clean stop are not in it; the stop is shown in the tables below. **Peak RSS** is VmHWM read "
        "just before the stop (a cluster: its largest node). **Client CPU** is the load generator's (getrusage), "
        "JVM start included for Kafka's tools.",
        "- **Bound by** reads how busy each side was over the load generator's life, in cores (CPU seconds / wall "
        f"seconds, on {m['cores']} cores): `CPU: client` or `CPU: broker` when together they used 85% of the machine "
        "(the larger named), `client` or `broker` when one alone used 85% of a core, `disk` when a disk was busy 80% "
        "of the time (/proc/diskstats), `waits` otherwise (round trips, acks, lingering). Loopback's cost is system "
        "time on both sides, in their CPU. Neither broker syncs to disk on produce (Kafka's default, and Riffle's), "
        "so the disk rarely bounds a run.",
        f"- **Heap.** Kafka runs with its stock heap everywhere but in one place: the representative run (start, "
        f"1 s idle, produce {S.large:,} × 1 KiB with acks=1, read it back) is repeated at "
        f"{', '.join('-Xmx' + h for h in S.heaps)} (-Xms the same, as stock) until one does not complete (the run "
        "fails or times out, the stop is not clean, or the log shows an OutOfMemoryError); "
        f"{'-Xmx' + size if size else 'none'} is the smallest that did.",
        f"- **Latency**: rdkafka_performance `-l` runs a producer (linger.ms=0) at {LATENCY_RATE:,} msgs/s and a "
        "consumer of every partition, and records each message's delivery-report latency and its end-to-end latency "
        f"(the consumer's receipt against the timestamp in the payload); {S.latency:,} messages after "
        f"{S.latency_skip:,} left out while the clients connect, after an unmeasured run of {2 * S.latency_skip:,} "
        "(at this rate every message is a request of its own, a path the bulk warm-up does not exercise; a cold JVM "
        "queues for seconds on it). kafka-producer-perf-test runs at the same rate with "
        f"--warmup-records {S.latency_skip:,} and reports whole milliseconds. EndToEndLatency sends one message at a "
        f"time and waits for its consumer to see it ({S.round_trips:,} messages): it is not at the rate, its "
        "percentiles are whole milliseconds, its average is exact.",
        "- **Memory on this VM.** It hands freed guest memory back to its host (virtio-balloon free page reporting), "
        "and the next first touch of such a page is slow: writing a scratch file cost the kernel "
        f"{r['write_cost'][0]:.2f} CPU s per GiB, and writing it again right after deleting it {r['write_cost'][1]:.2f}. "
        "Each produce run is therefore preceded by writing and deleting a scratch file of three times its payload "
        "(per replica), so that its page cache reuses memory the VM has backed; both brokers alike.",
        "",
        "### One broker",
        "",
        detail_table(r["single"], m["cores"]),
        "",
        "### Three brokers, RF=3",
        "",
        detail_table(r["cluster"], m["cores"]),
        "",
        "### Kafka's heap",
        "",
        heap_table(r),
        "",
        "### Riffle: targets (issue 6)",
        "",
        targets_table(r),
        "",
        "### Riffle: start-up with data",
        "",
        "| measure | value |",
        "|---|---:|",
        f"| exec → first ApiVersions answered, 1,000 partitions of data after a clean stop (median of {len(s1)}; min–max) | {statistics.median(s1):.1f} ms ({min(s1):.1f}–{max(s1):.1f}) |",
        f"| same, after SIGKILL (every active segment CRC-scanned) | {r['startup_1000_unclean']:.1f} ms |",
        "",
        "### Where Riffle's time goes",
        "",
        *profile_section(r),
        "### Micro-benchmarks (criterion, `benches/`)",
        "",
        micro_table(),
        "",
        "<!-- e2e:end -->",
    ]
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

"""Kafka Streams (compat/streams StreamsApp.java): a stateful application with
a repartition topic and a changelog-backed state store, two instances sharing
the work, one SIGKILLed while the other takes over, then restarted."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import uuid

from harness.clients import get_client
from harness.common import Skip, check, compat_dir, log, wait_until

STREAMS_DIR = os.path.join(compat_dir(), "streams")
VERSION = "4.4.0"  # compat/streams/pom.xml
INPUT_PARTITIONS = 6
KEYS = 50
GROUPS = 10


class StreamsInstance:
    """One StreamsApp process; its stdout lines ("state RUNNING", "error ...") are kept."""

    def __init__(self, name, bootstrap, app_id, input_topic, output_topic, state_dir, log_path, guarantee):
        self.name = name
        self.argv = ["java", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                     "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
                     "-cp", os.path.join(STREAMS_DIR, "target", f"kafka-{VERSION}", "lib", "*"),
                     "riffle.compat.StreamsApp", bootstrap, app_id, input_topic, output_topic, state_dir,
                     guarantee]
        self.log_path = log_path
        self.lines: list[str] = []
        self.proc = None

    def start(self):
        self.lines = []
        logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=logf,
                                     start_new_session=True)
        threading.Thread(target=self._read, daemon=True).start()
        log(f"{self.name}: started (pid {self.proc.pid}), log {self.log_path}")
        return self

    def _read(self):
        for raw in iter(self.proc.stdout.readline, b""):
            line = raw.decode("utf-8", "replace").strip()
            self.lines.append(line)
            log(f"{self.name}: {line}")

    def state(self):
        states = [ln.split(" ", 1)[1] for ln in self.lines if ln.startswith("state ")]
        return states[-1] if states else None

    def errors(self):
        return [ln for ln in self.lines if ln.startswith("error ")]

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def stop(self):
        """Asks the application to close (stdin "stop"); its exit code."""
        self.proc.stdin.write(b"stop\n")
        self.proc.stdin.close()
        return self.proc.wait(60)


def _produce(ck, ctx, topic, start, end):
    """Key k<n>, value <sequence> for sequences [start, end) of every key."""
    import confluent_kafka as cklib
    p = cklib.Producer({"bootstrap.servers": ctx.bootstrap, "enable.idempotence": True, "linger.ms": 5})
    failed = []
    for seq in range(start, end):
        for k in range(KEYS):
            p.produce(topic, key=f"k{k}".encode(), value=str(seq).encode(),
                      on_delivery=lambda err, m: err and failed.append(str(err)))
        p.poll(0)
    check(p.flush(60) == 0 and not failed, f"input not acknowledged: {failed[:3]}")


def _running(*instances):
    """All RUNNING; fails at once when one stopped or reported an error."""
    for inst in instances:
        check(inst.state() not in ("ERROR", "PENDING_ERROR", "NOT_RUNNING") and not inst.errors(),
              f"{inst.name}: state {inst.state()}, errors {inst.errors()} (log {inst.log_path})")
    return all(inst.state() == "RUNNING" for inst in instances)


def _latest(ck, ctx, topic):
    out = {}
    for r in ck.read_all(ctx, topic, timeout=60):
        c, m = r.value.decode().split(",")
        out[r.key.decode()] = (int(c), int(m))
    return out


def _wait_round(ck, ctx, topic, last_seq, records_per_key, what, exact):
    """Waits until every group's aggregate has seen ``records_per_key`` records of each
    of its keys (at least, under at-least-once, which may count a record twice after a
    crash; exactly, under exactly-once) and its maximum is ``last_seq``; records lost
    anywhere make this time out."""
    need = records_per_key * (KEYS // GROUPS)
    seen = {}

    def done():
        seen.update(_latest(ck, ctx, topic))
        return all(seen.get(f"g{g}", (0, -1))[0] >= need and seen[f"g{g}"][1] == last_seq for g in range(GROUPS))
    try:
        wait_until(done, 120, what)
    except AssertionError as e:
        raise type(e)(f"{e}; latest (count, max) per group: {dict(sorted(seen.items()))}, "
                      f"expected at least ({need}, {last_seq})") from None
    over = {g: c for g, (c, _) in seen.items() if c != need}
    check(not exact or not over, f"exactly-once counted records twice: {over} (each should be {need})")
    return dict(seen)


def streams(ctx, guarantee="at_least_once"):
    if not shutil.which("java"):
        raise Skip("java is not installed")
    if not os.path.isdir(os.path.join(STREAMS_DIR, "target", f"kafka-{VERSION}", "lib")):
        raise Skip("the Streams application is not built (run compat/install.sh)")
    ck = get_client("confluent-kafka")
    input_topic = ctx.topic("streams.input")
    output_topic = ctx.topic("streams.output")
    ck.create_topic(ctx, input_topic, INPUT_PARTITIONS)
    ck.create_topic(ctx, output_topic, 1)
    app_id = f"compat-streams-{uuid.uuid4().hex[:8]}"
    work = os.path.join(ctx.workdir, "streams", app_id)
    os.makedirs(work, exist_ok=True)
    a, b = (StreamsInstance(n, ctx.bootstrap, app_id, input_topic, output_topic, os.path.join(work, f"state-{n}"),
                            os.path.join(work, f"{n}.log"), guarantee) for n in ("A", "B"))
    exact = guarantee != "at_least_once"
    try:
        a.start()
        b.start()
        wait_until(lambda: _running(a, b), 90, "both instances RUNNING")
        # 1: both instances, 20 records per key: counts (nothing died yet) and maxima exact
        _produce(ck, ctx, input_topic, 0, 20)
        _wait_round(ck, ctx, output_topic, 19, 20, "the aggregates of round 1", True)
        # 2: B is SIGKILLed; A takes over its tasks (restoring their state from the
        # changelog) and processes the next 20 records per key alone
        b.kill()
        log("B killed")
        _produce(ck, ctx, input_topic, 20, 40)

        _wait_round(ck, ctx, output_topic, 39, 40, "A alone to count every record of round 2", exact)
        check(a.state() == "RUNNING" and not a.errors(), f"A: state {a.state()}, errors {a.errors()}")
        # 3: B restarts on its old state directory and shares the work again
        b.start()
        wait_until(lambda: _running(a, b), 90, "B back, both RUNNING")
        _produce(ck, ctx, input_topic, 40, 60)

        got3 = _wait_round(ck, ctx, output_topic, 59, 60, "every record of round 3 to be counted", exact)
        check(not a.errors() and not b.errors(), f"errors: A {a.errors()}, B {b.errors()}")
        # what Streams made of the broker: its internal topics, as it asked for them
        changelog = f"{app_id}-group-aggregate-changelog"
        repartition = f"{app_id}-by-group-repartition"
        cfg = ck.describe_topic_configs(ctx, changelog)
        check(cfg.get("cleanup.policy", (None,))[0] == "compact", f"{changelog}: cleanup.policy {cfg.get('cleanup.policy')}")
        wm = ck.watermarks(ctx, repartition)
        purged = sum(1 for lo, _ in wm.values() if lo > 0)
        check(purged > 0, f"{repartition}: no partition was purged by Streams (DeleteRecords): {wm}")
        codes = [inst.stop() for inst in (a, b)]
        check(codes == [0, 0], f"clean stop exit codes {codes}")
        over = {g: v[0] - 60 * (KEYS // GROUPS) for g, v in got3.items() if v[0] > 60 * (KEYS // GROUPS)}
        return (f"2 instances, {KEYS * 60} input records; B SIGKILLed and A took over; "
                f"{purged}/{len(wm)} repartition partitions purged; "
                f"counted twice after the kill ({guarantee}): {sum(over.values())} record(s)")
    finally:
        for inst in (a, b):
            if inst.proc and inst.proc.poll() is None:
                inst.proc.kill()

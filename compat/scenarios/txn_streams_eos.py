"""Transactions under faults (issue 12, see scenarios/txn_faults.py): Kafka
Streams 4.4 (compat/streams StreamsApp) with ``exactly_once_v2`` on the 3-node
cluster while the transaction coordinator of an instance's producer, then the
application's group coordinator, are SIGKILLed and restarted.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections import Counter, defaultdict

from harness.common import CheckFailed, Skip, check, log, wait_until
from scenarios.cluster import _finish, _producer
from scenarios.txn_fault_helpers import TXN_SETTINGS, Reader, _check_same_view, _end_offsets, _read_all, _txn_coordinators

# --------------------------------------------------------------------------
# 4. Kafka Streams exactly_once_v2 across broker kills

STREAMS_KEYS = 50       # compat/streams StreamsApp: key k<n> goes to group g<n % 10>
STREAMS_GROUPS = 10
STREAMS_ROUNDS = (20, 40, 40)  # sequences per key in rounds 1-3; a kill in rounds 2 and 3


def _streams_tid(inst, app_id: str) -> str | None:
    """The transactional.id of a StreamsApp instance's producer (exactly_once_v2:
    ``<application.id>-<process id>-<thread index>``), from the producer client id
    it prints (``<application.id>-<process id>-StreamThread-1-producer``)."""
    for ln in inst.lines:
        if ln.startswith("producers "):
            for cid in ln.split(" ", 1)[1].split(","):
                if cid.startswith(app_id) and cid.endswith("-StreamThread-1-producer"):
                    return cid[:-len("-StreamThread-1-producer")] + "-1"
    return None


def streams_eos(ctx):
    """Kafka Streams (compat/streams StreamsApp, exactly_once_v2, internal topics
    with replication factor 3 and min.insync.replicas=2) on the 3-node cluster,
    two instances. Input (6 partitions, RF=3) written by an idempotent producer:
    50 keys, 100 records each over 3 rounds; the app regroups them into 10 groups
    (repartition topic), counts them in a changelog-backed store, writes every
    update to OUTPUT, and echoes every input to ECHO. In round 2 the transaction
    coordinator of instance A's producer (FindCoordinator for its
    transactional.id) is SIGKILLed once a third of the round is acknowledged,
    and restarted once another node coordinates it; in round 3 the same with the
    group coordinator of the application's consumer group. In the end, with
    both instances closed cleanly, read_committed: ECHO holds every input
    exactly once; OUTPUT holds per group the counts 1..500, each exactly once
    and in order (every input counted exactly once), the last with the group's
    maximum sequence; the input topic holds every input once."""
    from scenarios.streams import STREAMS_DIR, VERSION, StreamsInstance, _running
    if not shutil.which("java"):
        raise Skip("java is not installed")
    if not os.path.isdir(os.path.join(STREAMS_DIR, "target", f"kafka-{VERSION}", "lib")):
        raise Skip("the Streams application is not built (run compat/install.sh)")
    cl = ctx.private_cluster(TXN_SETTINGS)
    input_topic = ctx.topic("streams-eos.input")
    output_topic = ctx.topic("streams-eos.output")
    echo_topic = ctx.topic("streams-eos.echo")
    cl.create_topic(input_topic, 6, 3, {"min.insync.replicas": "2"})
    cl.create_topic(output_topic, 1, 3, {"min.insync.replicas": "2"})
    cl.create_topic(echo_topic, 3, 3, {"min.insync.replicas": "2"})
    app_id = f"compat-streams-eos-{uuid.uuid4().hex[:8]}"
    work = os.path.join(ctx.workdir, "streams", app_id)
    os.makedirs(work, exist_ok=True)
    insts = []
    for n in ("A", "B"):
        inst = StreamsInstance(n, cl.bootstrap, app_id, input_topic, output_topic, os.path.join(work, f"state-{n}"),
                               os.path.join(work, f"{n}.log"), "exactly_once_v2")
        inst.argv += ["3", echo_topic]  # replication factor of the internal topics, the echo topic
        insts.append(inst)
    a, b = insts
    total = sum(STREAMS_ROUNDS)
    per_group = total * (STREAMS_KEYS // STREAMS_GROUPS)
    sent: list[bytes] = []
    # the input producer: idempotent, acks=all, riding out a broker kill
    prod = _producer(cl.bootstrap, **{"enable.idempotence": True, "message.timeout.ms": 300_000})
    acked: dict[bytes, tuple[int, int]] = {}
    failed: dict[bytes, str] = {}

    def dr(err, m):
        if err is None:
            acked[m.key() + b":" + m.value()] = (m.partition(), m.offset())
        else:
            failed[m.key() + b":" + m.value()] = err.name()

    def produce_round(start, end, on_progress=None):
        for seq in range(start, end):
            for k in range(STREAMS_KEYS):
                while True:
                    try:
                        prod.produce(input_topic, key=f"k{k}".encode(), value=str(seq).encode(), on_delivery=dr)
                        break
                    except BufferError:
                        prod.poll(0.1)
                sent.append(f"k{k}:{seq}".encode())
            prod.poll(0)
            if on_progress:
                on_progress()
            time.sleep(0.1)  # pacing: the round spreads over a few seconds of processing
        check(prod.flush(300) == 0, "input records not acknowledged within 300 s")
        check(not failed, f"input records failed: {list(failed.items())[:3]}")

    out_reader = Reader(cl.bootstrap, output_topic, [0], "read_committed", "output reader (throughout)")

    def committed_progress():
        """Per group the highest count read_committed shows in OUTPUT so far."""
        best = {}
        for rec in out_reader.snapshot():
            best[rec.key] = max(best.get(rec.key, 0), int(rec.value.split(b",")[0]))
        return best

    def wait_counted(seqs_done, what):
        need = seqs_done * (STREAMS_KEYS // STREAMS_GROUPS)
        last = {}

        def ok():
            _running(a, b)
            last.update(committed_progress())
            return all(last.get(f"g{g}".encode(), 0) >= need for g in range(STREAMS_GROUPS))
        try:
            wait_until(ok, 300, what, interval=1.0)
        except CheckFailed as e:
            raise CheckFailed(f"{e}; highest committed count per group {dict(sorted(last.items()))}, "
                              f"expected {need}") from None

    def group_coordinator():
        adm = cl.admin()  # referenced until the result is in
        return adm.describe_consumer_groups([app_id], request_timeout=10)[app_id].result(timeout=15).coordinator.id

    def kill_during(start, end, victim, role, moved):
        """Round [start, end): ``victim`` SIGKILLed once a third of it is acknowledged;
        after the round, restarted once ``moved()`` names another running node."""
        kill_at = len(sent) + (end - start) * STREAMS_KEYS // 3
        state = {}

        def progress():
            if "t" not in state and len(acked) >= kill_at:
                cl.kill(victim)
                state["t"] = time.monotonic()
                log(f"SIGKILLed node {victim} ({role}) with {len(acked)} inputs acknowledged")
        produce_round(start, end, progress)
        check("t" in state, f"the kill point ({kill_at} inputs acknowledged) was never reached")
        new = wait_until(lambda: (lambda n: n if n != victim and n in cl.live() else None)(moved()), 180,
                         f"another node than {victim} as the {role}")
        took = time.monotonic() - state["t"]
        cl.restart(victim)
        log(f"restarted node {victim}; {new} took over as the {role} after {took:.1f}s")
        return new, took

    events = []
    try:
        a.start()
        b.start()
        wait_until(lambda: _running(a, b) and _streams_tid(a, app_id), 120,
                   "both Streams instances RUNNING, A's producer named")
        r1, r2, r3 = STREAMS_ROUNDS
        produce_round(0, r1)
        wait_counted(r1, "round 1 counted (read_committed)")
        tid = _streams_tid(a, app_id)
        v1 = _txn_coordinators(cl, [tid])[tid]
        check(v1 in cl.nodes, f"FindCoordinator names {v1} for {tid}")
        leads_output = cl.leader(output_topic, 0) == v1
        new1, took1 = kill_during(r1, r1 + r2, v1, f"transaction coordinator of A's {tid}",
                                  lambda: _txn_coordinators(cl, [tid], timeout=15)[tid])
        events.append(f"node {v1} (transaction coordinator of A's producer{', leader of OUTPUT' if leads_output else ''})"
                      f" SIGKILLed in round 2, {new1} coordinated after {took1:.1f}s")
        wait_counted(r1 + r2, "round 2 counted (read_committed), across the kill")
        v2 = group_coordinator()
        check(v2 in cl.nodes, f"describe_consumer_groups names coordinator {v2} for {app_id}")
        new2, took2 = kill_during(r1 + r2, total, v2, f"group coordinator of {app_id}", group_coordinator)
        events.append(f"node {v2} (group coordinator) SIGKILLed in round 3, {new2} coordinated after {took2:.1f}s")
        wait_counted(total, "round 3 counted (read_committed), across the kill")
        check(not a.errors() and not b.errors(), f"Streams errors: A {a.errors()}, B {b.errors()}")
        codes = [inst.stop() for inst in (a, b)]
        check(codes == [0, 0], f"clean stop exit codes {codes}")
    finally:
        for inst in (a, b):
            if inst.proc and inst.proc.poll() is None:
                inst.proc.kill()
        prod.flush(10)

    check(len(set(sent)) == total * STREAMS_KEYS and set(acked) == set(sent),
          f"{len(acked)} of {len(sent)} inputs acknowledged")
    # the input topic holds every input once (idempotent producer)
    inp = _read_all(cl, input_topic, list(range(6)), "read_uncommitted", "input reader")
    in_vals = Counter(r.key + b":" + r.value for r in inp.snapshot())
    check(set(in_vals) == set(sent) and all(n == 1 for n in in_vals.values()),
          f"input topic: {len(in_vals)} distinct inputs of {len(sent)}, {sum(n - 1 for n in in_vals.values())} twice")
    problems = []
    echo = _read_all(cl, echo_topic, list(range(3)), "read_committed", "echo reader (read_committed)")
    echo_vals = Counter(r.key + b":" + r.value for r in echo.snapshot())
    twice = {v: n for v, n in echo_vals.items() if n > 1}
    lost = [v for v in sent if v not in echo_vals]
    extra = [v for v in echo_vals if v not in in_vals]
    if twice or lost or extra:
        problems.append(f"echo topic: {len(lost)} inputs missing ({lost[:3]}), {len(twice)} echoed more than once "
                        f"({list(twice.items())[:3]}), {len(extra)} unknown ({extra[:3]})")
    out = _read_all(cl, output_topic, [0], "read_committed", "output reader (read_committed)")
    out_reader.wait_positions(_end_offsets(cl, output_topic, [0], committed=False), 120, "the end of OUTPUT")
    out_reader.stop()
    _check_same_view(out_reader, out, "the read_committed output readers, running throughout and fresh")
    _check_same_view(out, out_reader, "the read_committed output readers, fresh and running throughout")
    counts: dict[bytes, list[int]] = defaultdict(list)
    maxima: dict[bytes, int] = {}
    for r in out.snapshot():
        c, m = r.value.split(b",")
        counts[r.key].append(int(c))
        maxima[r.key] = int(m)
    for g in range(STREAMS_GROUPS):
        key = f"g{g}".encode()
        got = counts.get(key, [])
        if got != list(range(1, per_group + 1)):
            dup = sum(n - 1 for n in Counter(got).values() if n > 1)
            gaps = sorted(set(range(1, per_group + 1)) - set(got))
            problems.append(f"output {key.decode()}: {len(got)} updates, expected the counts 1..{per_group} once "
                            f"each in order: {dup} repeated, missing {gaps[:5]}, first {got[:5]}, last {got[-3:]}")
        elif maxima.get(key) != total - 1:
            problems.append(f"output {key.decode()}: last maximum {maxima.get(key)}, expected {total - 1}")
    unc_out = _read_all(cl, output_topic, [0], "read_uncommitted", "output reader (read_uncommitted)")
    unc_echo = _read_all(cl, echo_topic, list(range(3)), "read_uncommitted", "echo reader (read_uncommitted)")
    check(not problems, "Kafka Streams exactly_once_v2 across broker kills:\n  - " + "\n  - ".join(problems))
    note = (f"2 instances, {len(sent)} inputs; " + "; ".join(events) + f"; read_committed: every input echoed once, "
            f"every group counted 1..{per_group} exactly once; records of aborted transactions in the logs: "
            f"{len(unc_out.at) - len(out.at)} in OUTPUT, {len(unc_echo.at) - len(echo.at)} in ECHO")
    log(note)
    return _finish(cl, note)

"""Fault injection on a real 3-node riffle cluster (harness/cluster.py) with
real confluent-kafka clients: leader failover under an idempotent producer,
ISR shrink and NOT_ENOUGH_REPLICAS (also with 3 controller-only nodes beside
3 broker-only ones), controller failover, unclean leader election, group
coordinator failover.

Every wait is a condition polled with a deadline. Durations (leadership
moves, controller failover) are measured and reported in the note, never
asserted. Each scenario ends with a clean SIGTERM stop of every node (exit 0)
and ``riffle verify-logs`` on every node's data directory.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from types import SimpleNamespace

import confluent_kafka as ckl
from confluent_kafka import ConsumerGroupTopicPartitions

from harness.clients import get_client
from harness.clients.confluent import _TS_TYPES, _base_conf
from harness.common import CheckFailed, Deliveries, Msg, Record, check, log, make_messages, verify_records, wait_until


# --------------------------------------------------------------------------
# helpers


def _finish(cl, note: str) -> str:
    """Clean stop of all nodes (SIGTERM, exit 0), then verify-logs on every
    node's data dir, controller-only nodes included (also when the stop
    failed: a node that hung was SIGKILLed)."""
    problems = []
    try:
        cl.stop()
    except CheckFailed as e:
        problems.append(str(e))
    for nd in cl.all_nodes():  # brokers, then controller-only nodes (separate roles)
        nd.kill()  # no-op unless a stop failed
        rc, out = nd.verify_logs()
        tail = "\n".join(out.splitlines()[-10:])
        if rc != 0:
            problems.append(f"checking the segments of {nd.data_dir} ({nd.FLAVOUR}) failed ({rc}):\n{tail}")
        else:
            log(f"verify-logs {nd.name} OK: {tail[-200:]}")
    if problems:
        raise CheckFailed("\n".join(problems) + f"\n(every check before the final stop passed: {note})")
    return note


def _producer(bootstrap: str, **conf):
    c = _base_conf(bootstrap)
    c.update({"acks": "all", "linger.ms": 5, "message.timeout.ms": 60_000})
    c.update(conf)
    return ckl.Producer(c)


def _produce(bootstrap: str, topic: str, msgs: list[Msg], *, partition: int | None = None, timeout: float = 120,
             producer=None, **conf) -> tuple[dict[bytes, tuple[int, int]], dict[bytes, str]]:
    """Produce ``msgs`` (with ``producer``, else a new one); returns (acknowledged
    value -> (partition, offset), failed value -> error name). Every message gets a
    delivery report."""
    p = producer or _producer(bootstrap, **conf)
    deliveries = Deliveries()

    kw = {} if partition is None else {"partition": partition}
    for m in msgs:
        while True:
            try:
                p.produce(topic, key=m.key, value=m.value, headers=m.headers or None, timestamp=m.timestamp or 0,
                          on_delivery=deliveries, **kw)
                break
            except BufferError:
                p.poll(0.1)
        p.poll(0)
    left = p.flush(timeout)
    check(left == 0, f"{left} messages to {topic} got no delivery report within {timeout}s")
    return deliveries.acked, deliveries.failed


class _PidLog(logging.Handler):
    """Collects librdkafka's ``debug=eos`` lines: which broker an idempotent
    producer asked for its producer id, and the id (and epoch) it got."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.asked: list[str] = []
        self.got: list[tuple[int, int]] = []

    def emit(self, record):
        msg = record.getMessage()
        m = re.search(r"(\S+): Acquiring ProducerId", msg)
        if m:
            self.asked.append(m.group(1))
        m = re.search(r"Acquired PID\{Id:(\d+),Epoch:(\d+)\}", msg)
        if m:
            self.got.append((int(m.group(1)), int(m.group(2))))


def _produce_idempotent(bootstrap: str, topic: str, msgs: list[Msg], timeout: float = 120):
    """Idempotent acks=all produce; returns (acked, failed, pid, node, fatal):
    the producer id and epoch it got, the node id that handed it out, and a
    fatal producer error (or None)."""
    h = _PidLog()
    lg = logging.getLogger(f"rdkafka.{uuid.uuid4().hex}")
    lg.propagate = False
    lg.setLevel(logging.DEBUG)
    lg.addHandler(h)
    fatal = None
    acked, failed = {}, {}
    try:
        acked, failed = _produce(bootstrap, topic, msgs, timeout=timeout,
                                 **{"enable.idempotence": True, "debug": "eos", "logger": lg})
    except ckl.KafkaException as e:
        fatal = str(e)
    node = None
    if h.asked:
        tail = h.asked[-1].rsplit("/", 1)[-1]
        node = int(tail) if tail.isdigit() else h.asked[-1]
    return acked, failed, (h.got[-1] if h.got else None), node, fatal


def _msgs(tag: str, n: int, nkeys: int = 10, start: int = 0) -> list[Msg]:
    return make_messages(tag, n, nkeys, start=start)


def _read(ctx, topic, timeout=120, bootstrap=None) -> list[Record]:
    """Everything from the beginning to the high watermarks (assigned, no group)."""
    return get_client("confluent-kafka").read_all(SimpleNamespace(bootstrap=bootstrap or ctx.bootstrap), topic,
                                                  timeout=timeout)


def _read_group(ctx, topic: str, group: str, timeout: float = 180) -> list[Record]:
    """A consumer of a fresh group (subscribe, auto.offset.reset=earliest)
    reads until its position reaches the high watermark of every partition."""
    ck = get_client("confluent-kafka")
    wm = ck.watermarks(ctx, topic)
    log(f"group read of {topic} by {group}: watermarks {wm}")
    conf = _base_conf(ctx.bootstrap)
    conf.update({"group.id": group, "auto.offset.reset": "earliest", "enable.auto.commit": False,
                 "check.crcs": True, "fetch.wait.max.ms": 100, "session.timeout.ms": 10_000,
                 "heartbeat.interval.ms": 1000})
    c = ckl.Consumer(conf)
    records: list[Record] = []
    pos = {p: lo for p, (lo, hi) in wm.items()}
    try:
        c.subscribe([topic])
        deadline = time.monotonic() + timeout
        while any(pos[p] < wm[p][1] for p in wm):
            if time.monotonic() > deadline:
                raise CheckFailed(f"group consumer: timed out after {timeout}s reading {topic}: positions {pos}, "
                                  f"high watermarks { {p: h for p, (_, h) in wm.items()} }")
            for m in c.consume(1000, timeout=0.5):
                err = m.error()
                if err is not None:
                    if err.code() == ckl.KafkaError._PARTITION_EOF:
                        continue
                    if m.topic() == topic or err.fatal():
                        raise CheckFailed(f"group consumer error on {m.topic()} [{m.partition()}]: {err}")
                    log(f"group consumer: ignoring non-partition error: {err}")
                    continue
                tstype, ts = m.timestamp()
                records.append(Record(partition=m.partition(), offset=m.offset(), key=m.key(), value=m.value(),
                                      headers=list(m.headers() or []), timestamp=ts, ts_type=_TS_TYPES.get(tstype)))
                pos[m.partition()] = max(pos[m.partition()], m.offset() + 1)
    finally:
        c.close()
    return records


def _wait_isr(cl, topic: str, partitions: int, want, timeout: float, what: str, via=None):
    """Until ``want(isr, pm)`` holds for every partition of ``topic``."""
    def ok():
        md = cl.metadata(topic, via=via)
        parts = md.topics.get(topic, {})
        if len(parts) != partitions:
            return None
        return md if all(want(sorted(pm.isr), pm) for pm in parts.values()) else None
    md = wait_until(ok, timeout, f"{topic}: {what}")
    log(f"{what}: {md.describe(topic)}")
    return md


def _check_isr_kept(cl, topics: dict[str, list[int]], since: float, lag_s: float, what: str, via=None):
    """After twice ``lag_s`` (replica.lag.time.max.ms) since ``since``: every
    topic's partition 0 still has the ISR given. A follower that has everything
    the leader has is in sync however long it has not fetched (Kafka:
    Partition.getOutOfSyncReplicas / ReplicaState.isCaughtUp, "leaderEndOffset
    == logEndOffset || now - lastCaughtUpTimeMs <= maxLag"), so a stopped
    follower leaves the ISR only once the leader has records it lacks."""
    wait_until(lambda: time.monotonic() - since > 2 * lag_s, 4 * lag_s + 30,
               f"twice replica.lag.time.max.ms ({lag_s:.0f} s) since {what}")
    for t, want in topics.items():
        md = cl.metadata(t, via=via)
        pm = md.partition(t, 0)
        check(pm is not None and sorted(pm.isr) == sorted(want),
              f"{t}: the ISR changed though no record was written since {what} (a follower that has the "
              f"leader's whole log stays in sync, however long it does not fetch), expected {sorted(want)}: "
              f"{md.describe(t)}")
    log(f"ISRs unchanged {2 * lag_s:.0f}s after {what} with nothing written: "
        + ", ".join(f"{t}: {sorted(w)}" for t, w in topics.items()))


def produce_through_leader_kill(cl, p, topic: str, msgs: list[Msg], victim: int, *, backlog: int, timeout: float,
                                victim_leaves_isr: bool = False) -> tuple[dict, dict]:
    """Produces ``msgs`` with the idempotent acks=all producer ``p`` (at most
    ``backlog`` unacknowledged) while ``victim``, the leader of partition 0, is
    SIGKILLed once ~30% are acknowledged, and restarted once ~60% are and another
    node's metadata names a new leader (with ``victim_leaves_isr``: and no longer
    lists the victim in p0's ISR). Every message must be acknowledged; returns
    (acknowledged value -> (partition, offset), {"leader", "at": seconds from the
    kill}) once the victim is registered again."""
    deliveries = Deliveries()
    acked, failed = deliveries.acked, deliveries.failed
    moved: dict = {}

    def watch_leader(t_kill):
        """Time from the kill until another node's metadata names a new leader of partition 0."""
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and "at" not in moved:
            try:
                pm = cl.metadata(topic, exclude=victim).partition(topic, 0)
                if (pm is not None and pm.leader >= 0 and pm.leader != victim
                        and not (victim_leaves_isr and victim in pm.isr)):
                    moved.update(at=time.monotonic() - t_kill, leader=pm.leader, isr=sorted(pm.isr))
                    return
            except Exception as e:  # noqa: BLE001 - retried
                moved["last_error"] = repr(e)
            time.sleep(0.1)

    kill_at, restart_at = int(len(msgs) * 0.3), int(len(msgs) * 0.6)
    t_kill = None
    watcher = None
    restarted = False
    i = 0
    deadline = time.monotonic() + timeout
    while i < len(msgs):
        check(time.monotonic() < deadline, f"produced {i}, acknowledged {len(acked)} of {len(msgs)} "
                                           f"after {timeout:.0f}s; failures {deliveries.failures()}")
        if i - len(acked) - len(failed) < backlog:  # bounded backlog: production spreads over the run
            m = msgs[i]
            try:
                p.produce(topic, key=m.key, value=m.value, headers=m.headers, timestamp=m.timestamp,
                          on_delivery=deliveries)
                i += 1
            except BufferError:
                p.poll(0.05)
            p.poll(0)
        else:
            p.poll(0.05)
        if t_kill is None and len(acked) >= kill_at:
            cl.kill(victim)
            t_kill = time.monotonic()
            log(f"SIGKILLed node {victim} (leader of p0) with {len(acked)} acknowledged, {i} produced")
            watcher = threading.Thread(target=watch_leader, args=(t_kill,), daemon=True)
            watcher.start()
        if t_kill is not None and not restarted and len(acked) >= restart_at and "at" in moved:
            cl.restart(victim, wait=False)  # main thread: PDEATHSIG
            restarted = True
            log(f"restarted node {victim} with {len(acked)} acknowledged, {i} produced; p0 moved to "
                f"{moved['leader']} after {moved['at']:.1f}s")
    left = p.flush(300)
    check(left == 0, f"{left} messages neither acknowledged nor failed 300s after the last produce")
    check(not failed, f"{len(failed)} of {len(msgs)} messages failed (the producer must ride out the failover): "
                      f"{deliveries.failures(5)}")
    check(len(acked) == len(msgs), f"{len(acked)} acknowledged of {len(msgs)}")
    check(watcher is not None, f"the kill point ({kill_at} acknowledged) was never reached")
    watcher.join(130)
    check("at" in moved, f"metadata never showed a new leader for partition 0 after the kill of node {victim} "
                         f"({moved.get('last_error')})")
    if not restarted:
        cl.restart(victim, wait=False)
        log(f"restarted node {victim} after the producer finished")
    cl.wait_brokers({victim}, 60, f"node {victim} registered again", exclude=victim)
    return acked, moved


# --------------------------------------------------------------------------
# a. leader failover under an idempotent producer

FAILOVER_MESSAGES = 100_000
FAILOVER_KEYS = 500
FAILOVER_PARTITIONS = 6


def leader_failover(ctx):
    """RF=3, 6 partitions, min.insync.replicas=2. An idempotent acks=all
    producer sends 100,000 keyed messages; after ~30% are acknowledged the
    leader of partition 0 is SIGKILLed, and restarted once ~60% are
    acknowledged and a new leader took over. Every message must be
    acknowledged; a fresh group reads each exactly once, at its acknowledged
    offset, per-key order intact, offsets contiguous; the restarted broker
    gets back into every ISR."""
    cl = ctx.private_cluster()
    topic = ctx.topic("cluster.failover")
    cl.create_topic(topic, FAILOVER_PARTITIONS, 3, {"min.insync.replicas": "2"})
    victim = cl.leader(topic, 0)
    check(victim in cl.nodes, f"partition 0 has no leader: {cl.metadata(topic).describe(topic)}")
    msgs = make_messages("failover", FAILOVER_MESSAGES, FAILOVER_KEYS)
    log(f"victim: node {victim} (leader of partition 0)")

    p = _producer(ctx.bootstrap, **{"enable.idempotence": True, "acks": "all", "message.timeout.ms": 300_000,
                                    "linger.ms": 5})
    acked, moved = produce_through_leader_kill(cl, p, topic, msgs, victim, backlog=5_000, timeout=360)

    records = _read_group(ctx, topic, f"compat-cluster-failover-{uuid.uuid4().hex[:8]}")
    summary = verify_records(records, msgs, partitions=FAILOVER_PARTITIONS,
                             contiguous_from={pp: 0 for pp in range(FAILOVER_PARTITIONS)},
                             delivered=acked, partition_send_order=True)
    log(f"read back: {summary}")
    t0 = time.monotonic()
    _wait_isr(cl, topic, FAILOVER_PARTITIONS, lambda isr, pm: victim in isr, 120,
              f"restarted node {victim} back in every ISR")
    note = (f"p0 leader {victim} SIGKILLed at {int(FAILOVER_MESSAGES * 0.3)} acked: new leader {moved['leader']} in metadata after "
            f"{moved['at']:.1f}s; {len(acked)} acked, 0 failed, read back exactly once; node {victim} back in all "
            f"ISRs {time.monotonic() - t0:.1f}s after the read")
    log(note)
    return _finish(cl, note)


# --------------------------------------------------------------------------
# b. ISR shrink, NOT_ENOUGH_REPLICAS


def isr_shrink(ctx):
    """replica.lag.time.max.ms=3000, broker.session.timeout.ms=60000 (a
    SIGSTOPped broker is not fenced, it leaves ISRs by lag only).

    Topic T3: RF=3, min.insync.replicas=2, replicas [L, f1, f2]. Topic T2:
    RF=2 on [L, f1], min.insync.replicas=2. SIGSTOP f1 with both topics
    idle: f1 has all the leader has, so it stays in both ISRs however long
    (Kafka's rule: a follower at the leader's log end offset is in sync).
    Then 5 records with acks=1 to each topic, which f1 lacks: T3's ISR
    becomes [L, f2] and acks=all still works; T2's ISR becomes [L] and
    acks=all is refused with NOT_ENOUGH_REPLICAS (nothing appended), acks=1
    works.

    Then SIGSTOP f2 as well. Every node is a controller, so 2 of 3 voters are
    gone: no quorum, and an ISR change needs the controller (AlterPartition),
    so T3's ISR cannot shrink to [L] (as in Kafka/KRaft) and stays [L, f2];
    an acks=all produce to T3 must not be acknowledged (f2 never has it).

    SIGCONT both: the ISRs are full again, acks=all works on both topics,
    everything acknowledged is readable, nothing refused with
    NOT_ENOUGH_REPLICAS is. (isr_shrink_separate_roles shrinks an RF=3 ISR
    to the leader alone, with the quorum on separate controller nodes.)"""
    cl = ctx.private_cluster({"replica.lag.time.max.ms": "3000", "broker.session.timeout.ms": "60000"})
    t3 = ctx.topic("cluster.isr3")
    cl.create_topic(t3, 1, 3, {"min.insync.replicas": "2"})
    pm = cl.metadata(t3).partition(t3, 0)
    L = pm.leader
    f1, f2 = [r for r in pm.replicas if r != L]
    t2 = ctx.topic("cluster.isr2")
    cl.create_topic(t2, config={"min.insync.replicas": "2"}, replica_assignment=[[L, f1]])
    check(cl.leader(t2, 0) == L, f"{t2} (assignment [[{L}, {f1}]]) leader is not {L}: "
                                 f"{cl.metadata(t2).describe(t2)}")
    log(f"leader {L}, followers {f1} (stopped first) and {f2}")
    sent = {t3: [], t2: []}
    acked = {t3: {}, t2: {}}
    refused: dict[bytes, str] = {}
    n = [0]

    def batch(topic, count, **conf):
        ms = make_messages(f"isr-{topic[-13:]}", count, 5, start=n[0])
        n[0] += count
        sent[topic] += ms
        a, f = _produce(cl.live_bootstrap, topic, ms, **conf)  # not via a SIGSTOPped node
        acked[topic].update(a)
        return a, f

    strict = {"message.timeout.ms": 5000, "retries": 0}  # an error reaches the delivery report at once
    for t in (t3, t2):
        a, f = batch(t, 20)
        check(not f and len(a) == 20, f"acks=all to {t} with a full ISR: {len(a)} acked, failed {f}")

    # 1. f1 stopped, nothing written: f1 has the whole log and stays in sync
    cl.sigstop(f1)
    _check_isr_kept(cl, {t3: [L, f1, f2], t2: [L, f1]}, time.monotonic(), 3.0, f"the SIGSTOP of {f1}", via=L)
    # records f1 lacks: T3 ISR [L, f2] (>= min.insync 2): acks=all works; T2 ISR [L] < 2: NOT_ENOUGH_REPLICAS
    for t in (t3, t2):
        a, f = batch(t, 5, acks="1", **strict)
        check(not f and len(a) == 5, f"acks=1 to {t} with {f1} stopped: {len(a)} acked, failed {f}")
    _wait_isr(cl, t3, 1, lambda isr, pm: isr == sorted([L, f2]), 60,
              f"ISR without the stopped node {f1} once it lacks records", via=L)
    _wait_isr(cl, t2, 1, lambda isr, pm: isr == [L], 60, f"ISR shrunk to the leader {L}", via=L)
    a, f = batch(t3, 20, acks="all", **{"message.timeout.ms": 30_000})
    check(not f and len(a) == 20, f"acks=all to {t3} with ISR [{L}, {f2}] (min.insync.replicas=2): "
                                  f"{len(a)} acked, failed {sorted(set(f.values()))}")
    a, f = batch(t2, 10, acks="all", **strict)
    errs = sorted(set(f.values()))
    check(not a and len(f) == 10 and errs == ["NOT_ENOUGH_REPLICAS"],
          f"acks=all to {t2} with ISR [{L}] and min.insync.replicas=2: expected NOT_ENOUGH_REPLICAS for all 10, "
          f"got {len(a)} acknowledged, errors {errs}")
    refused.update(f)
    a, f = batch(t2, 10, acks="1", **strict)
    check(not f and len(a) == 10, f"acks=1 to {t2} with ISR [{L}]: {len(a)} acked, failed {f}")

    # 2. f2 stopped too: no quorum, no ISR change; acks=all to T3 must not be acknowledged
    cl.sigstop(f2)
    t_stop = time.monotonic()
    a, f = batch(t3, 5, acks="all", **{"message.timeout.ms": 8000})
    check(not a and len(f) == 5, f"acks=all to {t3} with both followers stopped: {len(a)} acknowledged "
                                 f"(only the leader can have them), errors {sorted(set(f.values()))}")
    timed_out = set(f)  # may or may not be in the log later: a timeout is not a refusal
    no_quorum_errors = sorted(set(f.values()))
    log(f"acks=all with both followers stopped: {no_quorum_errors}")
    # the ISR change to [L] needs a controller quorum, which is gone: the leader must not have applied it
    wait_until(lambda: time.monotonic() - t_stop > 2 * 3.0, 30, "twice replica.lag.time.max.ms since the stop")
    md = cl.metadata(t3, via=L)
    check(sorted(md.partition(t3, 0).isr) == sorted([L, f2]),
          f"with 2 of 3 controllers stopped (no quorum) the ISR of {t3} changed anyway: {md.describe(t3)}")

    # 3. both back: full ISRs, acks=all works everywhere
    cl.sigcont(f1)
    cl.sigcont(f2)
    _wait_isr(cl, t3, 1, lambda isr, pm: len(isr) == 3, 90, "ISR full again after SIGCONT")
    _wait_isr(cl, t2, 1, lambda isr, pm: len(isr) == 2, 90, "ISR full again after SIGCONT")
    for t in (t3, t2):
        a, f = batch(t, 20, acks="all", **{"message.timeout.ms": 30_000})
        check(not f and len(a) == 20, f"acks=all to {t} after SIGCONT: {len(a)} acked, failed {f}")

    for t in (t3, t2):
        recs = _read(ctx, t)
        at = {(r.partition, r.offset): r.value for r in recs}
        values = [r.value for r in recs]
        lost = [(v, po) for v, po in acked[t].items() if at.get(po) != v]
        check(not lost, f"{t}: {len(lost)} acknowledged messages not at their offset, e.g. {lost[:2]}")
        check(len(values) == len(set(values)), f"{t}: duplicated records")
        sent_values = {m.value for m in sent[t]}
        check(all(v in sent_values for v in values), f"{t}: records that were never sent")
        back = [v for v in values if v in refused]
        check(not back, f"{t}: {len(back)} records refused with NOT_ENOUGH_REPLICAS are in the log "
                        f"(must not be appended), e.g. {[v[:40] for v in back[:2]]}")
        extra = [v for v in values if v not in acked[t]]
        check(all(v in timed_out for v in extra), f"{t}: unacknowledged records in the log that did not time out")
        offs = sorted(r.offset for r in recs)
        check(offs == list(range(len(offs))), f"{t}: offsets not contiguous from 0: {offs[:5]}...{offs[-5:]}")
    note = (f"leader {L}: SIGSTOP {f1}: ISRs unchanged while idle; after 5 acks=1 records ISR {L},{f2} "
            f"(acks=all ok), [{L}] for RF=2 -> NOT_ENOUGH_REPLICAS; "
            f"no quorum with {f2} stopped too: ISR unchanged, acks=all not acknowledged "
            f"({', '.join(no_quorum_errors)}); full ISRs after SIGCONT, all acknowledged records readable")
    log(note)
    return _finish(cl, note)


# --------------------------------------------------------------------------
# b'. ISR shrink to the leader alone: controllers separate from the brokers


def isr_shrink_separate_roles(ctx):
    """3 controller-only nodes (the quorum's voters) and 3 broker-only nodes;
    replica.lag.time.max.ms=3000, broker.session.timeout.ms=60000 (a
    SIGSTOPped broker is not fenced, it leaves the ISR by lag only). Stopping
    brokers leaves the quorum whole, so, unlike cluster-isr-shrink (where
    every node is a voter), the ISR can shrink to the leader alone.

    RF=3, 1 partition, min.insync.replicas=2, replicas [L, f1, f2]. A
    stopped follower that has the leader's whole log stays in sync (Kafka's
    rule), so each SIGSTOP is followed by twice replica.lag.time.max.ms with
    nothing written (the ISR must not change), then 5 records with acks=1
    that the stopped follower lacks. SIGSTOP f1: the ISR becomes [L, f2] and
    acks=all works. SIGSTOP f2: the ISR becomes [L], acks=all is refused
    with NOT_ENOUGH_REPLICAS (nothing appended), acks=1 works. SIGCONT both:
    they catch up and rejoin the ISR, acks=all works again, and everything
    acknowledged is read back exactly once at its acknowledged offset,
    nothing refused, offsets contiguous. The note gives the times from the
    records each stopped follower lacks to the shrink seen in metadata and
    from the SIGCONT to each follower back in the ISR."""
    lag_ms, session_ms = 3000, 60_000
    cl = ctx.private_cluster({"replica.lag.time.max.ms": str(lag_ms), "broker.session.timeout.ms": str(session_ms)},
                             controllers=3)
    topic = ctx.topic("cluster.isrsep")
    cl.create_topic(topic, 1, 3, {"min.insync.replicas": "2"})
    pm = cl.metadata(topic).partition(topic, 0)
    L = pm.leader
    check(L in cl.nodes and sorted(pm.replicas) == cl.ids(),
          f"{topic}: expected a leader and replicas on the 3 brokers {cl.ids()}: {cl.metadata(topic).describe(topic)}")
    f1, f2 = [r for r in pm.replicas if r != L]
    log(f"leader {L}, followers {f1} (stopped first) and {f2}; controller-only nodes {cl.controller_ids()}")
    sent: list[Msg] = []
    acked: dict[bytes, tuple[int, int]] = {}
    refused: dict[bytes, str] = {}
    n = [0]

    def batch(count, **conf):
        ms = make_messages("isrsep", count, 5, start=n[0])
        n[0] += count
        sent.extend(ms)
        a, f = _produce(cl.live_bootstrap, topic, ms, **conf)  # never via a SIGSTOPped broker
        acked.update(a)
        return a, f

    stopped_at: dict[int, float] = {}
    strict = {"message.timeout.ms": 5000, "retries": 0}  # an error reaches the delivery report at once

    def stop_and_shrink(i: int, kept: list[int], want: list[int], what: str) -> float:
        """SIGSTOP follower i; with nothing written the ISR stays ``kept`` (i has
        the whole log); then 5 acks=1 records i lacks, and until L's metadata
        shows ISR ``want`` with L still leading. The stopped brokers must
        still be registered (not fenced) unless the session timeout has
        passed: the shrink is by lag. Returns the seconds from those records
        to the shrink."""
        cl.sigstop(i)
        stopped_at[i] = time.monotonic()
        _check_isr_kept(cl, {topic: kept}, stopped_at[i], lag_ms / 1000, f"the SIGSTOP of {i}", via=L)
        a, f = batch(5, acks="1", **strict)
        check(not f and len(a) == 5, f"acks=1 with ISR {sorted(kept)} and {i} stopped: {len(a)} acked, "
                                     f"failed {sorted(set(f.values()))}")
        written = time.monotonic()
        md = _wait_isr(cl, topic, 1, lambda isr, pm: isr == sorted(want) and pm.leader == L, 60, what, via=L)
        now = time.monotonic()
        took = now - written
        fenced = [j for j, t in stopped_at.items() if j not in md.brokers and now - t < session_ms / 1000]
        check(not fenced, f"stopped broker(s) {fenced} gone from metadata (fenced) before "
                          f"broker.session.timeout.ms={session_ms}: {md.describe(topic)}")
        return took

    a, f = batch(20)
    check(not f and len(a) == 20, f"acks=all with the full ISR: {len(a)} acked, failed {f}")

    # 1. f1 stopped: ISR [L, f2] (= min.insync.replicas) once f1 lacks records: acks=all works
    shrink1 = stop_and_shrink(f1, [L, f1, f2], [L, f2], f"ISR without the stopped broker {f1}")
    log(f"ISR [{L}, {f2}] {shrink1:.1f}s after the records {f1} lacks")
    a, f = batch(20, acks="all", **{"message.timeout.ms": 30_000})
    check(not f and len(a) == 20, f"acks=all with ISR [{L}, {f2}] (min.insync.replicas=2): {len(a)} acked, "
                                  f"failed {sorted(set(f.values()))}")

    # 2. f2 stopped too: ISR [L] < min.insync.replicas: NOT_ENOUGH_REPLICAS, acks=1 works
    shrink2 = stop_and_shrink(f2, [L, f2], [L], f"ISR shrunk to the leader {L}")
    log(f"ISR [{L}] {shrink2:.1f}s after the records {f2} lacks")
    a, f = batch(10, acks="all", **strict)
    errs = sorted(set(f.values()))
    check(not a and len(f) == 10 and errs == ["NOT_ENOUGH_REPLICAS"],
          f"acks=all with ISR [{L}] and min.insync.replicas=2: expected NOT_ENOUGH_REPLICAS for all 10, got "
          f"{len(a)} acknowledged, errors {errs} for {len(f)}")
    refused.update(f)
    a, f = batch(10, acks="1", **strict)
    check(not f and len(a) == 10, f"acks=1 with ISR [{L}]: {len(a)} acked, failed {sorted(set(f.values()))}")

    # 3. both back: they catch up and rejoin; acks=all works again
    cl.sigcont(f1)
    cl.sigcont(f2)
    t_cont = time.monotonic()
    rejoined: dict[int, float] = {}

    def full():
        md = cl.metadata(topic, via=L)
        pm = md.partition(topic, 0)
        if pm is None:
            return None
        for i in (f1, f2):
            if i in pm.isr and i not in rejoined:
                rejoined[i] = time.monotonic() - t_cont
        return md if sorted(pm.isr) == cl.ids() else None
    md = wait_until(full, 90, f"{topic}: {f1} and {f2} back in the ISR after SIGCONT")
    log(f"ISR full again: {md.describe(topic)}; rejoined after "
        + ", ".join(f"{i}: {t:.1f}s" for i, t in sorted(rejoined.items())))
    a, f = batch(20, acks="all", **{"message.timeout.ms": 30_000})
    check(not f and len(a) == 20, f"acks=all after SIGCONT: {len(a)} acked, failed {sorted(set(f.values()))}")

    # 4. read back: every acknowledged record once, at its offset; nothing refused
    recs = _read(ctx, topic)
    back = [r for r in recs if r.value in refused]
    check(not back, f"{len(back)} records refused with NOT_ENOUGH_REPLICAS are in the log (must not be appended), "
                    f"e.g. {[(r.offset, r.value[:40]) for r in back[:2]]}")
    check(all(m.value in acked or m.value in refused for m in sent),
          "test bug: a message neither acknowledged nor refused")
    summary = verify_records(recs, [m for m in sent if m.value in acked], partitions=1, contiguous_from={0: 0},
                             delivered=acked)
    log(f"read back: {summary}")
    note = (f"controllers {cl.controller_ids()}, brokers {cl.ids()}, leader {L}: each stopped follower kept in the "
            f"ISR while idle; ISR [{L}, {f2}] {shrink1:.1f}s after records SIGSTOPped {f1} lacks (acks=all ok); "
            f"ISR [{L}] {shrink2:.1f}s after records SIGSTOPped {f2} lacks: acks=all -> "
            f"NOT_ENOUGH_REPLICAS (10 refused, none in the log), acks=1 ok; after SIGCONT "
            + ", ".join(f"{i} back in the ISR after {t:.1f}s" for i, t in sorted(rejoined.items()))
            + f"; {len(acked)} acknowledged records read back exactly once at their offsets")
    log(note)
    return _finish(cl, note)


# --------------------------------------------------------------------------
# c. controller failover


def _other_clients_see_the_cluster(ctx, cl):
    """kcat -L lists the three brokers and, per partition, leader, replicas and ISR;
    kafka-python gets INVALID_REPLICATION_FACTOR for more replicas than live brokers."""
    import subprocess
    from kafka.admin import KafkaAdminClient, NewTopic as KpNewTopic
    from kafka.errors import InvalidReplicationFactorError
    topic = ctx.topic("cluster.kcat")
    cl.create_topic(topic, partitions=2, replication_factor=3)
    out = subprocess.run(["kcat", "-b", ctx.bootstrap, "-L", "-t", topic], capture_output=True, text=True,
                         timeout=30).stdout
    check(re.search(r"^ 3 brokers:", out, re.M) is not None, f"kcat -L does not list 3 brokers:\n{out}")
    parts = re.findall(r"partition (\d+), leader (\d+), replicas: ([\d,]+), isrs: ([\d,]+)", out)
    check(len(parts) == 2 and all(len(r.split(",")) == 3 and len(i.split(",")) == 3 for _, _, r, i in parts),
          f"kcat -L: expected 2 partitions with 3 replicas and 3 in sync:\n{out}")
    admin = KafkaAdminClient(bootstrap_servers=ctx.bootstrap.split(","), request_timeout_ms=30_000)
    try:
        try:
            admin.create_topics([KpNewTopic(ctx.topic("cluster.rf4"), 1, 4)])
            raise CheckFailed("kafka-python: replication factor 4 on 3 brokers was accepted")
        except InvalidReplicationFactorError:
            pass
    finally:
        admin.close()


def _kill_active_controller(cl):
    """SIGKILL the active controller, the leader of the metadata quorum
    (DescribeQuorum: the controller id of a Metadata response is only a live
    broker to send controller-bound requests to; Kafka names a random one);
    then until DescribeQuorum names another, running, node, and the killed one is fenced (gone from metadata),
    after which every node's Metadata names a running broker as controller.
    Returns (killed, new controller, seconds to the new one, to the fencing)."""
    old = wait_until(lambda: (lambda c: c if c in cl.nodes else None)(cl.active_controller()), 30,
                     "DescribeQuorum naming an active controller among the nodes")
    cl.kill(old)
    t0 = time.monotonic()
    new = wait_until(lambda: (lambda c: c if c >= 0 and c != old else None)(cl.active_controller()), 60,
                     f"DescribeQuorum naming an active controller other than the killed node {old}")
    failover = time.monotonic() - t0
    check(new in cl.live(), f"DescribeQuorum names the active controller {new}, which is not running")
    log(f"active controller {old} -> {new} after {failover:.1f}s")
    wait_until(lambda: old not in cl.broker_ids(), 60, f"the killed node {old} fenced (gone from metadata)")
    fenced = time.monotonic() - t0
    named = {}

    def live_named():
        named.clear()
        named.update({i: cl.metadata(via=i).controller for i in cl.live()})
        return all(c in cl.live() for c in named.values())
    try:
        wait_until(live_named, 30, f"every node's Metadata naming a running broker as controller, node {old} fenced")
    except CheckFailed as e:
        raise CheckFailed(f"{e}; the last answers (node: controller) {named}") from None
    return old, new, failover, fenced


def controller_failover(ctx):
    """SIGKILL the active controller (the metadata quorum's leader): another
    node becomes active controller (DescribeQuorum), then CreateTopics (RF=2),
    produce and consume work; the killed node restarts and rejoins (3
    brokers)."""
    cl = ctx.private_cluster()
    _other_clients_see_the_cluster(ctx, cl)
    old, new, failover, fenced = _kill_active_controller(cl)

    topic = ctx.topic("cluster.afterfailover")
    cl.create_topic(topic, 3, 2, full_isr=False)
    msgs = _msgs("ctlfail", 3000, 30)
    acked, failed, pid0, node0, fatal = _produce_idempotent(ctx.bootstrap, topic, msgs)
    check(fatal is None and not failed and len(acked) == len(msgs),
          f"idempotent produce after the controller failover: {len(acked)} acked, failed "
          f"{sorted(set(failed.values()))}, fatal error {fatal}")
    pids = [("producer 0 (3000 messages)", pid0, node0)]
    log(f"producer 0 got producer id {pid0} from node {node0}")
    recs = _read(ctx, topic)
    verify_records(recs, msgs, partitions=3, contiguous_from={p: 0 for p in range(3)}, delivered=acked,
                   partition_send_order=True)
    replicas = {p: sorted(pm.replicas) for p, pm in cl.metadata(topic).topics[topic].items()}
    check(all(len(r) == 2 for r in replicas.values()) and all(old not in r for r in replicas.values()),
          f"new topic's replicas {replicas}: expected 2 live brokers each (the killed node {old} is fenced)")

    cl.restart(old)
    cl.wait_brokers(set(cl.ids()), 60, "all 3 brokers after the restart")
    wait_until(lambda: (lambda m: m if set(m.brokers) == set(cl.ids()) and m.controller in cl.nodes else None)(
        cl.metadata(via=old)), 60, f"the restarted node {old} serving metadata with 3 brokers and a controller")
    ctl = wait_until(lambda: (lambda c: c if c in cl.live() else None)(cl.active_controller()), 60,
                     "DescribeQuorum naming a running active controller")
    log(f"node {old} rejoined: {cl.metadata(via=old).describe()}; active controller {ctl}")

    # more idempotent producers, one after the other, bootstrapped to each node
    # in turn; librdkafka asks any broker that is up for its producer id, so
    # they get them from different nodes: every id must be unique in the cluster
    more: list[Msg] = []
    problems = []
    for k in range(1, 7):
        i = cl.ids()[(k - 1) % len(cl.ids())]
        ms = _msgs(f"ctlfail-p{k}", 150, 30, start=3000 + 150 * (k - 1))
        a2, f2, pid, node, fatal = _produce_idempotent(cl.node(i).bootstrap, topic, ms)
        label = f"producer {k} (bootstrapped to node {i})"
        pids.append((label, pid, node))
        log(f"{label} got producer id {pid} from node {node}: {len(a2)} acked, failed "
            f"{sorted(set(f2.values()))}, fatal {fatal}")
        if fatal is not None:
            problems.append(f"{label}, producer id {pid} from node {node}: fatal error {fatal}")
            continue
        if f2 or len(a2) != len(ms):
            problems.append(f"{label}: {len(a2)} of {len(ms)} acked, failed {sorted(set(f2.values()))}")
        more += ms
        acked.update(a2)
    by_pid: dict = {}
    for label, pid, node in pids:
        by_pid.setdefault(pid, []).append(f"{label} from node {node}")
    unknown = [label for label, pid, _ in pids if pid is None]
    if unknown:
        problems.append(f"no producer id seen in librdkafka's eos log for {', '.join(unknown)}")
    dup = {pid: who for pid, who in by_pid.items() if pid is not None and len(who) > 1}
    if dup:
        problems.append("the same producer id (id, epoch) was handed out to several producers: " + "; ".join(
            f"{pid}: {', '.join(who)}" for pid, who in sorted(dup.items())))
    try:
        verify_records(_read(ctx, topic), msgs + more, partitions=3, contiguous_from={p: 0 for p in range(3)},
                       delivered=acked)
    except CheckFailed as e:
        problems.append(f"read back after the idempotent producers (messages of producers with a fatal error "
                        f"left out): {e}")
    check(not problems, f"{len(problems)} problem(s) with idempotent producers after the failover and "
                        f"rejoin:\n  - " + "\n  - ".join(problems))
    note = (f"active controller {old} SIGKILLed: node {new} active controller (DescribeQuorum) after {failover:.1f}s, "
            f"{old} fenced after {fenced:.1f}s; RF=2 topic created, 3000 messages produced and read; "
            f"{old} rejoined; 7 idempotent producers got distinct producer ids "
            f"({sorted({n for _, _, n in pids if n is not None})} handed them out), all read back")
    log(note)
    return _finish(cl, note)


# --------------------------------------------------------------------------
# d. unclean leader election


def unclean_election(ctx):
    """Two RF=2 topics on the same brokers [a, b] (manual assignment), one
    with unclean.leader.election.enable=false, one with =true.
    M0 (acks=all) reaches both replicas; b is SIGKILLed and leaves the ISRs;
    M1 (acks=1, ISR [a]) is only on a; a is SIGKILLed, b restarted.

    unclean=false: no leader while a is down (leader -1, produce fails);
    a restarts: a leads, M0 + M1 intact.
    unclean=true: b is elected from outside the ISR, M1 is lost (b serves
    M0 + what is produced to it, M2, at M1's offsets); when a comes back it
    truncates to b's log: with a leading again (b stopped with SIGTERM), the
    topic reads exactly M0 + M2 too."""
    cl = ctx.private_cluster({"replica.lag.time.max.ms": "2000", "broker.session.timeout.ms": "3000",
                              "auto.leader.rebalance.enable": "false"})
    ctl = cl.active_controller()
    a, b = [i for i in cl.ids() if i != ctl][:2]
    log(f"replicas [a={a}, b={b}], node {ctl} (the active controller) holds neither")
    clean, unclean = ctx.topic("cluster.clean"), ctx.topic("cluster.unclean")
    cl.create_topic(clean, config={"unclean.leader.election.enable": "false"}, replica_assignment=[[a, b]])
    cl.create_topic(unclean, config={"unclean.leader.election.enable": "true"}, replica_assignment=[[a, b]])
    for t in (clean, unclean):
        check(cl.leader(t, 0) == a, f"{t}: leader is not the first replica {a}: {cl.metadata(t).describe(t)}")
    tags = {clean: "cln", unclean: "unc"}
    m0 = {t: _msgs(f"M0-{tags[t]}", 100, 5) for t in (clean, unclean)}
    m1 = {t: _msgs(f"M1-{tags[t]}", 50, 5, start=100) for t in (clean, unclean)}
    acked = {}
    for t in (clean, unclean):
        acked[t], f = _produce(ctx.bootstrap, t, m0[t], acks="all")
        check(not f, f"M0 to {t}: {f}")
    for t in (clean, unclean):
        _wait_isr(cl, t, 1, lambda isr, pm: isr == sorted([a, b]), 30, "M0 replicated, ISR [a, b]")
        wm = get_client("confluent-kafka").watermarks(ctx, t)
        check(wm == {0: (0, 100)}, f"{t}: watermarks {wm} after M0")

    cl.kill(b)
    for t in (clean, unclean):
        _wait_isr(cl, t, 1, lambda isr, pm: isr == [a], 60, f"ISR [a={a}] after SIGKILL of b={b}")
    for t in (clean, unclean):
        acked1, f = _produce(ctx.bootstrap, t, m1[t], acks="1")
        check(not f and len(acked1) == 50, f"M1 (acks=1) to {t} with ISR [{a}]: failed {f}")
        check(sorted(o for _, o in acked1.values()) == list(range(100, 150)),
              f"M1 offsets {sorted(o for _, o in acked1.values())[:3]}..., expected 100..149")
        acked[t].update(acked1)

    cl.kill(a)
    cl.restart(b, wait=False)
    log(f"a={a} SIGKILLed, b={b} restarted; waiting for a to be fenced and b registered")
    wait_until(lambda: (lambda m: a not in m.brokers and b in m.brokers)(cl.metadata()), 90,
               f"a={a} fenced and b={b} registered (metadata)")
    md_u = wait_until(lambda: (lambda m: m if m.partition(unclean, 0) and m.partition(unclean, 0).leader == b
                                         else None)(cl.metadata(unclean)), 60,
                      f"{unclean} (unclean.leader.election.enable=true): b={b} elected leader from outside the ISR")
    log(f"unclean election: {md_u.describe(unclean)}")
    md_c = cl.metadata(clean)
    pc = md_c.partition(clean, 0)
    check(pc is not None and pc.leader == -1,
          f"{clean} (unclean.leader.election.enable=false) with its only ISR member a={a} fenced must have no "
          f"leader; metadata: {md_c.describe(clean)}")
    log(f"clean topic offline: {md_c.describe(clean)}")
    _, f = _produce(ctx.bootstrap, clean, _msgs("offline", 3, 3, start=900), acks="1",
                    **{"message.timeout.ms": 5000}, timeout=60)
    check(len(f) == 3, f"produce to {clean} without a leader was acknowledged ({3 - len(f)} of 3)")
    log(f"produce to the offline topic failed as expected: {sorted(set(f.values()))}")
    md_c = cl.metadata(clean)
    check(md_c.partition(clean, 0).leader == -1, f"{clean} got a leader while a={a} is down: "
                                                 f"{md_c.describe(clean)}")

    m2 = _msgs("M2-unc", 40, 5, start=200)
    acked2, f = _produce(ctx.bootstrap, unclean, m2, acks="1")
    check(not f and len(acked2) == 40, f"produce to {unclean} led by b={b}: failed {f}")
    offs2 = sorted(o for _, o in acked2.values())
    check(offs2 == list(range(100, 140)), f"M2 on b={b} got offsets {offs2[:3]}..{offs2[-1:]}, expected 100..139 "
                                          f"(b's log ended with M0)")
    expect_unclean = m0[unclean] + m2
    delivered_u = {v: po for v, po in acked[unclean].items() if v in {m.value for m in m0[unclean]}}
    delivered_u.update(acked2)
    verify_records(_read(ctx, unclean), expect_unclean, partitions=1, contiguous_from={0: 0},
                   delivered=delivered_u)
    log(f"{unclean} led by b={b}: M0 + M2, M1 lost (as documented for unclean election)")

    cl.restart(a)
    _wait_isr(cl, clean, 1, lambda isr, pm: pm.leader == a, 60, f"clean topic back online, led by a={a}")
    verify_records(_read(ctx, clean), m0[clean] + m1[clean], partitions=1, contiguous_from={0: 0},
                   delivered=acked[clean])
    log(f"{clean}: M0 + M1 intact after a={a} came back")
    for t in (clean, unclean):
        _wait_isr(cl, t, 1, lambda isr, pm: isr == sorted([a, b]), 90, "both replicas in the ISR again")
    check(cl.leader(unclean, 0) == b, f"{unclean}: leadership left b={b}: {cl.metadata(unclean).describe(unclean)}")
    verify_records(_read(ctx, unclean), expect_unclean, partitions=1, contiguous_from={0: 0},
                   delivered=delivered_u)

    # a must have truncated M1: make a the leader (controlled shutdown of b) and read from it
    cl.node(b).stop()
    for t in (clean, unclean):
        _wait_isr(cl, t, 1, lambda isr, pm: pm.leader == a, 60, f"a={a} leads after b={b} stopped (SIGTERM)")
    verify_records(_read(ctx, unclean), expect_unclean, partitions=1, contiguous_from={0: 0},
                   delivered=delivered_u)
    verify_records(_read(ctx, clean), m0[clean] + m1[clean], partitions=1, contiguous_from={0: 0},
                   delivered=acked[clean])
    log(f"read from a={a}: {unclean} holds M0 + M2 (M1 truncated), {clean} M0 + M1")
    cl.restart(b)
    for t in (clean, unclean):
        _wait_isr(cl, t, 1, lambda isr, pm: isr == sorted([a, b]), 90, "b back in the ISR")
    note = (f"unclean=false: offline (leader -1, produce failed) while a={a} down, M0+M1 intact after; "
            f"unclean=true: b={b} elected, 50 acks=1 messages (M1) lost, a truncated to b's log")
    log(note)
    return _finish(cl, note)


# --------------------------------------------------------------------------
# e. group coordinator failover


def group_failover(ctx):
    """A consumer group member (enable.auto.commit=False, synchronous commit
    after each processed batch) reads a 3-partition RF=3 topic while a
    producer keeps producing. The group's coordinator (leader of its
    __consumer_offsets partition) is SIGKILLed: the consumer keeps consuming
    and its commits succeed again through the new coordinator. At the end
    every produced message was consumed at least once and the committed
    offsets equal the high watermarks."""
    cl = ctx.private_cluster()
    topic = ctx.topic("cluster.group")
    cl.create_topic(topic, 3, 3)
    group = f"compat-cluster-group-{uuid.uuid4().hex[:8]}"

    stop = threading.Event()
    prod = {"acked": set(), "failed": [], "n": 0}

    def producer():
        p = _producer(ctx.bootstrap, **{"enable.idempotence": True, "message.timeout.ms": 300_000})

        def dr(err, m):
            if err is None:
                prod["acked"].add(m.value())
            else:
                prod["failed"].append(f"{m.value()[:30]!r}: {err}")
        while not stop.is_set():
            for _ in range(20):
                v = f"grp|{prod['n']:08d}|".encode() + b"x" * 50
                try:
                    p.produce(topic, key=f"k{prod['n'] % 50}".encode(), value=v, on_delivery=dr)
                    prod["n"] += 1
                except BufferError:
                    p.poll(0.1)
            p.poll(0)
            time.sleep(0.01)  # pacing (~2,000 messages/s), not a synchronisation
        prod["left"] = p.flush(300)

    pt = threading.Thread(target=producer, daemon=True)
    pt.start()

    conf = _base_conf(ctx.bootstrap)
    conf.update({"group.id": group, "auto.offset.reset": "earliest", "enable.auto.commit": False,
                 "session.timeout.ms": 6000, "heartbeat.interval.ms": 500, "fetch.wait.max.ms": 100})
    c = ckl.Consumer(conf)
    assigned: set[int] = set()

    def on_assign(cons, parts):
        assigned.update(tp.partition for tp in parts)
        log(f"assigned {[tp.partition for tp in parts]}")

    def on_revoke(cons, parts):
        assigned.difference_update(tp.partition for tp in parts)
        log(f"revoked {[tp.partition for tp in parts]}")

    c.subscribe([topic], on_assign=on_assign, on_revoke=on_revoke)
    consumed: dict[bytes, int] = {}
    nxt: dict[int, int] = {}         # partition -> next offset to commit (processed)
    committed: dict[int, int] = {}   # acknowledged by the coordinator
    commits = {"ok": 0, "failed": 0, "ok_after_kill": 0, "errors": []}
    state = {"victim": None, "t_kill": None, "new_coord": None, "t_new": None}
    admin = cl.admin()

    def coordinator():
        a_ = cl.admin()
        return a_.describe_consumer_groups([group], request_timeout=10)[group].result(timeout=15)

    def commit():
        offs = [ckl.TopicPartition(topic, p_, o) for p_, o in nxt.items()
                if p_ in assigned and committed.get(p_) != o]
        if not offs:
            return
        try:
            res = c.commit(offsets=offs, asynchronous=False)
            bad = [tp for tp in res or [] if tp.error is not None]
            if bad:
                raise ckl.KafkaException(bad[0].error)
            for tp in offs:
                committed[tp.partition] = tp.offset
            commits["ok"] += 1
            if state["t_kill"] is not None:
                commits["ok_after_kill"] += 1
        except ckl.KafkaException as e:
            commits["failed"] += 1
            commits["errors"].append(str(e.args[0]) if e.args else repr(e))
            log(f"commit failed (retried with the next batch): {e}")

    def consume_round():
        for m in c.consume(500, timeout=0.3):
            err = m.error()
            if err is not None:
                if err.code() == ckl.KafkaError._PARTITION_EOF:
                    continue
                if err.fatal():
                    raise CheckFailed(f"fatal consumer error: {err}")
                log(f"consumer error (non-fatal): {err}")
                continue
            consumed[m.value()] = consumed.get(m.value(), 0) + 1
            nxt[m.partition()] = max(nxt.get(m.partition(), 0), m.offset() + 1)
        commit()

    deadline = time.monotonic() + 240
    try:
        # phase 1: a working group member with commits
        while len(consumed) < 3000 or commits["ok"] < 3:
            check(time.monotonic() < deadline, f"no progress before the kill: consumed {len(consumed)}, "
                                               f"commits {commits}")
            consume_round()
        g = coordinator()
        victim = g.coordinator.id
        check(victim in cl.nodes, f"describe_consumer_groups coordinator {g.coordinator} is not a node")
        log(f"group {group}: state {g.state}, coordinator node {victim}, {len(g.members)} member(s); "
            f"consumed {len(consumed)}, {commits['ok']} commits")
        cl.kill(victim)
        state.update(victim=victim, t_kill=time.monotonic())
        consumed_at_kill = len(consumed)
        # phase 2: the member keeps consuming and committing through the new coordinator
        last_check = 0.0
        while (commits["ok_after_kill"] < 5 or state["new_coord"] is None
               or len(consumed) < consumed_at_kill + 5000):
            check(time.monotonic() < deadline,
                  f"after SIGKILL of the coordinator {victim}: consumed {len(consumed) - consumed_at_kill} more, "
                  f"{commits['ok_after_kill']} successful commits, new coordinator {state['new_coord']}; "
                  f"last commit errors {commits['errors'][-3:]}")
            consume_round()
            if state["new_coord"] is None and commits["ok_after_kill"] and time.monotonic() - last_check > 1:
                last_check = time.monotonic()
                try:
                    cid = coordinator().coordinator.id
                    if cid != victim:
                        state.update(new_coord=cid, t_new=time.monotonic() - state["t_kill"])
                        log(f"new coordinator: node {cid}")
                except Exception as e:  # noqa: BLE001 - retried
                    log(f"describe group: {e}")
        # phase 3: stop producing, drain, final commit
        stop.set()
        pt.join(320)
        check(not pt.is_alive() and prod.get("left") == 0, f"producer did not drain: {prod.get('left')} left")
        check(not prod["failed"], f"{len(prod['failed'])} produce failures: {prod['failed'][:3]}")
        wm = get_client("confluent-kafka").watermarks(ctx, topic)
        want = {p_: hi for p_, (_, hi) in wm.items()}
        log(f"producer done: {len(prod['acked'])} acked; high watermarks {want}")
        while not (all(nxt.get(p_, 0) >= hi for p_, hi in want.items())
                   and all(committed.get(p_, 0) == hi for p_, hi in want.items() if hi > 0)):
            check(time.monotonic() < deadline + 60,
                  f"consumer did not reach/commit the high watermarks {want}: processed {nxt}, committed {committed}")
            consume_round()
    finally:
        stop.set()
        c.close()
    missing = [v for v in prod["acked"] if v not in consumed]
    check(not missing, f"{len(missing)} of {len(prod['acked'])} acknowledged messages never consumed, "
                       f"e.g. {sorted(missing)[:3]}")
    extra = [v for v in consumed if v not in prod["acked"]]
    check(not extra, f"{len(extra)} consumed messages were never acknowledged to the producer")
    dups = sum(n - 1 for n in consumed.values())
    from harness.groups import coordinator_ready
    coordinator_ready(admin, group)
    res = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)], request_timeout=15)
    offs = res[group].result(timeout=30)
    got = {tp.partition: tp.offset for tp in offs.topic_partitions if tp.topic == topic}
    check(got == want, f"committed offsets {got} != high watermarks {want}")
    victim = state["victim"]
    cl.restart(victim)
    _wait_isr(cl, topic, 3, lambda isr, pm: victim in isr, 90, f"restarted node {victim} back in the ISRs")
    note = (f"coordinator {victim} SIGKILLed after {consumed_at_kill} consumed: new coordinator "
            f"{state['new_coord']} (commit working again) {state['t_new']:.1f}s later; "
            f"{len(prod['acked'])} produced, all consumed ({dups} re-reads), {commits['ok']} commits "
            f"({commits['failed']} failed during the failover), committed = high watermarks")
    log(note)
    return _finish(cl, note)


# --------------------------------------------------------------------------
# f. Preferred-leader election: the ElectLeaders API and the automatic rebalance


def _leader_moves_away_and_back(ctx, overrides, elect):
    """Topic RF=3, 3 partitions; the preferred (first) replica X of partition 0 is
    stopped cleanly (its leadership moves), restarted, and back in the ISR while
    another replica still leads; then ``elect(cl, topic)`` runs and partition 0 must be
    led by X again, with every acknowledged message still readable. Returns (cluster,
    topic, seconds from X's return to the ISR until it leads again)."""
    cl = ctx.private_cluster(overrides)
    topic = ctx.topic("cluster.preferred")
    cl.create_topic(topic, partitions=3, replication_factor=3)
    preferred = cl.metadata(topic).partition(topic, 0).replicas[0]
    check(cl.leader(topic, 0) == preferred, f"{topic}[0] is not led by its first replica {preferred}")
    # One producer lives through the whole move: its metadata names the old leader, so
    # after the election its first batch for partition 0 gets NOT_LEADER_OR_FOLLOWER
    # and it must refresh metadata and find the new leader (no periodic refresh helps).
    moving = _producer(ctx.bootstrap, **{"topic.metadata.refresh.interval.ms": 600_000})
    before = _msgs("before", 300)
    acked, failed = _produce(ctx.bootstrap, topic, before, acks="all")
    check(not failed and len(acked) == len(before), f"produce before the stop: failed {list(failed.items())[:3]}")
    cl.stop_node(preferred)
    wait_until(lambda: cl.leader(topic, 0, via=next(i for i in cl.nodes if i != preferred)) not in (-1, preferred), 60,
               f"{topic}[0] led by another replica after node {preferred} stopped")
    after = _msgs("after", 300)
    acked2, failed = _produce(ctx.bootstrap, topic, after, acks="all")
    check(not failed and len(acked2) == len(after), f"produce while node {preferred} is down: failed {list(failed.items())[:3]}")
    cl.restart(preferred)
    _wait_isr(cl, topic, 3, lambda isr, pm: preferred in isr, 120, f"node {preferred} back in every ISR")
    warm = _msgs("warm", 20)
    acked3, failed = _produce(ctx.bootstrap, topic, warm, partition=0, producer=moving)
    check(not failed and all(p == 0 for p, _ in acked3.values()), f"produce to the old leader: failed {list(failed.items())[:3]}")
    t0 = time.monotonic()
    elect(cl, topic)
    wait_until(lambda: cl.leader(topic, 0) == preferred, 60, f"{topic}[0] led by its preferred replica {preferred} again")
    took = time.monotonic() - t0
    moved = _msgs("moved", 50)
    acked4, failed = _produce(ctx.bootstrap, topic, moved, partition=0, producer=moving)
    check(not failed and len(acked4) == len(moved),
          f"produce with metadata naming the old leader: {len(acked4)} acked, failed {list(failed.items())[:3]}")
    records = _read(ctx, topic)
    got = {r.value for r in records}
    at = {(r.partition, r.offset): r.value for r in records}
    lost = [v for v, po in {**acked3, **acked4}.items() if at.get(po) != v]
    check(not lost, f"{len(lost)} records acknowledged around the election are not at their offsets, e.g. {lost[:2]}")
    missing = [m for m in before + after + warm + moved if m.value not in got]
    check(not missing, f"{len(missing)} acknowledged messages missing after the election, e.g. {missing[:2]}")
    check(len(records) == len(got), "duplicated records after the election")
    return cl, topic, preferred, took


def preferred_election(ctx):
    """ElectLeaders (preferred) through confluent-kafka's AdminClient.elect_leaders
    moves partition 0 back to its first replica once that replica is in sync again
    (auto.leader.rebalance.enable=false); asking again is ELECTION_NOT_NEEDED."""
    from confluent_kafka import ElectionType, TopicPartition

    def elect_preferred(cl, topic):
        """AdminClient.elect_leaders(PREFERRED) for partition 0: its error, or None."""
        admin = cl.admin()  # referenced until the result is in
        result = admin.elect_leaders(ElectionType.PREFERRED, [TopicPartition(topic, 0)]).result(timeout=60)
        return result.get(TopicPartition(topic, 0))

    def elect(cl, topic):
        pm = cl.metadata(topic).partition(topic, 0)
        check(pm.leader != pm.replicas[0], f"{topic}[0] is led by its first replica before the election "
                                           f"(auto.leader.rebalance.enable is off): nothing to test")
        err = elect_preferred(cl, topic)
        check(err is None, f"ElectLeaders (preferred) for {topic}[0]: {err}")

    cl, topic, preferred, took = _leader_moves_away_and_back(ctx, {"auto.leader.rebalance.enable": "false"}, elect)
    err = elect_preferred(cl, topic)
    check(err is not None and err.code() == ckl.KafkaError.ELECTION_NOT_NEEDED,
          f"a second preferred election for {topic}[0]: {err}, expected ELECTION_NOT_NEEDED")
    return _finish(cl, f"node {preferred} led {topic}[0] again {took:.1f}s after ElectLeaders; a second call: "
                       f"ELECTION_NOT_NEEDED")


def leader_rebalance(ctx):
    """auto.leader.rebalance.enable with leader.imbalance.check.interval.seconds=1: the
    controller moves partition 0 back to its first replica by itself once it is in
    sync again."""
    cl, topic, preferred, took = _leader_moves_away_and_back(
        ctx, {"auto.leader.rebalance.enable": "true", "leader.imbalance.check.interval.seconds": "1"},
        lambda cl, topic: None)
    return _finish(cl, f"node {preferred} led {topic}[0] again {took:.1f}s after it rejoined the ISR "
                       f"(automatic rebalance)")


def dynamic_configs(ctx):
    """Dynamic broker configs on the 3-node cluster, through the Java client's
    IncrementalAlterConfigs and confluent-kafka's DescribeConfigs: `log.retention.ms` as the cluster-wide default (resource
    "") and, differently, for one broker. Every node describes its own config with the
    right value and source (DYNAMIC_BROKER_CONFIG / DYNAMIC_DEFAULT_BROKER_CONFIG), so
    each applied the metadata record; after a restart the node still has them; a static
    key is refused with INVALID_REQUEST; deleting the per-broker value restores the
    default there."""
    from confluent_kafka.admin import ConfigResource, ConfigSource, ResourceType
    cl = ctx.private_cluster()
    special = cl.ids()[1]

    def alter(resource, key, value):
        # the Java AdminClient: confluent-kafka and kafka-python refuse the cluster-wide
        # resource's empty name
        req = {"bootstrap": cl.bootstrap, "resourceType": "broker", "name": resource,
               "set": {key: value} if value is not None else {}, "delete": [key] if value is None else []}
        r = get_client("java").run("alter-configs", req, timeout=90)["result"]
        return None if r == "NONE" else r

    def described(i):
        admin = cl.admin()
        res = ConfigResource(ResourceType.BROKER, str(i))
        entry = admin.describe_configs([res], request_timeout=30)[res].result(timeout=60)["log.retention.ms"]
        source = entry.source if isinstance(entry.source, ConfigSource) else ConfigSource(entry.source)
        return entry.value, source.name

    def expect(what):
        want = {i: ("7200000", "DYNAMIC_BROKER_CONFIG") if i == special else ("3600000", "DYNAMIC_DEFAULT_BROKER_CONFIG")
                for i in cl.ids()}
        if what == "default restored":
            want[special] = ("3600000", "DYNAMIC_DEFAULT_BROKER_CONFIG")
        wait_until(lambda: {i: described(i) for i in cl.ids()} == want, 30, f"log.retention.ms on every node: {what}")

    err = alter("", "log.retention.ms", "3600000")
    check(err is None, f"cluster-wide log.retention.ms refused: {err}")
    check(alter(str(special), "log.retention.ms", "7200000") is None, f"log.retention.ms of broker {special} refused")
    expect("set")
    err = alter(str(special), "log.dirs", "/elsewhere")
    check(err == "INVALID_REQUEST", f"log.dirs (static) changed at run time: {err}, expected INVALID_REQUEST")
    cl.stop_node(special)
    cl.restart(special)
    expect("after a restart")
    check(alter(str(special), "log.retention.ms", None) is None, f"deleting broker {special}'s log.retention.ms refused")
    expect("default restored")
    return _finish(cl, f"cluster-wide and broker {special}'s log.retention.ms described by every node, kept across "
                       f"a restart; a static key refused")

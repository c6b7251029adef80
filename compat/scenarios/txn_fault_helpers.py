"""Shared parts of the transaction fault scenarios (scenarios/txn_faults.py,
txn_checker.py, txn_streams_eos.py) on the 3-node cluster of scenarios/cluster.py:
the cluster settings (``__transaction_state`` on every node), confluent-kafka
transactional producers and their calls retried while retriable, FindCoordinator
(key type TRANSACTION, kafka-python) for transactional ids, ListOffsets per
isolation level, the ``Reader`` (an assigned consumer polling in a thread of its
own) and the exact checks of what readers read against the producers'
acknowledgements.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter

import confluent_kafka as ckl
from confluent_kafka import IsolationLevel
from confluent_kafka.admin import OffsetSpec

from harness.clients.confluent import _TS_TYPES, _base_conf
from harness.common import CheckFailed, Deliveries, Record, check, log, note_errors, wait_until
from scenarios.cluster import _producer

# every node of the cluster: __transaction_state on all three (a kill leaves 2 in its ISR)
TXN_SETTINGS = {
    "transaction.state.log.replication.factor": "3",
    "transaction.state.log.min.isr": "2",
    "transaction.state.log.num.partitions": "10",
}
TXN_TOPIC = "__transaction_state"


def _tx_producer(bootstrap: str, tid: str, **extra):
    """A transactional producer (idempotent, acks=all; message.timeout.ms within
    transaction.timeout.ms, as librdkafka requires)."""
    return _producer(bootstrap, **{"transactional.id": tid, "enable.idempotence": True,
                                   "transaction.timeout.ms": 60_000, **extra})


def _err_text(err) -> str:
    return (f"{err.name()}: {err.str()} (retriable {err.retriable()}, abortable {err.txn_requires_abort()}, "
            f"fatal {err.fatal()})")


def _txn_call(fn, what: str, timeout: float = 120.0) -> float:
    """``fn(timeout)`` (init_transactions, commit_transaction, abort_transaction),
    again while it raises a retriable error (librdkafka's advice), until
    ``timeout``; any other error, or a retriable one at the deadline, fails the
    scenario. Returns the seconds it took."""
    t0 = time.monotonic()
    deadline = t0 + timeout
    while True:
        left = deadline - time.monotonic()
        try:
            fn(max(1.0, min(60.0, left)))
            return time.monotonic() - t0
        except ckl.KafkaException as e:
            err = e.args[0]
            note_errors("confluent-kafka", {err.name(): 1})
            if err.retriable() and time.monotonic() < deadline:
                log(f"{what}: {_err_text(err)}: again")
                time.sleep(0.2)
                continue
            raise CheckFailed(f"{what} failed after {time.monotonic() - t0:.1f}s: {_err_text(err)}") from None


def _txn_send(p, topic: str, items: list[tuple[int, bytes]], what: str,
              timeout: float = 120.0) -> dict[bytes, tuple[int, int]]:
    """Produce ``items`` ((partition, value)) in the producer's open transaction and
    flush: every one must be acknowledged; returns value -> (partition, offset)."""
    d = Deliveries()
    for part, v in items:
        while True:
            try:
                p.produce(topic, key=v.split(b"-", 1)[0], value=v, partition=part, on_delivery=d)
                break
            except BufferError:
                p.poll(0.1)
        p.poll(0)
    left = p.flush(timeout)
    note_errors("confluent-kafka", d.error_counts())
    check(left == 0 and not d.failed and len(d.acked) == len(items),
          f"{what}: {len(d.acked)} of {len(items)} records acknowledged within {timeout:.0f}s, {left} without "
          f"a report, failures {d.failures(5)}")
    return d.acked


def _items(tag: str, parts: list[int], per_partition: int) -> list[tuple[int, bytes]]:
    """Values ``<tag>-<partition>-<i>``, round robin over the partitions."""
    return [(p, f"{tag}-{p}-{i:04d}".encode()) for i in range(per_partition) for p in parts]


def _txn_coordinators(cl, tids, timeout: float = 90.0) -> dict[str, int]:
    """FindCoordinator (key type TRANSACTION, kafka-python, batched, v4) through the
    live nodes: transactional id -> coordinator node id. Asked again while a
    coordinator is not available (Kafka answers COORDINATOR_NOT_AVAILABLE while it
    creates __transaction_state)."""
    from kafka.admin import KafkaAdminClient
    from kafka.protocol.metadata import CoordinatorType
    tids = list(tids)

    def ask():
        a = KafkaAdminClient(bootstrap_servers=cl.live_bootstrap.split(","), request_timeout_ms=15000,
                             client_id=f"compat-txn-coordinator-{uuid.uuid4().hex[:6]}")
        try:
            got = a._manager.run(a._find_coordinator_ids, tids, CoordinatorType.TRANSACTION)
        finally:
            a.close()
        return {t: int(got[t]) for t in tids} if all(t in got for t in tids) else None
    return wait_until(ask, timeout, f"FindCoordinator(TRANSACTION) for {tids}", interval=0.5)


def _pick_tids(cl, prefix: str, n: int, ok) -> dict[str, int]:
    """``n`` new transactional ids whose coordinators satisfy ``ok(tid, node,
    chosen)``: {tid: coordinator}."""
    out: dict[str, int] = {}
    for _ in range(30):
        cands = [f"{prefix}-{uuid.uuid4().hex[:8]}" for _ in range(12)]
        for t, node in _txn_coordinators(cl, cands).items():
            if len(out) < n and ok(t, node, dict(out)):
                out[t] = node
        if len(out) == n:
            return out
    raise CheckFailed(f"no {n} transactional ids with suitable coordinators found (got {out})")


def _end_offsets(cl, topic: str, parts: list[int], committed: bool, timeout: float = 90.0) -> dict[int, int]:
    """ListOffsets (latest) of every partition through the AdminClient: with
    READ_UNCOMMITTED the high watermarks, with READ_COMMITTED the last stable
    offsets."""
    level = IsolationLevel.READ_COMMITTED if committed else IsolationLevel.READ_UNCOMMITTED

    def ask():
        a = cl.admin()  # referenced until the results are in
        fs = a.list_offsets({ckl.TopicPartition(topic, p): OffsetSpec.latest() for p in parts},
                            isolation_level=level, request_timeout=15)
        return {tp.partition: f.result(timeout=30).offset for tp, f in fs.items()}
    return wait_until(ask, timeout, f"ListOffsets ({level.name}) of {topic}", interval=0.5)


class Reader:
    """A consumer of ``partitions`` of ``topic`` from the beginning (assigned, no
    group), polling in a thread of its own. ``isolation`` is read_committed or
    read_uncommitted. Keeps the first read of every (partition, offset); reads
    of an offset seen before (after an offset reset) are counted, and a different
    value there is a conflict. ``first_seen``: value -> monotonic time."""

    def __init__(self, bootstrap: str, topic: str, partitions, isolation: str = "read_committed",
                 name: str = "reader"):
        conf = _base_conf(bootstrap)
        conf.update({"group.id": f"compat-unused-{uuid.uuid4().hex[:8]}", "enable.auto.commit": False,
                     "enable.auto.offset.store": False, "auto.offset.reset": "earliest",
                     "isolation.level": isolation, "fetch.wait.max.ms": 100, "check.crcs": True})
        self.name, self.topic, self.parts = name, topic, list(partitions)
        self.c = ckl.Consumer(conf)
        self.c.assign([ckl.TopicPartition(topic, p, ckl.OFFSET_BEGINNING) for p in self.parts])
        self.lock = threading.Lock()
        self.records: list[Record] = []
        self.at: dict[tuple[int, int], bytes] = {}
        self.first_seen: dict[bytes, float] = {}
        self.pos = {p: 0 for p in self.parts}
        self.rereads = 0
        self.conflicts: list[str] = []
        self.errors: Counter = Counter()
        self.failure: str | None = None
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True, name=name)
        self.thread.start()

    def _run(self):
        try:
            while not self._stop.is_set():
                self._poll()
        except Exception as e:  # noqa: BLE001 - reported to the waiting thread
            self.failure = f"{type(e).__name__}: {e}"
        finally:
            try:
                self.c.close()
            except Exception:  # noqa: BLE001
                pass

    def _poll(self):
        msgs = self.c.consume(1000, timeout=0.3)
        now = time.monotonic()
        with self.lock:
            for m in msgs:
                err = m.error()
                if err is not None:
                    if err.code() == ckl.KafkaError._PARTITION_EOF:
                        continue
                    self.errors[err.name()] += 1
                    note_errors("confluent-kafka", {err.name(): 1})
                    if err.fatal():
                        raise RuntimeError(f"fatal consumer error: {err}")
                    if self.errors[err.name()] <= 3:
                        log(f"{self.name}: consumer error (librdkafka goes on): {err}")
                    continue
                key = (m.partition(), m.offset())
                v = m.value()
                old = self.at.get(key)
                if old is not None:
                    self.rereads += 1
                    if old != v and len(self.conflicts) < 5:
                        self.conflicts.append(f"p{key[0]}@{key[1]}: read {old!r} first, then {v!r}")
                    continue
                self.at[key] = v
                self.first_seen.setdefault(v, now)
                tstype, ts = m.timestamp()
                self.records.append(Record(partition=m.partition(), offset=m.offset(), key=m.key(), value=v,
                                           headers=list(m.headers() or []), timestamp=ts,
                                           ts_type=_TS_TYPES.get(tstype)))
        # the position also moves past offsets that are no records for this consumer
        # (transaction markers, aborted records)
        for tp in self.c.position([ckl.TopicPartition(self.topic, p) for p in self.parts]):
            if tp.offset >= 0:
                with self.lock:
                    self.pos[tp.partition] = max(self.pos[tp.partition], tp.offset)

    def _alive(self):
        if self.failure:
            raise CheckFailed(f"{self.name}: {self.failure}")

    def positions(self) -> dict[int, int]:
        with self.lock:
            return dict(self.pos)

    def seen(self, values) -> bool:
        self._alive()
        with self.lock:
            return all(v in self.first_seen for v in values)

    def wait_values(self, values, timeout: float, what: str):
        values = list(values)
        try:
            wait_until(lambda: self.seen(values), timeout, f"{self.name}: {what}", interval=0.05)
        except CheckFailed as e:
            with self.lock:
                missing = [v for v in values if v not in self.first_seen]
            raise CheckFailed(f"{e}; {len(missing)} of {len(values)} not read, e.g. {missing[:3]}; "
                              f"positions {self.positions()}") from None

    def wait_positions(self, ends: dict[int, int], timeout: float, what: str):
        """Until the consumer's position reached ``ends`` in every partition."""
        def ok():
            self._alive()
            pos = self.positions()
            return all(pos[p] >= e for p, e in ends.items())
        try:
            wait_until(ok, timeout, f"{self.name}: {what}", interval=0.05)
        except CheckFailed as e:
            raise CheckFailed(f"{e}; positions {self.positions()}, end offsets {ends}") from None

    def snapshot(self) -> list[Record]:
        with self.lock:
            return list(self.records)

    def stop(self):
        self._stop.set()
        self.thread.join(30)


def _read_all(cl, topic, parts, isolation, name, timeout=180.0) -> Reader:
    """A fresh consumer reading every partition up to its high watermark (a
    read_committed one gets there only once no transaction is open)."""
    ends = _end_offsets(cl, topic, parts, committed=False)
    r = Reader(cl.live_bootstrap, topic, parts, isolation, name)
    try:
        r.wait_positions(ends, timeout, f"every partition read up to the high watermarks {ends}")
    finally:
        r.stop()
    return r


def _check_exact(reader: Reader, expected: dict[bytes, tuple[int, int]], forbidden, what: str) -> int:
    """``reader`` read exactly ``expected`` (value -> acknowledged partition and
    offset), each once at its acknowledged position, nothing of ``forbidden`` and
    nothing else. Returns the number of records."""
    recs = reader.snapshot()
    forbidden = set(forbidden)
    problems = []
    got: dict[bytes, tuple[int, int]] = {}
    dups = []
    for r in recs:
        if r.value in got:
            dups.append(f"{r.value!r} at p{got[r.value][0]}@{got[r.value][1]} and p{r.partition}@{r.offset}")
        got.setdefault(r.value, (r.partition, r.offset))
    bad = sorted(v for v in got if v in forbidden)
    unknown = sorted(v for v in got if v not in forbidden and v not in expected)
    missing = sorted(v for v in expected if v not in got)
    moved = sorted(f"{v!r} read at p{got[v][0]}@{got[v][1]}, acknowledged at p{pos[0]}@{pos[1]}"
                   for v, pos in expected.items() if v in got and got[v] != pos)
    if bad:
        problems.append(f"{len(bad)} records of aborted (or never committed) transactions read: {bad[:5]}")
    if missing:
        problems.append(f"{len(missing)} of {len(expected)} committed records not read: {missing[:5]}")
    if dups:
        problems.append(f"{len(dups)} records read twice: {dups[:3]}")
    if unknown:
        problems.append(f"{len(unknown)} records read that nobody committed: {unknown[:5]}")
    if moved:
        problems.append(f"{len(moved)} records not at their acknowledged offsets: {moved[:3]}")
    if reader.conflicts:
        problems.append(f"different values at the same offset: {reader.conflicts}")
    check(not problems, f"{what} ({len(recs)} records read by {reader.name}):\n  - " + "\n  - ".join(problems))
    return len(recs)


def _check_same_view(a: Reader, b: Reader, what: str):
    """Two consumers read the same value at every offset both read."""
    with a.lock, b.lock:
        diff = [f"p{k[0]}@{k[1]}: {a.name} {v!r}, {b.name} {b.at[k]!r}" for k, v in a.at.items()
                if k in b.at and b.at[k] != v]
        only_a = [k for k in a.at if k not in b.at]
    check(not diff and not only_a, f"{what}: {len(diff)} offsets with different values ({diff[:3]}), "
                                   f"{len(only_a)} offsets read only by {a.name} ({sorted(only_a)[:5]})")


def _new_coordinator(cl, tid: str, victim: int, t_kill: float, timeout: float = 180.0) -> tuple[int, float]:
    """Until FindCoordinator names a running node other than ``victim`` for ``tid``."""
    def ok():
        c = _txn_coordinators(cl, [tid], timeout=15)[tid]
        return c if c != victim and c in cl.live() else None
    node = wait_until(ok, timeout, f"FindCoordinator(TRANSACTION) for {tid} naming a running node, not {victim}",
                      interval=0.2)
    return node, time.monotonic() - t_kill


def _zombie_cannot_commit(zombie, topic, parts, tag) -> tuple[list[bytes], str]:
    """A producer fenced by a newer one with its transactional id begins a
    transaction, writes and commits: the commit must fail (PRODUCER_FENCED or
    INVALID_PRODUCER_EPOCH). Returns its values (never visible) and the error."""
    items = _items(tag, parts, 2)
    values = [v for _, v in items]
    try:
        zombie.begin_transaction()
    except ckl.KafkaException as e:
        return values, f"begin_transaction: {e.args[0].name()}"
    for part, v in items:
        try:
            zombie.produce(topic, value=v, partition=part)
        except (ckl.KafkaException, BufferError) as e:
            return values, f"produce: {e}"
    deadline = time.monotonic() + 120
    while True:
        try:
            zombie.commit_transaction(30)
        except ckl.KafkaException as e:
            err = e.args[0]
            if err.retriable() and time.monotonic() < deadline:
                continue
            return values, err.name()
        raise CheckFailed("a producer fenced by init_transactions of a newer producer with the same "
                          "transactional.id committed a transaction (zombie not fenced)")


def _finish_reads(cl, topic, parts, reader: Reader, expected, forbidden, in_log, what) -> dict:
    """The end of a scenario: no transaction is open, so the last stable offsets
    equal the high watermarks; the long-running read_committed ``reader`` and a
    fresh one read exactly ``expected``; a read_uncommitted consumer finds every
    record of ``in_log`` (value -> acknowledged position) at its offset."""
    ends = _end_offsets(cl, topic, parts, committed=False)
    lso = wait_until(lambda: (lambda o: o if o == ends else None)(_end_offsets(cl, topic, parts, committed=True)),
                     120, f"last stable offsets equal to the high watermarks {ends} (no transaction open)")
    log(f"{what}: high watermarks = last stable offsets {lso}")
    reader.wait_positions(ends, 180, "the high watermarks")
    reader.stop()
    n_during = _check_exact(reader, expected, forbidden, f"{what}: the read_committed consumer running throughout")
    fresh = _read_all(cl, topic, parts, "read_committed", "fresh read_committed consumer")
    n_fresh = _check_exact(fresh, expected, forbidden, f"{what}: a fresh read_committed consumer")
    _check_same_view(reader, fresh, f"{what}: the running and the fresh read_committed consumers")
    unc = _read_all(cl, topic, parts, "read_uncommitted", "read_uncommitted consumer")
    with unc.lock:
        at = {v: k for k, v in unc.at.items()}
    lost = sorted(v for v in in_log if v not in at)
    moved = sorted(v for v, pos in in_log.items() if v in at and at[v] != pos)
    check(not lost and not moved, f"{what}: read_uncommitted: {len(lost)} acknowledged records not in the log "
                                  f"({lost[:3]}), {len(moved)} not at their acknowledged offsets ({moved[:3]})")
    return {"during": n_during, "fresh": n_fresh, "uncommitted": len(unc.at), "rereads": reader.rereads}


def _leaders(cl, topic) -> dict[int, int]:
    md = cl.metadata(topic)
    return {p: pm.leader for p, pm in sorted(md.topics.get(topic, {}).items())}

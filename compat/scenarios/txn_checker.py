"""Transactions under faults (issue 12, see scenarios/txn_faults.py): a
transaction checker. Transactional producers (TxnWorker) run transactions over
random partitions, committing or aborting them, while random nodes of the
3-node cluster are SIGKILLed and restarted; the checker (``_check_history``)
then compares what read_committed consumers read with every transaction's
outcome and the producers' acknowledgements.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter

import confluent_kafka as ckl

from harness.common import Record, check, log, wait_until
from scenarios.cluster import _finish, _wait_isr
from scenarios.txn_fault_helpers import (TXN_SETTINGS, TXN_TOPIC, Reader, _check_same_view, _end_offsets, _read_all,
                                         _tx_producer)

# --------------------------------------------------------------------------
# 3. a transaction checker under random broker kills

CHECKER_PARTITIONS = 6
CHECKER_PRODUCERS = 4
CHECKER_SECONDS = 150


class TxnWorker(threading.Thread):
    """One transactional producer in a loop of transactions: each writes
    ``p<i>-<seq>`` (seq increasing) to 2-4 random partitions, 1-3 records each,
    then commits (2/3) or aborts (1/3, after a flush, so that its records are in
    the log). Outcomes per transaction: committed (commit_transaction returned
    success), aborted (commit never called), unknown (commit called and failed:
    visible or not, but all or nothing). A fatal error, or a producer stuck in
    retriable errors, is replaced by a new producer with the same
    transactional.id (init_transactions fences the old one and aborts its open
    transaction)."""

    def __init__(self, idx: int, bootstrap: str, topic: str, stop: threading.Event, seed: int):
        super().__init__(daemon=True, name=f"txn-worker-{idx}")
        self.idx, self.bootstrap, self.topic, self.stop_ev = idx, bootstrap, topic, stop
        self.rng = random.Random(seed)
        self.tid = f"compat-txn-checker-{uuid.uuid4().hex[:6]}-p{idx}"
        self.txns: list[dict] = []
        self.seq = 0
        self.producers = 0
        self.errors: Counter = Counter()
        self.failure: str | None = None
        self.last_done = time.monotonic()
        self.p = None

    # -- producer lifecycle
    def _new_producer(self):
        if self.p is not None:
            old, self.p = self.p, None
            try:
                old.close()
            except Exception:  # noqa: BLE001
                pass
        deadline = time.monotonic() + 240
        while True:
            check(time.monotonic() < deadline, f"producer {self.idx}: no initialised producer within 240 s")
            p = _tx_producer(self.bootstrap, self.tid, **{"error_cb": self._error_cb})
            self.producers += 1
            while time.monotonic() < deadline:
                try:
                    p.init_transactions(30)
                    self.p = p
                    return
                except ckl.KafkaException as e:
                    err = e.args[0]
                    self.errors[f"init:{err.name()}"] += 1
                    if not err.retriable():
                        break  # fatal: a new producer instance
                    time.sleep(0.2)
            try:
                p.close()
            except Exception:  # noqa: BLE001
                pass

    def _error_cb(self, err):
        self.errors[f"cb:{err.name()}"] += 1

    def _end(self, op, timeout=180) -> str:
        """op = commit_transaction / abort_transaction, retried while retriable:
        "ok", "abortable" or "fatal"."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                getattr(self.p, op)(30)
                return "ok"
            except ckl.KafkaException as e:
                err = e.args[0]
                self.errors[f"{op.split('_')[0]}:{err.name()}"] += 1
                if err.retriable() and time.monotonic() < deadline:
                    time.sleep(0.1)
                    continue
                if err.txn_requires_abort():
                    return "abortable"
                return "fatal"

    def _abort_or_replace(self):
        if self._end("abort_transaction") != "ok":
            self._new_producer()

    def run(self):
        try:
            self._new_producer()
            while not self.stop_ev.is_set():
                self._one()
                self.last_done = time.monotonic()
        except Exception as e:  # noqa: BLE001 - reported to the main thread
            self.failure = f"{type(e).__name__}: {e}"
        finally:
            if self.p is not None:
                try:
                    self.p.close()
                except Exception:  # noqa: BLE001
                    pass

    def _one(self):
        rng = self.rng
        txn = {"n": len(self.txns), "values": [], "acked": {}, "failed": {}, "outcome": "aborted"}
        self.txns.append(txn)

        def dr(err, m):
            if err is None:
                txn["acked"][m.value()] = (m.partition(), m.offset())
            else:
                txn["failed"][m.value()] = err.name()

        try:
            self.p.begin_transaction()
        except ckl.KafkaException as e:
            self.errors[f"begin:{e.args[0].name()}"] += 1
            self._new_producer()
            return
        for part in sorted(rng.sample(range(CHECKER_PARTITIONS), rng.randint(2, 4))):
            for _ in range(rng.randint(1, 3)):
                v = f"p{self.idx}-{self.seq:07d}".encode()
                self.seq += 1
                txn["values"].append(v)
                while True:
                    try:
                        self.p.produce(self.topic, key=f"p{self.idx}".encode(), value=v, partition=part,
                                       on_delivery=dr)
                        break
                    except BufferError:
                        self.p.poll(0.1)
                    except ckl.KafkaException as e:  # the transaction failed already: abort it
                        self.errors[f"produce:{e.args[0].name()}"] += 1
                        self._abort_or_replace()
                        return
        self.p.poll(0)
        if rng.random() < 1 / 3:
            self.p.flush(60)  # the records are in the log before the abort
            self._abort_or_replace()
            return
        txn["outcome"] = "unknown"  # from the moment commit is called
        r = self._end("commit_transaction")
        if r == "ok":
            txn["outcome"] = "committed"
        elif r == "abortable":
            self._abort_or_replace()
        else:
            self._new_producer()


def _check_history(histories: dict[int, list[dict]], recs: list[Record],
                   in_log: dict[bytes, tuple[int, int]]) -> tuple[list[str], int, int]:
    """The checker's verdict on what a read_committed consumer read (``recs``, in
    read order) given each producer's transactions (TxnWorker.txns) and what a
    read_uncommitted one found in the log (value -> (partition, offset)).
    Returns (problems, unknown transactions visible, unknown ones invisible)."""
    outcome_of: dict[bytes, tuple] = {}
    acked: dict[bytes, tuple[int, int]] = {}
    problems = []
    for idx, txns in histories.items():
        for t in txns:
            for v in t["values"]:
                outcome_of[v] = (idx, t["n"], t["outcome"])
            acked.update(t["acked"])
            if t["outcome"] == "committed" and (t["failed"] or len(t["acked"]) != len(t["values"])):
                problems.append(f"producer {idx} txn {t['n']}: commit_transaction succeeded though records failed "
                                f"or got no acknowledgement: {len(t['acked'])} of {len(t['values'])} acked, failed "
                                f"{t['failed']}")
    got: dict[bytes, tuple[int, int]] = {}
    dups, unknown_vals = [], []
    per_txn = Counter()
    for r in recs:
        if r.value not in outcome_of:
            unknown_vals.append(f"p{r.partition}@{r.offset} {r.value!r}")
            continue
        if r.value in got:
            dups.append(f"{r.value!r} at p{got[r.value][0]}@{got[r.value][1]} and p{r.partition}@{r.offset}")
            continue
        got[r.value] = (r.partition, r.offset)
        per_txn[outcome_of[r.value][:2]] += 1
    if unknown_vals:
        problems.append(f"{len(unknown_vals)} records read that no producer wrote: {unknown_vals[:3]}")
    if dups:
        problems.append(f"{len(dups)} payloads read twice: {dups[:3]}")
    aborted_read = sorted(v for v in got if outcome_of[v][2] == "aborted")
    if aborted_read:
        problems.append(f"{len(aborted_read)} records of aborted transactions read, e.g. "
                        + ", ".join(f"{v!r} (producer {outcome_of[v][0]} txn {outcome_of[v][1]})"
                                    for v in aborted_read[:3]))
    missing = sorted(v for v, o in outcome_of.items() if o[2] == "committed" and v not in got)
    if missing:
        problems.append(f"{len(missing)} records of committed transactions not read, e.g. "
                        + ", ".join(f"{v!r} (producer {outcome_of[v][0]} txn {outcome_of[v][1]})"
                                    for v in missing[:3]))
    moved = sorted(v for v, pos in got.items() if v in acked and acked[v] != pos)
    if moved:
        problems.append(f"{len(moved)} records read elsewhere than acknowledged, e.g. "
                        + ", ".join(f"{v!r} at p{got[v][0]}@{got[v][1]}, acked p{acked[v][0]}@{acked[v][1]}"
                                    for v in moved[:3]))
    partial = []
    unknown_visible = unknown_invisible = 0
    for idx, txns in histories.items():
        for t in txns:
            if not t["values"]:
                continue
            n = per_txn[(idx, t["n"])]
            if t["outcome"] == "unknown":
                if n == len(t["values"]):
                    unknown_visible += 1
                elif n == 0:
                    unknown_invisible += 1
            if 0 < n < len(t["values"]):
                partial.append(f"producer {idx} txn {t['n']} ({t['outcome']}): {n} of {len(t['values'])} read")
    if partial:
        problems.append(f"{len(partial)} transactions partly visible: {partial[:3]}")
    order_bad = []
    last: dict[tuple[int, int], tuple[int, int]] = {}
    for r in sorted(recs, key=lambda r: (r.partition, r.offset)):
        if r.value not in outcome_of:
            continue
        idx = outcome_of[r.value][0]
        seqn = int(r.value.split(b"-", 1)[1])
        prev = last.get((r.partition, idx))
        if prev is not None and seqn <= prev[0]:
            order_bad.append(f"p{r.partition}: producer {idx} seq {seqn} at offset {r.offset} after seq {prev[0]} "
                             f"at offset {prev[1]}")
        last[(r.partition, idx)] = (seqn, r.offset)
    if order_bad:
        problems.append(f"{len(order_bad)} records out of order per partition and producer: {order_bad[:3]}")
    lost = sorted(v for v in acked if v not in in_log)
    if lost:
        problems.append(f"{len(lost)} acknowledged records not in the log (read_uncommitted), e.g. {lost[:3]}")
    moved_log = sorted(v for v, pos in acked.items() if v in in_log and in_log[v] != pos)
    if moved_log:
        problems.append(f"{len(moved_log)} acknowledged records elsewhere in the log (read_uncommitted), e.g. "
                        f"{moved_log[:3]}")
    return problems, unknown_visible, unknown_invisible


def checker(ctx):
    """4 transactional producers (TxnWorker) on a 6-partition RF=3 topic
    (min.insync.replicas=2) for 150 s while the main thread SIGKILLs a random
    node every 10-20 s (once every ISR is full again) and restarts it 2-6 s
    later. A read_committed consumer reads throughout, a fresh one and a
    read_uncommitted one at the end. Checks: no record of an aborted
    transaction read; every record of a committed transaction read, at its
    acknowledged offset; transactions whose commit failed all or nothing;
    nothing read twice; per partition and producer the sequence numbers
    increase with the offsets; every acknowledged record in the log. Figures:
    transactions committed / aborted / unknown, records, kills, read counts."""
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    cl = ctx.private_cluster(TXN_SETTINGS)
    topic = ctx.topic("cluster.txn-checker")
    parts = list(range(CHECKER_PARTITIONS))
    cl.create_topic(topic, CHECKER_PARTITIONS, 3, {"min.insync.replicas": "2"})
    log(f"checker seed {seed}")
    stop = threading.Event()
    workers = [TxnWorker(i, cl.bootstrap, topic, stop, rng.randrange(1 << 30)) for i in range(CHECKER_PRODUCERS)]
    reader = Reader(cl.bootstrap, topic, parts, "read_committed", "read_committed consumer (throughout)")
    for w in workers:
        w.start()

    def healthy():
        for w in workers:
            check(w.failure is None, f"producer {w.idx}: {w.failure}")
            check(not w.is_alive() or time.monotonic() - w.last_done < 240,
                  f"producer {w.idx} ({w.tid}) completed no transaction for 240 s; errors {dict(w.errors)}")
        reader._alive()

    def full_isrs(what):
        for t, n in ((topic, CHECKER_PARTITIONS), (TXN_TOPIC, int(TXN_SETTINGS["transaction.state.log.num.partitions"]))):
            _wait_isr(cl, t, n, lambda isr, pm: len(isr) == len(pm.replicas) == 3, 180, f"{t}: full ISRs {what}")

    t_start = time.monotonic()
    wait_until(lambda: (healthy(), sum(len(w.txns) for w in workers) >= 20)[1], 120,
               "the producers' first transactions")
    kills = []
    while True:
        nxt = time.monotonic() + rng.uniform(10, 20)
        while time.monotonic() < nxt:
            healthy()
            time.sleep(0.2)
        if time.monotonic() - t_start >= CHECKER_SECONDS:
            break
        victim = rng.choice(cl.live())
        cl.kill(victim)
        t_kill = time.monotonic()
        down = rng.uniform(2, 6)
        log(f"kill #{len(kills) + 1}: SIGKILLed node {victim}; restart in {down:.1f}s")
        while time.monotonic() - t_kill < down:
            healthy()
            time.sleep(0.2)
        cl.restart(victim)
        full_isrs(f"after the restart of {victim}")
        kills.append((victim, round(time.monotonic() - t_kill, 1)))
    stop.set()
    for w in workers:
        w.join(300)
        check(not w.is_alive(), f"producer {w.idx} did not finish its last transaction within 300 s")
        check(w.failure is None, f"producer {w.idx}: {w.failure}")
    duration = time.monotonic() - t_start
    log(f"producers stopped after {duration:.0f}s; kills (node, seconds until back in every ISR): {kills}")

    histories = {w.idx: w.txns for w in workers}
    counts = Counter()
    acked: dict[bytes, tuple[int, int]] = {}
    for txns in histories.values():
        for t in txns:
            counts[t["outcome"]] += 1
            counts[f"records_{t['outcome']}"] += len(t["values"])
            acked.update(t["acked"])
    check(counts["committed"] > 0 and counts["aborted"] > 0, f"nothing to check: {dict(counts)}")

    ends = _end_offsets(cl, topic, parts, committed=False)
    wait_until(lambda: _end_offsets(cl, topic, parts, committed=True) == ends, 120,
               f"last stable offsets equal to the high watermarks {ends} (no transaction open)")
    reader.wait_positions(ends, 300, "the high watermarks at the end")
    reader.stop()
    fresh = _read_all(cl, topic, parts, "read_committed", "fresh read_committed consumer", timeout=300)
    _check_same_view(reader, fresh, "the read_committed consumer running throughout and a fresh one")
    _check_same_view(fresh, reader, "a fresh read_committed consumer and the one running throughout")
    unc = _read_all(cl, topic, parts, "read_uncommitted", "read_uncommitted consumer", timeout=300)
    with unc.lock:
        in_log = {v: k for k, v in unc.at.items()}
    recs = fresh.snapshot()
    problems, unknown_visible, unknown_invisible = _check_history(histories, recs, in_log)
    rereads = reader.rereads
    figures = (f"seed {seed}, {duration:.0f}s, {len(kills)} kills (node, s until every ISR was full again) "
               f"{kills}; {CHECKER_PRODUCERS} producers "
               f"({sum(w.producers for w in workers)} producer instances): transactions {counts['committed']} "
               f"committed, {counts['aborted']} aborted, {counts['unknown']} unknown ({unknown_visible} visible, "
               f"{unknown_invisible} not); records {counts['records_committed']} committed, "
               f"{counts['records_aborted']} aborted, {counts['records_unknown']} unknown, {len(acked)} "
               f"acknowledged; read_committed {len(recs)} (fresh) / {len(reader.at)} (throughout, {rereads} "
               f"re-reads), read_uncommitted {len(unc.at)} records; high watermarks {ends}")
    errs = Counter()
    for w in workers:
        errs.update(w.errors)
    log(f"checker figures: {figures}; client errors {dict(errs)}")
    check(not problems, "transaction checker:\n  - " + "\n  - ".join(problems) + f"\n({figures})")
    note = figures + ("; producer errors " + ", ".join(f"{k} x{n}" for k, n in sorted(errs.items())) if errs else "")
    return _finish(cl, note)

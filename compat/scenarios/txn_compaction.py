"""Transactions (issue 12): the log cleaner on a transactional, compacted topic.

* ``txn-compaction`` (private broker, ``log.cleaner.backoff.ms=300``; a compacted
  topic with ``internal.segment.bytes=16384``): a transactional producer commits
  k1=v1, aborts k1=aborted and k2=aborted-only, commits k3=v3 and then committed
  filler that rolls segments. read_committed readers (one full read after the other
  while the cleaner runs) never see an aborted value, always see k1=v1. Once the
  cleaner has passed (polled: read_uncommitted no longer finds the aborted records,
  which Kafka's cleaner removes), read_committed and read_uncommitted
  (confluent-kafka and kafka-python) read k1=v1, k3=v3 and every filler key's newest
  value at their acknowledged offsets, k2 nowhere; the high watermark is unchanged
  (the markers' offsets stay).
"""

from __future__ import annotations

import os
import time
import uuid

from harness.common import CheckFailed, check, log, note_errors, wait_until
from harness.txn_clients import ConfluentBackend, KafkaPythonBackend, high_watermarks

TXN_CMP_SEGMENT = 16384    # internal.segment.bytes: the filler rolls a dozen segments
TXN_CMP_BATCH = 8192       # under the segment size (Kafka refuses a batch larger than a segment)
TXN_CMP_FILLER_KEYS = 40
TXN_CMP_FILLER_ROUNDS = 12
ABORTED_VALUES = (b"aborted", b"aborted-only")


def _control_batches_on_disk(broker, topic) -> int | None:
    """Control batches (transaction markers) in the partition's segment files, or None
    when a file changed while it was read (the cleaner swaps segments)."""
    import glob
    import struct
    n = 0
    try:
        for seg in glob.glob(os.path.join(broker.data_dir, glob.escape(f"{topic}-0"), "*.log")):
            with open(seg, "rb") as f:
                b = f.read()
            pos = 0
            while pos + 61 <= len(b):
                length = struct.unpack(">i", b[pos + 8:pos + 12])[0]
                if length <= 0:
                    break
                if struct.unpack(">h", b[pos + 21:pos + 23])[0] & 0x20:
                    n += 1
                pos += 12 + length
    except OSError:
        return None
    return n


def txn_compaction(ctx):
    """A compacted topic written by a transactional producer: committed k1=v1, an
    aborted k1=aborted and k2=aborted-only, committed k3=v3, then committed filler.
    read_committed readers never see an aborted value, while the cleaner runs and
    after; once cleaned, read_uncommitted no longer finds the aborted records either
    (Kafka's cleaner removes an aborted transaction's data), every key's newest
    committed value is at its acknowledged offset, the high watermark unchanged."""
    import threading
    import confluent_kafka as cklib
    from harness.clients import get_client
    from harness.clients.confluent import _base_conf
    from harness.common import Deliveries
    broker = ctx.private_broker({"log.cleaner.backoff.ms": "300"})
    ck = get_client("confluent-kafka")
    topic = ctx.topic("confluent.txn-compaction")
    ck.create_topic(ctx, topic, 1, configs={"cleanup.policy": "compact", "internal.segment.bytes": str(TXN_CMP_SEGMENT),
                                            "min.cleanable.dirty.ratio": "0.01"})
    conf = _base_conf(ctx.bootstrap)
    conf.update({"transactional.id": f"compat-txn-cmp-{uuid.uuid4().hex[:8]}", "acks": "all", "linger.ms": 5,
                 "batch.size": TXN_CMP_BATCH})
    p = cklib.Producer(conf)
    p.init_transactions(60)
    acked: dict[bytes, int] = {}   # value -> acknowledged offset
    newest: dict[bytes, bytes] = {}  # key -> newest committed value
    txns = 0

    def txn(items, outcome):
        nonlocal txns
        p.begin_transaction()
        d = Deliveries()
        deadline = time.monotonic() + 60
        for k, val in items:
            while True:
                try:
                    p.produce(topic, key=k, value=val, partition=0, on_delivery=d)
                    break
                except BufferError:
                    p.poll(0.1)
                    check(time.monotonic() < deadline, "the transactional producer's queue never drained")
        check(p.flush(60) == 0, "transactional flush did not finish in 60 s")
        note_errors("confluent-kafka", d.error_counts())
        check(not d.failed and len(d.acked) == len(items), f"transactional sends failed: {d.failures()}")
        acked.update({val: o for val, (_, o) in d.acked.items()})
        if outcome == "commit":
            p.commit_transaction(60)
            newest.update(dict(items))
        else:
            p.abort_transaction(60)
        txns += 1

    txn([(b"k1", b"v1")], "commit")
    txn([(b"k1", b"aborted"), (b"k2", b"aborted-only")], "abort")
    txn([(b"k3", b"v3")], "commit")
    log(f"k1=v1 committed at {acked[b'v1']}, k1=aborted / k2=aborted-only aborted at {acked[b'aborted']} / "
        f"{acked[b'aborted-only']}, k3=v3 committed at {acked[b'v3']}")

    # read_committed readers, one full read after the other, from now until the cleaning is seen
    watch = {"passes": 0, "bad": [], "failure": None}
    stop = threading.Event()

    def watcher():
        try:
            while not stop.is_set():
                recs = ck.read_all(ctx, topic, timeout=60, extra={"isolation.level": "read_committed"})
                watch["passes"] += 1
                n = watch["passes"]
                bad = [f"p0@{r.offset} {r.key!r}={r.value!r}" for r in recs
                       if r.value in ABORTED_VALUES or r.key == b"k2"]
                if bad:
                    watch["bad"].append(f"read {n}: aborted records {bad}")
                k1 = [(r.offset, r.value) for r in recs if r.key == b"k1"]
                if k1 != [(acked[b"v1"], b"v1")]:
                    watch["bad"].append(f"read {n}: k1 read as {k1}, expected [({acked[b'v1']}, b'v1')]")
        except Exception as e:  # noqa: BLE001 - reported below
            watch["failure"] = f"{type(e).__name__}: {e}"
    th = threading.Thread(target=watcher, daemon=True, name="read_committed watcher")
    th.start()
    try:
        pad = b"x" * 300
        for r in range(TXN_CMP_FILLER_ROUNDS):
            txn([(f"f-{k:02d}".encode(), f"filler|f-{k:02d}|round={r:03d}|".encode() + pad)
                 for k in range(TXN_CMP_FILLER_KEYS)], "commit")
        n_records = len(acked)
        want_hw = n_records + txns  # one marker per transaction
        log(f"{n_records} records in {txns} transactions: high watermark {want_hw} expected")

        # the cleaning: read_uncommitted no longer finds the aborted records
        state = {}

        def cleaned():
            recs = ck.read_all(ctx, topic, timeout=60, extra={"isolation.level": "read_uncommitted"})
            state["records"] = len(recs)
            state["aborted"] = [(r.offset, r.value) for r in recs if r.value in ABORTED_VALUES]
            return not state["aborted"]
        t0 = time.monotonic()
        try:
            wait_until(cleaned, 180, "the cleaner", interval=1.0)
        except CheckFailed:
            segs = sorted(os.listdir(os.path.join(broker.data_dir, f"{topic}-0")))
            ran = "the cleaner has run" if state.get("records", n_records) < n_records else "nothing cleaned"
            raise CheckFailed(f"after 180 s read_uncommitted still reads the aborted records {state.get('aborted')} "
                              f"({state.get('records')} of {n_records} records left in the log: {ran}); "
                              f"Kafka's cleaner removes an aborted transaction's records. Partition directory: "
                              f"{segs}") from None
        log(f"cleaned after {time.monotonic() - t0:.1f}s: {state['records']} of {n_records} records left")
        # one more full read_committed pass after the cleaning
        target = watch["passes"] + 2
        wait_until(lambda: watch["passes"] >= target or watch["failure"] or not th.is_alive(), 120,
                   "the read_committed watcher's reads after the cleaning")
    finally:
        stop.set()
        th.join(90)
    check(watch["failure"] is None, f"a read_committed reader failed: {watch['failure']}")
    check(not watch["bad"], f"read_committed readers, while the cleaner ran: {len(watch['bad'])} bad reads: "
                            + "; ".join(watch["bad"][:4]))
    p.flush(10)

    hw = high_watermarks(ctx, topic)[0]
    check(hw == want_hw, f"high watermark {hw} after the cleaning, expected {want_hw} ({n_records} records and "
                         f"{txns} markers: cleaning keeps offsets)")
    problems = []
    for b in (ConfluentBackend(), KafkaPythonBackend()):
        for iso in ("read_committed", "read_uncommitted"):
            who = f"{b.name} {iso}"
            recs = b.read(ctx, topic, iso, {0: hw}, timeout=90)
            offs = [r.offset for r in recs]
            if any(y <= x for x, y in zip(offs, offs[1:])):
                problems.append(f"{who}: offsets not strictly increasing")
            for r in recs:
                if r.value in ABORTED_VALUES or r.key == b"k2":
                    problems.append(f"{who}: aborted record p0@{r.offset} {r.key!r}={r.value!r}")
                elif acked.get(r.value) != r.offset:
                    problems.append(f"{who}: p0@{r.offset} {r.key!r}={r.value[:40]!r} was acknowledged at "
                                    f"{acked.get(r.value)}")
            for k, val in sorted(newest.items()):
                if not any(r.key == k and r.value == val and r.offset == acked[val] for r in recs):
                    problems.append(f"{who}: newest committed {k!r}={val[:40]!r} (at {acked[val]}) not read")
            for k in (b"k1", b"k3"):
                got = [(r.offset, r.value) for r in recs if r.key == k]
                if got != [(acked[newest[k]], newest[k])]:
                    problems.append(f"{who}: {k!r} read as {got}, expected only [({acked[newest[k]]}, "
                                    f"{newest[k]!r})]")
            log(f"{who}: {len(recs)} records")
    check(not problems, f"{len(problems)} problem(s) after the cleaning:\n  - " + "\n  - ".join(problems[:12]))
    markers = _control_batches_on_disk(broker, topic)
    return (f"aborted records removed by the cleaner; {watch['passes']} read_committed reads while it ran, none "
            f"with an aborted value; {state['records']} of {n_records} records left, high watermark {hw}"
            + (f"; {markers} of {txns} markers still on disk" if markers is not None else ""))

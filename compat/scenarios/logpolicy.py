"""Log policies on private brokers (short retention-check and cleaner
intervals):

- retention by time and by size (confluent-kafka, kafka-python);
- compaction: 100,000 records over 1,000 keys read back by confluent-kafka,
  kafka-python and kafkajs, tombstones and delete.retention.ms (compaction);
  codecs, headers, timestamps, LogAppendTime, idempotent producers, reads at
  removed offsets (compaction-records); compact,delete (compaction-delete);
  min/max.compaction.lag.ms (compaction-lag); consumers reading while the
  cleaner swaps segments (compaction-live-read); the internal
  __consumer_offsets (compaction-offsets); SIGKILL while cleaning
  (compaction-crash).

Compacted read-backs are checked against the producer's acknowledgements
(Expect / _analyse): every record at its acknowledged offset, no offset
twice, every key's newest record present, older ones eventually gone.

What is on disk is checked too: the partition directories are
``<log.dirs>/<topic>-<partition>`` with segments ``<20-digit base offset>.log``
(plus ``.index`` / ``.timeindex``), as Kafka lays them out.
"""

from __future__ import annotations

import os
import time
import uuid
from collections import defaultdict

from harness.clients import get_client
from harness.common import CheckFailed, Msg, check, commit_sync, log, make_messages, now_ms, wait_until
from harness.groups import BROKER_GROUP_OVERRIDES

SEGMENT_EXTS = (".log", ".index", ".timeindex")


# ---------------------------------------------------------------------------
# disk helpers


def _pdir(broker, topic, p):
    return os.path.join(broker.data_dir, f"{topic}-{p}")


def _segments(broker, topic, p):
    """[(base offset, size of the .log file)] of one partition, sorted."""
    d = _pdir(broker, topic, p)
    out = []
    for name in os.listdir(d):
        stem, ext = os.path.splitext(name)
        if ext == ".log" and stem.isdigit():
            try:
                out.append((int(stem), os.path.getsize(os.path.join(d, name))))
            except FileNotFoundError:  # unlinked between listdir and stat
                pass
    return sorted(out)


def _segment_files_below(broker, topic, p, offset):
    """Segment files (.log/.index/.timeindex) whose base offset is < offset."""
    d = _pdir(broker, topic, p)
    out = []
    for name in sorted(os.listdir(d)):
        stem, ext = os.path.splitext(name)
        if ext in SEGMENT_EXTS and stem.isdigit() and int(stem) < offset:
            out.append(name)
    return out


def _dir_state(broker, topic, p):
    """{file name: size} of a partition directory (for 'did anything change')."""
    d = _pdir(broker, topic, p)
    out = {}
    for name in os.listdir(d):
        try:
            out[name] = os.path.getsize(os.path.join(d, name))
        except FileNotFoundError:
            pass
    return out


def _poll(fn, timeout, what, interval=0.25):
    """Like wait_until, but fn returns (done, state) and the last state is
    part of the failure message."""
    deadline = time.monotonic() + timeout
    state = None
    while True:
        done, state = fn()
        if done:
            return state
        if time.monotonic() >= deadline:
            raise CheckFailed(f"timed out after {timeout}s waiting for {what}; last state: {state}")
        time.sleep(interval)


# ---------------------------------------------------------------------------
# client helpers (single partition topics for retention)


def _produce_small_batches(ctx, client_name, topic, msgs, per_batch=5, partition=0):
    """Produce (acks=all) in batches of at most ``per_batch`` records (one
    flush per batch), so that tiny segments roll often. Returns value ->
    offset as acknowledged."""
    acked = {}
    if client_name == "confluent-kafka":
        import confluent_kafka as cklib
        p = cklib.Producer({"bootstrap.servers": ctx.bootstrap, "broker.address.family": "v4", "acks": "all",
                            "linger.ms": 0, "enable.idempotence": False, "message.timeout.ms": 30000})
        errors = []

        def cb(err, m):
            if err is not None:
                errors.append(str(err))
            else:
                acked[m.value()] = m.offset()
        for i in range(0, len(msgs), per_batch):
            for m in msgs[i:i + per_batch]:
                p.produce(topic, key=m.key, value=m.value, timestamp=m.timestamp or 0, partition=partition,
                          on_delivery=cb)
            check(p.flush(30) == 0, f"confluent producer: batch {i // per_batch} not acknowledged within 30s")
        check(not errors, f"confluent producer: {len(errors)} delivery failures, first {errors[:3]}")
    else:
        from kafka import KafkaProducer
        p = KafkaProducer(bootstrap_servers=ctx.bootstrap, acks="all", linger_ms=0, enable_idempotence=False,
                          request_timeout_ms=30000)
        try:
            for i in range(0, len(msgs), per_batch):
                futs = [(m, p.send(topic, key=m.key, value=m.value, timestamp_ms=m.timestamp, partition=partition))
                        for m in msgs[i:i + per_batch]]
                p.flush(timeout=30)
                for m, f in futs:
                    try:
                        acked[m.value] = f.get(timeout=5).offset
                    except Exception as e:  # noqa: BLE001
                        raise CheckFailed(f"kafka-python producer: send failed: {e!r}") from None
        finally:
            p.close(timeout=10)
    check(len(acked) == len(msgs), f"{len(acked)} acknowledgements for {len(msgs)} messages")
    return acked


def _read_from(ctx, client_name, topic, offset, hw, *, reset="earliest", timeout=40):
    """A consumer assigned to partition 0 at ``offset`` (auto.offset.reset
    ``reset``) reads until it has seen offset hw-1. Returns [(offset, value)]."""
    out = []
    deadline = time.monotonic() + timeout
    if client_name == "confluent-kafka":
        import confluent_kafka as cklib
        c = get_client("confluent-kafka").consumer(ctx, {"auto.offset.reset": reset})
        try:
            c.assign([cklib.TopicPartition(topic, 0, offset)])
            while not (out and out[-1][0] >= hw - 1):
                check(time.monotonic() < deadline, f"confluent consumer from offset {offset}: only {len(out)} "
                                                   f"records within {timeout}s (last {out[-1:]}), high watermark {hw}")
                for m in c.consume(500, timeout=0.5):
                    if m.error() is not None:
                        if m.error().code() == cklib.KafkaError._PARTITION_EOF:
                            continue
                        raise CheckFailed(f"confluent consumer from offset {offset} "
                                          f"(auto.offset.reset={reset}): error {m.error()}")
                    out.append((m.offset(), m.value()))
        finally:
            c.close()
    else:
        from kafka import TopicPartition
        c = get_client("kafka-python").consumer(ctx, {"auto_offset_reset": reset})
        tp = TopicPartition(topic, 0)
        try:
            c.assign([tp])
            c.seek(tp, offset)
            while not (out and out[-1][0] >= hw - 1):
                check(time.monotonic() < deadline, f"kafka-python consumer from offset {offset}: only {len(out)} "
                                                   f"records within {timeout}s (last {out[-1:]}), high watermark {hw}")
                for recs in c.poll(timeout_ms=500).values():
                    out.extend((r.offset, r.value) for r in recs)
        finally:
            c.close()
    return out


def _commit(ctx, client_name, topic, group, offset):
    """Commits ``offset`` for partition 0 in ``group`` (no subscription:
    an admin-style commit by a consumer that never joins)."""
    if client_name == "confluent-kafka":
        import confluent_kafka as cklib
        c = get_client("confluent-kafka").consumer(ctx, {"group.id": group})
        try:
            commit_sync(c, [cklib.TopicPartition(topic, 0, offset)])
            got = c.committed([cklib.TopicPartition(topic, 0)], timeout=15)[0].offset
        finally:
            c.close()
    else:
        from kafka import TopicPartition
        from kafka.structs import OffsetAndMetadata
        c = get_client("kafka-python").consumer(ctx, {"group_id": group})
        tp = TopicPartition(topic, 0)
        try:
            c.assign([tp])
            c.commit({tp: OffsetAndMetadata(offset, "", -1)})
            got = c.committed(tp)
        finally:
            c.close()
    check(got == offset, f"{client_name}: committed offset {got} after committing {offset} for group {group}")


def _read_group(ctx, client_name, topic, group, hw, timeout=60):
    """A subscribing group member (auto.offset.reset=earliest) reads until
    offset hw-1. Returns [(offset, value)]."""
    out = []
    deadline = time.monotonic() + timeout
    if client_name == "confluent-kafka":
        import confluent_kafka as cklib
        conf = {"bootstrap.servers": ctx.bootstrap, "broker.address.family": "v4", "group.id": group,
                "auto.offset.reset": "earliest", "enable.auto.commit": False, "session.timeout.ms": 6000,
                "heartbeat.interval.ms": 500, "fetch.wait.max.ms": 100}
        c = cklib.Consumer(conf)
        try:
            c.subscribe([topic])
            while not (out and out[-1][0] >= hw - 1):
                check(time.monotonic() < deadline, f"confluent group member of {group}: only {len(out)} records "
                                                   f"within {timeout}s (last {out[-1:]}), high watermark {hw}")
                for m in c.consume(500, timeout=0.5):
                    if m.error() is not None:
                        if m.error().code() == cklib.KafkaError._PARTITION_EOF:
                            continue
                        raise CheckFailed(f"confluent group member of {group} (auto.offset.reset=earliest): "
                                          f"error {m.error()}")
                    out.append((m.offset(), m.value()))
        finally:
            c.close()
    else:
        from kafka import KafkaConsumer
        c = KafkaConsumer(topic, bootstrap_servers=ctx.bootstrap, group_id=group, auto_offset_reset="earliest",
                          enable_auto_commit=False, session_timeout_ms=6000, heartbeat_interval_ms=500,
                          fetch_max_wait_ms=100, request_timeout_ms=30000)
        try:
            while not (out and out[-1][0] >= hw - 1):
                check(time.monotonic() < deadline, f"kafka-python group member of {group}: only {len(out)} records "
                                                   f"within {timeout}s (last {out[-1:]}), high watermark {hw}")
                for recs in c.poll(timeout_ms=500).values():
                    out.extend((r.offset, r.value) for r in recs)
        finally:
            c.close()
    return out


def _check_range(label, got, lo, hw, by_offset):
    """got ([(offset, value)]) must be exactly offsets lo..hw-1 with the
    values acknowledged at those offsets."""
    offs = [o for o, _ in got]
    check(offs == list(range(lo, hw)),
          f"{label}: read offsets {offs[:4]}...{offs[-3:]} ({len(offs)} records), expected exactly {lo}..{hw - 1}")
    wrong = [(o, v) for o, v in got if by_offset.get(o) != v]
    check(not wrong, f"{label}: {len(wrong)} records differ from what was acknowledged at their offset, "
                     f"e.g. offset {wrong[0][0] if wrong else ''}")


def _watermarks(ctx, client_name, topic):
    return get_client(client_name).watermarks(ctx, topic)[0]


# ---------------------------------------------------------------------------
# retention by time


def retention_time(ctx, client_name):
    """Time retention (private broker, log.retention.check.interval.ms=500).

    Topic A (internal.segment.bytes=1024, retention.ms=2000): 120 records with current
    timestamps in batches of 5 (many segments); once retention.ms has passed
    every segment is deleted, the active one too (Kafka rolls a new, empty
    one first): ListOffsets EARLIEST is the unchanged high watermark and no
    deleted segment file is left. Appends continue at the old high watermark
    (timestamps 50 minutes ahead, inside message.timestamp.after.max.ms, so
    that they outlive retention.ms=2000): a consumer from the beginning reads
    exactly them, a consumer assigned at an old offset (below the new log
    start) with auto.offset.reset=earliest continues at the new log start,
    and so does a group member whose committed offset is below it.

    Topic B (retention.ms=10 min): records an hour old, then recent ones:
    exactly the segments holding only old records are deleted, the segment
    holding the first recent record and everything after stay.

    Topic C (default retention.ms, 7 days): nothing is deleted until the
    client's admin API sets retention.ms=1500 (IncrementalAlterConfigs);
    then, without a restart, all of it is deleted.

    Topic D (message.timestamp.type=LogAppendTime, retention.ms=10 min):
    records sent with hour-old CreateTimes are stamped with the append time,
    so retention deletes nothing; topic E (cleanup.policy=compact,
    retention.ms=1000, hour-old records with distinct keys): retention does
    not apply at all (both checked after the pass that deleted topic B's
    segments, which were written later)."""
    client_name = client_name or "confluent-kafka"
    client = get_client(client_name)
    broker = ctx.private_broker({"log.retention.check.interval.ms": "500", **BROKER_GROUP_OVERRIDES})
    ta = ctx.topic(f"{client_name}.ret-time")
    tb = ctx.topic(f"{client_name}.ret-mixed")
    client.create_topic(ctx, ta, 1, configs={"internal.segment.bytes": "1024", "retention.ms": "2000"})
    client.create_topic(ctx, tb, 1, configs={"internal.segment.bytes": "1024", "retention.ms": "600000"})

    # -- topic D: LogAppendTime, records with hour-old CreateTimes -------------
    # retention goes by the broker's append time: nothing may be deleted. Produced
    # before topic B, so the retention pass that deletes B's old segments has
    # seen D's segments too.
    td = ctx.topic(f"{client_name}.ret-lat")
    client.create_topic(ctx, td, 1, configs={"internal.segment.bytes": "1024", "retention.ms": "600000",
                                             "message.timestamp.type": "LogAppendTime"})
    acked_d = _produce_small_batches(ctx, client_name, td, make_messages(
        f"{client_name}-lat", 40, 5, base_ts=now_ms() - 3_600_000, per_message_headers=False))
    segs_d = _segments(broker, td, 0)
    # -- topic E: cleanup.policy=compact with retention.ms=1000: retention does not apply
    te = ctx.topic(f"{client_name}.ret-compact")
    client.create_topic(ctx, te, 1, configs={"internal.segment.bytes": "1024", "retention.ms": "1000",
                                             "cleanup.policy": "compact"})
    acked_e = _produce_small_batches(ctx, client_name, te, make_messages(
        f"{client_name}-cmp", 40, 40, base_ts=now_ms() - 3_600_000, per_message_headers=False))  # 40 distinct keys
    segs_e = _segments(broker, te, 0)

    # -- topic B: old + recent ------------------------------------------------
    n_old, n_new = 60, 20
    old = make_messages(f"{client_name}-old", n_old, 5, base_ts=now_ms() - 3_600_000, per_message_headers=False)
    acked_b = _produce_small_batches(ctx, client_name, tb, old)
    recent = make_messages(f"{client_name}-recent", n_new, 5, start=n_old, base_ts=now_ms(),
                           per_message_headers=False)
    acked_b.update(_produce_small_batches(ctx, client_name, tb, recent))
    segs_b = _segments(broker, tb, 0)
    log(f"topic B segments after produce: {segs_b}")
    # the segment holding the first recent record, and everything after it, must stay
    keep_from = max(b for b, _ in segs_b if b <= n_old)

    # -- topic C: default retention (7 days) until an AlterConfigs --------------
    tc = ctx.topic(f"{client_name}.ret-altered")
    client.create_topic(ctx, tc, 1, configs={"internal.segment.bytes": "1024"})
    acked_c = _produce_small_batches(ctx, client_name, tc, make_messages(
        f"{client_name}-alt", 60, 5, base_ts=now_ms(), per_message_headers=False))
    check(sorted(acked_c.values()) == list(range(60)), f"topic C acknowledged offsets {sorted(acked_c.values())}")

    # -- topic A: everything expires -----------------------------------------
    n = 120
    msgs = make_messages(f"{client_name}-exp", n, 5, base_ts=now_ms(), per_message_headers=False)
    acked = _produce_small_batches(ctx, client_name, ta, msgs)
    by_offset = {o: v for v, o in acked.items()}
    check(sorted(by_offset) == list(range(n)), f"acknowledged offsets {sorted(by_offset)[:5]}..., expected 0..{n - 1}")
    segs = _segments(broker, ta, 0)
    # (retention may already have deleted the first segments on a slow machine)
    log(f"topic A segments after produce: {len(segs)}: {segs[:6]}...")
    check(len(segs) >= 5 or segs[0][0] > 0, f"120 records of ~100 bytes with internal.segment.bytes=1024 gave "
                                            f"{len(segs)} segment(s): {segs} (expected many rolls)")
    group = f"compat-ret-{uuid.uuid4().hex[:8]}"
    _commit(ctx, client_name, ta, group, 3)
    # topic C: retention.ms=1500 through the client's admin API takes effect without a restart
    segs_c = _segments(broker, tc, 0)
    lo_c = _watermarks(ctx, client_name, tc)[0]
    check(len(segs_c) >= 5 and lo_c == 0, f"topic C (default retention.ms, 7 days) lost data before any "
                                          f"AlterConfigs: log start {lo_c}, segments {segs_c}")
    from scenarios.topic_admin import ADAPTERS
    adm = ADAPTERS[client_name](ctx)
    try:
        _, err = adm.alter(tc, {"retention.ms": "1500"})
    finally:
        if hasattr(adm, "close"):
            adm.close()
    check(err is None, f"{client_name} IncrementalAlterConfigs retention.ms=1500 on {tc}: {err}")

    def expired():
        s = _segments(broker, ta, 0)
        lo, hi = _watermarks(ctx, client_name, ta)
        return (s == [(n, 0)] and lo == n), {"segments": s, "watermarks": (lo, hi)}
    st = _poll(expired, 45, f"every segment of the retention.ms=2000 topic to be deleted, the active one too "
                            f"(one empty segment at {n} left, ListOffsets EARLIEST = {n})")
    lo, hi = st["watermarks"]
    log(f"topic A after retention: {st}")
    check(hi == n, f"high watermark {hi} after retention, expected {n} (retention must not touch it)")
    left = _segment_files_below(broker, ta, 0, lo)
    check(not left, f"segment files of deleted segments still on disk: {left}")
    # appends continue at the old high watermark; 50 minutes ahead, they outlive retention.ms
    more = make_messages(f"{client_name}-after", 10, 5, start=n, base_ts=now_ms() + 50 * 60_000,
                         per_message_headers=False)
    acked_more = _produce_small_batches(ctx, client_name, ta, more)
    check(sorted(acked_more.values()) == list(range(n, n + 10)),
          f"appends after retention got offsets {sorted(acked_more.values())}, expected {n}..{n + 9}")
    by_offset.update({o: v for v, o in acked_more.items()})
    hi = n + 10
    # a consumer from the beginning
    records = client.read_all(ctx, ta)
    _check_range(f"{client_name} read from the beginning after retention",
                 [(r.offset, r.value) for r in records], lo, hi, by_offset)
    # explicit old offset, auto.offset.reset=earliest -> the new log start
    got = _read_from(ctx, client_name, ta, 2, hi)
    _check_range(f"{client_name} consumer assigned at offset 2 (below the log start {lo}, "
                 f"auto.offset.reset=earliest)", got, lo, hi, by_offset)
    # committed offset (3) below the log start: a group member resets to it
    got = _read_group(ctx, client_name, ta, group, hi)
    _check_range(f"{client_name} group member with committed offset 3 (below the log start {lo})",
                 got, lo, hi, by_offset)
    # reset=none/error: the client reports the out-of-range position
    err = _out_of_range_error(ctx, client_name, ta, 2)
    check(err is not None, f"{client_name}: fetching offset 2 below the log start {lo} with "
                           f"auto.offset.reset=none did not report OFFSET_OUT_OF_RANGE")

    # -- topic C verdict ----------------------------------------------------------
    def c_done():
        sg = _segments(broker, tc, 0)
        lo_, hi_ = _watermarks(ctx, client_name, tc)
        return (sg == [(60, 0)] and lo_ == 60), {"segments": sg, "watermarks": (lo_, hi_)}
    st_c = _poll(c_done, 45, "all of topic C to be deleted (one empty segment at 60 left) after "
                             "retention.ms=1500 was set by IncrementalAlterConfigs (no restart)")
    log(f"topic C after the AlterConfigs: {st_c}")
    check(st_c["watermarks"] == (60, 60), f"topic C after retention.ms=1500: watermarks {st_c['watermarks']}, "
                                          f"expected (60, 60)")

    # -- topic B verdict (retention has run many times by now) -----------------
    def b_done():
        s = _segments(broker, tb, 0)
        lo_b, hi_b = _watermarks(ctx, client_name, tb)
        return lo_b >= keep_from, {"segments": s, "watermarks": (lo_b, hi_b)}
    st_b = _poll(b_done, 30, f"the segments of the hour-old records of topic B to be deleted "
                             f"(log start {keep_from} expected)")
    lo_b, hi_b = st_b["watermarks"]
    log(f"topic B after retention: {st_b}")
    check(lo_b == keep_from, f"topic B (retention.ms=600000): log start offset {lo_b}, expected {keep_from} "
                             f"(base of the segment holding the first recent record, offset {n_old}); "
                             f"segments before produce-time {segs_b}, now {st_b['segments']}")
    check(hi_b == n_old + n_new, f"topic B high watermark {hi_b}, expected {n_old + n_new}")
    kept = [b for b, _ in st_b["segments"]]
    check(kept == [b for b, _ in segs_b if b >= keep_from],
          f"topic B: segments {kept} remain, expected exactly {[b for b, _ in segs_b if b >= keep_from]}")
    by_off_b = {o: v for v, o in acked_b.items()}
    recs_b = client.read_all(ctx, tb)
    _check_range(f"{client_name} read of topic B", [(r.offset, r.value) for r in recs_b], keep_from,
                 n_old + n_new, by_off_b)

    # -- topic D verdict: the pass that deleted B's old segments kept all of D -----
    lo_d, hi_d = _watermarks(ctx, client_name, td)
    check((lo_d, hi_d) == (0, 40) and _segments(broker, td, 0) == segs_d,
          f"LogAppendTime topic (CreateTimes an hour old, appended just now, retention.ms=600000): watermarks "
          f"{(lo_d, hi_d)}, segments {_segments(broker, td, 0)} (were {segs_d}): retention must go by the append "
          f"time, nothing may be deleted")
    recs_d = client.read_all(ctx, td)
    _check_range(f"{client_name} read of the LogAppendTime topic", [(r.offset, r.value) for r in recs_d], 0, 40,
                 {o: v for v, o in acked_d.items()})
    lo_e, hi_e = _watermarks(ctx, client_name, te)
    check((lo_e, hi_e) == (0, 40) and _segments(broker, te, 0) == segs_e,
          f"cleanup.policy=compact topic with retention.ms=1000 and hour-old records: watermarks {(lo_e, hi_e)}, "
          f"segments {_segments(broker, te, 0)} (were {segs_e}): retention only applies with cleanup.policy delete")
    recs_e = client.read_all(ctx, te)
    _check_range(f"{client_name} read of the compact-only topic", [(r.offset, r.value) for r in recs_e], 0, 40,
                 {o: v for v, o in acked_e.items()})

    broker.stop()
    broker.check_verify_logs()
    return (f"{len(segs)} segments -> 1 (log start {lo}); mixed topic: log start {lo_b}, "
            f"{n_new} recent records kept; altered topic: log start {st_c['watermarks'][0]}")


def _out_of_range_error(ctx, client_name, topic, offset, timeout=30):
    """Fetch at ``offset`` with auto.offset.reset none/error: returns the
    out-of-range error the client reports (None if it read records or
    reported nothing)."""
    deadline = time.monotonic() + timeout
    if client_name == "confluent-kafka":
        import confluent_kafka as cklib
        c = get_client("confluent-kafka").consumer(ctx, {"auto.offset.reset": "error"})
        try:
            c.assign([cklib.TopicPartition(topic, 0, offset)])
            while time.monotonic() < deadline:
                for m in c.consume(10, timeout=0.5):
                    check(m.error() is not None, f"confluent consumer read offset {m.offset()} although offset "
                                                 f"{offset} is below the log start")
                    if "outofrange" in m.error().str().lower().replace(" ", "").replace("_", ""):
                        return m.error()
        finally:
            c.close()
        return None
    from kafka import TopicPartition
    c = get_client("kafka-python").consumer(ctx, {"auto_offset_reset": "none"})
    tp = TopicPartition(topic, 0)
    try:
        c.assign([tp])
        c.seek(tp, offset)
        while time.monotonic() < deadline:
            try:
                recs = c.poll(timeout_ms=500)
                check(not any(recs.values()), f"kafka-python read records although offset {offset} is below "
                                              f"the log start")
            except CheckFailed:
                raise
            except Exception as e:  # noqa: BLE001
                if "outofrange" in (type(e).__name__ + str(e)).lower().replace("_", ""):
                    return e
                raise CheckFailed(f"kafka-python with auto_offset_reset=none at offset {offset}: {e!r}") from None
    finally:
        c.close()
    return None


# ---------------------------------------------------------------------------
# retention by size


def retention_size(ctx, client_name):
    """Size retention (retention.bytes=4096 per partition, internal.segment.bytes=1024,
    checked every 500 ms): the oldest segments are deleted exactly as long as
    the partition stays at or above retention.bytes without them (Kafka's
    rule, which spares no segment, the active one included, but here the rest
    never stays above the limit without it); ListOffsets EARLIEST is the base of the
    oldest remaining segment; readers from the beginning and from an old
    offset (auto.offset.reset=earliest) start there; more data moves the start
    further."""
    client_name = client_name or "confluent-kafka"
    client = get_client(client_name)
    retention_bytes = 4096
    broker = ctx.private_broker({"log.retention.check.interval.ms": "500"})
    topic = ctx.topic(f"{client_name}.ret-size")
    client.create_topic(ctx, topic, 1, configs={"internal.segment.bytes": "1024", "retention.bytes": str(retention_bytes)})

    by_offset = {}
    total = 0
    prev_lo = 0
    notes = []
    for round_, n in enumerate((150, 60), 1):
        msgs = make_messages(f"{client_name}-size{round_}", n, 5, start=total, base_ts=now_ms(),
                             per_message_headers=False)
        acked = _produce_small_batches(ctx, client_name, topic, msgs)
        by_offset.update({o: v for v, o in acked.items()})
        total += n
        check(sorted(acked.values()) == list(range(total - n, total)),
              f"round {round_}: acknowledged offsets {sorted(acked.values())[:3]}..., expected {total - n}..")

        def settled():
            s = _segments(broker, topic, 0)
            size = sum(sz for _, sz in s)
            lo, hi = _watermarks(ctx, client_name, topic)
            # nothing more to delete: without the oldest segment the log would be below retention.bytes
            done = lo > prev_lo and lo == s[0][0] and (len(s) == 1 or size - s[0][1] < retention_bytes)
            return done, {"segments": s, "bytes": size, "watermarks": (lo, hi)}
        st = _poll(settled, 45, f"round {round_}: size retention to delete the oldest segments "
                                f"(retention.bytes={retention_bytes})")
        lo, hi = st["watermarks"]
        log(f"round {round_}: {st}")
        check(hi == total, f"round {round_}: high watermark {hi}, expected {total}")
        check(st["bytes"] >= retention_bytes,
              f"round {round_}: {st['bytes']} bytes left, below retention.bytes={retention_bytes}: too much deleted "
              f"(Kafka deletes a segment only if the log stays at or above retention.bytes without it)")
        left = _segment_files_below(broker, topic, 0, lo)
        check(not left, f"round {round_}: segment files of deleted segments still on disk: {left}")
        records = client.read_all(ctx, topic)
        _check_range(f"round {round_}: {client_name} read from the beginning", [(r.offset, r.value) for r in records],
                     lo, hi, by_offset)
        got = _read_from(ctx, client_name, topic, prev_lo, hi)
        _check_range(f"round {round_}: {client_name} consumer assigned at offset {prev_lo} (below the log start "
                     f"{lo}, auto.offset.reset=earliest)", got, lo, hi, by_offset)
        notes.append(f"{len(st['segments'])} segments / {st['bytes']} B from offset {lo}")
        prev_lo = lo
    broker.stop()
    broker.check_verify_logs()
    return "; ".join(notes)


# ---------------------------------------------------------------------------
# compaction

CMP_KEYS = 1000
CMP_RECORDS = 100_000
CMP_PARTITIONS = 3
CMP_SEGMENT = 256 * 1024
ROLL_KEY = b"__roll__"
# Kafka refuses a batch larger than the segment (RECORD_LIST_TOO_LARGE), so the
# producers here keep batches under the smallest segment (16 KiB) and a roll record
# fills three quarters of one: two in a row never share a segment.
BATCH_BYTES = 8192


def _roll_size(segment):
    return segment * 3 // 4 - 256  # room for the batch and record headers, key and tag


def _is_roll(key):
    return key is not None and key.startswith(ROLL_KEY)


def _key(k):
    return f"key-{k:04d}".encode()


def _cmp_value(tag, k, seq):
    pad = "abcdefghij"[(k + seq) % 10] * (40 + (k * 7 + seq) % 50)
    return f"{tag}|key-{k:04d}|seq={seq:06d}|{pad}".encode()


class Expect:
    """What was acknowledged, and each key's newest record."""

    def __init__(self):
        self.acked = {}     # value -> (partition, offset) (non-null values, roll records included)
        self.tombs = set()  # (key, partition, offset) of acknowledged tombstones
        self.newest = {}    # data key -> (value or None, partition, offset)
        self.key_part = {}  # data key -> partition

    def add(self, key, value, p, o):
        if value is None:
            self.tombs.add((key, p, o))
        else:
            self.acked[value] = (p, o)
        if _is_roll(key):
            return
        cur = self.newest.get(key)
        if cur is None or o > cur[2]:
            self.newest[key] = (value, p, o)
        if self.key_part.setdefault(key, p) != p:
            raise CheckFailed(f"key {key!r} was acknowledged in partitions {self.key_part[key]} and {p}")


def _producer_cb(exp, errors):
    def cb(err, m):
        if err is not None:
            errors.append(f"{err} (key {m.key()!r})")
        else:
            exp.add(m.key(), m.value(), m.partition(), m.offset())
    return cb


def _produce_compacted(ctx, topic, items, exp: Expect, *, linger=5):
    """items: [(key, value or None[, timestamp])] produced with confluent-kafka
    (acks=all, keyed partitioning). Records the acknowledgements in exp."""
    p = get_client("confluent-kafka").producer(ctx, extra={"linger.ms": linger, "batch.num.messages": 2000,
                                                           "batch.size": BATCH_BYTES})
    errors = []
    cb = _producer_cb(exp, errors)
    deadline = time.monotonic() + 180
    for i, item in enumerate(items):
        key, value = item[0], item[1]
        ts = item[2] if len(item) > 2 else 0
        while True:
            try:
                p.produce(topic, key=key, value=value, timestamp=ts, on_delivery=cb)
                break
            except BufferError:
                p.poll(0.1)
                check(time.monotonic() < deadline, "confluent producer queue never drained")
        if i % 1000 == 0:
            p.poll(0)
    left = p.flush(120)
    check(left == 0, f"{left} compacted-topic records not acknowledged within 120s")
    check(not errors, f"{len(errors)} delivery failures on the compacted topic, first {errors[:3]}")


def _roll(ctx, topic, partitions, exp: Expect, tag, ts=0, segment=CMP_SEGMENT, keys=(ROLL_KEY, ROLL_KEY)):
    """Seals the active segment of every partition (of ``segment`` bytes): two
    records of three quarters of a segment, with the same key unless ``keys``
    says otherwise; the second one cannot join the first one's segment, so
    that all data and the first roll record are in non-active segments (and
    the dirty part of the log is large)."""
    size = _roll_size(segment)
    import confluent_kafka as cklib
    p = cklib.Producer({"bootstrap.servers": ctx.bootstrap, "broker.address.family": "v4", "acks": "all",
                        "linger.ms": 0, "message.max.bytes": 1_000_000})
    errors = []
    cb = _producer_cb(exp, errors)
    for part in range(partitions):
        for j in range(2):
            v = f"{tag}|p{part}|{j}|".encode() + b"R" * size
            p.produce(topic, key=keys[j], value=v, partition=part, timestamp=ts, on_delivery=cb)
            check(p.flush(60) == 0, "roll record not acknowledged within 60s")
    check(not errors, f"roll records failed: {errors[:3]}")


def _disk_bytes(broker, topic, partitions):
    return sum(sz for p in range(partitions) for _, sz in _segments(broker, topic, p))


def _analyse(records, exp: Expect, reader, *, gone=frozenset(), maybe=frozenset()):
    """Checks a full read of a compacted topic. Returns (fatal, pending):
    problems no later cleaning can fix, and what cleaning has not done yet.

    fatal: a record that was never produced, or not at its acknowledged
    partition/offset (compaction keeps offsets); an offset read twice or out
    of order; a key's newest acknowledged record missing (unless the key is in
    ``gone``: tombstoned, and its tombstone may be removed).
    pending ([(kind, text)]): "dups", keys with more than one record; "gone",
    keys in ``gone`` still present. Keys in ``maybe`` may also be absent
    altogether (checked by the caller)."""
    fatal, pending = [], []
    per_part = defaultdict(list)
    per_key = defaultdict(list)
    unknown = misplaced = 0
    for r in records:
        per_part[r.partition].append(r.offset)
        if r.value is None:
            if (r.key, r.partition, r.offset) not in exp.tombs:
                unknown += 1
                if unknown <= 3:
                    fatal.append(f"{reader}: tombstone for {r.key!r} at p{r.partition}@{r.offset} was never produced")
                continue
        elif r.value not in exp.acked:
            unknown += 1
            if unknown <= 3:
                fatal.append(f"{reader}: record never produced at p{r.partition}@{r.offset}: {r.value[:50]!r}")
            continue
        elif exp.acked[r.value] != (r.partition, r.offset):
            misplaced += 1
            if misplaced <= 3:
                a = exp.acked[r.value]
                fatal.append(f"{reader}: {r.value[:40]!r} read at p{r.partition}@{r.offset}, acknowledged at "
                             f"p{a[0]}@{a[1]} (compaction must keep offsets)")
        if not _is_roll(r.key):
            per_key[r.key].append(r)
    if unknown > 3:
        fatal.append(f"{reader}: {unknown} records in total that were never produced")
    if misplaced > 3:
        fatal.append(f"{reader}: {misplaced} records in total not at their acknowledged offsets")
    for p, offs in sorted(per_part.items()):
        bad = [i for i in range(1, len(offs)) if offs[i] <= offs[i - 1]]
        if bad:
            i = bad[0]
            fatal.append(f"{reader}: partition {p}: offsets not strictly increasing ({len(bad)} times), "
                         f"e.g. ...{offs[max(0, i - 2):i + 2]}... (an offset returned twice?)")
    missing, still = [], []
    for key, (value, p, o) in sorted(exp.newest.items()):
        rs = per_key.get(key, [])
        if key in gone:
            if rs:
                still.append(f"{key!r} at {[(r.partition, r.offset) for r in rs][:3]}")
            continue
        if key in maybe and not rs:
            continue
        if not any(r.partition == p and r.offset == o and r.value == value for r in rs):
            missing.append(f"{key!r}: newest record p{p}@{o} {(value or b'')[:30]!r}{' (tombstone)' if value is None else ''}"
                           f" not read; read {[(r.partition, r.offset) for r in rs][:3]}")
    if missing:
        fatal.append(f"{reader}: {len(missing)} keys lost their newest acknowledged record: " + "; ".join(missing[:4]))
    extra = [k for k in per_key if k not in exp.newest]
    if extra:
        fatal.append(f"{reader}: records for keys never produced: {extra[:3]}")
    dup_keys = {k: v for k, v in per_key.items() if len(v) > 1 and k not in gone}
    if dup_keys:
        k, v = next(iter(sorted(dup_keys.items())))
        pending.append(("dups", f"{reader}: {len(dup_keys)} keys have more than one record, e.g. {k!r} at "
                                f"{[(r.partition, r.offset) for r in v][:5]}"))
    if still:
        pending.append(("gone", f"{reader}: {len(still)} tombstoned keys still have records: " + "; ".join(still[:4])))
    return fatal, pending


def _all_problems(records, exp, reader, gone=frozenset()):
    fatal, pending = _analyse(records, exp, reader, gone=gone)
    return fatal + [t for _, t in pending]


def _read_kafkajs(ctx, topic, hws, timeout=120):
    """kafkajs group consumer (fresh group) from the beginning up to the high watermarks."""
    from harness.clients.kafkajs import _unb64, run_node
    from harness.common import Record
    res = run_node("consume", {"bootstrap": ctx.bootstrap, "topic": topic, "until": {str(p): h for p, h in hws.items()},
                               "expected": 0, "groupId": f"compat-cmp-{uuid.uuid4().hex[:8]}",
                               "timeoutMs": int(timeout * 1000)}, timeout=timeout + 30)
    return [Record(partition=r["partition"], offset=r["offset"], key=_unb64(r["key"]), value=_unb64(r["value"]),
                   headers=[], timestamp=r["timestamp"]) for r in res["records"]]


def _wait_cleaned(ctx, broker, topic, exp, what, *, partitions=CMP_PARTITIONS, gone=frozenset(), timeout=120,
                  nudge=None, maybe=frozenset()):
    """Polls (confluent-kafka reads of the whole topic) until _analyse finds
    nothing pending; anything fatal fails at once. ``nudge``, when given, is
    called (at most every 3 s) when only tombstoned keys are left: it adds
    dirty data so that the cleaner runs again after delete.retention.ms."""
    ck = get_client("confluent-kafka")
    deadline = time.monotonic() + timeout
    polls = 0
    last_nudge = time.monotonic()
    while True:
        polls += 1
        recs = ck.read_all(ctx, topic, timeout=90)
        fatal, pending = _analyse(recs, exp, "confluent-kafka", gone=gone, maybe=maybe)
        check(not fatal, f"while waiting for {what}:\n  - " + "\n  - ".join(fatal))
        if not pending:
            return recs
        if time.monotonic() >= deadline:
            segs = {p: _segments(broker, topic, p) for p in range(partitions)}
            raise CheckFailed(f"timed out after {timeout}s ({polls} reads) waiting for {what}; "
                              f"{len(recs)} records in the log; segments {segs}; last read:\n  - "
                              + "\n  - ".join(t for _, t in pending))
        if nudge is not None and {k for k, _ in pending} == {"gone"} and time.monotonic() - last_nudge >= 3:
            nudge()
            last_nudge = time.monotonic()
        time.sleep(1.0)


def compaction(ctx):
    """Compaction (private broker, log.cleaner.backoff.ms=500): 100,000
    records over 1,000 keys (confluent-kafka) on a 3-partition topic with
    cleanup.policy=compact, internal.segment.bytes=256 KiB, min.cleanable.dirty.ratio=0.01;
    the active segments are rolled; once cleaned, confluent-kafka,
    kafka-python and kafkajs (group consumer) reading from the beginning see
    exactly one record per key, the newest, at the offset its producer was
    acknowledged (offsets kept, with gaps), offsets strictly increasing.
    Then tombstones (null values) for 100 keys with delete.retention.ms=1000:
    after a later cleaning those keys disappear entirely, the other 900 keep
    their newest value; and for 50 more keys with delete.retention.ms=3600000
    (IncrementalAlterConfigs): cleaning removes their older values but keeps
    the tombstones (seen by confluent-kafka and kafka-python), also through a
    later pass; and for 50 keys whose tombstones carry a CreateTime 2 h old
    (older than delete.retention.ms): the cleaning that removes their older
    values keeps them too (Kafka's delete horizon counts from the cleaning,
    not from the record timestamp). verify-logs after a clean stop."""
    broker = ctx.private_broker({"log.cleaner.backoff.ms": "500", "log.retention.check.interval.ms": "500",
                                 **BROKER_GROUP_OVERRIDES})
    ck = get_client("confluent-kafka")
    topic = ctx.topic("confluent.compaction")
    ck.create_topic(ctx, topic, CMP_PARTITIONS, configs={
        "cleanup.policy": "compact", "internal.segment.bytes": str(CMP_SEGMENT), "min.cleanable.dirty.ratio": "0.01",
        "delete.retention.ms": "1000"})
    exp = Expect()
    items = [(_key(i % CMP_KEYS), _cmp_value("v", i % CMP_KEYS, i // CMP_KEYS)) for i in range(CMP_RECORDS)]
    t0 = time.monotonic()
    _produce_compacted(ctx, topic, items, exp)
    log(f"produced {CMP_RECORDS} records in {time.monotonic() - t0:.1f}s")
    check(len(exp.acked) == CMP_RECORDS, f"{len(exp.acked)} acknowledgements for {CMP_RECORDS} records")
    _roll(ctx, topic, CMP_PARTITIONS, exp, "roll1")
    wm = ck.watermarks(ctx, topic)
    nsegs = {p: len(_segments(broker, topic, p)) for p in range(CMP_PARTITIONS)}
    before = _disk_bytes(broker, topic, CMP_PARTITIONS)
    log(f"watermarks {wm}, segments per partition {nsegs}, {before} bytes on disk after the produce")
    # the data must be in non-active segments: the active segment of each partition starts at its
    # second roll record
    for part in range(CMP_PARTITIONS):
        marker = next(o for v, (pp, o) in exp.acked.items() if pp == part and v.startswith(b"roll1|p%d|1|" % part))
        active = _segments(broker, topic, part)[-1][0]
        check(active == marker, f"partition {part}: the active segment starts at {active}, expected the second roll "
                                f"record's offset {marker} (records of 3/4 of internal.segment.bytes=256 KiB roll)")

    # (the cleaner may well have started while the records were produced)
    recs = _wait_cleaned(ctx, broker, topic, exp, "one record per key (the newest) after cleaning", timeout=120)
    after = _disk_bytes(broker, topic, CMP_PARTITIONS)
    wm = ck.watermarks(ctx, topic)
    hws = {p: hi for p, (_, hi) in wm.items()}
    data = [r for r in recs if not _is_roll(r.key)]
    check(len(data) == CMP_KEYS, f"{len(data)} data records after cleaning, expected {CMP_KEYS}")
    check(len(recs) < sum(hws.values()) - sum(lo for lo, _ in wm.values()),
          "no offset gaps after cleaning")
    log(f"cleaned: {before} -> {after} bytes on disk, {len(recs)} records, watermarks {wm}")

    # the same through kafka-python and kafkajs
    problems = []
    kp = get_client("kafka-python").read_all(ctx, topic)
    problems += _all_problems(kp, exp, "kafka-python")
    kp_view = sorted((r.partition, r.offset, r.value) for r in kp)
    ck_view = sorted((r.partition, r.offset, r.value) for r in recs)
    if kp_view != ck_view and not problems:
        problems.append(f"kafka-python read {len(kp_view)} records, confluent-kafka {len(ck_view)}: different views")
    js = _read_kafkajs(ctx, topic, hws)
    problems += _all_problems(js, exp, "kafkajs (group consumer)")
    js_view = sorted((r.partition, r.offset, r.value) for r in js)
    if js_view != ck_view and not any(p.startswith("kafkajs") for p in problems):
        problems.append(f"kafkajs read {len(js_view)} records, confluent-kafka {len(ck_view)}: different views")
    check(not problems, "compacted topic read back:\n  - " + "\n  - ".join(problems))

    # -- tombstones ------------------------------------------------------------
    nudges = [0]
    seq = [CMP_RECORDS // CMP_KEYS]

    def nudge():
        # new values for 50 other keys and two roll records per partition: dirty
        # data, so that the cleaner runs again
        nudges[0] += 1
        s = seq[0]
        seq[0] += 1
        _produce_compacted(ctx, topic, [(_key(k), _cmp_value("n", k, s)) for k in range(900, 950)], exp, linger=0)
        _roll(ctx, topic, CMP_PARTITIONS, exp, f"nudge{nudges[0]}")

    # keys 0..99 with delete.retention.ms=1000 (topic config): after a later
    # cleaning pass (nudged if needed) they are gone entirely
    gone = frozenset(_key(k) for k in range(100))
    _produce_compacted(ctx, topic, [(k, None) for k in sorted(gone)], exp)
    _roll(ctx, topic, CMP_PARTITIONS, exp, "roll2")
    recs = _wait_cleaned(ctx, broker, topic, exp, "the 100 tombstoned keys to disappear entirely "
                                                  "(delete.retention.ms=1000)", gone=gone, timeout=120,
                         nudge=nudge)
    kp = get_client("kafka-python").read_all(ctx, topic)
    problems = _all_problems(kp, exp, "kafka-python (after the tombstones)", gone=gone)
    check(not problems, "compacted topic read back after the tombstones:\n  - " + "\n  - ".join(problems))
    data = [r for r in recs if not _is_roll(r.key)]
    check(len(data) == CMP_KEYS - len(gone), f"{len(data)} data records after the tombstones, "
                                             f"expected {CMP_KEYS - len(gone)}")

    # keys 100..149 with delete.retention.ms=3600000 (IncrementalAlterConfigs):
    # cleaning removes their older values but keeps the tombstones, also in a
    # later pass
    _alter_topic(ctx, topic, {"delete.retention.ms": "3600000"})
    kept = frozenset(_key(k) for k in range(100, 150))
    _produce_compacted(ctx, topic, [(k, None) for k in sorted(kept)], exp)
    _roll(ctx, topic, CMP_PARTITIONS, exp, "roll3")
    _wait_cleaned(ctx, broker, topic, exp, "the older values of 50 keys tombstoned with delete.retention.ms=3600000 "
                                           "to be cleaned (each key: only its tombstone)", gone=gone)
    nudge()
    recs = _wait_cleaned(ctx, broker, topic, exp, "a later cleaning pass (new values for 50 keys) with "
                                                  "delete.retention.ms=3600000", gone=gone)
    tombs = [r for r in recs if r.key in kept]
    check(len(tombs) == len(kept) and all(r.value is None for r in tombs),
          f"with delete.retention.ms=3600000 a later cleaning pass must keep the 50 tombstones: "
          f"{len(tombs)} records of those keys left, values {sorted({r.value for r in tombs}, key=str)[:3]}")
    kp = get_client("kafka-python").read_all(ctx, topic)
    problems = _all_problems(kp, exp, "kafka-python (tombstones kept)", gone=gone)
    check(not problems, "compacted topic with tombstones read back:\n  - " + "\n  - ".join(problems))

    # keys 150..199: tombstones whose CreateTime is 2 h old (> delete.retention.ms=1 h). Kafka keeps
    # a tombstone for delete.retention.ms after the cleaning that first sees it (KIP-534 delete
    # horizon = cleaning time + delete.retention.ms; before that: the segment's modification time),
    # whatever the record's timestamp: the cleaning that removes their older values keeps them.
    old_tombs = frozenset(_key(k) for k in range(150, 200))
    two_hours_ago = now_ms() - 7_200_000
    _produce_compacted(ctx, topic, [(k, None, two_hours_ago) for k in sorted(old_tombs)], exp)
    _roll(ctx, topic, CMP_PARTITIONS, exp, "roll4")
    recs = _wait_cleaned(ctx, broker, topic, exp, "the older values of 50 keys tombstoned with 2-hour-old "
                                                  "timestamps to be cleaned", gone=gone, maybe=old_tombs)
    tombs = [r for r in recs if r.key in old_tombs]
    late_problem = None
    if not (len(tombs) == len(old_tombs) and all(r.value is None for r in tombs)):
        late_problem = (
            f"tombstones with a CreateTime 2 h in the past (topic delete.retention.ms=3600000) were removed by the "
            f"very cleaning that removed their keys' older values: {len(tombs)} of {len(old_tombs)} left. Kafka "
            f"keeps a tombstone for delete.retention.ms after it is first cleaned (delete horizon = cleaning time + "
            f"delete.retention.ms), not relative to the record timestamp: consumers reading the log get that long "
            f"to see the delete")
    broker.stop()
    broker.check_verify_logs()
    check(late_problem is None, late_problem)
    return {"note": f"{CMP_RECORDS} records / {CMP_KEYS} keys -> {CMP_KEYS} records ({after} bytes on disk); "
                    f"{nudges[0]} later pass(es) nudged",
            "via": "produced with confluent-kafka; the cleaned log read back by confluent-kafka, kafka-python and "
                   "kafkajs (group consumer)"}


# ---------------------------------------------------------------------------
# compaction: codecs, headers, timestamps, idempotent producers, gaps, restart

CODECS_CMP = ("none", "gzip", "snappy", "lz4", "zstd", "lat")  # lat: uncompressed, LogAppendTime topic


def _rec_items(tag, n, nkeys, start, base_ts):
    """Keyed records with per-record headers and explicit timestamps."""
    out = []
    for i in range(start, start + n):
        k = i % nkeys
        out.append((_key(k), _cmp_value(tag, k, i // nkeys), base_ts + i,
                    [("seq", str(i).encode()), ("bin", bytes([0, 255, i % 256])), ("dup", b"a"), ("dup", b"b")]))
    return out


def _produce_with(p, topic, items, exp, errors):
    """Produce items [(key, value, ts, headers)] with an existing confluent
    producer ``p`` and wait for them."""
    cb = _producer_cb(exp, errors)
    deadline = time.monotonic() + 120
    for key, value, ts, headers in items:
        while True:
            try:
                p.produce(topic, key=key, value=value, timestamp=ts, headers=headers, on_delivery=cb)
                break
            except BufferError:
                p.poll(0.1)
                check(time.monotonic() < deadline, "producer queue never drained")
    left = p.flush(120)
    check(left == 0, f"{left} records of {topic} not acknowledged within 120s")


def _check_fields(recs, sent, reader, lat_window=None):
    """Survivors keep their key, headers and timestamp (with ``lat_window``
    (lo, hi): the topic is LogAppendTime, the timestamps must stay append
    times in that window, with the LogAppendTime type)."""
    bad = []
    reasons = set()
    for r in recs:
        if _is_roll(r.key) or r.value is None or r.value not in sent:
            continue  # (unknown records are reported by _analyse)
        k, v, ts, headers = sent[r.value]
        why = []
        if lat_window is not None:
            if r.ts_type not in ("logappend", None):
                why.append("LogAppendTime type lost")
            if not lat_window[0] <= r.timestamp <= lat_window[1]:
                why.append("append time replaced by another timestamp")
            ts = f"LogAppendTime in {lat_window}"
        else:
            if r.timestamp != ts or r.ts_type not in ("create", None):
                why.append("timestamp changed")
        if r.key != k:
            why.append("key changed")
        if list(r.headers) != headers:
            why.append("headers changed" if len(r.headers) == len(headers) else
                       "headers dropped (repeated header names collapsed?)" if len(r.headers) < len(headers) else
                       "headers added")
        if why:
            reasons.update(why)
            bad.append(f"p{r.partition}@{r.offset}: key {r.key!r} ts {r.timestamp} ({r.ts_type}) headers {r.headers} "
                       f"!= sent {k!r} {ts} {headers}")
    return [f"{reader}: {len(bad)} surviving records changed by the cleaner ({', '.join(sorted(reasons))}), "
            f"e.g. {bad[0]}"] if bad else []


def _first_after(ctx, client_name, topic, offset, timeout=30):
    """The first record a consumer assigned at ``offset`` (reset none/error) gets."""
    deadline = time.monotonic() + timeout
    if client_name == "confluent-kafka":
        import confluent_kafka as cklib
        c = get_client("confluent-kafka").consumer(ctx, {"auto.offset.reset": "error"})
        try:
            c.assign([cklib.TopicPartition(topic, 0, offset)])
            while time.monotonic() < deadline:
                for m in c.consume(1, timeout=0.5):
                    if m.error() is not None:
                        return f"error {m.error()}"
                    return m.offset()
        finally:
            c.close()
        return "nothing"
    from kafka import TopicPartition
    c = get_client("kafka-python").consumer(ctx, {"auto_offset_reset": "none"})
    tp = TopicPartition(topic, 0)
    try:
        c.assign([tp])
        c.seek(tp, offset)
        while time.monotonic() < deadline:
            try:
                for recs in c.poll(timeout_ms=500, max_records=1).values():
                    return recs[0].offset
            except Exception as e:  # noqa: BLE001
                return f"error {e!r}"
    finally:
        c.close()
    return "nothing"


def compaction_records(ctx):
    """What the cleaner must keep besides the newest value (private broker,
    log.cleaner.backoff.ms=300): one compacted topic per codec (none, gzip,
    snappy, lz4, zstd; internal.segment.bytes=64 KiB, dirty ratio 0.01) and an
    uncompressed LogAppendTime one, each written by an idempotent
    confluent-kafka producer (5,000 records over 200 keys, six headers with
    a repeated name and an explicit timestamp per record). Once cleaned
    (CRC-checked reads): one record per key, the newest, with its key,
    headers and timestamp unchanged (LogAppendTime topic: still the append
    time, type LogAppendTime); a consumer assigned at a removed offset
    (auto.offset.reset none/error; confluent-kafka and kafka-python) gets the
    next surviving record, no OFFSET_OUT_OF_RANGE. The same idempotent
    producers keep producing after the cleaning, and again after a broker
    restart (their state must survive the cleaning: no
    OUT_OF_ORDER_SEQUENCE / UNKNOWN_PRODUCER_ID failures, no duplicates);
    cleaned again, everything still holds. verify-logs after a clean stop."""
    broker = ctx.private_broker({"log.cleaner.backoff.ms": "300"})
    ck = get_client("confluent-kafka")
    base_ts = now_ms() - 3_600_000
    t_start = now_ms() - 1000
    topics, exps, producers, sent, errors = {}, {}, {}, {}, {}
    for codec in CODECS_CMP:
        t = ctx.topic(f"confluent.cmp-{codec}")
        extra = {"message.timestamp.type": "LogAppendTime"} if codec == "lat" else {}
        ck.create_topic(ctx, t, 1, configs={"cleanup.policy": "compact", "internal.segment.bytes": "65536",
                                            "min.cleanable.dirty.ratio": "0.01", **extra})
        topics[codec], exps[codec], errors[codec], sent[codec] = t, Expect(), [], {}
        producers[codec] = ck.producer(ctx, compression="none" if codec == "lat" else codec, idempotent=True,
                                       extra={"batch.size": BATCH_BYTES})
        items = _rec_items(codec, 5000, 200, 0, base_ts)
        sent[codec].update({v: (k, v, ts, h) for k, v, ts, h in items})
        _produce_with(producers[codec], t, items, exps[codec], errors[codec])
        check(not errors[codec], f"{codec}: delivery failures {errors[codec][:3]}")
        _roll(ctx, t, 1, exps[codec], f"{codec}-roll1", segment=65536)

    def verify_all(stage):
        problems = []
        for codec, t in topics.items():
            recs = _wait_cleaned(ctx, broker, t, exps[codec], f"{stage}: the {codec} topic to be cleaned",
                                 partitions=1, timeout=90)
            lat = (t_start, now_ms() + 1000) if codec == "lat" else None
            problems += _check_fields(recs, sent[codec], f"{codec} (confluent-kafka)", lat)
            kp = get_client("kafka-python").read_all(ctx, t)
            problems += _all_problems(kp, exps[codec], f"{codec} (kafka-python)")
            problems += _check_fields(kp, sent[codec], f"{codec} (kafka-python)", lat)
            # a removed offset in the middle of the cleaned log
            # a removed offset: the middle of the first gap (the log start stays 0, the
            # survivors of this data set are the newest round: the gap is at the front)
            offs = sorted(r.offset for r in recs)
            lo = ck.watermarks(ctx, t)[0][0]
            gaps = [(a, b) for a, b in zip([lo - 1] + offs, offs) if b > a + 1]
            if gaps:
                a, b = gaps[0]
                x = (a + 1 + b) // 2
                for name in ("confluent-kafka", "kafka-python"):
                    got = _first_after(ctx, name, t, x)
                    ok = got == b
                    if not ok:
                        # The cleaner keeps running: it may have removed `b` (e.g. an older
                        # roll record) since `recs` was read. Cleaning only removes, so what
                        # survived at the assigned read lies between `recs` and a read taken
                        # after it: `got` must be in `recs`, and no later survivor below it.
                        later = [r.offset for r in ck.read_all(ctx, t, timeout=90)]
                        ok = got in set(offs) and all(o >= got for o in later if o > x)
                    if not ok:
                        problems.append(f"{codec}: {name} assigned at the removed offset {x}: first record {got}, "
                                        f"expected {b} (the next surviving one)")
            else:
                problems.append(f"{codec}: no offset gaps after cleaning ({len(offs)} records from {lo})")
        log(f"{stage}: {len(problems)} problem(s)" + "".join(f"\n  - {p}" for p in problems))
        all_problems.extend(f"{stage}: {p}" for p in problems)

    all_problems = []
    verify_all("after the first cleaning")
    # the same idempotent producers continue (their sequence state must survive the cleaning)
    for codec, t in topics.items():
        items = _rec_items(codec, 1000, 200, 5000, base_ts)
        sent[codec].update({v: (k, v, ts, h) for k, v, ts, h in items})
        _produce_with(producers[codec], t, items, exps[codec], errors[codec])
        check(not errors[codec], f"{codec}: the idempotent producer failed after the cleaning: {errors[codec][:3]}")
        _roll(ctx, t, 1, exps[codec], f"{codec}-roll2", segment=65536)
    verify_all("after more records from the same idempotent producers")
    broker.restart()
    for codec, t in topics.items():
        items = _rec_items(codec, 1000, 200, 6000, base_ts)
        sent[codec].update({v: (k, v, ts, h) for k, v, ts, h in items})
        _produce_with(producers[codec], t, items, exps[codec], errors[codec])
        check(not errors[codec], f"{codec}: the idempotent producer failed after the cleaning and a broker restart: "
                                 f"{errors[codec][:3]}")
        _roll(ctx, t, 1, exps[codec], f"{codec}-roll3", segment=65536)
    verify_all("after a restart and more records from the same idempotent producers")
    for p in producers.values():
        p.flush(10)
    broker.stop()
    broker.check_verify_logs()
    # one line per distinct kind of problem first (the same problem repeats per codec, reader, stage)
    import re
    kinds = {}
    for p in all_problems:
        kinds.setdefault(re.sub(r"\d+|, e\.g\..*|^[^:]*: [^ ]+ \([^)]*\): ", "#", p), p)
    check(not all_problems, f"{len(all_problems)} problem(s), {len(kinds)} distinct:\n  - "
          + "\n  - ".join(list(kinds.values())[:8]) + ("\n  - ..." if len(kinds) > 8 else ""))
    return {"note": f"{len(topics)} topics", "via": "read back by confluent-kafka and kafka-python"}


# ---------------------------------------------------------------------------
# readers while the cleaner swaps segments


def compaction_live_read(ctx):
    """Consumers reading while the cleaner works (private broker,
    log.cleaner.backoff.ms=100): 3 rounds of 40,000 records over 1,000 keys
    appended under cleanup.policy=delete and rolled, then
    IncrementalAlterConfigs cleanup.policy=compact; meanwhile two
    confluent-kafka consumers (CRC checks on) read the whole partition from
    the beginning over and over. Every read, whenever it happens, must be
    consistent: no error, offsets strictly increasing, every record at the
    offset its producer was acknowledged for, every key's newest value
    present. They keep reading until the log is cleaned and twice more."""
    import threading
    broker = ctx.private_broker({"log.cleaner.backoff.ms": "100"})
    ck = get_client("confluent-kafka")
    topic = ctx.topic("confluent.compaction-live")
    ck.create_topic(ctx, topic, 1, configs={"cleanup.policy": "delete", "retention.ms": "-1",
                                            "internal.segment.bytes": str(CMP_SEGMENT), "min.cleanable.dirty.ratio": "0.01"})
    exp = Expect()
    stats = {"reads": 0, "records": 0}
    failures = []
    stop = threading.Event()
    lock = threading.Lock()

    def reader(i):
        while not stop.is_set() and not failures:
            with lock:
                newest = dict(exp.newest)
                acked = dict(exp.acked)
                tombs = set(exp.tombs)
            snap = Expect()
            snap.newest, snap.acked, snap.tombs = newest, acked, tombs
            try:
                recs = ck.read_all(ctx, topic, timeout=60)
            except Exception as e:  # noqa: BLE001
                failures.append(f"reader {i}: {str(e).splitlines()[0]}")
                return
            # records produced after the snapshot are not known yet: only check the known range
            known_end = max((o for _, o in acked.values()), default=-1)
            fatal, _ = _analyse([r for r in recs if r.offset <= known_end], snap, f"reader {i}")
            if fatal:
                failures.append("; ".join(fatal))
                return
            with lock:
                stats["reads"] += 1
                stats["records"] += len(recs)

    for round_ in range(3):
        if round_ > 0:
            _set_policy(ctx, topic, "delete")
        items = [(_key(i % CRASH_KEYS), _cmp_value(f"l{round_}", i % CRASH_KEYS, round_ * 40 + i // CRASH_KEYS))
                 for i in range(40_000)]
        tmp = Expect()
        _produce_compacted(ctx, topic, items, tmp)
        _roll(ctx, topic, 1, tmp, f"liveroll{round_}")
        with lock:
            for key, (value, p, o) in tmp.newest.items():
                exp.add(key, value, p, o)
            exp.acked.update(tmp.acked)
        threads = [threading.Thread(target=reader, args=(i,), daemon=True) for i in range(2)]
        for t in threads:
            t.start()
        _set_policy(ctx, topic, "compact")
        try:
            _wait_cleaned(ctx, broker, topic, exp, f"round {round_ + 1}: the cleaning", partitions=1, timeout=90)
            target = stats["reads"] + 4
            wait_until(lambda: stats["reads"] >= target or failures, 60, "two more reads per reader")
        finally:
            stop.set()
            for t in threads:
                t.join(90)
            stop.clear()
        check(not failures, f"round {round_ + 1}: a consumer reading while the cleaner worked got an inconsistent "
                            f"view:\n  - " + "\n  - ".join(failures[:4]))
        log(f"round {round_ + 1}: {stats}")
    broker.stop()
    broker.check_verify_logs()
    return f"{stats['reads']} full reads during cleaning"


# ---------------------------------------------------------------------------
# min.compaction.lag.ms / max.compaction.lag.ms


def compaction_lag(ctx):
    """The compaction lags (private broker, log.cleaner.backoff.ms=300).

    min.compaction.lag.ms=3600000: with cleanup.policy=delete (no cleaning),
    3 rounds over 100 keys with CreateTimes 2 h old (sealed into segments of
    their own by two roll records as old), then 3 rounds over the same keys
    with current CreateTimes, rolled; then cleanup.policy=compact
    (IncrementalAlterConfigs). The cleaner may only clean the old records (at
    least 1 h old): once they are down to one per key, every recent record
    must still be there (the newer values must not have been used to clean
    the older part either).

    max.compaction.lag.ms=2000 with min.cleanable.dirty.ratio=0.9: after a
    first cleaning, new values for 10 of 300 keys make a dirty part far
    below the ratio; the cleaner must clean it anyway once those records
    are 2 s old."""
    broker = ctx.private_broker({"log.cleaner.backoff.ms": "300"})
    ck = get_client("confluent-kafka")
    problems = []

    # -- min.compaction.lag.ms ---------------------------------------------------
    t1 = ctx.topic("confluent.min-lag")
    ck.create_topic(ctx, t1, 1, configs={"cleanup.policy": "delete", "retention.ms": "-1", "internal.segment.bytes": "16384",
                                         "min.cleanable.dirty.ratio": "0.01", "min.compaction.lag.ms": "3600000"})
    e1 = Expect()
    old_ts = now_ms() - 7_200_000
    old = [(_key(i % 100), _cmp_value("old", i % 100, i // 100), old_ts + i) for i in range(300)]
    _produce_compacted(ctx, t1, old, e1, linger=0)
    # old roll records (keys of their own) seal the old records into segments whose
    # largest timestamp is old: the lag goes by a segment's largest timestamp, and an old
    # record sharing a segment with recent ones could never be cleaned
    _roll(ctx, t1, 1, e1, "lag-seal", ts=old_ts + 400, segment=16384,
          keys=(ROLL_KEY + b"-seal-0", ROLL_KEY + b"-seal-1"))
    recent = [(_key(i % 100), _cmp_value("new", i % 100, i // 100)) for i in range(300)]
    _produce_compacted(ctx, t1, recent, e1, linger=0)
    _roll(ctx, t1, 1, e1, "lag-roll", segment=16384)
    _set_policy(ctx, t1, "compact")

    def old_cleaned():
        # done once no key has more than one old record (a cleaner that ignored the lag
        # would have removed them all: that ends the wait too, and is reported below)
        recs = ck.read_all(ctx, t1)
        per_key = defaultdict(int)
        for r in recs:
            if r.value and r.value.startswith(b"old|"):
                per_key[r.key] += 1
        return all(v <= 1 for v in per_key.values()), recs
    recs = _poll(old_cleaned, 60, "the records older than min.compaction.lag.ms to be cleaned", interval=1.0)
    old_left = [r for r in recs if r.value and r.value.startswith(b"old|")]
    new_left = [r for r in recs if r.value and r.value.startswith(b"new|")]
    if len(new_left) != 300:
        problems.append(f"min.compaction.lag.ms=3600000: only {len(new_left)} of the 300 recent records are left after "
                        f"the cleaning of the old ones (records younger than the lag must not be compacted)")
    newest_old = {}
    for k, v, _ in old:
        newest_old[k] = v
    want_old = sorted(newest_old.values())
    if sorted(r.value for r in old_left) != want_old:
        problems.append(f"min.compaction.lag.ms: the old part should keep exactly each key's newest old record "
                        f"(the recent records are not cleanable, so they must not remove older ones): "
                        f"{len(old_left)} old records left, expected {len(want_old)}")
    log(f"min lag: {len(old_left)} old and {len(new_left)} recent records left")

    # -- max.compaction.lag.ms ---------------------------------------------------
    t2 = ctx.topic("confluent.max-lag")
    ck.create_topic(ctx, t2, 1, configs={"cleanup.policy": "compact", "internal.segment.bytes": "16384",
                                         "min.cleanable.dirty.ratio": "0.9", "max.compaction.lag.ms": "2000"})
    e2 = Expect()
    pad = "x" * 1000
    base = [(_key(k), _cmp_value("base" + pad, k, 0)) for k in range(300)] + \
        [(_key(k), _cmp_value("base" + pad, k, 1)) for k in range(10)]
    _produce_compacted(ctx, t2, base, e2, linger=0)
    _roll(ctx, t2, 1, e2, "maxlag-roll1", segment=16384)
    _wait_cleaned(ctx, broker, t2, e2, "the first cleaning (a log that was never cleaned)", partitions=1, timeout=60)
    more = [(_key(k), _cmp_value("more", k, 2)) for k in range(10)]
    _produce_compacted(ctx, t2, more, e2, linger=0)
    _roll(ctx, t2, 1, e2, "maxlag-roll2", segment=16384)
    t0 = time.monotonic()
    try:
        _wait_cleaned(ctx, broker, t2, e2, "max.compaction.lag.ms=2000 to force the cleaning of a dirty part "
                                           "below min.cleanable.dirty.ratio=0.9", partitions=1, timeout=60)
        log(f"max lag: cleaned {time.monotonic() - t0:.1f}s after the roll")
    except CheckFailed as e:
        problems.append(str(e).splitlines()[0])
    broker.stop()
    broker.check_verify_logs()
    check(not problems, "compaction lags:\n  - " + "\n  - ".join(problems))
    return None


# ---------------------------------------------------------------------------
# the compacted internal topic __consumer_offsets


def _offsets_key(raw):
    """Decodes a __consumer_offsets record key: ("offset", group, topic,
    partition) for versions 0/1, ("group", group) for version 2, else None."""
    import struct
    if raw is None or len(raw) < 4:
        return None
    ver, n = struct.unpack_from(">hh", raw, 0)
    group = raw[4:4 + n].decode("utf-8", "replace")
    if ver in (0, 1):
        pos = 4 + n
        (tn,) = struct.unpack_from(">h", raw, pos)
        topic = raw[pos + 2:pos + 2 + tn].decode("utf-8", "replace")
        (part,) = struct.unpack_from(">i", raw, pos + 2 + tn)
        return ("offset", group, topic, part)
    if ver == 2:
        return ("group", group)
    return None


def compaction_offsets(ctx):
    """The cleaner on __consumer_offsets (private broker:
    offsets.topic.num.partitions=1, offsets.topic.segment.bytes=1 MiB, the
    smallest Kafka can create the topic with, log.cleaner.backoff.ms=200).
    Group A commits its offsets once early; group B commits 1,200 times (3
    partitions each time, each with 1 kB of commit metadata: several segments);
    group C commits 50 times and is deleted (DeleteGroups: tombstones). Once
    the cleaner has compacted the internal topic (read with a confluent-kafka
    consumer: at most one commit record per group/partition below the active
    segment), a clean restart and a SIGKILL restart must both load: A's
    early offsets, B's last offsets (1200), no offsets for the deleted C; B
    can commit again afterwards. verify-logs after a clean stop."""
    import confluent_kafka as cklib
    broker = ctx.private_broker({"offsets.topic.num.partitions": "1", "offsets.topic.segment.bytes": "1048576",
                                 "log.cleaner.backoff.ms": "200", **BROKER_GROUP_OVERRIDES})
    ck = get_client("confluent-kafka")
    topic = ctx.topic("confluent.offsets-compaction")
    ck.create_topic(ctx, topic, 3)
    tag = uuid.uuid4().hex[:8]
    ga, gb, gc = f"compat-cmp-a-{tag}", f"compat-cmp-b-{tag}", f"compat-cmp-c-{tag}"

    def committer(group):
        return ck.consumer(ctx, {"group.id": group})

    def commit(c, off):
        # 1 kB of metadata per offset (offset.metadata.max.bytes is 4096): 1,200 commits
        # fill several 1 MiB segments of __consumer_offsets
        commit_sync(c, [cklib.TopicPartition(topic, p, off, metadata="m" * 1000) for p in range(3)])

    def committed(group):
        c = committer(group)
        try:
            return [tp.offset for tp in c.committed([cklib.TopicPartition(topic, p) for p in range(3)], timeout=30)]
        finally:
            c.close()

    ca = committer(ga)
    commit(ca, 7)
    ca.close()
    cc = committer(gc)
    for i in range(1, 51):
        commit(cc, i)
    cc.close()
    admin = ck.admin(ctx)
    try:
        admin.delete_consumer_groups([gc], request_timeout=30)[gc].result(timeout=60)
    except Exception as e:  # noqa: BLE001
        raise CheckFailed(f"DeleteGroups({gc}): {e}") from None
    cb = committer(gb)
    for i in range(1, 1201):
        commit(cb, i)
    cb.close()
    check(committed(gb) == [1200] * 3 and committed(ga) == [7] * 3,
          f"committed offsets before cleaning: B {committed(gb)}, A {committed(ga)}")

    internal = "__consumer_offsets"

    def state():
        segs = _segments(broker, internal, 0)
        active = segs[-1][0]
        c = ck.consumer(ctx)
        counts = defaultdict(int)
        total = 0
        try:
            lo, hi = c.get_watermark_offsets(cklib.TopicPartition(internal, 0), timeout=15, cached=False)
            c.assign([cklib.TopicPartition(internal, 0, cklib.OFFSET_BEGINNING)])
            last = lo - 1
            deadline = time.monotonic() + 60
            while last < hi - 1:
                check(time.monotonic() < deadline, f"reading {internal}: stuck at {last} of {hi}")
                for m in c.consume(1000, timeout=0.5):
                    if m.error() is not None:
                        if m.error().code() == cklib.KafkaError._PARTITION_EOF:
                            continue
                        raise CheckFailed(f"reading {internal}: {m.error()}")
                    last = m.offset()
                    total += 1
                    k = _offsets_key(m.key())
                    if k and k[0] == "offset" and k[1] == gb and m.offset() < active:
                        counts[k[3]] += 1
        finally:
            c.close()
        return (len(counts) > 0 and all(v <= 1 for v in counts.values())), \
            {"B commit records below the active segment": dict(counts), "records": total, "segments": len(segs),
             "watermarks": (lo, hi)}
    st = _poll(state, 90, f"the cleaner to compact {internal} (at most one commit record per partition of "
                          f"group B below the active segment)", interval=1.0)
    log(f"{internal} cleaned: {st}")

    def verify(label):
        problems = []
        got = committed(gb)
        if got != [1200] * 3:
            problems.append(f"group B committed offsets {got}, expected [1200, 1200, 1200] (its last commits)")
        got = committed(ga)
        if got != [7] * 3:
            problems.append(f"group A committed offsets {got}, expected [7, 7, 7] (committed once, before the "
                            f"1,200 commits of group B)")
        got = committed(gc)
        if any(o >= 0 for o in got):
            problems.append(f"deleted group C has committed offsets {got} again")
        groups = {g.group_id for g in admin.list_consumer_groups(request_timeout=30).result(timeout=60).valid}
        if gc in groups:
            problems.append(f"deleted group C is listed again: {sorted(groups)}")
        check(not problems, f"after {label} (with {internal} compacted):\n  - " + "\n  - ".join(problems))

    broker.restart()
    admin = ck.admin(ctx)
    verify("a clean restart")
    cb = committer(gb)
    commit(cb, 1201)
    cb.close()
    check(committed(gb) == [1201] * 3, f"group B commit after the restart: {committed(gb)}")
    broker.kill()
    broker.start()
    admin = ck.admin(ctx)
    cb = committer(gb)
    commit(cb, 1200)
    cb.close()
    verify("a SIGKILL and restart")
    broker.stop()
    broker.check_verify_logs()
    return f"{internal}: {st['records']} records in {st['segments']} segments after cleaning"


# ---------------------------------------------------------------------------
# compact,delete


def compaction_delete(ctx):
    """cleanup.policy=compact,delete (private broker, cleaner backoff and
    retention check 500 ms; retention.ms=10 min, internal.segment.bytes=64 KiB):
    records without a key are refused (INVALID_RECORD, confluent-kafka and
    kafkajs); 1,000 records an hour old with keys 0..999, rolled: retention
    deletes all their segments, the active one too (log start offset = high
    watermark); then 1,000 recent
    records over keys 100..299, rolled: the log start offset ends at the
    first recent record, keys 0..99 and 300..999 are gone, keys 100..299 are compacted to
    exactly their newest record (confluent-kafka and kafka-python reads), and
    ListOffsets by timestamp (both clients) answers with the first surviving
    record at or after the time (the time of a removed record maps to a later
    survivor). verify-logs after a clean stop."""
    broker = ctx.private_broker({"log.cleaner.backoff.ms": "500", "log.retention.check.interval.ms": "500"})
    ck = get_client("confluent-kafka")
    topic = ctx.topic("confluent.compact-delete")
    ck.create_topic(ctx, topic, 1, configs={
        "cleanup.policy": "compact,delete", "retention.ms": "600000", "internal.segment.bytes": "65536",
        "min.cleanable.dirty.ratio": "0.01"})
    from scenarios.semantics import _produce_one
    problems = []
    err, _ = _produce_one(ctx, "confluent-kafka", topic, Msg(key=None, value=b"no key"))
    if err is None or "invalidrecord" not in err.lower().replace("_", "").replace(" ", ""):
        problems.append(f"confluent-kafka: record without a key to a compact,delete topic: {err or 'accepted'}, "
                        f"expected INVALID_RECORD")
    err = _kafkajs_keyless(ctx, topic)
    if err is None or "INVALID_RECORD" not in err:
        problems.append(f"kafkajs: record without a key to a compact,delete topic: {err or 'accepted'}, "
                        f"expected INVALID_RECORD")
    check(not problems, "\n  - ".join(problems))
    lo0, hi0 = ck.watermarks(ctx, topic)[0]
    check((lo0, hi0) == (0, 0), f"refused keyless records took offsets: watermarks {(lo0, hi0)}")

    exp = Expect()
    old_ts = now_ms() - 3_600_000
    # The old records, roll records included, all have keys of their own: a segment the
    # cleaner empties is aged by its file's time (Kafka's largestTimestamp), so an old
    # record superseded by another old one would race the cleaner against retention.
    old = [(_key(i), _cmp_value("old", i, 0), old_ts + i) for i in range(1000)]
    _produce_compacted(ctx, topic, old, exp)
    _roll(ctx, topic, 1, exp, "oldroll", ts=old_ts + 2000, segment=65536, keys=(ROLL_KEY + b"-old-0", ROLL_KEY + b"-old-1"))
    hi_old = ck.watermarks(ctx, topic)[0][1]
    # everything is an hour old: every segment goes, the active one (the second roll
    # record) too, after Kafka's roll of a new, empty one
    st = _poll(lambda: ((w := ck.watermarks(ctx, topic)[0])[0] == hi_old, {"watermarks": w,
                                                                           "segments": _segments(broker, topic, 0)}),
               45, f"retention to delete every hour-old segment, the active one too (log start {hi_old})")
    log(f"after retention of the old records: {st}")
    first_recent = hi_old
    new_ts = now_ms() - 60_000
    recent = [(_key(100 + i % 200), _cmp_value("new", 100 + i % 200, i // 200), new_ts + 10 * i) for i in range(1000)]
    _produce_compacted(ctx, topic, recent, exp)
    _roll(ctx, topic, 1, exp, "newroll", segment=65536)
    gone = frozenset(_key(k) for k in range(1000) if not 100 <= k < 300)

    def done():
        lo, hi = ck.watermarks(ctx, topic)[0]
        return lo == first_recent, {"watermarks": (lo, hi), "segments": _segments(broker, topic, 0)}
    st = _poll(done, 45, f"the log start to stay at the first recent record {first_recent}")
    log(f"after retention: {st}")
    recs = _wait_cleaned(ctx, broker, topic, exp, "keys 100..299 compacted to their newest record, the other old keys gone",
                         partitions=1, gone=gone)
    check(all(r.offset >= first_recent for r in recs), f"records below the log start {first_recent} read: "
                                                       f"{[r.offset for r in recs if r.offset < first_recent][:5]}")
    kp = get_client("kafka-python").read_all(ctx, topic)
    problems = _all_problems(kp, exp, "kafka-python", gone=gone)
    check(not problems, "compact,delete topic read back:\n  - " + "\n  - ".join(problems))
    data = [r for r in recs if not _is_roll(r.key)]
    check(len(data) == 200, f"{len(data)} data records, expected 200 (keys 100..299)")
    lo, hi = ck.watermarks(ctx, topic)[0]
    check(lo == first_recent, f"log start offset {lo} after compaction, expected {first_recent} (compaction must "
                              f"not move it)")
    # ListOffsets by timestamp over the cleaned log: the first surviving record at or after the time
    # (the survivors are the last round, i = 800..999)
    surv = {exp.acked[v][1]: t for _, v, t in recent if exp.acked[v][1] in {r.offset for r in recs}}
    bad = []
    for label, q in (("a removed record's time", new_ts + 10 * 100), ("between removed records", new_ts + 10 * 500 + 3),
                     ("a surviving record's time", new_ts + 10 * 900), ("after it", new_ts + 10 * 900 + 1)):
        want = min((o for o, t in surv.items() if t >= q), default=-1)
        for name in ("confluent-kafka", "kafka-python"):
            got = get_client(name).offsets_for_time(ctx, topic, [0], q)[0]
            if got != want:
                bad.append(f"{name} ListOffsets by timestamp ({label}, new+{q - new_ts} ms): {got}, expected {want}")
    check(not bad, "ListOffsets by timestamp after compaction:\n  - " + "\n  - ".join(bad))
    broker.stop()
    broker.check_verify_logs()
    return {"note": f"log start {lo}, {len(recs)} records of {hi - lo} offsets",
            "via": "keyless records also produced with kafkajs; read back by confluent-kafka and kafka-python"}


def _kafkajs_keyless(ctx, topic):
    """Produce one record without a key with kafkajs: the error text, or None."""
    import base64
    from harness.clients.kafkajs import run_node
    try:
        run_node("produce", {"bootstrap": ctx.bootstrap, "topic": topic, "compression": "none",
                             "messages": [{"key": None, "value": base64.b64encode(b"no key").decode(), "headers": [],
                                           "timestamp": None}]}, timeout=60)
    except CheckFailed as e:
        return str(e).splitlines()[0]
    return None


# ---------------------------------------------------------------------------
# SIGKILL while cleaning

CRASH_KEYS = 1000
CRASH_ROUND_RECORDS = 60_000


def compaction_crash(ctx):
    """SIGKILL of the broker while the cleaner is (likely) working.

    Three rounds on a 1-partition topic (internal.segment.bytes=256 KiB, dirty ratio
    0.01, broker log.cleaner.backoff.ms=100): with cleanup.policy=delete
    (nothing is cleaned, infinite retention) 60,000 records over 1,000 keys
    are appended and rolled; then IncrementalAlterConfigs sets
    cleanup.policy=compact (takes effect at once) and the broker is
    SIGKILLed: round 1 at the first change seen in the partition directory,
    round 2 50 ms after it, round 3 250 ms after the alter. After each
    restart: no offset twice, every record at its acknowledged offset, every
    key's newest value present. Finally the cleaner finishes (one record per
    key) and, after a clean stop, verify-logs passes."""
    broker = ctx.private_broker({"log.cleaner.backoff.ms": "100"})
    ck = get_client("confluent-kafka")
    topic = ctx.topic("confluent.compaction-crash")
    ck.create_topic(ctx, topic, 1, configs={"cleanup.policy": "delete", "retention.ms": "-1",
                                            "internal.segment.bytes": str(CMP_SEGMENT), "min.cleanable.dirty.ratio": "0.01"})
    exp = Expect()
    notes = []
    for round_ in range(3):
        if round_ > 0:
            _set_policy(ctx, topic, "delete")
        base_seq = round_ * (CRASH_ROUND_RECORDS // CRASH_KEYS)
        items = [(_key(i % CRASH_KEYS), _cmp_value(f"c{round_}", i % CRASH_KEYS, base_seq + i // CRASH_KEYS))
                 for i in range(CRASH_ROUND_RECORDS)]
        _produce_compacted(ctx, topic, items, exp)
        _roll(ctx, topic, 1, exp, f"crashroll{round_}")
        before = _dir_state(broker, topic, 0)
        t_alter = time.monotonic()
        _set_policy(ctx, topic, "compact")
        # watch the partition directory for the cleaner's first visible step
        first_change = None
        while time.monotonic() - t_alter < 3.0:
            if _dir_state(broker, topic, 0) != before:
                first_change = time.monotonic()
                break
            time.sleep(0.002)
        if round_ == 0:
            kill_at = first_change or time.monotonic()
        elif round_ == 1:
            kill_at = (first_change or time.monotonic()) + 0.05
        else:
            kill_at = t_alter + 0.25
        while time.monotonic() < kill_at:
            time.sleep(0.002)
        at_kill = _dir_state(broker, topic, 0)
        broker.kill()
        changed = sorted(set(at_kill.items()) ^ set(before.items()))
        what = (f"round {round_ + 1}: SIGKILL {1000 * (time.monotonic() - t_alter):.0f} ms after the alter; "
                + (f"first change in the directory after {1000 * (first_change - t_alter):.0f} ms; "
                   if first_change else "no change in the directory seen before the kill; ")
                + f"{len(changed)} file entries differed at the kill, e.g. {changed[:4]}")
        log(what)
        notes.append(f"r{round_ + 1}: {'cleaning seen' if first_change else 'no cleaning seen'}")
        broker.start()
        recs = ck.read_all(ctx, topic, timeout=120)
        # keys not yet cleaned may have several records; everything else must hold
        problems, _ = _analyse(recs, exp, f"confluent-kafka after restart {round_ + 1}")
        check(not problems, f"{what}\nafter the restart:\n  - " + "\n  - ".join(problems))
        vals = [r.value for r in recs]
        check(len(vals) == len(set(vals)), f"round {round_ + 1}: {len(vals) - len(set(vals))} records "
                                           f"duplicated after the crash")
        log(f"round {round_ + 1}: {len(recs)} records after the restart, all newest values present")
    _wait_cleaned(ctx, broker, topic, exp, "the cleaner to finish after the crashes (one record per key)",
                  partitions=1, timeout=120)
    broker.stop()
    broker.check_verify_logs()
    return "; ".join(notes)


def _set_policy(ctx, topic, policy):
    _alter_topic(ctx, topic, {"cleanup.policy": policy})


def _alter_topic(ctx, topic, configs):
    """IncrementalAlterConfigs SET (confluent-kafka AdminClient)."""
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType
    a = get_client("confluent-kafka").admin(ctx)
    res = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[
        ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET) for k, v in configs.items()])
    try:
        a.incremental_alter_configs([res], request_timeout=30)[res].result(timeout=60)
    except Exception as e:  # noqa: BLE001
        raise CheckFailed(f"IncrementalAlterConfigs {configs} on {topic}: {e}") from None

"""Kafka semantics beyond the happy path, checked with confluent-kafka
(librdkafka) and kafka-python: broker-side limits and errors, acks=0,
fetch sizes, long polling, offset resets, nulls, large and concurrent writes."""

from __future__ import annotations

import os
import re
import threading
import time

from harness.clients import get_client
from harness.common import CheckFailed, Msg, check, log, make_messages, now_ms, verify_records, wait_until


def _norm(s):
    return re.sub(r"[^a-z]", "", str(s).lower())


# -- single-message produce returning the error (or None) -------------------

def _produce_one(ctx, client_name, topic, m: Msg, partition=None, acks="all"):
    if client_name == "confluent-kafka":
        import confluent_kafka as ck
        p = ck.Producer({"bootstrap.servers": ctx.bootstrap, "broker.address.family": "v4", "acks": acks,
                         "linger.ms": 0, "enable.idempotence": False, "message.timeout.ms": 30000,
                         "message.max.bytes": 1_000_000, "retries": 0})
        out = {}

        def cb(err, msg):
            out["err"] = None if err is None else f"{err.name()} {err.str()}"
            out["pos"] = (msg.partition(), msg.offset())
        kw = {} if partition is None else {"partition": partition}
        p.produce(topic, key=m.key, value=m.value, headers=m.headers or None, timestamp=m.timestamp or 0,
                  on_delivery=cb, **kw)
        check(p.flush(40) == 0, "message neither acknowledged nor failed within 40s")
        return out["err"], out.get("pos")
    if client_name == "kafka-python":
        from kafka import KafkaProducer
        p = KafkaProducer(bootstrap_servers=ctx.bootstrap, acks=acks, linger_ms=0,
                          enable_idempotence=False, retries=0, request_timeout_ms=30000)
        try:
            f = p.send(topic, key=m.key, value=m.value, headers=list(m.headers), timestamp_ms=m.timestamp,
                       partition=partition)
            try:
                md = f.get(timeout=40)
                return None, (md.partition, md.offset)
            except Exception as e:  # noqa: BLE001
                return f"{type(e).__name__} {e}", None
        finally:
            p.close(timeout=10)
    raise CheckFailed(f"no single-message producer for {client_name}")


def max_message_bytes(ctx, client_name):
    """Topic max.message.bytes=20000: a 50 kB record is refused with
    MESSAGE_TOO_LARGE and not stored; a 5 kB record is accepted."""
    client = get_client(client_name)
    topic = ctx.topic(f"{client_name}.maxbytes")
    client.create_topic(ctx, topic, 1, configs={"max.message.bytes": "20000"})
    err, _ = _produce_one(ctx, client_name, topic, Msg(key=b"big", value=os.urandom(50_000)))
    check(err is not None, "a 50,000-byte record was accepted by a topic with max.message.bytes=20000")
    check("toolarge" in _norm(err), f"50 kB record refused with {err!r}, expected MESSAGE_TOO_LARGE")
    err, pos = _produce_one(ctx, client_name, topic, Msg(key=b"small", value=b"s" * 5000))
    check(err is None, f"a 5,000-byte record was refused: {err}")
    check(pos == (0, 0), f"small record acknowledged at {pos}, expected partition 0 offset 0 "
                         f"(did the refused record take an offset?)")
    records = client.read_all(ctx, topic)
    check([(r.offset, r.key) for r in records] == [(0, b"small")],
          f"topic holds {[(r.offset, r.key, len(r.value or b'')) for r in records]}, expected only the small record")
    return None


def invalid_timestamp(ctx, client_name):
    """message.timestamp.after.max.ms / before.max.ms: records too far in the
    future or past are refused with INVALID_TIMESTAMP; a current one is accepted."""
    client = get_client(client_name)
    topic = ctx.topic(f"{client_name}.badts")
    client.create_topic(ctx, topic, 1, configs={"message.timestamp.after.max.ms": "60000",
                                               "message.timestamp.before.max.ms": "86400000"})
    for label, ts in (("1 hour in the future", now_ms() + 3_600_000), ("3 days in the past", now_ms() - 3 * 86_400_000)):
        err, _ = _produce_one(ctx, client_name, topic, Msg(key=b"k", value=label.encode(), timestamp=ts))
        check(err is not None, f"record with a timestamp {label} was accepted "
                               f"(topic limits: after.max.ms=60000, before.max.ms=86400000)")
        check("invalidtimestamp" in _norm(err), f"timestamp {label}: refused with {err!r}, expected INVALID_TIMESTAMP")
    ts = now_ms()
    err, pos = _produce_one(ctx, client_name, topic, Msg(key=b"k", value=b"now", timestamp=ts))
    check(err is None and pos == (0, 0), f"current-time record: error {err}, position {pos}, expected p0@0")
    records = client.read_all(ctx, topic)
    check([(r.offset, r.value, r.timestamp) for r in records] == [(0, b"now", ts)],
          f"topic holds {[(r.offset, r.value, r.timestamp) for r in records]}")
    return None


def acks0(ctx, client_name):
    """acks=0: the broker must not answer (a response would desynchronise
    the client's correlation ids); every record still arrives."""
    client = get_client(client_name)
    topic = ctx.topic(f"{client_name}.acks0")
    client.create_topic(ctx, topic, 3)
    msgs = make_messages(f"{client_name}-acks0", 3000, 60)
    if client_name == "confluent-kafka":
        import confluent_kafka as ck
        errors = []
        p = ck.Producer({"bootstrap.servers": ctx.bootstrap, "broker.address.family": "v4", "acks": 0,
                         "linger.ms": 5, "enable.idempotence": False,
                         "error_cb": lambda e: errors.append(str(e))})
        for m in msgs:
            p.produce(topic, key=m.key, value=m.value, headers=m.headers, timestamp=m.timestamp,
                      on_delivery=lambda err, _m: err and errors.append(str(err)))
            p.poll(0)
        check(p.flush(60) == 0, "acks=0 producer did not drain its queue")
        check(not errors, f"acks=0 producer errors: {errors[:3]}")
    else:
        from kafka import KafkaProducer
        p = KafkaProducer(bootstrap_servers=ctx.bootstrap, acks=0, linger_ms=5, enable_idempotence=False)
        futs = [p.send(topic, key=m.key, value=m.value, headers=list(m.headers), timestamp_ms=m.timestamp)
                for m in msgs]
        p.flush(60)
        errs = [f.exception for f in futs if f.failed()]
        p.close(timeout=10)
        check(not errs, f"acks=0 sends failed: {errs[:3]}")
    wait_until(lambda: sum(hi for _, hi in client.watermarks(ctx, topic).values()) >= len(msgs), 30,
               f"all {len(msgs)} acks=0 records to be appended")
    records = client.read_all(ctx, topic)
    verify_records(records, msgs, partitions=3, contiguous_from={0: 0, 1: 0, 2: 0})
    return None


def small_fetch(ctx, client_name):
    """Consumer fetch limits (max.partition.fetch.bytes / fetch.max.bytes
    of 1000 bytes) smaller than a record batch: the broker must still return
    the first whole batch so the consumer makes progress (KIP-74)."""
    client = get_client(client_name)
    topic = ctx.topic(f"{client_name}.smallfetch")
    client.create_topic(ctx, topic, 3)
    msgs = make_messages(f"{client_name}-sf", 1500, 30)
    for m in msgs:
        m.value = m.value + b"." * 900  # ~1 kB records, many per batch
    import confluent_kafka as cklib
    p = cklib.Producer({"bootstrap.servers": ctx.bootstrap, "broker.address.family": "v4", "acks": "all",
                        "linger.ms": 100, "batch.size": 1_000_000})
    for m in msgs:
        p.produce(topic, key=m.key, value=m.value, headers=m.headers, timestamp=m.timestamp)
    check(p.flush(60) == 0, "producer did not drain")
    if client_name == "confluent-kafka":
        extra = {"max.partition.fetch.bytes": 1000, "fetch.max.bytes": 1000, "message.max.bytes": 1000}
    else:
        extra = {"max_partition_fetch_bytes": 1000, "fetch_max_bytes": 1000}
    records = client.read_all(ctx, topic, extra=extra)
    verify_records(records, msgs, partitions=3, contiguous_from={0: 0, 1: 0, 2: 0})
    return {"via": "data produced with confluent-kafka in ~1 MB batches"}


def tail(ctx, client_name):
    """A consumer positioned at the end, with fetch.min.bytes=1MB and a
    300 ms max wait, receives records produced afterwards (long-poll fetch
    returns on max wait / new data) and none of the older ones."""
    client = get_client(client_name)
    ck = get_client("confluent-kafka")
    topic = ctx.topic(f"{client_name}.tail")
    client.create_topic(ctx, topic, 3)
    old = make_messages(f"{client_name}-old", 300, 30)
    ck.produce(ctx, topic, old)
    new = make_messages(f"{client_name}-new", 50, 30, start=300)
    got = []
    deadline = time.monotonic() + 45
    if client_name == "confluent-kafka":
        import confluent_kafka as cklib
        c = ck.consumer(ctx, {"fetch.min.bytes": 1_000_000, "fetch.wait.max.ms": 300})
        try:
            # the end offsets, explicitly: with OFFSET_END the client resolves
            # "end" asynchronously and new records could race ahead of it
            wm = ck.watermarks(ctx, topic, c)
            c.assign([cklib.TopicPartition(topic, p, hi) for p, (_, hi) in wm.items()])
            for _ in range(3):  # let the consumer start fetching (long polls on empty partitions)
                check(not c.consume(100, timeout=0.3), "consumer at the end offsets received old records")
            ck.produce(ctx, topic, new)
            while len(got) < len(new) and time.monotonic() < deadline:
                for m in c.consume(100, timeout=0.5):
                    if m.error() is None:
                        got.append(m.value())
        finally:
            c.close()
    else:
        from kafka import TopicPartition
        c = client.consumer(ctx, {"fetch_min_bytes": 1_000_000, "fetch_max_wait_ms": 300})
        try:
            tps = [TopicPartition(topic, p) for p in range(3)]
            c.assign(tps)
            c.seek_to_end(*tps)
            pos = {tp.partition: c.position(tp) for tp in tps}  # resolves the end offsets now
            log(f"kafka-python tail positions {pos}")
            ck.produce(ctx, topic, new)
            while len(got) < len(new) and time.monotonic() < deadline:
                for recs in c.poll(timeout_ms=500).values():
                    got.extend(r.value for r in recs)
        finally:
            c.close()
    exp = {m.value for m in new}
    olds = [v for v in got if v not in exp]
    check(not olds, f"tail consumer received {len(olds)} records produced before it started, e.g. {[v[:40] for v in olds[:2]]}")
    check(sorted(got) == sorted(exp), f"tail consumer received {len(got)} of the {len(new)} new records "
                                      f"within 45s (duplicates: {len(got) - len(set(got))})")
    return {"via": "data produced with confluent-kafka"} if client_name != "confluent-kafka" else None


def out_of_range(ctx, client_name):
    """Fetching beyond the log end: OFFSET_OUT_OF_RANGE, which the client
    resets to the earliest offset (reset=earliest) or reports (reset=none)."""
    client = get_client(client_name)
    ck = get_client("confluent-kafka")
    topic = ctx.topic(f"{client_name}.oor")
    client.create_topic(ctx, topic, 1)
    msgs = make_messages(f"{client_name}-oor", 50, 5)
    ck.produce(ctx, topic, msgs)
    if client_name == "confluent-kafka":
        import confluent_kafka as cklib
        c = ck.consumer(ctx, {"auto.offset.reset": "earliest"})
        got = []
        try:
            c.assign([cklib.TopicPartition(topic, 0, 5000)])
            deadline = time.monotonic() + 30
            while len(got) < 50 and time.monotonic() < deadline:
                for m in c.consume(100, timeout=0.5):
                    check(m.error() is None, f"consumer error with reset=earliest: {m.error()}")
                    got.append(m.offset())
        finally:
            c.close()
        check(got == list(range(50)), f"after an out-of-range fetch with reset=earliest, read offsets "
                                      f"{got[:5]}..{got[-3:] if got else ''} ({len(got)}), expected 0..49")
        c = ck.consumer(ctx, {"auto.offset.reset": "error"})
        err = None
        try:
            c.assign([cklib.TopicPartition(topic, 0, 5000)])
            deadline = time.monotonic() + 30
            while err is None and time.monotonic() < deadline:
                for m in c.consume(10, timeout=0.5):
                    check(m.error() is not None, f"read offset {m.offset()} although 5000 is out of range")
                    err = m.error()
        finally:
            c.close()
        check(err is not None and "outofrange" in _norm(err.str()),
              f"reset=error: expected an 'offset out of range' error, got {err}")
    else:
        from kafka import TopicPartition
        c = client.consumer(ctx, {"auto_offset_reset": "earliest"})
        tp = TopicPartition(topic, 0)
        got = []
        try:
            c.assign([tp])
            c.seek(tp, 5000)
            deadline = time.monotonic() + 30
            while len(got) < 50 and time.monotonic() < deadline:
                for recs in c.poll(timeout_ms=500).values():
                    got.extend(r.offset for r in recs)
        finally:
            c.close()
        check(got == list(range(50)), f"after an out-of-range fetch with reset=earliest, read offsets "
                                      f"{got[:5]} ({len(got)}), expected 0..49")
        c = client.consumer(ctx, {"auto_offset_reset": "none"})
        err = None
        try:
            c.assign([tp])
            c.seek(tp, 5000)
            deadline = time.monotonic() + 30
            while err is None and time.monotonic() < deadline:
                try:
                    recs = c.poll(timeout_ms=500)
                    check(not any(recs.values()), "read records although offset 5000 is out of range")
                except CheckFailed:
                    raise
                except Exception as e:  # noqa: BLE001
                    err = e
        finally:
            c.close()
        check(err is not None and "outofrange" in _norm(type(err).__name__ + str(err)),
              f"auto_offset_reset=none: expected OffsetOutOfRangeError, got {err!r}")
    return {"via": "data produced with confluent-kafka"} if client_name != "confluent-kafka" else None


def nulls(ctx, client_name):
    """Null vs empty keys, values (tombstones) and header values survive."""
    client = get_client(client_name)
    topic = ctx.topic(f"{client_name}.nulls")
    client.create_topic(ctx, topic, 1)
    cases = [Msg(None, b"null-key", []), Msg(b"tombstone", None, []), Msg(b"", b"", []),
             Msg(b"k-empty", b"", [("h", b"")])]
    if client_name == "kafka-python":
        note = ("kafka-python cannot send a null header value nor a record with both key and value "
                "null (client-side checks); those cases are not sent")
    else:
        note = None
        cases += [Msg(b"k-null-hdr", b"v", [("h", None), ("g", b"")]), Msg(None, None, [])]
    for i, m in enumerate(cases):
        m.timestamp = now_ms() - 1000 + i
        err, pos = _produce_one(ctx, client_name, topic, m, partition=0)
        check(err is None, f"case {i} ({m}): produce failed: {err}")
        check(pos == (0, i), f"case {i}: acknowledged at {pos}, expected p0@{i}")
    records = client.read_all(ctx, topic)
    got = [(r.key, r.value, r.headers, r.timestamp) for r in records]
    exp = [(m.key, m.value, m.headers, m.timestamp) for m in cases]
    bad = [(i, g, e) for i, (g, e) in enumerate(zip(got, exp)) if g != e]
    check(len(got) == len(exp) and not bad, f"read back {len(got)} records; mismatches (index, got, sent): {bad}")
    return note


def large_messages(ctx, client_name):
    """Records of ~900 kB (incompressible) under the default 1 MB limit."""
    client = get_client(client_name)
    topic = ctx.topic(f"{client_name}.large")
    client.create_topic(ctx, topic, 1)
    msgs = [Msg(key=f"big-{i}".encode(), value=f"{i:04d}".encode() + os.urandom(900_000), headers=[("i", b"%d" % i)],
                timestamp=now_ms() - 60_000 + i) for i in range(12)]
    delivered = {}
    for m in msgs:
        err, pos = _produce_one(ctx, client_name, topic, m)
        check(err is None, f"{len(m.value)}-byte record refused: {err}")
        delivered[m.value] = pos
    records = client.read_all(ctx, topic)
    verify_records(records, msgs, partitions=1, contiguous_from={0: 0}, delivered=delivered)
    return None


def concurrent_producers(ctx):
    """4 confluent-kafka producers and 1 kafka-python producer write the same
    3 partitions at once: nothing lost or duplicated, per-producer key order
    kept, offsets contiguous, every acknowledgement at the right place."""
    ck = get_client("confluent-kafka")
    kp = get_client("kafka-python")
    topic = ctx.topic("confluent.concurrent")
    ck.create_topic(ctx, topic, 3)
    plans = []
    for n in range(5):
        ms = make_messages(f"prod{n}", 3000, 30)
        for m in ms:
            m.key = f"p{n}-".encode() + m.key
        plans.append((kp if n == 4 else ck, ms))
    results: list = [None] * len(plans)

    def work(i, client, ms):
        try:
            results[i] = client.produce(ctx, topic, ms)
        except BaseException as e:  # noqa: BLE001
            results[i] = e
    threads = [threading.Thread(target=work, args=(i, c, ms), daemon=True) for i, (c, ms) in enumerate(plans)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(150)
    check(not any(t.is_alive() for t in threads), "a producer thread did not finish within 150s")
    for i, r in enumerate(results):
        if isinstance(r, BaseException):
            raise CheckFailed(f"producer {i} failed: {r}")
    delivered = {}
    for r in results:
        delivered.update(r)
    sent = [m for _, ms in plans for m in ms]
    records = ck.read_all(ctx, topic)
    verify_records(records, sent, partitions=3, contiguous_from={0: 0, 1: 0, 2: 0}, delivered=delivered)
    return {"via": "4 confluent-kafka producers + 1 kafka-python producer, read with confluent-kafka"}


def live_consume(ctx):
    """A consumer reads while 2 confluent-kafka producers and 1 kafka-python
    producer append (plain and compressed, ~8 MB, 1 MiB segments so the log
    rolls under the reader): it must never see a torn or
    corrupt batch (CRCs checked), a gap or a duplicate, and ends with
    exactly what was acknowledged."""
    import confluent_kafka as cklib
    ck = get_client("confluent-kafka")
    kp = get_client("kafka-python")
    topic = ctx.topic("confluent.live")
    # 1 MiB segments (the smallest Kafka 4 accepts): the log rolls while read
    ck.create_topic(ctx, topic, 3, configs={"segment.bytes": "1048576"})
    plans = []
    for n, (client, codec) in enumerate([(ck, None), (ck, "lz4"), (kp, "gzip")]):
        ms = make_messages(f"live{n}", 6000, 30)
        for m in ms:
            m.key = f"w{n}-".encode() + m.key
            m.value += bytes(range(256)) * 2  # bulk that compresses poorly
        plans.append((client, codec, ms))
    results: list = [None] * len(plans)

    def work(i, client, codec, ms):
        try:
            out = {}
            for j in range(0, len(ms), 500):  # several produce calls: appends keep coming
                out.update(client.produce(ctx, topic, ms[j:j + 500], compression=codec))
            results[i] = out
        except BaseException as e:  # noqa: BLE001
            results[i] = e

    c = ck.consumer(ctx, {"fetch.wait.max.ms": 50})
    records = []
    total = sum(len(ms) for _, _, ms in plans)
    try:
        c.assign([cklib.TopicPartition(topic, p, 0) for p in range(3)])
        threads = [threading.Thread(target=work, args=(i, cl, co, ms), daemon=True)
                   for i, (cl, co, ms) in enumerate(plans)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 150
        while len(records) < total and time.monotonic() < deadline:
            for m in c.consume(1000, timeout=0.2):
                err = m.error()
                if err is not None:
                    if err.code() == cklib.KafkaError._PARTITION_EOF:
                        continue
                    raise CheckFailed(f"consumer error while producers were writing: {err}")
                tstype, ts = m.timestamp()
                from harness.common import Record
                records.append(Record(m.partition(), m.offset(), m.key(), m.value(), list(m.headers() or []), ts,
                                      {cklib.TIMESTAMP_CREATE_TIME: "create"}.get(tstype, "other")))
            if any(isinstance(r, BaseException) for r in results):
                break
        for t in threads:
            t.join(60)
    finally:
        c.close()
    for i, r in enumerate(results):
        if isinstance(r, BaseException):
            raise CheckFailed(f"producer {i} failed: {r}")
        check(r is not None, f"producer {i} did not finish")
    delivered = {}
    for r in results:
        delivered.update(r)
    sent = [m for _, _, ms in plans for m in ms]
    verify_records(records, sent, partitions=3, contiguous_from={0: 0, 1: 0, 2: 0}, delivered=delivered)
    return {"via": "2 confluent-kafka + 1 kafka-python producers, consumed live with confluent-kafka"}


def pinned_versions(ctx, version):
    """kafka-python pinned to an older broker version (``api_version``): it
    then uses that version's request versions (e.g. 0.11: Produce v3, Fetch
    v4/5, ListOffsets v1/v2, Metadata v4), which riffle advertises. A
    produce + read round with headers and timestamps, watermarks, and
    ListOffsets by timestamp must all work with them."""
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    ver = tuple(int(x) for x in version.split("."))
    ck = get_client("confluent-kafka")
    topic = ctx.topic(f"kafka-python.api{version}")
    ck.create_topic(ctx, topic, 3)
    msgs = make_messages(f"kp-api{version}", 2000, 40)
    p = KafkaProducer(bootstrap_servers=ctx.bootstrap, api_version=ver, acks="all", linger_ms=5,
                      enable_idempotence=False)
    try:
        futs = [(m, p.send(topic, key=m.key, value=m.value, headers=list(m.headers), timestamp_ms=m.timestamp))
                for m in msgs]
        p.flush(60)
        delivered = {}
        for m, f in futs:
            md = f.get(timeout=5)
            delivered[m.value] = (md.partition, md.offset)
    finally:
        p.close(timeout=10)
    c = KafkaConsumer(bootstrap_servers=ctx.bootstrap, api_version=ver, group_id=None, enable_auto_commit=False,
                      auto_offset_reset="earliest", fetch_max_wait_ms=100)
    records = []
    try:
        tps = [TopicPartition(topic, q) for q in range(3)]
        c.assign(tps)
        c.seek_to_beginning(*tps)
        end = c.end_offsets(tps)
        beg = c.beginning_offsets(tps)
        check(all(beg[tp] == 0 for tp in tps) and sum(end.values()) == len(msgs),
              f"watermarks with api_version={version}: beginning {beg}, end {end}")
        deadline = time.monotonic() + 60
        while sum(1 for _ in records) < len(msgs) and time.monotonic() < deadline:
            for recs in c.poll(timeout_ms=500).values():
                from harness.common import Record
                records.extend(Record(r.partition, r.offset, r.key, r.value, list(r.headers or []), r.timestamp,
                                      {0: "create", 1: "logappend"}.get(r.timestamp_type)) for r in recs)
        verify_records(records, msgs, partitions=3, contiguous_from={0: 0, 1: 0, 2: 0}, delivered=delivered)
        mid = msgs[1000]
        part, off = delivered[mid.value]
        got = c.offsets_for_times({TopicPartition(topic, part): mid.timestamp})
        got_off = got[TopicPartition(topic, part)]
        check(got_off is not None and got_off.offset == off,
              f"offsets_for_times with api_version={version}: {got_off}, expected offset {off}")
    finally:
        c.close()
    return {"via": "topic created with confluent-kafka"}


def produce_validation(ctx, client_name):
    """Broker-side produce validation that Kafka does: a record without a
    key is refused by a compacted topic (INVALID_RECORD); a topic whose
    min.insync.replicas (2) exceeds its replica count (1) takes acks=all:
    Kafka's leader caps the min ISR at the replica count
    (kafka.cluster.Partition.effectiveMinIsr = min(min.insync.replicas,
    replicas)), both for the NOT_ENOUGH_REPLICAS check of appendRecordsToLeader
    and for advancing the high watermark, so the record is also readable;
    acks=1 works too; and (librdkafka, which lets any acks value through)
    acks=2 gives INVALID_REQUIRED_ACKS. (NOT_ENOUGH_REPLICAS itself, an ISR
    smaller than a reachable min.insync.replicas, is checked by the
    cluster-isr-shrink scenarios.)"""
    client = get_client(client_name)
    problems = []
    compacted = ctx.topic(f"{client_name}.compacted")
    client.create_topic(ctx, compacted, 1, configs={"cleanup.policy": "compact"})
    err, _ = _produce_one(ctx, client_name, compacted, Msg(key=None, value=b"no key"))
    if err is None or "invalidrecord" not in _norm(err):
        problems.append(f"null-key record to a compacted topic: {err or 'accepted'}, expected INVALID_RECORD")
    err, pos = _produce_one(ctx, client_name, compacted, Msg(key=b"k", value=b"keyed"))
    if err is not None:
        problems.append(f"keyed record to a compacted topic refused: {err}")

    isr = ctx.topic(f"{client_name}.minisr")
    client.create_topic(ctx, isr, 1, configs={"min.insync.replicas": "2"})
    err, pos = _produce_one(ctx, client_name, isr, Msg(key=b"k", value=b"acks=all"), acks="all")
    if err is not None:
        problems.append(f"acks=all with min.insync.replicas=2 > 1 replica refused: {err}; Kafka caps the "
                        f"min ISR at the replica count (min(2, 1) = 1 = the ISR), so it must be accepted")
    elif pos != (0, 0):
        problems.append(f"acks=all record acknowledged at {pos}, expected partition 0 offset 0")
    err, pos = _produce_one(ctx, client_name, isr, Msg(key=b"k", value=b"acks=1"), acks=1)
    if err is not None:
        problems.append(f"acks=1 with min.insync.replicas=2 > 1 replica refused: {err}")
    got = [(r.offset, r.value) for r in client.read_all(ctx, isr)]
    want = [(0, b"acks=all"), (1, b"acks=1")]
    if got != want:
        problems.append(f"topic with min.insync.replicas=2 > 1 replica holds {got}, expected {want} (the high "
                        f"watermark advances: the ISR is not under the effective min ISR)")
    if client_name == "confluent-kafka":
        err, _ = _produce_one(ctx, client_name, isr, Msg(key=b"k", value=b"acks=2"), acks=2)
        if err is None or "invalidrequiredacks" not in _norm(err):
            problems.append(f"acks=2: {err or 'accepted'}, expected INVALID_REQUIRED_ACKS")
    if problems:
        raise CheckFailed(f"{len(problems)} produce validation problem(s):\n  - " + "\n  - ".join(problems))
    return None

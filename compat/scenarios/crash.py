"""Crash test: SIGKILL the broker under a continuous confluent-kafka
producer; every acknowledged message must survive the restart."""

from __future__ import annotations

import time

from harness.clients import get_client
from harness.common import CheckFailed, Deliveries, check, log

KILLS = 3                    # SIGKILL + restart rounds
KILL_AFTER_ACKED = 30_000    # acknowledged messages before the kills (spread over the rounds)
IN_FLIGHT_AT_KILL = 3_000    # produced without waiting right before the kill
AFTER_RESTART = 3_000        # produced after the restart; all must be acked
SEGMENT_BYTES = 1024 * 1024  # small segments: the crash spans several rolls
PARTITIONS = 3


def _value(i):
    return f"crash|{i:08d}|".encode() + b"z" * (120 + i % 80)


def crash(ctx, idempotent=False, graceful=False):
    ck = get_client("confluent-kafka")
    broker = ctx.private_broker({"log.segment.bytes": str(SEGMENT_BYTES)})
    topic = ctx.topic("confluent.stop" if graceful else
                      "confluent.crash-idempotent" if idempotent else "confluent.crash")
    ck.create_topic(ctx, topic, PARTITIONS)

    deliveries = Deliveries()
    acked, failed = deliveries.acked, deliveries.failed

    p = ck.producer(ctx, idempotent=idempotent, extra={"linger.ms": 2, "message.timeout.ms": 90_000,
                                                      "retry.backoff.ms": 50})
    n = 0

    def produce_one():
        nonlocal n
        while True:
            try:
                p.produce(topic, key=f"k{n % 97}".encode(), value=_value(n), on_delivery=deliveries)
                n += 1
                break
            except BufferError:
                p.poll(0.05)
        p.poll(0)

    # KILLS rounds of: continuous production until enough is acknowledged,
    # a burst that is in flight, SIGKILL, more produce attempts while the
    # broker is down, restart on the same port and data dir
    acked_at_kill = []
    for round_ in range(1, KILLS + 1):
        target = len(acked) + KILL_AFTER_ACKED // KILLS
        deadline = time.monotonic() + 120
        while len(acked) < target:
            if time.monotonic() > deadline:
                raise CheckFailed(f"round {round_}: only {len(acked)} of {n} messages acknowledged after 120s; "
                                  f"failures: {deliveries.failures()}")
            produce_one()
            if n - len(acked) - len(failed) > 5_000:   # bound the backlog
                p.poll(0.01)
        for _ in range(IN_FLIGHT_AT_KILL):
            produce_one()
        acked_at_kill.append(len(acked))
        if graceful:
            broker.stop()  # SIGTERM with connections busy: must exit 0 within 30s
        else:
            broker.kill()
        log(f"round {round_}: {'SIGTERM' if graceful else 'SIGKILL'} with {len(acked)} acknowledged, "
            f"{n} produced, {len(failed)} failed")
        for _ in range(500):
            produce_one()
        broker.start()
    left = p.flush(120)
    check(left == 0, f"{left} messages neither acknowledged nor failed 120s after the last restart")
    log(f"after restart flush: {len(acked)} acknowledged, {len(failed)} failed of {n}")

    # phase 3: the restarted broker accepts appends
    failed_before = len(failed)
    acked_before = len(acked)
    for _ in range(AFTER_RESTART):
        produce_one()
    left = p.flush(120)
    check(left == 0, f"{left} post-restart messages not acknowledged within 120s")
    check(len(failed) == failed_before,
          f"{len(failed) - failed_before} messages produced after the restart failed: {deliveries.failures(since=failed_before)}")
    check(len(acked) == acked_before + AFTER_RESTART, "not all post-restart messages were acknowledged")

    records = ck.read_all(ctx, topic, timeout=120)
    at = {}
    dup_offsets = 0
    for r in records:
        if (r.partition, r.offset) in at:
            dup_offsets += 1
        at[(r.partition, r.offset)] = r.value
    check(dup_offsets == 0, f"{dup_offsets} offsets returned twice by the consumer")
    lost = [(v, po) for v, po in acked.items() if at.get(po) != v]
    if lost:
        v, po = lost[0]
        raise CheckFailed(f"{len(lost)} of {len(acked)} acknowledged messages are not at their acknowledged "
                          f"offset after the crash, e.g. {v[:16]!r} acked at p{po[0]}@{po[1]}, "
                          f"found {at.get(po, b'<nothing>')[:16]!r}")
    per_part = {}
    for (pp, o) in at:
        per_part.setdefault(pp, []).append(o)
    for pp, offs in per_part.items():
        offs.sort()
        check(offs == list(range(offs[0], offs[0] + len(offs))) and offs[0] == 0,
              f"partition {pp}: offsets after recovery are not contiguous from 0 "
              f"({len(offs)} records, max {offs[-1]})")
    values = [r.value for r in records]
    dups = len(values) - len(set(values))
    if idempotent:
        check(dups == 0, f"idempotent producer: {dups} duplicated messages in the log after the crash")
    unknown = [v for v in values if not v.startswith(b"crash|")]
    check(not unknown, f"{len(unknown)} records that were never produced")
    note = (f"{KILLS} {'SIGTERM stops' if graceful else 'kills'} (at {', '.join(map(str, acked_at_kill))} acked); {len(acked)} acked, {len(failed)} failed, "
            f"{len(records)} in log, {dups} duplicates")
    log(note)
    broker.stop()
    broker.check_verify_logs()
    return note


def crash_idempotent(ctx):
    return crash(ctx, idempotent=True)


def stop_under_load(ctx):
    """The crash test with SIGTERM instead of SIGKILL: a clean stop while
    a producer is busy must exit 0 in time and lose nothing acknowledged."""
    return crash(ctx, graceful=True)


def crash_admin(ctx):
    """SIGKILL right after CreateTopics / DeleteTopics / produce returned:
    after the restart, created topics exist with their partition counts and
    data, deleted topics stay deleted, and a deleted name can be re-created
    empty."""
    ck = get_client("confluent-kafka")
    broker = ctx.private_broker()
    from harness.common import make_messages, verify_records
    keep = {ctx.topic(f"keep{i}"): 1 + i for i in range(4)}
    gone = [ctx.topic(f"gone{i}") for i in range(2)]
    sent = {}
    for t, parts in list(keep.items()) + [(g, 2) for g in gone]:
        ck.create_topic(ctx, t, parts)
        sent[t] = make_messages(t, 200, 10)
        ck.produce(ctx, t, sent[t])
    for g in gone:
        ck.delete_topic(ctx, g)
    late = ctx.topic("created-just-before-kill")
    ck.create_topic(ctx, late, 2)
    broker.kill()  # no clean shutdown: everything acknowledged must be durable
    broker.start()
    md = ck.metadata(ctx, None)
    for t, parts in list(keep.items()) + [(late, 2)]:
        check(len(md["topics"].get(t, {})) == parts,
              f"after SIGKILL + restart, topic {t} has partitions {sorted(md['topics'].get(t, {}))}, expected {parts}")
    for g in gone:
        check(g not in md["topics"], f"topic {g}, deleted before the SIGKILL, is back after the restart")
    for t, parts in keep.items():
        recs = ck.read_all(ctx, t)
        verify_records(recs, sent[t], partitions=parts, contiguous_from={p: 0 for p in range(parts)},
                       ts_window=(0, 1 << 62))
    ck.create_topic(ctx, gone[0], 1)
    wm = ck.watermarks(ctx, gone[0])
    check(wm == {0: (0, 0)}, f"re-created {gone[0]} is not empty: {wm}")
    broker.stop()
    broker.check_verify_logs()
    return None


def _batches(path):
    """(position, length) of each complete record batch in a segment file."""
    import struct
    out = []
    with open(path, "rb") as f:
        data = f.read()
    pos = 0
    while pos + 12 <= len(data):
        _base, length = struct.unpack(">qi", data[pos:pos + 12])
        if length <= 0 or pos + 12 + length > len(data):
            break
        out.append((pos, 12 + length))
        pos += 12 + length
    return out, data


def torn_tail(ctx):
    """Crash recovery of a damaged log tail: after a SIGKILL the last segment
    gets (1) a batch with a bad CRC and (2) half a batch appended, as a crash
    mid-write can leave. On restart the broker must drop the damaged tail,
    keep every acknowledged record, continue at the right offset, and pass
    verify-logs."""
    import glob
    import os
    from harness.common import make_messages, verify_records
    ck = get_client("confluent-kafka")
    broker = ctx.private_broker()
    topic = ctx.topic("confluent.torn")
    ck.create_topic(ctx, topic, 1)
    msgs = make_messages("torn", 1000, 10)
    delivered = ck.produce(ctx, topic, msgs)
    broker.kill()
    pdir = os.path.join(broker.data_dir, f"{topic}-0")
    logs = sorted(glob.glob(os.path.join(pdir, "*.log")))
    check(logs, f"no segment files in {pdir} (riffle's log layout changed?)")
    seg = logs[-1]
    batches, data = _batches(seg)
    check(batches, f"no complete batch in {seg}")
    pos, length = batches[-1]
    last = bytearray(data[pos:pos + length])
    # (1) a copy of the last batch with its next offset and a corrupted record byte (CRC mismatch)
    import struct
    base = struct.unpack(">q", last[:8])[0]
    count = struct.unpack(">i", last[57:61])[0]
    bad = bytearray(last)
    bad[:8] = struct.pack(">q", base + count)
    bad[-3] ^= 0xFF
    # (2) half of another batch
    torn = bytes(last[: length // 2])
    with open(seg, "ab") as f:
        f.write(bytes(bad) + torn)
    log(f"appended a bad-CRC batch ({len(bad)} bytes) and {len(torn)} torn bytes to {seg}")
    broker.start()
    ck.wait_topic_ready(ctx, topic, 1)
    wm = ck.watermarks(ctx, topic)
    check(wm == {0: (0, 1000)}, f"after recovery watermarks are {wm}, expected {{0: (0, 1000)}}: "
                                f"the damaged tail was {'kept' if wm.get(0, (0, 0))[1] > 1000 else 'mishandled'}")
    records = ck.read_all(ctx, topic)
    verify_records(records, msgs, partitions=1, contiguous_from={0: 0}, delivered=delivered)
    more = make_messages("torn-more", 100, 10, start=1000)
    d2 = ck.produce(ctx, topic, more)
    check(sorted(o for _, o in d2.values()) == list(range(1000, 1100)),
          f"appends after recovery got offsets {sorted(o for _, o in d2.values())[:5]}..., expected 1000..1099")
    delivered.update(d2)
    records = ck.read_all(ctx, topic)
    verify_records(records, msgs + more, partitions=1, contiguous_from={0: 0}, delivered=delivered)
    broker.stop()
    broker.check_verify_logs()
    return None


def restart_time_index(ctx):
    """ListOffsets by timestamp (and MAX_TIMESTAMP) give the same answers
    before and after a clean restart, for segments holding one big batch
    (so no time-index entry was written for them), several small batches,
    and compressed batches (256 KiB segments)."""
    import confluent_kafka as cklib
    from confluent_kafka.admin import OffsetSpec
    from harness.common import make_messages, now_ms
    ck = get_client("confluent-kafka")
    broker = ctx.private_broker()
    topic = ctx.topic("confluent.timeindex")
    ck.create_topic(ctx, topic, 1, configs={"internal.segment.bytes": "262144"})
    base = now_ms() - 3_600_000
    msgs = make_messages("ti", 6000, 10, base_ts=base, ts_step=10)
    for m in msgs:
        m.value += b"." * 120
    # (a batch larger than the segment is refused: RECORD_LIST_TOO_LARGE)
    layouts = [(0, 3000, None, 200_000, 200),      # ~200 kB batches: one batch per segment
               (3000, 4500, None, 16_384, 5),      # many small batches per segment
               (4500, 6000, "gzip", 200_000, 200)]
    failed = []
    for lo, hi, codec, batch_size, linger in layouts:
        p = cklib.Producer({"bootstrap.servers": ctx.bootstrap, "broker.address.family": "v4", "acks": "all",
                            "compression.type": codec or "none", "batch.size": batch_size, "linger.ms": linger})
        for m in msgs[lo:hi]:
            p.produce(topic, key=m.key, value=m.value, headers=m.headers, timestamp=m.timestamp, partition=0,
                      on_delivery=lambda err, _m: err is not None and failed.append(str(err)))
        check(p.flush(60) == 0, "producer did not drain")
    check(not failed, f"{len(failed)} records not acknowledged, first {failed[:2]}")
    probes = [base - 1, base + 5, base + 5_000, base + 15_003, base + 29_990, base + 32_000, base + 40_005,
              base + 47_000, base + 55_555, base + 59_990, base + 60_000]
    expected = {q: next((i for i, m in enumerate(msgs) if m.timestamp >= q), -1) for q in probes}
    def answers():
        admin = ck.admin(ctx)  # a new client each time: no state from before the restart
        out = {q: ck.offsets_for_time(ctx, topic, [0], q)[0] for q in probes}
        tp = cklib.TopicPartition(topic, 0)
        r = admin.list_offsets({tp: OffsetSpec.max_timestamp()}, request_timeout=30)[tp].result(timeout=60)
        out["max_timestamp"] = (r.offset, r.timestamp)
        return out
    expected["max_timestamp"] = (5999, msgs[-1].timestamp)
    before = answers()
    broker.restart()
    ck.wait_topic_ready(ctx, topic, 1)
    after = answers()
    import os
    segs = len([f for f in os.listdir(os.path.join(broker.data_dir, f"{topic}-0")) if f.endswith(".log")])
    problems = [f"{'base%+d ms' % (q - base) if q != 'max_timestamp' else q}: expected {expected[q]}, "
                f"before restart {before[q]}, after {after[q]}"
                for q in expected if not (before[q] == after[q] == expected[q])]
    check(not problems, f"ListOffsets across a restart ({segs} segments of 256 KiB; records 0-2999 in "
                        f"~200 kB batches, 3000-4499 in small batches, 4500-5999 gzip):\n  - " + "\n  - ".join(problems))
    broker.stop()
    broker.check_verify_logs()
    return f"{segs} segments"


def restart_metadata(ctx):
    """What a restart must keep besides data: topic IDs (clients fetch by
    topic ID), the cluster ID, the broker id, partition counts, and topic
    configs given at creation, both as described (DescribeConfigs, topic
    source) and as applied (LogAppendTime, max.message.bytes). A deleted and
    re-created topic gets a new topic ID."""
    import confluent_kafka as cklib
    from confluent_kafka.admin import ConfigResource, ResourceType
    from harness.common import Msg, now_ms, wait_until
    ck = get_client("confluent-kafka")
    broker = ctx.private_broker()
    cfg = {"message.timestamp.type": "LogAppendTime", "max.message.bytes": "20000", "retention.ms": "987654321"}
    t_cfg = ctx.topic("restart.configs")
    t_plain = ctx.topic("restart.plain")
    t_again = ctx.topic("restart.recreated")
    ck.create_topic(ctx, t_cfg, 2, configs=cfg)
    ck.create_topic(ctx, t_plain, 5)
    ck.create_topic(ctx, t_again, 1)

    def ids(names):
        admin = ck.admin(ctx)
        fs = admin.describe_topics(cklib.TopicCollection(names), request_timeout=30)
        return {n: str(f.result(timeout=60).topic_id) for n, f in fs.items()}

    def described():
        admin = ck.admin(ctx)
        res = ConfigResource(ResourceType.TOPIC, t_cfg)
        entries = admin.describe_configs([res], request_timeout=30)[res].result(timeout=60)
        return {k: (entries[k].value, int(entries[k].source)) for k in cfg if k in entries}

    def behaviour():
        """(timestamp type of a new record, error for a 50 kB record)"""
        from scenarios.semantics import _produce_one
        t0 = now_ms()
        err, pos = _produce_one(ctx, "confluent-kafka", t_cfg, Msg(b"k", b"v", [], now_ms() - 3_600_000), partition=0)
        check(err is None, f"produce to {t_cfg}: {err}")
        recs = [x for x in ck.read_all(ctx, t_cfg) if x.offset == pos[1] and x.partition == 0]
        check(recs, "record just produced not readable")
        lat = recs[0].ts_type == "logappend" and recs[0].timestamp >= t0 - 1000
        big, _ = _produce_one(ctx, "confluent-kafka", t_cfg, Msg(b"k", b"x" * 50_000, []), partition=1)
        return {"LogAppendTime applied": lat, "50 kB refused": big is not None and "toolarge" in big.lower().replace("_", "")}

    md0 = ck.metadata(ctx, None)
    ids0 = ids([t_cfg, t_plain, t_again])
    desc0 = described()
    beh0 = behaviour()
    check(all(beh0.values()), f"topic configs not applied before the restart: {beh0}")
    check(len(set(ids0.values())) == 3 and all(v and not v.startswith("AAAAAAAAAAAAAAAAAAAAAA") for v in ids0.values()),
          f"topic ids before restart are not distinct non-zero UUIDs: {ids0}")

    broker.restart()
    ck.wait_topic_ready(ctx, t_plain, 5)
    md1 = ck.metadata(ctx, None)
    ids1 = ids([t_cfg, t_plain, t_again])
    desc1 = described()
    beh1 = behaviour()
    problems = []
    if ids1 != ids0:
        problems.append(f"topic ids changed across the restart: {ids0} -> {ids1}")
    if md1["cluster_id"] != md0["cluster_id"]:
        problems.append(f"cluster id changed: {md0['cluster_id']} -> {md1['cluster_id']}")
    if md1["brokers"] != md0["brokers"]:
        problems.append(f"brokers changed: {md0['brokers']} -> {md1['brokers']}")
    for t, n in ((t_cfg, 2), (t_plain, 5), (t_again, 1)):
        if len(md1["topics"].get(t, {})) != n:
            problems.append(f"{t}: {len(md1['topics'].get(t, {}))} partitions after restart, expected {n}")
    if desc1 != desc0 or any(desc1.get(k, (None,))[0] != v for k, v in cfg.items()):
        problems.append(f"described topic configs: before {desc0}, after {desc1}, created with {cfg}")
    if not all(beh1.values()):
        problems.append(f"topic configs no longer applied after the restart: {beh1}")
    # delete + re-create: a new topic id
    ck.delete_topic(ctx, t_again)
    wait_until(lambda: t_again not in ck.metadata(ctx, None)["topics"], 30, f"{t_again} deleted")
    ck.create_topic(ctx, t_again, 1)
    new_id = ids([t_again])[t_again]
    if new_id == ids0[t_again]:
        problems.append(f"re-created {t_again} kept its old topic id {new_id}")
    check(not problems, f"{len(problems)} problem(s) across a restart:\n  - " + "\n  - ".join(problems))
    broker.stop()
    broker.check_verify_logs()
    return None

"""Scenarios that run the same way for every client (through its adapter)."""

from __future__ import annotations

import uuid

from harness.clients import get_client
from harness.common import (CODEC_IDS, Skip, check, counts_by_partition, log, make_messages, now_ms,
                            stored_codecs, verify_records, wait_until)

N_MESSAGES = 10_000
N_KEYS = 200
PARTITIONS = 3


def _messages(client, tag, n, nkeys, start=0, run_id=None):
    if client.per_message_headers and client.explicit_timestamps:
        return make_messages(tag, n, nkeys, start=start)
    # kcat: one header set for the whole run, no explicit timestamps
    return make_messages(tag, n, nkeys, start=start, explicit_ts=client.explicit_timestamps,
                         per_message_headers=False,
                         constant_headers=[("src", tag.encode()), ("run", (run_id or "r").encode())])


def _via(client, *extra, reads=True):
    """Table footnote: which parts of a scenario another client did."""
    parts = [x for x in (client.admin_note, client.reader_note if reads else "", *extra) if x]
    return {"via": "; ".join(parts)} if parts else None


def _check_watermarks(client, ctx, topic, records, *, reader=None):
    """ListOffsets (earliest/latest) must agree with what was read."""
    wm = client.watermarks(ctx, topic)
    counts = counts_by_partition(records)
    check(sorted(wm) == list(range(PARTITIONS)), f"{client.name} ListOffsets partitions {sorted(wm)}")
    for p, (lo, hi) in wm.items():
        check(lo == 0, f"{client.name}: partition {p} log start offset {lo}, expected 0")
        check(hi == counts.get(p, 0),
              f"{client.name}: partition {p} high watermark {hi} but {counts.get(p, 0)} records were read")
    return wm


def _produce_and_verify(ctx, client, topic, msgs, *, compression=None, idempotent=False,
                        first_offsets=None, expect_all=None, window_from=None):
    t0 = now_ms()
    delivered = client.produce(ctx, topic, msgs, compression=compression, idempotent=idempotent)
    t1 = now_ms()
    log(f"{client.name} produced {len(msgs)} messages to {topic} in {t1 - t0} ms")
    allmsgs = expect_all if expect_all is not None else msgs
    records = client.read_all(ctx, topic)
    lo = (window_from if window_from is not None else t0) - 1000
    summary = verify_records(records, allmsgs, partitions=PARTITIONS, ts_window=(lo, t1 + 1000),
                             contiguous_from=first_offsets or {p: 0 for p in range(PARTITIONS)},
                             delivered=delivered, partition_send_order=idempotent)
    log(f"verified {summary}")
    return records, delivered, (t0, t1)


def _kcat_crosscheck(ctx, topic, records):
    """kcat can't tell the timestamp type: read with confluent as well and
    check the broker kept producer CreateTimes (same values, type create)."""
    ck = get_client("confluent-kafka")
    other = ck.read_all(ctx, topic)
    a = {(r.partition, r.offset): r for r in records}
    b = {(r.partition, r.offset): r for r in other}
    check(set(a) == set(b), f"kcat and confluent read different offsets ({len(a)} vs {len(b)})")
    for k, r in b.items():
        check(r.ts_type == "create", f"p{k[0]}@{k[1]}: timestamp type {r.ts_type}, expected CreateTime")
        check(r.timestamp == a[k].timestamp and r.value == a[k].value and r.headers == a[k].headers,
              f"p{k[0]}@{k[1]}: kcat and confluent disagree: {a[k]} vs {r}")


# ----------------------------------------------------------------------------
def roundtrip(ctx, client_name):
    """3 partitions, 10,000 keyed messages (200 keys) with headers and
    timestamps; read all back and check everything."""
    client = get_client(client_name)
    topic = ctx.topic(f"{client_name}.roundtrip")
    client.create_topic(ctx, topic, PARTITIONS)
    msgs = _messages(client, client_name, N_MESSAGES, N_KEYS, run_id=uuid.uuid4().hex[:8])
    records, _, _ = _produce_and_verify(ctx, client, topic, msgs)
    _check_watermarks(client, ctx, topic, records)
    if client_name == "kcat":
        _kcat_crosscheck(ctx, topic, records)
    return _via(client)


def restart(ctx, client_name):
    """roundtrip on a private broker, SIGTERM + restart on the same port and
    data dir, everything readable and identical; appends continue at the
    right offsets; verify-logs is clean after a final stop."""
    client = get_client(client_name)
    broker = ctx.private_broker()
    topic = ctx.topic(f"{client_name}.restart")
    # the smallest segments Kafka allows (segment.bytes at least 1 MiB); crash and
    # restart-time-index cover data across many segments
    client.create_topic(ctx, topic, PARTITIONS, configs={"segment.bytes": "1048576"})
    doomed = ctx.topic(f"{client_name}.deleted-before-restart")
    client.create_topic(ctx, doomed, PARTITIONS)
    client.produce(ctx, doomed, _messages(client, f"{client_name}-doomed", 200, 20, run_id="doomed"))
    client.delete_topic(ctx, doomed)
    wait_until(lambda: doomed not in client.metadata(ctx, doomed)["topics"], 30, f"{doomed} deleted")
    run_id = uuid.uuid4().hex[:8]
    msgs = _messages(client, client_name, N_MESSAGES, N_KEYS, run_id=run_id)
    before, _, (t_first, _) = _produce_and_verify(ctx, client, topic, msgs)
    wm_before = _check_watermarks(client, ctx, topic, before)

    broker.restart()
    md = wait_until(lambda: (lambda m: m if len(m["topics"].get(topic, {})) == PARTITIONS else None)(
        client.metadata(ctx, topic)), 60, f"{topic} back in {client_name} metadata after restart")
    check(doomed not in md["topics"], f"topic {doomed}, deleted before the restart, is back after it")
    after = client.read_all(ctx, topic)
    verify_records(after, msgs, partitions=PARTITIONS, contiguous_from={p: 0 for p in range(PARTITIONS)},
                   ts_window=(0, now_ms()))
    key = lambda r: (r.partition, r.offset)  # noqa: E731
    b = {key(r): r for r in before}
    a = {key(r): r for r in after}
    diff = [k for k in b if b[k] != a.get(k)]
    check(not diff, f"{len(diff)} records differ after restart, e.g. p{diff[0][0]}@{diff[0][1]}: "
                    f"before {b[diff[0]]} after {a.get(diff[0])}" if diff else "")
    wm_after = _check_watermarks(client, ctx, topic, after)
    check(wm_after == wm_before, f"watermarks changed across restart: {wm_before} -> {wm_after}")
    # fetching from the middle of each partition (offset index after restart)
    ck = get_client("confluent-kafka")
    for p, (_, hi) in wm_after.items():
        mid = hi // 2
        got = ck.read_from(ctx, topic, p, mid, 5)
        exp = [(r.offset, r.value) for r in sorted((r for r in before if r.partition == p and r.offset >= mid),
                                                   key=lambda r: r.offset)[:5]]
        check(got == exp, f"after restart, fetch from p{p}@{mid} returned offsets {[o for o, _ in got]}, "
                          f"expected {[o for o, _ in exp]} (or different values)")
    # (ListOffsets by timestamp across a restart: see crash.py restart_time_index)

    # appends after the restart continue where the log ended
    more = _messages(client, client_name, 600, N_KEYS, start=N_MESSAGES, run_id=run_id)
    firsts = {p: 0 for p in range(PARTITIONS)}
    records, delivered, _ = _produce_and_verify(ctx, client, topic, more, expect_all=msgs + more,
                                                first_offsets=firsts, window_from=t_first)
    if delivered:
        for v, (p, o) in delivered.items():
            check(o >= wm_before[p][1], f"message acknowledged at p{p}@{o} after restart, below the "
                                        f"pre-restart high watermark {wm_before[p][1]}")
    _check_watermarks(client, ctx, topic, records)
    broker.stop()
    broker.check_verify_logs()
    return _via(client)


def codec(ctx, client_name, codec_name):
    """One produce + read round with compression."""
    client = get_client(client_name)
    reason = client.codec_skip_reason(codec_name)
    if reason:
        raise Skip(reason)
    topic = ctx.topic(f"{client_name}.{codec_name}")
    client.create_topic(ctx, topic, PARTITIONS)
    msgs = _messages(client, f"{client_name}-{codec_name}", 3000, 60, run_id=codec_name)
    _produce_and_verify(ctx, client, topic, msgs, compression=codec_name)
    _check_stored_codec(ctx, client_name, topic, codec_name)
    if client_name == "kcat":
        # also through kcat's JSON envelope, which reports the timestamp type
        recs = client.read_all(ctx, topic, json_envelope=True)
        verify_records(recs, msgs, partitions=PARTITIONS, ts_window=(0, now_ms()),
                       contiguous_from={p: 0 for p in range(PARTITIONS)})
    return _via(client)


def _check_stored_codec(ctx, client_name, topic, codec_name):
    """Every batch the broker stored for ``topic`` carries ``codec_name``: a client
    that silently falls back to uncompressed batches (librdkafka before 2.10 does
    when the broker does not list Produce v0, KAFKA-18659) or a broker that
    rewrites batches shows here. Only with a broker whose files the suite sees."""
    dirs = ctx.data_dirs()
    if not dirs:
        return
    stored = wait_until(lambda: stored_codecs(dirs, topic) or None, 10, f"the segment files of {topic}")
    want = CODEC_IDS[codec_name]
    wrong = {p: c for p, c in stored.items() if set(c) != {want}}
    check(not wrong, f"{client_name} asked for {codec_name} (codec {want}); batches stored per partition "
                     f"{{partition: {{codec: batches}}}}: {wrong}")


def topic_compression(ctx, client_name):
    """A topic's ``compression.type`` decides how its batches are stored: batches in
    another codec are recompressed by the broker (each topic codec against a producer
    codec that differs from it, and ``uncompressed``); the records read back are
    exactly those sent; ``producer`` keeps each batch's own codec; the level keys
    are accepted and described."""
    client = get_client(client_name)
    if not ctx.data_dirs():
        raise Skip("needs the broker's segment files to see how batches are stored (a broker the suite runs)")
    checked = []
    for topic_codec, producer_codec in (("gzip", "zstd"), ("snappy", "none"), ("lz4", "gzip"),
                                        ("zstd", "lz4"), ("uncompressed", "snappy"), ("producer", "lz4")):
        if producer_codec != "none" and client.codec_skip_reason(producer_codec):
            producer_codec = "none" if topic_codec not in ("uncompressed", "producer") else "gzip"
            if producer_codec != "none" and client.codec_skip_reason(producer_codec):
                continue
        topic = ctx.topic(f"{client_name}.tc-{topic_codec}")
        configs = {"compression.type": topic_codec}
        if topic_codec == "zstd":
            configs["compression.zstd.level"] = "9"
        if topic_codec == "gzip":
            configs["compression.gzip.level"] = "1"
        client.create_topic(ctx, topic, PARTITIONS, configs=configs)
        msgs = _messages(client, f"{client_name}-tc-{topic_codec}", 600, 30, run_id=topic_codec)
        _produce_and_verify(ctx, client, topic, msgs,
                            compression=None if producer_codec == "none" else producer_codec)
        stored_as = producer_codec if topic_codec == "producer" else topic_codec
        _check_stored_codec(ctx, client_name, topic, "none" if stored_as == "uncompressed" else stored_as)
        if client_name != "kcat":  # kcat has no DescribeConfigs
            described = client.describe_topic_configs(ctx, topic)
            for k, v in configs.items():
                check(described.get(k, (None,))[0] == v, f"{topic}: {k} described as {described.get(k)}, set to {v}")
        checked.append(f"{producer_codec}->{topic_codec}")
    note = "producer->topic codec: " + ", ".join(checked)
    return {"note": note, **(_via(client) or {})}


def idempotent(ctx, client_name):
    """Idempotent producer, acks=all: every message exactly once, in order."""
    client = get_client(client_name)
    check(client.idempotence, f"{client_name} has no idempotent producer")
    topic = ctx.topic(f"{client_name}.idempotent")
    client.create_topic(ctx, topic, PARTITIONS)
    msgs = _messages(client, f"{client_name}-idem", N_MESSAGES, N_KEYS)
    records, _, _ = _produce_and_verify(ctx, client, topic, msgs, idempotent=True)
    _check_watermarks(client, ctx, topic, records)
    return _via(client)


def metadata(ctx, client_name):
    """The client lists the topic with 3 partitions and the broker(s) with
    id/host/port; cross-checked with confluent-kafka's view."""
    client = get_client(client_name)
    topic = ctx.topic(f"{client_name}.metadata")
    client.create_topic(ctx, topic, PARTITIONS)
    md = wait_until(lambda: (lambda m: m if len(m["topics"].get(topic, {})) == PARTITIONS else None)(
        client.metadata(ctx, topic)), 30, f"{topic} with {PARTITIONS} partitions in {client_name} metadata")
    brokers = md["brokers"]
    check(brokers, f"{client_name}: metadata lists no broker")
    ids = {b[0] for b in brokers}
    for bid, host, port in brokers:
        check(isinstance(bid, int) and bid >= 0, f"bad broker id {bid!r}")
        check(host and isinstance(host, str), f"broker {bid}: bad host {host!r}")
        check(isinstance(port, int) and 0 < port < 65536, f"broker {bid}: bad port {port!r}")
    expected = ctx.expected_broker_address()
    if expected is not None:
        check(len(brokers) == 1, f"{client_name}: expected exactly one broker, got {sorted(brokers)}")
        (_, host, port), = brokers
        check((host, port) == expected, f"{client_name}: broker advertised as {host}:{port}, "
                                        f"expected {expected[0]}:{expected[1]}")
    parts = md["topics"][topic]
    check(sorted(parts) == list(range(PARTITIONS)), f"{client_name}: partitions {sorted(parts)}")
    for p, leader in parts.items():
        check(leader in ids, f"{client_name}: partition {p} leader {leader} is not a listed broker {sorted(ids)}")

    if client_name != "confluent-kafka":
        ref = get_client("confluent-kafka").metadata(ctx, topic)
        check(ref["brokers"] == brokers, f"{client_name} brokers {sorted(brokers)} != confluent's {sorted(ref['brokers'])}")
        check(ref["topics"].get(topic) == parts, f"{client_name} partitions/leaders {parts} != confluent's "
                                                 f"{ref['topics'].get(topic)}")
    if md.get("cluster_id") is not None:
        check(isinstance(md["cluster_id"], str) and md["cluster_id"], f"bad cluster id {md['cluster_id']!r}")

    notes = []
    if hasattr(client, "describe_cluster"):
        dc = client.describe_cluster(ctx)
        check(dc["brokers"] == brokers, f"{client_name} describe_cluster brokers {sorted(dc['brokers'])} != "
                                        f"metadata brokers {sorted(brokers)}")
        if md.get("cluster_id") and dc.get("cluster_id"):
            check(dc["cluster_id"] == md["cluster_id"], f"cluster id differs: describe_cluster "
                                                        f"{dc['cluster_id']!r} vs metadata {md['cluster_id']!r}")
        notes.append("describe_cluster ok")
    if client_name == "kcat":
        text = client.metadata_text(ctx, topic)
        for bid, host, port in brokers:
            check(f"broker {bid} at {host}:{port}" in text, f"`kcat -L` does not list broker {bid} at "
                                                            f"{host}:{port}:\n{text}")
        check(f'topic "{topic}" with {PARTITIONS} partitions' in text,
              f"`kcat -L -t` does not list the topic with {PARTITIONS} partitions:\n{text}")
        notes.append("-L and -L -J")
    if "listed" in md:  # kafkajs admin.listTopics(), kafka-python admin.list_topics()
        check(topic in md["listed"], f"{client_name}'s list-topics call does not list {topic}")
    v = _via(client, reads=False) or {}
    return dict(v, note=", ".join(notes)) if notes else (v or None)


def list_offsets(ctx, client_name, compression=None):
    """ListOffsets: earliest, latest and by timestamp (exact, in between,
    before the first and after the last message). With ``compression`` the
    second half of the records is in compressed batches: the answer must
    still be the exact record inside the batch (as Kafka does), not the
    batch's base offset."""
    client = get_client(client_name)
    ck = get_client("confluent-kafka")
    topic = ctx.topic(f"{client_name}.offsets{'.' + compression if compression else ''}")
    client.create_topic(ctx, topic, PARTITIONS)
    base = now_ms() - 7_200_000
    msgs = make_messages(f"{client_name}-lo", 600, 30, base_ts=base, ts_step=10)
    # with compression: first half plain, second half in compressed batches
    delivered = ck.produce(ctx, topic, msgs[:300])
    delivered.update(ck.produce(ctx, topic, msgs[300:], compression=compression))
    by_part = {p: [] for p in range(PARTITIONS)}
    for m in msgs:
        p, o = delivered[m.value]
        by_part[p].append((o, m.timestamp))
    for p in by_part:
        by_part[p].sort()
    wm = client.watermarks(ctx, topic)
    for p in range(PARTITIONS):
        check(wm.get(p) == (0, len(by_part[p])), f"partition {p}: watermarks {wm.get(p)}, "
                                                 f"expected (0, {len(by_part[p])})")
    last_ts = base + 599 * 10
    queries = [base - 60_000, base, base + 5, base + 1237, base + 3000, base + 3003, base + 4505, base + 5550,
               last_ts, last_ts + 60_000]
    bad = []
    for q in queries:
        exp = {}
        for p, lst in by_part.items():
            exp[p] = next((o for o, ts in lst if ts >= q), -1)
            if exp[p] == -1 and client.time_past_end_is_high_watermark:
                exp[p] = len(lst)  # the client substitutes the high watermark for -1
        got = client.offsets_for_time(ctx, topic, list(range(PARTITIONS)), q)
        if got != exp:
            bad.append(f"timestamp base{q - base:+d} ms: got {got}, expected {exp}")
    if client_name == "confluent-kafka":
        # AdminClient.list_offsets: earliest / latest / max-timestamp (KIP-734)
        # and by timestamp, through the admin API's ListOffsets
        import confluent_kafka as cklib
        from confluent_kafka.admin import OffsetSpec
        admin = ck.admin(ctx)
        specs = {"earliest": OffsetSpec.earliest(), "latest": OffsetSpec.latest(),
                 "max_timestamp": OffsetSpec.max_timestamp(), "for_timestamp(base+3003)": OffsetSpec.for_timestamp(base + 3003)}
        for label, spec in specs.items():
            fs = admin.list_offsets({cklib.TopicPartition(topic, p): spec for p in range(PARTITIONS)},
                                    request_timeout=30)
            got = {}
            for tp, f in fs.items():
                r = f.result(timeout=60)
                got[tp.partition] = (r.offset, r.timestamp) if label == "max_timestamp" else r.offset
            exp = {}
            for p, lst in by_part.items():
                if label == "earliest":
                    exp[p] = 0
                elif label == "latest":
                    exp[p] = len(lst)
                elif label == "max_timestamp":
                    exp[p] = max(((ts, o) for o, ts in lst), key=lambda t: (t[0], -t[1]))[::-1]
                else:
                    exp[p] = next((o for o, ts in lst if ts >= base + 3003), -1)
            if got != exp:
                bad.append(f"AdminClient.list_offsets {label}: got {got}, expected {exp}")
    if hasattr(client, "list_offsets"):
        # the Java AdminClient's listOffsets: earliest / latest / max-timestamp (KIP-734)
        for spec in ("earliest", "latest", "max-timestamp"):
            got = client.list_offsets(ctx, topic, spec)
            for p, lst in by_part.items():
                if spec == "earliest":
                    exp = 0
                elif spec == "latest":
                    exp = len(lst)
                else:
                    exp = max(((ts, o) for o, ts in lst), key=lambda t: (t[0], -t[1]))[::-1]
                g = got.get(p)
                g = g if spec == "max-timestamp" else (g[0] if g else None)
                if g != exp:
                    bad.append(f"AdminClient.listOffsets {spec} partition {p}: got {g}, expected {exp}")
    layout = f"first 300 records in plain batches, the rest {compression}-compressed" if compression \
        else "plain batches"
    check(not bad, f"{client_name} ListOffsets ({layout}):\n  - " + "\n  - ".join(bad))
    return _via(client, "data produced with confluent-kafka" if client_name != "confluent-kafka" else "", reads=False)


def describe_configs(ctx, client_name):
    """CreateTopics with topic configs, then DescribeConfigs shows them."""
    client = get_client(client_name)
    topic = ctx.topic(f"{client_name}.configs")
    client.create_topic(ctx, topic, PARTITIONS, configs={"retention.ms": "123456789", "cleanup.policy": "delete"})
    cfg = client.describe_topic_configs(ctx, topic)
    check("retention.ms" in cfg, f"DescribeConfigs for {topic} has no retention.ms: {sorted(cfg)[:20]}")
    val, src = cfg["retention.ms"]
    check(val == "123456789", f"retention.ms = {val!r}, expected '123456789' (set at creation)")
    if src is not None:
        check("TOPIC" in str(src).upper() or str(src) == "1",  # 1 = DYNAMIC_TOPIC_CONFIG
              f"retention.ms source {src!r}, expected a topic-level (dynamic topic) config")
    check("cleanup.policy" in cfg and cfg["cleanup.policy"][0] == "delete",
          f"cleanup.policy: {cfg.get('cleanup.policy')}")
    check(len(cfg) >= 3, f"only {len(cfg)} topic configs described: {sorted(cfg)}")
    return f"{len(cfg)} configs"


def log_append_time(ctx, client_name):
    """Topic with message.timestamp.type=LogAppendTime: the broker replaces
    the producer's timestamps (sent an hour in the past) by its own clock,
    for plain and gzip batches, and consumers see the LogAppendTime type."""
    client = get_client(client_name)
    topic = ctx.topic(f"{client_name}.lat")
    client.create_topic(ctx, topic, PARTITIONS, configs={"message.timestamp.type": "LogAppendTime"})
    plain = _messages(client, f"{client_name}-lat", 1000, 40, run_id="lat")
    gz = _messages(client, f"{client_name}-latgz", 1000, 40, start=1000, run_id="latgz")
    t0 = now_ms()
    client.produce(ctx, topic, plain)
    client.produce(ctx, topic, gz, compression="gzip")
    t1 = now_ms()
    if client_name == "kcat":
        records = client.read_all(ctx, topic, json_envelope=True)  # -J shows the timestamp type
    else:
        records = client.read_all(ctx, topic)
    expected = []
    for m in plain + gz:  # compare everything but the timestamp
        expected.append(type(m)(key=m.key, value=m.value, headers=m.headers, timestamp=None))
    verify_records(records, expected, partitions=PARTITIONS, ts_window=(t0 - 1000, t1 + 1000),
                   contiguous_from={p: 0 for p in range(PARTITIONS)}, check_ts_type=False)
    types = {r.ts_type for r in records}
    if not client.ts_type_known:
        return {"note": f"{client_name} does not report timestamp types: only the timestamps were checked",
                **(_via(client) or {})}
    check(types == {"logappend"}, f"timestamp types read: {types}, expected only LogAppendTime")
    return _via(client)


def delete_topic(ctx, client_name):
    """DeleteTopics: the topic disappears from metadata; a topic re-created
    under the same name starts empty, at offset 0, with its new partition count."""
    client = get_client(client_name)
    topic = ctx.topic(f"{client_name}.delete")
    client.create_topic(ctx, topic, PARTITIONS)
    old = _messages(client, f"{client_name}-del", 300, 20, run_id="old")
    client.produce(ctx, topic, old)
    client.delete_topic(ctx, topic)
    wait_until(lambda: topic not in client.metadata(ctx, topic)["topics"], 30,
               f"{topic} to disappear from {client_name} metadata after DeleteTopics")
    ck = get_client("confluent-kafka")
    wait_until(lambda: topic not in ck.metadata(ctx, topic)["topics"], 30,
               f"{topic} to disappear from confluent metadata after DeleteTopics")
    # re-create under the same name, with a different partition count
    client.create_topic(ctx, topic, 2)
    new = _messages(client, f"{client_name}-del2", 100, 20, run_id="new")
    client.produce(ctx, topic, new)
    records = client.read_all(ctx, topic)
    verify_records(records, new, partitions=2, ts_window=(0, now_ms() + 1000),
                   contiguous_from={0: 0, 1: 0})
    wm = client.watermarks(ctx, topic)
    check(sorted(wm) == [0, 1], f"re-created topic has partitions {sorted(wm)}, expected [0, 1]")
    check(sum(hi for _, hi in wm.values()) == 100 and all(lo == 0 for lo, _ in wm.values()),
          f"re-created topic watermarks {wm}: old data survived the delete?")
    return _via(client)

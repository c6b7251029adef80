"""Admin API error paths and broker-level describes (confluent-kafka,
kafka-python), many partitions, broker settings (managed broker). Retention
and compaction: logpolicy.py; CreatePartitions, AlterConfigs, DeleteRecords:
topic_admin.py."""

from __future__ import annotations

import re

from harness.clients import get_client
from harness.common import CheckFailed, check, log, make_messages, now_ms, verify_records, wait_until


def _norm(s):
    return re.sub(r"[^a-z]", "", str(s).lower())


def _create_error(ctx, client_name, name, partitions, configs=None, replication_factor=1, validate_only=False):
    """CreateTopics expected to fail: returns the error text (or None), which
    starts with "[code]", the Kafka error code (-1 when the client gave none)."""
    if client_name == "confluent-kafka":
        import confluent_kafka as ck
        from confluent_kafka.admin import NewTopic
        a = get_client("confluent-kafka").admin(ctx)
        fs = a.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=replication_factor,
                                       config=configs or {})],
                             request_timeout=30, validate_only=validate_only)
        try:
            fs[name].result(timeout=60)
            return None
        except ck.KafkaException as e:
            err = e.args[0]
            return f"[{err.code()}] {err.name()} {err.str()}"
    from kafka import KafkaAdminClient
    a = KafkaAdminClient(bootstrap_servers=ctx.bootstrap, request_timeout_ms=30000)
    try:
        spec = {"num_partitions": partitions, "replication_factor": replication_factor}
        if configs:
            spec["configs"] = configs
        a.create_topics({name: spec}, timeout_ms=30000, validate_only=validate_only)
        return None
    except Exception as e:  # noqa: BLE001
        code = getattr(e, "errno", None)
        return f"[{code if isinstance(code, int) else -1}] {type(e).__name__} {e}"
    finally:
        a.close()


def _delete_error(ctx, client_name, name):
    if client_name == "confluent-kafka":
        import confluent_kafka as ck
        a = get_client("confluent-kafka").admin(ctx)
        fs = a.delete_topics([name], request_timeout=30)
        try:
            fs[name].result(timeout=60)
            return None
        except ck.KafkaException as e:
            err = e.args[0]
            return f"{err.name()} {err.str()}"
    from kafka import KafkaAdminClient
    a = KafkaAdminClient(bootstrap_servers=ctx.bootstrap, request_timeout_ms=30000)
    try:
        a.delete_topics([name], timeout_ms=30000)
        return None
    except Exception as e:  # noqa: BLE001
        return f"{type(e).__name__} {e}"
    finally:
        a.close()


def _topic_exists(ctx, name):
    """Metadata through a *consumer* handle: librdkafka consumers ask with
    allow_auto_topic_creation=false, so this must never create the topic."""
    ck = get_client("confluent-kafka")
    c = ck.consumer(ctx)
    try:
        t = c.list_topics(name, timeout=15).topics.get(name)
        if t is None:
            return False, "absent"
        return t.error is None, (str(t.error) if t.error is not None else f"{len(t.partitions)} partitions")
    finally:
        c.close()


def admin_errors(ctx, client_name):
    """CreateTopics/DeleteTopics error codes: TOPIC_ALREADY_EXISTS,
    INVALID_REPLICATION_FACTOR, INVALID_TOPIC_EXCEPTION (bad characters, '..', too long),
    INVALID_PARTITIONS, INVALID_CONFIG (unknown key, bad value),
    UNKNOWN_TOPIC_OR_PARTITION; validate_only creates nothing; and a Metadata
    request that does not allow auto-creation does not create the topic."""
    client = get_client(client_name)
    topic = ctx.topic(f"{client_name}.adminerr")
    client.create_topic(ctx, topic, 3)
    # Checked by error code: the clients name the codes differently (code 17,
    # INVALID_TOPIC_EXCEPTION, is librdkafka's TOPIC_EXCEPTION and kafka-python's
    # InvalidTopicError), and the message text is the broker's own.
    codes = {"TOPIC_ALREADY_EXISTS": 36, "INVALID_REPLICATION_FACTOR": 38, "INVALID_TOPIC_EXCEPTION": 17,
             "INVALID_PARTITIONS": 37, "INVALID_CONFIG": 40}
    cases = [
        ("existing topic", topic, 3, None, "TOPIC_ALREADY_EXISTS"),
        ("replication factor 3 on a 1-broker cluster" if ctx.managed else "replication factor 1000",
         ctx.topic("rf"), 1, {"__rf": 3 if ctx.managed else 1000}, "INVALID_REPLICATION_FACTOR"),
        ("name with '/' and '!'", f"{topic}/bad!", 1, None, "INVALID_TOPIC_EXCEPTION"),
        ("name '..'", "..", 1, None, "INVALID_TOPIC_EXCEPTION"),
        ("name of 250 characters", "t" * 250, 1, None, "INVALID_TOPIC_EXCEPTION"),
        ("0 partitions", ctx.topic("zero"), 0, None, "INVALID_PARTITIONS"),
        ("unknown config key", ctx.topic("badcfg"), 1, {"no.such.config": "1"}, "INVALID_CONFIG"),
        ("non-numeric retention.ms", ctx.topic("badval"), 1, {"retention.ms": "soon"}, "INVALID_CONFIG"),
    ]
    problems = []
    for label, name, parts, cfg, want in cases:
        cfg = dict(cfg or {})
        rf = cfg.pop("__rf", 1)
        err = _create_error(ctx, client_name, name, parts, cfg or None, replication_factor=rf)
        log(f"create {label}: {err}")
        if err is None:
            problems.append(f"CreateTopics with {label} succeeded, expected {want} ({codes[want]})")
        elif not err.startswith(f"[{codes[want]}] "):
            problems.append(f"CreateTopics with {label}: got {err!r}, expected {want} ({codes[want]})")
    # the failed creations must not have left topics behind
    for label, name, _, _, _ in cases[1:]:
        exists, how = _topic_exists(ctx, name)
        if exists:
            problems.append(f"CreateTopics with {label} failed but the topic exists ({how})")
    # validate_only: a valid request succeeds but creates nothing; an invalid one still fails
    vname = ctx.topic("validate-only")
    err = _create_error(ctx, client_name, vname, 2, validate_only=True)
    if err is not None:
        problems.append(f"CreateTopics validate_only for a valid topic failed: {err}")
    exists, how = _topic_exists(ctx, vname)
    if exists:
        problems.append(f"CreateTopics with validate_only=true created the topic ({how})")
    err = _create_error(ctx, client_name, ctx.topic("validate-bad"), 1, {"retention.ms": "soon"}, validate_only=True)
    if err is None or not err.startswith(f"[{codes['INVALID_CONFIG']}] "):
        problems.append(f"CreateTopics validate_only with a bad config: {err!r}, expected INVALID_CONFIG (40)")
    missing = ctx.topic("never-created")
    err = _delete_error(ctx, client_name, missing)
    if err is None or "unknowntopic" not in _norm(err):
        problems.append(f"DeleteTopics of a missing topic: got {err!r}, expected UNKNOWN_TOPIC_OR_PARTITION")
    exists, how = _topic_exists(ctx, missing)
    if exists:
        problems.append(f"a Metadata request with allow_auto_topic_creation=false created {missing} ({how})")
    elif "unknown" not in _norm(how) and how != "absent":
        problems.append(f"Metadata for a missing topic: {how}, expected UNKNOWN_TOPIC_OR_PARTITION")
    if problems:
        raise CheckFailed(f"{len(problems)} admin error-path problem(s):\n  - " + "\n  - ".join(problems))
    return None


def describe_broker_configs(ctx, client_name):
    """DescribeConfigs for the BROKER resource lists the broker's settings."""
    ck = get_client("confluent-kafka")
    md = ck.metadata(ctx, None)
    bid = sorted(md["brokers"])[0][0]
    if client_name == "confluent-kafka":
        from confluent_kafka.admin import ConfigResource, ResourceType
        res = ConfigResource(ResourceType.BROKER, str(bid))
        admin = ck.admin(ctx)  # keep a reference: the future dies with its client
        entries = admin.describe_configs([res], request_timeout=30)[res].result(timeout=60)
        cfg = {k: e.value for k, e in entries.items()}
    else:
        from kafka import KafkaAdminClient
        from kafka.admin import ConfigResource, ConfigResourceType
        a = KafkaAdminClient(bootstrap_servers=ctx.bootstrap, request_timeout_ms=30000)
        try:
            r = a.describe_configs([ConfigResource(ConfigResourceType.BROKER, str(bid))], config_filter="all")
        finally:
            a.close()
        cfg = {k: v.get("value") for k, v in r.get("broker", {}).get(str(bid), {}).items()}
    log(f"broker {bid}: {len(cfg)} configs")
    check(len(cfg) >= 5, f"DescribeConfigs(BROKER {bid}) returned {len(cfg)} configs: {sorted(cfg)}")
    for key in ("num.partitions", "auto.create.topics.enable", "log.dirs"):
        check(key in cfg, f"DescribeConfigs(BROKER {bid}) has no {key}: {sorted(cfg)[:30]}")
    check(re.fullmatch(r"\d+", cfg["num.partitions"] or ""), f"num.partitions = {cfg['num.partitions']!r}")
    return f"{len(cfg)} broker configs"


def many_partitions(ctx):
    """A 64-partition topic: metadata, keyed produce and read-back across
    all partitions (large multi-partition Produce and Fetch requests).

    The producer is idempotent: per-partition (so per-key) order is what
    Kafka guarantees only then. Kafka (KRaft) shows a new topic's leaders in
    Metadata before its leader has created the partitions' logs
    (BrokerMetadataPublisher.onMetadataUpdate sets the metadata cache's image
    before ReplicaManager.applyDelta), and a Produce in that window gets
    NOT_LEADER_OR_FOLLOWER; a non-idempotent producer with several requests
    in flight then retries the first batches after later ones were written."""
    ck = get_client("confluent-kafka")
    topic = ctx.topic("confluent.many")
    ck.create_topic(ctx, topic, 64)
    msgs = make_messages("many", 12_800, 640)
    delivered = ck.produce(ctx, topic, msgs, idempotent=True)
    records = ck.read_all(ctx, topic)
    verify_records(records, msgs, partitions=64, contiguous_from={p: 0 for p in range(64)}, delivered=delivered,
                   partition_send_order=True)
    used = {r.partition for r in records}
    check(len(used) >= 60, f"only {len(used)} of 64 partitions received data")
    return None


def broker_config(ctx):
    """Broker-level settings seen through clients (private broker):
    node.id, advertised.listeners (host 'localhost'), broker.rack,
    auto.create.topics.enable + num.partitions, the broker-wide default
    log.message.timestamp.type and message.max.bytes, reported by
    DescribeConfigs with the static-broker source."""
    import os
    import confluent_kafka as cklib
    from confluent_kafka.admin import ConfigResource, ResourceType
    from harness.common import free_port
    ck = get_client("confluent-kafka")
    port = free_port()
    if not ctx.managed:
        from harness.common import Skip
        raise Skip("needs a broker of its own with special settings: not possible with --bootstrap")
    d = os.path.join(ctx.workdir, "brokers", ctx.scenario_id.replace("/", "_"))
    os.makedirs(d, exist_ok=True)
    b = ctx.new_broker(os.path.join(d, "data"), os.path.join(d, "broker.log"), port=port,
               name="private broker (broker-config)",
               overrides={"node.id": "7", "advertised.listeners": f"PLAINTEXT://localhost:{port}",
                          "broker.rack": "rack-a", "auto.create.topics.enable": "true", "num.partitions": "4",
                          "log.message.timestamp.type": "LogAppendTime", "message.max.bytes": "50000"})
    ctx.broker = b
    b.start()
    ctx.bootstrap = b.bootstrap
    md = ck.metadata(ctx, None)
    check(md["brokers"] == {(7, "localhost", port)},
          f"metadata brokers {md['brokers']}, expected {{(7, 'localhost', {port})}} (node.id, advertised.listeners)")
    dc = ck.describe_cluster(ctx)
    check(dc["brokers"] == {(7, "localhost", port)}, f"describe_cluster brokers {dc['brokers']}")
    admin = ck.admin(ctx)
    nodes = admin.describe_cluster(request_timeout=15).result(timeout=30).nodes
    check([n.rack for n in nodes] == ["rack-a"], f"broker rack {[n.rack for n in nodes]}, expected ['rack-a']")

    # auto-creation by a producer (librdkafka producers allow auto-creation)
    topic = ctx.topic("auto")
    t0 = now_ms()
    ts_sent = now_ms() - 3_600_000
    p = cklib.Producer({"bootstrap.servers": ctx.bootstrap, "broker.address.family": "v4", "acks": "all",
                        "linger.ms": 0, "message.max.bytes": 1_000_000})
    res = {}
    p.produce(topic, key=b"k", value=b"small", timestamp=ts_sent,
              on_delivery=lambda e, m: res.__setitem__("small", (e, m.offset())))
    check(p.flush(40) == 0, "produce to an auto-created topic did not complete")
    check(res["small"][0] is None, f"produce to a new topic (auto-create) failed: {res['small'][0]}")
    md = ck.metadata(ctx, None)
    check(len(md["topics"].get(topic, {})) == 4, f"auto-created topic has partitions "
                                                 f"{sorted(md['topics'].get(topic, {}))}, expected 4 (num.partitions)")
    check(all(leader == 7 for leader in md["topics"][topic].values()), f"leaders {md['topics'][topic]}")
    p.produce(topic, key=b"k", value=os.urandom(100_000), on_delivery=lambda e, m: res.__setitem__("big", (e, None)))
    check(p.flush(40) == 0, "100 kB produce did not complete")
    check(res["big"][0] is not None and "toolarge" in re.sub(r"[^a-z]", "", res["big"][0].str().lower() +
                                                             res["big"][0].name().lower()),
          f"100 kB record with broker message.max.bytes=50000: {res['big'][0]}, expected MESSAGE_TOO_LARGE")
    recs = ck.read_all(ctx, topic)
    check(len(recs) == 1 and recs[0].value == b"small", f"topic holds {[(r.offset, len(r.value)) for r in recs]}")
    check(recs[0].ts_type == "logappend" and recs[0].timestamp >= t0 - 1000,
          f"broker default LogAppendTime: read timestamp {recs[0].timestamp} type {recs[0].ts_type}")
    res_t = ConfigResource(ResourceType.TOPIC, topic)
    entries = admin.describe_configs([res_t], request_timeout=30)[res_t].result(timeout=60)
    e = entries.get("message.timestamp.type")
    check(e is not None and e.value == "LogAppendTime", f"topic message.timestamp.type: {e and e.value}")
    from confluent_kafka.admin import ConfigSource
    src = ConfigSource(e.source).name if isinstance(e.source, int) else getattr(e.source, "name", str(e.source))
    check(src == "STATIC_BROKER_CONFIG", f"message.timestamp.type source {src}, expected STATIC_BROKER_CONFIG")
    e = entries.get("max.message.bytes")
    check(e is not None and e.value == "50000", f"topic max.message.bytes: {e and e.value}, expected 50000")
    b.stop()
    b.check_verify_logs()
    return None


def topic_names(ctx):
    """Legal topic names at the edges: 1 character, mixed case with '.',
    '_' and '-', and the maximum length of 249 characters; each is created
    (12 partitions, so partition directories get two-digit suffixes),
    written, read back and deleted."""
    import uuid
    ck = get_client("confluent-kafka")
    u = uuid.uuid4().hex
    names = [u[:1] if u[0].isalpha() else "q",  # 1 character (unique enough: deleted again right away)
             f"Compat.Mixed_Case-{u[:8]}",
             (f"compat.max-{u[:8]}_" + "x" * 249)[:249]]
    problems = []
    for name in names:
        label = f"{len(name)}-character name {name[:30]!r}{'...' if len(name) > 30 else ''}"
        try:
            if name in ck.metadata(ctx, None)["topics"]:
                continue  # a 1-character name taken by someone else on a shared broker
            ck.create_topic(ctx, name, 12)
            msgs = make_messages(f"names{len(name)}", 120, 24)
            delivered = ck.produce(ctx, name, msgs)
            recs = ck.read_all(ctx, name)
            verify_records(recs, msgs, partitions=12, contiguous_from={p: 0 for p in range(12)}, delivered=delivered)
            ck.delete_topic(ctx, name)
            wait_until(lambda: name not in ck.metadata(ctx, None)["topics"], 30, f"{label} to be deleted")
        except CheckFailed as e:
            problems.append(f"{label}: {str(e).replace(name, '<name>').splitlines()[0][:300]}")
    if problems:
        raise CheckFailed(f"{len(problems)} legal topic name(s) not usable:\n  - " + "\n  - ".join(problems))
    return None

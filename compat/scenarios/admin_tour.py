"""The Java AdminClient, call after call (compat/java AdminTour.java), on a topic
written by an idempotent producer and a group with committed offsets and no
members. ``admin-tour`` checks every call of the tour but the metadata quorum's
(``single-broker-quorum``)."""

from __future__ import annotations

from harness.clients import get_client
from harness.common import check, commit_sync, log, make_messages

PARTITIONS = 3

# Calls of the tour checked by a scenario of their own (single-broker-quorum)
CHECKED_APART = {"describeMetadataQuorum"}


def _setup(ctx, client_name):
    client = get_client(client_name)
    topic = ctx.topic(f"{client_name}.admin-tour")
    client.create_topic(ctx, topic, PARTITIONS)
    msgs = make_messages(f"{client_name}-admin", 300, 30)
    client.produce(ctx, topic, msgs, idempotent=True)
    group = f"compat-{client_name}-admin-tour-{topic[-13:]}"
    import confluent_kafka as cklib
    c = cklib.Consumer({"bootstrap.servers": ctx.bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        commit_sync(c, [cklib.TopicPartition(topic, p, 5) for p in range(PARTITIONS)])
    finally:
        c.close()
    return client, topic, group


def _tour(ctx, client_name):
    client, topic, group = _setup(ctx, client_name)
    res = client.run("admin", {"bootstrap": ctx.bootstrap, "topic": topic, "group": group, "partitionsTo": 4,
                               "deleteBefore": 1}, timeout=240)
    calls = res["calls"]
    for name, r in calls.items():
        log(f"{name}: {r}")
    return topic, group, calls


def admin_tour(ctx, client_name):
    topic, group, calls = _tour(ctx, client_name)
    bad = []

    def expect(name, pred, what):
        r = calls.get(name, {})
        try:
            good = pred(r)
        except Exception as e:  # noqa: BLE001 - a malformed answer is a failure
            good = False
            what += f" ({e!r})"
        if not good:
            bad.append(f"{name}: expected {what}, got {r}")

    ok = lambda r: r.get("ok")  # noqa: E731
    expect("describeCluster", lambda r: ok(r) and r["value"]["nodes"] >= 1 and r["value"]["clusterId"]
           and r["value"]["controller"] >= 0, "the cluster with its id and controller")
    expect("describeFeatures", lambda r: ok(r) and r["value"]["finalized"].get("metadata.version", 0) >= 7
           and r["value"]["supported"]["metadata.version"][1] >= r["value"]["finalized"]["metadata.version"]
           and r["value"]["epoch"] >= 0, "a finalized metadata.version (>= 7, 3.3-IV3) within the supported range")
    expect("describeLogDirs", lambda r: ok(r) and len(r["value"]) >= 1 and all(
        d["error"] == "NONE" and d["totalBytes"] > 0 and 0 <= d["usableBytes"] <= d["totalBytes"]
        for d in r["value"].values())
        and sorted(int(p) for d in r["value"].values() for p in d["replicas"]) == list(range(PARTITIONS))
        and sum(s for d in r["value"].values() for s in d["replicas"].values()) > 0,
        f"the log dir(s) with partitions 0-{PARTITIONS - 1} of the topic, their sizes and the disk space")
    expect("describeReplicaLogDirs", lambda r: ok(r) and r["value"] in (calls["describeLogDirs"].get("value") or {}),
           "the log dir DescribeLogDirs lists")
    expect("alterReplicaLogDirs", lambda r: ok(r) and r["value"] == calls["describeReplicaLogDirs"].get("value"),
           "a move to the log dir the replica is in (nothing to do)")
    expect("alterReplicaLogDirsUnknownDir", lambda r: not ok(r) and r["error"] == "LOG_DIR_NOT_FOUND",
           "LOG_DIR_NOT_FOUND for a path that is not a log dir")
    expect("describeTopicsPaged", lambda r: ok(r) and r["value"] == list(range(PARTITIONS)),
           f"partitions 0-{PARTITIONS - 1}, one per DescribeTopicPartitions page")
    expect("updateFeatures", lambda r: ok(r) and r["value"] == calls["describeFeatures"]["value"]["finalized"]
           ["metadata.version"], "metadata.version 'upgraded' to its finalized level (nothing to do)")
    expect("updateFeaturesUnsupportedLevel", lambda r: not ok(r) and r["error"] == "INVALID_UPDATE_VERSION",
           "INVALID_UPDATE_VERSION for metadata.version 999")
    expect("alterPartitionReassignments", lambda r: ok(r) and r["value"] == 0,
           "partition 0 'reassigned' to the broker it is on, nothing left in progress")
    expect("alterPartitionReassignmentsUnknownBroker", lambda r: not ok(r) and r["error"] == "INVALID_REPLICA_ASSIGNMENT",
           "INVALID_REPLICA_ASSIGNMENT for broker 999")
    expect("listClientMetricsResources", lambda r: ok(r) and r["value"] == 0, "no client-metrics resources")
    expect("brokerLoggers", lambda r: ok(r) and r["value"] == "INFO", "the root logger set to INFO and described so")
    expect("describeDelegationToken", lambda r: not ok(r) and r["error"] == "DELEGATION_TOKEN_REQUEST_NOT_ALLOWED",
           "DELEGATION_TOKEN_REQUEST_NOT_ALLOWED (a PLAINTEXT connection)")
    expect("describeProducers", lambda r: ok(r) and len(r["value"]) >= 1
           and all(pid >= 0 and epoch >= 0 and seq >= 0 for pid, epoch, seq in r["value"]),
           "the idempotent producer that wrote partition 0")
    expect("listPartitionReassignments", lambda r: ok(r) and r["value"] == 0, "no ongoing reassignment")
    expect("describeAcls", lambda r: not ok(r) and r["error"] == "SECURITY_DISABLED",
           "SECURITY_DISABLED (no authorizer, as Kafka without one)")
    expect("electLeaders", lambda r: ok(r) and r["value"] == "ELECTION_NOT_NEEDED",
           "ELECTION_NOT_NEEDED (the preferred leader leads)")
    expect("createPartitions", lambda r: ok(r) and r["value"] == 4, "4 partitions")
    expect("incrementalAlterConfigs", lambda r: ok(r) and r["value"] == "86400000/DYNAMIC_TOPIC_CONFIG",
           "retention.ms set as a dynamic topic config")
    expect("deleteRecords", lambda r: ok(r) and r["value"] == 1, "log start offset 1")
    expect("listOffsetsMaxTimestamp", lambda r: ok(r) and r["value"] >= 0, "an offset")
    expect("listConsumerGroups", lambda r: ok(r) and group in r["value"], f"the group {group}")
    expect("describeConsumerGroups", lambda r: ok(r) and r["value"]["state"].upper() == "EMPTY"
           and r["value"]["members"] == 0, "an empty group")
    expect("listConsumerGroupOffsets", lambda r: ok(r) and r["value"] == {f"{topic}:{p}": 5 for p in range(PARTITIONS)},
           "offset 5 committed on every partition")
    expect("alterConsumerGroupOffsets", lambda r: ok(r) and r["value"].get(f"{topic}:0") == 2, "partition 0 at 2")
    expect("deleteConsumerGroupOffsets", lambda r: ok(r) and f"{topic}:0" not in r["value"]
           and len(r["value"]) == PARTITIONS - 1, "partition 0's offset gone, the others kept")
    expect("deleteConsumerGroups", lambda r: ok(r) and group not in r["value"], "the group gone")
    expect("describeClientQuotas", lambda r: ok(r) and r["value"] == 0, "no client quotas (DescribeClientQuotas)")
    expect("describeUserScramCredentials", lambda r: ok(r) and r["value"] == 0,
           "no SCRAM users on the shared broker (DescribeUserScramCredentials)")
    expect("listTransactions", lambda r: ok(r) and r["value"] >= 0, "the transactional ids (ListTransactions)")
    expect("describeTransactions", lambda r: ok(r) and r["value"].lower() == f"ongoing:[{topic}-0]:true",
           "the open transaction: Ongoing, with the partition it wrote to (DescribeTransactions)")
    check(not bad, f"{client_name} AdminClient:\n  - " + "\n  - ".join(bad))
    return f"{len(calls) - len(CHECKED_APART)} AdminClient calls checked"


def single_broker_quorum(ctx, client_name):
    """describeMetadataQuorum on a single broker: a riffle broker without
    process.roles has no metadata quorum and does not offer DescribeQuorum
    (UNSUPPORTED_VERSION); the cluster-controller-failover rows describe a real
    quorum. Kafka's single node is a KRaft controller and answers: a listed
    reference difference, kept out of admin-tour so that the rest of the tour
    is checked against Kafka too."""
    _, _, calls = _tour(ctx, client_name)
    r = calls.get("describeMetadataQuorum", {})
    check(not r.get("ok") and r.get("error") == "UNSUPPORTED_VERSION",
          f"describeMetadataQuorum on a single broker: {r}, expected UNSUPPORTED_VERSION")


def admin_go(ctx, client_name):
    """franz-go's kadm / sarama's ClusterAdmin: log dirs, features (franz-go's raw
    ApiVersions), producers (kadm), groups (list, describe, offsets fetched and
    altered, delete), DeleteRecords, CreatePartitions, IncrementalAlterConfigs."""
    client, topic, group = _setup(ctx, client_name)
    calls = client.run("admin", {"bootstrap": ctx.bootstrap, "topic": topic, "group": group}, timeout=120)["calls"]
    for name, r in calls.items():
        log(f"{name}: {r}")
    bad = []
    for name, r in calls.items():
        if not r.get("ok"):
            bad.append(f"{name}: {r}")
    dirs = (calls.get("describeLogDirs") or {}).get("value") or {}
    sizes = {int(p): s for d in dirs.values() for p, s in d["replicas"].items()}
    if sorted(sizes) != list(range(PARTITIONS)) or not sum(sizes.values()) or \
            any(d["error"] != "NONE" or d["totalBytes"] <= 0 for d in dirs.values()):
        bad.append(f"describeLogDirs: expected partitions 0-{PARTITIONS - 1} with sizes and disk space, got {dirs}")
    if "describeFeatures" in calls:
        f = calls["describeFeatures"].get("value") or {}
        if (f.get("finalized") or {}).get("metadata.version", 0) < 7:
            bad.append(f"describeFeatures: no finalized metadata.version: {f}")
    if "describeProducers" in calls and not (calls["describeProducers"].get("value") or []):
        bad.append("describeProducers: the idempotent producer is not listed")
    if group not in ((calls.get("listGroups") or {}).get("value") or []):
        bad.append(f"listGroups: {group} missing")
    offs = (calls.get("fetchOffsets") or {}).get("value") or {}
    if offs != {f"{topic}:{p}": 5 for p in range(PARTITIONS)}:
        bad.append(f"fetchOffsets: {offs}, expected 5 on every partition")
    if (calls.get("deleteRecords") or {}).get("value") != 1:
        bad.append(f"deleteRecords: log start {calls.get('deleteRecords')}, expected 1")
    value = lambda name: (calls.get(name) or {}).get("value")  # noqa: E731
    if value("createPartitions") != 4:
        bad.append(f"createPartitions: {value('createPartitions')} partitions, expected 4")
    if value("alterTopicConfigs") != "86400000/DYNAMIC_TOPIC_CONFIG":
        bad.append(f"alterTopicConfigs: retention.ms described as {value('alterTopicConfigs')}")
    g = value("describeGroups") or {}
    if str(g.get("state")).lower() != "empty" or g.get("members") != 0:
        bad.append(f"describeGroups: {g}, expected an empty group")
    if value("alterGroupOffsets") != 2:
        bad.append(f"alterGroupOffsets: partition 0 at {value('alterGroupOffsets')}, expected 2")
    check(not bad, f"{client_name} admin:\n  - " + "\n  - ".join(bad))
    return f"{len(calls)} admin calls checked"

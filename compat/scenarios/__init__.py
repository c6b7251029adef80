"""Registry of all scenarios.

A scenario id is "<client>/<name>" (e.g. "kcat/roundtrip"); the table printed
by run.py has one row per name and one column per client. A scenario is a
function ``fn(ctx, *args)`` that raises CheckFailed (FAIL) or Skip (SKIP), or
returns an optional note string (PASS).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field

CLIENT_ORDER = ["kcat", "confluent-kafka", "kafka-python", "kafkajs", "java", "java-3.9", "franz-go", "sarama"]
JAVA = ["java", "java-3.9"]
GO = ["franz-go", "sarama"]
# table columns: the clients, then "mixed" for scenarios in which several
# different clients are members of one consumer group
MIXED = "mixed"
COLUMNS = CLIENT_ORDER + [MIXED]
CODECS = ["gzip", "snappy", "lz4", "zstd"]


@dataclass
class Scenario:
    client: str
    name: str
    target: str                 # "module:function"
    args: tuple = ()
    timeout: float = 240.0      # hard limit for the whole scenario process
    managed_only: bool = False  # restarts/kills a broker: SKIP with --bootstrap
    cost: int = 1               # rough relative run time, for scheduling
    secure: bool = False        # uses the shared secure broker (TLS and SASL listeners; managed only)
    acl: bool = False           # uses the shared ACL broker (StandardAuthorizer; managed only)
    doc: str = field(default="")

    @property
    def id(self):
        return f"{self.client}/{self.name}"

    def resolve(self):
        mod, fn = self.target.split(":")
        return getattr(importlib.import_module(mod), fn)


def all_scenarios() -> list[Scenario]:
    S = []
    for c in CLIENT_ORDER:
        S.append(Scenario(c, "metadata", "scenarios.generic:metadata", (c,), timeout=120))
        S.append(Scenario(c, "roundtrip", "scenarios.generic:roundtrip", (c,), cost=4))
        S.append(Scenario(c, "restart", "scenarios.generic:restart", (c,), managed_only=True, cost=6, timeout=360))
        for codec in CODECS:
            S.append(Scenario(c, f"codec-{codec}", "scenarios.generic:codec", (c, codec), cost=2))
        S.append(Scenario(c, "topic-compression", "scenarios.generic:topic_compression", (c,), cost=3,
                          timeout=300))
        S.append(Scenario(c, "list-offsets", "scenarios.generic:list_offsets", (c,), timeout=180))
        S.append(Scenario(c, "list-offsets-gzip", "scenarios.generic:list_offsets", (c, "gzip"), timeout=180))
        if c != "kcat":
            S.append(Scenario(c, "describe-configs", "scenarios.generic:describe_configs", (c,), timeout=120))
        if c in ("confluent-kafka", "kafka-python", "kafkajs", *JAVA, *GO):
            S.append(Scenario(c, "idempotent", "scenarios.generic:idempotent", (c,), cost=4))
        S.append(Scenario(c, "log-append-time", "scenarios.generic:log_append_time", (c,), timeout=180))
        S.append(Scenario(c, "delete-topic", "scenarios.generic:delete_topic", (c,), timeout=180))
    for c in ("confluent-kafka", "kafka-python"):
        for name, fn in (("max-message-bytes", "max_message_bytes"), ("invalid-timestamp", "invalid_timestamp"),
                         ("acks0", "acks0"), ("small-fetch", "small_fetch"), ("tail", "tail"),
                         ("out-of-range", "out_of_range"), ("nulls", "nulls"),
                         ("large-messages", "large_messages"), ("produce-validation", "produce_validation")):
            S.append(Scenario(c, name, f"scenarios.semantics:{fn}", (c,), timeout=180))
    for c in ("confluent-kafka", "kafka-python"):
        S.append(Scenario(c, "admin-errors", "scenarios.admin:admin_errors", (c,), timeout=180))
        S.append(Scenario(c, "describe-broker-configs", "scenarios.admin:describe_broker_configs", (c,),
                          timeout=120))
    S.append(Scenario("confluent-kafka", "topic-names", "scenarios.admin:topic_names", timeout=150))
    S.append(Scenario("confluent-kafka", "many-partitions", "scenarios.admin:many_partitions", cost=3))
    S.append(Scenario("confluent-kafka", "broker-config", "scenarios.admin:broker_config", managed_only=True,
                      timeout=150))
    S.extend(log_policy_scenarios())
    S.append(Scenario("confluent-kafka", "live-consume", "scenarios.semantics:live_consume", cost=4, timeout=240))
    S.append(Scenario("confluent-kafka", "crash-admin", "scenarios.crash:crash_admin", managed_only=True,
                      cost=2, timeout=180))
    S.append(Scenario("confluent-kafka", "stop-under-load", "scenarios.crash:stop_under_load",
                      managed_only=True, cost=6, timeout=480))
    S.append(Scenario("confluent-kafka", "restart-time-index", "scenarios.crash:restart_time_index",
                      managed_only=True, timeout=150))
    S.append(Scenario("confluent-kafka", "restart-metadata", "scenarios.crash:restart_metadata",
                      managed_only=True, timeout=150))
    S.append(Scenario("confluent-kafka", "torn-tail", "scenarios.crash:torn_tail", managed_only=True, timeout=150))
    S.append(Scenario("confluent-kafka", "txn-crash-restart", "scenarios.txn_crash:crash_open_transactions",
                      managed_only=True, cost=3, timeout=240))
    S.append(Scenario("kafka-python", "txn-expiration", "scenarios.txn_crash:expiration", managed_only=True,
                      timeout=180))
    S.append(Scenario("confluent-kafka", "concurrent-producers", "scenarios.semantics:concurrent_producers",
                      cost=4, timeout=240))
    for v in ("0.11", "1.0", "2.1", "2.8", "3.5"):
        S.append(Scenario("kafka-python", f"api-version-{v}", "scenarios.semantics:pinned_versions", (v,),
                          timeout=150))
    S.append(Scenario("kcat", "kcat-offsets", "scenarios.kcat_extra:offsets", timeout=180))
    for c in JAVA:
        S.append(Scenario(c, "admin-tour", "scenarios.admin_tour:admin_tour", (c,), cost=2, timeout=300))
        S.append(Scenario(c, "single-broker-quorum", "scenarios.admin_tour:single_broker_quorum", (c,), cost=2,
                          timeout=300))
    S.append(Scenario("java", "streams", "scenarios.streams:streams", cost=6, timeout=480))
    S.append(Scenario("java", "connect", "scenarios.connect:connect", cost=6, timeout=480))
    # Streams with exactly_once_v2 (transactions)
    S.append(Scenario("java", "streams-exactly-once", "scenarios.streams:streams", ("exactly_once_v2",), cost=4,
                      timeout=300))
    for c in GO:
        S.append(Scenario(c, "admin-tour", "scenarios.admin_tour:admin_go", (c,), cost=1, timeout=180))
    S.extend(group_scenarios())
    S.extend(consumer_group_scenarios())
    S.append(Scenario("confluent-kafka", "crash", "scenarios.crash:crash", managed_only=True, cost=8, timeout=480))
    S.append(Scenario("confluent-kafka", "crash-idempotent", "scenarios.crash:crash_idempotent",
                      managed_only=True, cost=8, timeout=480))
    S.extend(cluster_scenarios())
    S.extend(importlib.import_module(f"{__name__}.transactions").transaction_scenarios())  # transactions, all clients
    S.extend(importlib.import_module(f"{__name__}.txn_faults").txn_fault_scenarios())  # transactions under faults
    S.extend(importlib.import_module(f"{__name__}.security").security_scenarios())  # TLS and SASL (issue 14)
    S.extend(importlib.import_module(f"{__name__}.acls").acl_scenarios())  # ACLs (StandardAuthorizer)
    S.extend(importlib.import_module(f"{__name__}.quotas").quota_scenarios())  # client quotas (issue 14)
    S.extend(importlib.import_module(f"{__name__}.oauth_jwks").jwks_scenarios())  # OAUTHBEARER with a JWKS
    return S


def cluster_scenarios() -> list[Scenario]:
    """Fault injection on a private 3-node cluster (scenarios/cluster.py,
    harness/cluster.py): SIGKILL / SIGSTOP / restart of nodes under
    confluent-kafka producers and consumers."""
    C = "scenarios.cluster"
    ck = "confluent-kafka"
    return [
        Scenario(ck, "cluster-leader-failover", f"{C}:leader_failover", managed_only=True, cost=9, timeout=540),
        Scenario(ck, "cluster-isr-shrink", f"{C}:isr_shrink", managed_only=True, cost=4, timeout=300),
        Scenario(ck, "cluster-isr-shrink-separate-roles", f"{C}:isr_shrink_separate_roles", managed_only=True,
                 cost=4, timeout=300),
        Scenario(ck, "cluster-controller-failover", f"{C}:controller_failover", managed_only=True, cost=4,
                 timeout=300),
        Scenario(ck, "cluster-unclean-election", f"{C}:unclean_election", managed_only=True, cost=5, timeout=360),
        Scenario(ck, "cluster-group-failover", f"{C}:group_failover", managed_only=True, cost=6, timeout=420),
        Scenario(ck, "cluster-preferred-election", f"{C}:preferred_election", managed_only=True, cost=3, timeout=300),
        Scenario(ck, "cluster-leader-rebalance", f"{C}:leader_rebalance", managed_only=True, cost=3, timeout=300),
        Scenario("java", "cluster-dynamic-configs", f"{C}:dynamic_configs", managed_only=True, cost=3, timeout=300),
        # clients, replication and the quorum over SASL_SSL (scenarios/cluster_security.py)
        Scenario(ck, "cluster-sasl-ssl-failover", "scenarios.cluster_security:sasl_ssl_failover", managed_only=True,
                 cost=5, timeout=420),
        # the consumer group protocol (KIP-848): the group coordinator SIGKILLed under java and
        # confluent-kafka members (scenarios/consumer_group_faults.py)
        Scenario(MIXED, "kip848-coordinator-failover", "scenarios.consumer_group_faults:coordinator_failover",
                 managed_only=True, cost=6, timeout=360),
    ] + [
        # the same faults under the Java client and franz-go (scenarios/cluster_clients.py)
        Scenario(c, name, f"scenarios.cluster_clients:{fn}", (c,), managed_only=True, cost=cost, timeout=timeout)
        for c in ("java", "franz-go")
        for name, fn, cost, timeout in (("cluster-leader-failover", "leader_failover", 7, 480),
                                        ("cluster-controller-failover", "controller_failover", 4, 300),
                                        ("cluster-group-failover", "group_failover", 5, 360),
                                        ("cluster-reassignment", "reassignment", 4, 300))
    ]


def log_policy_scenarios() -> list[Scenario]:
    """Retention, compaction (scenarios/logpolicy.py; private brokers with
    short retention-check / cleaner intervals) and topic administration
    through the admin clients (scenarios/topic_admin.py; shared broker)."""
    L = "scenarios.logpolicy"
    ck, kp, js = "confluent-kafka", "kafka-python", "kafkajs"
    S = []
    for c in (ck, kp):
        S.append(Scenario(c, "retention", f"{L}:retention_time", (c,), managed_only=True, cost=3, timeout=240))
        S.append(Scenario(c, "retention-size", f"{L}:retention_size", (c,), managed_only=True, cost=3,
                          timeout=240))
    S.append(Scenario(ck, "compaction", f"{L}:compaction", managed_only=True, cost=9, timeout=480))
    S.append(Scenario(ck, "compaction-records", f"{L}:compaction_records", managed_only=True, cost=5, timeout=420))
    S.append(Scenario(ck, "compaction-delete", f"{L}:compaction_delete", managed_only=True, cost=3, timeout=300))
    S.append(Scenario(ck, "compaction-lag", f"{L}:compaction_lag", managed_only=True, cost=4, timeout=300))
    S.append(Scenario(ck, "compaction-live-read", f"{L}:compaction_live_read", managed_only=True, cost=6,
                      timeout=420))
    S.append(Scenario(ck, "compaction-offsets", f"{L}:compaction_offsets", managed_only=True, cost=4, timeout=300))
    S.append(Scenario(ck, "compaction-crash", f"{L}:compaction_crash", managed_only=True, cost=8, timeout=480))
    for c in (ck, kp, js):
        S.append(Scenario(c, "topic-admin", "scenarios.topic_admin:topic_admin", (c,), cost=2, timeout=240))
    S.append(Scenario(ck, "topic-admin-restart", "scenarios.topic_admin:topic_admin_restart", managed_only=True,
                      cost=2, timeout=180))
    return S


def group_scenarios() -> list[Scenario]:
    """Consumer groups (scenarios/groups.py). Each member is a process of its
    own; "mixed" rows put different clients into one group."""
    G = "scenarios.groups"
    ck, kp, js = "confluent-kafka", "kafka-python", "kafkajs"
    S = []
    for c in CLIENT_ORDER:
        S.append(Scenario(c, "group-split", f"{G}:split", ([c] * 3,), cost=3, timeout=240))
    S.append(Scenario(MIXED, "group-split", f"{G}:split", (["kcat", ck, kp],), cost=3, timeout=240))
    for c, kinds in (("kcat", ["kcat", ck, kp]), (ck, [ck, kp, ck]), (kp, [kp, ck, kp]), (js, [js] * 3),
                     ("java", ["java", "java-3.9", "java"]), ("java-3.9", ["java-3.9"] * 3),
                     ("franz-go", ["franz-go"] * 3), ("sarama", ["sarama"] * 3)):
        S.append(Scenario(c, "group-failover", f"{G}:failover", (kinds, 0), cost=6, timeout=300))
    S.append(Scenario(MIXED, "group-broker-restart", f"{G}:broker_restart_live", ([ck, kp],), managed_only=True,
                      cost=5, timeout=300))
    S.append(Scenario(ck, "group-offsets-retention", f"{G}:offsets_retention", managed_only=True, cost=9,
                      timeout=360))
    S.append(Scenario(MIXED, "group-inconsistent-protocol", f"{G}:inconsistent_protocol", timeout=150))
    for c in CLIENT_ORDER:
        S.append(Scenario(c, "group-resume", f"{G}:resume", (c,), managed_only=True, cost=4, timeout=240))
        S.append(Scenario(c, "group-independence", f"{G}:independence", (c,), cost=2, timeout=240))
    S.append(Scenario(MIXED, "group-split-java-go", f"{G}:split", (["java", "franz-go", "sarama"],), cost=3,
                      timeout=240))
    for c, kinds in ((ck, [ck] * 3), (kp, [kp] * 3), (MIXED, [ck, kp, ck]), ("java", ["java"] * 3),
                     ("java-3.9", ["java-3.9"] * 3), ("franz-go", ["franz-go"] * 3)):
        S.append(Scenario(c, "group-cooperative", f"{G}:cooperative", (kinds,), cost=4, timeout=240))
    for c in (ck, kp, "java", "franz-go", "sarama"):
        S.append(Scenario(c, "group-static", f"{G}:static", (c,), cost=5, timeout=240))
    S.append(Scenario(kp, "group-protocol", f"{G}:protocol", cost=1, timeout=180))
    S.append(Scenario(ck, "group-admin", f"{G}:admin_confluent", cost=2, timeout=180))
    S.append(Scenario(ck, "group-topic-deleted", f"{G}:topic_deleted", cost=2, timeout=180))
    S.append(Scenario(kp, "group-admin", f"{G}:admin_kafka_python", cost=2, timeout=180))
    S.append(Scenario(js, "group-admin", f"{G}:admin_kafkajs", cost=2, timeout=180))
    S.append(Scenario(ck, "group-lag", f"{G}:lag", cost=2, timeout=180))
    return S


def consumer_group_scenarios() -> list[Scenario]:
    """The consumer group protocol of KIP-848 (scenarios/consumer_groups.py): members with
    group.protocol=consumer of the clients that have it (the Java client 4.x, librdkafka,
    franz-go), Java's group admin, hand-made requests (kafka-python's request machinery)."""
    C = "scenarios.consumer_groups"
    S = []
    for c in ("java", "confluent-kafka", "franz-go"):
        S.append(Scenario(c, "kip848-split-join-leave", f"{C}:split_join_leave", (c,), managed_only=True, cost=5,
                          timeout=240))
        S.append(Scenario(c, "kip848-regex", f"{C}:regex", (c,), cost=3, timeout=180))
        S.append(Scenario(c, "kip848-restart", f"{C}:restart", (c,), managed_only=True, cost=4, timeout=240))
    S.append(Scenario("java", "kip848-describe", f"{C}:describe_groups", cost=3, timeout=180))
    S.append(Scenario("java", "kip848-static", f"{C}:static", cost=3, timeout=180))
    S.append(Scenario("java", "kip848-migration", f"{C}:migration", cost=3, timeout=180))
    S.append(Scenario("kafka-python", "kip848-bad-input", f"{C}:bad_input", cost=2, timeout=150))
    return S

"""Broker flavours: the process a scenario's broker or cluster node runs.

``riffle`` (the broker under test) and ``kafka`` (Apache Kafka, the
reference: harness/apache_kafka.py). Both take the same settings (Kafka's property
names) and are started, stopped, killed, paused and checked the same way; a
scenario never asks which one it has.
"""

from __future__ import annotations

import os

from . import apache_kafka as kafka
from .broker import Broker
from .cluster import ClusterNode
from .common import free_port

FLAVOURS = ("riffle", "kafka")

# A JVM exits with 143 (128 + SIGTERM) once Kafka's shutdown hook has stopped
# the server cleanly.
_KAFKA_CLEAN_EXIT = (0, 143)


class KafkaBroker(Broker):
    """A single Apache Kafka KRaft node (``process.roles=broker,controller``)
    on 127.0.0.1:port, its controller listener on a port of its own, its
    server.properties beside its data directory."""

    FLAVOUR = "kafka"
    CLEAN_EXIT = _KAFKA_CLEAN_EXIT

    def __init__(self, binary: str, data_dir: str, log_path: str, **kw):
        super().__init__(binary, data_dir, log_path, **kw)
        self.controller_port = free_port()
        self.cluster_id = kafka.new_cluster_id()
        self.props = os.path.join(os.path.dirname(os.path.abspath(data_dir)), "server.properties")

    def settings(self) -> dict[str, str]:
        node_id = int(self.overrides.get("node.id", "1"))
        out = kafka.kraft_settings(node_id=node_id, roles="broker,controller", port=self.port,
                                   controller_port=self.controller_port,
                                   voters=f"{node_id}@127.0.0.1:{self.controller_port}", data_dir=self.data_dir)
        out.update(kafka.SINGLE_NODE_SETTINGS)
        out.update(self.overrides)
        kafka.merge_listeners(out, self.overrides, self.controller_port)
        return out

    def prepare(self):
        kafka.write_properties(self.props, self.settings())
        if not os.path.exists(os.path.join(self.data_dir, "meta.properties")):
            kafka.format_storage(self.props, self.cluster_id, self.log_path, add_scram=self.add_scram)

    def argv(self):
        return kafka.java_argv("kafka.Kafka", self.props, system_properties=self.jvm_properties)

    def verify_logs(self, timeout: float = 300.0) -> tuple[int, str]:
        if self.alive():
            raise RuntimeError("verifying the logs needs a stopped broker")
        return kafka.verify_logs(self.data_dir, timeout)


class KafkaClusterNode(ClusterNode):
    """One Apache Kafka KRaft node of a cluster (combined, broker-only or
    controller-only). Every node of a cluster formats its storage with the
    same cluster id, derived from the voters (which name the cluster's ports)."""

    FLAVOUR = "kafka"
    CLEAN_EXIT = _KAFKA_CLEAN_EXIT
    STARTED_MARKER = "Kafka Server started"
    # a broker exits only once the quorum has approved its controlled shutdown
    # (BrokerServer.shutdown waits up to 5 minutes): Cluster.stop() stops the last
    # combined node with stand-in voters
    STOP_WITH_STAND_INS = True
    OWN_LOG_MARK = "kafka."  # kafka.* and org.apache.kafka.* loggers

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.cluster_id = kafka.new_cluster_id(seed=self.voters)
        self.props = os.path.join(os.path.dirname(os.path.abspath(self.data_dir)), "server.properties")

    def settings(self) -> dict[str, str]:
        controller = "controller" in self.roles.split(",")
        out = kafka.kraft_settings(node_id=self.node_id, roles=self.roles,
                                   port=self.port if self.is_broker else None,
                                   controller_port=(self.controller_port or self.port) if controller else None,
                                   voters=self.voters, data_dir=self.data_dir)
        out.update(self.overrides)
        if self.is_broker and self.extra_listeners:
            extra = ",".join(f"{n}://127.0.0.1:{p}" for n, p in self.extra_listeners.items())
            out["listeners"] += "," + extra
            out["advertised.listeners"] += "," + extra
        return out

    prepare = KafkaBroker.prepare
    verify_logs = KafkaBroker.verify_logs

    def argv(self):
        return kafka.java_argv("kafka.Kafka", self.props, system_properties=self.jvm_properties)


def broker_class(flavour: str) -> type[Broker]:
    return {"riffle": Broker, "kafka": KafkaBroker}[flavour]


def cluster_node_class(flavour: str) -> type[ClusterNode]:
    return {"riffle": ClusterNode, "kafka": KafkaClusterNode}[flavour]

"""The object handed to every scenario."""

from __future__ import annotations

import os

from .broker import Broker
from .cluster import Cluster
from .flavours import broker_class, cluster_node_class
from .shared_brokers import ACL, SECURE, ExtraBroker
from .common import CheckFailed, Skip, log, unique_topic


class Ctx:
    def __init__(self, *, scenario_id: str, bootstrap: str | None, managed: bool,
                 broker_bin: str, workdir: str, flavour: str = "riffle"):
        self.scenario_id = scenario_id
        self.bootstrap = bootstrap  # shared broker (or --bootstrap)
        self.managed = managed      # True: the suite started the shared broker itself
        self.broker_bin = broker_bin  # also riffle's CLI, a client of either flavour
        self.flavour = flavour        # of the brokers the suite starts: harness/flavours.py
        self.workdir = workdir
        self.broker: Broker | None = None  # private broker, when the scenario asked for one
        self.cluster: Cluster | None = None  # private multi-broker cluster, when asked for one
        # TLS / SASL settings the client adapters use for ctx.bootstrap (harness/security.py:
        # SecureBroker.client); None: PLAINTEXT
        self.security: dict | None = None

    # ------------------------------------------------------------------
    def topic(self, base: str | None = None) -> str:
        return unique_topic(base or self.scenario_id)

    def private_broker(self, overrides: dict[str, str] | None = None,
                       jvm_properties: dict[str, str] | None = None) -> Broker:
        """A broker of this scenario's own, which it may restart and kill
        (``jvm_properties``: Java system properties of a Kafka flavour broker).

        Only when the suite manages brokers; against --bootstrap the scenario
        is skipped. Sets ctx.bootstrap to the private broker."""
        if not self.managed:
            raise Skip("needs to restart/kill the broker: not possible with --bootstrap")
        safe = self.scenario_id.replace("/", "_")
        d = os.path.join(self.workdir, "brokers", safe)
        os.makedirs(d, exist_ok=True)
        ov = {"num.partitions": "1", "auto.create.topics.enable": "false"}
        ov.update(overrides or {})
        self.broker = self.new_broker(os.path.join(d, "data"), os.path.join(d, "broker.log"),
                                      overrides=ov, name=f"private broker for {self.scenario_id}")
        self.broker.jvm_properties.update(jvm_properties or {})
        self.broker.start()
        self.bootstrap = self.broker.bootstrap
        log(f"using private broker {self.bootstrap}, data dir {self.broker.data_dir}")
        return self.broker

    def secure_broker(self):
        """The shared secure broker run.py started for the scenarios that ask for it
        (Scenario.secure): a harness.security.SecureBroker (listeners, key material,
        client settings). ctx.bootstrap becomes its PLAINTEXT listener."""
        return self._shared_broker(SECURE)

    def acl_broker(self):
        """The shared ACL broker run.py started for the scenarios that ask for it
        (Scenario.acl): a harness.acl.AclBroker. ctx.bootstrap becomes its PLAINTEXT
        listener (User:ANONYMOUS, a super user)."""
        return self._shared_broker(ACL)

    def _shared_broker(self, kind: ExtraBroker):
        """One of run.py's shared extra brokers (harness/shared_brokers.py), loaded from
        what run.py saved of it; ctx.bootstrap becomes its PLAINTEXT listener."""
        if not self.managed:
            raise Skip(f"needs {kind.needs}: not with --bootstrap")
        path = os.path.join(self.workdir, kind.dirname, kind.filename)
        if not os.path.exists(path):
            raise CheckFailed(f"the {kind.name} is not running ({path} missing)")
        info = kind.info_class().load(path)
        self.bootstrap = info.plaintext
        log(f"using the {kind.name}: {info.ports}")
        return info

    def new_broker(self, data_dir: str, log_path: str, **kw) -> Broker:
        """A broker of the suite's flavour (not started; the caller owns it)."""
        return broker_class(self.flavour)(self.broker_bin, data_dir, log_path, **kw)

    def private_cluster(self, overrides: dict[str, str] | None = None, n: int = 3, controllers: int = 0,
                        extra_listeners: tuple[str, ...] = (), add_scram: tuple[str, ...] = ()) -> Cluster:
        """A cluster of ``n`` nodes (of the suite's flavour) of this scenario's own, started and
        registered (harness/cluster.py): broker + controller each, or, with
        ``controllers=c``, c controller-only nodes (the quorum's voters) and
        ``n`` broker-only nodes; ``extra_listeners``: client listeners every broker has
        besides PLAINTEXT (their settings in ``overrides``); ``add_scram``: SCRAM users the
        storage format adds (``--add-scram``). The scenario may kill, SIGSTOP and restart its
        nodes. SKIP with --bootstrap. Sets ctx.bootstrap to all brokers'
        addresses; cleanup() SIGKILLs whatever still runs."""
        if not self.managed:
            raise Skip("needs a private multi-broker cluster: not possible with --bootstrap")
        safe = self.scenario_id.replace("/", "_")
        d = os.path.join(self.workdir, "brokers", safe, "cluster")
        self.cluster = Cluster(self.broker_bin, d, n=n, overrides=overrides,
                               name=f"private cluster for {self.scenario_id}", controllers=controllers,
                               node_class=cluster_node_class(self.flavour), extra_listeners=extra_listeners,
                               add_scram=add_scram)
        self.cluster.start()
        self.bootstrap = self.cluster.bootstrap
        log(f"using private cluster {self.bootstrap}, node data and logs under {d}")
        return self.cluster

    def data_dirs(self) -> list[str]:
        """The log directories of the broker(s) behind ctx.bootstrap, when the suite
        manages them (the shared broker's, or this scenario's private ones)."""
        if self.broker is not None:
            return [self.broker.data_dir]
        if self.cluster is not None:
            return [n.data_dir for n in self.cluster.nodes.values()]
        if self.managed:
            return [os.path.join(self.workdir, "shared-broker", "data")]
        return []

    def expected_broker_address(self):
        """(host, port) that metadata must advertise, when we know it."""
        if self.broker is not None:
            return ("127.0.0.1", self.broker.port)
        if self.managed:
            host, _, port = self.bootstrap.rpartition(":")
            return (host, int(port))
        return None

    def cleanup(self):
        if self.broker is not None:
            self.broker.kill()
        if self.cluster is not None:
            self.cluster.kill_all()

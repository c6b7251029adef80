"""A multi-broker cluster (riffle, or Apache Kafka: harness/flavours.py) for the fault-injection scenarios.

Two layouts:

* combined (the default): every node is a broker and a controller
  (``process.roles=broker,controller``): node ids 1..n, a client (PLAINTEXT)
  and a controller listener each on a port picked free up front, all of them
  voters of the metadata quorum (``controller.quorum.voters``), so the quorum
  needs a majority of the nodes up;
* separate roles (``controllers=c``): c controller-only nodes
  (``process.roles=controller``, ids 1..c, the voters, a CONTROLLER listener
  and no client listener at all) and n broker-only nodes
  (``process.roles=broker``, ids 101..100+n, a PLAINTEXT listener only). The
  brokers can then all be stopped or paused without touching the quorum.

A node keeps its ports and data directory across restarts. ``nodes`` holds
the nodes that serve clients (all of them when combined, the brokers when
separate); ``controllers`` the controller-only nodes (empty when combined).
kill / sigstop / sigcont / restart / stop_node take any node id.

Metadata is read with a fresh confluent-kafka AdminClient bootstrapped to
ONE broker (a live, not SIGSTOPped one unless ``via`` says which), so
"metadata from node X" really is node X's view; ``list_topics`` gives the live
(unfenced) brokers, the controller id and per partition leader, replicas and
ISR (a partition without leader: leader -1, LEADER_NOT_AVAILABLE).

The controller id of a Metadata (or DescribeCluster) response is NOT the
active controller: in KRaft it is only a live broker to send controller-bound
requests to, which forwards them (Kafka names a random live broker, each
response anew: KafkaApis.handleTopicMetadataRequest, getRandomAliveBrokerId).
The active controller is the leader of the metadata quorum, which
``active_controller()`` reads with DescribeQuorum (kafka-python's
``describe_metadata_quorum``; a broker forwards it to the active controller).

Nodes must be started (and restarted) from the scenario's main thread: they
get PDEATHSIG, which fires when the spawning thread ends.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import time
from dataclasses import dataclass, field

from .broker import Broker
from .common import CheckFailed, check, log, wait_until

# what every cluster node gets unless the scenario overrides it
CLUSTER_DEFAULTS = {
    "auto.create.topics.enable": "false",
    "num.partitions": "1",
    "default.replication.factor": "3",
    "offsets.topic.replication.factor": "3",
    "offsets.topic.num.partitions": "10",
    "broker.heartbeat.interval.ms": "500",
    "broker.session.timeout.ms": "3000",
    "group.initial.rebalance.delay.ms": "500",
    "group.min.session.timeout.ms": "1000",
}


def free_ports(k: int) -> list[int]:
    """k distinct free ports (all bound at once, so none is picked twice)."""
    socks = []
    try:
        for _ in range(k):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


class ClusterNode(Broker):
    """One node: a Broker whose command line carries the cluster settings.

    ``roles`` is ``broker,controller`` (client and controller listener),
    ``broker`` (client listener only) or ``controller`` (controller listener
    only; ``port`` is then the controller port, there is no client port)."""

    STARTED_MARKER = "broker started"  # logged once the node serves (its quorum member is up)
    # Cluster.stop() of combined nodes (see there). False: one after the other, the
    # active controller last, whose controlled shutdown gives up without a quorum.
    # True: a flavour whose broker waits for the quorum to approve its controlled
    # shutdown (Apache Kafka: up to 5 minutes): the last node is stopped with
    # stand-in voters making up a quorum.
    STOP_WITH_STAND_INS = False
    OWN_LOG_MARK = " riffle"           # lines written by the broker itself, not by openraft

    def __init__(self, binary: str, node_id: int, data_dir: str, log_path: str, *, port: int,
                 controller_port: int | None, voters: str, overrides: dict[str, str],
                 roles: str = "broker,controller", name: str | None = None):
        super().__init__(binary, data_dir, log_path, port=port, overrides=overrides,
                         name=name or f"node {node_id}")
        self.node_id = node_id
        self.controller_port = controller_port
        self.voters = voters
        self.roles = roles
        self.paused = False  # SIGSTOPped
        # listener name -> port: client listeners a broker has besides PLAINTEXT
        # (Cluster's ``extra_listeners``), e.g. SASL_SSL for a secured cluster
        self.extra_listeners: dict[str, int] = {}
        self.started_at = 0.0
        self.log_offset = 0  # size of the log file before the current start

    @property
    def is_broker(self) -> bool:
        return "broker" in self.roles.split(",")

    def start(self, timeout: float = 60.0):
        """Spawn the process and wait until its first listener is bound (a
        cluster broker binds its port at once and serves only once it is
        registered; connections wait in the backlog until then)."""
        self.started_at = time.monotonic()
        try:
            self.log_offset = os.path.getsize(self.log_path)
        except OSError:
            self.log_offset = 0
        super().start(timeout)

    def logged_since_start(self, needle: str) -> bool:
        try:
            with open(self.log_path, "rb") as f:
                f.seek(self.log_offset)
                return needle.encode() in f.read()
        except OSError:
            return False

    def ready_ports(self) -> list[int]:
        # the controller listener too: a combined node may serve clients only
        # once the quorum (the other nodes) is up
        return [p for p in (self.port, self.controller_port) if p]

    def wait_started(self, timeout: float = 60.0):
        """Until the process (still running) has logged STARTED_MARKER since
        its last start: for a controller-only node, its quorum member is up."""
        def ok():
            if not self.alive():
                rc = self.proc.returncode if self.proc else None
                raise CheckFailed(f"{self.name} exited with code {rc} during startup; log tail:\n{self.log_tail()}")
            return self.logged_since_start(self.STARTED_MARKER)
        wait_until(ok, timeout, f"{self.name}: \"{self.STARTED_MARKER}\" in {self.log_path}")

    def argv(self):
        if self.roles == "controller":
            listeners = f"CONTROLLER://127.0.0.1:{self.port}"
        elif self.roles == "broker":
            listeners = f"PLAINTEXT://127.0.0.1:{self.port}"
        else:
            listeners = f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}"
        if self.is_broker:
            listeners += "".join(f",{n}://127.0.0.1:{p}" for n, p in self.extra_listeners.items())
        base = {
            "node.id": str(self.node_id),
            "process.roles": self.roles,
            "listeners": listeners,
            "controller.quorum.voters": self.voters,
            "log.dirs": self.data_dir,
        }
        args = [self.binary, "serve"]
        for k, v in {**base, **self.overrides}.items():
            args += ["--override", f"{k}={v}"]
        return args

    @property
    def pid(self):
        return self.proc.pid if self.proc is not None else None


@dataclass
class PartitionMd:
    leader: int
    replicas: list[int]
    isr: list[int]
    error: str | None  # KafkaError name, e.g. LEADER_NOT_AVAILABLE


@dataclass
class ClusterMd:
    via: int                                  # node asked
    controller: int                           # -1: none known
    brokers: dict[int, tuple[str, int]]       # live (unfenced) brokers
    topics: dict[str, dict[int, PartitionMd]] = field(default_factory=dict)
    topic_errors: dict[str, str] = field(default_factory=dict)

    def partition(self, topic: str, partition: int) -> PartitionMd | None:
        return self.topics.get(topic, {}).get(partition)

    def describe(self, topic: str | None = None) -> str:
        lines = [f"via node {self.via}: controller {self.controller}, brokers {sorted(self.brokers)}"]
        for t in ([topic] if topic else sorted(self.topics)):
            if t in self.topic_errors:
                lines.append(f"  {t}: {self.topic_errors[t]}")
            for p, pm in sorted(self.topics.get(t, {}).items()):
                lines.append(f"  {t}[{p}] leader {pm.leader} replicas {pm.replicas} isr {pm.isr}"
                             + (f" {pm.error}" if pm.error else ""))
        return "\n".join(lines)


class Cluster:
    """n nodes (of the flavour ``node_class`` gives) under ``workdir``. Combined (default, ``controllers=0``):
    broker + controller each, ids 1..n, ``node<i>/data`` and ``node<i>.log``.
    Separate roles (``controllers=c``): controller-only nodes 1..c
    (``controller<i>/data``, ``controller<i>.log``) and broker-only nodes
    101..100+n (``broker<i>/data``, ``broker<i>.log``)."""

    BROKER_ID_BASE = 100  # broker-only node ids: 101, 102, ...

    def __init__(self, binary: str, workdir: str, n: int = 3, overrides: dict[str, str] | None = None,
                 name: str = "cluster", controllers: int = 0, node_class: type[ClusterNode] | None = None,
                 extra_listeners: tuple[str, ...] = (), add_scram: tuple[str, ...] = ()):
        make_node = node_class or ClusterNode  # harness/flavours.py: the node of each broker flavour
        self.binary = binary
        self.workdir = workdir
        self.n = n
        self.name = name
        self.separate = controllers > 0
        self.overrides = {**CLUSTER_DEFAULTS, **(overrides or {})}
        os.makedirs(workdir, exist_ok=True)
        self.nodes: dict[int, ClusterNode] = {}        # the nodes serving clients
        self.controllers: dict[int, ClusterNode] = {}  # controller-only nodes (separate roles)
        if not self.separate:
            ports = free_ports(2 * n)
            client_ports, controller_ports = ports[:n], ports[n:]
            voters = ",".join(f"{i + 1}@127.0.0.1:{controller_ports[i]}" for i in range(n))
            for i in range(n):
                nid = i + 1
                self.nodes[nid] = make_node(binary, nid, os.path.join(workdir, f"node{nid}", "data"),
                                              os.path.join(workdir, f"node{nid}.log"), port=client_ports[i],
                                              controller_port=controller_ports[i], voters=voters,
                                              overrides=self.overrides)
            self._add_listeners(extra_listeners, add_scram)
            return
        ports = free_ports(controllers + n)
        controller_ports, client_ports = ports[:controllers], ports[controllers:]
        voters = ",".join(f"{i + 1}@127.0.0.1:{controller_ports[i]}" for i in range(controllers))
        for i in range(controllers):
            cid = i + 1
            self.controllers[cid] = make_node(binary, cid, os.path.join(workdir, f"controller{cid}", "data"),
                                                os.path.join(workdir, f"controller{cid}.log"),
                                                port=controller_ports[i], controller_port=controller_ports[i],
                                                voters=voters, overrides=self.overrides, roles="controller",
                                                name=f"controller {cid}")
        for i in range(n):
            bid = self.BROKER_ID_BASE + i + 1
            self.nodes[bid] = make_node(binary, bid, os.path.join(workdir, f"broker{bid}", "data"),
                                          os.path.join(workdir, f"broker{bid}.log"), port=client_ports[i],
                                          controller_port=None, voters=voters, overrides=self.overrides,
                                          roles="broker", name=f"broker {bid}")
        self._add_listeners(extra_listeners, add_scram)

    def _add_listeners(self, names: tuple[str, ...], add_scram: tuple[str, ...]):
        """A port of every broker for each client listener named (besides PLAINTEXT);
        the SCRAM users every node's storage format adds."""
        ports = iter(free_ports(len(names) * len(self.nodes)))
        for nd in self.nodes.values():
            nd.extra_listeners = {n: next(ports) for n in names}
        for nd in self.all_nodes():
            nd.add_scram = list(add_scram)

    def bootstrap_of(self, listener: str) -> str:
        """Every broker's address on one of the ``extra_listeners``."""
        return ",".join(f"127.0.0.1:{nd.extra_listeners[listener]}" for nd in self.nodes.values())

    # ------------------------------------------------------------------ processes
    @property
    def bootstrap(self) -> str:
        return ",".join(nd.bootstrap for nd in self.nodes.values())

    @property
    def live_bootstrap(self) -> str:
        """Addresses of the running, not SIGSTOPped brokers only (a stopped
        node accepts TCP connections but never answers, which stalls a
        client's first requests)."""
        return ",".join(self.nodes[i].bootstrap for i in self.live())

    def node(self, i: int) -> ClusterNode:
        """Any node, broker or controller-only."""
        nd = self.nodes.get(i) or self.controllers.get(i)
        check(nd is not None, f"{self.name}: no node {i} (brokers {self.ids()}, "
                              f"controller-only nodes {self.controller_ids()})")
        return nd

    def all_nodes(self) -> list[ClusterNode]:
        """Every process of the cluster: brokers, then controller-only nodes."""
        return [self.nodes[i] for i in self.ids()] + [self.controllers[i] for i in self.controller_ids()]

    def ids(self) -> list[int]:
        """The nodes serving clients (brokers)."""
        return sorted(self.nodes)

    def controller_ids(self) -> list[int]:
        """The controller-only nodes (empty in the combined layout)."""
        return sorted(self.controllers)

    def live(self) -> list[int]:
        """Brokers whose process runs and is not SIGSTOPped."""
        return [i for i, nd in sorted(self.nodes.items()) if nd.alive() and not nd.paused]

    def live_controllers(self) -> list[int]:
        """Controller-only nodes whose process runs and is not SIGSTOPped."""
        return [i for i, nd in sorted(self.controllers.items()) if nd.alive() and not nd.paused]

    def start(self, timeout: float = 60.0):
        """Start every process first (a broker serves only once the quorum
        has registered it), then wait: controller-only nodes until they log
        "broker started", then until metadata lists every broker."""
        first = [self.controllers[i] for i in self.controller_ids()]  # separate roles: controllers first
        for nd in first + [self.nodes[i] for i in self.ids()]:
            nd.start()
        if self.separate:
            log(f"{self.name}: {len(self.controllers)} controller-only nodes {self.controller_ids()} and "
                f"{self.n} broker-only nodes {self.ids()} started, bootstrap {self.bootstrap}; logs "
                + ", ".join(nd.log_path for nd in self.all_nodes()))
            for nd in self.controllers.values():
                nd.wait_started(timeout)
        else:
            log(f"{self.name}: {self.n} nodes started, bootstrap {self.bootstrap}; logs "
                + ", ".join(nd.log_path for nd in self.nodes.values()))
        md = self.wait_brokers(set(self.nodes), timeout, "all brokers registered at start")
        ctl = wait_until(lambda: (lambda c: c if c > 0 else None)(self.active_controller()), timeout,
                         f"{self.name}: an active controller (a leader of the metadata quorum)")
        log(f"{self.name} ready: active controller {ctl}; {md.describe()}")
        return md

    def kill(self, i: int):
        """SIGKILL node i (also when it is SIGSTOPped)."""
        nd = self.node(i)
        check(nd.alive(), f"node {i} is not running, cannot SIGKILL it")
        nd.kill()
        nd.paused = False

    def stop_node(self, i: int, timeout: float = 30.0):
        """Clean stop (SIGTERM, exit 0) of node i; SIGCONT first if paused."""
        nd = self.node(i)
        if nd.paused:
            self.sigcont(i)
        nd.stop(timeout)

    def restart(self, i: int, wait: bool = True, timeout: float = 60.0):
        """Start node i again (after a kill or stop), same ports and data dir;
        with ``wait``: a broker until another broker's metadata lists it as
        live, a controller-only node until it logs "broker started"."""
        nd = self.node(i)
        if nd.alive():
            nd.stop()
        nd.paused = False
        nd.start()
        if wait:
            if nd.is_broker:
                self.wait_brokers({i}, timeout, f"node {i} registered again after its restart", exclude=i)
            else:
                nd.wait_started(timeout)

    def sigstop(self, i: int):
        nd = self.node(i)
        check(nd.alive(), f"node {i} is not running, cannot SIGSTOP it")
        os.kill(nd.pid, signal.SIGSTOP)
        nd.paused = True
        log(f"{nd.name} SIGSTOPped (pid {nd.pid})")

    def sigcont(self, i: int):
        nd = self.node(i)
        if nd.alive():
            os.kill(nd.pid, signal.SIGCONT)
            log(f"{nd.name} SIGCONTed (pid {nd.pid})")
        nd.paused = False

    def stop(self, timeout: float = 30.0):
        """Clean stop of every running node (SIGTERM: controlled shutdown); each
        must exit cleanly within ``timeout``. Paused nodes get SIGCONT first.
        Every node is stopped even if one fails.

        The order is fixed so that the result does not depend on chance.
        Separate roles: the brokers in id order (their controlled shutdowns
        have the quorum), then the controller-only nodes in id order.

        Combined, riffle: the other nodes in id order, the active controller
        last. The last node then has no quorum left, so its controlled
        shutdown must give up (after its 3 s) and still exit 0.

        Combined, STOP_WITH_STAND_INS (Apache Kafka): a broker exits only once
        the active controller has approved its controlled shutdown, which
        takes a committed metadata record, so a quorum of voters
        (BrokerServer.shutdown waits up to 5 minutes, BrokerLifecycleManager
        retries until then). Whichever node is left last has no quorum, and
        SIGTERMing all at once is a race: the active controller, approved
        first, leaves while the others still wait (KafkaRaftServer stops its
        controller right after its broker). So: first the other nodes
        together, while the active controller stays up and approves them (each
        one's own voter keeps the quorum until it is approved); then the
        active controller, after starting stand-in voters for stopped ones
        (controller-only nodes with empty logs, their ids and controller
        ports, never brokers) until a majority runs: the quorum approves its
        controlled shutdown, and then the stand-ins, which have no broker to
        shut down, are stopped."""
        for nd in self.all_nodes():
            if nd.paused:
                self.sigcont(nd.node_id)
        running = [i for i in self.ids() if self.nodes[i].alive()]
        ctl = -1
        if not self.separate and running:
            try:
                ctl = self.active_controller()
            except Exception as e:  # noqa: BLE001 - order by id then
                log(f"{self.name}: no active controller known before the stop ({e!r}); stopping in id order")
        if ctl not in running:
            ctl = -1
        errors = []

        def finish(nd, t0, stop, last=False):
            try:
                stop()
            except CheckFailed as e:
                first = str(e).splitlines()[0].removesuffix("; log tail:")
                errors.append(f"{nd.name}{' (the active controller, stopped last)' if last else ''}: "
                              f"{first}; log: {nd.log_path}; its last own lines:\n"
                              + self._own_lines(nd, 6))
                log(f"{self.name}: {str(e)[:2000]}")
            else:
                log(f"{nd.name} stopped cleanly in {time.monotonic() - t0:.1f}s")

        if self.separate:
            order = running + [i for i in self.controller_ids() if self.controllers[i].alive()]
            log(f"{self.name}: stopping brokers, then controller-only nodes: {order}")
        elif running and all(self.nodes[i].STOP_WITH_STAND_INS for i in running):
            last = ctl if ctl > 0 else running[-1]
            first = [i for i in running if i != last]
            log(f"{self.name}: stopping nodes {first} together, then the active controller {last} "
                f"(active controller: {ctl})")
            t0 = time.monotonic()
            signalled = []
            for i in first:
                # a node that died meanwhile is reported, and the others still stopped
                finish(self.nodes[i], t0, self.nodes[i].begin_stop)
                if self.nodes[i].alive():
                    signalled.append(i)
            for i in signalled:
                finish(self.nodes[i], t0, lambda nd=self.nodes[i]: nd.finish_stop(timeout))
            self._stop_with_stand_ins(last, timeout, finish)
            order = []
        else:
            order = [i for i in running if i != ctl] + [i for i in running if i == ctl]
            log(f"{self.name}: stopping nodes {order} (active controller: {ctl})")
        for i in order:
            nd = self.node(i)
            finish(nd, time.monotonic(), lambda nd=nd: nd.stop(timeout), last=(i == ctl))
        if errors:
            raise CheckFailed(f"{self.name}: clean stop (SIGTERM) failed:\n  - " + "\n  - ".join(errors))

    def _stop_with_stand_ins(self, last: int, timeout: float, finish):
        """Stop combined node ``last``, the only one still running, with stand-in
        voters for stopped ones (see stop())."""
        nd = self.nodes[last]
        voters = self.ids()  # combined: every node is a voter
        need = len(voters) // 2 + 1 - sum(self.nodes[i].alive() for i in voters)  # to make up a majority
        ids = [i for i in voters if not self.nodes[i].alive()][:max(need, 0)]
        stand_ins = []
        try:
            for i in ids:
                ref = self.nodes[i]
                shutil.rmtree(os.path.join(self.workdir, f"stand-in{i}"), ignore_errors=True)  # an empty log
                si = type(ref)(self.binary, i, os.path.join(self.workdir, f"stand-in{i}", "data"),
                               os.path.join(self.workdir, f"stand-in{i}.log"), port=ref.controller_port,
                               controller_port=ref.controller_port, voters=ref.voters, overrides=self.overrides,
                               roles="controller", name=f"stand-in voter {i} (controller only, empty log)")
                stand_ins.append(si)
                try:
                    si.start()
                except CheckFailed as e:  # the node's own stop then fails, and is reported
                    log(f"{self.name}: stand-in voter {i} did not start: {str(e)[:500]}")
            if stand_ins:
                log(f"{self.name}: stand-in voters {ids} started for the controlled shutdown of node {last}")
            t0 = time.monotonic()
            finish(nd, t0, lambda: nd.stop(timeout), last=True)
            for si in stand_ins:
                finish(si, time.monotonic(), lambda si=si: si.stop(timeout))
        finally:
            for si in stand_ins:
                si.kill()  # no-op unless it is still running

    def kill_all(self):
        """Cleanup path: SIGKILL whatever still runs (never fails)."""
        for nd in self.all_nodes():
            try:
                nd.kill()
            except Exception:  # noqa: BLE001
                pass
            nd.paused = False

    def check_verify_logs(self):
        """The segment check of every node's data dir (riffle verify-logs, or Kafka's dump-log; nodes stopped)."""
        for nd in self.all_nodes():
            nd.check_verify_logs()

    def riffle_lines(self, i: int, n: int = 10) -> str:
        """The last n lines of node i's log written by the broker itself (riffle:
        not by openraft, whose retries drown everything else while a peer is down)."""
        return self._own_lines(self.node(i), n)

    @staticmethod
    def _own_lines(nd: ClusterNode, n: int) -> str:
        try:
            with open(nd.log_path, "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
        except OSError:
            return "(no log)"
        mine = [ln for ln in lines if nd.OWN_LOG_MARK in ln or ln.startswith("=====")]
        return "\n".join("      " + ln[:300] for ln in mine[-n:])

    def log_tails(self, n: int = 15) -> str:
        return "\n".join(f"--- {nd.name} ({nd.log_path}):\n{nd.log_tail(n)}" for nd in self.all_nodes())

    # ------------------------------------------------------------------ metadata
    def admin(self, via: int | None = None, **extra):
        from confluent_kafka.admin import AdminClient
        bs = self.nodes[via].bootstrap if via is not None else self.live_bootstrap
        conf = {"bootstrap.servers": bs, "broker.address.family": "v4", "socket.timeout.ms": 10000}
        conf.update(extra)
        return AdminClient(conf)

    def _pick(self, via, exclude=None) -> int:
        """The node to ask: ``via``, else the live node running the longest
        (a node that has just restarted may still serve an old metadata image,
        which could satisfy a wait for an earlier state)."""
        if via is not None:
            return via
        cands = [i for i in self.live() if i != exclude]
        check(cands, f"{self.name}: no running node to ask for metadata")
        return min(cands, key=lambda i: (self.nodes[i].started_at, i))

    def metadata(self, topic: str | None = None, via: int | None = None, timeout: float = 10.0,
                 exclude: int | None = None) -> ClusterMd:
        """Metadata as node ``via`` answers it (default: the live node other
        than ``exclude`` running the longest)."""
        node = self._pick(via, exclude)
        a = self.admin(node)
        md = a.list_topics(topic, timeout=timeout)
        out = ClusterMd(via=node, controller=md.controller_id,
                        brokers={b.id: (b.host, b.port) for b in md.brokers.values()})
        for name, t in md.topics.items():
            if t.error is not None and not t.partitions:
                out.topic_errors[name] = t.error.name()
                continue
            out.topics[name] = {p.id: PartitionMd(leader=p.leader, replicas=list(p.replicas), isr=list(p.isrs),
                                                  error=p.error.name() if p.error is not None else None)
                                for p in t.partitions.values()}
        return out

    def leader(self, topic: str, partition: int, via: int | None = None) -> int:
        pm = self.metadata(topic, via).partition(topic, partition)
        return pm.leader if pm is not None else -1

    def isr(self, topic: str, partition: int, via: int | None = None) -> list[int]:
        pm = self.metadata(topic, via).partition(topic, partition)
        return sorted(pm.isr) if pm is not None else []

    def replicas(self, topic: str, partition: int, via: int | None = None) -> list[int]:
        pm = self.metadata(topic, via).partition(topic, partition)
        return list(pm.replicas) if pm is not None else []

    def controller_id(self, via: int | None = None) -> int:
        """The controller id of a Metadata response: a live broker to send
        controller-bound requests to, not necessarily the active controller
        (Kafka names a random live broker): see active_controller()."""
        return self.metadata(via=via).controller

    def quorum(self, timeout: float = 10.0) -> dict:
        """DescribeQuorum of the metadata log (kafka-python's
        KafkaAdminClient.describe_metadata_quorum, bootstrapped to the live
        node running the longest; it sends the request to any broker, which
        forwards it to the active controller: the answer is the controller's,
        whichever broker carries it). {"leader": id (-1: none), "epoch",
        "high_watermark", "voters": {id: log end offset}}; raises if the
        partition has an error."""
        from kafka.admin import KafkaAdminClient
        node = self._pick(None)
        a = KafkaAdminClient(bootstrap_servers=[self.nodes[node].bootstrap], request_timeout_ms=int(timeout * 1000),
                             client_id=f"compat-harness-quorum-{node}")
        try:
            r = a.describe_metadata_quorum()
        finally:
            a.close()
        p = r["topics"][0]["partitions"][0]
        if p.get("error"):
            raise RuntimeError(f"DescribeQuorum through node {node}: {p['error']}")
        return {"leader": p["leader_id"], "epoch": p["leader_epoch"], "high_watermark": p["high_watermark"],
                "voters": {v["replica_id"]: v["log_end_offset"] for v in p["current_voters"]}}

    def active_controller(self) -> int:
        """The active controller: the leader of the metadata quorum
        (DescribeQuorum), -1 while there is none."""
        return self.quorum()["leader"]

    def broker_ids(self, via: int | None = None) -> set[int]:
        return set(self.metadata(via=via).brokers)

    def wait_brokers(self, want: set[int], timeout: float, what: str, exclude: int | None = None):
        """Until metadata lists every broker in ``want`` as live."""
        def ok():
            md = self.metadata(exclude=exclude)
            return md if want <= set(md.brokers) else None
        return wait_until(ok, timeout, f"{self.name}: {what} (brokers {sorted(want)} in metadata)")

    # ------------------------------------------------------------------ topics
    def create_topic(self, topic: str, partitions: int = 1, replication_factor: int = 3,
                     config: dict[str, str] | None = None, replica_assignment: list[list[int]] | None = None,
                     timeout: float = 60.0, full_isr: bool = True):
        """CreateTopics through confluent-kafka's AdminClient, then wait until
        every partition has a leader (and, with ``full_isr``, all its replicas
        in the ISR)."""
        import confluent_kafka
        from confluent_kafka.admin import NewTopic
        if replica_assignment is not None:
            # confluent-kafka 2.16 refuses the default num_partitions (-1) with an assignment
            partitions = len(replica_assignment)
            nt = NewTopic(topic, num_partitions=partitions, replica_assignment=replica_assignment,
                          config=dict(config or {}))
        else:
            nt = NewTopic(topic, num_partitions=partitions, replication_factor=replication_factor,
                          config=dict(config or {}))
        a = self.admin()  # referenced until the result is in: a destroyed client fails its futures
        fs = a.create_topics([nt], operation_timeout=30, request_timeout=30)
        try:
            fs[topic].result(timeout=60)
        except confluent_kafka.KafkaException as e:
            raise CheckFailed(f"create_topics({topic!r}, partitions={partitions}, rf={replication_factor}, "
                              f"assignment={replica_assignment}, config={config}) failed: {e}") from None

        def ready_via(node):
            md = self.metadata(topic, via=node)
            parts = md.topics.get(topic, {})
            if len(parts) != partitions:
                return None
            for pm in parts.values():
                if pm.leader < 0 or pm.error is not None:
                    return None
                if full_isr and sorted(pm.isr) != sorted(pm.replicas):
                    return None
            return md

        def ready():
            # Every running node, not one: a client may ask any of them next, and a
            # node lists the topic only once it has applied the controller's record.
            mds = [ready_via(i) for i in self.live()]
            return mds[0] if mds and all(mds) else None
        md = wait_until(ready, timeout, f"topic {topic}: {partitions} partitions with leaders"
                                        + (" and full ISRs" if full_isr else ""))
        log(f"created {md.describe(topic)}")
        return md

"""Apache Kafka as a broker flavour: the reference the suite and the benchmarks
measure Riffle against.

A Kafka node is started exactly as a riffle one (same ports, data directory,
log file, signals), from the classpath compat/install.sh resolves with Maven
(compat/kafka/pom.xml names the version, in one place). Each node is a KRaft
process: ``server.properties`` written from the same settings a riffle node
gets as ``--override`` flags, plus what Kafka needs spelled out (the
CONTROLLER listener, single-node replication factors), and its storage
formatted with Kafka's own storage tool before the first start.
"""

from __future__ import annotations

import base64
import glob
import os
import re
import subprocess
import uuid

from .common import CheckFailed

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KAFKA_DIR = os.path.join(HERE, "kafka")

# kafka-run-class.sh's stock JVM settings (KAFKA_HEAP_OPTS, KAFKA_JVM_PERFORMANCE_OPTS),
# so the reference runs as operators run it; $KAFKA_HEAP_OPTS overrides the heap.
STOCK_HEAP = "-Xmx1G -Xms1G"
JVM_PERFORMANCE_OPTS = ["-server", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
                        "-XX:InitiatingHeapOccupancyPercent=35", "-XX:+ExplicitGCInvokesConcurrent",
                        "-XX:MaxInlineLevel=15", "-Djava.awt.headless=true"]


def kafka_version() -> str:
    """The reference version, as compat/kafka/pom.xml names it."""
    with open(os.path.join(KAFKA_DIR, "pom.xml")) as f:
        m = re.search(r"<kafka\.version>([^<]+)</kafka\.version>", f.read())
    if not m:
        raise CheckFailed("compat/kafka/pom.xml names no <kafka.version>")
    return m.group(1)


def kafka_lib() -> str:
    """The directory holding Kafka's jars (built by compat/install.sh)."""
    lib = os.path.join(KAFKA_DIR, "target", f"kafka-{kafka_version()}", "lib")
    if not glob.glob(os.path.join(lib, "kafka_2.13-*.jar")):
        raise CheckFailed(f"Apache Kafka's jars are not in {lib}: run compat/install.sh "
                          f"(cd compat/kafka && mvn -q -B package)")
    return lib


def java_argv(main_class: str, *args: str, heap: str | None = None,
              system_properties: dict[str, str] | None = None) -> list[str]:
    """``java`` running one of Kafka's main classes on its classpath, with the
    stock JVM options, compat/kafka/log4j2.yaml (INFO to stdout) and any other
    system properties."""
    heap = heap or os.environ.get("KAFKA_HEAP_OPTS", STOCK_HEAP)
    return (["java", *heap.split(), *JVM_PERFORMANCE_OPTS,
             f"-Dlog4j2.configurationFile={os.path.join(KAFKA_DIR, 'log4j2.yaml')}",
             *(f"-D{k}={v}" for k, v in (system_properties or {}).items()),
             "-cp", os.path.join(kafka_lib(), "*"), main_class, *args])


def new_cluster_id(seed: str | None = None) -> str:
    """A KRaft cluster id: a UUID in Kafka's URL-safe base64; random, or the
    same for every node given the same ``seed``."""
    u = uuid.uuid5(uuid.NAMESPACE_URL, f"riffle-compat:{seed}") if seed else uuid.uuid4()
    return base64.urlsafe_b64encode(u.bytes).decode().rstrip("=")


def write_properties(path: str, settings: dict[str, str]):
    with open(path, "w") as f:
        f.write("# written by the compat harness for Apache Kafka\n")
        for k, v in settings.items():
            f.write(f"{k}={v}\n")


def format_storage(props: str, cluster_id: str, log_path: str, timeout: float = 120.0,
                   add_scram: list[str] | None = None):
    """``kafka-storage format`` (once, before the first start of a node), with
    ``--add-scram`` for each SCRAM user given."""
    # --cluster-id=ID: an id may begin with "-", which the tool would take for an option
    scram = [a for spec in (add_scram or []) for a in ("--add-scram", spec)]
    argv = java_argv("kafka.tools.StorageTool", "format", f"--cluster-id={cluster_id}", "-c", props,
                     "--ignore-formatted", *scram, heap="-Xmx256m")
    with open(log_path, "ab") as lf:
        lf.write(f"\n===== kafka-storage format: {' '.join(argv[-6:])}\n".encode())
        lf.flush()
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=lf, stderr=subprocess.STDOUT, timeout=timeout)
    if p.returncode != 0:
        raise CheckFailed(f"kafka-storage format -c {props} exited {p.returncode}; see {log_path}")


def kraft_settings(*, node_id: int, roles: str, port: int | None, controller_port: int | None,
                   voters: str, data_dir: str) -> dict[str, str]:
    """What every Kafka node needs beyond the suite's own settings: its KRaft
    role, listeners (PLAINTEXT for clients, CONTROLLER for the quorum) and
    where the quorum's voters are."""
    listeners = []
    if "broker" in roles.split(","):
        listeners.append(f"PLAINTEXT://127.0.0.1:{port}")
    if "controller" in roles.split(","):
        listeners.append(f"CONTROLLER://127.0.0.1:{controller_port}")
    out = {
        "process.roles": roles,
        "node.id": str(node_id),
        "listeners": ",".join(listeners),
        "controller.listener.names": "CONTROLLER",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "inter.broker.listener.name": "PLAINTEXT",
        "controller.quorum.voters": voters,
        "log.dirs": data_dir,
    }
    if "broker" in roles.split(","):
        out["advertised.listeners"] = f"PLAINTEXT://127.0.0.1:{port}"
    return out


def merge_listeners(out: dict[str, str], overrides: dict[str, str], controller_port: int | None):
    """A scenario's own ``listeners`` (and ``listener.security.protocol.map``) with what
    Kafka needs besides: the CONTROLLER listener and its protocol, the client
    listeners advertised as they are, the inter-broker listener on PLAINTEXT."""
    if "listeners" not in overrides:
        return
    ls = [e.strip() for e in overrides["listeners"].split(",") if e.strip()]
    if "advertised.listeners" not in overrides:
        out["advertised.listeners"] = ",".join(ls)
    if controller_port is not None and not any(e.upper().startswith("CONTROLLER://") for e in ls):
        ls.append(f"CONTROLLER://127.0.0.1:{controller_port}")
    out["listeners"] = ",".join(ls)
    names = [e.partition("://")[0].upper() for e in ls]
    m = [e.strip() for e in overrides.get("listener.security.protocol.map", "").split(",") if e.strip()]
    have = {e.partition(":")[0].upper() for e in m}
    for n in names:
        if n not in have:
            m.append(f"{n}:PLAINTEXT" if n == "CONTROLLER" else f"{n}:{n}")
    out["listener.security.protocol.map"] = ",".join(m)
    if "inter.broker.listener.name" not in overrides:
        out["inter.broker.listener.name"] = next(n for n in names if n != "CONTROLLER" and
                                                 dict(e.upper().split(":") for e in m).get(n) == "PLAINTEXT")


# A single node holds every replica: Kafka's defaults (3) would leave its
# internal topics unable to be created, so set them as config/server.properties does.
SINGLE_NODE_SETTINGS = {
    "offsets.topic.replication.factor": "1",
    "transaction.state.log.replication.factor": "1",
    "transaction.state.log.min.isr": "1",
    "share.coordinator.state.topic.replication.factor": "1",
    "share.coordinator.state.topic.min.isr": "1",
}


def verify_logs(data_dir: str, timeout: float = 300.0) -> tuple[int, str]:
    """Kafka's own check of a stopped node's segments: ``kafka-dump-log
    --deep-iteration`` over every log segment (every batch's CRC and every
    record decoded). Non-zero when the tool fails or reports a batch that
    is not valid."""
    files = sorted(glob.glob(os.path.join(data_dir, "*", "*.log")))
    if not files:
        return 0, f"no segment files under {data_dir}"
    p = subprocess.run(java_argv("org.apache.kafka.tools.DumpLogSegments", "--deep-iteration", "--files",
                                 ",".join(files), heap="-Xmx512m"),
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
    out = p.stdout.decode("utf-8", "replace")
    bad = [ln for ln in out.splitlines()
           if "isvalid: false" in ln or re.search(r"(?i)corrupt|invalid bytes|exception", ln)]
    batches = sum("baseOffset:" in ln for ln in out.splitlines())
    summary = f"kafka-dump-log --deep-iteration: {len(files)} segments, {batches} batches"
    if p.returncode != 0 or bad:
        return 1, "\n".join([summary + f", exit {p.returncode}", *bad[:30], *out.splitlines()[-10:]])
    return 0, summary + ", all valid"

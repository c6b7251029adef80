"""Processes and what the kernel says about them: broker nodes (Riffle, Kafka) and
deployments of one or three of them, their CPU clocks and peak RSS."""

import os
import shutil
import signal
import socket
import struct
import subprocess
import time
from pathlib import Path

from .settings import BENCH_SETTINGS, CLUSTER_SETTINGS, kafka_ref  # (also puts compat/ on the path)
from harness.broker import _die_with_parent as die_with_parent  # noqa: E402
from harness.cluster import free_ports  # noqa: E402
from .wire import metadata, wait_until


def process_cpu_s(pid):
    """CPU seconds (user + system) process `pid` has used, its exited threads included: its
    POSIX process CPU clock (clock_getcpuclockid(3) is ((~pid) << 3) | CPUCLOCK_SCHED),
    exact to the nanosecond. Falls back to /proc/PID/stat (clock ticks)."""
    try:
        return time.clock_gettime_ns(((~pid) << 3) | 2) / 1e9
    except OSError:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def api_versions_answered(port, deadline, alive=lambda: True):
    """Connects and sends ApiVersions v0 until a response arrives; True if one did. Polls
    every 0.2 ms at first and more slowly as time passes (at most every 5 ms, a 0.2%
    error), so that polling a JVM for seconds does not take a core from it."""
    request = struct.pack(">hhih", 18, 0, 1, 0)  # key, version, correlation id, empty client id
    frame = struct.pack(">i", len(request)) + request
    t0 = time.perf_counter()
    while time.perf_counter() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(frame)
                if len(s.recv(4)) == 4:
                    return True
        except OSError:
            if not alive():
                return False
            time.sleep(min(0.005, max(0.0002, (time.perf_counter() - t0) / 500)))
    return False


class Node:
    """One broker process (Riffle or Kafka) on 127.0.0.1, its output in a log file beside
    its data directory. Ready once its client port answers ApiVersions; stopped with
    SIGTERM (a clean stop)."""

    def __init__(self, argv, port, log_path, clean_exit):
        self.port = port
        self.log_path = log_path
        self.clean_exit = clean_exit
        self.peak = 0
        self.t0 = time.perf_counter()
        with open(log_path, "ab") as out:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                         preexec_fn=die_with_parent)

    def wait_ready(self, timeout=180):
        if not api_versions_answered(self.port, self.t0 + timeout, lambda: self.proc.poll() is None):
            self.kill()
            raise RuntimeError(f"broker on port {self.port} never answered ApiVersions; log {self.log_path}:\n"
                               + self.log_tail())
        self.ready_ms = (time.perf_counter() - self.t0) * 1000

    def cpu_so_far(self):
        return process_cpu_s(self.proc.pid)

    def status_kib(self, field):
        try:
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        except OSError:
            pass
        return 0

    def begin_stop(self, sig=signal.SIGTERM):
        """The peak is VmHWM read just before the stop: wait4's ru_maxrss would count the
        forked Python process from before the exec."""
        self.peak = self.status_kib("VmHWM")
        if self.proc.returncode is None:
            self.proc.send_signal(sig)

    def finish_stop(self, timeout=120):
        """(CPU seconds of the whole life from wait4, peak RSS KiB, stopped cleanly)."""
        if self.proc.returncode is not None:  # already reaped: it died on its own
            return 0.0, self.peak, False
        deadline = time.monotonic() + timeout
        while True:
            pid, status, usage = os.wait4(self.proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                os.kill(self.proc.pid, signal.SIGKILL)
                _, status, usage = os.wait4(self.proc.pid, 0)
                break
            time.sleep(0.01)
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        return usage.ru_utime + usage.ru_stime, self.peak, self.proc.returncode in self.clean_exit

    def stop(self):
        self.begin_stop()
        return self.finish_stop()

    def kill(self):
        self.begin_stop(signal.SIGKILL)
        return self.finish_stop()

    def log_tail(self, n=30):
        try:
            return "\n".join(Path(self.log_path).read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"

    def logged(self, needle):
        try:
            return needle in Path(self.log_path).read_text(errors="replace")
        except OSError:
            return False


def node_settings(n):
    """What every node of an n-node deployment gets, whatever the flavour."""
    return {**BENCH_SETTINGS, **(kafka_ref.SINGLE_NODE_SETTINGS if n == 1 else CLUSTER_SETTINGS)}


class Riffle:
    """`riffle serve`, its settings as --override flags."""
    name = "Riffle"
    clean_exit = (0,)

    def __init__(self, binary):
        self.binary = binary
        r = subprocess.run([binary, "--version"], capture_output=True, text=True)
        self.version = r.stdout.strip() or "?"

    def spawn(self, data, node_id, n, port, controller_port, voters, extra):
        settings = {"listeners": f"PLAINTEXT://127.0.0.1:{port}", "log.dirs": str(data), **node_settings(n)}
        if n > 1:
            settings.update({"node.id": str(node_id), "process.roles": "broker,controller",
                             "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
                             "controller.quorum.voters": voters})
        settings.update(extra)
        argv = [self.binary, "serve"] + [a for k, v in settings.items() for a in ("--override", f"{k}={v}")]
        return Node(argv, port, str(data) + ".log", self.clean_exit)


class Kafka:
    """Apache Kafka (compat/harness/apache_kafka.py): a KRaft node, process.roles=broker,controller,
    the same settings in a server.properties, kafka-run-class's stock JVM options with
    `heap`. Storage is formatted (kafka-storage format, a JVM of its own) once per node
    id and copied into each run's fresh data directory."""
    name = "Kafka"
    clean_exit = (0, 143)  # 143: the JVM's exit after SIGTERM once the shutdown hook has run

    def __init__(self, work, heap=kafka_ref.STOCK_HEAP, formatted=None, cluster_id=None):
        self.work = work
        self.heap = heap
        self.version = kafka_ref.kafka_version()
        self.cluster_id = cluster_id or kafka_ref.new_cluster_id()
        self.formatted = {} if formatted is None else formatted

    def with_heap(self, size):
        return Kafka(self.work, f"-Xmx{size} -Xms{size}", self.formatted, self.cluster_id)

    def spawn(self, data, node_id, n, port, controller_port, voters, extra):
        settings = kafka_ref.kraft_settings(node_id=node_id, roles="broker,controller", port=port,
                                            controller_port=controller_port,
                                            voters=voters or f"{node_id}@127.0.0.1:{controller_port}",
                                            data_dir=str(data))
        settings.update(node_settings(n))
        settings.update(extra)
        if not (data / "meta.properties").exists():
            shutil.copytree(self.template(node_id, n, settings), data, dirs_exist_ok=True)
        props = str(data) + ".properties"
        kafka_ref.write_properties(props, settings)
        return Node(kafka_ref.java_argv("kafka.Kafka", props, heap=self.heap), port, str(data) + ".log",
                    self.clean_exit)

    def template(self, node_id, n, settings):
        """A formatted, empty log directory for node `node_id` of n (the voters are static,
        so nothing in it names a port)."""
        key = (n, node_id)
        if key not in self.formatted:
            tmpl = self.work / "kafka-formatted" / f"{n}-{node_id}"
            tmpl.mkdir(parents=True)
            props = str(tmpl) + ".properties"
            kafka_ref.write_properties(props, {**settings, "log.dirs": str(tmpl)})
            kafka_ref.format_storage(props, self.cluster_id, str(tmpl) + ".log")
            self.formatted[key] = tmpl
        return self.formatted[key]


# Each data directory keeps its ports: a deployment restarted on it (a consume run reads
# what a produce run wrote) gets the listeners and quorum it had.
PORTS = {}


class Deployment:
    """The brokers of one run: one node, or n nodes that are each a broker and a
    controller. Measured as one: CPU summed over the processes, peak RSS of the largest."""

    def __init__(self, flavour, data, n=1, extra=None):
        self.flavour = flavour
        self.n = n
        ports = PORTS.setdefault(str(data), free_ports(2 * n))
        voters = ",".join(f"{i + 1}@127.0.0.1:{ports[n + i]}" for i in range(n)) if n > 1 else None
        data.parent.mkdir(parents=True, exist_ok=True)
        self.nodes = []
        try:
            # A cluster node serves once the quorum has registered it: start them all first.
            for i in range(n):
                d = data / str(i + 1) if n > 1 else data
                d.parent.mkdir(parents=True, exist_ok=True)
                self.nodes.append(flavour.spawn(d, i + 1, n, ports[i], ports[n + i], voters, extra or {}))
            for nd in self.nodes:
                nd.wait_ready()
            if n > 1:
                wait_until(lambda: len(metadata(self.port)[0]) >= n, 120, "every broker registered")
        except Exception:
            self.kill()
            raise
        self.startup = self.cpu_so_far()  # what start-up cost; mark() moves it past the warm-up

    @property
    def port(self):
        return self.nodes[0].port

    @property
    def bootstrap(self):
        return ",".join(f"127.0.0.1:{nd.port}" for nd in self.nodes)

    def cpu_so_far(self):
        return sum(nd.cpu_so_far() for nd in self.nodes)

    def status_kib(self, field):
        return max(nd.status_kib(field) for nd in self.nodes)

    def mark(self):
        self.startup = self.cpu_so_far()

    def stop(self):
        """(CPU seconds of all nodes' whole lives, largest peak RSS in KiB, all clean).
        All nodes at once: one by one, the last node's controlled shutdown would wait for a
        quorum the others took away (Kafka's for minutes, Riffle's for 3 s). At once is a
        race a Kafka node can still lose (its approval comes after the active controller
        left): that stop then waits for finish_stop's limit and is reported as not clean,
        which only the stop figures show; compat/harness/cluster.py stops Kafka exactly,
        with stand-in voters, where a clean stop is what is tested."""
        for nd in self.nodes:
            nd.begin_stop()
        stopped = [nd.finish_stop() for nd in self.nodes]
        return sum(c for c, _, _ in stopped), max(p for _, p, _ in stopped), all(ok for _, _, ok in stopped)

    def kill(self):
        for nd in self.nodes:
            if nd.proc.returncode is None:
                nd.kill()

    def log_tails(self, n=20):
        return "\n".join(f"--- {nd.log_path}\n{nd.log_tail(n)}" for nd in self.nodes)

    def logged(self, needle):
        return any(nd.logged(needle) for nd in self.nodes)

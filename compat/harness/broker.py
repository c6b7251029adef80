"""Start / stop / crash a riffle broker process for the managed scenarios."""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import time

from .common import CheckFailed, free_port, log

_PR_SET_PDEATHSIG = 1


def _die_with_parent():
    """preexec_fn: new process group, and SIGKILL when the spawning thread dies.

    All brokers are spawned from a main thread, so PDEATHSIG fires when the
    harness process dies, even by SIGKILL: no broker outlives the suite."""
    os.setpgrp()
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:
        pass


def _tail(path, n=40):
    try:
        with open(path, "rb") as f:
            lines = f.read().decode("utf-8", "replace").splitlines()
        return "\n".join(lines[-n:])
    except OSError:
        return "(no log)"


def port_open(host, port, timeout=0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def listener_map(overrides: dict[str, str]) -> dict[str, str]:
    """listener name -> security protocol (``listener.security.protocol.map``, else
    each name is its protocol, as Kafka's default map has it)."""
    m = overrides.get("listener.security.protocol.map", "")
    return {k.strip().upper(): v.strip().upper() for k, _, v in
            (e.partition(":") for e in m.split(",") if e.strip())}


def plaintext_port(overrides: dict[str, str]) -> int | None:
    """The port of the first PLAINTEXT listener of a ``listeners`` override."""
    if "listeners" not in overrides:
        return None
    protos = listener_map(overrides)
    for entry in overrides["listeners"].split(","):
        name, _, rest = entry.strip().partition("://")
        if protos.get(name.upper(), name.upper()) == "PLAINTEXT" and name.upper() != "CONTROLLER":
            return int(rest.rpartition(":")[2])
    raise CheckFailed(f"listeners={overrides['listeners']}: the suite needs a PLAINTEXT listener "
                      f"(setup and readiness)")


class Broker:
    """A riffle broker on 127.0.0.1:port with its own data directory.

    The port and data directory stay the same across restarts. The flavour
    hooks (``prepare``, ``ready_ports``, ``CLEAN_EXIT``, ``verify_logs``) are
    what harness/flavours.py overrides to run Apache Kafka the same way."""

    FLAVOUR = "riffle"
    # exit codes of a clean stop after SIGTERM
    CLEAN_EXIT = (0,)

    def __init__(self, binary: str, data_dir: str, log_path: str, *, port: int | None = None,
                 overrides: dict[str, str] | None = None, name: str = "broker"):
        self.binary = binary
        self.data_dir = data_dir
        self.log_path = log_path
        self.overrides = dict(overrides or {})
        # a scenario's own ``listeners`` win; the suite's port (bootstrap, readiness) is
        # then that of its PLAINTEXT listener
        self.port = port or plaintext_port(self.overrides) or free_port()
        self.name = name
        # Java system properties (-D) of a JVM broker (the Kafka flavour); riffle has none
        self.jvm_properties: dict[str, str] = {}
        # SCRAM users the storage format adds before the first start, as
        # ``kafka-storage format --add-scram`` (riffle: ``riffle format --add-scram``)
        self.add_scram: list[str] = []
        self.proc: subprocess.Popen | None = None
        self.starts = 0
        os.makedirs(data_dir, exist_ok=True)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def argv(self):
        args = [self.binary, "serve"]
        if "listeners" not in self.overrides:
            args += ["--override", f"listeners=PLAINTEXT://127.0.0.1:{self.port}"]
        args += ["--override", f"log.dirs={self.data_dir}"]
        for k, v in self.overrides.items():
            args += ["--override", f"{k}={v}"]
        return args

    def prepare(self):
        """Before each start (Kafka: server.properties, storage format; riffle: its
        format, before the first start, when there are users to add)."""
        if not os.path.exists(self.binary):
            raise CheckFailed(f"broker binary {self.binary} does not exist")
        if self.add_scram and self.starts == 1:
            argv = [self.binary, "format", "--override", f"log.dirs={self.data_dir}"]
            for spec in self.add_scram:
                argv += ["--add-scram", spec]
            with open(self.log_path, "ab") as lf:
                p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=lf, stderr=subprocess.STDOUT, timeout=60)
            if p.returncode != 0:
                raise CheckFailed(f"riffle format exited {p.returncode}; see {self.log_path}")

    def ready_ports(self) -> list[int]:
        """The process is up once any of these accepts connections."""
        return [self.port]

    def log_tail(self, n=40) -> str:
        return _tail(self.log_path, n)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float = 60.0):
        if self.alive():
            raise RuntimeError(f"{self.name} already running")
        self.starts += 1
        self.prepare()
        with open(self.log_path, "ab") as lf:
            lf.write(f"\n===== {self.name} start #{self.starts}: {' '.join(self.argv())}\n".encode())
            lf.flush()
            self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL, stdout=lf, stderr=lf,
                                         preexec_fn=_die_with_parent)
        deadline = time.monotonic() + timeout
        while True:
            rc = self.proc.poll()
            if rc is not None:
                raise CheckFailed(f"{self.name} exited with code {rc} during startup "
                                  f"(start #{self.starts}); log tail:\n{self.log_tail()}")
            if any(port_open("127.0.0.1", p) for p in self.ready_ports()):
                log(f"{self.name} up on {self.bootstrap} (pid {self.proc.pid}, start #{self.starts})")
                return
            if time.monotonic() >= deadline:
                self.kill()
                raise CheckFailed(f"{self.name} did not accept connections on {self.bootstrap} "
                                  f"within {timeout}s; log tail:\n{self.log_tail()}")
            time.sleep(0.05)

    def stop(self, timeout: float = 30.0) -> int:
        """Clean stop (SIGTERM). Fails if the broker does not exit in time
        or exits non-zero (the broker is then SIGKILLed)."""
        self.begin_stop()
        return self.finish_stop(timeout)

    def begin_stop(self):
        """SIGTERM (the first half of stop(), for stopping several at once)."""
        if not self.alive():
            rc = self.proc.returncode if self.proc else None
            raise CheckFailed(f"{self.name} is not running at stop time (exit code {rc}); "
                              f"log tail:\n{self.log_tail()}")
        self.proc.send_signal(signal.SIGTERM)

    def finish_stop(self, timeout: float = 30.0) -> int:
        """Wait for the exit begin_stop() asked for; it must be clean."""
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise CheckFailed(f"{self.name} did not exit within {timeout}s of SIGTERM; log tail:\n"
                              f"{self.log_tail()}")
        log(f"{self.name} stopped (SIGTERM), exit code {rc}")
        if rc not in self.CLEAN_EXIT:
            raise CheckFailed(f"{self.name} exited with code {rc} after SIGTERM (expected a clean stop, "
                              f"{' or '.join(map(str, self.CLEAN_EXIT))}); "
                              f"log tail:\n{self.log_tail()}")
        return rc

    def kill(self):
        """Crash: SIGKILL (also the cleanup path; never fails)."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
            log(f"{self.name} killed (SIGKILL)")

    def restart(self, timeout: float = 60.0):
        self.stop()
        self.start(timeout)

    def verify_logs(self, timeout: float = 120.0) -> tuple[int, str]:
        """Run ``riffle verify-logs``; the broker must be stopped."""
        if self.alive():
            raise RuntimeError("verify-logs needs a stopped broker")
        p = subprocess.run([self.binary, "verify-logs", "--log-dirs", self.data_dir],
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=timeout, preexec_fn=_die_with_parent)
        out = p.stdout.decode("utf-8", "replace")
        return p.returncode, out

    def check_verify_logs(self):
        rc, out = self.verify_logs()
        tail = "\n".join(out.splitlines()[-30:])
        if rc != 0:
            raise CheckFailed(f"{self.FLAVOUR}: checking the segments of {self.data_dir} failed ({rc}):\n{tail}")
        log(f"verify-logs OK: {tail[-300:]}")

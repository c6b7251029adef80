#!/usr/bin/env python3
"""Riffle Kafka-client compatibility suite.

    python3 compat/run.py                       # start a riffle broker, run everything
    python3 compat/run.py --bootstrap HOST:PORT # against any running Kafka-compatible broker
    python3 compat/run.py --only 'kcat/' --only 'crash'   # regex filter on scenario ids
    python3 compat/run.py --list
    python3 compat/run.py --flavour kafka       # the same suite against Apache Kafka (the reference)

Every scenario runs in its own process (own process group, hard time limit),
several at a time. Scenarios that restart or kill a broker get a private
broker of their own (managed mode only; SKIP with --bootstrap). With
``--flavour kafka`` every broker the suite starts (shared, private, cluster
nodes) is Apache Kafka instead of riffle (harness/flavours.py); a scenario
that fails there is a wrong scenario, or a difference listed in
compat/reference-differences.txt. The last
line printed is "N passed, M failed[, K skipped]"; the exit code is 1 if
anything failed.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)

from harness.common import CheckFailed, Skip, errors_seen_note  # noqa: E402
from harness.flavours import FLAVOURS, broker_class  # noqa: E402
from harness.groups import BROKER_GROUP_OVERRIDES  # noqa: E402
from harness.shared_brokers import EXTRA_BROKERS  # noqa: E402
from scenarios import CLIENT_ORDER, COLUMNS, all_scenarios  # noqa: E402

DEFAULT_BIN = os.environ.get("RIFFLE_BIN", os.path.join(REPO, "target", "release", "riffle"))


def _child_preexec():
    """Scenario processes: own session (so a timeout can kill the whole
    group), and SIGKILLed if the harness dies."""
    os.setsid()
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def _tail(path, n):
    try:
        with open(path, "rb") as f:
            lines = f.read().decode("utf-8", "replace").splitlines()
        return lines[-n:]
    except OSError:
        return []


# ---------------------------------------------------------------------------
# child: runs exactly one scenario


def child_main(args) -> int:
    import faulthandler
    from harness.context import Ctx

    faulthandler.enable()  # a client library that crashes the process leaves its Python stack in the log

    scen = {s.id: s for s in all_scenarios()}[args.child]
    ctx = Ctx(scenario_id=scen.id, bootstrap=args.bootstrap, managed=args.managed,
              broker_bin=args.broker_bin, workdir=args.workdir, flavour=args.flavour)
    result = {"status": "FAIL", "note": None, "error": None}
    t0 = time.monotonic()

    def on_term(signum, frame):
        raise SystemExit(f"terminated by signal {signum}")

    def on_alarm(signum, frame):
        raise CheckFailed(f"scenario exceeded its time limit ({scen.timeout:.0f}s)")

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(max(5, int(scen.timeout - 20)))
    try:
        print(f"=== {scen.id}: {scen.target}{scen.args} against {ctx.bootstrap} "
              f"({'managed' if ctx.managed else 'external'} broker)", flush=True)
        ret = scen.resolve()(ctx, *scen.args)
        if isinstance(ret, dict):
            result.update(status="PASS", note=ret.get("note"), via=ret.get("via"))
        else:
            result.update(status="PASS", note=ret)
    except Skip as e:
        result.update(status="SKIP", note=str(e))
    except CheckFailed as e:
        traceback.print_exc()
        result.update(status="FAIL", error=str(e))
    except BaseException as e:  # noqa: BLE001 - report anything as a failure
        traceback.print_exc()
        result.update(status="FAIL", error=f"{type(e).__name__}: {e}")
    finally:
        signal.alarm(0)
        try:
            ctx.cleanup()
        except Exception:  # noqa: BLE001
            traceback.print_exc()
    seen = errors_seen_note()
    if seen:
        result["errors_seen"] = seen
        if result["status"] == "PASS":
            result["note"] = "; ".join(x for x in (result.get("note"), seen) if x)
    result["duration"] = round(time.monotonic() - t0, 1)
    print(f"=== {scen.id}: {result['status']} in {result['duration']}s", flush=True)
    with open(args.result_file, "w") as f:
        json.dump(result, f)
    return 0


# ---------------------------------------------------------------------------
# parent: broker, scheduling, report


class Running:
    def __init__(self, scen, proc, log_path, result_path, started):
        self.scen, self.proc, self.log_path, self.result_path, self.started = (
            scen, proc, log_path, result_path, started)


def _kill_group(proc):
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        pass


def client_versions():
    from harness.clients import get_client
    out = {}
    for c in CLIENT_ORDER:
        try:
            out[c] = get_client(c).version()
        except Exception as e:  # noqa: BLE001
            out[c] = f"{c} (unavailable: {type(e).__name__}: {e})"
    return out


def run_suite(args) -> int:
    scenarios = all_scenarios()
    if args.cut:
        if not os.path.isfile(args.cut):
            print(f"--cut {args.cut}: no such file", file=sys.stderr)
            return 2
        ids = load_known_failures(args.cut)  # same format: scenario id, then why it is there
        missing = sorted(set(ids) - {s.id for s in scenarios})
        if missing or not ids:
            print(f"{args.cut} names no scenario, or scenarios that do not exist: {missing}", file=sys.stderr)
            return 2
        scenarios = [s for s in scenarios if s.id in ids]
    if args.only:
        pats = [re.compile(p) for p in args.only]
        scenarios = [s for s in scenarios if any(p.search(s.id) for p in pats)]
        if not scenarios:
            print(f"no scenario matches {args.only}; see --list", file=sys.stderr)
            return 2
    if args.list:
        for s in scenarios:
            print(f"{s.id:40s} {'(managed broker only)' if s.managed_only else ''}")
        return 0

    workdir = tempfile.mkdtemp(prefix="riffle-compat-")
    os.makedirs(os.path.join(workdir, "logs"), exist_ok=True)
    managed = args.bootstrap is None
    results: dict[str, dict] = {}
    broker_rows: list[tuple[str, dict]] = []
    shared = None
    # the shared extra brokers (harness/shared_brokers.py) a selected scenario needs:
    # flag -> (broker, None), or (None, why it failed to start)
    extras: dict[str, tuple] = {}
    running: list[Running] = []
    interrupted = False
    versions: dict[str, str] = {}
    bootstrap = None

    def on_term(signum, frame):
        raise KeyboardInterrupt()

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)  # also when started with SIGINT ignored (e.g. `cmd &`)
    t_start = time.monotonic()
    try:
        if managed:
            bin_ = os.path.abspath(args.broker_bin)
            if not os.path.exists(bin_) and args.flavour == "riffle":
                print(f"broker binary {bin_} not found (build it, or pass --broker-bin / --bootstrap)",
                      file=sys.stderr)
                for s in scenarios:
                    results[s.id] = {"status": "FAIL", "error": f"broker binary {bin_} not found", "duration": 0}
                return report(scenarios, results, broker_rows, {}, None, workdir, args, t_start)
            if args.flavour == "kafka":
                from harness.apache_kafka import kafka_lib, kafka_version
                print(f"brokers: Apache Kafka {kafka_version()} ({kafka_lib()})", flush=True)
            else:
                mtime = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(os.path.getmtime(bin_)))
                print(f"broker binary: {bin_} (built {mtime})", flush=True)
            # quick consumer-group rebalances (initial delay 500 ms, session
            # timeouts from 1 s); --broker-override wins
            overrides = dict(BROKER_GROUP_OVERRIDES)
            overrides.update(dict(kv.split("=", 1) for kv in args.broker_override))
            shared = broker_class(args.flavour)(bin_, os.path.join(workdir, "shared-broker", "data"),
                                                os.path.join(workdir, "shared-broker", "broker.log"),
                                                overrides=overrides, name="shared broker")
            try:
                shared.start()
            except CheckFailed as e:
                print(str(e), file=sys.stderr)
                for s in scenarios:
                    results[s.id] = {"status": "FAIL", "error": f"shared broker failed to start: {e}",
                                     "duration": 0}
                return report(scenarios, results, broker_rows, {}, None, workdir, args, t_start)
            bootstrap = shared.bootstrap
            for kind in EXTRA_BROKERS:
                if any(getattr(s, kind.flag) for s in scenarios):
                    extras[kind.flag] = start_extra_broker(kind, args.flavour, bin_, workdir, overrides)
        else:
            bin_ = os.path.abspath(args.broker_bin)
            bootstrap = args.bootstrap
        print(f"bootstrap: {bootstrap} ({'broker started by the suite' if managed else 'external broker'}); "
              f"workdir {workdir}; {len(scenarios)} scenarios, {args.jobs} at a time", flush=True)
        versions = client_versions()
        for c in CLIENT_ORDER:
            print(f"  {versions[c]}", flush=True)

        # riffle: its known failures; kafka: the deliberate differences from the reference
        known = load_known_failures(KNOWN_FAILURES if args.flavour == "riffle" else REFERENCE_DIFFERENCES)
        queue = sorted(scenarios, key=lambda s: -s.cost)
        for s in list(queue):
            down = [k for k in EXTRA_BROKERS
                    if getattr(s, k.flag) and managed and extras.get(k.flag, (None, None))[0] is None]
            if down:
                why = extras.get(down[0].flag, (None, None))[1]
                results[s.id] = {"status": "FAIL", "duration": 0,
                                 "error": f"the {down[0].name} failed to start: {why}"}
                queue.remove(s)
                continue
            if s.managed_only and not managed:
                results[s.id] = {"status": "SKIP", "note": "restarts/kills the broker: not with --bootstrap",
                                 "duration": 0}
                queue.remove(s)

        while queue or running:
            while queue and len(running) < args.jobs:
                s = queue.pop(0)
                safe = s.id.replace("/", "__")
                log_path = os.path.join(workdir, "logs", f"{safe}.log")
                res_path = os.path.join(workdir, "logs", f"{safe}.result.json")
                cmd = [sys.executable, os.path.abspath(__file__), "--child", s.id, "--bootstrap", bootstrap,
                       "--workdir", workdir, "--broker-bin", bin_, "--result-file", res_path,
                       "--flavour", args.flavour]
                if managed:
                    cmd.append("--managed")
                lf = open(log_path, "wb")
                proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=lf, stderr=subprocess.STDOUT,
                                        preexec_fn=_child_preexec, cwd=HERE)
                lf.close()
                running.append(Running(s, proc, log_path, res_path, time.monotonic()))
            time.sleep(0.1)
            for r in list(running):
                rc = r.proc.poll()
                elapsed = time.monotonic() - r.started
                if rc is None and elapsed > r.scen.timeout:
                    _kill_group(r.proc)
                    res = {"status": "FAIL", "error": f"killed after the {r.scen.timeout:.0f}s time limit",
                           "duration": round(elapsed, 1)}
                elif rc is None:
                    continue
                else:
                    _kill_group(r.proc)  # leftovers of the scenario's group, if any
                    try:
                        with open(r.result_path) as f:
                            res = json.load(f)
                    except (OSError, ValueError):
                        res = {"status": "FAIL", "error": f"scenario process exited {rc} without a result",
                               "duration": round(elapsed, 1)}
                res["log"] = r.log_path
                if not args.strict:
                    apply_known_failure(r.scen.id, res, known, args.flavour)
                results[r.scen.id] = res
                running.remove(r)
                print(f"  {res['status']:4s} {r.scen.id} ({res.get('duration', 0)}s)"
                      + (f": {res['error'].splitlines()[0][:150]}" if res.get("error") else "")
                      + (f" [{res['note']}]" if res.get("note") and res["status"] != "PASS" else ""), flush=True)

        # the verification logic itself must reject broken read-backs
        import selftest
        n_bad, bad = selftest.main(quiet=True)
        broker_rows.append(("suite self-test: verification rejects broken read-backs",
                            {"status": "FAIL", "error": "\n".join(bad), "duration": 0} if n_bad else
                            {"status": "PASS", "duration": 0}))
        def stopped(name, b):
            row = {"status": "PASS", "duration": 0}
            try:
                b.stop()
                b.check_verify_logs()
            except CheckFailed as e:
                row = {"status": "FAIL", "error": str(e), "duration": 0}
            broker_rows.append((f"{name}: clean SIGTERM stop, then verify-logs", row))
        if shared is not None:
            stopped("shared broker", shared)
        for kind in EXTRA_BROKERS:
            b = extras.get(kind.flag, (None, None))[0]
            if b is not None:
                stopped(kind.name, b)
    except KeyboardInterrupt:
        interrupted = True
        print("\ninterrupted: stopping scenarios and brokers", file=sys.stderr, flush=True)
    finally:
        for r in running:
            _kill_group(r.proc)
        if shared is not None:
            shared.kill()
        for b, _ in extras.values():
            if b is not None:
                b.kill()
    if interrupted:
        report(scenarios, results, broker_rows, versions, bootstrap, workdir, args, t_start)
        return 130
    return report(scenarios, results, broker_rows, versions, bootstrap, workdir, args, t_start)


def start_extra_broker(kind, flavour, bin_, workdir, overrides):
    """A shared extra broker (harness/shared_brokers.py: the secure broker of
    harness/security.py, with TLS and SASL listeners and its SCRAM users; the ACL broker of
    harness/acl.py, with StandardAuthorizer) started in workdir/<kind.dirname>; what the
    scenarios need of it is saved there in kind.filename (Ctx.secure_broker,
    Ctx.acl_broker). (broker, None), or (None, why not)."""
    start = kind.start_fn()
    d = os.path.join(workdir, kind.dirname)
    os.makedirs(d, exist_ok=True)
    broker = None

    def new_broker(data_dir, log_path, **kw):
        nonlocal broker
        broker = broker_class(flavour)(bin_, data_dir, log_path, **kw)
        return broker
    try:
        b, info = start(new_broker, d, kind.name, extra=overrides)
    except Exception as e:  # noqa: BLE001 - reported on every scenario that needs it
        if broker is not None:
            broker.kill()
        print(f"the {kind.name} failed to start: {e}", file=sys.stderr, flush=True)
        lines = [ln for ln in str(e).splitlines() if ln.strip()]
        # its first line and the log's last (the whole tail is printed above once)
        return None, f"{type(e).__name__}: {lines[0] if lines else ''}" + (f" ... {lines[-1][:400]}"
                                                                           if len(lines) > 1 else "")
    info.save(os.path.join(d, kind.filename))
    print(f"{kind.label}: {info.ports}", flush=True)
    return b, None


KNOWN_FAILURES = os.path.join(HERE, "known-failures.txt")
REFERENCE_DIFFERENCES = os.path.join(HERE, "reference-differences.txt")


def load_known_failures(path=KNOWN_FAILURES) -> dict[str, str]:
    out = {}
    try:
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line and not line.startswith("#"):
                    sid, _, reason = line.partition(" ")
                    out[sid] = reason.strip()
    except OSError:
        pass
    return out


def apply_known_failure(sid, r, known, flavour="riffle"):
    what, listed = (("known failure", "known-failures.txt") if flavour == "riffle" else
                    ("reference difference", "reference-differences.txt"))
    if sid in known:
        if r["status"] == "FAIL":
            r["status"] = "XFAIL"
            first = " ".join(ln.strip() for ln in (r.get("error") or "").splitlines()[:2])
            r["note"] = f"{what} ({known[sid]}); this run: {first[:300]}"
        elif r["status"] == "PASS":
            r["status"] = "XPASS"
            r["note"] = f"listed in compat/{listed} but passes now: delete its line"


def report(scenarios, results, broker_rows, versions, bootstrap, workdir, args, t_start) -> int:
    names = []
    for s in scenarios:
        if s.name not in names:
            names.append(s.name)
    clients = [c for c in COLUMNS if any(s.client == c for s in scenarios)]
    print()
    failed = [(s, results[s.id]) for s in scenarios if results.get(s.id, {}).get("status") == "FAIL"]
    skipped = [(s, results[s.id]) for s in scenarios if results.get(s.id, {}).get("status") in ("SKIP", "XFAIL")]
    xpassed = [(s, results[s.id]) for s in scenarios if results.get(s.id, {}).get("status") == "XPASS"]
    for s, r in failed:
        print(f"---- FAIL {s.id} ({r.get('duration', 0)}s)")
        print("     " + "\n     ".join((r.get("error") or "").splitlines()[:25]))
        if r.get("log"):
            print(f"     log: {r['log']}")
            for ln in _tail(r["log"], 15):
                print(f"     | {ln[:300]}")
    for label, r in broker_rows:
        if r["status"] == "FAIL":
            print(f"---- FAIL {label}\n     " + "\n     ".join(r["error"].splitlines()[:25]))
    if skipped:
        print(f"---- skipped and {'known failures (compat/known-failures.txt)' if args.flavour == 'riffle' else 'reference differences (compat/reference-differences.txt)'}:")
        for s, r in skipped:
            print(f"     {r['status']:5s} {s.id}: {r.get('note')}")
    for s, r in xpassed:
        print(f"---- XPASS {s.id}: {r['note']}")
    notes = [(s, results[s.id]) for s in scenarios
             if results.get(s.id, {}).get("status") == "PASS" and results[s.id].get("note")]
    if notes:
        print("---- notes:")
        for s, r in notes:
            print(f"     {s.id}: {r['note']}")

    print()
    if bootstrap:
        print(f"Compatibility against {'Apache Kafka' if args.flavour == 'kafka' else 'riffle'} at {bootstrap} "
              f"({'broker started by the suite' if args.bootstrap is None else 'external broker'}), "
              f"{time.monotonic() - t_start:.0f}s")
    for c in clients:
        if c in versions:
            print(f"  {c}: {versions[c]}")
    w0 = max(len(n) for n in names + ["scenario"]) + 2
    widths = [max(len(c), 7) + 2 for c in clients]
    print("scenario".ljust(w0) + "".join(c.ljust(w) for c, w in zip(clients, widths)))
    print("-" * (w0 + sum(widths)))
    by_id = {s.id: s for s in scenarios}
    for n in names:
        line = n.ljust(w0)
        for c, w in zip(clients, widths):
            sid = f"{c}/{n}"
            r = results.get(sid, {})
            cell = "-" if sid not in by_id else r.get("status", "NOT RUN") + ("*" if r.get("via") else "")
            line += cell.ljust(w)
        print(line)
    vias = {}
    for s in scenarios:
        v = results.get(s.id, {}).get("via")
        if v:
            vias.setdefault((s.client, v), []).append(s.name)
    for (c, v), ns in vias.items():
        print(f"  * {c} ({', '.join(ns)}): {v}")
    for label, r in broker_rows:
        print(f"{label}: {r['status']}")
    all_rows = [results.get(s.id, {"status": "NOT RUN"}) for s in scenarios] + [r for _, r in broker_rows]
    n_pass = sum(r["status"] in ("PASS", "XPASS") for r in all_rows)
    n_fail = sum(r["status"] in ("FAIL", "NOT RUN") for r in all_rows)
    n_skip = sum(r["status"] in ("SKIP", "XFAIL") for r in all_rows)
    keep = args.keep or n_fail
    if keep:
        print(f"logs and data kept in {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"{n_pass} passed, {n_fail} failed" + (f", {n_skip} skipped" if n_skip else ""), flush=True)
    return 1 if n_fail else 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bootstrap", help="run against this already running broker (host:port); "
                                        "scenarios that restart/kill a broker are skipped")
    ap.add_argument("--only", action="append", default=[], metavar="REGEX",
                    help="run only scenarios whose id (client/name) matches; repeatable")
    ap.add_argument("--cut", metavar="FILE", help="run only the scenarios this file lists (one id per line, "
                                                  "e.g. compat/reference-cut.txt)")
    ap.add_argument("--broker-bin", default=DEFAULT_BIN, help=f"riffle binary (default {DEFAULT_BIN}, "
                                                              f"or $RIFFLE_BIN)")
    ap.add_argument("--broker-override", action="append", default=[], metavar="KEY=VALUE",
                    help="extra --override for the shared broker; repeatable")
    ap.add_argument("--jobs", "-j", type=int, default=int(os.environ.get("COMPAT_JOBS", "3")),
                    help="scenarios run in parallel (default 3)")
    ap.add_argument("--keep", action="store_true", help="keep logs and broker data even if all passed")
    ap.add_argument("--flavour", choices=FLAVOURS, default="riffle",
                    help="the brokers the suite starts: riffle (default) or kafka, Apache Kafka as the "
                         "reference (compat/kafka/pom.xml names its version)")
    ap.add_argument("--strict", action="store_true",
                    help="ignore compat/known-failures.txt (with --flavour kafka: "
                         "compat/reference-differences.txt): listed scenarios count as FAIL")
    ap.add_argument("--list", action="store_true", help="list the scenario ids and exit")
    # internal: run one scenario in this process
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--result-file", help=argparse.SUPPRESS)
    ap.add_argument("--workdir", help=argparse.SUPPRESS)
    ap.add_argument("--managed", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        return child_main(args)
    return run_suite(args)


if __name__ == "__main__":
    sys.exit(main())

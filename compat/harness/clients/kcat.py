"""kcat, the system one (Debian: kcat 1.7.1 on librdkafka 2.0.2).

kcat cannot create topics (we use confluent's AdminClient for that), cannot
set a timestamp per message (we check the broker kept the producer's
CreateTime, which lies inside the produce window) and applies its -H headers
to every message of one run (we use constant headers).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess

from ..common import CheckFailed, Record, check, log, note_logged_errors
from ..security import librdkafka_conf
from .base import Client

KCAT = "kcat"
FMT = r"%k\t%s\t%T\t%h\t%p\t%o\n"
COMMON_X = ["-X", "broker.address.family=v4"]


def run_kcat(args, *, input_bytes=None, timeout=90, check_rc=True):
    argv = [KCAT] + args
    shown = " ".join(a if len(a) < 80 else a[:77] + "..." for a in argv)
    log(f"$ {shown}")
    try:
        p = subprocess.run(argv, input=input_bytes, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=timeout, stdin=None if input_bytes is not None else subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        err = (e.stderr or b"").decode("utf-8", "replace")[-2000:]
        raise CheckFailed(f"`{shown}` did not finish within {timeout}s; stderr tail:\n{err}") from None
    err = p.stderr.decode("utf-8", "replace")
    if err.strip():
        log("kcat stderr:\n" + err[-3000:])
        note_logged_errors("kcat", err)
    if check_rc and p.returncode != 0:
        raise CheckFailed(f"`{shown}` exited {p.returncode}; stderr:\n{err[-2000:]}")
    return p.returncode, p.stdout, err


def parse_headers(s: str) -> list[tuple[str, bytes]]:
    """kcat %h: 'n1=v1,n2=v2' (our header names/values contain no ',' or '=')."""
    if not s:
        return []
    out = []
    for part in s.split(","):
        name, eq, val = part.partition("=")
        check(eq == "=", f"cannot parse kcat header field {s!r}")
        out.append((name, val.encode()))
    return out


class Kcat(Client):
    name = "kcat"
    explicit_timestamps = False
    per_message_headers = False
    admin_note = "topics created with confluent-kafka's AdminClient (kcat has no admin API)"
    codecs = ("gzip", "snappy", "lz4", "zstd")

    def __init__(self):
        self._confluent = None

    def _ck(self):
        if self._confluent is None:
            from .confluent import Confluent
            self._confluent = Confluent()
        return self._confluent

    def version(self):
        if not shutil.which(KCAT):
            return "kcat (not installed)"
        out = subprocess.run([KCAT, "-V"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             timeout=10).stdout.decode()
        m = re.search(r"Version (\S+) .*?librdkafka (\S+)", out)
        return f"kcat {m.group(1)} (librdkafka {m.group(2)})" if m else out.strip().splitlines()[-1]

    def codec_skip_reason(self, codec):
        out = subprocess.run([KCAT, "-V"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             timeout=10).stdout.decode()
        m = re.search(r"builtin\.features=(\S+)", out)
        if m and codec not in m.group(1).rstrip(")").split(","):
            return f"this kcat's librdkafka was built without {codec}"
        return None

    def base(self, ctx):
        sec = []
        for k, v in librdkafka_conf(getattr(ctx, "security", None)).items():
            sec += ["-X", f"{k}={v}"]
        return ["-b", ctx.bootstrap] + COMMON_X + sec

    def create_topic(self, ctx, topic, partitions=3, configs=None):
        self._ck().create_topic(ctx, topic, partitions, configs)

    def delete_topic(self, ctx, topic):
        self._ck().delete_topic(ctx, topic)

    def produce(self, ctx, topic, msgs, *, compression=None, idempotent=False, timeout=120):
        check(not idempotent, "kcat adapter: idempotence not supported")
        hdrs = msgs[0].headers
        check(all(m.headers == hdrs for m in msgs), "kcat can only send the same headers on every message")
        check(all(m.timestamp is None for m in msgs), "kcat cannot set message timestamps")
        lines = []
        for m in msgs:
            check(b"\t" not in m.key and b"\n" not in m.key + m.value, "kcat input must not contain tab/newline")
            lines.append(m.key + b"\t" + m.value + b"\n")
        args = self.base(ctx) + ["-P", "-t", topic, "-K", r"\t", "-X", "acks=all", "-X", "linger.ms=5"]
        if compression:
            args += ["-X", f"compression.codec={compression}"]
        for name, val in hdrs:
            args += ["-H", f"{name}={val.decode()}"]
        _, _, err = run_kcat(args, input_bytes=b"".join(lines), timeout=timeout)
        check("Delivery failed" not in err, f"kcat reported failed deliveries:\n{err[-2000:]}")
        return None  # kcat does not report offsets

    def read_all(self, ctx, topic, timeout=90, json_envelope=False):
        """kcat -C -o beginning -e: every partition up to its end."""
        args = self.base(ctx) + ["-C", "-t", topic, "-o", "beginning", "-e", "-q",
                                 "-X", "fetch.wait.max.ms=100"]
        args += ["-J"] if json_envelope else ["-f", FMT]
        _, out, _ = run_kcat(args, timeout=timeout)
        text = out.decode("utf-8", "replace")
        records = []
        for line in text.split("\n"):
            if not line:
                continue
            if json_envelope:
                records.append(self._parse_json(line))
                continue
            f = line.split("\t")
            check(len(f) == 6, f"cannot parse kcat output line {line[:200]!r}")
            records.append(Record(partition=int(f[4]), offset=int(f[5]), key=f[0].encode(), value=f[1].encode(),
                                  headers=parse_headers(f[3]), timestamp=int(f[2]), ts_type=None))
        return records

    @staticmethod
    def _parse_json(line):
        try:
            j = json.loads(line)
        except ValueError:
            raise CheckFailed(f"kcat -J printed a non-JSON line: {line[:200]!r}") from None
        h = j.get("headers") or []
        if isinstance(h, dict):
            headers = [(k, (v or "").encode()) for k, v in h.items()]
        else:
            headers = [(h[i], (h[i + 1] or "").encode()) for i in range(0, len(h), 2)]
        tstype = {"create": "create", "logappend": "logappend"}.get(j.get("tstype"))
        return Record(partition=j["partition"], offset=j["offset"],
                      key=None if j.get("key") is None else j["key"].encode(),
                      value=None if j.get("payload") is None else j["payload"].encode(),
                      headers=headers, timestamp=j.get("ts", -1), ts_type=tstype)

    def query_offsets(self, ctx, topic, partitions, ts):
        """kcat -Q -t topic:p:ts for each partition -> {partition: offset}."""
        args = self.base(ctx) + ["-Q"]
        for p in partitions:
            args += ["-t", f"{topic}:{p}:{ts}"]
        _, out, _ = run_kcat(args, timeout=60)
        text = out.decode("utf-8", "replace")
        res = {}
        for m in re.finditer(r"\[(\d+)\]\s+offset\s+(-?\d+)", text):
            res[int(m.group(1))] = int(m.group(2))
        check(set(res) == set(partitions), f"kcat -Q output did not cover partitions {partitions}: {text!r}")
        return res

    def watermarks(self, ctx, topic):
        parts = sorted(self.metadata(ctx, topic)["topics"][topic])
        lo = self.query_offsets(ctx, topic, parts, -2)   # OFFSET_BEGINNING
        hi = self.query_offsets(ctx, topic, parts, -1)   # OFFSET_END
        return {p: (lo[p], hi[p]) for p in parts}

    def offsets_for_time(self, ctx, topic, partitions, ts):
        return self.query_offsets(ctx, topic, partitions, ts)

    def metadata(self, ctx, topic):
        _, out, _ = run_kcat(self.base(ctx) + ["-L", "-J"], timeout=60)
        try:
            j = json.loads(out.decode())
        except ValueError:
            raise CheckFailed(f"kcat -L -J output is not JSON: {out[:500]!r}") from None
        brokers = set()
        for b in j.get("brokers", []):
            host, _, port = b["name"].rpartition(":")
            brokers.add((b["id"], host, int(port)))
        topics = {}
        for t in j.get("topics", []):
            if t.get("error"):
                continue
            topics[t["topic"]] = {p["partition"]: p["leader"] for p in t.get("partitions", [])}
        return {"brokers": brokers, "topics": topics, "cluster_id": None, "raw": j}

    def metadata_text(self, ctx, topic):
        _, out, _ = run_kcat(self.base(ctx) + ["-L", "-t", topic], timeout=60)
        return out.decode("utf-8", "replace")

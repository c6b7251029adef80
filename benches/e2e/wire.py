"""The wire: just enough of it to see a cluster formed and a topic ready."""

import socket
import struct
import time

from .settings import PARTITIONS


def wait_until(ok, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if ok():
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"timed out after {timeout} s waiting for: {what}")


def request(port, api_key, version, body, timeout=5):
    """One request (header v1, empty client id) to 127.0.0.1:port; the response body
    after its correlation id."""
    header = struct.pack(">hhih", api_key, version, 1, 0)
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(struct.pack(">i", len(header) + len(body)) + header + body)

        def exact(k):
            buf = b""
            while len(buf) < k:
                chunk = s.recv(k - len(buf))
                if not chunk:
                    raise OSError("connection closed")
                buf += chunk
            return buf
        return exact(struct.unpack(">i", exact(4))[0])[4:]


class Reader:
    def __init__(self, data):
        self.data, self.at = data, 0

    def take(self, fmt):
        (v,) = struct.unpack_from(fmt, self.data, self.at)
        self.at += struct.calcsize(fmt)
        return v

    def string(self):
        k = self.take(">h")
        if k < 0:
            return None
        s = self.data[self.at:self.at + k].decode()
        self.at += k
        return s

    def array(self, item):
        return [item() for _ in range(self.take(">i"))]


def metadata(port, topics=(), create=False):
    """Metadata v4 from the node on `port` (Kafka 4 and Riffle both answer it): the broker
    ids, and per topic its error code and (leader, replicas, isr) per partition. With
    `create`, a missing topic is created as the producer's would be (num.partitions,
    default.replication.factor)."""
    body = struct.pack(">i", len(topics)) + b"".join(struct.pack(">h", len(t)) + t.encode() for t in topics)
    r = Reader(request(port, 3, 4, body + struct.pack(">?", create)))
    r.take(">i")  # throttle
    brokers = r.array(lambda: (r.take(">i"), r.string(), r.take(">i"), r.string()))
    r.string()  # cluster id
    r.take(">i")  # controller

    def partition():
        r.take(">h")
        r.take(">i")
        leader = r.take(">i")
        return leader, r.array(lambda: r.take(">i")), r.array(lambda: r.take(">i"))

    def topic():
        err, name = r.take(">h"), r.string()
        r.take(">?")
        return name, (err, r.array(partition))
    return [b[0] for b in brokers], dict(r.array(topic))


def ensure_topic(d, topic):
    """Creates `topic` (as auto-creation does) and waits until every partition has a
    leader and all its replicas in sync, so that no run pays for a topic's creation."""
    def ready():
        _, topics = metadata(d.port, [topic], create=True)
        err, parts = topics.get(topic, (-1, []))
        return err == 0 and len(parts) == PARTITIONS and all(l >= 0 and len(isr) == d.n for l, _, isr in parts)
    wait_until(ready, 120, f"topic {topic} with {PARTITIONS} partitions led and in sync")

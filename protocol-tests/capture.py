#!/usr/bin/env python3
"""Kafka wire-protocol capturing TCP proxy (Python 3 stdlib only).

    capture.py --listen 127.0.0.1:P --upstream 127.0.0.1:Q --out DIR

Forwards bytes both ways between every client connection and the upstream broker, and
writes each complete client->broker request frame (without its 4-byte length prefix) to

    DIR/<seq:04d>_<ApiName>_v<version>.bin

where ApiName comes from the request's api key (first 2 bytes, big-endian i16) and the
version from the next 2 bytes. seq is global across connections, in order of arrival of
the complete frame. Frames larger than --max-frame-bytes are forwarded but not written.

Start the broker with advertised.listeners pointing at the proxy's port, otherwise
clients will bypass the proxy after bootstrap.
"""

import argparse
import os
import signal
import socket
import struct
import sys
import threading

# Kafka API keys -> names (Apache Kafka protocol, as of 3.9/4.0).
API_NAMES = {
    0: "Produce", 1: "Fetch", 2: "ListOffsets", 3: "Metadata", 4: "LeaderAndIsr",
    5: "StopReplica", 6: "UpdateMetadata", 7: "ControlledShutdown", 8: "OffsetCommit",
    9: "OffsetFetch", 10: "FindCoordinator", 11: "JoinGroup", 12: "Heartbeat",
    13: "LeaveGroup", 14: "SyncGroup", 15: "DescribeGroups", 16: "ListGroups",
    17: "SaslHandshake", 18: "ApiVersions", 19: "CreateTopics", 20: "DeleteTopics",
    21: "DeleteRecords", 22: "InitProducerId", 23: "OffsetForLeaderEpoch",
    24: "AddPartitionsToTxn", 25: "AddOffsetsToTxn", 26: "EndTxn", 27: "WriteTxnMarkers",
    28: "TxnOffsetCommit", 29: "DescribeAcls", 30: "CreateAcls", 31: "DeleteAcls",
    32: "DescribeConfigs", 33: "AlterConfigs", 34: "AlterReplicaLogDirs",
    35: "DescribeLogDirs", 36: "SaslAuthenticate", 37: "CreatePartitions",
    38: "CreateDelegationToken", 39: "RenewDelegationToken", 40: "ExpireDelegationToken",
    41: "DescribeDelegationToken", 42: "DeleteGroups", 43: "ElectLeaders",
    44: "IncrementalAlterConfigs", 45: "AlterPartitionReassignments",
    46: "ListPartitionReassignments", 47: "OffsetDelete", 48: "DescribeClientQuotas",
    49: "AlterClientQuotas", 50: "DescribeUserScramCredentials",
    51: "AlterUserScramCredentials", 52: "Vote", 53: "BeginQuorumEpoch",
    54: "EndQuorumEpoch", 55: "DescribeQuorum", 56: "AlterPartition",
    57: "UpdateFeatures", 58: "Envelope", 59: "FetchSnapshot", 60: "DescribeCluster",
    61: "DescribeProducers", 62: "BrokerRegistration", 63: "BrokerHeartbeat",
    64: "UnregisterBroker", 65: "DescribeTransactions", 66: "ListTransactions",
    67: "AllocateProducerIds", 68: "ConsumerGroupHeartbeat",
    69: "ConsumerGroupDescribe", 70: "ControllerRegistration", 71: "GetTelemetrySubscriptions",
    72: "PushTelemetry", 73: "AssignReplicasToDirs", 74: "ListClientMetricsResources",
    75: "DescribeTopicPartitions", 76: "ShareGroupHeartbeat", 77: "ShareGroupDescribe",
    78: "ShareFetch", 79: "ShareAcknowledge", 80: "AddRaftVoter", 81: "RemoveRaftVoter",
    82: "UpdateRaftVoter", 83: "InitializeShareGroupState", 84: "ReadShareGroupState",
    85: "WriteShareGroupState", 86: "DeleteShareGroupState",
    87: "ReadShareGroupStateSummary",
}

BUF = 65536


def log(msg):
    sys.stderr.write("[capture] %s\n" % msg)
    sys.stderr.flush()


class Recorder:
    """Assigns global sequence numbers and writes frames to disk."""

    def __init__(self, out_dir, max_frame_bytes):
        self.out_dir = out_dir
        self.max_frame_bytes = max_frame_bytes
        self.lock = threading.Lock()
        self.seq = 0
        os.makedirs(out_dir, exist_ok=True)

    def record(self, conn_id, frame):
        if len(frame) < 4:
            log("conn %d: frame of %d bytes too short for a header; not written" % (conn_id, len(frame)))
            return
        key, version = struct.unpack(">hh", frame[:4])
        name = API_NAMES.get(key, "Unknown%d" % key)
        with self.lock:
            seq = self.seq
            self.seq += 1
            if len(frame) > self.max_frame_bytes:
                log("conn %d: #%04d %s v%d: %d bytes > --max-frame-bytes, not written"
                    % (conn_id, seq, name, version, len(frame)))
                return
            path = os.path.join(self.out_dir, "%04d_%s_v%d.bin" % (seq, name, version))
            with open(path, "wb") as f:
                f.write(frame)
        log("conn %d: #%04d %s v%d (%d bytes)" % (conn_id, seq, name, version, len(frame)))


class FrameSplitter:
    """Incrementally splits a byte stream into length-prefixed Kafka frames."""

    def __init__(self):
        self.buf = bytearray()

    def feed(self, data):
        self.buf += data
        frames = []
        while len(self.buf) >= 4:
            (size,) = struct.unpack(">i", self.buf[:4])
            if size < 0:
                raise ValueError("negative frame size %d" % size)
            if len(self.buf) < 4 + size:
                break
            frames.append(bytes(self.buf[4:4 + size]))
            del self.buf[:4 + size]
        return frames


def shutdown_quietly(sock, how):
    try:
        sock.shutdown(how)
    except OSError:
        pass


def pump(conn_id, src, dst, splitter, recorder, done):
    """Copies src -> dst until EOF; records frames when a splitter is given."""
    try:
        while True:
            try:
                data = src.recv(BUF)
            except OSError:
                break
            if not data:
                break
            if splitter is not None:
                # Record before forwarding so that the sequence order matches the order in
                # which the broker can see the requests.
                try:
                    for frame in splitter.feed(data):
                        recorder.record(conn_id, frame)
                except ValueError as e:
                    log("conn %d: %s; no longer recording this connection" % (conn_id, e))
                    splitter = None
            try:
                dst.sendall(data)
            except OSError:
                break
    finally:
        # Half-close so the other direction can finish; the peer sees EOF.
        shutdown_quietly(dst, socket.SHUT_WR)
        shutdown_quietly(src, socket.SHUT_RD)
        done()


def handle(conn_id, client, upstream_addr, recorder):
    try:
        upstream = socket.create_connection(upstream_addr, timeout=10)
        upstream.settimeout(None)
    except OSError as e:
        log("conn %d: cannot connect upstream %s:%d: %s" % (conn_id, upstream_addr[0], upstream_addr[1], e))
        client.close()
        return
    for s in (client, upstream):
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    remaining = [2]
    lock = threading.Lock()

    def done():
        with lock:
            remaining[0] -= 1
            last = remaining[0] == 0
        if last:
            client.close()
            upstream.close()
            log("conn %d: closed" % conn_id)

    t1 = threading.Thread(target=pump, args=(conn_id, client, upstream, FrameSplitter(), recorder, done), daemon=True)
    t2 = threading.Thread(target=pump, args=(conn_id, upstream, client, None, recorder, done), daemon=True)
    t1.start()
    t2.start()


def parse_addr(s):
    host, _, port = s.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError("expected HOST:PORT, got %r" % s)
    return host.strip("[]"), int(port)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--listen", type=parse_addr, required=True, help="HOST:PORT to accept clients on")
    ap.add_argument("--upstream", type=parse_addr, required=True, help="HOST:PORT of the broker")
    ap.add_argument("--out", required=True, help="directory for captured request frames")
    ap.add_argument("--max-frame-bytes", type=int, default=1 << 20,
                    help="frames larger than this are forwarded but not written (default 1 MiB)")
    args = ap.parse_args()

    recorder = Recorder(args.out, args.max_frame_bytes)
    lsock = socket.socket(socket.AF_INET6 if ":" in args.listen[0] else socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(args.listen)
    lsock.listen(128)
    log("listening on %s:%d -> %s:%d, writing to %s" % (args.listen + args.upstream + (args.out,)))

    def stop(signum, _frame):
        log("signal %d: stopping after %d frames" % (signum, recorder.seq))
        try:
            lsock.close()
        finally:
            os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    conn_id = 0
    while True:
        try:
            client, peer = lsock.accept()
        except OSError:
            break
        conn_id += 1
        log("conn %d: accepted from %s:%d" % (conn_id, peer[0], peer[1]))
        threading.Thread(target=handle, args=(conn_id, client, args.upstream, recorder), daemon=True).start()


if __name__ == "__main__":
    main()

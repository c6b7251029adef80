"""TLS and SASL (issue 14): hostile and wrong bytes on the secured listeners of the
shared secure broker, with Python's socket and ssl modules (requests made by hand:
ApiVersions v0, Metadata v1, SaslHandshake v1, SaslAuthenticate v2). Each case checks
what Kafka 4.4 does, then that a normal client (confluent-kafka) still produces and
reads back through the listener that was attacked:

* ``ssl-bad-hello-on-plaintext``: a TLS ClientHello sent to the PLAINTEXT listener (its first
  four bytes read as a request size of ~369 MB, over socket.request.max.bytes): the
  connection is closed, no ServerHello;
* ``ssl-bad-plaintext-on-ssl``: an ApiVersions request in the clear to the SSL listener:
  the TLS handshake fails, the connection is closed, no Kafka response;
* ``sasl-bad-metadata-first``: ApiVersions is answered before SASL, but a Metadata
  request before the SASL handshake on SASL_PLAINTEXT closes the connection, unanswered;
* ``sasl-bad-oversized-token``: a SaslAuthenticate of more than 1 MiB (over Kafka's
  sasl.server.max.receive.size, 512 KiB) after SaslHandshake(PLAIN): closed, unanswered;
* ``sasl-bad-scram-nonce``: SCRAM-SHA-512 client-final whose nonce is not the
  server's: SaslAuthenticate answers SASL_AUTHENTICATION_FAILED, then the connection
  is closed.
"""

from __future__ import annotations

import base64
import os
import socket
import ssl
import struct
import time

from harness.clients import get_client
from harness.common import CheckFailed, check, log
from scenarios import Scenario

API_VERSIONS, METADATA, SASL_HANDSHAKE, SASL_AUTHENTICATE = 18, 3, 17, 36
SASL_AUTHENTICATION_FAILED = 58
CLIENT_ID = b"compat-bad-input"


def bad_input_scenarios() -> list[Scenario]:
    return [Scenario("kafka-python", name, f"scenarios.security_bad_input:{fn}", secure=True, managed_only=True,
                     timeout=150)
            for name, fn in (("ssl-bad-hello-on-plaintext", "tls_on_plaintext"),
                             ("ssl-bad-plaintext-on-ssl", "plaintext_on_ssl"),
                             ("sasl-bad-metadata-first", "metadata_before_sasl"),
                             ("sasl-bad-oversized-token", "oversized_token"),
                             ("sasl-bad-scram-nonce", "scram_wrong_nonce"))]


# --- the wire, by hand ------------------------------------------------------------


def _uvarint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _read_uvarint(buf: bytes, pos: int) -> tuple[int, int]:
    n = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        n |= (b & 0x7F) << shift
        if not b & 0x80:
            return n, pos
        shift += 7


def request(api_key: int, version: int, corr: int, body: bytes, *, flexible: bool = False) -> bytes:
    """Size-prefixed request: header v1 (v2 with an empty tagged-field section)."""
    hdr = struct.pack(">hhih", api_key, version, corr, len(CLIENT_ID)) + CLIENT_ID
    if flexible:
        hdr += b"\x00"
    msg = hdr + body
    return struct.pack(">i", len(msg)) + msg


def api_versions_v0(corr=1) -> bytes:
    return request(API_VERSIONS, 0, corr, b"")


def metadata_v1(corr=2) -> bytes:
    return request(METADATA, 1, corr, struct.pack(">i", -1))  # all topics


def sasl_handshake_v1(mechanism: str, corr=3) -> bytes:
    m = mechanism.encode()
    return request(SASL_HANDSHAKE, 1, corr, struct.pack(">h", len(m)) + m)


def sasl_authenticate_v2(token: bytes, corr=4) -> bytes:
    # compact bytes, then the body's empty tagged fields
    return request(SASL_AUTHENTICATE, 2, corr, _uvarint(len(token) + 1) + token + b"\x00", flexible=True)


def recv_exact(s, n: int) -> bytes | None:
    """n bytes, or None when the peer closed (or reset) the connection first."""
    buf = b""
    while len(buf) < n:
        try:
            chunk = s.recv(n - len(buf))
        except (ConnectionResetError, ssl.SSLError, ssl.SSLEOFError):
            return None
        if not chunk:
            return None
        buf += chunk
    return buf


def recv_response(s) -> bytes | None:
    """One size-prefixed response (correlation id first), or None when closed."""
    size = recv_exact(s, 4)
    if size is None:
        return None
    (n,) = struct.unpack(">i", size)
    check(0 < n < 10_000_000, f"response size {n}")
    return recv_exact(s, n)


def closed(s, timeout=15.0) -> bool:
    """True once the peer closes the connection (EOF or reset) within ``timeout``;
    raises if it sends anything instead."""
    s.settimeout(timeout)
    try:
        data = s.recv(4096)
    except (ConnectionResetError, ssl.SSLEOFError):
        return True
    except ssl.SSLError as e:
        log(f"TLS error while waiting for the close: {e}")
        return True
    except socket.timeout:
        return False
    if data:
        raise CheckFailed(f"expected the connection to be closed, got {len(data)} bytes: {data[:64]!r}")
    return True


def sasl_authenticate_response(body: bytes) -> tuple[int, str | None, bytes]:
    """(error code, error message, auth bytes) of SaslAuthenticate v2 (header v1)."""
    pos = 4  # correlation id
    _, pos = _read_uvarint(body, pos)  # header tagged fields (none)
    (err,) = struct.unpack_from(">h", body, pos)
    pos += 2
    n, pos = _read_uvarint(body, pos)
    msg = None
    if n:
        msg = body[pos:pos + n - 1].decode()
        pos += n - 1
    n, pos = _read_uvarint(body, pos)
    auth = body[pos:pos + n - 1] if n else b""
    return err, msg, auth


def connect(addr: str, timeout=10.0) -> socket.socket:
    host, _, port = addr.rpartition(":")
    s = socket.create_connection((host, int(port)), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def sasl_connect(addr: str, mechanism: str) -> socket.socket:
    """A SASL_PLAINTEXT connection after a successful SaslHandshake v1."""
    s = connect(addr)
    s.sendall(sasl_handshake_v1(mechanism))
    resp = recv_response(s)
    check(resp is not None, f"SaslHandshake({mechanism}): connection closed")
    (corr, err) = struct.unpack_from(">ih", resp, 0)
    check(err == 0, f"SaslHandshake({mechanism}): error code {err}")
    return s


# --- the others are unaffected ----------------------------------------------------


def still_serves(ctx, sb, protocol, mechanism=None):
    """confluent-kafka produces and reads back through ``protocol``'s listener."""
    from scenarios.security import produce_and_read
    ctx.bootstrap, ctx.security = sb.client(protocol, mechanism)
    if protocol == "PLAINTEXT":
        ctx.bootstrap, ctx.security = sb.plaintext, None
    produce_and_read(ctx, get_client("confluent-kafka"), f"after-bad-input-{protocol.lower()}")
    log(f"confluent-kafka still produces and reads over {protocol} {mechanism or ''}")


# --- the scenarios ------------------------------------------------------------------


def tls_on_plaintext(ctx):
    sb = ctx.secure_broker()
    tls = ssl.create_default_context(cafile=sb.keys["ca"])
    raw = connect(sb.plaintext)
    try:
        with tls.wrap_socket(raw, server_hostname="127.0.0.1", do_handshake_on_connect=False) as s:
            try:
                s.do_handshake()
                raise CheckFailed("a TLS handshake with the PLAINTEXT listener succeeded")
            except (ssl.SSLError, ConnectionResetError, OSError) as e:
                log(f"TLS handshake with the PLAINTEXT listener failed as expected: {type(e).__name__}: {e}")
    finally:
        raw.close()
    # and the connection was closed by the broker (a raw ClientHello, to see it close)
    s = connect(sb.plaintext)
    hello = _client_hello(sb)
    s.sendall(hello)
    check(closed(s), "the PLAINTEXT listener kept a connection open after a TLS ClientHello")
    s.close()
    still_serves(ctx, sb, "PLAINTEXT")
    return "ClientHello on PLAINTEXT: connection closed"


def _client_hello(sb) -> bytes:
    """The bytes of a real ClientHello (ssl.MemoryBIO: nothing on the wire)."""
    tls = ssl.create_default_context(cafile=sb.keys["ca"])
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = tls.wrap_bio(inc, out, server_hostname="127.0.0.1")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    data = out.read()
    check(data[:1] == b"\x16", f"not a TLS handshake record: {data[:8]!r}")
    return data


def plaintext_on_ssl(ctx):
    sb = ctx.secure_broker()
    s = connect(sb.address("SSL"))
    s.sendall(api_versions_v0())
    s.settimeout(15)
    got = b""
    t_end = time.monotonic() + 15
    while time.monotonic() < t_end:
        try:
            chunk = s.recv(4096)
        except (ConnectionResetError, socket.timeout):
            break
        if not chunk:
            break
        got += chunk
    else:
        raise CheckFailed("the SSL listener kept the connection open after plaintext ApiVersions")
    s.close()
    # whatever came back (a TLS alert, or nothing) is no Kafka response to correlation id 1
    check(got[4:8] != struct.pack(">i", 1), f"the SSL listener answered plaintext ApiVersions: {got[:32]!r}")
    log(f"SSL listener closed the connection; it sent {len(got)} bytes first: {got[:16].hex()}")
    still_serves(ctx, sb, "SSL")
    return f"plaintext ApiVersions on SSL: closed after {len(got)} bytes ({got[:7].hex() or 'nothing'})"


def metadata_before_sasl(ctx):
    sb = ctx.secure_broker()
    addr = sb.address("SASL_PLAINTEXT")
    s = connect(addr)
    # ApiVersions is allowed before SASL (clients find the SaslHandshake version with it)
    s.sendall(api_versions_v0(corr=7))
    resp = recv_response(s)
    check(resp is not None, "ApiVersions before SASL: connection closed (Kafka answers it)")
    corr, err = struct.unpack_from(">ih", resp, 0)
    check(corr == 7 and err == 0, f"ApiVersions before SASL: correlation id {corr}, error code {err}")
    s.sendall(metadata_v1(corr=8))
    resp = recv_response(s)
    check(resp is None, f"Metadata before SASL was answered: {(resp or b'')[:32]!r}")
    s.close()
    # and without the ApiVersions first
    s = connect(addr)
    s.sendall(metadata_v1(corr=9))
    check(recv_response(s) is None, "Metadata as the first request on SASL_PLAINTEXT was answered")
    s.close()
    still_serves(ctx, sb, "SASL_PLAINTEXT", "SCRAM-SHA-512")
    return "Metadata before SaslHandshake: connection closed unanswered"


def oversized_token(ctx):
    sb = ctx.secure_broker()
    s = sasl_connect(sb.address("SASL_PLAINTEXT"), "PLAIN")
    token = b"\x00alice\x00" + b"x" * (1024 * 1024 + 17)
    try:
        s.sendall(sasl_authenticate_v2(token))
    except (BrokenPipeError, ConnectionResetError) as e:
        log(f"sending the oversized token: {type(e).__name__} (the broker closed first)")
    resp = recv_response(s)
    check(resp is None, f"an oversized SaslAuthenticate was answered: {(resp or b'')[:64]!r}")
    s.close()
    still_serves(ctx, sb, "SASL_PLAINTEXT", "PLAIN")
    return "SaslAuthenticate of 1 MiB: connection closed unanswered"


def scram_wrong_nonce(ctx):
    from harness.security import SCRAM_USERS
    sb = ctx.secure_broker()
    user = next(iter(SCRAM_USERS))
    s = sasl_connect(sb.address("SASL_PLAINTEXT"), "SCRAM-SHA-512")
    nonce = base64.b64encode(os.urandom(18)).decode()
    s.sendall(sasl_authenticate_v2(f"n,,n={user},r={nonce}".encode(), corr=5))
    resp = recv_response(s)
    check(resp is not None, "SCRAM client-first: connection closed")
    err, msg, server_first = sasl_authenticate_response(resp)
    check(err == 0, f"SCRAM client-first: error {err} {msg}")
    attrs = dict(kv.split("=", 1) for kv in server_first.decode().split(","))
    check(attrs["r"].startswith(nonce), f"server nonce {attrs['r']} does not extend ours")
    wrong = "x" + attrs["r"][1:]
    s.sendall(sasl_authenticate_v2(f"c=biws,r={wrong},p={base64.b64encode(b'0' * 64).decode()}".encode(),
                                   corr=6))
    resp = recv_response(s)
    check(resp is not None, "SCRAM client-final with a wrong nonce: closed without a SaslAuthenticate answer "
                            "(Kafka answers SASL_AUTHENTICATION_FAILED)")
    err, msg, _ = sasl_authenticate_response(resp)
    log(f"SCRAM client-final with a wrong nonce: error {err}: {msg}")
    check(err == SASL_AUTHENTICATION_FAILED,
          f"SCRAM client-final with a wrong nonce: error code {err} ({msg}), expected SASL_AUTHENTICATION_FAILED")
    check(closed(s), "the connection stayed open after SASL_AUTHENTICATION_FAILED")
    s.close()
    still_serves(ctx, sb, "SASL_PLAINTEXT", "SCRAM-SHA-512")
    return f"wrong nonce: SASL_AUTHENTICATION_FAILED ({msg}), then closed"

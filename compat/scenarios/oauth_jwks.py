"""OAUTHBEARER with signed tokens (issue 14): a private broker whose SASL_PLAINTEXT
listener validates tokens as Kafka's OAuthBearerValidatorCallbackHandler does,
against a JSON Web Key Set (``sasl.oauthbearer.jwks.endpoint.url``, a file URL
here), with the issuer and audience checked. The identity provider is played by
the test: RSA keys made with the ``openssl`` CLI, RS256 tokens signed with it, the
key set written as JSON; nothing is committed.

Each client (confluent-kafka through ``oauth_cb``, kafka-python through
``sasl_oauth_token_provider``) hands the broker a token: a good one produces and
reads back; one signed by a key the set does not hold (same key id), one for
another audience, one without an issuer, an expired one, an unsigned one
(``alg: none``) and one whose key id the set lacks are refused with an
authentication error; then a second key is published in the set and its token is
accepted without a restart (a token naming an unknown key id makes the broker fetch
the set again, as Kafka's does).

Apache Kafka 4 reads a JWKS URL only if the JVM allows it
(``-Dorg.apache.kafka.sasl.oauthbearer.allowed.urls``): the Kafka flavour's broker
gets that system property; riffle has no such list (its configuration is trusted).
"""

from __future__ import annotations

import base64
import json
import logging
import os
import subprocess
import time
import uuid

from harness.clients import get_client
from harness.common import CheckFailed, check, free_port, log, make_messages, note_errors, verify_records

from scenarios import Scenario

ISSUER = "https://idp.riffle.test"
AUDIENCE = "kafka"
SUBJECT = "jwks-user"
VALIDATOR = "org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler"
N = 20


def jwks_scenarios() -> list[Scenario]:
    return [Scenario(c, "oauthbearer-jwks", "scenarios.oauth_jwks:jwks", (c,), managed_only=True, cost=2,
                     timeout=300) for c in ("confluent-kafka", "kafka-python")]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


class IdentityProvider:
    """RSA keys (openssl), their JSON Web Key Set, and RS256 tokens."""

    def __init__(self, d: str):
        self.d = d
        os.makedirs(d, exist_ok=True)
        self.jwks_path = os.path.join(d, "jwks.json")
        self.published: dict[str, dict] = {}

    def _openssl(self, *args: str, data: bytes | None = None) -> bytes:
        p = subprocess.run(["openssl", *args], input=data, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           cwd=self.d, timeout=60)
        if p.returncode != 0:
            raise CheckFailed(f"openssl {' '.join(args)}: {p.stderr.decode(errors='replace')[-500:]}")
        return p.stdout

    def new_key(self, name: str) -> str:
        """A 2048-bit RSA key in ``<name>.pem``; returns its path."""
        path = os.path.join(self.d, f"{name}.pem")
        self._openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", path)
        return path

    def publish(self, kid: str, key: str):
        """Adds the key's public half to the key set file under ``kid``."""
        modulus = self._openssl("rsa", "-in", key, "-noout", "-modulus").decode().strip().split("=", 1)[1]
        self.published[kid] = {"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
                               "n": _b64(bytes.fromhex(modulus)), "e": "AQAB"}
        tmp = self.jwks_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"keys": list(self.published.values())}, f)
        os.replace(tmp, self.jwks_path)

    def token(self, kid: str, key: str, *, aud: str = AUDIENCE, lifetime: int = 3600,
              without: tuple[str, ...] = ()) -> tuple[str, float]:
        """An RS256 JWT for SUBJECT (``without`` those claims) and its expiry
        (seconds since the epoch)."""
        now = int(time.time())
        header = {"alg": "RS256", "typ": "JWT", "kid": kid}
        claims = {"sub": SUBJECT, "iss": ISSUER, "aud": aud, "iat": now, "exp": now + lifetime, "scope": "kafka"}
        for c in without:
            claims.pop(c)
        signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
        signature = self._openssl("dgst", "-sha256", "-sign", key, data=signing_input.encode())
        return f"{signing_input}.{_b64(signature)}", float(now + lifetime)


def _broker(ctx, idp: IdentityProvider):
    """A private broker with PLAINTEXT (the harness's) and SASL_PLAINTEXT (OAUTHBEARER,
    JWKS) listeners; returns it and the SASL_PLAINTEXT address."""
    plain, sasl = free_port(), free_port()
    url = f"file://{idp.jwks_path}"
    ov = {
        "listeners": f"PLAINTEXT://127.0.0.1:{plain},SASL_PLAINTEXT://127.0.0.1:{sasl}",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT",
        "listener.name.sasl_plaintext.sasl.enabled.mechanisms": "OAUTHBEARER",
        "listener.name.sasl_plaintext.oauthbearer.sasl.jaas.config":
            "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required;",
        "listener.name.sasl_plaintext.oauthbearer.sasl.server.callback.handler.class": VALIDATOR,
        "sasl.oauthbearer.jwks.endpoint.url": url,
        "sasl.oauthbearer.expected.issuer": ISSUER,
        "sasl.oauthbearer.expected.audience": AUDIENCE,
    }
    b = ctx.private_broker(ov, jvm_properties={"org.apache.kafka.sasl.oauthbearer.allowed.urls": url})
    return b, f"127.0.0.1:{sasl}"


# --- the two clients: a round trip, and whether a token is refused ---------------------


def _confluent_roundtrip(bootstrap, token, topic, msgs, want):
    import confluent_kafka as ck
    conf = {"bootstrap.servers": bootstrap, "broker.address.family": "v4", "security.protocol": "sasl_plaintext",
            "sasl.mechanism": "OAUTHBEARER", "oauth_cb": lambda _cfg: (token, time.time() + 3600)}
    p = ck.Producer({**conf, "acks": "all"})
    acked = {}

    def on_delivery(err, m):
        check(err is None, f"confluent-kafka: delivery failed: {err}")
        acked[m.value()] = (m.partition(), m.offset())
    for m in msgs:
        p.produce(topic, key=m.key, value=m.value, headers=m.headers, timestamp=m.timestamp, on_delivery=on_delivery)
    check(p.flush(60) == 0, "confluent-kafka: not every message acknowledged within 60s")
    c = ck.Consumer({**conf, "group.id": f"jwks-{uuid.uuid4().hex[:6]}", "auto.offset.reset": "earliest"})
    records = []
    try:
        c.assign([ck.TopicPartition(topic, 0, ck.OFFSET_BEGINNING)])
        deadline = time.monotonic() + 60
        while len(records) < want and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is not None and m.error() is None:
                records.append(m)
    finally:
        c.close()
    return acked, [(m.partition(), m.offset(), m.key(), m.value(), m.headers() or [], m.timestamp()[1]) for m in records]


def _confluent_refused(bootstrap, token) -> str:
    import confluent_kafka as ck
    errors = []

    def on_error(err):
        note_errors("confluent-kafka", {err.name(): 1})
        errors.append(err)
    p = ck.Producer({"bootstrap.servers": bootstrap, "broker.address.family": "v4",
                     "security.protocol": "sasl_plaintext", "sasl.mechanism": "OAUTHBEARER",
                     "oauth_cb": lambda _cfg: (token, time.time() + 3600), "error_cb": on_error,
                     "reconnect.backoff.ms": 1000})
    deadline = time.monotonic() + 60
    while not any(e.code() == ck.KafkaError._AUTHENTICATION for e in errors):
        check(time.monotonic() < deadline, f"confluent-kafka: no _AUTHENTICATION error within 60s; errors "
                                           f"{[str(e) for e in errors]}")
        p.poll(0.2)
    return next(e for e in errors if e.code() == ck.KafkaError._AUTHENTICATION).str()


def _kafka_python_conf(bootstrap, token):
    try:
        from kafka.net.sasl.oauth import AbstractTokenProvider  # kafka-python 3
    except ImportError:  # kafka-python 2
        from kafka.sasl.oauth import AbstractTokenProvider

    class Provider(AbstractTokenProvider):
        def token(self):
            return token

    return {"bootstrap_servers": bootstrap, "security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "OAUTHBEARER",
            "sasl_oauth_token_provider": Provider()}


def _kafka_python_roundtrip(bootstrap, token, topic, msgs, want):
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    p = KafkaProducer(acks="all", **_kafka_python_conf(bootstrap, token))
    acked = {}
    try:
        for m in msgs:
            md = p.send(topic, key=m.key, value=m.value, headers=m.headers, timestamp_ms=m.timestamp).get(60)
            acked[m.value] = (md.partition, md.offset)
    finally:
        p.close()
    c = KafkaConsumer(**_kafka_python_conf(bootstrap, token), enable_auto_commit=False)
    records = []
    try:
        tp = TopicPartition(topic, 0)
        c.assign([tp])
        c.seek_to_beginning(tp)
        deadline = time.monotonic() + 60
        while len(records) < want and time.monotonic() < deadline:
            for batch in c.poll(500).values():
                records.extend(batch)
    finally:
        c.close()
    return acked, [(r.partition, r.offset, r.key, r.value, list(r.headers or []), r.timestamp) for r in records]


def _confluent_accepted(bootstrap, token) -> bool:
    import confluent_kafka as ck
    p = ck.Producer({"bootstrap.servers": bootstrap, "broker.address.family": "v4",
                     "security.protocol": "sasl_plaintext", "sasl.mechanism": "OAUTHBEARER",
                     "oauth_cb": lambda _cfg: (token, time.time() + 3600), "error_cb": lambda _e: None})
    try:
        p.list_topics(timeout=5)
        return True
    except ck.KafkaException:
        return False


def _kafka_python_accepted(bootstrap, token) -> bool:
    from kafka import KafkaProducer
    from kafka.errors import KafkaError
    try:
        KafkaProducer(**_kafka_python_conf(bootstrap, token), max_block_ms=5_000).close()
        return True
    except KafkaError:
        return False


class _Seen(logging.Handler):
    """kafka-python's log lines naming a failed authentication."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record):
        msg = record.getMessage()
        if "uthentication" in msg:
            self.lines.append(msg)


def _kafka_python_refused(bootstrap, token) -> str:
    """kafka-python retries a refused connection until its bootstrap times out; the
    reason is in its log (SaslAuthenticationFailedError)."""
    from kafka import KafkaProducer
    from kafka.errors import KafkaError
    seen = _Seen()
    lg = logging.getLogger("kafka")
    level = lg.level
    lg.addHandler(seen)
    lg.setLevel(logging.DEBUG)
    try:
        KafkaProducer(**_kafka_python_conf(bootstrap, token), max_block_ms=4_000).close()
        raise CheckFailed("kafka-python: a token the broker must refuse was accepted")
    except KafkaError as e:
        check(seen.lines, f"kafka-python: failed with {type(e).__name__}: {e}, but logged no authentication failure")
        return seen.lines[0][:200]
    finally:
        lg.removeHandler(seen)
        lg.setLevel(level)


CLIENTS = {"confluent-kafka": (_confluent_roundtrip, _confluent_refused, _confluent_accepted),
           "kafka-python": (_kafka_python_roundtrip, _kafka_python_refused, _kafka_python_accepted)}


def jwks(ctx, client_name):
    roundtrip, refused, accepted = CLIENTS[client_name]
    idp = IdentityProvider(os.path.join(ctx.workdir, "brokers", ctx.scenario_id.replace("/", "_"), "idp"))
    k1, forged, k2 = idp.new_key("k1"), idp.new_key("forged"), idp.new_key("k2")
    idp.publish("k1", k1)
    b, bootstrap = _broker(ctx, idp)
    topic = ctx.topic(f"{client_name}.jwks")
    get_client("confluent-kafka").create_topic(ctx, topic, 1)  # on the PLAINTEXT listener (ctx.bootstrap)

    def read_back(token, tag, want):
        """Produces N messages with ``token``, then reads the topic from the start
        (``want`` records) with it."""
        msgs = make_messages(f"{client_name}-{tag}", N, 5, per_message_headers=False)
        acked, rows = roundtrip(bootstrap, token, topic, msgs, want)
        check(len(acked) == N, f"{tag}: {len(acked)} of {N} acknowledged")
        got = {r[3] for r in rows}
        check(all(m.value in got for m in msgs), f"{tag}: {len([m for m in msgs if m.value not in got])} of the "
                                                 f"acknowledged messages not read back")
        return acked, rows

    good, _ = idp.token("k1", k1)
    read_back(good, "k1", N)
    refusals = {}
    refusals["another key, same kid"] = refused(bootstrap, idp.token("k1", forged)[0])
    refusals["another audience"] = refused(bootstrap, idp.token("k1", k1, aud="not-kafka")[0])
    refusals["no issuer"] = refused(bootstrap, idp.token("k1", k1, without=("iss",))[0])
    refusals["expired"] = refused(bootstrap, idp.token("k1", k1, lifetime=-600)[0])
    unsigned = (f"{_b64(json.dumps({'alg': 'none', 'kid': 'k1'}).encode())}."
                f"{good.split('.')[1]}.")
    refusals["unsigned (alg none)"] = refused(bootstrap, unsigned)
    t2, _ = idp.token("k2", k2)
    refusals["kid not published"] = refused(bootstrap, t2)
    idp.publish("k2", k2)
    # A token naming a key id the set lacks makes the broker fetch the set again (at
    # most once a second): a client refused meanwhile is accepted on a later attempt.
    deadline = time.monotonic() + 60
    while not accepted(bootstrap, t2):
        check(time.monotonic() < deadline, "a token of the newly published key k2 still refused after 60s")
        time.sleep(1)
    _, rows = read_back(t2, "k2", 2 * N)
    check(len(rows) >= 2 * N, f"read back {len(rows)} records, expected {2 * N}")
    for what, why in refusals.items():
        log(f"refused ({what}): {why}")
    return (f"{client_name}: RS256 tokens checked against the JWKS (issuer, audience); refused: "
            + ", ".join(refusals) + "; a key published later accepted without a restart")

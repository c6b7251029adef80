"""TLS and SASL (issue 14): every client produces and reads back through the
secured listeners of the suite's shared secure broker (harness/security.py, started
by run.py for the scenarios that ask for it): PLAINTEXT (setup), SSL with a client
certificate (``ssl.client.auth=required`` on that listener), SASL_SSL and
SASL_PLAINTEXT with SCRAM-SHA-256/512, PLAIN and OAUTHBEARER (unsecured JWS).

* ``sasl-ssl-scram-sha-512`` (every client): SCRAM-SHA-512 over TLS, the user created
  through AlterUserScramCredentials on the PLAINTEXT listener;
* ``ssl-client-cert`` (every client): TLS with the CA's client certificate; the
  server certificate is checked with hostname verification (IP SAN 127.0.0.1);
* ``sasl-plain``: PLAIN over SASL_PLAINTEXT (the users of the broker's JAAS config);
* ``sasl-oauthbearer``: an unsecured JWT (alg none, sub=admin) over SASL_SSL;
* ``sasl-scram-wrong-password``, ``sasl-plain-wrong-password``: refused with an
  authentication error (SASL_AUTHENTICATION_FAILED: the Java client's
  SaslAuthenticationException, librdkafka's _AUTHENTICATION), nothing produced.

Each produce/read scenario: a topic of 3 partitions created through the client's own
admin API (kcat: confluent-kafka's) over the secured listener, 1,000 keyed messages
with headers, read back by the same client over the same listener and verified
(harness.common.verify_records), ListOffsets agreeing with what was read.
"""

from __future__ import annotations

import time
import uuid

from harness.clients import get_client
from harness.common import CheckFailed, check, log, make_messages, note_errors, now_ms, verify_records
from scenarios import CLIENT_ORDER, JAVA, Scenario

PARTITIONS = 3
N_MESSAGES, N_KEYS = 1_000, 20

# (scenario name, protocol, mechanism, clients)
WAYS_IN = [
    ("sasl-ssl-scram-sha-512", "SASL_SSL", "SCRAM-SHA-512", CLIENT_ORDER),
    ("ssl-client-cert", "SSL", None, CLIENT_ORDER),
    ("sasl-plain", "SASL_PLAINTEXT", "PLAIN", ["confluent-kafka", "kafka-python", "java", "franz-go", "sarama"]),
    ("sasl-oauthbearer", "SASL_SSL", "OAUTHBEARER", ["confluent-kafka", "java", "franz-go", "sarama"]),
]
WRONG_PASSWORD = [("sasl-scram-wrong-password", "SASL_SSL", "SCRAM-SHA-512"),
                  ("sasl-plain-wrong-password", "SASL_PLAINTEXT", "PLAIN")]


def security_scenarios() -> list[Scenario]:
    S = []
    for name, protocol, mechanism, clients in WAYS_IN:
        for c in clients:
            cost = 2 if c in JAVA or c == "kafkajs" else 1
            fn = "kcat_scram" if (c, mechanism) == ("kcat", "SCRAM-SHA-512") else "roundtrip"
            S.append(Scenario(c, name, f"scenarios.security:{fn}", (c, protocol, mechanism), secure=True,
                              managed_only=True, cost=cost, timeout=240))
    for name, protocol, mechanism in WRONG_PASSWORD:
        for c in ("confluent-kafka", "java"):
            S.append(Scenario(c, name, "scenarios.security:wrong_password", (c, protocol, mechanism),
                              secure=True, managed_only=True, timeout=180))
    S.extend(__import__("scenarios.security_bad_input", fromlist=["x"]).bad_input_scenarios())
    return S


def messages(client, tag):
    if client.per_message_headers and client.explicit_timestamps:
        return make_messages(tag, N_MESSAGES, N_KEYS)
    return make_messages(tag, N_MESSAGES, N_KEYS, explicit_ts=False, per_message_headers=False,
                         constant_headers=[("src", tag.encode())])


def produce_and_read(ctx, client, tag):
    """Create a topic, produce, read back and verify, all with ctx.security."""
    topic = ctx.topic(f"{client.name}.{tag}")
    client.create_topic(ctx, topic, PARTITIONS)
    msgs = messages(client, f"{client.name}-{tag}-{uuid.uuid4().hex[:6]}")
    t0 = now_ms()
    delivered = client.produce(ctx, topic, msgs)
    t1 = now_ms()
    records = client.read_all(ctx, topic)
    summary = verify_records(records, msgs, partitions=PARTITIONS, ts_window=(t0 - 1000, t1 + 1000),
                             contiguous_from={p: 0 for p in range(PARTITIONS)}, delivered=delivered)
    log(f"verified {summary}")
    wm = client.watermarks(ctx, topic)
    counts = {}
    for r in records:
        counts[r.partition] = counts.get(r.partition, 0) + 1
    check({p: hi for p, (_, hi) in wm.items()} == {p: counts.get(p, 0) for p in range(PARTITIONS)},
          f"{client.name}: high watermarks {wm} disagree with what was read {counts}")
    return topic


def roundtrip(ctx, client_name, protocol, mechanism):
    sb = ctx.secure_broker()
    client = get_client(client_name)
    ctx.bootstrap, ctx.security = sb.client(protocol, mechanism)
    log(f"{client_name} over {protocol}{' ' + mechanism if mechanism else ''} at {ctx.bootstrap}")
    produce_and_read(ctx, client, (mechanism or protocol).lower())
    via = [x for x in (client.admin_note, client.reader_note) if x]
    return {"via": "; ".join(via)} if via else None


def kcat_scram(ctx, client_name, protocol, mechanism):
    """kcat's librdkafka (Debian's 2.0.2) repeats its own nonce in the SCRAM
    client-final message (librdkafka#4895, fixed in 2.6.1); Kafka 4 checks the nonce
    as RFC 5802 says and refuses it (SASL_AUTHENTICATION_FAILED, "invalid
    credentials"). So: kcat's SCRAM-SHA-512 must be refused as Kafka 4.4 refuses it,
    and kcat produces and reads back over SASL_SSL with PLAIN instead."""
    from harness.clients.kcat import run_kcat
    sb = ctx.secure_broker()
    client = get_client(client_name)
    ctx.bootstrap, ctx.security = sb.client(protocol, mechanism)
    rc, _, err = run_kcat(client.base(ctx) + ["-L", "-m", "3"], timeout=60, check_rc=False)
    check(rc != 0 and "Authentication failed" in err,
          f"kcat (librdkafka 2.0.2, nonce repeated in SCRAM client-final) was not refused with an "
          f"authentication failure as Kafka 4.4 refuses it: exit {rc}, stderr {err[-600:]!r}")
    ctx.bootstrap, ctx.security = sb.client(protocol, "PLAIN")
    produce_and_read(ctx, client, "sasl-ssl-plain")
    return {"note": "kcat's SCRAM-SHA-512 refused as by Kafka 4.4 (librdkafka 2.0.2 repeats its nonce in "
                    "client-final, librdkafka#4895); produced and read back over SASL_SSL with PLAIN",
            "via": client.admin_note}


def wrong_password(ctx, client_name, protocol, mechanism):
    """The right user with a wrong password: an authentication error, no metadata."""
    sb = ctx.secure_broker()
    ctx.bootstrap, ctx.security = sb.client(protocol, mechanism)
    ctx.security["password"] = "not-" + ctx.security["password"]
    if client_name == "java":
        client = get_client("java")
        res = client.run("metadata", {**client.conn(ctx), "topic": "compat-none"}, timeout=120, ok_required=False)
        check(not res.get("ok"), f"java: metadata with a wrong {mechanism} password succeeded: {res}")
        check(res.get("type") == "SaslAuthenticationException",
              f"java: a wrong {mechanism} password failed with {res.get('type')}: {res.get('error')} "
              f"(expected SaslAuthenticationException)")
        return f"java: {res['type']}: {res['error'][:160]}"
    return _confluent_wrong_password(ctx, mechanism)


def _confluent_wrong_password(ctx, mechanism):
    import confluent_kafka as ck
    from harness.security import librdkafka_conf
    errors = []

    def on_error(err):
        log(f"librdkafka error_cb: {err}")
        note_errors("confluent-kafka", {err.name(): 1})
        errors.append(err)
    conf = {"bootstrap.servers": ctx.bootstrap, "broker.address.family": "v4", "error_cb": on_error,
            "reconnect.backoff.ms": 1000, "reconnect.backoff.max.ms": 5000}
    conf.update(librdkafka_conf(ctx.security))
    p = ck.Producer(conf)
    deadline = time.monotonic() + 60
    while not any(e.code() == ck.KafkaError._AUTHENTICATION for e in errors):
        if time.monotonic() > deadline:
            raise CheckFailed(f"confluent-kafka: no _AUTHENTICATION error within 60s with a wrong {mechanism} "
                              f"password; errors: {[str(e) for e in errors]}")
        p.poll(0.2)
    try:
        md = p.list_topics(timeout=3)
        raise CheckFailed(f"confluent-kafka: metadata with a wrong {mechanism} password: {md.brokers}")
    except ck.KafkaException as e:
        log(f"list_topics refused as expected: {e}")
    first = next(e for e in errors if e.code() == ck.KafkaError._AUTHENTICATION)
    return f"confluent-kafka: {first.name()}: {first.str()[:200]}"

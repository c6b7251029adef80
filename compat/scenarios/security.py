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

import os
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
    for c in ("java", "java-3.9"):
        S.append(Scenario(c, "sasl-reauthentication", "scenarios.security:reauthentication", (c,),
                          managed_only=True, cost=2, timeout=240))
    S.append(Scenario("confluent-kafka", "ssl-principal-acl", "scenarios.security:ssl_principal_acl",
                      managed_only=True, cost=2, timeout=240))
    S.extend(__import__("scenarios.security_bad_input", fromlist=["x"]).bad_input_scenarios())
    return S


# ssl.principal.mapping.rules: the CN of the client certificate, lower-cased
MAPPING_RULES = "RULE:^CN=([a-zA-Z0-9.-]*),.*$/$1/L,DEFAULT"
CERT_PRINCIPAL = "User:compat-client"


def ssl_principal_acl(ctx):
    """The principal of a client certificate, end to end: a private broker with ACLs on
    (only User:ANONYMOUS, the PLAINTEXT setup listener, is a super user) and an SSL
    listener with ssl.client.auth=required and ssl.principal.mapping.rules taking the
    subject's CN (the subject is CN=compat-client,OU=QA,O=Riffle,...; the default rule
    would give the whole RFC 2253 name). The certificate's producer is refused
    (TOPIC_AUTHORIZATION_FAILED) until an ACL allows WRITE on the topic to
    User:compat-client, then its records are acknowledged; an ACL for the whole
    distinguished name would not have matched."""
    import confluent_kafka as ck
    from confluent_kafka.admin import (AclBinding, AclOperation, AclPermissionType, AdminClient, ResourcePatternType,
                                       ResourceType)
    from harness.common import free_port
    from harness.security import librdkafka_conf, make_keys
    keys = make_keys(os.path.join(ctx.workdir, "brokers", ctx.scenario_id.replace("/", "_"), "tls"))
    plain, ssl = free_port(), free_port()
    ctx.private_broker({
        "listeners": f"PLAINTEXT://127.0.0.1:{plain},SSL://127.0.0.1:{ssl}",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,SSL:SSL",
        "ssl.keystore.type": "PEM", "ssl.keystore.location": keys["server"],
        "ssl.truststore.type": "PEM", "ssl.truststore.location": keys["ca"],
        "listener.name.ssl.ssl.client.auth": "required",
        "listener.name.ssl.ssl.principal.mapping.rules": MAPPING_RULES,
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "super.users": "User:ANONYMOUS",
    })
    topic = ctx.topic("ssl-principal")
    get_client("confluent-kafka").create_topic(ctx, topic, 1)
    conf = {"bootstrap.servers": f"127.0.0.1:{ssl}", "broker.address.family": "v4", "acks": "all",
            "message.timeout.ms": 20_000, "error_cb": lambda e: note_errors("confluent-kafka", {e.name(): 1}),
            **librdkafka_conf({"protocol": "SSL", "ca": keys["ca"], "cert": keys["client_cert"],
                               "key": keys["client_key"]})}

    def produce() -> str | None:
        """One record; None when acknowledged, else the error's name."""
        out = {}
        p = ck.Producer(conf)
        p.produce(topic, value=b"from the certificate", on_delivery=lambda err, m: out.update(err=err))
        check(p.flush(60) == 0, "no delivery report within 60s")
        return out["err"].name() if out["err"] else None

    refused = produce()
    check(refused == "TOPIC_AUTHORIZATION_FAILED", f"without an ACL the certificate's producer got {refused}")
    admin = AdminClient({"bootstrap.servers": ctx.bootstrap, "broker.address.family": "v4"})
    acl = AclBinding(ResourceType.TOPIC, topic, ResourcePatternType.LITERAL, CERT_PRINCIPAL, "*",
                     AclOperation.WRITE, AclPermissionType.ALLOW)
    admin.create_acls([acl])[acl].result(60)
    deadline = time.monotonic() + 60  # Kafka applies an ACL through its metadata log
    while (err := produce()) is not None:
        check(time.monotonic() < deadline, f"WRITE granted to {CERT_PRINCIPAL}, still {err} after 60s")
        time.sleep(0.5)
    return f"refused with TOPIC_AUTHORIZATION_FAILED, then acknowledged once {CERT_PRINCIPAL} (the CN by " \
           f"ssl.principal.mapping.rules) may WRITE"


REAUTH_MS = 2000
REAUTH_SECONDS = 9


def reauthentication(ctx, client_name):
    """KIP-368: a private broker whose SASL_PLAINTEXT listener (PLAIN) ends sessions
    after connections.max.reauth.ms=2000. A Java producer sends a record every 100 ms
    for 9 s, each acknowledged before the next: every record is acknowledged, and the
    producer re-authenticated on its open connections (its metric
    successful-reauthentication-total grows, none failed) instead of losing them."""
    from harness.clients.driver import conn_request
    from harness.common import free_port
    from harness.security import plain_jaas
    plain, sasl = free_port(), free_port()
    ctx.private_broker({
        "listeners": f"PLAINTEXT://127.0.0.1:{plain},SASL_PLAINTEXT://127.0.0.1:{sasl}",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT",
        "listener.name.sasl_plaintext.sasl.enabled.mechanisms": "PLAIN",
        "listener.name.sasl_plaintext.plain.sasl.jaas.config": plain_jaas(),
        "listener.name.sasl_plaintext.connections.max.reauth.ms": str(REAUTH_MS),
    })
    topic = ctx.topic(f"{client_name}.reauth")
    java = get_client(client_name)
    java.create_topic(ctx, topic, 1)
    ctx.bootstrap = f"127.0.0.1:{sasl}"
    ctx.security = {"protocol": "SASL_PLAINTEXT", "mechanism": "PLAIN", "username": "alice",
                    "password": "alice-secret"}
    r = java.run("reauth-produce", {**conn_request(ctx), "topic": topic, "seconds": REAUTH_SECONDS,
                                    "intervalMs": 100}, timeout=180)
    m = r.get("metrics") or {}
    log(f"{client_name}: {r.get('records')} records; metrics {m}")
    check(not r.get("failed"), f"{client_name}: sends failed across re-authentications: {r.get('failed')}")
    check(r.get("records", 0) >= REAUTH_SECONDS * 5, f"{client_name}: only {r.get('records')} records in "
                                                     f"{REAUTH_SECONDS}s")
    check((m.get("successful-reauthentication-total") or 0) >= 2,
          f"{client_name}: the producer did not re-authenticate (session lifetime {REAUTH_MS} ms over "
          f"{REAUTH_SECONDS}s): {m}")
    check(not m.get("failed-reauthentication-total"), f"{client_name}: failed re-authentications: {m}")
    return (f"{client_name}: {r['records']} records over {REAUTH_SECONDS}s, "
            f"{m['successful-reauthentication-total']:.0f} re-authentications on open connections, none failed")


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

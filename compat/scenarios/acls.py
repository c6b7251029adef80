"""ACLs: Kafka's StandardAuthorizer (``authorizer.class.name``, ``super.users``, no
``allow.everyone.if.no.acl.found``) on the suite's shared ACL broker (harness/acl.py,
started by run.py for the scenarios that ask for it), through the AdminClient of the
Java client (compat/java ``acls`` and ``auth-probe``, Acls.java) and of confluent-kafka
(``create_acls`` / ``describe_acls`` / ``delete_acls``).

The harness sets up over the PLAINTEXT listener (User:ANONYMOUS, a super user); the
principals under test come in over SASL_PLAINTEXT with PLAIN: ``admin`` (a super user),
``alice`` and ``bob`` (granted ACLs on this scenario's own resources only), ``carol``
(granted DESCRIBE on one topic, never WRITE on anything: so that no other scenario's
grant gives her the cluster's IDEMPOTENT_WRITE, which Kafka implies from WRITE on any
topic). Every ACL change takes effect asynchronously in Kafka
(through the metadata log), so whatever follows one is polled with a deadline, each try
with fresh clients; nothing is asserted about timing.

* ``acl-denied``: alice with no ACL: produce and describe the topic:
  TOPIC_AUTHORIZATION_FAILED; describe a consumer group: GROUP_AUTHORIZATION_FAILED; a
  transactional producer: TRANSACTIONAL_ID_AUTHORIZATION_FAILED; createAcls and
  describeAcls (ALTER / DESCRIBE on the cluster), describeLogDirs (java):
  CLUSTER_AUTHORIZATION_FAILED (librdkafka: describe_acls hands back no binding and no
  error); carol's idempotent producer (DESCRIBE on the topic, no IDEMPOTENT_WRITE, no
  WRITE on any topic): CLUSTER_AUTHORIZATION_FAILED (from InitProducerId; without
  DESCRIBE the topic's metadata fails first with TOPIC_AUTHORIZATION_FAILED).
* ``acl-grant-revoke``: admin grants alice WRITE/READ/DESCRIBE on the topic and WRITE on
  the transactional id; alice produces in a transaction; her consumer in a group is
  refused (GROUP_AUTHORIZATION_FAILED: the consumer asks for the topic's metadata first,
  so the topic's ACLs must be there to see it); admin grants READ on the group, alice
  consumes (verified); admin deletes the ACLs with filters (the matching bindings
  returned are exactly those created); alice is denied again (producing, describing the
  group, initialising the transactional producer).
* ``acl-prefixed``: PREFIXED READ/WRITE/DESCRIBE on topics ``acl-pfx-<id>-`` and READ on
  groups of that prefix: alice produces to and consumes ``acl-pfx-<id>-anything``, and
  is denied ``other-topic-<id>``.
* ``acl-deny-overrides``: ALLOW User:* READ/DESCRIBE on the topic and READ on the group,
  DENY User:bob READ on the topic: alice consumes everything, bob's fetch is refused with
  TOPIC_AUTHORIZATION_FAILED (the topic stays visible to him: DESCRIBE is allowed).
* ``acl-super-user``: admin (a super user over SASL_PLAINTEXT) produces idempotently,
  consumes in a group and describes ACLs without any ACL.
* ``acl-describe-filters``: describeAcls with filters by resource type, name, pattern
  type (LITERAL, PREFIXED, MATCH), principal, host, operation and permission returns
  exactly the bindings created; deleteAcls by name leaves none.
"""

from __future__ import annotations

import time
import uuid
from types import SimpleNamespace

from harness.clients import get_client
from harness.clients.driver import conn_request, wire_messages
from harness.common import CheckFailed, Record, check, log, make_messages, note_errors, verify_records
from scenarios import Scenario

CLIENTS = ("java", "confluent-kafka")
PARTITIONS = 2
N = 50
DEADLINE = 60  # seconds for an ACL change to take effect (Kafka: through the metadata log)

NAMES = ("denied", "grant-revoke", "prefixed", "deny-overrides", "super-user", "describe-filters")


def acl_scenarios() -> list[Scenario]:
    S = []
    for c in CLIENTS:
        for n in NAMES:
            S.append(Scenario(c, f"acl-{n}", f"scenarios.acls:{n.replace('-', '_')}", (c,), acl=True,
                              managed_only=True, cost=2 if c == "java" else 1, timeout=240))
    return S


# --- bindings (dicts under the Java enum names) --------------------------------------

def binding(rtype, name, principal, operation, permission="ALLOW", pattern="LITERAL", host="*"):
    return {"resourceType": rtype, "name": name, "patternType": pattern, "principal": principal, "host": host,
            "operation": operation, "permission": permission}


def key(b: dict) -> tuple:
    return (b["resourceType"], b["name"], b["patternType"], b["principal"], b["host"], b["operation"],
            b["permission"])


def fmt(bs) -> str:
    return "\n  ".join(sorted(" ".join(map(str, key(b))) for b in bs)) or "(none)"


# --- the clients ---------------------------------------------------------------------

class JavaAcl:
    """compat/java's acls and auth-probe commands."""

    def __init__(self):
        self.c = get_client("java")

    def _req(self, where):
        bootstrap, security = where
        return conn_request(SimpleNamespace(bootstrap=bootstrap, security=security))

    def _acls(self, where, ops):
        return self.c.run("acls", {**self._req(where), "ops": ops}, timeout=120)["answers"]

    def create(self, where, bindings) -> list[str]:
        return self._acls(where, [{"op": "create", "bindings": bindings}])[0]["results"]

    def describe(self, where, flt) -> tuple[str, list[dict]]:
        r = self._acls(where, [{"op": "describe", "filter": flt}])[0]
        return r["result"], r.get("bindings", [])

    def delete(self, where, filters) -> list[tuple[str, list[dict]]]:
        r = self._acls(where, [{"op": "delete", "filters": filters}])[0]
        return [(x["result"], x.get("matches", [])) for x in r["results"]]

    def _probe(self, where, probe, **kw):
        r = self.c.run("auth-probe", {**self._req(where), "probe": probe, **kw}, timeout=150)
        if r["result"] != "NONE":
            log(f"java {probe}: {r['result']} ({r.get('exception')}: {r.get('message')})")
        return r

    def produce(self, where, topic, msgs, *, idempotent=False, txn_id=None):
        r = self._probe(where, "produce", topic=topic, messages=wire_messages(msgs), idempotent=idempotent,
                        transactionalId=txn_id)
        return r["result"], {m.value: tuple(a) for m, a in zip(msgs, r.get("acks", []))}

    def group_consume(self, where, topic, group, n):
        r = self._probe(where, "group-consume", topic=topic, group=group, count=n, timeoutMs=60_000)
        import base64
        recs = [Record(partition=x["partition"], offset=x["offset"],
                       key=None if x["key"] is None else base64.b64decode(x["key"]),
                       value=None if x["value"] is None else base64.b64decode(x["value"]),
                       headers=[(k, base64.b64decode(v) if v is not None else None) for k, v in x["headers"]],
                       timestamp=x["timestamp"]) for x in r.get("records", [])]
        return r["result"], recs

    def describe_group(self, where, group):
        return self._probe(where, "describe-group", group=group)["result"]

    def describe_topic(self, where, topic):
        return self._probe(where, "describe-topic", topic=topic)["result"]

    def cluster_admin_op(self, where):
        """describeLogDirs (a cluster operation: DESCRIBE on the cluster)."""
        return "describeLogDirs", self._probe(where, "describe-log-dirs")["result"]


class ConfluentAcl:
    """confluent-kafka's AdminClient, Producer and Consumer."""

    def __init__(self):
        import confluent_kafka as ck
        from confluent_kafka import admin
        self.ck, self.admin_mod = ck, admin

    def _conf(self, where, errors=None):
        from harness.security import librdkafka_conf
        bootstrap, security = where

        def on_error(err):
            log(f"librdkafka error_cb: {err}")
            note_errors("confluent-kafka", {err.name(): 1})
            if errors is not None:
                errors.append(err)
        conf = {"bootstrap.servers": bootstrap, "broker.address.family": "v4", "socket.timeout.ms": 30000,
                "error_cb": on_error}
        conf.update(librdkafka_conf(security))
        return conf

    def _admin(self, where):
        return self.admin_mod.AdminClient(self._conf(where))

    def _err(self, e) -> str:
        err = e.args[0] if e.args else None
        name = err.name() if hasattr(err, "name") else type(e).__name__
        note_errors("confluent-kafka", {name: 1})
        return name

    def _binding(self, b):
        a = self.admin_mod
        return a.AclBinding(a.ResourceType[b["resourceType"]], b["name"], a.ResourcePatternType[b["patternType"]],
                            b["principal"], b["host"], a.AclOperation[b["operation"]],
                            a.AclPermissionType[b["permission"]])

    def _filter(self, f):
        a = self.admin_mod
        return a.AclBindingFilter(a.ResourceType[f.get("resourceType") or "ANY"], f.get("name"),
                                  a.ResourcePatternType[f.get("patternType") or "ANY"], f.get("principal"),
                                  f.get("host"), a.AclOperation[f.get("operation") or "ANY"],
                                  a.AclPermissionType[f.get("permission") or "ANY"])

    @staticmethod
    def _json(b) -> dict:
        return binding(b.restype.name, b.name, b.principal, b.operation.name, b.permission_type.name,
                       b.resource_pattern_type.name, b.host)

    def create(self, where, bindings) -> list[str]:
        bs = [self._binding(b) for b in bindings]
        admin = self._admin(where)  # kept until the futures are done (else: _DESTROY)
        fs = admin.create_acls(bs, request_timeout=30)
        out = []
        for b in bs:
            try:
                fs[b].result(timeout=60)
                out.append("NONE")
            except self.ck.KafkaException as e:
                out.append(self._err(e))
        return out

    def describe(self, where, flt):
        admin = self._admin(where)
        f = admin.describe_acls(self._filter(flt), request_timeout=30)
        try:
            return "NONE", [self._json(b) for b in f.result(timeout=60)]
        except self.ck.KafkaException as e:
            return self._err(e), []

    def delete(self, where, filters):
        fl = [self._filter(f) for f in filters]
        admin = self._admin(where)
        fs = admin.delete_acls(fl, request_timeout=30)
        out = []
        for f in fl:
            try:
                out.append(("NONE", [self._json(b) for b in fs[f].result(timeout=60)]))
            except self.ck.KafkaException as e:
                out.append((self._err(e), []))
        return out

    def produce(self, where, topic, msgs, *, idempotent=False, txn_id=None):
        """(first error name or NONE, {value: (partition, offset)})."""
        ck = self.ck
        errors = []
        conf = self._conf(where, errors)
        conf.update({"acks": "all", "linger.ms": 5, "enable.idempotence": bool(idempotent or txn_id),
                     "message.timeout.ms": 30000})
        if txn_id:
            conf["transactional.id"] = txn_id
        p = ck.Producer(conf)
        acked, failed = {}, []

        def on_delivery(err, m):
            if err is None:
                acked[m.value()] = (m.partition(), m.offset())
            else:
                failed.append(err.name())
        try:
            if txn_id:
                p.init_transactions(30)
                p.begin_transaction()
            for m in msgs:
                p.produce(topic, key=m.key, value=m.value, headers=m.headers or None, timestamp=m.timestamp or 0,
                          on_delivery=on_delivery)
            deadline = time.monotonic() + 45
            while len(acked) + len(failed) < len(msgs) and time.monotonic() < deadline:
                p.poll(0.2)
                fatal = [e for e in errors if e.fatal()]
                if fatal:
                    return self._fatal(fatal[0]), acked
            if txn_id and not failed:
                p.commit_transaction(30)
        except ck.KafkaException as e:
            return self._err(e), acked
        if failed:
            note_errors("confluent-kafka", {failed[0]: len(failed)})
            return failed[0], acked
        if len(acked) < len(msgs):
            return f"no delivery report within 45s (errors: {[str(e) for e in errors]})", acked
        return "NONE", acked

    def _fatal(self, err) -> str:
        """A fatal error's underlying error name (librdkafka reports _FATAL, naming it in the text)."""
        log(f"confluent-kafka fatal error: {err}")
        if err.code() != self.ck.KafkaError._FATAL:
            return err.name()
        for name in ("CLUSTER_AUTHORIZATION_FAILED", "TOPIC_AUTHORIZATION_FAILED",
                     "TRANSACTIONAL_ID_AUTHORIZATION_FAILED"):
            if name in err.str() or name.replace("_", " ").lower() in err.str().lower():
                return name
        return f"_FATAL ({err.str()})"

    def group_consume(self, where, topic, group, n):
        ck = self.ck
        errors = []
        conf = self._conf(where, errors)
        conf.update({"group.id": group, "enable.auto.commit": False, "auto.offset.reset": "earliest",
                     "isolation.level": "read_committed"})
        c = ck.Consumer(conf)
        recs = []
        try:
            c.subscribe([topic])
            deadline = time.monotonic() + 60
            while len(recs) < n:
                if time.monotonic() > deadline:
                    return f"{len(recs)} of {n} records within 60s (errors: {[str(e) for e in errors]})", recs
                for m in c.consume(100, timeout=0.5):
                    if m.error() is not None:
                        if m.error().code() == ck.KafkaError._PARTITION_EOF:
                            continue
                        log(f"confluent consumer error: {m.error()}")
                        note_errors("confluent-kafka", {m.error().name(): 1})
                        return m.error().name(), recs
                    recs.append(Record(partition=m.partition(), offset=m.offset(), key=m.key(), value=m.value(),
                                       headers=list(m.headers() or []), timestamp=m.timestamp()[1]))
            try:
                c.commit(asynchronous=False)
            except ck.KafkaException as e:
                return self._err(e), recs
            return "NONE", recs
        finally:
            c.close()

    def describe_group(self, where, group):
        admin = self._admin(where)
        f = admin.describe_consumer_groups([group], request_timeout=30)
        try:
            f[group].result(timeout=60)
            return "NONE"
        except self.ck.KafkaException as e:
            return self._err(e)

    def describe_topic(self, where, topic):
        ck = self.ck
        admin = self._admin(where)
        f = admin.describe_topics(ck.TopicCollection([topic]), request_timeout=30)
        try:
            f[topic].result(timeout=60)
            return "NONE"
        except ck.KafkaException as e:
            return self._err(e)

    def cluster_admin_op(self, where):
        """alter_configs on the broker (ALTER_CONFIGS on the cluster)."""
        a = self.admin_mod
        admin = self._admin(where)
        node = str(next(iter(admin.list_topics(timeout=30).brokers)))
        fs = admin.incremental_alter_configs(
            [a.ConfigResource(a.ResourceType.BROKER, node, incremental_configs=[
                a.ConfigEntry("log.cleaner.threads", "1", incremental_operation=a.AlterConfigOpType.SET)])],
            request_timeout=30)
        try:
            list(fs.values())[0].result(timeout=60)
            return "incrementalAlterConfigs(broker)", "NONE"
        except self.ck.KafkaException as e:
            return "incrementalAlterConfigs(broker)", self._err(e)


def acl_client(name):
    return JavaAcl() if name == "java" else ConfluentAcl()


# --- setup ---------------------------------------------------------------------------

class Env:
    def __init__(self, ctx, client_name):
        self.ab = ctx.acl_broker()
        self.ctx = ctx
        self.client = acl_client(client_name)
        self.name = client_name
        self.id = uuid.uuid4().hex[:8]
        self.setup = get_client("confluent-kafka")  # topics, over PLAINTEXT (User:ANONYMOUS, super user)

    def who(self, user):
        return self.ab.client(user)

    def topic(self, name=None):
        t = name or self.ctx.topic(f"{self.name}.acl")
        self.setup.create_topic(SimpleNamespace(bootstrap=self.ab.plaintext, security=None), t, PARTITIONS)
        return t

    def messages(self, tag):
        return make_messages(f"{self.name}-{tag}-{self.id}", N, 10)

    def grant(self, bindings):
        res = self.client.create(self.who("admin"), bindings)
        check(res == ["NONE"] * len(bindings), f"{self.name}: admin's createAcls answered {res} for\n  "
                                               f"{fmt(bindings)}")
        log(f"granted:\n  {fmt(bindings)}")

    def until(self, what, fn, want=lambda r: r[0] == "NONE"):
        """fn() again (fresh clients each time) until want(its answer), for DEADLINE seconds."""
        deadline = time.monotonic() + DEADLINE
        tries = 0
        while True:
            r = fn()
            tries += 1
            if want(r):
                if tries > 1:
                    log(f"{what}: as expected after {tries} tries")
                return r
            if time.monotonic() > deadline:
                raise CheckFailed(f"{self.name}: {what}: still {r[0]!r} after {DEADLINE}s ({tries} tries)")
            time.sleep(0.5)

    def expect(self, what, got, want):
        check(got == want, f"{self.name}: {what}: got {got}, expected {want}")
        log(f"{what}: {got}")


def verify(env, records, msgs, acks):
    s = verify_records(records, msgs, partitions=PARTITIONS, delivered=acks or None, check_ts_type=False)
    log(f"verified {s}")


# --- scenarios -----------------------------------------------------------------------

def denied(ctx, client_name):
    env = Env(ctx, client_name)
    c, alice = env.client, env.who("alice")
    topic = env.topic()
    msgs = env.messages("denied")
    res, _ = c.produce(alice, topic, msgs[:1])  # the Java producer spends a second per refused send
    env.expect("alice produces without ACLs", res, "TOPIC_AUTHORIZATION_FAILED")
    env.expect("alice describes the topic", c.describe_topic(alice, topic), "TOPIC_AUTHORIZATION_FAILED")
    res = c.describe_group(alice, f"acl-group-{env.id}")
    env.expect("alice describes a group", res, "GROUP_AUTHORIZATION_FAILED")
    res, _ = c.produce(alice, topic, msgs[:1], txn_id=f"acl-txn-{env.id}")
    env.expect("alice's transactional producer", res, "TRANSACTIONAL_ID_AUTHORIZATION_FAILED")
    res = c.create(alice, [binding("TOPIC", topic, "User:alice", "WRITE")])
    env.expect("alice creates an ACL", res, ["CLUSTER_AUTHORIZATION_FAILED"])
    res, bs = c.describe(alice, {"resourceType": "ANY", "patternType": "ANY"})
    notes = []
    if client_name == "confluent-kafka" and res == "NONE":
        # librdkafka 2.16 hands DescribeAcls' top-level error code back as a success with
        # no binding (Kafka answers CLUSTER_AUTHORIZATION_FAILED: the Java client says so)
        check(bs == [], f"{client_name}: alice (no DESCRIBE on the cluster) was shown ACLs:\n  {fmt(bs)}")
        notes.append("confluent-kafka's describe_acls by alice: no error, no binding (librdkafka drops "
                     "DescribeAcls' top-level error code; the Java client shows CLUSTER_AUTHORIZATION_FAILED)")
        log(notes[-1])
    else:
        env.expect("alice describes ACLs", res, "CLUSTER_AUTHORIZATION_FAILED")
    what, res = c.cluster_admin_op(alice)
    env.expect(f"alice: {what}", res, "CLUSTER_AUTHORIZATION_FAILED")
    # carol may see the topic (so that the producer gets as far as InitProducerId) but
    # write none: no IDEMPOTENT_WRITE on the cluster, no WRITE on any topic
    env.grant([binding("TOPIC", topic, "User:carol", "DESCRIBE")])
    env.until("carol's idempotent producer (no WRITE on any topic)",
              lambda: c.produce(env.who("carol"), topic, msgs[:1], idempotent=True),
              want=lambda r: r[0] == "CLUSTER_AUTHORIZATION_FAILED")
    return "; ".join(notes) or None


def grant_revoke(ctx, client_name):
    env = Env(ctx, client_name)
    c, alice = env.client, env.who("alice")
    topic = env.topic()
    group, txn = f"acl-group-{env.id}", f"acl-txn-{env.id}"
    msgs = env.messages("granted")
    res, _ = c.produce(alice, topic, msgs[:1], txn_id=txn)
    env.expect("alice's transactional producer before the grant", res, "TRANSACTIONAL_ID_AUTHORIZATION_FAILED")
    created = [binding("TOPIC", topic, "User:alice", op) for op in ("WRITE", "READ", "DESCRIBE")]
    created += [binding("TRANSACTIONAL_ID", txn, "User:alice", "WRITE"), binding("GROUP", group, "User:alice", "READ")]
    env.grant(created[:4])
    res, acks = env.until("alice's transactional produce after the grant",
                          lambda: c.produce(alice, topic, msgs, txn_id=txn))
    res, _ = c.group_consume(alice, topic, group, N)
    env.expect("alice consumes in a group she has no ACL for (the topic's are there)", res,
               "GROUP_AUTHORIZATION_FAILED")
    env.grant(created[4:])
    res, recs = env.until("alice consumes in her group", lambda: c.group_consume(alice, topic, group, N))
    verify(env, recs, msgs, acks)
    # revoke: the topic's and the group's by name, the transactional id's by principal and type
    filters = [{"resourceType": "TOPIC", "name": topic, "patternType": "LITERAL", "principal": "User:alice"},
               {"resourceType": "GROUP", "name": group},
               {"resourceType": "TRANSACTIONAL_ID", "name": txn, "principal": "User:alice", "operation": "WRITE",
                "permission": "ALLOW"}]
    out = c.delete(env.who("admin"), filters)
    check([r for r, _ in out] == ["NONE"] * 3, f"{client_name}: deleteAcls answered {out}")
    got = [sorted(map(key, m)) for _, m in out]
    want = [sorted(map(key, created[:3])), [key(created[4])], [key(created[3])]]
    check(got == want, f"{client_name}: deleteAcls matched\n  {got}\nexpected\n  {want}")
    log(f"deleteAcls matched exactly the created bindings: {got}")
    env.until("alice produces after the revocation", lambda: c.produce(alice, topic, msgs[:1]),
              want=lambda r: r[0] == "TOPIC_AUTHORIZATION_FAILED")
    env.until("alice describes her group after the revocation", lambda: (c.describe_group(alice, group),),
              want=lambda r: r[0] == "GROUP_AUTHORIZATION_FAILED")
    env.until("alice's transactional producer after the revocation",
              lambda: c.produce(alice, topic, msgs[:1], txn_id=txn),
              want=lambda r: r[0] == "TRANSACTIONAL_ID_AUTHORIZATION_FAILED")
    return None


def prefixed(ctx, client_name):
    env = Env(ctx, client_name)
    c, alice = env.client, env.who("alice")
    prefix = f"acl-pfx-{env.id}-"
    topic, other = env.topic(prefix + "anything"), env.topic(f"other-topic-{env.id}")
    env.grant([binding("TOPIC", prefix, "User:alice", op, pattern="PREFIXED") for op in ("READ", "WRITE", "DESCRIBE")]
              + [binding("GROUP", prefix, "User:alice", "READ", pattern="PREFIXED")])
    msgs = env.messages("prefixed")
    _, acks = env.until(f"alice produces to {topic}", lambda: c.produce(alice, topic, msgs))
    _, recs = env.until(f"alice consumes {topic}", lambda: c.group_consume(alice, topic, prefix + "group", N))
    verify(env, recs, msgs, acks)
    res, _ = c.produce(alice, other, msgs[:1])
    env.expect(f"alice produces to {other}", res, "TOPIC_AUTHORIZATION_FAILED")
    res, _ = c.group_consume(alice, other, prefix + "group2", 1)
    env.expect(f"alice consumes {other} (group {prefix}group2 allowed)", res, "TOPIC_AUTHORIZATION_FAILED")
    return None


def deny_overrides(ctx, client_name):
    env = Env(ctx, client_name)
    c = env.client
    topic = env.topic()
    group = f"acl-group-{env.id}"
    msgs = env.messages("deny")
    _, acks = c.produce(env.who("admin"), topic, msgs)
    env.grant([binding("TOPIC", topic, "User:*", "READ"), binding("TOPIC", topic, "User:*", "DESCRIBE"),
               binding("GROUP", group, "User:*", "READ"),
               binding("TOPIC", topic, "User:bob", "READ", permission="DENY")])
    _, recs = env.until("alice consumes (User:* allowed)", lambda: c.group_consume(env.who("alice"), topic, group, N))
    verify(env, recs, msgs, acks)
    env.expect("bob describes the topic (DESCRIBE allowed to User:*)", c.describe_topic(env.who("bob"), topic), "NONE")
    res, _ = c.group_consume(env.who("bob"), topic, group, 1)
    env.expect("bob consumes (READ denied to User:bob)", res, "TOPIC_AUTHORIZATION_FAILED")
    return None


def super_user(ctx, client_name):
    env = Env(ctx, client_name)
    c, admin = env.client, env.who("admin")
    topic = env.topic()
    msgs = env.messages("super")
    res, acks = c.produce(admin, topic, msgs, idempotent=True)
    env.expect("admin (super user) produces idempotently with no ACL", res, "NONE")
    res, recs = c.group_consume(admin, topic, f"acl-group-{env.id}", N)
    env.expect("admin consumes in a group with no ACL", res, "NONE")
    verify(env, recs, msgs, acks)
    res, bs = c.describe(admin, {"resourceType": "TOPIC", "name": topic})
    env.expect("admin describes the topic's ACLs", (res, bs), ("NONE", []))
    return None


def describe_filters(ctx, client_name):
    env = Env(ctx, client_name)
    c, admin = env.client, env.who("admin")
    prefix = f"acl-desc-{env.id}-"
    topic, group, txn = prefix + "topic", prefix + "group", prefix + "txn"
    b = {
        "alice-read": binding("TOPIC", topic, "User:alice", "READ"),
        "bob-deny": binding("TOPIC", topic, "User:bob", "WRITE", permission="DENY", host="127.0.0.1"),
        "pfx": binding("TOPIC", prefix, "User:alice", "DESCRIBE", pattern="PREFIXED"),
        "group": binding("GROUP", group, "User:alice", "READ"),
        "txn": binding("TRANSACTIONAL_ID", txn, "User:alice", "WRITE"),
    }
    env.grant(list(b.values()))
    cases = [
        ("TOPIC literal by name", {"resourceType": "TOPIC", "name": topic, "patternType": "LITERAL"},
         ["alice-read", "bob-deny"]),
        ("TOPIC by name, MATCH (literal and prefixed that apply)",
         {"resourceType": "TOPIC", "name": topic, "patternType": "MATCH"}, ["alice-read", "bob-deny", "pfx"]),
        ("TOPIC prefixed by name", {"resourceType": "TOPIC", "name": prefix, "patternType": "PREFIXED"}, ["pfx"]),
        ("TOPIC by name, any pattern", {"resourceType": "TOPIC", "name": topic}, ["alice-read", "bob-deny"]),
        ("by name and principal", {"resourceType": "TOPIC", "name": topic, "principal": "User:bob"}, ["bob-deny"]),
        ("by name and host", {"resourceType": "TOPIC", "name": topic, "host": "127.0.0.1"}, ["bob-deny"]),
        ("by name and permission", {"resourceType": "TOPIC", "name": topic, "permission": "ALLOW"},
         ["alice-read"]),
        ("by name and operation", {"resourceType": "TOPIC", "name": topic, "operation": "WRITE"}, ["bob-deny"]),
        ("GROUP by name", {"resourceType": "GROUP", "name": group}, ["group"]),
        ("TRANSACTIONAL_ID by name", {"resourceType": "TRANSACTIONAL_ID", "name": txn, "patternType": "LITERAL",
                                      "principal": "User:alice", "host": "*", "operation": "WRITE",
                                      "permission": "ALLOW"}, ["txn"]),
        ("any type by a name no ACL has", {"name": prefix + "nothing"}, []),
    ]
    for what, flt, want in cases:
        want_keys = sorted(key(b[w]) for w in want)
        r = env.until(f"describeAcls {what}", lambda: c.describe(admin, flt),
                      want=lambda r: r[0] == "NONE" and sorted(map(key, r[1])) == want_keys)
        log(f"describeAcls {what}: {fmt(r[1])}")
    out = c.delete(admin, [{"resourceType": "ANY", "name": n, "patternType": "ANY"} for n in (topic, prefix, group, txn)])
    got = sorted(key(x) for _, m in out for x in m)
    check(got == sorted(map(key, b.values())), f"{client_name}: deleteAcls by name matched\n  {got}")
    for n in (topic, prefix, group, txn):
        env.until(f"describeAcls by name {n} after deleteAcls", lambda: c.describe(admin, {"name": n}),
                  want=lambda r: r == ("NONE", []))
    return None

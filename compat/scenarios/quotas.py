"""Client quotas (issue 14): AlterClientQuotas / DescribeClientQuotas through the Java
AdminClient (compat/java ``quotas``, Quotas.java), and producers and consumers held to a
byte-rate quota. Quotas are broker-wide state, so every scenario has a private broker.

* ``quota-admin`` (java): quotas set on user, client-id, user+client-id, ip and their
  defaults; describeClientQuotas with exact / default / specified components, strict or
  not, must return exactly the entities Kafka's matching selects (``matches`` below: a
  component names an entity type; exact: that name, default: the default entity,
  specified: any name or the default; strict: the entity has no other type); filters
  that combine ip with user or client-id, or name a type twice: INVALID_REQUEST. Then a
  key is replaced and another removed, everything is removed (describe: nothing), a
  validateOnly alteration changes nothing, and invalid alterations (fractional
  producer_byte_rate, an unknown key, ip with user, a key of another entity type, a
  negative rate, an ip that is no address) each answer INVALID_REQUEST while a valid one
  in the same request is applied. Kafka applies a change through its metadata log: the
  state after each alteration is polled until the deadline.
* ``quota-produce-throttled`` (java, confluent-kafka): producer_byte_rate QUOTA on the
  producer's client id; the producer sends BYTES (about 30 s of the quota: Kafka's rate is
  sampled over 11 windows of 1 s, at least 10 s, so a fresh quota lets about 10 s worth
  through at once); the client must have seen throttling (Java: producer metric
  ``produce-throttle-time-max`` > 0; librdkafka: its ``throttle_cb`` with a throttle time
  > 0) and its average rate over the run (bytes acknowledged / time from the first send to
  the end of flush) must be at most 2x the quota (a loose bound, not a timing test).
* ``quota-controller-mutations`` (confluent-kafka): controller_mutation_rate=1 on the
  admin's client id (KIP-599: a credit of 11 partitions, refilled at 1 a second). A
  CreateTopics of 20 partitions is accepted (the credit was not yet used up) and
  answers a throttle time; the next topic, at once, is refused with
  THROTTLING_QUOTA_EXCEEDED; once the throttle time has passed it is created.
* ``quota-request-throttled`` (confluent-kafka): request_percentage=0.01 on a producer's
  client id (a hundredth of a percent of one thread): producing records one request
  each (at most 300), it is told to back off (``throttle_cb`` with a throttle time > 0),
  never for longer than the quota window (11 s), and every record is acknowledged; a
  producer under another client id, without a quota, is never throttled over 300.
* ``quota-fetch-throttled`` (java): BYTES written without a quota, then read back by a
  consumer whose client id has consumer_byte_rate QUOTA (fetches of at most 64 KiB):
  ``fetch-throttle-time-max`` > 0 and the average read rate at most 2x the quota.
"""

from __future__ import annotations

import time
import uuid

from harness.clients import get_client
from harness.clients.driver import conn_request
from harness.common import CheckFailed, check, log, note_errors
from scenarios import Scenario

QUOTA = 100 * 1024          # bytes/s
BYTES = 3 * 1024 * 1024     # about 30 s of the quota
RECORD = 1024
DEADLINE = 60               # seconds for a quota change to show (Kafka: through the metadata log)


def quota_scenarios() -> list[Scenario]:
    Q = "scenarios.quotas"
    return [
        Scenario("java", "quota-admin", f"{Q}:quota_admin", managed_only=True, cost=3, timeout=300),
        Scenario("java", "quota-produce-throttled", f"{Q}:produce_throttled", ("java",), managed_only=True,
                 cost=4, timeout=240),
        Scenario("confluent-kafka", "quota-produce-throttled", f"{Q}:produce_throttled", ("confluent-kafka",),
                 managed_only=True, cost=4, timeout=240),
        Scenario("java", "quota-fetch-throttled", f"{Q}:fetch_throttled", managed_only=True, cost=4, timeout=240),
        Scenario("confluent-kafka", "quota-controller-mutations", f"{Q}:controller_mutations", managed_only=True,
                 cost=2, timeout=240),
        Scenario("confluent-kafka", "quota-request-throttled", f"{Q}:request_throttled", managed_only=True,
                 cost=2, timeout=240),
    ]


# --- the Java driver's quotas command ---------------------------------------------------

def _quotas(ctx, ops) -> list[dict]:
    return get_client("java").run("quotas", {**conn_request(ctx), "ops": ops}, timeout=120)["answers"]


def alter(ctx, alterations, validate_only=False) -> list[str]:
    """alterations: [(entity dict, {key: value or None})]; the result of each."""
    r = _quotas(ctx, [{"op": "alter", "validateOnly": validate_only,
                       "alterations": [{"entity": e, "ops": ops} for e, ops in alterations]}])[0]["results"]
    for (e, ops), x in zip(alterations, r):
        log(f"alter {ent(e)} {ops}: {x['result']}" + (f" ({x.get('message')})" if x["result"] != "NONE" else ""))
    return [x["result"] for x in r]


def describe(ctx, components=(), strict=False) -> tuple[str, dict]:
    """(result, {entity key: quotas})."""
    r = _quotas(ctx, [{"op": "describe", "filter": {"components": list(components), "strict": strict}}])[0]
    if r["result"] != "NONE":
        log(f"describe {components} strict={strict}: {r['result']} ({r.get('message')})")
    return r["result"], {ent(x["entity"]): {k: float(v) for k, v in x["quotas"].items()} for x in r["entries"]}


def ent(e: dict) -> tuple:
    """An entity as a hashable key: ((type, name or None), ...) sorted by type."""
    return tuple(sorted(e.items()))


def fmt(state: dict) -> str:
    def name(k):
        return " ".join(f"{t}={'<default>' if n is None else n}" for t, n in k)
    return "\n  ".join(f"{name(k)}: {q}" for k, q in sorted(state.items(), key=lambda kv: repr(kv[0]))) or "(none)"


def exact(t, name):
    return {"entityType": t, "match": "exact", "name": name}


def default(t):
    return {"entityType": t, "match": "default"}


def specified(t):
    return {"entityType": t, "match": "specified"}


def matches(entity: tuple, components, strict) -> bool:
    """Kafka's DescribeClientQuotas matching (ClientQuotasImage.describe)."""
    e = dict(entity)
    for c in components:
        t = c["entityType"]
        if t not in e:
            return False
        if c["match"] == "exact" and e[t] != c["name"]:
            return False
        if c["match"] == "default" and e[t] is not None:
            return False
    return not strict or len(e) == len(components)


def wait_state(ctx, expected: dict, what: str):
    """Polls describe-all until it shows exactly ``expected``."""
    deadline = time.monotonic() + DEADLINE
    while True:
        res, got = describe(ctx)
        check(res == "NONE", f"describeClientQuotas (all): {res}")
        if got == expected:
            return
        if time.monotonic() > deadline:
            raise CheckFailed(f"{what}: describeClientQuotas (all) after {DEADLINE}s:\n  {fmt(got)}\n"
                              f"expected:\n  {fmt(expected)}")
        time.sleep(0.5)


# --- quota-admin ------------------------------------------------------------------------

def quota_admin(ctx):
    ctx.private_broker()
    U, C = "user", "client-id"
    setting = [
        ({U: "alice"}, {"producer_byte_rate": 1048576, "consumer_byte_rate": 2097152}),
        ({C: "app-1"}, {"request_percentage": 50.5}),
        ({U: "alice", C: "app-1"}, {"producer_byte_rate": 4096}),
        ({U: None}, {"producer_byte_rate": 5000}),
        ({C: None}, {"consumer_byte_rate": 6000}),
        ({U: "alice", C: None}, {"consumer_byte_rate": 7000}),
        ({U: None, C: None}, {"request_percentage": 200}),
        ({U: "bob"}, {"controller_mutation_rate": 2.5}),
        ({"ip": "127.0.0.1"}, {"connection_creation_rate": 10}),
        ({"ip": None}, {"connection_creation_rate": 100}),
    ]
    res = alter(ctx, setting)
    check(res == ["NONE"] * len(setting), f"alterClientQuotas (set): {res}")
    state = {ent(e): {k: float(v) for k, v in ops.items()} for e, ops in setting}
    wait_state(ctx, state, "after setting the quotas")

    filters = [
        ([exact(U, "alice")], False),
        ([exact(U, "alice")], True),
        ([default(U)], False),
        ([default(U)], True),
        ([specified(C)], False),
        ([specified(C)], True),
        ([exact(U, "alice"), specified(C)], True),
        ([specified(U), default(C)], False),
        ([exact(U, "alice"), exact(C, "app-1")], True),
        ([specified("ip")], False),
        ([exact("ip", "127.0.0.1")], False),
        ([default("ip")], True),
        ([exact(U, "nobody")], False),
        ([], True),
    ]
    bad = []
    for comps, strict in filters:
        res, got = describe(ctx, comps, strict)
        want = {k: v for k, v in state.items() if matches(k, comps, strict)}
        if res != "NONE" or got != want:
            bad.append(f"filter {comps} strict={strict}: {res}\n  {fmt(got)}\nexpected:\n  {fmt(want)}")
    for comps in ([specified("ip"), exact(U, "alice")], [exact(C, "app-1"), default("ip")],
                  [exact(U, "alice"), default(U)]):
        res, got = describe(ctx, comps)
        if res != "INVALID_REQUEST":
            bad.append(f"filter {comps}: {res} ({len(got)} entities), expected INVALID_REQUEST")
    check(not bad, "describeClientQuotas:\n" + "\n".join(bad))

    # replace one key, remove another, leave the rest
    res = alter(ctx, [({U: "alice"}, {"producer_byte_rate": 2048, "consumer_byte_rate": None}),
                      ({C: "app-1"}, {"request_percentage": None, "controller_mutation_rate": 1})])
    check(res == ["NONE"] * 2, f"alterClientQuotas (replace / remove): {res}")
    state[ent({U: "alice"})] = {"producer_byte_rate": 2048.0}
    state[ent({C: "app-1"})] = {"controller_mutation_rate": 1.0}
    wait_state(ctx, state, "after replacing and removing keys")

    # remove everything (and a key that is not set: no error)
    removals = []
    for k, v in state.items():
        ops = {q: None for q in v}
        if "ip" not in dict(k):
            ops.setdefault("request_percentage", None)  # not set on most: removing it is no error
        removals.append((dict(k), ops))
    res = alter(ctx, removals)
    check(res == ["NONE"] * len(state), f"alterClientQuotas (remove all): {res}")
    state = {}
    wait_state(ctx, state, "after removing every quota")

    # validateOnly: accepted, nothing changes
    res = alter(ctx, [({U: "carol"}, {"producer_byte_rate": 1000})], validate_only=True)
    check(res == ["NONE"], f"alterClientQuotas validateOnly: {res}")

    # invalid alterations: each INVALID_REQUEST; the valid one of the same request applies
    invalid = [
        ({U: "alice"}, {"producer_byte_rate": 1.5}, "fractional producer_byte_rate"),
        ({U: "alice-2"}, {"no_such_rate": 10}, "unknown key"),
        ({U: "alice-3", "ip": "127.0.0.1"}, {"connection_creation_rate": 10}, "ip with user"),
        ({"ip": "127.0.0.2"}, {"producer_byte_rate": 1024}, "producer_byte_rate on an ip"),
        ({U: "alice-4"}, {"connection_creation_rate": 10}, "connection_creation_rate on a user"),
        ({U: "alice-5"}, {"producer_byte_rate": -1024}, "negative producer_byte_rate"),
        ({"ip": "not-an-ip.invalid"}, {"connection_creation_rate": 10}, "an ip that is no address"),
    ]
    valid = ({C: "ok-1"}, {"producer_byte_rate": 1024})
    res = alter(ctx, [(e, ops) for e, ops, _ in invalid] + [valid])
    wrong = [f"{why} ({ent(e)} {ops}): {r}, expected INVALID_REQUEST"
             for (e, ops, why), r in zip(invalid, res) if r != "INVALID_REQUEST"]
    if res[-1] != "NONE":
        wrong.append(f"the valid alteration {valid} of the same request: {res[-1]}, expected NONE")
    check(not wrong, "alterClientQuotas:\n" + "\n".join(wrong))
    wait_state(ctx, {ent(valid[0]): {"producer_byte_rate": 1024.0}},
               "after the invalid alterations (only the valid one applied, validateOnly changed nothing)")
    return (f"{len(setting)} entities set and described with {len(filters)} filters (+3 invalid ones); "
            f"replaced, removed; {len(invalid)} invalid alterations refused with INVALID_REQUEST")


# --- throttled clients ------------------------------------------------------------------

def _set_quota(ctx, entity, key, value):
    res = alter(ctx, [(entity, {key: value})])
    check(res == ["NONE"], f"alterClientQuotas {entity} {key}={value}: {res}")
    deadline = time.monotonic() + DEADLINE
    while True:
        r, got = describe(ctx, [exact(t, n) for t, n in entity.items()], strict=True)
        if r == "NONE" and got.get(ent(entity), {}).get(key) == float(value):
            return
        check(time.monotonic() < deadline, f"the quota {entity} {key}={value} did not show in "
                                           f"describeClientQuotas within {DEADLINE}s: {r} {got}")
        time.sleep(0.5)


def _ratio_note(what, nbytes, elapsed, throttle):
    rate = nbytes / elapsed
    return rate, (f"{what}: quota {QUOTA} B/s, {nbytes} B in {elapsed:.1f}s = {rate:.0f} B/s "
                  f"({rate / QUOTA:.2f}x the quota); {throttle}")


def produce_throttled(ctx, client_name):
    ctx.private_broker()
    client = get_client(client_name)
    topic = ctx.topic(f"{client_name}.quota-produce")
    client.create_topic(ctx, topic, 1)
    cid = f"quota-producer-{uuid.uuid4().hex[:8]}"
    _set_quota(ctx, {"client-id": cid}, "producer_byte_rate", QUOTA)
    if client_name == "java":
        r = get_client("java").run("quota-produce", {**conn_request(ctx), "topic": topic, "clientId": cid,
                                                     "bytes": BYTES, "recordSize": RECORD}, timeout=180)
        log(f"java producer: {r['records']} records, {r['bytes']} B in {r['elapsedMs']:.0f} ms; "
            f"metrics {r['metrics']}; failed {r['failed']}")
        nbytes, elapsed = r["bytes"], r["elapsedMs"] / 1000
        m = r["metrics"]
        tmax, tavg = m.get("produce-throttle-time-max"), m.get("produce-throttle-time-avg")
        check(not r["failed"] and nbytes >= BYTES, f"java producer: {r['records']} records acknowledged, "
                                                   f"failures {r['failed']}")
        check((tmax or 0) > 0 or (tavg or 0) > 0,
              f"java producer: no throttling seen (produce-throttle-time-max {tmax}, -avg {tavg}) while "
              f"producing {nbytes} B in {elapsed:.1f}s under a {QUOTA} B/s quota")
        throttle = f"produce-throttle-time-max {tmax} ms, -avg {tavg} ms"
    else:
        nbytes, elapsed, throttle = _confluent_produce(ctx, topic, cid)
    rate, note = _ratio_note(f"{client_name} producer", nbytes, elapsed, throttle)
    log(note)
    check(rate <= 2 * QUOTA, f"{note}: more than 2x the quota")
    return note


def _confluent_produce(ctx, topic, cid):
    import confluent_kafka as ck
    throttles = []
    errors = []

    def on_throttle(ev):
        throttles.append(ev.throttle_time)

    def on_error(err):
        log(f"librdkafka error_cb: {err}")
        note_errors("confluent-kafka", {err.name(): 1})

    p = ck.Producer({"bootstrap.servers": ctx.bootstrap, "broker.address.family": "v4", "client.id": cid,
                     "linger.ms": 5, "batch.size": 65536, "message.timeout.ms": 180000,
                     "throttle_cb": on_throttle, "error_cb": on_error})
    p.list_topics(topic, timeout=30)  # metadata first: the clock starts with the first send
    acked = [0]

    def on_delivery(err, msg):
        if err is not None:
            errors.append(err.name())
        else:
            acked[0] += len(msg.value())

    import random
    rnd = random.Random(42)
    t0 = time.monotonic()
    sent = 0
    while sent < BYTES:
        v = rnd.randbytes(RECORD)
        while True:
            try:
                p.produce(topic, v, on_delivery=on_delivery)
                break
            except BufferError:
                p.poll(0.1)
        sent += RECORD
        p.poll(0)
    left = p.flush(180)
    elapsed = time.monotonic() - t0
    log(f"confluent-kafka producer: {acked[0]} B acknowledged in {elapsed:.1f}s, {left} left, errors "
        f"{sorted(set(errors))}; throttle_cb times (s): {throttles}")
    if errors:
        note_errors("confluent-kafka", {e: errors.count(e) for e in set(errors)})
    check(left == 0 and not errors and acked[0] >= BYTES,
          f"confluent-kafka producer: {acked[0]} of {BYTES} B acknowledged, {left} undelivered, errors "
          f"{sorted(set(errors))}")
    positive = [t for t in throttles if t > 0]
    check(positive, f"confluent-kafka producer: throttle_cb never reported a throttle time > 0 ({throttles}) "
                    f"while producing {acked[0]} B in {elapsed:.1f}s under a {QUOTA} B/s quota")
    return acked[0], elapsed, (f"throttle_cb: {len(positive)} throttles > 0, max {max(positive) * 1000:.0f} ms, "
                               f"total {sum(positive) * 1000:.0f} ms")


def fetch_throttled(ctx):
    ctx.private_broker()
    java = get_client("java")
    topic = ctx.topic("java.quota-fetch")
    java.create_topic(ctx, topic, 1)
    r = java.run("quota-produce", {**conn_request(ctx), "topic": topic, "clientId": "quota-loader",
                                   "bytes": BYTES, "recordSize": RECORD}, timeout=180)
    check(not r["failed"] and r["bytes"] >= BYTES, f"loading the topic: {r['records']} records, {r['failed']}")
    log(f"loaded {r['bytes']} B without a quota in {r['elapsedMs']:.0f} ms")
    cid = f"quota-consumer-{uuid.uuid4().hex[:8]}"
    _set_quota(ctx, {"client-id": cid}, "consumer_byte_rate", QUOTA)
    n = r["records"]
    c = java.run("quota-consume", {**conn_request(ctx), "topic": topic, "clientId": cid, "count": n,
                                   "maxFetchBytes": 65536, "timeoutMs": 150_000}, timeout=200)
    log(f"java consumer: {c['records']} records, {c['bytes']} B in {c['elapsedMs']:.0f} ms; metrics {c['metrics']}")
    check(c["records"] == n, f"java consumer read {c['records']} of {n} records")
    m = c["metrics"]
    tmax, tavg = m.get("fetch-throttle-time-max"), m.get("fetch-throttle-time-avg")
    elapsed = c["elapsedMs"] / 1000
    check((tmax or 0) > 0 or (tavg or 0) > 0,
          f"java consumer: no throttling seen (fetch-throttle-time-max {tmax}, -avg {tavg}) while reading "
          f"{c['bytes']} B in {elapsed:.1f}s under a {QUOTA} B/s consumer quota")
    rate, note = _ratio_note("java consumer", c["bytes"], elapsed,
                             f"fetch-throttle-time-max {tmax} ms, -avg {tavg} ms")
    log(note)
    check(rate <= 2 * QUOTA, f"{note}: more than 2x the quota")
    return note


MUTATION_RATE = 1  # partitions a second; the credit: 11 (controller.quota.window.num x 1 s)


def controller_mutations(ctx):
    """kafka-python's CreateTopics is v6+ (strict), librdkafka's v4 (throttled only)."""
    import confluent_kafka as ck
    from confluent_kafka.admin import AdminClient, NewTopic
    from kafka import KafkaAdminClient
    from kafka import errors as Errors
    from kafka.errors import KafkaError
    ctx.private_broker()
    cid = f"quota-admin-{uuid.uuid4().hex[:8]}"
    _set_quota(ctx, {"client-id": cid}, "controller_mutation_rate", MUTATION_RATE)
    strict = KafkaAdminClient(bootstrap_servers=ctx.bootstrap, client_id=cid)
    throttles = []
    permissive = AdminClient({"bootstrap.servers": ctx.bootstrap, "broker.address.family": "v4", "client.id": cid,
                              "throttle_cb": lambda ev: throttles.append(ev.throttle_time)})

    def create(topics: dict[str, int]) -> dict[str, str | None]:
        """One kafka-python CreateTopics: each topic's error name (None: created)."""
        try:
            r = strict.create_topics({n: {"num_partitions": p, "replication_factor": 1} for n, p in topics.items()},
                                     raise_errors=False)
        except KafkaError as e:  # throttled: the client holds its requests back (KIP-219)
            return {n: type(e).__name__ for n in topics}
        out = {t["name"]: None if t["error_code"] == 0 else Errors.for_code(t["error_code"]).__name__
               for t in r["topics"]}
        return out

    try:
        big, small, old = ctx.topic("mutations-big"), ctx.topic("mutations-small"), ctx.topic("mutations-v4")
        # one request: the topic that uses the credit up passes, the next is refused
        got = create({big: 20, small: 1})
        t0 = time.monotonic()
        check(got == {big: None, small: "ThrottlingQuotaExceededError"},
              f"20 partitions then 1 in one CreateTopics with a fresh credit of 11: {got} (expected the first "
              f"created, the second THROTTLING_QUOTA_EXCEEDED)")
        # an older CreateTopics (librdkafka's v4) is not refused, only throttled
        try:
            permissive.create_topics([NewTopic(old, 1, 1)], request_timeout=30)[old].result(60)
        except ck.KafkaException as e:
            raise CheckFailed(f"librdkafka's CreateTopics (v4) with the credit used up: {e} (expected: created, "
                              f"throttled)") from None
        permissive.poll(0)
        check(any(t > 0 for t in throttles), f"no throttle time reported to librdkafka: {throttles}")
        deadline = time.monotonic() + 60
        while (err := create({small: 1})[small]) is not None:
            check(err in ("ThrottlingQuotaExceededError", "NodeNotReadyError"), f"creating {small} again: {err}")
            check(time.monotonic() < deadline, "the credit did not come back within 60s")
            time.sleep(1)
    finally:
        strict.close()
    return (f"20 partitions accepted, the next topic of the request refused (THROTTLING_QUOTA_EXCEEDED), created "
            f"{time.monotonic() - t0:.0f}s later; a v4 CreateTopics accepted and throttled "
            f"({max(throttles):.1f} s)")


REQUEST_PERCENTAGE = 0.01
REQUESTS = 300


def request_throttled(ctx):
    import confluent_kafka as ck
    ctx.private_broker()
    topic = ctx.topic("quota-request")
    get_client("confluent-kafka").create_topic(ctx, topic, 1)
    cid = f"quota-requests-{uuid.uuid4().hex[:8]}"
    _set_quota(ctx, {"client-id": cid}, "request_percentage", REQUEST_PERCENTAGE)

    def produce(client_id, until_throttled):
        """Up to REQUESTS records, each its own Produce request (with ``until_throttled``,
        until the first throttled answer); (throttle times in s, errors, requests)."""
        throttles, errors = [], []
        p = ck.Producer({"bootstrap.servers": ctx.bootstrap, "broker.address.family": "v4", "client.id": client_id,
                         "linger.ms": 0, "acks": "all", "message.timeout.ms": 120_000,
                         "throttle_cb": lambda ev: throttles.append(ev.throttle_time)})
        n = 0
        while n < REQUESTS and not (until_throttled and any(t > 0 for t in throttles)):
            p.produce(topic, f"r{n}".encode(), on_delivery=lambda err, m: err and errors.append(err.name()))
            p.flush(60)
            n += 1
        p.flush(60)
        return throttles, errors, n

    throttled, errors, n = produce(cid, True)
    check(not errors, f"records failed under the request quota: {errors[:5]}")
    check(any(t > 0 for t in throttled), f"{REQUESTS} requests under request_percentage={REQUEST_PERCENTAGE}: "
                                         f"never throttled ({throttled[:10]})")
    check(max(throttled) <= 11.0, f"throttled {max(throttled)} s, more than the quota window (11 s)")
    free, errors, _ = produce(f"unlimited-{uuid.uuid4().hex[:8]}", False)
    check(not errors and not any(t > 0 for t in free), f"a client id without a quota was throttled: {free[:10]} "
                                                       f"{errors[:5]}")
    return (f"request_percentage={REQUEST_PERCENTAGE}: throttled ({max(throttled):.2f} s) after {n} requests, all "
            f"acknowledged; another client id never over {REQUESTS}")

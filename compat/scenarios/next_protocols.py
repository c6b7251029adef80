"""What the Java ecosystem asks of a Kafka 4 broker beyond what Riffle has today:
transactions (issue 12) and the consumer group protocol of KIP-848 (issue 13). These
scenarios are listed in compat/known-failures.txt until those issues turn them green."""

from __future__ import annotations

import uuid

from harness.clients import get_client
from harness.common import check, make_messages
from harness.groups import make_member


def transactions(ctx, client_name):
    """A transactional producer commits 100 records and aborts 50: a read_committed
    consumer reads exactly the committed ones, a read_uncommitted one all 150."""
    client = get_client(client_name)
    topic = ctx.topic(f"{client_name}.txn")
    client.create_topic(ctx, topic, 3)
    res = client.run("transactions", {"bootstrap": ctx.bootstrap, "topic": topic, "committed": 100, "aborted": 50,
                                      "transactionalId": f"compat-{uuid.uuid4().hex[:8]}"}, timeout=120)
    committed = sorted(res["read_committed"])
    check(committed == sorted(f"committed-{i}" for i in range(100)),
          f"read_committed read {len(committed)} records: {committed[:5]}...")
    check(len(res["read_uncommitted"]) == 150, f"read_uncommitted read {len(res['read_uncommitted'])} of 150")


def consumer_protocol(ctx, client_name):
    """Two members with group.protocol=consumer (KIP-848: ConsumerGroupHeartbeat,
    server-side assignment) share a 4-partition topic and read every record once."""
    topic = ctx.topic(f"{client_name}.kip848")
    get_client("confluent-kafka").create_topic(ctx, topic, 4)
    msgs = make_messages(f"{client_name}-848", 400, 40)
    get_client("confluent-kafka").produce(ctx, topic, msgs)
    group = f"compat-{client_name}-848-{uuid.uuid4().hex[:8]}"
    members = [make_member(client_name, f"{client_name}#{i}", ctx.bootstrap, group, [topic],
                           group_protocol="consumer").start() for i in (1, 2)]
    try:
        want = {m.value.decode() for m in msgs}

        def no_error(m):
            errs = [e.get("error") for e in m.events if e["ev"] in ("error", "fatal")]
            check(not errs, f"{m.name}: {errs[:2]}")
            return True

        def read_all(_):
            got = [r[3] for m in members for r in m.records]
            return set(got) >= want
        members[0].wait(lambda s: no_error(s) and len(s.assignment) > 0, 60, "an assignment with group.protocol=consumer")
        members[0].wait(read_all, 90, "every record read by the two members")
        for m in members:
            check(not m.failure(), f"{m.name}: {m.failure()}")
            m.close()
    finally:
        for m in members:
            m.cleanup()

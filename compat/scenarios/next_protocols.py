"""What the Java ecosystem asks of a Kafka 4 broker beyond what Riffle has today: the
consumer group protocol of KIP-848 (issue 13), listed in compat/known-failures.txt until
that issue turns it green. (Transactions, issue 12, are in scenarios/transactions.py.)"""

from __future__ import annotations

import uuid

from harness.clients import get_client
from harness.common import check, make_messages
from harness.groups import make_member


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

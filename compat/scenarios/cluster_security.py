"""A 3-node cluster secured end to end (issue 14), the same settings for both
flavours: clients, replication (``inter.broker.listener.name=SASL_SSL``) and the
metadata quorum (``CONTROLLER:SASL_SSL``) all over TLS with SASL. Brokers
authenticate to each other and to the controllers with PLAIN
(``sasl.mechanism.inter.broker.protocol``, ``sasl.mechanism.controller.protocol``,
the ``username``/``password`` of each listener's JAAS config); clients with
SCRAM-SHA-512, whose credentials live in the metadata log and so must reach
every broker. Each node keeps a PLAINTEXT listener for the harness (metadata
reads, creating the SCRAM user); what is under test goes over SASL_SSL.

The checks: an idempotent acks=all producer on SASL_SSL rides out the SIGKILL
of a partition leader; everything acknowledged is read back exactly once over
SASL_SSL; the restarted node rejoins every ISR, which it can only do by
fetching from the leaders over their SASL_SSL listener.
"""

from __future__ import annotations

import os
import threading
import time
from types import SimpleNamespace

from harness import security
from harness.clients import get_client
from harness.common import Deliveries, check, log, make_messages, verify_records

from .cluster import _finish, _producer, _wait_isr

BROKER_USER, BROKER_PASSWORD = "broker", "broker-secret"
BROKER_JAAS = ("org.apache.kafka.common.security.plain.PlainLoginModule required "
               f'username="{BROKER_USER}" password="{BROKER_PASSWORD}" user_{BROKER_USER}="{BROKER_PASSWORD}";')
MESSAGES = 20_000
PARTITIONS = 3


def cluster_overrides(keys: dict[str, str]) -> dict[str, str]:
    """Kafka's settings for SASL_SSL between every node and from clients."""
    return {
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:SASL_SSL,SASL_SSL:SASL_SSL",
        "inter.broker.listener.name": "SASL_SSL",
        "sasl.mechanism.inter.broker.protocol": "PLAIN",
        "sasl.mechanism.controller.protocol": "PLAIN",
        "ssl.keystore.type": "PEM",
        "ssl.keystore.location": keys["server"],
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": keys["ca"],
        "listener.name.sasl_ssl.sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-512",
        "listener.name.sasl_ssl.plain.sasl.jaas.config": BROKER_JAAS,
        "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": security.SCRAM_JAAS,
        "listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
        "listener.name.controller.plain.sasl.jaas.config": BROKER_JAAS,
    }


def sasl_ssl_failover(ctx):
    """RF=3, 3 partitions, min.insync.replicas=2, on a cluster whose clients,
    replication and quorum all speak SASL_SSL. 20,000 keyed messages from an
    idempotent acks=all producer (SCRAM-SHA-512); the leader of partition 0 is
    SIGKILLed at ~30% acknowledged and restarted at ~60% once another node
    leads it. Every message acknowledged, read back exactly once over SASL_SSL,
    the restarted node back in every ISR."""
    keys = security.make_keys(os.path.join(ctx.workdir, "brokers", ctx.scenario_id.replace("/", "_"), "tls"))
    cl = ctx.private_cluster(cluster_overrides(keys), extra_listeners=("SASL_SSL",))
    security.create_scram_users(cl.bootstrap)
    secure = cl.bootstrap_of("SASL_SSL")
    sec = {"protocol": "SASL_SSL", "ca": keys["ca"], "mechanism": "SCRAM-SHA-512",
           "username": next(iter(security.SCRAM_USERS)), "password": next(iter(security.SCRAM_USERS.values()))}
    topic = ctx.topic("cluster.sasl-ssl")
    cl.create_topic(topic, PARTITIONS, 3, {"min.insync.replicas": "2"})
    victim = cl.leader(topic, 0)
    check(victim in cl.nodes, f"partition 0 has no leader: {cl.metadata(topic).describe(topic)}")
    msgs = make_messages("sasl-ssl", MESSAGES, 100)
    deliveries = Deliveries()
    acked, failed = deliveries.acked, deliveries.failed
    p = _producer(secure, **{"enable.idempotence": True, "acks": "all", "message.timeout.ms": 300_000,
                             **security.librdkafka_conf(sec)})
    moved: dict = {}

    def watch_leader(t_kill):
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                pm = cl.metadata(topic, exclude=victim).partition(topic, 0)
                if pm is not None and pm.leader >= 0 and pm.leader != victim:
                    moved.update(at=time.monotonic() - t_kill, leader=pm.leader)
                    return
            except Exception as e:  # noqa: BLE001 - retried
                moved["last_error"] = repr(e)
            time.sleep(0.1)

    kill_at, restart_at = int(MESSAGES * 0.3), int(MESSAGES * 0.6)
    t_kill, watcher, restarted, i = None, None, False, 0
    deadline = time.monotonic() + 300
    while i < len(msgs):
        check(time.monotonic() < deadline, f"produced {i}, acknowledged {len(acked)} of {len(msgs)} after 300s; "
                                           f"failures {deliveries.failures()}")
        if i - len(acked) - len(failed) < 2_000:  # a bounded backlog spreads production over the run
            m = msgs[i]
            try:
                p.produce(topic, key=m.key, value=m.value, headers=m.headers, timestamp=m.timestamp,
                          on_delivery=deliveries)
                i += 1
            except BufferError:
                p.poll(0.05)
            p.poll(0)
        else:
            p.poll(0.05)
        if t_kill is None and len(acked) >= kill_at:
            cl.kill(victim)
            t_kill = time.monotonic()
            log(f"SIGKILLed node {victim} (leader of p0) with {len(acked)} acknowledged")
            watcher = threading.Thread(target=watch_leader, args=(t_kill,), daemon=True)
            watcher.start()
        if t_kill is not None and not restarted and len(acked) >= restart_at and "at" in moved:
            cl.restart(victim, wait=False)  # main thread: PDEATHSIG
            restarted = True
            log(f"restarted node {victim} with {len(acked)} acknowledged; p0 moved to {moved['leader']}")
    left = p.flush(300)
    check(left == 0, f"{left} messages neither acknowledged nor failed 300s after the last produce")
    check(not failed, f"{len(failed)} messages failed: {deliveries.failures(5)}")
    check(watcher is not None, f"the kill point ({kill_at} acknowledged) was never reached")
    watcher.join(130)
    check("at" in moved, f"no new leader for partition 0 after the kill of node {victim} ({moved.get('last_error')})")
    if not restarted:
        cl.restart(victim, wait=False)
    cl.wait_brokers({victim}, 60, f"node {victim} registered again (over the SASL_SSL controller listener)",
                    exclude=victim)
    records = get_client("confluent-kafka").read_all(SimpleNamespace(bootstrap=secure, security=sec), topic,
                                                     timeout=120)
    summary = verify_records(records, msgs, partitions=PARTITIONS,
                             contiguous_from={pp: 0 for pp in range(PARTITIONS)}, delivered=acked)
    log(f"read back over SASL_SSL: {summary}")
    _wait_isr(cl, topic, PARTITIONS, lambda isr, pm: victim in isr, 120,
              f"restarted node {victim} back in every ISR (fetching over SASL_SSL)")
    note = (f"SASL_SSL everywhere: p0 leader {victim} SIGKILLed, new leader {moved['leader']} after "
            f"{moved['at']:.1f}s; {len(acked)} acked over SCRAM-SHA-512, read back exactly once; node {victim} "
            f"back in every ISR (replication and quorum over SASL_SSL PLAIN)")
    log(note)
    return _finish(cl, note)

"""A 3-node cluster secured end to end (issue 14), the same settings for both
flavours: clients, replication (``inter.broker.listener.name=SASL_SSL``) and the
metadata quorum (``CONTROLLER:SASL_SSL``) all over TLS with SASL. Brokers
authenticate to each other with SCRAM-SHA-512 as a user the storage format
adds (``--add-scram``, so that it exists before the cluster can replicate),
and to the controllers with PLAIN (Kafka cannot take SCRAM there: the
credentials live in the metadata the quorum serves); each with the
``username``/``password`` of the listener's JAAS config. Clients use
SCRAM-SHA-512 as a user created through the AdminClient, whose credentials
must reach every broker through the metadata log. Each node keeps a PLAINTEXT
listener for the harness (metadata reads, creating the SCRAM user); what is
under test goes over SASL_SSL.

The checks: an idempotent acks=all producer on SASL_SSL rides out the SIGKILL
of a partition leader; everything acknowledged is read back exactly once over
SASL_SSL; the restarted node rejoins every ISR, which it can only do by
fetching from the leaders over their SASL_SSL listener.
"""

from __future__ import annotations

import os
from types import SimpleNamespace

from harness import security
from harness.clients import get_client
from harness.common import check, log, make_messages, verify_records

from .cluster import _finish, _producer, _wait_isr, produce_through_leader_kill

BROKER_USER, BROKER_PASSWORD = "broker", "broker-secret"
BROKER_JAAS = ("org.apache.kafka.common.security.plain.PlainLoginModule required "
               f'username="{BROKER_USER}" password="{BROKER_PASSWORD}" user_{BROKER_USER}="{BROKER_PASSWORD}";')
BROKER_SCRAM_JAAS = ("org.apache.kafka.common.security.scram.ScramLoginModule required "
                     f'username="{BROKER_USER}" password="{BROKER_PASSWORD}";')
# the brokers' own SCRAM user, made by the storage format
ADD_SCRAM = (f"SCRAM-SHA-512=[name={BROKER_USER},password={BROKER_PASSWORD}]",)
MESSAGES = 20_000
PARTITIONS = 3


def cluster_overrides(keys: dict[str, str]) -> dict[str, str]:
    """Kafka's settings for SASL_SSL between every node and from clients."""
    return {
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:SASL_SSL,SASL_SSL:SASL_SSL",
        "inter.broker.listener.name": "SASL_SSL",
        "sasl.mechanism.inter.broker.protocol": "SCRAM-SHA-512",
        "sasl.mechanism.controller.protocol": "PLAIN",
        "ssl.keystore.type": "PEM",
        "ssl.keystore.location": keys["server"],
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": keys["ca"],
        "listener.name.sasl_ssl.sasl.enabled.mechanisms": "SCRAM-SHA-512",
        "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": BROKER_SCRAM_JAAS,
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
    cl = ctx.private_cluster(cluster_overrides(keys), extra_listeners=("SASL_SSL",), add_scram=ADD_SCRAM)
    security.create_scram_users(cl.bootstrap)
    secure = cl.bootstrap_of("SASL_SSL")
    sec = {"protocol": "SASL_SSL", "ca": keys["ca"], "mechanism": "SCRAM-SHA-512",
           "username": next(iter(security.SCRAM_USERS)), "password": next(iter(security.SCRAM_USERS.values()))}
    topic = ctx.topic("cluster.sasl-ssl")
    cl.create_topic(topic, PARTITIONS, 3, {"min.insync.replicas": "2"})
    victim = cl.leader(topic, 0)
    check(victim in cl.nodes, f"partition 0 has no leader: {cl.metadata(topic).describe(topic)}")
    msgs = make_messages("sasl-ssl", MESSAGES, 100)
    p = _producer(secure, **{"enable.idempotence": True, "acks": "all", "message.timeout.ms": 300_000,
                             **security.librdkafka_conf(sec)})
    # the victim must leave p0's ISR, so that its return below is its own fetching
    acked, moved = produce_through_leader_kill(cl, p, topic, msgs, victim, backlog=2_000, timeout=300,
                                               victim_leaves_isr=True)
    records = get_client("confluent-kafka").read_all(SimpleNamespace(bootstrap=secure, security=sec), topic,
                                                     timeout=120)
    summary = verify_records(records, msgs, partitions=PARTITIONS,
                             contiguous_from={pp: 0 for pp in range(PARTITIONS)}, delivered=acked)
    log(f"read back over SASL_SSL: {summary}")
    _wait_isr(cl, topic, PARTITIONS, lambda isr, pm: victim in isr, 120,
              f"restarted node {victim} back in every ISR (fetching over SASL_SSL)")
    note = (f"SASL_SSL everywhere: p0 leader {victim} SIGKILLed, new leader {moved['leader']} after "
            f"{moved['at']:.1f}s; {len(acked)} acked over SCRAM-SHA-512, read back exactly once; node {victim} "
            f"back in every ISR (replication over SASL_SSL SCRAM-SHA-512 as the --add-scram user, quorum over "
            f"SASL_SSL PLAIN)")
    log(note)
    return _finish(cl, note)

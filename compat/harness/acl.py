"""The shared ACL broker (the ``acl-*`` scenarios, scenarios/acls.py): a broker with
Kafka's StandardAuthorizer, started once by run.py for the scenarios that ask for it
(``Scenario.acl``), under Kafka's names for both flavours:

* ``authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer``;
* a PLAINTEXT listener (principal ``User:ANONYMOUS``: the harness's setup, readiness,
  Kafka's inter-broker and, on the kafka flavour, its CONTROLLER listener, which is
  PLAINTEXT too) and a SASL_PLAINTEXT listener with PLAIN users admin, alice, bob and
  carol (the broker's JAAS config);
* ``super.users=User:ANONYMOUS;User:admin``; ``allow.everyone.if.no.acl.found`` left at
  its default (false): a principal with no ACL is denied everything.

The scenarios share the broker, so every resource they grant is their own (unique
topic, group, transactional id and prefix names); alice and bob are granted ACLs on
those; carol is never granted WRITE on anything (so that "WRITE on any topic" never
gives her the cluster's IDEMPOTENT_WRITE while other scenarios run).
"""

from __future__ import annotations

import json
import os

from .common import free_port
from .security import plain_jaas

AUTHORIZER = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
USERS = {"admin": "admin-secret", "alice": "alice-secret", "bob": "bob-secret", "carol": "carol-secret"}
SUPER_USERS = "User:ANONYMOUS;User:admin"


def broker_overrides(ports: dict[str, int]) -> dict[str, str]:
    return {
        "listeners": f"PLAINTEXT://127.0.0.1:{ports['plaintext']},"
                     f"SASL_PLAINTEXT://127.0.0.1:{ports['sasl_plaintext']}",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT",
        "listener.name.sasl_plaintext.sasl.enabled.mechanisms": "PLAIN",
        "listener.name.sasl_plaintext.plain.sasl.jaas.config": plain_jaas(USERS),
        "authorizer.class.name": AUTHORIZER,
        "super.users": SUPER_USERS,
    }


class AclBroker:
    """Ports of the shared ACL broker; ``client(user)`` gives a client's way in."""

    def __init__(self, ports: dict[str, int]):
        self.ports = ports

    @property
    def plaintext(self) -> str:
        return f"127.0.0.1:{self.ports['plaintext']}"

    def save(self, path: str):
        with open(path, "w") as f:
            json.dump({"ports": self.ports}, f)

    @classmethod
    def load(cls, path: str) -> "AclBroker":
        with open(path) as f:
            return cls(json.load(f)["ports"])

    def client(self, user: str | None) -> tuple[str, dict | None]:
        """(bootstrap, security): ``user`` over SASL_PLAINTEXT with PLAIN, or None: the
        PLAINTEXT listener (User:ANONYMOUS, a super user)."""
        if user is None:
            return self.plaintext, None
        return (f"127.0.0.1:{self.ports['sasl_plaintext']}",
                {"protocol": "SASL_PLAINTEXT", "mechanism": "PLAIN", "username": user, "password": USERS[user]})


def start_acl_broker(new_broker, d: str, name: str, extra: dict | None = None):
    """A started broker (of the flavour ``new_broker`` makes) with the authorizer on.
    Returns (broker, AclBroker)."""
    ports = {"plaintext": free_port(), "sasl_plaintext": free_port()}
    ov = {"num.partitions": "1", "auto.create.topics.enable": "false"}
    ov.update(extra or {})
    ov.update(broker_overrides(ports))
    b = new_broker(os.path.join(d, "data"), os.path.join(d, "broker.log"), port=ports["plaintext"],
                   overrides=ov, name=name)
    b.start()
    return b, AclBroker(ports)

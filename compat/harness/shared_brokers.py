"""The shared extra brokers: brokers besides the shared one that run.py starts once,
when a selected scenario asks for one (a ``Scenario`` flag), and that the scenarios
reach through ``Ctx`` (``ctx.secure_broker()``, ``ctx.acl_broker()``).

Each is described by an ``ExtraBroker``: its harness module has a start function
``start(new_broker, d, name, extra=overrides) -> (broker, info)``, where ``info``
has ``ports``, ``plaintext``, ``save(path)`` and a ``load(path)`` class method. run.py
saves ``info`` in ``<workdir>/<dirname>/<filename>``; a scenario process loads it from
there (``Ctx._shared_broker``).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass


@dataclass(frozen=True)
class ExtraBroker:
    flag: str      # the Scenario attribute that asks for it
    label: str     # "secure broker": printed as "<label>: <ports>", named "shared <label>"
    dirname: str   # under the run's work directory
    filename: str  # what run.py saves of it (ports, key material), in dirname
    module: str    # the harness module with the start function and the info class
    start: str     # its start function
    cls: str       # its info class (load)
    needs: str     # what a scenario needs it for (the SKIP with --bootstrap)

    @property
    def name(self) -> str:
        return f"shared {self.label}"

    def start_fn(self):
        return getattr(importlib.import_module(self.module), self.start)

    def info_class(self):
        return getattr(importlib.import_module(self.module), self.cls)


SECURE = ExtraBroker("secure", "secure broker", "secure-broker", "secure.json", "harness.security",
                     "start_secure_broker", "SecureBroker", "the suite's secure broker (TLS and SASL listeners)")
ACL = ExtraBroker("acl", "ACL broker", "acl-broker", "acl.json", "harness.acl", "start_acl_broker", "AclBroker",
                  "the suite's ACL broker (StandardAuthorizer)")

# in the order run.py starts, checks and stops them
EXTRA_BROKERS = (SECURE, ACL)

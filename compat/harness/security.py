"""TLS and SASL for the security scenarios (issue 14): key material made per run
with the ``openssl`` CLI, the broker settings (Kafka's names, the same for both
flavours) of a broker with one listener per security protocol, SCRAM users, and
the client settings each scenario hands to a client (``ctx.security``).

Key material (never committed: it lives in the run's work directory):

* ``ca.pem``: a self-signed CA;
* ``server.pem``: the broker's key store in Kafka's PEM format, an unencrypted
  PKCS#8 private key followed by the certificate chain (server certificate, CA); the
  certificate names IP:127.0.0.1 and DNS:localhost, so hostname verification passes;
* ``client.key`` (unencrypted PKCS#8), ``client.crt`` and ``client.pem`` (key and
  chain, the Java client's PEM key store): CN=compat-client,OU=QA,O=Riffle,L=Test,
  ST=Test,C=US, signed by the CA.

Kafka 4.4 and kafka-clients 3.9 take an unencrypted PKCS#8 key in a PEM key store
without ``ssl.key.password``, so no key password is used.

The broker (``broker_overrides``) has four listeners, each named as its protocol:
PLAINTEXT (setup, readiness, inter-broker), SSL (``ssl.client.auth=required`` on that
listener only), SASL_SSL and SASL_PLAINTEXT (each with SCRAM-SHA-256, SCRAM-SHA-512,
PLAIN and OAUTHBEARER, Kafka's unsecured JWS validator).
"""

from __future__ import annotations

import json
import os
import subprocess
import time

from .common import CheckFailed, free_port, log

MECHANISMS = ("SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN", "OAUTHBEARER")
SASL_LISTENERS = ("sasl_ssl", "sasl_plaintext")

# users: PLAIN's live in the broker's JAAS config, SCRAM's are created through the
# AdminClient (AlterUserScramCredentials)
PLAIN_USERS = {"alice": "alice-secret", "admin": "admin-secret"}
SCRAM_USERS = {"scram-user": "scram-secret"}
SCRAM_ITERATIONS = 4096
OAUTH_SUB = "admin"
CLIENT_SUBJECT = "/C=US/ST=Test/L=Test/O=Riffle/OU=QA/CN=compat-client"


def _openssl(*args, cwd):
    p = subprocess.run(["openssl", *args], cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=60)
    if p.returncode != 0:
        raise CheckFailed(f"openssl {' '.join(args)} failed ({p.returncode}):\n"
                          f"{p.stdout.decode('utf-8', 'replace')[-2000:]}")


def _cat(out, *parts):
    with open(out, "wb") as f:
        for part in parts:
            with open(part, "rb") as src:
                f.write(src.read())


def make_keys(d: str) -> dict[str, str]:
    """CA, server and client key material in ``d`` (made once; the paths)."""
    os.makedirs(d, exist_ok=True)
    paths = {n: os.path.join(d, f) for n, f in (("ca", "ca.pem"), ("server", "server.pem"),
                                                  ("client_key", "client.key"), ("client_cert", "client.crt"),
                                                  ("client", "client.pem"))}
    if all(os.path.exists(p) for p in paths.values()):
        return paths
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
    _openssl("req", "-x509", *ec, "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "30",
             "-subj", "/O=Riffle/CN=riffle-compat-ca", "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
    with open(os.path.join(d, "server.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"
                "basicConstraints=CA:FALSE\n")
    with open(os.path.join(d, "client.ext"), "w") as f:
        f.write("extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n")
    for who, subj in (("server", "/O=Riffle/CN=localhost"), ("client", CLIENT_SUBJECT)):
        # -nodes: an unencrypted PKCS#8 key ("BEGIN PRIVATE KEY")
        _openssl("req", *ec, "-nodes", "-keyout", f"{who}.key", "-out", f"{who}.csr", "-subj", subj, cwd=d)
        _openssl("x509", "-req", "-in", f"{who}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                 "-out", f"{who}.crt", "-days", "30", "-extfile", f"{who}.ext", cwd=d)
        _cat(os.path.join(d, f"{who}.pem"), os.path.join(d, f"{who}.key"), os.path.join(d, f"{who}.crt"),
             os.path.join(d, "ca.pem"))
    log(f"TLS key material made in {d}")
    return paths


def plain_jaas(users: dict[str, str] = PLAIN_USERS) -> str:
    return ("org.apache.kafka.common.security.plain.PlainLoginModule required "
            + " ".join(f'user_{u}="{p}"' for u, p in users.items()) + ";")


SCRAM_JAAS = "org.apache.kafka.common.security.scram.ScramLoginModule required;"
OAUTH_JAAS = ("org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required "
              f'unsecuredLoginStringClaim_sub="{OAUTH_SUB}";')


def broker_overrides(keys: dict[str, str], ports: dict[str, int]) -> dict[str, str]:
    """A broker with PLAINTEXT, SSL, SASL_SSL and SASL_PLAINTEXT listeners on ``ports``
    (listener name, lower case -> port), all settings under Kafka's names."""
    names = ("PLAINTEXT", "SSL", "SASL_SSL", "SASL_PLAINTEXT")
    ov = {
        "listeners": ",".join(f"{n}://127.0.0.1:{ports[n.lower()]}" for n in names),
        "listener.security.protocol.map": ",".join(f"{n}:{n}" for n in names),
        "ssl.keystore.type": "PEM",
        "ssl.keystore.location": keys["server"],
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": keys["ca"],
        "listener.name.ssl.ssl.client.auth": "required",
    }
    for ln in SASL_LISTENERS:
        ov[f"listener.name.{ln}.sasl.enabled.mechanisms"] = ",".join(MECHANISMS)
        ov[f"listener.name.{ln}.plain.sasl.jaas.config"] = plain_jaas()
        ov[f"listener.name.{ln}.scram-sha-256.sasl.jaas.config"] = SCRAM_JAAS
        ov[f"listener.name.{ln}.scram-sha-512.sasl.jaas.config"] = SCRAM_JAAS
        ov[f"listener.name.{ln}.oauthbearer.sasl.jaas.config"] = OAUTH_JAAS
    return ov


def new_ports() -> dict[str, int]:
    return {n: free_port() for n in ("plaintext", "ssl", "sasl_ssl", "sasl_plaintext")}


def create_scram_users(bootstrap: str, users: dict[str, str] = SCRAM_USERS, timeout: float = 90):
    """Both SCRAM mechanisms for every user, through confluent-kafka's AdminClient
    (AlterUserScramCredentials) on the PLAINTEXT listener; then waits until
    DescribeUserScramCredentials lists them."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import (AdminClient, ScramCredentialInfo, ScramMechanism,
                                       UserScramCredentialUpsertion)
    a = AdminClient({"bootstrap.servers": bootstrap, "broker.address.family": "v4"})
    deadline = time.monotonic() + timeout
    # one request per mechanism: Kafka refuses a user twice in one request (DUPLICATE_RESOURCE)
    for m in (ScramMechanism.SCRAM_SHA_256, ScramMechanism.SCRAM_SHA_512):
        ups = [UserScramCredentialUpsertion(u, ScramCredentialInfo(m, SCRAM_ITERATIONS), p.encode())
               for u, p in users.items()]
        while True:
            try:
                for u, f in a.alter_user_scram_credentials(ups, request_timeout=30).items():
                    f.result(timeout=60)
                break
            except KafkaException as e:
                if time.monotonic() > deadline or not e.args[0].retriable():
                    raise CheckFailed(f"AlterUserScramCredentials on {bootstrap} failed: {e}") from None
                log(f"AlterUserScramCredentials: {e}; again")
                time.sleep(0.5)
    while True:
        try:
            got = {}
            for u, f in a.describe_user_scram_credentials(list(users), request_timeout=30).items():
                got[u] = {i.mechanism for i in f.result(timeout=60).scram_credential_infos}
            if all(len(v) == 2 for v in got.values()):
                log(f"SCRAM users {sorted(users)} created (SCRAM-SHA-256 and -512, {SCRAM_ITERATIONS} iterations)")
                return
            why = f"described {got}"
        except KafkaException as e:
            why = str(e)
        if time.monotonic() > deadline:
            raise CheckFailed(f"SCRAM users {sorted(users)} not described within {timeout}s: {why}")
        time.sleep(0.2)


class SecureBroker:
    """What a scenario needs of a broker with the secured listeners: its ports, the
    key material and the client settings for each way in (``client()``). Saved to and
    loaded from a JSON file, so the shared secure broker run.py starts can be used by
    every scenario process."""

    def __init__(self, keys: dict[str, str], ports: dict[str, int]):
        self.keys = keys
        self.ports = ports

    def address(self, listener: str) -> str:
        return f"127.0.0.1:{self.ports[listener.lower()]}"

    @property
    def plaintext(self) -> str:
        return self.address("plaintext")

    def save(self, path: str):
        with open(path, "w") as f:
            json.dump({"keys": self.keys, "ports": self.ports}, f)

    @classmethod
    def load(cls, path: str) -> "SecureBroker":
        with open(path) as f:
            j = json.load(f)
        return cls(j["keys"], j["ports"])

    def client(self, protocol: str, mechanism: str | None = None, *, username: str | None = None,
               password: str | None = None, client_cert: bool | None = None) -> tuple[str, dict]:
        """(bootstrap, security) for a client: the listener of ``protocol`` and the
        client-neutral settings every adapter translates into its own
        (harness/clients: ``security``):

        protocol (SSL, SASL_SSL, SASL_PLAINTEXT), mechanism, username, password,
        ca (PEM file), cert + key (PEM, unencrypted PKCS#8 key), keystore (the Java
        client's PEM key store: key and chain in one file), oauth_sub (OAUTHBEARER:
        the unsecured token's subject)."""
        sec: dict = {"protocol": protocol}
        if "SSL" in protocol:
            sec["ca"] = self.keys["ca"]
        if client_cert if client_cert is not None else protocol == "SSL":
            sec.update(cert=self.keys["client_cert"], key=self.keys["client_key"], keystore=self.keys["client"])
        if mechanism:
            sec["mechanism"] = mechanism
            if mechanism == "OAUTHBEARER":
                sec["oauth_sub"] = username or OAUTH_SUB
            else:
                if username is None:
                    username, password0 = next(iter((SCRAM_USERS if mechanism.startswith("SCRAM") else
                                                     PLAIN_USERS).items()))
                    password = password if password is not None else password0
                sec.update(username=username, password=password)
        return self.address(protocol), sec


def start_secure_broker(new_broker, d: str, name: str, extra: dict | None = None):
    """A started broker of the flavour ``new_broker`` makes (``Ctx.new_broker`` or run.py's
    broker class), with the secured listeners, and its SCRAM users created.
    Returns (broker, SecureBroker)."""
    keys = make_keys(os.path.join(d, "tls"))
    ports = new_ports()
    ov = {"num.partitions": "1", "auto.create.topics.enable": "false"}
    ov.update(broker_overrides(keys, ports))
    ov.update(extra or {})
    b = new_broker(os.path.join(d, "data"), os.path.join(d, "broker.log"), port=ports["plaintext"],
                   overrides=ov, name=name)
    b.start()
    create_scram_users(b.bootstrap)
    return b, SecureBroker(keys, ports)


# --- per-client translation of ``security`` --------------------------------------


def librdkafka_conf(sec: dict | None) -> dict[str, str]:
    """librdkafka's properties (confluent-kafka, kcat)."""
    if not sec:
        return {}
    out = {"security.protocol": sec["protocol"].lower()}
    if sec.get("ca"):
        out["ssl.ca.location"] = sec["ca"]
        out["ssl.endpoint.identification.algorithm"] = "https"
    if sec.get("cert"):
        out["ssl.certificate.location"] = sec["cert"]
        out["ssl.key.location"] = sec["key"]
    m = sec.get("mechanism")
    if m:
        out["sasl.mechanism"] = m
        if m == "OAUTHBEARER":
            out["enable.sasl.oauthbearer.unsecure.jwt"] = "true"
            out["sasl.oauthbearer.config"] = f"principal={sec['oauth_sub']}"
        else:
            out["sasl.username"] = sec["username"]
            out["sasl.password"] = sec["password"]
    return out


def java_conf(sec: dict | None) -> dict[str, str]:
    """The Java client's properties."""
    if not sec:
        return {}
    out = {"security.protocol": sec["protocol"]}
    if sec.get("ca"):
        out.update({"ssl.truststore.type": "PEM", "ssl.truststore.location": sec["ca"],
                    "ssl.endpoint.identification.algorithm": "https"})
    if sec.get("keystore"):
        out.update({"ssl.keystore.type": "PEM", "ssl.keystore.location": sec["keystore"]})
    m = sec.get("mechanism")
    if m:
        out["sasl.mechanism"] = m
        if m == "OAUTHBEARER":
            out["sasl.jaas.config"] = ("org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule "
                                       f'required unsecuredLoginStringClaim_sub="{sec["oauth_sub"]}";')
        else:
            module = ("org.apache.kafka.common.security.plain.PlainLoginModule" if m == "PLAIN" else
                      "org.apache.kafka.common.security.scram.ScramLoginModule")
            out["sasl.jaas.config"] = (f'{module} required username="{sec["username"]}" '
                                       f'password="{sec["password"]}";')
    return out


def kafka_python_conf(sec: dict | None) -> dict:
    """kafka-python's keyword arguments."""
    if not sec:
        return {}
    out = {"security_protocol": sec["protocol"]}
    if sec.get("ca"):
        out.update(ssl_cafile=sec["ca"], ssl_check_hostname=True)
    if sec.get("cert"):
        out.update(ssl_certfile=sec["cert"], ssl_keyfile=sec["key"])
    m = sec.get("mechanism")
    if m:
        out["sasl_mechanism"] = m
        if m == "OAUTHBEARER":
            raise CheckFailed("kafka-python adapter: no OAUTHBEARER token provider")
        out.update(sasl_plain_username=sec["username"], sasl_plain_password=sec["password"])
    return out

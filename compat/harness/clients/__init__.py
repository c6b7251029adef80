"""Client adapters, imported lazily so that a missing client library only
fails the scenarios that need it."""

CLIENTS = {
    "kcat": ("harness.clients.kcat", "Kcat"),
    "confluent-kafka": ("harness.clients.confluent", "Confluent"),
    "kafka-python": ("harness.clients.kafka_python", "KafkaPython"),
    "kafkajs": ("harness.clients.kafkajs", "KafkaJS"),
    "java": ("harness.clients.java", "Java"),
    "java-3.9": ("harness.clients.java", "Java39"),
    "franz-go": ("harness.clients.go", "FranzGo"),
    "sarama": ("harness.clients.go", "Sarama"),
}


def get_client(name):
    import importlib
    mod, cls = CLIENTS[name]
    return getattr(importlib.import_module(mod), cls)()

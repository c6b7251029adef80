"""The interface every client adapter implements.

An adapter wraps one Kafka client library (or CLI) behind a small common API
so that the generic scenarios (scenarios/generic.py) can run unchanged
against each of them.

Metadata is normalised to::

    {"brokers": {(node_id, host, port), ...},
     "topics": {name: {partition: leader_id}},
     "cluster_id": str | None}
"""

from __future__ import annotations

from ..common import Msg, Record, Skip


class Client:
    name = "?"
    # capabilities
    explicit_timestamps = True   # can set a CreateTime per message
    per_message_headers = True   # can set different headers per message
    reads_itself = True          # False: data is read back with another client
    reader_note = ""
    admin_note = ""
    idempotence = False          # supports an idempotent producer
    ts_type_known = True         # tells CreateTime from LogAppendTime when reading
    # offsets-for-times answers the high watermark where the broker says "no such
    # offset" (-1): kafkajs and franz-go's kadm substitute it, as documented
    time_past_end_is_high_watermark = False
    codecs = ("gzip", "snappy", "lz4", "zstd")

    def version(self) -> str:
        raise NotImplementedError

    def codec_skip_reason(self, codec: str) -> str | None:
        """None if this client can produce with ``codec``, else why not."""
        return None if codec in self.codecs else f"{self.name} has no {codec} codec"

    def create_topic(self, ctx, topic: str, partitions: int = 3, configs: dict | None = None):
        raise NotImplementedError

    def delete_topic(self, ctx, topic: str):
        raise NotImplementedError

    def produce(self, ctx, topic: str, msgs: list[Msg], *, compression: str | None = None,
                idempotent: bool = False) -> dict[bytes, tuple[int, int]] | None:
        """Produce (acks=all) and wait for every acknowledgement.

        Returns value -> (partition, offset) as acknowledged by the broker
        when the client reports it, else None. Raises CheckFailed if any
        message was not acknowledged."""
        raise NotImplementedError

    def read_all(self, ctx, topic: str, timeout: float = 90) -> list[Record]:
        """Read every partition from the beginning up to its high watermark."""
        raise NotImplementedError

    def watermarks(self, ctx, topic: str) -> dict[int, tuple[int, int]]:
        """{partition: (log start offset, high watermark)} via ListOffsets."""
        raise NotImplementedError

    def offsets_for_time(self, ctx, topic: str, partitions: list[int], ts: int) -> dict[int, int]:
        """ListOffsets by timestamp: {partition: offset}, -1 when no such offset."""
        raise Skip(f"{self.name} adapter has no offsets-for-times")

    def metadata(self, ctx, topic: str) -> dict:
        raise NotImplementedError

    def describe_topic_configs(self, ctx, topic: str) -> dict[str, tuple[str | None, str | None]]:
        """DescribeConfigs for a topic: {name: (value, source name or None)}."""
        raise Skip(f"{self.name} has no DescribeConfigs API")

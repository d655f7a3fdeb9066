"""Create the service's topics on a broker, so partitions are chosen, not defaulted."""

from __future__ import annotations

import contextlib

from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError

from consumer.kafka_clients import require_broker


def ensure_topics(
    servers: str, names: list[str], partitions: int = 3, replication: int = 1
) -> None:
    require_broker(servers)
    admin = KafkaAdminClient(bootstrap_servers=servers, request_timeout_ms=30000)
    try:
        existing = set(admin.list_topics())
        missing = [n for n in dict.fromkeys(names) if n not in existing]
        if missing:
            # Another process may have created a topic first.
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics(
                    [
                        NewTopic(
                            n, num_partitions=partitions, replication_factor=replication
                        )
                        for n in missing
                    ]
                )
    finally:
        admin.close()

"""A real Kafka broker (scripts/kafka.sh) round trip with confluent-kafka: create a topic,
produce keyed messages, consume them all back."""
import collections
import time
import uuid

import pytest

from kafka_broker import require_confluent_kafka

ck = require_confluent_kafka()   # skips the module without it (fails under CI)
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

pytestmark = pytest.mark.servers

MESSAGES = 1000
KEYS = 37
PARTITIONS = 3
DEADLINE = 60   # seconds for each of: topic creation, producing, consuming


def test_produce_and_consume_keyed_messages(kafka_bootstrap):
  topic = f"pulse-test-{uuid.uuid4().hex[:8]}"
  admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
  futures = admin.create_topics([NewTopic(topic, num_partitions=PARTITIONS,
                                          replication_factor=1)])
  futures[topic].result(timeout=DEADLINE)
  assert len(admin.list_topics(topic, timeout=DEADLINE).topics[topic].partitions) \
      == PARTITIONS

  expected = {f"value-{i}": f"user-{i % KEYS}" for i in range(MESSAGES)}
  delivered, failed = [], []

  def on_delivery(err, msg):
    if err is not None:
      failed.append(err)
    else:
      delivered.append((msg.key().decode(), msg.partition(), msg.offset()))

  producer = ck.Producer({"bootstrap.servers": kafka_bootstrap, "acks": "all",
                          "enable.idempotence": True, "linger.ms": 5})
  for value, key in expected.items():
    producer.produce(topic, key=key.encode(), value=value.encode(), on_delivery=on_delivery)
    producer.poll(0)
  assert producer.flush(DEADLINE) == 0, "messages still queued after flush"
  assert failed == []
  assert len(delivered) == MESSAGES

  consumer = ck.Consumer({"bootstrap.servers": kafka_bootstrap,
                          "group.id": f"pulse-test-{uuid.uuid4().hex[:8]}",
                          "auto.offset.reset": "earliest",
                          "enable.auto.commit": False})
  consumed = []
  try:
    consumer.subscribe([topic])
    deadline = time.monotonic() + DEADLINE
    while len(consumed) < MESSAGES and time.monotonic() < deadline:
      for msg in consumer.consume(num_messages=500, timeout=1.0):
        assert msg.error() is None, msg.error()
        consumed.append((msg.key().decode(), msg.value().decode(), msg.partition(),
                         msg.offset()))
    # Nothing beyond the 1,000 turns up.
    consumed.extend((m.key().decode(), m.value().decode(), m.partition(), m.offset())
                    for m in consumer.consume(num_messages=10, timeout=1.0)
                    if m.error() is None)
  finally:
    consumer.close()

  assert len(consumed) == MESSAGES
  assert {value: key for key, value, _, _ in consumed} == expected

  partitions_of_key = collections.defaultdict(set)
  for key, _, partition, _ in consumed:
    partitions_of_key[key].add(partition)
  assert len(partitions_of_key) == KEYS
  assert all(len(p) == 1 for p in partitions_of_key.values()), partitions_of_key
  # The delivery reports agree with what was read back, and the keys spread over
  # more than one partition.
  assert {(k, p) for k, p, _ in delivered} == {(k, p) for k, _, p, _ in consumed}
  assert len(set().union(*partitions_of_key.values())) > 1

  # Within a key, messages come back in the order they were produced.
  produced_order = collections.defaultdict(list)
  for i in range(MESSAGES):
    produced_order[f"user-{i % KEYS}"].append(f"value-{i}")
  consumed_order = collections.defaultdict(list)
  for key, value, _, _ in sorted(consumed, key=lambda m: (m[2], m[3])):
    consumed_order[key].append(value)
  assert consumed_order == produced_order

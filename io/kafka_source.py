"""Reading GitHub events from a Kafka topic: the plan (partitions and offsets, made in the
driver) and ReadKafkaEvents, a splittable DoFn per partition (io/kafka_reader.py, with its
per-process progress in io/kafka_progress.py), with confluent-kafka.

- Start: earliest, latest, or the consumer group's committed offsets (the default; earliest
  where the group has none). Stop: never (unbounded, for streaming) or at the end offsets
  seen at start (bounded: a batch run over what the topic holds).
- Event time is each event's created_at. A partition's clock is the latest event time it
  has seen (heartbeats from the firehose count, so an idle partition advances); every
  reader publishes as its watermark the minimum of all the partitions' clocks it knows
  of, minus --kafka_max_out_of_order_s. (Prism takes a stage's watermark from whichever
  bundle finished last, not the minimum over partitions, so each reader must publish the
  minimum itself; on other runners this is merely conservative.) An event whose windows
  would all be closed, given the allowed lateness, goes to the dead letter as late, never
  dropped silently.
- Offsets are committed only from a bundle finalizer, after the runner has made the bundle
  durable, and only up to what the frame store already holds: the committed offset of a
  partition is its first record that a window not yet stored may need, and its metadata
  holds that window time. A restart with the same group resumes there and skips the frames
  of windows already stored, so no frame is lost or written twice.
- A broker that goes away is waited for: readers read nothing meanwhile (and say so every
  half minute), and go on at their next offsets once it is back. A commit that fails
  (after ~45 s without a coordinator) is logged and made again by a later bundle.
"""
import logging
import sys
import time
import uuid

import apache_beam as beam

from pulse.io.kafka_reader import ReadPartitionFn, ReadUnboundedPartitionFn
from pulse.io.uris import redact
from pulse.schemas.dead_letters import DEAD

__all__ = ["KafkaSpec", "plan", "ReadKafkaEvents", "EARLIEST", "LATEST", "COMMITTED",
           "NEVER", "END", "UNBOUNDED"]

LOG = logging.getLogger(__name__)
EARLIEST, LATEST, COMMITTED = "earliest", "latest", "committed"
NEVER, END = "never", "end"
UNBOUNDED = sys.maxsize


class KafkaSpec:
  """Where and how to read: parsed from kafka://HOST:PORT/TOPIC and the --kafka_* flags."""
  def __init__(self, uri, group="network-pulse", start=COMMITTED, stop=NEVER,
               max_out_of_order_s=60):
    scheme, _, rest = uri.partition("://")
    bootstrap, _, topic = rest.partition("/")
    if "@" in bootstrap:     # it would reach logs and every dead letter's source
      raise ValueError(f"Kafka input {redact(uri)!r}: credentials in the URI are not "
                       f"supported (the broker here takes none)")
    if scheme != "kafka" or not bootstrap or not topic or "/" in topic:
      raise ValueError(f"Kafka input {redact(uri)!r} is not kafka://HOST:PORT/TOPIC")
    if start not in (EARLIEST, LATEST, COMMITTED) or stop not in (NEVER, END):
      raise ValueError(f"bad Kafka start {start!r} or stop {stop!r}")
    self.uri, self.bootstrap, self.topic, self.group = uri, bootstrap, topic, group
    self.start, self.stop = start, stop
    self.max_out_of_order_ms = int(max_out_of_order_s * 1000)
    # A bundle polls up to poll_records at a time, waiting at most poll_seconds once
    # for a partition with nothing fetched, until it has caught up or read
    # bundle_records or for bundle_seconds (docs/streaming.md, "Bundles").
    self.poll_records, self.poll_seconds = 1000, 0.05
    self.bundle_records, self.bundle_seconds = 20_000, 0.5

  def consumer_config(self):
    return {"bootstrap.servers": self.bootstrap, "group.id": self.group,
            "enable.auto.commit": False, "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest", "enable.partition.eof": False}


def plan(spec):
  """([(partition, start offset, stop offset)], resume_ms) decided in the driver, before the
  run: resume_ms is the window start before which frames are already stored (from the
  group's commit metadata), or None."""
  from confluent_kafka import Consumer, TopicPartition
  consumer = Consumer(spec.consumer_config())
  try:
    topics = consumer.list_topics(spec.topic, timeout=30).topics
    meta = topics.get(spec.topic)
    if meta is None or meta.error is not None or not meta.partitions:
      raise ValueError(f"Kafka topic {spec.topic!r} not found on {spec.bootstrap}: start "
                       "the firehose first, or create it")
    partitions = sorted(meta.partitions)
    committed = {}
    if spec.start == COMMITTED:
      for tp in _retrying(lambda: consumer.committed(
          [TopicPartition(spec.topic, p) for p in partitions], timeout=30)):
        if tp.offset >= 0:
          committed[tp.partition] = tp
    ranges, resume = [], None
    for p in partitions:
      low, high = _retrying(lambda p=p: consumer.get_watermark_offsets(
          TopicPartition(spec.topic, p), timeout=30))
      if p in committed:
        start = committed[p].offset
        if committed[p].metadata:
          resume = max(resume or -sys.maxsize, int(committed[p].metadata))
      else:
        start = high if spec.start == LATEST else low
      stop = high if spec.stop == END else UNBOUNDED
      ranges.append((p, start, max(start, stop)))
    return ranges, resume
  finally:
    consumer.close()


def _retrying(call, seconds=60):
  """call() again while Kafka answers with a retriable error (a coordinator still loading
  after a broker start, a leader election), for at most `seconds`."""
  from confluent_kafka import KafkaError, KafkaException
  passing = {KafkaError.NOT_COORDINATOR, KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
             KafkaError.COORDINATOR_NOT_AVAILABLE, KafkaError.NOT_LEADER_FOR_PARTITION,
             KafkaError.LEADER_NOT_AVAILABLE}
  deadline = time.monotonic() + seconds
  while True:
    try:
      return call()
    except KafkaException as error:
      kafka_error = error.args[0]
      retriable = kafka_error.retriable() or kafka_error.code() in passing
      if not retriable or time.monotonic() > deadline:
        raise
      LOG.info("Kafka: %s; retrying", error.args[0].str())
      time.sleep(0.5)


class ReadKafkaEvents(beam.PTransform):
  """Reads GitHub events from a Kafka topic, one reader per partition.

  Args:
    spec: the KafkaSpec (topic, group, start, stop, out-of-order allowance).
    geometry: the pipeline's WindowGeometry (schemas/windows.py): which events are late,
      and from which event time a restart must read again.
    stored_until: a callable giving the newest window_end the frame store holds, or None
      (io/stores/write.StoredUntil): offsets are committed only up to what it holds.
    ranges: plan(spec)'s [(partition, start offset, stop offset)], made in the driver.
  Returns: a tagged result: "records", raw records (nested export dicts) timestamped by
    created_at; DEAD, dead letters (undecodable messages, late events).
  """
  def __init__(self, spec, geometry, stored_until, ranges):
    super().__init__()
    self.spec, self.geometry, self.stored_until = spec, geometry, stored_until
    self.ranges = ranges

  def expand(self, pbegin):
    fn = (ReadUnboundedPartitionFn if self.spec.stop == NEVER else ReadPartitionFn)(
        self.spec, self.geometry, self.stored_until, [p for p, _, _ in self.ranges],
        uuid.uuid4().hex)
    return (pbegin
            | "Partitions" >> beam.Create(self.ranges)
            | "ReadPartitions" >> beam.ParDo(fn).with_outputs(DEAD, main="records"))

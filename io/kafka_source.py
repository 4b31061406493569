"""Reading GitHub events from a Kafka topic: a splittable DoFn over the topic's partitions,
with confluent-kafka.

- Start: earliest, latest, or the consumer group's committed offsets (the default; earliest
  where the group has none). Stop: never (unbounded, for streaming) or at the end offsets
  seen at start (bounded: a batch run over what the topic holds).
- Event time is each event's created_at. The watermark of a partition is the latest event
  time it has seen (heartbeats from the firehose count, so an idle partition advances)
  minus --kafka_max_out_of_order_s. An event whose windows would all be closed, given the
  allowed lateness, is sent to the dead letter as late, never dropped silently.
- Offsets are committed only from a bundle finalizer, after the runner has made the bundle
  durable, and only up to what the frame store already holds: the committed offset of a
  partition is its first record that a window not yet stored may need, and its metadata
  holds that window time. A restart with the same group resumes there and skips the frames
  of windows already stored, so no frame is lost or written twice.
"""
import collections
import logging
import sys
import threading
import time

import apache_beam as beam
from apache_beam.io.restriction_trackers import OffsetRange, OffsetRestrictionTracker
from apache_beam.io.watermark_estimators import ManualWatermarkEstimator
from apache_beam.metrics import Metrics
from apache_beam.utils.timestamp import MIN_TIMESTAMP, Duration, Timestamp

from pulse.io.kafka_codec import NotAnEvent, decode_event, heartbeat_time
from pulse.transforms.dead_letters import DEAD, dead_letter

LOG = logging.getLogger(__name__)
EARLIEST, LATEST, COMMITTED = "earliest", "latest", "committed"
NEVER, END = "never", "end"
UNBOUNDED = sys.maxsize


class KafkaSpec:
  """Where and how to read: parsed from kafka://HOST:PORT/TOPIC and the --kafka_* flags."""
  def __init__(self, uri, group="network-pulse", start=COMMITTED, stop=NEVER,
               max_out_of_order_s=60, poll_records=2000, poll_seconds=0.5):
    scheme, _, rest = uri.partition("://")
    bootstrap, _, topic = rest.partition("/")
    if scheme != "kafka" or not bootstrap or not topic or "/" in topic:
      raise ValueError(f"Kafka input {uri!r} is not kafka://HOST:PORT/TOPIC")
    if start not in (EARLIEST, LATEST, COMMITTED) or stop not in (NEVER, END):
      raise ValueError(f"bad Kafka start {start!r} or stop {stop!r}")
    self.uri, self.bootstrap, self.topic, self.group = uri, bootstrap, topic, group
    self.start, self.stop = start, stop
    self.max_out_of_order_ms = int(max_out_of_order_s * 1000)
    self.poll_records, self.poll_seconds = poll_records, poll_seconds

  def consumer_config(self):
    return {"bootstrap.servers": self.bootstrap, "group.id": self.group,
            "enable.auto.commit": False, "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest", "enable.partition.eof": False}


class Windowing:
  """The window geometry the source needs to judge lateness and safe commits."""
  def __init__(self, size_s, period_s, allowed_lateness_s=0):
    self.size_ms, self.period_ms = size_s * 1000, period_s * 1000
    self.lateness_ms = allowed_lateness_s * 1000

  def first_window_end(self, event_ms):
    """The end of the earliest window holding an event at event_ms."""
    return event_ms - event_ms % self.period_ms + self.period_ms

  def is_late(self, event_ms, watermark_ms):
    """True if every window of the event has closed (lateness included)."""
    return self.first_window_end(event_ms) + self.lateness_ms <= watermark_ms

  def resume_time(self, stored_window_end_ms):
    """The earliest event time a window not yet (safely) stored may hold. One window of
    margin: frames are written a bundle at a time, not strictly in order."""
    return stored_window_end_ms - self.size_ms + self.period_ms - self.size_ms


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
      for tp in consumer.committed([TopicPartition(spec.topic, p) for p in partitions],
                                   timeout=30):
        if tp.offset >= 0:
          committed[tp.partition] = tp
    ranges, resume = [], None
    for p in partitions:
      low, high = consumer.get_watermark_offsets(TopicPartition(spec.topic, p), timeout=30)
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


class _History:
  """Per partition, the (offset, event time) of records read but not yet committed past, so
  a finalizer can find the first offset a window not yet stored may need."""
  def __init__(self, start):
    self.start = start            # history is complete from this offset on
    self.records = collections.deque()
    self.position = start         # next offset to read
    self.committed = start        # what this worker last committed (or started from)

  def safe_offset(self, resume_ms):
    for offset, event_ms in self.records:
      if event_ms >= resume_ms:
        return offset
    return self.position

  def forget_before(self, offset):
    while self.records and self.records[0][0] < offset:
      self.records.popleft()


_HISTORIES = {}                   # (bootstrap, topic, partition) -> _History, per worker
_HISTORIES_LOCK = threading.Lock()


class _PartitionRestrictions(beam.transforms.core.RestrictionProvider):
  def initial_restriction(self, element):
    _, start, stop = element
    return OffsetRange(start, stop)

  def create_tracker(self, restriction):
    return OffsetRestrictionTracker(restriction)

  def restriction_size(self, element, restriction):
    return min(restriction.size(), 1 << 30)

  def split(self, element, restriction):
    yield restriction             # one reader per partition: no initial splits


class _ReadPartitionFn(beam.DoFn):
  """(partition, start, stop) -> timestamped raw records (nested export dicts) and dead
  letters. Bounded per element; _ReadUnboundedPartitionFn is the streaming form."""
  def __init__(self, spec, windowing, sink_uri):
    self.spec, self.windowing, self.sink_uri = spec, windowing, sink_uri
    self.read = Metrics.counter("pulse", "events_read")
    self.bad = Metrics.counter("pulse", "dead_letter_decode")
    self.late = Metrics.counter("pulse", "dead_letter_late")
    self.committed = Metrics.counter("pulse", "kafka_offsets_committed")

  def setup(self):
    from confluent_kafka import Consumer
    self.consumer = Consumer(self.spec.consumer_config())
    self.assigned = None          # (partition, next offset) the consumer is positioned at

  def teardown(self):
    self.consumer.close()

  def _position(self, partition, offset):
    from confluent_kafka import TopicPartition
    if self.assigned != [partition, offset]:
      self.consumer.assign([TopicPartition(self.spec.topic, partition, offset)])
    self.assigned = [partition, offset]

  def _history(self, partition, start):
    key = (self.spec.bootstrap, self.spec.topic, partition)
    with _HISTORIES_LOCK:
      history = _HISTORIES.get(key)
      if history is None or history.position != start:
        history = _HISTORIES[key] = _History(start)
      return history

  # The finalizer comes first: Beam passes it by position and the other two by name.
  def process(self, element, finalizer=beam.DoFn.BundleFinalizerParam,
              tracker=beam.DoFn.RestrictionParam(_PartitionRestrictions()),
              estimator=beam.DoFn.WatermarkEstimatorParam(
                  ManualWatermarkEstimator.default_provider())):
    yield from self._read_batch(element[0], finalizer, tracker, estimator)

  def _read_batch(self, partition, finalizer, tracker, estimator):
    """One poll of the partition: its events, then a checkpoint (defer_remainder)."""
    restriction = tracker.current_restriction()
    if restriction.start >= restriction.stop:
      return                         # an empty partition, or nothing left
    history = self._history(partition, restriction.start)
    self._position(partition, restriction.start)
    items = [self._parse(m, partition) for m in self.consumer.consume(
        self.spec.poll_records, self.spec.poll_seconds) if m.error() is None]
    # Events are judged against the watermark already published (the one before this
    # batch); the batch then moves it on.
    watermark = estimator.current_watermark()
    watermark_ms = (watermark.micros // 1000 if watermark and watermark > MIN_TIMESTAMP
                    else -sys.maxsize)
    newest = max((item[2] for item in items if item[2] is not None), default=None)
    claimed = True
    LOG.debug("partition %d: %s, %d messages", partition, restriction, len(items))
    for offset, record, event_ms, source in items:
      if not tracker.try_claim(offset):
        claimed = False              # past a bounded stop, or split off
        break
      history.position = self.assigned[1] = offset + 1
      if event_ms is not None:
        history.records.append((offset, event_ms))
      if isinstance(record, str):                 # the reason it is not an event
        self.bad.inc()
        yield dead_letter("decode", record, source[1], source=source[0])
      elif record is not None and self.windowing.is_late(event_ms, watermark_ms):
        self.late.inc()
        yield dead_letter("late", f"event time {event_ms} ms is behind the watermark "
                                  f"{watermark_ms} ms beyond the allowed lateness", record,
                          source=source[0])
      elif record is not None:
        self.read.inc()
        yield beam.window.TimestampedValue(record, Timestamp(micros=record["created_at"]))
    if newest is not None:
      new = Timestamp(micros=(newest - self.spec.max_out_of_order_ms) * 1000)
      if watermark is None or new > watermark:
        estimator.set_watermark(new)
    finalizer.register(lambda: self._commit(partition, history))
    if claimed and history.position < restriction.stop:
      tracker.defer_remainder(Duration(seconds=0 if items else 0.2))

  def _parse(self, message, partition):
    """(offset, record, event time ms, (source, value)) of one message: record is the
    decoded event, None for a heartbeat, or the reason it cannot be read."""
    offset = message.offset()
    beat = heartbeat_time(message.headers())
    if beat is not None:
      return offset, None, beat, None
    source = (f"{self.spec.uri}[{partition}]@{offset}", message.value() or b"")
    try:
      record = decode_event(message.value())
      return offset, record, record["created_at"] // 1000, source
    except NotAnEvent as error:
      return offset, str(error), None, source
    except (TypeError, KeyError):
      return offset, "event without created_at", None, source

  def _commit(self, partition, history):
    """Bundle finalizer: commit up to what the frame store holds."""
    from confluent_kafka import TopicPartition
    from pulse.io.frame_store import open_store
    store = open_store(self.sink_uri)
    try:
      stored_end = store.max_window_end()
    finally:
      store.close()
    if stored_end is None:
      return
    resume_ms = self.windowing.resume_time(stored_end)
    with _HISTORIES_LOCK:
      offset = history.safe_offset(resume_ms)
      if offset <= history.committed:
        return
      history.forget_before(offset)
      history.committed = offset
    self.consumer.commit(offsets=[TopicPartition(
        self.spec.topic, partition, offset, metadata=str(resume_ms))], asynchronous=False)
    self.committed.inc()


class _ReadUnboundedPartitionFn(_ReadPartitionFn):
  @beam.DoFn.unbounded_per_element()
  # The finalizer comes first: Beam passes it by position and the other two by name.
  def process(self, element, finalizer=beam.DoFn.BundleFinalizerParam,
              tracker=beam.DoFn.RestrictionParam(_PartitionRestrictions()),
              estimator=beam.DoFn.WatermarkEstimatorParam(
                  ManualWatermarkEstimator.default_provider())):
    yield from super().process(element, finalizer, tracker, estimator)


class ReadKafkaEvents(beam.PTransform):
  """kafka://HOST:PORT/TOPIC -> raw records (main output "records") and dead letters.
  The plan (partitions and offsets) is made in the driver when the graph is built."""
  def __init__(self, spec, windowing, sink_uri, ranges):
    super().__init__()
    self.spec, self.windowing, self.sink_uri, self.ranges = spec, windowing, sink_uri, ranges

  def expand(self, pbegin):
    fn = (_ReadUnboundedPartitionFn if self.spec.stop == NEVER else _ReadPartitionFn)(
        self.spec, self.windowing, self.sink_uri)
    return (pbegin
            | "Partitions" >> beam.Create(self.ranges)
            | "ReadPartitions" >> beam.ParDo(fn).with_outputs(DEAD, main="records"))

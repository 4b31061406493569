"""Reading GitHub events from a Kafka topic: a splittable DoFn over the topic's partitions,
with confluent-kafka.

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
import collections
import logging
import sys
import threading
import time
import uuid

import apache_beam as beam
from apache_beam.io.restriction_trackers import OffsetRange, OffsetRestrictionTracker
from apache_beam.io.watermark_estimators import ManualWatermarkEstimator
from apache_beam.metrics import Metrics
from apache_beam.utils.timestamp import MAX_TIMESTAMP, MIN_TIMESTAMP, Duration, Timestamp

from pulse.io.frame_store import redact
from pulse.io.kafka_codec import BrokerWatch, NotAnEvent, decode_event, heartbeat_time
from pulse.transforms.dead_letters import DEAD, dead_letter

LOG = logging.getLogger(__name__)
EARLIEST, LATEST, COMMITTED = "earliest", "latest", "committed"
NEVER, END = "never", "end"
UNBOUNDED = sys.maxsize
MAX_WATERMARK_MS = MAX_TIMESTAMP.micros // 1000


class KafkaSpec:
  """Where and how to read: parsed from kafka://HOST:PORT/TOPIC and the --kafka_* flags."""
  def __init__(self, uri, group="network-pulse", start=COMMITTED, stop=NEVER,
               max_out_of_order_s=60, poll_records=2000, poll_seconds=0.5):
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
      for tp in _retrying(lambda: consumer.committed(
          [TopicPartition(spec.topic, p) for p in partitions], timeout=30)):
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


def _retrying(call, seconds=60):
  """call() again while Kafka answers with a retriable error (a coordinator still loading
  after a broker start, a leader election), for at most `seconds`."""
  from confluent_kafka import KafkaError, KafkaException
  coordinator = {KafkaError.NOT_COORDINATOR, KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
                 KafkaError.COORDINATOR_NOT_AVAILABLE}
  deadline = time.monotonic() + seconds
  while True:
    try:
      return call()
    except KafkaException as error:
      kafka_error = error.args[0]
      retriable = kafka_error.retriable() or kafka_error.code() in coordinator
      if not retriable or time.monotonic() > deadline:
        raise
      LOG.info("Kafka: %s; retrying", error.args[0].str())
      time.sleep(0.5)


class _History:
  """Per partition, the (offset, event time) of records read but not yet committed past, so
  a finalizer can find the first offset a window not yet stored may need."""
  def __init__(self, start):
    self.start = start            # history is complete from this offset on
    self.records = collections.deque()
    self.position = start         # next offset to read
    self.committed = start        # what this worker last committed (or started from)
    self.newest = None            # the newest event time read

  def safe_offset(self, resume_ms):
    for offset, event_ms in self.records:
      if event_ms >= resume_ms:
        return offset
    return self.position

  def forget_before(self, offset):
    while self.records and self.records[0][0] < offset:
      self.records.popleft()


_HISTORIES = {}                   # (run id, partition) -> _History, per worker process
_HISTORIES_LOCK = threading.Lock()


class _Clocks:
  """The newest event time of each partition of one run whose bundle the runner has
  committed (set from bundle finalizers), shared by the readers in this worker process.
  Only committed clocks may lift another partition's watermark: an event still in an
  unfinished bundle is not yet downstream, and a watermark published past it would make
  the runner drop it as late."""
  _runs = {}
  _lock = threading.Lock()

  def __init__(self, run_id, partitions, max_out_of_order_ms):
    with self._lock:
      self.committed = self._runs.setdefault(run_id, {})
    self.partitions = partitions
    self.max_out_of_order_ms = max_out_of_order_ms

  def commit(self, partition, newest_ms):
    with self._lock:
      self.committed[partition] = max(self.committed.get(partition, newest_ms), newest_ms)

  def watermark_ms(self, partition, own_newest_ms):
    """What a reader of `partition`, having read up to own_newest_ms, may publish: the
    oldest clock over all partitions, less the out-of-order allowance; -inf until every
    other partition has committed something."""
    with self._lock:
      others = [self.committed.get(p) for p in self.partitions if p != partition]
    if own_newest_ms is None or None in others:
      return -sys.maxsize
    oldest = min([own_newest_ms] + others)
    return oldest if oldest == sys.maxsize else oldest - self.max_out_of_order_ms


class _HeldWatermark(beam.transforms.core.WatermarkEstimatorProvider):
  """A manual watermark that starts at the beginning of time. (Left unset, a partition
  that has read nothing yet does not hold the watermark back on Prism, and the windows of
  the partitions that have fire before its events arrive.)"""
  def initial_estimator_state(self, element, restriction):
    return MIN_TIMESTAMP

  def create_watermark_estimator(self, state):
    return ManualWatermarkEstimator(state)


class _CheckpointOnlyTracker(OffsetRestrictionTracker):
  """Only checkpoints (fraction 0, from defer_remainder) split a partition's offsets.
  Prism asks a slow bundle for a fraction-0.5 split; over [n, 2**63) that would start a
  second reader near offset 2**62, so such splits are refused (Prism then stops asking)."""
  def try_split(self, fraction_of_remainder):
    if fraction_of_remainder > 0:
      return None
    return super().try_split(fraction_of_remainder)


class _PartitionRestrictions(beam.transforms.core.RestrictionProvider):
  def initial_restriction(self, element):
    _, start, stop = element
    return OffsetRange(start, stop)

  def create_tracker(self, restriction):
    return _CheckpointOnlyTracker(restriction)

  def restriction_size(self, element, restriction):
    return min(restriction.size(), 1 << 30)

  def split(self, element, restriction):
    yield restriction             # one reader per partition: no initial splits


class _ReadPartitionFn(beam.DoFn):
  """(partition, start, stop) -> timestamped raw records (nested export dicts) and dead
  letters. Bounded per element; _ReadUnboundedPartitionFn is the streaming form."""
  def __init__(self, spec, windowing, sink_uri, partitions, run_id):
    self.spec, self.windowing, self.sink_uri = spec, windowing, sink_uri
    self.partitions, self.run_id = partitions, run_id
    self.read = Metrics.counter("pulse", "events_read")
    self.bad = Metrics.counter("pulse", "dead_letter_decode")
    self.late = Metrics.counter("pulse", "dead_letter_late")
    self.committed = Metrics.counter("pulse", "kafka_offsets_committed")

  def setup(self):
    from confluent_kafka import Consumer
    self.watch = BrokerWatch(lambda text: LOG.warning("%s (%s)", text, self.spec.uri),
                             every_s=30)
    self.consumer = Consumer(dict(self.spec.consumer_config(), **self.watch.config()))
    self.clocks = _Clocks(self.run_id, self.partitions, self.spec.max_out_of_order_ms)
    self.lock = threading.Lock()
    self.assigned = None          # (partition, next offset) the consumer is positioned at

  def teardown(self):
    with self.lock:      # a cancelled job may tear down while a batch is still read
      self.consumer.close()
      self.consumer = None

  def _position(self, partition, offset):
    from confluent_kafka import TopicPartition
    if self.assigned != [partition, offset]:
      self.consumer.assign([TopicPartition(self.spec.topic, partition, offset)])
    self.assigned = [partition, offset]

  def _history(self, partition, start):
    key = (self.run_id, partition)
    with _HISTORIES_LOCK:
      history = _HISTORIES.get(key)
      if history is None or history.position != start:
        history = _HISTORIES[key] = _History(start)
      return history

  # The finalizer comes first: Beam passes it by position and the other two by name.
  def process(self, element, finalizer=beam.DoFn.BundleFinalizerParam,
              tracker=beam.DoFn.RestrictionParam(_PartitionRestrictions()),
              estimator=beam.DoFn.WatermarkEstimatorParam(_HeldWatermark())):
    yield from self._read_batch(element[0], finalizer, tracker, estimator)

  def _read_batch(self, partition, finalizer, tracker, estimator):
    """One poll of the partition: its events, then a checkpoint (defer_remainder)."""
    restriction = tracker.current_restriction()
    if restriction.start >= restriction.stop:
      return                         # an empty partition, or nothing left
    history = self._history(partition, restriction.start)
    with self.lock:
      if self.consumer is None:      # torn down (a cancelled job): read nothing more,
        tracker.defer_remainder()    # and hand the rest back rather than fail the bundle
        return
      self._position(partition, restriction.start)
      messages = [m for m in self.consumer.consume(self.spec.poll_records,
                                                   self.spec.poll_seconds)
                  if m.error() is None and m.partition() == partition]
      self.watch.tick(probe=self._reachable)
    if messages:   # where the consumer now is, whatever part of the batch gets claimed
      self.assigned = [partition, messages[-1].offset() + 1]
    items = [self._parse(m, partition) for m in messages]
    # Events are judged against this partition's own clock before the batch: no reader
    # can have published a watermark past it (see _Clocks).
    late_before_ms = (history.newest - self.spec.max_out_of_order_ms
                      if history.newest is not None else -sys.maxsize)
    claimed = True
    for offset, record, event_ms, source in items:
      if not tracker.try_claim(offset):
        claimed = False              # past a bounded stop, or split off
        break
      history.position = offset + 1
      if event_ms is None:
        self.bad.inc()                            # record holds the reason
        yield dead_letter("decode", record, source[1], source=source[0])
        continue
      history.records.append((offset, event_ms))
      history.newest = max(history.newest or event_ms, event_ms)
      if record is None:                          # a heartbeat
        continue
      if self.windowing.is_late(event_ms, late_before_ms):
        self.late.inc()
        yield dead_letter("late", f"event time {event_ms} ms is behind the watermark "
                                  f"{late_before_ms} ms beyond the allowed lateness",
                          record, source=source[0])
      else:
        self.read.inc()
        yield beam.window.TimestampedValue(record, Timestamp(micros=record["created_at"]))
    newest = sys.maxsize if history.position >= restriction.stop else history.newest
    watermark_ms = self.clocks.watermark_ms(partition, newest)
    if watermark_ms > -sys.maxsize:
      watermark = Timestamp(micros=min(watermark_ms, MAX_WATERMARK_MS) * 1000)
      if watermark > estimator.current_watermark():
        estimator.set_watermark(watermark)
    finalizer.register(lambda: self._finalize(partition, history, newest))
    if claimed and history.position < restriction.stop:
      tracker.defer_remainder(Duration(seconds=0 if items else 0.2))

  def _reachable(self):
    from confluent_kafka import KafkaException
    try:
      self.consumer.list_topics(self.spec.topic, timeout=1)
      return True
    except KafkaException:
      return False

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

  def _finalize(self, partition, history, newest):
    """Bundle finalizer: the runner holds this bundle's output now."""
    if newest is not None:
      self.clocks.commit(partition, newest)
    self._commit(partition, history)

  def _commit(self, partition, history):
    """Commit offsets up to what the frame store holds."""
    from confluent_kafka import KafkaException, TopicPartition
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
      previous, history.committed = history.committed, offset
    try:
      with self.lock:
        if self.consumer is not None:
          self.consumer.commit(offsets=[TopicPartition(
              self.spec.topic, partition, offset, metadata=str(resume_ms))],
              asynchronous=False)
          self.committed.inc()
          return
    except KafkaException as error:
      LOG.warning("Kafka: offset %d of partition %d not committed (%s); a later bundle "
                  "commits it", offset, partition, error.args[0].str())
    with _HISTORIES_LOCK:       # not committed after all: the next finalizer tries again
      if history.committed == offset:
        history.committed = previous


class _ReadUnboundedPartitionFn(_ReadPartitionFn):
  @beam.DoFn.unbounded_per_element()
  # The finalizer comes first: Beam passes it by position and the other two by name.
  def process(self, element, finalizer=beam.DoFn.BundleFinalizerParam,
              tracker=beam.DoFn.RestrictionParam(_PartitionRestrictions()),
              estimator=beam.DoFn.WatermarkEstimatorParam(_HeldWatermark())):
    yield from super().process(element, finalizer, tracker, estimator)


class ReadKafkaEvents(beam.PTransform):
  """kafka://HOST:PORT/TOPIC -> raw records (main output "records") and dead letters.
  The plan (partitions and offsets) is made in the driver when the graph is built."""
  def __init__(self, spec, windowing, sink_uri, ranges):
    super().__init__()
    self.spec, self.windowing, self.sink_uri, self.ranges = spec, windowing, sink_uri, ranges

  def expand(self, pbegin):
    fn = (_ReadUnboundedPartitionFn if self.spec.stop == NEVER else _ReadPartitionFn)(
        self.spec, self.windowing, self.sink_uri, [p for p, _, _ in self.ranges],
        uuid.uuid4().hex)
    return (pbegin
            | "Partitions" >> beam.Create(self.ranges)
            | "ReadPartitions" >> beam.ParDo(fn).with_outputs(DEAD, main="records"))

"""The reading of one Kafka partition: a splittable DoFn over its offsets, with
confluent-kafka (the plan and the composite are in io/kafka_source.py, whose docstring
gives the rules for event time, watermarks, late events and commits)."""
import logging
import sys
import time

import apache_beam as beam
from apache_beam.io.restriction_trackers import OffsetRange, OffsetRestrictionTracker
from apache_beam.io.watermark_estimators import ManualWatermarkEstimator
from apache_beam.utils.timestamp import MAX_TIMESTAMP, MIN_TIMESTAMP, Duration, Timestamp

from pulse.io.kafka_consumers import PartitionConsumers
from pulse.io.kafka_codec import BrokerWatch, NotAnEvent, decode_event, heartbeat_time
from pulse.io.kafka_progress import HISTORIES_LOCK, Clocks, history_of
from pulse.schemas.counters import (DEAD_LETTER_COUNTERS, EVENTS_READ,
                                    KAFKA_OFFSETS_COMMITTED, counter)
from pulse.schemas.dead_letters import DECODE, LATE, SOURCE_FIELD, dead_letter

__all__ = ["ReadPartitionFn", "ReadUnboundedPartitionFn"]

LOG = logging.getLogger(__name__)
MAX_WATERMARK_MS = MAX_TIMESTAMP.micros // 1000
# Offsets are committed at most this often per partition (and at a bounded run's end): a
# commit asks the store and waits for the broker, and a restart reads again at most this
# much more.
COMMIT_EVERY_S = 1.0
# A partition with nothing to read is asked again after this long.
IDLE_DELAY_S = 0.1


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


class ReadPartitionFn(beam.DoFn):
  """(partition, start, stop) -> timestamped raw records (nested export dicts, with
  SOURCE_FIELD f"{uri}[{partition}]@{offset}") and dead letters. Bounded per element;
  ReadUnboundedPartitionFn is the streaming form.
  geometry: the WindowGeometry (lateness, resume time); stored_until(): the newest window
  end the frame store holds (io/stores/write.StoredUntil), which bounds what is committed."""
  def __init__(self, spec, geometry, stored_until, partitions, run_id):
    self.spec, self.geometry, self.stored_until = spec, geometry, stored_until
    self.partitions, self.run_id = partitions, run_id
    self.read = counter(EVENTS_READ)
    self.bad = counter(DEAD_LETTER_COUNTERS[DECODE])
    self.late = counter(DEAD_LETTER_COUNTERS[LATE])
    self.committed = counter(KAFKA_OFFSETS_COMMITTED)

  def setup(self):
    watch = BrokerWatch(lambda text: LOG.warning("%s (%s)", text, self.spec.uri),
                        every_s=30)
    self.consumers = PartitionConsumers.acquire(self.run_id, self.spec.consumer_config(),
                                                watch)
    self.clocks = Clocks(self.run_id, self.partitions, self.spec.max_out_of_order_ms)

  def start_bundle(self):
    self.waited = False

  def teardown(self):
    self.consumers.release()   # the last reader of the process closes the consumers

  def _poll(self, pooled, partition, offset):
    """Up to poll_records messages of the partition from `offset` on: what the consumer
    has fetched already, or what arrives within poll_seconds."""
    from confluent_kafka import TopicPartition
    if pooled.next_offset != offset:     # first use, or a retried bundle: seek
      pooled.consumer.assign([TopicPartition(self.spec.topic, partition, offset)])
    # What is fetched already, at once; else what comes within poll_seconds, once a
    # bundle: Prism gives every partition's restriction to one bundle, read in turn, and
    # each would wait; meanwhile the other consumers keep fetching.
    messages = pooled.consumer.consume(self.spec.poll_records, 0)
    if not messages and not self.waited:
      self.waited = True
      messages = pooled.consumer.consume(self.spec.poll_records, self.spec.poll_seconds)
    messages = [m for m in messages if m.error() is None]
    pooled.next_offset = messages[-1].offset() + 1 if messages else offset
    return messages

  # The finalizer comes first: Beam passes it by position and the other two by name.
  def process(self, element, finalizer=beam.DoFn.BundleFinalizerParam,
              tracker=beam.DoFn.RestrictionParam(_PartitionRestrictions()),
              estimator=beam.DoFn.WatermarkEstimatorParam(_HeldWatermark())):
    yield from self._read_batch(element[0], finalizer, tracker, estimator)

  def _read_batch(self, partition, finalizer, tracker, estimator):
    """A bundle of the partition: polls until it has caught up, or has read for
    bundle_seconds or bundle_records; its events, then a checkpoint (defer_remainder)."""
    restriction = tracker.current_restriction()
    if restriction.start >= restriction.stop:
      return                         # an empty partition, or nothing left
    history = history_of(self.run_id, partition, restriction.start)
    pooled = self.consumers.get(partition)
    # Events are judged against this partition's own clock before the bundle: no reader
    # can have published a watermark past it (see Clocks).
    late_before_ms = (history.newest - self.spec.max_out_of_order_ms
                      if history.newest is not None else -sys.maxsize)
    deadline = time.monotonic() + self.spec.bundle_seconds
    claimed, read = True, 0
    while claimed and history.position < restriction.stop:
      with pooled.lock:
        if pooled.consumer is None:  # torn down (a cancelled job): read nothing more,
          tracker.defer_remainder()  # and hand the rest back rather than fail the bundle
          return
        messages = self._poll(pooled, partition, history.position)
        self.consumers.watch.tick(probe=lambda: self._reachable(pooled.consumer))
      for message in messages:
        offset, record, event_ms, source = self._parse(message, partition)
        if not tracker.try_claim(offset):
          claimed = False            # past a bounded stop, or split off
          break
        history.position = offset + 1
        yield from self._emit(history, offset, record, event_ms, source, late_before_ms)
      read += len(messages)
      if (len(messages) < self.spec.poll_records or read >= self.spec.bundle_records
          or time.monotonic() > deadline):
        break                        # caught up, or the bundle is big enough
    newest = sys.maxsize if history.position >= restriction.stop else history.newest
    watermark_ms = self.clocks.watermark_ms(partition, newest)
    if watermark_ms > -sys.maxsize:
      watermark = Timestamp(micros=min(watermark_ms, MAX_WATERMARK_MS) * 1000)
      if watermark > estimator.current_watermark():
        estimator.set_watermark(watermark)
    finalizer.register(lambda: self._finalize(partition, history, newest))
    if claimed and history.position < restriction.stop:
      tracker.defer_remainder(Duration(seconds=0 if read else IDLE_DELAY_S))

  def _emit(self, history, offset, record, event_ms, source, late_before_ms):
    """The output of one claimed message: an event, or a dead letter (undecodable, or
    late), or nothing (a heartbeat: it only moves the partition's clock)."""
    if event_ms is None:
      self.bad.inc()                              # record holds the reason
      yield dead_letter(DECODE, record, source[1], source=source[0])
      return
    history.records.append((offset, event_ms))
    history.newest = max(history.newest or event_ms, event_ms)
    if record is None:
      return
    if self.geometry.is_late(event_ms, late_before_ms):
      self.late.inc()
      yield dead_letter(LATE, f"event time {event_ms} ms is behind the watermark "
                              f"{late_before_ms} ms beyond the allowed lateness",
                        record, source=source[0])
    else:
      self.read.inc()
      yield beam.window.TimestampedValue(record, Timestamp(micros=record["created_at"]))

  def _reachable(self, consumer):
    from confluent_kafka import KafkaException
    try:
      consumer.list_topics(self.spec.topic, timeout=1)
      return True
    except KafkaException:
      return False

  def _parse(self, message, partition):
    """(offset, record, event time ms, (source, value)) of one message: record is the
    decoded event (naming its source in SOURCE_FIELD), None for a heartbeat, or the reason
    it cannot be read."""
    offset = message.offset()
    beat = heartbeat_time(message.headers())
    if beat is not None:
      return offset, None, beat, None
    source = (f"{self.spec.uri}[{partition}]@{offset}", message.value() or b"")
    try:
      record = decode_event(message.value())
      record[SOURCE_FIELD] = source[0]
      return offset, record, record["created_at"] // 1000, source
    except NotAnEvent as error:
      return offset, str(error), None, source
    except (TypeError, KeyError):
      return offset, "event without created_at", None, source

  def _finalize(self, partition, history, newest):
    """Bundle finalizer: the runner holds this bundle's output now."""
    if newest is not None:
      self.clocks.commit(partition, newest)
    if newest == sys.maxsize or time.monotonic() >= history.commit_due:
      history.commit_due = time.monotonic() + COMMIT_EVERY_S
      self._commit(partition, history)

  def _commit(self, partition, history):
    """Commit offsets up to what the frame store holds."""
    from confluent_kafka import KafkaException, TopicPartition
    stored_end = self.stored_until()
    if stored_end is None:
      return
    resume_ms = self.geometry.resume_time(stored_end)
    with HISTORIES_LOCK:
      offset = history.safe_offset(resume_ms)
      if offset <= history.committed:
        return
      history.forget_before(offset)
      previous, history.committed = history.committed, offset
    pooled = self.consumers.get(partition)
    try:
      with pooled.lock:
        if pooled.consumer is not None:
          pooled.consumer.commit(offsets=[TopicPartition(
              self.spec.topic, partition, offset, metadata=str(resume_ms))],
              asynchronous=False)
          self.committed.inc()
          return
    except KafkaException as error:
      LOG.warning("Kafka: offset %d of partition %d not committed (%s); a later bundle "
                  "commits it", offset, partition, error.args[0].str())
    with HISTORIES_LOCK:       # not committed after all: the next finalizer tries again
      if history.committed == offset:
        history.committed = previous


class ReadUnboundedPartitionFn(ReadPartitionFn):
  @beam.DoFn.unbounded_per_element()
  # The finalizer comes first: Beam passes it by position and the other two by name.
  def process(self, element, finalizer=beam.DoFn.BundleFinalizerParam,
              tracker=beam.DoFn.RestrictionParam(_PartitionRestrictions()),
              estimator=beam.DoFn.WatermarkEstimatorParam(_HeldWatermark())):
    yield from super().process(element, finalizer, tracker, estimator)

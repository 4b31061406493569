"""Reading GitHub events from Kafka with Beam's cross-language ReadFromKafka (Java KafkaIO,
expanded by the Java expansion service from a local jar: scripts/expansion_service.sh).

The alternative to kafka_source's splittable DoFn (--kafka_io=xlang), bounded runs only:
- KafkaIO's watermark follows the messages' Kafka timestamps (when the firehose sent them),
  not the events' created_at, so in streaming every window would close before its events.
- Bounded reading is max_num_records, the sum of the planned offset ranges: KafkaIO stops
  after that many messages, which are the planned ones unless the topic grows meanwhile.
- No offsets are committed (KafkaIO's commit-in-finalize would commit before the frames
  are stored), so a "committed" start resumes only from what an sdf run committed.
- The rows reach Python as one side input (see expand): bounded runs only, held in memory.
- The Java side runs in the expansion service's own JVM (its loopback worker), which Beam
  starts only while the expansion service lives, i.e. inside `with beam.Pipeline(...)`;
  outside it Beam asks the runner for a Docker environment instead.
"""
import time

import apache_beam as beam
from apache_beam.io.kafka import ReadFromKafka
from apache_beam.transforms.external import JavaJarExpansionService
from apache_beam.utils.timestamp import Timestamp

from pulse.io.kafka_codec import NotAnEvent, decode_event, heartbeat_time
from pulse.io.kafka_source import EARLIEST, LATEST
from pulse.schemas.counters import DEAD_LETTER_COUNTERS, EVENTS_READ, counter
from pulse.schemas.dead_letters import DEAD, DECODE, SOURCE_FIELD, dead_letter

__all__ = ["ReadKafkaXlang"]


class ReadKafkaXlang(beam.PTransform):
  """Reads GitHub events from a Kafka topic with Java KafkaIO (bounded runs only).

  Args:
    spec: the KafkaSpec (io/kafka_source.py).
    expansion_jar: the Java expansion service jar.
    ranges: kafka_source.plan(spec)'s [(partition, start, stop)]; their total bounds the
      read.
  Returns: a tagged result, as ReadKafkaEvents: "records", raw records timestamped by
    created_at, with SOURCE_FIELD f"{uri}[{partition}]@{offset}"; DEAD, dead letters of
    stage DECODE.
  """
  def __init__(self, spec, expansion_jar, ranges):
    super().__init__()
    self.spec, self.expansion_jar, self.ranges = spec, expansion_jar, ranges

  def expand(self, pbegin):
    spec = self.spec
    config = {"bootstrap.servers": spec.bootstrap, "group.id": spec.group,
              "auto.offset.reset": "earliest"}
    # A group's committed offsets beat auto.offset.reset; a start time does not.
    start_ms = {EARLIEST: 0, LATEST: int(time.time() * 1000)}.get(spec.start)
    total = sum(stop - start for _, start, stop in self.ranges)
    if total == 0:     # KafkaIO has no "read nothing"; nor is there anything to read
      rows = pbegin | "NoMessages" >> beam.Create([])
    else:
      rows = pbegin | "ReadFromKafka" >> ReadFromKafka(
          config, [spec.topic], start_read_time=start_ms, max_num_records=total,
          with_metadata=True,      # rows with partition, offset, headers, key, value
          expansion_service=JavaJarExpansionService(self.expansion_jar))
    # KafkaIO stamps rows with the time the firehose sent them, years after created_at,
    # and Prism drops at the windows' GroupByKey what a stage emits behind its watermark.
    # So the rows come in as a side input of one element created at the beginning of
    # time, which holds the decoding stage's watermark there until all is decoded (as
    # Create -> re-timestamp does in any batch test). Bounded runs only, so affordable.
    return (pbegin
            | "Start" >> beam.Create([None])
            | "Decode" >> beam.ParDo(_DecodeFn(spec.uri), beam.pvalue.AsIter(rows))
                .with_outputs(DEAD, main="records"))


class _DecodeFn(beam.DoFn):
  """KafkaIO rows -> timestamped events and dead letters; heartbeats are dropped."""
  def __init__(self, uri):
    self.uri = uri
    self.read = counter(EVENTS_READ)
    self.bad = counter(DEAD_LETTER_COUNTERS[DECODE])

  def process(self, unused_start, rows):
    for row in rows:
      yield from self._decode(row)

  def _decode(self, row):
    headers = [(h.key, h.value) for h in row.headers or ()]
    if heartbeat_time(headers) is not None:
      return
    value = row.value or b""
    source = f"{self.uri}[{row.partition}]@{row.offset}"
    try:
      record = decode_event(value)
      micros = int(record["created_at"])
    except NotAnEvent as error:
      self.bad.inc()
      yield dead_letter(DECODE, str(error), value, source=source)
      return
    except (TypeError, KeyError):
      self.bad.inc()
      yield dead_letter(DECODE, "event without created_at", value, source=source)
      return
    record[SOURCE_FIELD] = source
    self.read.inc()
    yield beam.window.TimestampedValue(record, Timestamp(micros=micros))

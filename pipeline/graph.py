"""The pipeline graph: archives or Kafka -> events -> edges -> windowed components ->
frames -> store, with every step's dead letters collected in one place."""
import logging

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.options.pipeline_options import StandardOptions

from pulse.io import bigquery_source
from pulse.io.archives import ReadArchives
from pulse.io.frame_store import WriteFrames
from pulse.io.json_lines import WriteDeadLetters, WriteJsonLines
from pulse.pipeline.options import PulseOptions
from pulse.transforms.dead_letters import DEAD
from pulse.transforms.edges import ExtractEdges
from pulse.transforms.events import NormaliseEvents
from pulse.transforms.frames import ToFrames
from pulse.transforms.windows import WindowedComponents

LOG = logging.getLogger(__name__)


class FramesFromEdges(beam.PTransform):
  """Timestamped edges -> one frame per sliding window."""
  def __init__(self, options):
    super().__init__()
    self.options = options.view_as(PulseOptions)

  def expand(self, edges):
    o = self.options
    return (edges
            | "Windows" >> WindowedComponents(
                o.window_size, o.window_period, sliced=o.windowing == "sliced",
                allowed_lateness_s=o.allowed_lateness)
            | "Frames" >> ToFrames(o.min_cluster_size, o.max_clusters))


class SkipStoredWindows(beam.PTransform):
  """Drops the frames of windows starting before resume_ms: a resumed Kafka run sees only
  part of their events, and the store holds them whole already."""
  def __init__(self, resume_ms):
    super().__init__()
    self.resume_ms = resume_ms

  def expand(self, frames):
    return frames | "SkipStored" >> beam.ParDo(_SkipStoredFn(self.resume_ms))


class _SkipStoredFn(beam.DoFn):
  def __init__(self, resume_ms):
    self.resume_ms = resume_ms
    self.skipped = Metrics.counter("pulse", "frames_already_stored")

  def process(self, frame):
    if frame["window_start"] < self.resume_ms:
      self.skipped.inc()
    else:
      yield frame


def _read(pipeline, o, patterns, streaming):
  """Raw records and dead letters from files, one BigQuery table or one Kafka topic."""
  if any(bigquery_source.is_bigquery(p) for p in patterns):
    if len(patterns) != 1:
      raise ValueError("a BigQuery input must be the only --input")
    return pipeline | "ReadBigQuery" >> bigquery_source.ReadBigQuery(patterns[0]), None
  kafka = [p for p in patterns if p.startswith("kafka://")]
  if not kafka:
    return pipeline | "ReadArchives" >> ReadArchives(patterns), None
  if len(patterns) != 1:
    raise ValueError("a Kafka input must be the only --input")
  from pulse.io import kafka_source
  spec = kafka_source.KafkaSpec(kafka[0], o.kafka_group, o.kafka_start, o.kafka_stop,
                                o.kafka_max_out_of_order_s)
  if o.kafka_io == "xlang" and not o.kafka_expansion_jar:
    raise ValueError("--kafka_io xlang needs --kafka_expansion_jar: the jar that "
                     "scripts/expansion_service.sh fetch prints")
  if o.kafka_io == "xlang" and spec.stop != kafka_source.END:
    raise ValueError("--kafka_io xlang reads bounded runs only: use --kafka_stop end")
  if spec.stop == kafka_source.NEVER and not streaming:
    raise ValueError("--kafka_stop never reads on forever: run with --streaming (Prism "
                     "or Flink), or use --kafka_stop end for a bounded run")
  ranges, resume_ms = kafka_source.plan(spec)
  LOG.info("Kafka %s: group %s, partitions %s%s", spec.uri, spec.group,
           ", ".join(f"{p}: {a}..{'end' if b == kafka_source.UNBOUNDED else b}"
                     for p, a, b in ranges),
           f"; resuming, windows before {resume_ms} ms are stored" if resume_ms else "")
  if o.kafka_io == "xlang":
    from pulse.io.kafka_xlang import ReadKafkaXlang
    read = pipeline | "ReadKafka" >> ReadKafkaXlang(spec, o.kafka_expansion_jar, ranges)
    return read, resume_ms
  windowing = kafka_source.Windowing(o.window_size, o.window_period, o.allowed_lateness)
  read = pipeline | "ReadKafka" >> kafka_source.ReadKafkaEvents(spec, windowing, o.sink,
                                                                ranges)
  return read, resume_ms


def build(pipeline, options):
  """Add the Network Pulse graph to `pipeline`; returns the frames PCollection."""
  o = options.view_as(PulseOptions)
  streaming = bool(options.view_as(StandardOptions).streaming)
  patterns = o.input_patterns()
  if not patterns:
    raise ValueError("no --input given: name GitHub Archive files (JSON hours or Avro) "
                     "or a Kafka topic (kafka://HOST:PORT/TOPIC)")
  WindowedComponents(o.window_size, o.window_period)    # checks the geometry up front
  decoded, resume_ms = _read(pipeline, o, patterns, streaming)
  events = decoded.records | "NormaliseEvents" >> NormaliseEvents()
  edges = events.events | "Venturi" >> ExtractEdges(
      drop_bots=not o.keep_bots, drop_org_owners=o.drop_org_owners)
  if o.edges_output:
    edges.edges | "WriteEdges" >> WriteJsonLines(o.edges_output, streaming)
  frames = edges.edges | "FramesFromEdges" >> FramesFromEdges(o)
  if resume_ms is not None:
    frames = frames | "SkipStoredWindows" >> SkipStoredWindows(resume_ms)
  frames | "WriteFrames" >> WriteFrames(o.sink)
  ((decoded[DEAD], events[DEAD], edges[DEAD])
   | "CollectDeadLetters" >> beam.Flatten()
   | "DeadLetters" >> WriteDeadLetters(o.dead_letter_output, streaming))
  return frames

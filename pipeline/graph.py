"""The pipeline graph: archives, a BigQuery table or Kafka -> events -> edges -> windowed
components -> frames -> store, with every step's dead letters collected in one place."""
import logging

import apache_beam as beam
from apache_beam.options.pipeline_options import StandardOptions

from pulse.io import bigquery_source
from pulse.io.archives import ReadArchives
from pulse.io.edge_slices import WriteEdgeSlices
from pulse.io.json_lines import WriteDeadLetters, WriteJsonLines
from pulse.io.stores import StoredFrame, StoredUntil, WriteFrames
from pulse.io.stores.registry import store_class
from pulse.pipeline.checks import check_input_kinds
from pulse.pipeline.options import PulseOptions
from pulse.pipeline.stitch import JoinAdjacentRuns
from pulse.schemas.dead_letters import DEAD
from pulse.schemas.windows import WindowGeometry
from pulse.transforms.edges import ExtractEdges
from pulse.transforms.events import NormaliseEvents
from pulse.transforms.frames import FramesFromEdges, SkipStoredWindows
from pulse.transforms.lineage import FollowClusters

LOG = logging.getLogger(__name__)


def read_input(pipeline, o, patterns, streaming, geometry, progress_dir=None):
  """Raw records and dead letters from files, one BigQuery table or one Kafka topic, and
  the window start before which frames are stored already (a resumed Kafka run) or None."""
  check_input_kinds(patterns)
  if bigquery_source.is_bigquery(patterns[0]):
    return pipeline | "ReadBigQuery" >> bigquery_source.ReadBigQuery(patterns[0]), None
  kafka = [p for p in patterns if p.startswith("kafka://")]
  if not kafka:
    return pipeline | "ReadArchives" >> ReadArchives(patterns, progress_dir), None
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
  read = pipeline | "ReadKafka" >> kafka_source.ReadKafkaEvents(
      spec, geometry, StoredUntil(o.sink), ranges)
  return read, resume_ms


def build(pipeline, options):
  """Add the Network Pulse graph to `pipeline`; returns the frames PCollection."""
  edges, resume_ms = build_edges(pipeline, options)
  return build_frames(edges, options, resume_ms)


def build_edges(pipeline, options, slices=None, progress_dir=None):
  """The first half: input -> edges, with every step's dead letters written. With
  `slices` (directory, slice_ms) the edges also go to slice files (io/edge_slices.py).
  The file reader and the slice writer tell their progress in progress_dir, if given
  (io/progress.py). Returns (edges, the window start before which frames are stored
  already, or None)."""
  o = options.view_as(PulseOptions)
  streaming = bool(options.view_as(StandardOptions).streaming)
  decoded, resume_ms = read_input(pipeline, o, o.input_patterns(), streaming,
                                  geometry_of(o),
                             progress_dir)
  events = decoded.records | "NormaliseEvents" >> NormaliseEvents()
  edges = events.events | "Venturi" >> ExtractEdges(
      drop_bots=not o.keep_bots, drop_org_owners=o.drop_org_owners)
  if o.edges_output:
    edges.edges | "WriteEdges" >> WriteJsonLines(o.edges_output, streaming)
  if slices:
    edges.edges | "WriteEdgeSlices" >> WriteEdgeSlices(*slices, progress_dir)
  ((decoded[DEAD], events[DEAD], edges[DEAD])
   | "CollectDeadLetters" >> beam.Flatten()
   | "DeadLetters" >> WriteDeadLetters(o.dead_letter_output, streaming))
  return edges.edges, resume_ms


def build_frames(edges, options, resume_ms=None):
  """The second half: edges -> windows -> frames, completed across the ends of the
  run's data, followed and stored. Returns the frames PCollection."""
  o = options.view_as(PulseOptions)
  streaming = bool(options.view_as(StandardOptions).streaming)
  geometry = geometry_of(o)
  frames = edges | "FramesFromEdges" >> FramesFromEdges(
      geometry, o.windowing, o.min_cluster_size, o.max_clusters)
  if resume_ms is not None:
    frames = frames | "SkipStoredWindows" >> SkipStoredWindows(resume_ms)
  elif not streaming and store_class(o.sink).can_keep_panes:
    frames = frames | "JoinAdjacentRuns" >> JoinAdjacentRuns(
        o.sink, geometry, o.min_cluster_size, o.max_clusters, edges)
  frames = frames | "FollowClusters" >> FollowClusters(
      geometry, StoredFrame(o.sink, geometry.size_ms))
  frames | "WriteFrames" >> WriteFrames(o.sink)
  return frames


def geometry_of(o):
  """The one geometry of a run (PulseOptions o), for its windows and its Kafka reader."""
  return WindowGeometry(o.window_size, o.window_period, o.allowed_lateness)

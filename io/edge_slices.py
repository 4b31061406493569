"""Edges kept on disk between the two passes of a long batch run (pipeline/passes.py): Avro
files of schemas/edge.avsc, one set per slice of event time, so a later run reads exactly
the edges of the slices it covers, whatever order the input held them in.

  DIR/slice-<slice start ms>-<shard>.avro

Written with Beam's file sink (fileio.WriteToFiles: each bundle's writers straight to
temporary files, then moved), read with Beam's Avro source."""
import os

import apache_beam as beam
import fastavro
from apache_beam.io import fileio
from apache_beam.io.filesystems import FileSystems
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import Timestamp
from apache_beam.utils.windowed_value import WindowedValue

from pulse.io.progress import reporter
from pulse.schemas import load_schema
from pulse.schemas.counters import EDGES_FROM_SLICES, counter

__all__ = ["WriteEdgeSlices", "ReadEdgeSlices", "slice_files", "SLICE_EDGES_NAMESPACE"]

SLICE_EDGES_NAMESPACE = "pulse.slice_edges"   # a counter per slice: its start ms, its edges
# Writers a bundle may keep open, one per slice it meets: a day's export shard meets 24
# hourly slices; past this many the rest would go through a shuffle held in memory.
MAX_OPEN_SLICES = 512
_SCHEMA = fastavro.parse_schema(load_schema("edge"))
_GLOBAL = (GlobalWindow(),)


class _EdgeSink(fileio.FileSink):
  """Edges into one Avro file (deflate), written as the records come."""
  def open(self, fh):
    self.writer = fastavro.write.Writer(fh, _SCHEMA, codec="deflate")

  def write(self, record):
    self.writer.write(record)

  def flush(self):
    self.writer.flush()


def _name(slice_start, shard):
  return f"slice-{slice_start}-{shard:05d}.avro"


class _CountSlices(beam.DoFn):
  """Counts each slice's edges (a counter per slice, named by its start), passing the
  edges on keyed by slice start; tells the progress reporter the latest event time."""
  def __init__(self, slice_ms, progress_dir):
    self.slice_ms, self.progress_dir = slice_ms, progress_dir

  def setup(self):
    self.progress = reporter(self.progress_dir)

  def start_bundle(self):
    self.tally, self.latest, self.seen = {}, None, 0

  def process(self, edge):
    at = edge["created_at"]
    start = at - at % self.slice_ms
    self.tally[start] = self.tally.get(start, 0) + 1
    if self.latest is None or at > self.latest:
      self.latest = at
    self.seen += 1
    if (self.seen & 4095) == 0 and self.progress:
      self.progress.add(event_ms=self.latest)
    yield str(start), edge

  def finish_bundle(self):
    for start, count in self.tally.items():
      beam.metrics.Metrics.counter(SLICE_EDGES_NAMESPACE, str(start)).inc(count)
    if self.progress and self.latest is not None:
      self.progress.add(event_ms=self.latest)
      self.progress.write()


class WriteEdgeSlices(beam.PTransform):
  """Edges -> Avro files by slice of event time, in `directory` (any Beam path).

  Args:
    directory: where the slice files go (made if missing).
    slice_ms: the slices' length; a multiple of the window period, so no pane is split.
    progress_dir: a folder the workers tell their progress in (io/progress.py), or None.
  Input: edges (dicts, schemas/edge.avsc). Returns: the files' FileResults.
  """
  def __init__(self, directory, slice_ms, progress_dir=None):
    super().__init__()
    self.directory, self.slice_ms, self.progress_dir = directory, slice_ms, progress_dir

  def expand(self, edges):
    return (edges
            | "BySlice" >> beam.ParDo(_CountSlices(self.slice_ms, self.progress_dir))
            | "Files" >> fileio.WriteToFiles(
                self.directory, destination=lambda keyed: keyed[0],
                sink=lambda _: _KeyedEdgeSink(), shards=1,
                file_naming=lambda _w, _p, shard, _n, _c, destination: _name(
                    destination, shard),
                max_writers_per_bundle=MAX_OPEN_SLICES))


class _KeyedEdgeSink(_EdgeSink):
  def write(self, record):
    self.writer.write(record[1])


def slice_files(directory, slice_starts):
  """The paths of the slice files of the given slice starts, in that order."""
  paths = []
  for start in slice_starts:
    (match,) = FileSystems.match([os.path.join(directory, f"slice-{start}-*.avro")])
    paths.extend(sorted(m.path for m in match.metadata_list))
  return paths


class ReadEdgeSlices(beam.PTransform):
  """Slice files -> edges timestamped by created_at, as ExtractEdges gives them.

  Args:
    paths: the slice files (slice_files()).
  """
  def __init__(self, paths):
    super().__init__()
    self.paths = list(paths)

  def expand(self, pbegin):
    edges_read = counter(EDGES_FROM_SLICES)
    return (pbegin
            | "Files" >> beam.Create(self.paths)
            | "Read" >> beam.io.ReadAllFromAvro()
            | "Timestamp" >> beam.ParDo(_Timestamped(edges_read)))


class _Timestamped(beam.DoFn):
  def __init__(self, edges_read):
    self.edges_read = edges_read

  def start_bundle(self):
    self.count = 0

  def process(self, edge):
    self.count += 1
    yield WindowedValue(edge, Timestamp(micros=edge["created_at"] * 1000), _GLOBAL)

  def finish_bundle(self):
    self.edges_read.inc(self.count)

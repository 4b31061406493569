"""Edges kept on disk between the two passes of a long batch run (pipeline/passes.py): Avro
files of schemas/edge.avsc, one set per slice of event time, so a later run reads exactly
the edges of the slices it covers, whatever order the input held them in.

  DIR/slice-<slice start ms>-<bundle>-<n>.avro

A bundle writes its files in a folder of its own under DIR/.tmp, and they are moved into
DIR only after a shuffle, so only bundles that succeeded are kept (a retried bundle writes
anew: nothing is counted twice). A bundle keeps at most MAX_OPEN_FILES open and closes
the least recently written when it needs another: a local runner's bundle can be the
whole input, which meets a slice per hour it spans (Beam's fileio.WriteToFiles would
send the edges past its limit of writers through a shuffle, held in memory here)."""
import collections
import os
import uuid

import apache_beam as beam
import fastavro
from apache_beam.io.filesystems import FileSystems
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import Timestamp
from apache_beam.utils.windowed_value import WindowedValue

from pulse.io.progress import reporter
from pulse.schemas import load_schema
from pulse.schemas.counters import EDGES_FROM_SLICES, counter

__all__ = ["WriteEdgeSlices", "ReadEdgeSlices", "slice_files", "SLICE_EDGES_NAMESPACE"]

SLICE_EDGES_NAMESPACE = "pulse.slice_edges"   # a counter per slice: its start ms, its edges
MAX_OPEN_FILES = 64        # per bundle; a day's export shard meets 24 hourly slices
_SCHEMA = fastavro.parse_schema(load_schema("edge"))
_GLOBAL = (GlobalWindow(),)


class _WriteSlicesFn(beam.DoFn):
  """Edges -> Avro files by slice in this bundle's own folder under DIR/.tmp; at the end of
  the bundle, that folder's path. Counts each slice's edges (a counter per slice, named by
  its start) and tells the progress reporter the latest event time."""
  def __init__(self, directory, slice_ms, progress_dir):
    self.directory, self.slice_ms, self.progress_dir = directory, slice_ms, progress_dir

  def setup(self):
    self.progress = reporter(self.progress_dir)

  def start_bundle(self):
    self.folder = os.path.join(self.directory, ".tmp", uuid.uuid4().hex)
    os.makedirs(self.folder)
    self.open = collections.OrderedDict()      # slice start -> (file, writer), LRU order
    self.tally, self.latest, self.files = {}, None, 0

  def process(self, edge):
    at = edge["created_at"]
    start = at - at % self.slice_ms
    entry = self.open.get(start)
    if entry is None:
      if len(self.open) >= MAX_OPEN_FILES:
        self._close(self.open.popitem(last=False)[1])
      out = open(os.path.join(self.folder, f"slice-{start}-{self.folder[-12:]}-"
                                           f"{self.files:05d}.avro"), "wb")
      entry = self.open[start] = (out, fastavro.write.Writer(out, _SCHEMA, codec="deflate"))
      self.files += 1
    else:
      self.open.move_to_end(start)
    entry[1].write(edge)
    count = self.tally[start] = self.tally.get(start, 0) + 1
    if self.latest is None or at > self.latest:
      self.latest = at
    if (count & 4095) == 0 and self.progress:
      self.progress.add(event_ms=self.latest)

  @staticmethod
  def _close(entry):
    out, writer = entry
    writer.flush()
    out.close()

  def finish_bundle(self):
    while self.open:
      self._close(self.open.popitem()[1])
    for start, count in self.tally.items():
      beam.metrics.Metrics.counter(SLICE_EDGES_NAMESPACE, str(start)).inc(count)
    if self.progress and self.latest is not None:
      self.progress.add(event_ms=self.latest)
      self.progress.write()
    yield WindowedValue(self.folder, Timestamp(0), _GLOBAL)


def _commit(folder, directory):
  """Moves a succeeded bundle's slice files into directory."""
  for name in os.listdir(folder):
    os.replace(os.path.join(folder, name), os.path.join(directory, name))
  os.rmdir(folder)


class WriteEdgeSlices(beam.PTransform):
  """Edges -> Avro files by slice of event time, in `directory` (a local folder: the
  chunked runs of pipeline/passes.py run on this machine).

  Args:
    directory: where the slice files go (made if missing).
    slice_ms: the slices' length; a multiple of the window period, so no pane is split.
    progress_dir: a folder the workers tell their progress in (io/progress.py), or None.
  Input: edges (dicts, schemas/edge.avsc). Returns: the committed bundles' folders.
  """
  def __init__(self, directory, slice_ms, progress_dir=None):
    super().__init__()
    self.directory, self.slice_ms, self.progress_dir = directory, slice_ms, progress_dir

  def expand(self, edges):
    os.makedirs(self.directory, exist_ok=True)
    return (edges
            | "Write" >> beam.ParDo(_WriteSlicesFn(self.directory, self.slice_ms,
                                                   self.progress_dir))
            | "AfterTheBundles" >> beam.Reshuffle()
            | "Commit" >> beam.Map(lambda folder, directory: _commit(folder, directory) or
                                   folder, self.directory))


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

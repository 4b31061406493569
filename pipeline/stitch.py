"""Runs over adjacent stretches of time into one store give the frames of one run over
all of it. A batch run keeps in the store the summaries of its boundary panes (those
within a window of an end or a gap of its data: transforms/windows.BoundaryPanes), and
completes each window across an end or a gap with the panes that earlier runs kept for
the panes where it has no data, before lineage follows the frames (transforms/lineage.py
then re-follows the stored windows after this run's).

A pane with data in this run is always this run's (a rerun of the same data gives the
same frames; data of one pane split between two runs keeps only the later run's part).
Streaming runs resume from their offsets instead (io/kafka_source.py)."""
import apache_beam as beam

from pulse.io.stores import open_store
from pulse.io.stores.write import WritePanes
from pulse.schemas.counters import WINDOWS_COMPLETED, counter
from pulse.transforms.components import SpanningForest, union
from pulse.transforms.frames import build_frame
from pulse.transforms.windows import BoundaryPanes

class JoinAdjacentRuns(beam.PTransform):
  """Keeps this run's boundary panes and completes its windows across ends and gaps.

  Args:
    uri: the store (one that can_keep_panes).
    geometry: the WindowGeometry.
    min_cluster_size, max_clusters: as the frames'.
    edges: the run's edges (bounded, globally windowed).
  Input: the run's frames. Returns: the same frames, those of windows across an end or a
    gap of this run's data completed with the panes earlier runs kept.
  """
  def __init__(self, uri, geometry, min_cluster_size, max_clusters, edges):
    super().__init__()
    self.uri, self.geometry, self.edges = uri, geometry, edges
    self.min_cluster_size, self.max_clusters = min_cluster_size, max_clusters

  def expand(self, frames):
    boundary = self.edges | "BoundaryPanes" >> BoundaryPanes(self.geometry)
    boundary["panes"] | "KeepPanes" >> WritePanes(self.uri)
    completed = boundary["windows"] | "Complete" >> beam.ParDo(
        _CompleteFn(self.uri, self.geometry, self.min_cluster_size, self.max_clusters))
    return frames | "UseCompleted" >> beam.Map(
        lambda frame, done: done.get(frame["window_start"], frame),
        beam.pvalue.AsDict(completed))


class _CompleteFn(beam.DoFn):
  """(window start, {pane: this run's summary}) -> (window start, the window's frame with
  the panes other runs kept where this run has none), if there are any."""
  def __init__(self, uri, geometry, min_cluster_size, max_clusters):
    self.uri, self.geometry = uri, geometry
    self.min_cluster_size, self.max_clusters = min_cluster_size, max_clusters
    self.completed = counter(WINDOWS_COMPLETED)

  def setup(self):
    self.store = open_store(self.uri)

  def process(self, window):
    start, own = window
    end = start + self.geometry.size_ms
    others = [SpanningForest(edges, pending=links) for pane, edges, links in
              self.store.panes(start, end) if pane not in own]
    if others:
      forest = union(list(own.values()) + others)
      self.completed.inc()
      yield start, build_frame(forest, start, end, self.min_cluster_size,
                               self.max_clusters)

  def teardown(self):
    self.store.close()

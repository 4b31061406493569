"""The pipeline graph: archives -> events -> edges -> windowed components -> frames -> store,
with every step's dead letters collected in one place."""
import apache_beam as beam

from pulse.io.archives import ReadArchives
from pulse.io.frame_store import WriteFrames
from pulse.io.json_lines import WriteDeadLetters, WriteJsonLines
from pulse.pipeline.options import PulseOptions
from pulse.transforms.dead_letters import DEAD
from pulse.transforms.edges import ExtractEdges
from pulse.transforms.events import NormaliseEvents
from pulse.transforms.frames import ToFrames
from pulse.transforms.windows import WindowedComponents


class FramesFromEdges(beam.PTransform):
  """Timestamped edges -> one frame per sliding window."""
  def __init__(self, options):
    super().__init__()
    self.options = options.view_as(PulseOptions)

  def expand(self, edges):
    o = self.options
    return (edges
            | "Windows" >> WindowedComponents(
                o.window_size, o.window_period, sliced=o.windowing == "sliced")
            | "Frames" >> ToFrames(o.min_cluster_size, o.max_clusters))


def build(pipeline, options):
  """Add the Network Pulse graph to `pipeline`; returns the frames PCollection."""
  o = options.view_as(PulseOptions)
  patterns = o.input_patterns()
  if not patterns:
    raise ValueError("no --input given: name GitHub Archive files (JSON hours or Avro)")
  decoded = pipeline | "ReadArchives" >> ReadArchives(patterns)
  events = decoded.records | "NormaliseEvents" >> NormaliseEvents()
  edges = events.events | "Venturi" >> ExtractEdges(
      drop_bots=not o.keep_bots, drop_org_owners=o.drop_org_owners)
  if o.edges_output:
    edges.edges | "WriteEdges" >> WriteJsonLines(o.edges_output)
  frames = edges.edges | "FramesFromEdges" >> FramesFromEdges(o)
  frames | "WriteFrames" >> WriteFrames(o.sink)
  ((decoded[DEAD], events[DEAD], edges[DEAD])
   | "CollectDeadLetters" >> beam.Flatten()
   | "DeadLetters" >> WriteDeadLetters(o.dead_letter_output))
  return frames

"""The names of the pipeline's Metrics counters, all in namespace "pulse": the steps count
under these names and the run's summary reads them back by the same names."""
from apache_beam.metrics import Metrics

from pulse.schemas.dead_letters import STAGES

__all__ = ["NAMESPACE", "FILES_READ", "EVENTS_READ", "EVENTS_NORMALISED", "EDGES", "EDGES_FROM_SLICES", "FRAMES",
           "FRAMES_UPDATED_LATE", "FRAMES_RELINKED", "FRAMES_WRITTEN", "FRAMES_ALREADY_STORED",
           "KAFKA_OFFSETS_COMMITTED", "FRAME_WINDOW_STARTS", "WINDOWS_COMPLETED",
           "DEAD_LETTER_COUNTERS", "counter", "distribution", "dead_letters_of", "no_edge"]

NAMESPACE = "pulse"
FILES_READ = "files_read"
EVENTS_READ = "events_read"                # records read from files, tables or topics
EVENTS_NORMALISED = "events_normalised"
EDGES = "edges"
EDGES_FROM_SLICES = "edges_from_slices"   # read back in the second pass of a long run
FRAMES = "frames"                          # windows with a frame (first pane)
FRAMES_UPDATED_LATE = "frames_updated_late"
# Frames whose lineage changed after they were first followed: the windows after a late
# pane, and other runs' stored windows after this run's (transforms/lineage.py).
FRAMES_RELINKED = "frames_relinked"
FRAMES_WRITTEN = "frames_written"          # frames the store took (rewrites included)
FRAMES_ALREADY_STORED = "frames_already_stored"   # skipped on a resumed Kafka run
KAFKA_OFFSETS_COMMITTED = "kafka_offsets_committed"
# A distribution: the window_start of every frame written, so the summary knows the span
# of windows this run wrote (its min and max) without scanning the store.
FRAME_WINDOW_STARTS = "frame_window_starts"
# Windows across the ends of a batch run's data completed with panes earlier runs kept.
WINDOWS_COMPLETED = "windows_completed_from_kept_panes"


def dead_letters_of(stage):
  """The counter of the dead letters of one stage (schemas/dead_letters.STAGES)."""
  return "dead_letter_" + stage


def no_edge(reason):
  """The counter of the events that gave no edge for this reason (transforms/edges.py)."""
  return "no_edge_" + reason


DEAD_LETTER_COUNTERS = {stage: dead_letters_of(stage) for stage in STAGES}


def counter(name):
  """The Metrics counter pulse/<name>."""
  return Metrics.counter(NAMESPACE, name)


def distribution(name):
  """The Metrics distribution pulse/<name>."""
  return Metrics.distribution(NAMESPACE, name)

"""Sliding event-time windows of edges -> one SpanningForest per window.

Two forms that give identical summaries (the forest is unique, see components.py):
- sliced (default): one summary per period-sized pane, then each sliding window merges the
  summaries of its size/period panes, so every edge is folded once;
- plain: SlidingWindows + CombineGlobally over the edges, the reference, which folds every
  edge size/period times.
"""
import apache_beam as beam
from apache_beam.transforms import trigger, window

from pulse.transforms.components import (ComponentsCombineFn, MergeForestsCombineFn,
                                         link_of)


class WindowedComponents(beam.PTransform):
  """Windows fire when the watermark passes their end; with allowed lateness, each late
  edge fires the window again with everything so far (accumulating), and the frame is
  rewritten."""
  def __init__(self, size_s, period_s, sliced=True, allowed_lateness_s=0):
    super().__init__()
    if period_s <= 0 or size_s <= 0 or size_s % period_s:
      raise ValueError(
          f"window size {size_s}s must be a positive multiple of the period {period_s}s")
    self.size_s = size_s
    self.period_s = period_s
    self.sliced = sliced
    self.allowed_lateness_s = allowed_lateness_s

  def _window_into(self, windowfn):
    if not self.allowed_lateness_s:
      return beam.WindowInto(windowfn)   # one pane per window, at the watermark
    return beam.WindowInto(
        windowfn, trigger=trigger.AfterWatermark(late=trigger.AfterCount(1)),
        accumulation_mode=trigger.AccumulationMode.ACCUMULATING,
        allowed_lateness=self.allowed_lateness_s)

  def expand(self, edges):
    sliding = window.SlidingWindows(self.size_s, self.period_s)
    # Combines are keyed by their window's start, not global: Beam's batch grouping (the
    # FnApiRunner's trigger driver) handles the windows of one key in time quadratic in
    # their number, and keys let a runner spread windows over workers. Same windows,
    # same summaries.
    if not self.sliced:
      return (edges
              | "SlidingWindows" >> self._window_into(sliding)
              | "ToLink" >> beam.ParDo(_LinkByWindow())
              | "Components" >> beam.CombinePerKey(ComponentsCombineFn())
              | "DropKey" >> beam.Values())
    # A pane's summary is stamped at the end of its pane, so SlidingWindows puts it into
    # exactly the size/period windows that contain the pane.
    return (edges
            | "Panes" >> self._window_into(window.FixedWindows(self.period_s))
            | "ToLink" >> beam.ParDo(_LinkByWindow())
            | "PaneComponents" >> beam.CombinePerKey(ComponentsCombineFn())
            | "SlidingWindows" >> self._window_into(sliding)
            | "KeyByWindow" >> beam.ParDo(_KeyByWindow())
            | "MergePanes" >> beam.CombinePerKey(MergeForestsCombineFn())
            | "DropKey" >> beam.Values())


class _KeyByWindow(beam.DoFn):
  def process(self, value, window=beam.DoFn.WindowParam):
    yield window.start.micros, value


class _LinkByWindow(beam.DoFn):
  """An edge as (window start, link tuple)."""
  def process(self, edge, window=beam.DoFn.WindowParam):
    yield window.start.micros, link_of(edge)

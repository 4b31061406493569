"""Sliding event-time windows of edges -> one SpanningForest per window.

Two forms that give identical summaries (the forest is unique, see components.py):
- sliced (default): one summary per period-sized pane, then each sliding window merges the
  summaries of its size/period panes, so every edge is folded once. Edges are folded into
  per-pane summaries within each bundle before they are windowed (combiner lifting, done
  by hand ahead of WindowInto): Beam's own lifting comes after WindowInto, whose window
  assignment costs more per edge (~10 us, measured) than folding the edge;
- plain: SlidingWindows + the union-find combine over the edges, the reference, which folds
  every edge size/period times.
"""
from typing import Tuple

import apache_beam as beam
from apache_beam.transforms import trigger, window
from apache_beam.utils.timestamp import Timestamp
from apache_beam.utils.windowed_value import WindowedValue

from pulse.transforms.components import (ComponentsCombineFn, ForestsCombineFn,
                                         MergeForestsCombineFn, SpanningForest, link_of)


class WindowedComponents(beam.PTransform):
  """Globally windowed, timestamped edges -> one SpanningForest per sliding window.
  Windows fire when the watermark passes their end; with allowed lateness, each late edge
  fires the window again with everything so far (accumulating), and the frame is
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
            | "BundlePanes" >> beam.ParDo(_BundlePanesFn(self.period_s * 1000))
            | "Panes" >> self._window_into(window.FixedWindows(self.period_s))
            | "PaneComponents" >> beam.CombinePerKey(ForestsCombineFn())
            | "SlidingWindows" >> self._window_into(sliding)
            | "KeyByWindow" >> beam.ParDo(_KeyByWindow()).with_output_types(
                Tuple[int, Tuple[int, SpanningForest]])
            | "MergePanes" >> beam.CombinePerKey(MergeForestsCombineFn())
            | "DropKey" >> beam.Values())


class _BundlePanesFn(beam.DoFn):
  """Edges -> (pane start ms, SpanningForest of this bundle's edges in the pane), one per
  pane and bundle, stamped at the pane's start. An edge's pane follows from its
  created_at, which is its timestamp."""
  def __init__(self, period_ms):
    self.period_ms = period_ms
    self.combine = ComponentsCombineFn()
    self.panes = {}

  def start_bundle(self):
    self.panes = {}

  def process(self, edge):
    created_at = edge["created_at"]
    start = created_at - created_at % self.period_ms
    forest = self.panes.get(start)
    if forest is None:
      forest = self.panes[start] = self.combine.create_accumulator()
    self.combine.add_input(forest, link_of(edge))

  def finish_bundle(self):
    panes, self.panes = self.panes, {}
    for start, forest in panes.items():
      yield WindowedValue((start, self.combine.extract_output(forest)),
                          Timestamp(micros=start * 1000), [window.GlobalWindow()])


class _KeyByWindow(beam.DoFn):
  def process(self, value, window=beam.DoFn.WindowParam):
    yield window.start.micros, value


class _LinkByWindow(beam.DoFn):
  """An edge as (window start, link tuple)."""
  def process(self, edge, window=beam.DoFn.WindowParam):
    yield window.start.micros, link_of(edge)

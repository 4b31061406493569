"""Sliding event-time windows of edges -> one SpanningForest per window.

Two forms that give identical summaries (the forest is unique, see components.py):
- sliced (default): one summary per period-sized pane, then each sliding window merges the
  summaries of its size/period panes, so every edge is folded once. Edges are folded into
  per-pane summaries within each bundle before they are windowed (combiner lifting, done
  by hand ahead of WindowInto): Beam's own lifting comes after WindowInto, whose window
  assignment costs more per edge (~10 us, measured) than folding the edge. The pane
  summaries are grouped by blocks of windows (below), so that each crosses the shuffle
  about once, not size/period times;
- plain: SlidingWindows + the union-find combine over the edges, the reference, which folds
  every edge size/period times.
"""
from typing import Tuple

import apache_beam as beam
from apache_beam.transforms import trigger, window
from apache_beam.utils.timestamp import Timestamp
from apache_beam.utils.windowed_value import WindowedValue

from pulse.transforms.components import (ComponentsCombineFn, PanesCombineFn,
                                         SpanningForest, link_of, union)


class WindowedComponents(beam.PTransform):
  """Globally windowed, timestamped edges -> one SpanningForest per sliding window.
  Windows fire when the watermark passes their end; with allowed lateness, each late edge
  fires the window again with everything so far (accumulating), and the frame is
  rewritten."""
  def __init__(self, size_s, period_s, sliced=True, allowed_lateness_s=0,
               panes_per_block=None):
    super().__init__()
    if period_s <= 0 or size_s <= 0 or size_s % period_s:
      raise ValueError(
          f"window size {size_s}s must be a positive multiple of the period {period_s}s")
    self.size_s = size_s
    self.period_s = period_s
    self.sliced = sliced
    self.allowed_lateness_s = allowed_lateness_s
    self.panes_per_block = panes_per_block     # None: by boundedness (see expand)

  def _window_into(self, windowfn):
    if not self.allowed_lateness_s:
      return beam.WindowInto(windowfn)   # one pane per window, at the watermark
    return beam.WindowInto(
        windowfn, trigger=trigger.AfterWatermark(late=trigger.AfterCount(1)),
        accumulation_mode=trigger.AccumulationMode.ACCUMULATING,
        allowed_lateness=self.allowed_lateness_s)

  def expand(self, edges):
    # Combines are keyed by their window's start, not global: Beam's batch grouping (the
    # FnApiRunner's trigger driver) handles the windows of one key in time quadratic in
    # their number, and keys let a runner spread windows over workers. Same windows,
    # same summaries.
    if not self.sliced:
      return (edges
              | "SlidingWindows" >> self._window_into(
                  window.SlidingWindows(self.size_s, self.period_s))
              | "ToLink" >> beam.ParDo(_LinkByWindow())
              | "Components" >> beam.CombinePerKey(ComponentsCombineFn())
              | "DropKey" >> beam.Values())
    # A block is the windows that end in `block` consecutive panes; its window holds
    # those panes and the size/period - 1 before them, so a pane summary (stamped at its
    # pane's start) goes to 1 + (size/period - 1) / block blocks. One pane per block when
    # streaming (a block is then one sliding window, fired as soon as it can be); in
    # batch, 4 size/period panes, so a pane crosses the shuffle ~1.25 times.
    panes = self.size_s // self.period_s
    block = self.panes_per_block or (4 * panes if edges.is_bounded else 1)
    blocks = window.SlidingWindows((block + panes - 1) * self.period_s,
                                   block * self.period_s,
                                   offset=-(panes - 1) * self.period_s)
    return (edges
            | "BundlePanes" >> beam.ParDo(_BundlePanesFn(self.period_s * 1000))
            | "Blocks" >> self._window_into(blocks)
            | "KeyByBlock" >> beam.ParDo(_KeyByWindow()).with_output_types(
                Tuple[int, Tuple[int, SpanningForest]])
            | "BlockPanes" >> beam.CombinePerKey(PanesCombineFn())
            | "SplitBlocks" >> beam.ParDo(_SplitBlockFn(self.size_s * 1000,
                                                        self.period_s * 1000)))


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


class _SplitBlockFn(beam.DoFn):
  """(block key, {pane start: SpanningForest}) -> the SpanningForest of each sliding
  window that ends in the block and holds edges, in its own window, with the block's
  pane (timing) and a window's usual output timestamp (its end)."""
  def __init__(self, size_ms, period_ms):
    self.size_ms = size_ms
    self.period_ms = period_ms

  def process(self, keyed, block=beam.DoFn.WindowParam, pane=beam.DoFn.PaneInfoParam):
    _, panes = keyed
    size, period = self.size_ms, self.period_ms
    block_start, block_end = block.start.micros // 1000, block.end.micros // 1000
    for end in range(block_start + size, block_end + 1, period):
      parts = [panes[p] for p in range(end - size, end, period) if p in panes]
      if parts:
        sliding = window.IntervalWindow(Timestamp(micros=(end - size) * 1000),
                                        Timestamp(micros=end * 1000))
        yield WindowedValue(union(parts), sliding.max_timestamp(), [sliding], pane)


class _KeyByWindow(beam.DoFn):
  def process(self, value, window=beam.DoFn.WindowParam):
    yield window.start.micros, value


class _LinkByWindow(beam.DoFn):
  """An edge as (window start, link tuple)."""
  def process(self, edge, window=beam.DoFn.WindowParam):
    yield window.start.micros, link_of(edge)

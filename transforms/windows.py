"""Sliding event-time windows of edges -> one SpanningForest per window.

A windowing strategy is a PTransform class in WINDOWINGS (below), made from the pipeline's
WindowGeometry (schemas/windows.py) and any options of its own. The two here give identical
summaries (the forest is unique, see components.py):
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

__all__ = ["WindowedComponents", "SlicedComponents", "PlainComponents", "WINDOWINGS",
           "BoundaryPanes"]


def _window_into(windowfn, geometry):
  """WindowInto firing each window when the watermark passes its end; with allowed
  lateness, each late edge fires the window again with everything so far (accumulating),
  and the frame is rewritten."""
  if not geometry.allowed_lateness_s:
    return beam.WindowInto(windowfn)   # one pane per window, at the watermark
  return beam.WindowInto(
      windowfn, trigger=trigger.AfterWatermark(late=trigger.AfterCount(1)),
      accumulation_mode=trigger.AccumulationMode.ACCUMULATING,
      allowed_lateness=geometry.allowed_lateness_s)

# Combines are keyed by their window's start, not global: Beam's batch grouping (the
# FnApiRunner's trigger driver) handles the windows of one key in time quadratic in their
# number, and keys let a runner spread windows over workers. Same windows, same summaries.


class PlainComponents(beam.PTransform):
  """The reference form: Beam's SlidingWindows + the union-find combine over the edges.

  Args:
    geometry: the WindowGeometry.
  Input: globally windowed edges (dicts, schemas/edge.avsc) timestamped by created_at.
  Returns: one SpanningForest per sliding window that holds edges, in that window.
  """
  def __init__(self, geometry):
    super().__init__()
    self.geometry = geometry

  def expand(self, edges):
    g = self.geometry
    return (edges
            | "SlidingWindows" >> _window_into(
                window.SlidingWindows(g.size_s, g.period_s), g)
            | "ToLink" >> beam.ParDo(_LinkByWindow())
            | "Components" >> beam.CombinePerKey(ComponentsCombineFn())
            | "DropKey" >> beam.Values())


class SlicedComponents(beam.PTransform):
  """The sliced form: a summary per pane, each window the merge of its panes' summaries.

  Args:
    geometry: the WindowGeometry.
    panes_per_block: the panes of window ends grouped in one block; None: 4 size/period
      when the input is bounded, else 1 (a block is then one window, fired at once).
  Input and output: as PlainComponents, with identical forests.
  """
  def __init__(self, geometry, panes_per_block=None):
    super().__init__()
    self.geometry = geometry
    self.panes_per_block = panes_per_block

  def expand(self, edges):
    # A block is the windows that end in `block` consecutive panes; its window holds
    # those panes and the size/period - 1 before them, so a pane summary (stamped at its
    # pane's start) goes to 1 + (size/period - 1) / block blocks. In batch, 4 size/period
    # panes a block, so a pane crosses the shuffle ~1.25 times.
    g = self.geometry
    block = self.panes_per_block or (4 * g.panes if edges.is_bounded else 1)
    return (edges
            | "BundlePanes" >> beam.ParDo(_BundlePanesFn(g))
            | "Blocks" >> _window_into(window.SlidingWindows(*g.block(block)), g)
            | "KeyByBlock" >> beam.ParDo(_KeyByWindow()).with_output_types(
                Tuple[int, Tuple[int, SpanningForest]])
            | "BlockPanes" >> beam.CombinePerKey(PanesCombineFn())
            | "SplitBlocks" >> beam.ParDo(_SplitBlockFn(g)))


# The windowing strategies by name (--windowing). Adding one: a PTransform class taking
# the WindowGeometry (and options of its own), as those above, and a line here.
WINDOWINGS = {"sliced": SlicedComponents, "plain": PlainComponents}


class WindowedComponents(beam.PTransform):
  """Globally windowed, timestamped edges -> one SpanningForest per sliding window, by the
  named windowing strategy.

  Args:
    geometry: the WindowGeometry (size, period, allowed lateness).
    windowing: a name in WINDOWINGS.
    **options: the strategy's own options (SlicedComponents: panes_per_block).
  Input: globally windowed edges timestamped by created_at.
  Returns: one SpanningForest per window holding edges, in that sliding window.
  """
  def __init__(self, geometry, windowing="sliced", **options):
    super().__init__()
    if windowing not in WINDOWINGS:
      raise ValueError(f"unknown windowing {windowing!r}: use one of "
                       f"{', '.join(WINDOWINGS)}")
    self.strategy = WINDOWINGS[windowing](geometry, **options)

  def expand(self, edges):
    return edges | self.strategy


class BoundaryPanes(beam.PTransform):
  """The panes of a bounded input that windows reaching past the ends of its data (or
  across a gap in it) also hold, so that runs over adjacent time can complete those
  windows (pipeline/stitch.py): a pane with data is a boundary pane when a pane without
  data lies within size/period - 1 panes of it.

  Args:
    geometry: the WindowGeometry.
  Input: globally windowed edges timestamped by created_at (bounded).
  Returns: a tagged result: "panes", (pane start ms, SpanningForest) of each boundary
    pane; "windows", (window start ms, {pane start: SpanningForest}) for each window that
    holds both panes with data and panes without, with all its panes that have data.
  """
  def __init__(self, geometry):
    super().__init__()
    self.geometry = geometry

  def expand(self, edges):
    panes = (edges
             | "BundlePanes" >> beam.ParDo(_BundlePanesFn(self.geometry))
             | "PerPane" >> beam.CombinePerKey(union))
    covered = (panes
               | "Starts" >> beam.Keys()
               | "Covered" >> beam.combiners.ToSet())
    near = panes | "NearGaps" >> beam.ParDo(
        _NearGapsFn(self.geometry), beam.pvalue.AsSingleton(covered)).with_outputs(
            "windows", main="panes")
    windows = (near.windows
               | "ByWindow" >> beam.GroupByKey()
               | "PanesOfWindow" >> beam.MapTuple(lambda start, panes: (start, dict(panes))))
    return {"panes": near.panes, "windows": windows}


class _NearGapsFn(beam.DoFn):
  def __init__(self, geometry):
    self.geometry = geometry

  def process(self, pane, covered):
    starts = self.geometry.straddling_windows(pane[0], covered)
    if starts:
      yield pane
      for start in starts:
        yield beam.pvalue.TaggedOutput("windows", (start, pane))


class _BundlePanesFn(beam.DoFn):
  """Edges -> (pane start ms, SpanningForest of this bundle's edges in the pane), one per
  pane and bundle, stamped at the pane's start. An edge's pane follows from its
  created_at, which is its timestamp."""
  def __init__(self, geometry):
    self.geometry = geometry
    self.combine = ComponentsCombineFn()
    self.panes = {}

  def start_bundle(self):
    self.panes = {}

  def process(self, edge):
    start = self.geometry.pane_start(edge["created_at"])
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
  def __init__(self, geometry):
    self.geometry = geometry

  def process(self, keyed, block=beam.DoFn.WindowParam, pane=beam.DoFn.PaneInfoParam):
    _, panes = keyed
    g = self.geometry
    for end in g.window_ends_in(block.start.micros // 1000, block.end.micros // 1000):
      parts = [panes[p] for p in g.panes_of(end) if p in panes]
      if parts:
        sliding = window.IntervalWindow(Timestamp(micros=(end - g.size_ms) * 1000),
                                        Timestamp(micros=end * 1000))
        yield WindowedValue(union(parts), sliding.max_timestamp(), [sliding], pane)


class _KeyByWindow(beam.DoFn):
  def process(self, value, window=beam.DoFn.WindowParam):
    yield window.start.micros, value


class _LinkByWindow(beam.DoFn):
  """An edge as (window start, link tuple)."""
  def process(self, edge, window=beam.DoFn.WindowParam):
    yield window.start.micros, link_of(edge)

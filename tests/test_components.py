"""The union-find CombineFn against networkx and scipy on the real hours' edges, under any
order and any split into partial summaries; and the windowed forms in Beam."""
import gzip
import random

import apache_beam as beam
import networkx as nx
import pytest
from apache_beam.testing.test_stream import TestStream
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms.window import TimestampedValue

from helpers import HOURS, batch_test_pipeline
from pulse.io.json_records import decode_lines
from pulse.transforms.components import (ComponentsCombineFn, PanesCombineFn,
                                         SpanningForest, SpanningForestCoder, link_of,
                                         union)
from pulse.transforms.edges import edge_of
from pulse.transforms.events import normalise
from pulse.transforms.frames import build_frame
from pulse.schemas.windows import WindowGeometry
from pulse.transforms.windows import WindowedComponents


def real_edges(year):
  with gzip.open(HOURS[year]) as f:
    edges = [edge_of(normalise(record))[0] for _, record in decode_lines(f)]
  return [e for e in edges if e]


def combine(fn, items, splits, rng):
  """Run fn as Beam may: items split into partial accumulators, merged in random groups."""
  items = list(items)
  rng.shuffle(items)
  cuts = sorted(rng.sample(range(1, len(items)), splits - 1)) if splits > 1 else []
  accumulators = []
  for part in (items[a:b] for a, b in zip([0] + cuts, cuts + [len(items)])):
    acc = fn.create_accumulator()
    for item in part:
      acc = fn.add_input(acc, item)
    accumulators.append(fn.compact(acc) if rng.random() < 0.5 else acc)
  while len(accumulators) > 1:
    rng.shuffle(accumulators)
    k = rng.randint(2, len(accumulators))
    accumulators = [fn.merge_accumulators(accumulators[:k])] + accumulators[k:]
  return fn.extract_output(accumulators[0])


def components(forest):
  frame = build_frame(forest, 0, 1, min_cluster_size=1, max_clusters=10**9)
  return sorted(tuple(c["members"]) for c in frame["clusters"])


def oracle(edges):
  graph = nx.Graph((e["src"], e["dst"]) for e in edges)
  return sorted(tuple(sorted(c)) for c in nx.connected_components(graph))


@pytest.mark.parametrize("year", sorted(HOURS))
def test_any_order_and_split_gives_networkx_components(year):
  edges = real_edges(year)
  rng = random.Random(year)
  expected = oracle(edges)
  reference = None
  for splits in (1, 2, 7, 40):
    forest = combine(ComponentsCombineFn(), map(link_of, edges), splits, rng)
    assert forest.edges == len(edges)
    assert components(forest) == expected
    assert reference is None or forest == reference     # the same unique forest
    reference = forest


def test_scipy_agrees_on_component_count():
  from scipy.sparse import coo_matrix
  from scipy.sparse.csgraph import connected_components
  edges = real_edges("2015")
  ids = {login: i for i, login in enumerate(
      sorted({e["src"] for e in edges} | {e["dst"] for e in edges}))}
  matrix = coo_matrix(([1] * len(edges), ([ids[e["src"]] for e in edges],
                                          [ids[e["dst"]] for e in edges])),
                      shape=(len(ids), len(ids)))
  count, _ = connected_components(matrix, directed=False)
  forest = combine(ComponentsCombineFn(), map(link_of, edges), 5, random.Random(1))
  assert len(components(forest)) == count


def test_merging_pane_summaries_equals_folding_edges():
  """Parts of panes (bundles' summaries) combined per pane, then the panes merged."""
  edges = real_edges("2012")
  rng = random.Random(3)
  fn = ComponentsCombineFn()
  parts = [(i % 6, combine(fn, map(link_of, edges[i::18]), 2, rng)) for i in range(18)]
  panes = combine(PanesCombineFn(), parts, 3, rng)
  assert sorted(panes) == list(range(6))
  for start, forest in panes.items():
    assert forest == combine(fn, (link_of(e) for i, e in enumerate(edges)
                                  if i % 18 % 6 == start), 1, rng)
  assert union(panes.values()) == combine(fn, map(link_of, edges), 1, rng)


def test_merge_and_extract_never_change_their_inputs():
  """Beam issue 13061: one accumulator may belong to several sliding windows."""
  fn = ComponentsCombineFn()
  links = [link_of(e) for e in real_edges("2011")]
  a, b = fn.create_accumulator(), fn.create_accumulator()
  for link in links[:300]:
    fn.add_input(a, link)
  for link in links[300:]:
    fn.add_input(b, link)
  before = [SpanningForest(x.edges, x.links, x.pending, second=x.second) for x in (a, b)]
  merged = fn.merge_accumulators([a, b])
  output = fn.extract_output(a)
  panes = PanesCombineFn()
  panes.extract_output(panes.add_input(panes.add_input(panes.create_accumulator(), (0, b)),
                                       (0, a)))
  assert [a, b] == before     # extract may fold pending edges in: same summary
  # Outputs share no state with their inputs: adding to an input later leaves them be.
  output_then, merged_then = (SpanningForest(x.edges, x.links, second=x.second)
                               for x in (output, merged))
  fn.add_input(a, (2**62, "x", "new-a", "new-b", "PushEvent"))
  a.fold()                  # in order: extends a's links in place
  assert (output, merged) == (output_then, merged_then)


def test_coder_round_trip():
  forest = combine(ComponentsCombineFn(), map(link_of, real_edges("2011")), 2,
                   random.Random(5))
  coder = SpanningForestCoder()
  assert coder.decode(coder.encode(forest)) == forest
  assert isinstance(coder.decode(coder.encode(forest)).links[0], tuple)


def _timestamped(edges):
  return [TimestampedValue(e, e["created_at"] / 1000) for e in edges]


def _frames_of(forests, label="Frames"):
  return forests | label >> beam.ParDo(_WindowFrame())


class _WindowFrame(beam.DoFn):
  def process(self, forest, window=beam.DoFn.WindowParam):
    frame = build_frame(forest, window.start.micros // 1000, window.end.micros // 1000, 2,
                        max_clusters=10**6)
    yield frame["id"], frame["edges"], sorted(tuple(c["members"]) for c in frame["clusters"])


@pytest.mark.parametrize("size_s", [60, 120, 300, 1380])   # 1, 2, 5 and 23 panes
@pytest.mark.parametrize("block", [None, 1, 3])      # None: batch's 4 size/period panes
def test_sliced_and_plain_windows_agree_in_beam(size_s, block):
  edges = real_edges("2011")
  size_ms = size_s * 1000
  with batch_test_pipeline() as p:
    stamped = p | beam.Create(_timestamped(edges))
    sliced = _frames_of(stamped | "sliced" >> WindowedComponents(
        WindowGeometry(size_s, 60), "sliced", panes_per_block=block))
    plain = _frames_of(stamped | "plain" >> WindowedComponents(WindowGeometry(size_s, 60), "plain"),
                       "PlainFrames")
    expected = []
    t0 = min(e["created_at"] for e in edges) // 60_000 * 60_000
    for start in range(t0 - size_ms + 60_000, max(e["created_at"] for e in edges) + 1,
                       60_000):
      mine = [e for e in edges if start <= e["created_at"] < start + size_ms]
      if mine:
        expected.append((f"{start}-{start + size_ms}", len(mine),
                         [c for c in oracle(mine)]))
    assert_that(sliced, equal_to(expected), label="sliced")
    assert_that(plain, equal_to(expected), label="plain")


def test_window_size_must_be_a_multiple_of_the_period():
  with pytest.raises(ValueError, match="multiple"):
    WindowGeometry(100, 60)


def _edge(second, src, dst, n):
  return {"type": "WatchEvent", "id": str(n), "created_at": second * 1000, "src": src,
          "dst": dst, "repo": None}


@pytest.mark.parametrize("windowing, own", [("sliced", {}), ("sliced", {"panes_per_block": 3}),
                                            ("plain", {})])
def test_test_stream_windows_fire_at_the_watermark_with_out_of_order_edges(windowing, own):
  """Edges arrive out of order within the watermark; each window's frame comes out once,
  complete, when the watermark passes its end."""
  from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
  from apache_beam.testing.test_pipeline import TestPipeline
  options = PipelineOptions(runner="BundleBasedDirectRunner")
  options.view_as(StandardOptions).streaming = True
  stream = (TestStream()
            .advance_watermark_to(0)
            .add_elements([TimestampedValue(_edge(25, "b", "c", 2), 25),
                           TimestampedValue(_edge(5, "a", "b", 1), 5)])
            .advance_watermark_to(19)
            .add_elements([TimestampedValue(_edge(12, "d", "e", 3), 12)])
            .advance_watermark_to(40)
            .add_elements([TimestampedValue(_edge(45, "e", "f", 4), 45)])
            .advance_watermark_to_infinity())
  with TestPipeline(options=options) as p:
    edges = p | stream
    frames = _frames_of(edges | WindowedComponents(WindowGeometry(20, 10), windowing, **own))
    assert_that(frames, equal_to([
        ("-10000-10000", 1, [("a", "b")]),
        ("0-20000", 2, [("a", "b"), ("d", "e")]),
        ("10000-30000", 2, [("b", "c"), ("d", "e")]),
        ("20000-40000", 1, [("b", "c")]),
        ("30000-50000", 1, [("e", "f")]),
        ("40000-60000", 1, [("e", "f")]),
    ]))

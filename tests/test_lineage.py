"""Lineage (transforms/lineage.py): the rule on hand-made windows, its independence of how
the input is ordered and split (hypothesis), and the Beam step: frames arriving in any
order, a late pane re-following the windows after it (TestStream), and stored frames of
other runs. The real hours against an independent networkx oracle: test_lineage_oracle.py."""
import random

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.test_stream import TestStream
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms.window import TimestampedValue
from hypothesis import given, settings, strategies as st

from pulse.schemas.windows import WindowGeometry
from pulse.transforms.components import ComponentsCombineFn
from pulse.transforms.frames import ToFrames, build_frame
from pulse.transforms.lineage import FollowClusters, follow, lineage
from pulse.transforms.windows import WindowedComponents
from test_properties import combine


def _frame(start, *groups, listed=None):
  """A frame of the window of 20 s at `start` s whose clusters have these members (as build_frame
  makes it: largest first, all born); `listed` of them in clusters, the rest in
  more_clusters."""
  start *= 1000
  links = [(start, f"{start}:{g}:{i}", group[0], login, "T")
           for g, group in enumerate(groups) for i, login in enumerate(group[1:])]
  fn = ComponentsCombineFn()
  forest = fn.create_accumulator()
  for link in links:
    forest = fn.add_input(forest, link)
  return build_frame(fn.extract_output(forest), start, start + 20000, min_cluster_size=2,
                     max_clusters=len(groups) if listed is None else listed)


def _view(frame):
  """(id, change, from) of each cluster, listed or not, and the dissolved ids."""
  return ([(c["id"], c["change"], [(f["id"], f["shared"]) for f in c["from"]])
           for c in frame["clusters"] + frame["more_clusters"]], frame["dissolved"])


def test_a_window_after_one_without_edges_is_all_born_and_dissolves_nothing():
  frame = follow(None, _frame(10, "abc", "de"))
  assert _view(frame) == ([("10000/a", "born", []), ("10000/d", "born", [])], [])


def test_a_cluster_that_stays_keeps_its_id_and_one_without_successor_dissolves():
  before = follow(None, _frame(0, "abc", "xy"))
  after = follow(before, _frame(10, "abcd"))
  assert _view(after) == ([("0/a", "continued", [("0/a", 3)])], ["0/x"])


def test_a_merge_keeps_the_id_of_the_predecessor_it_shares_most_with():
  before = follow(None, _frame(0, "abc", "de", "fgh"))
  after = follow(before, _frame(10, "abcdefgh"))
  # shared 3 and 3: the larger first is not decided by size (equal) but by id.
  assert _view(after) == ([("0/a", "merged", [("0/a", 3), ("0/f", 3), ("0/d", 2)])], [])


def test_a_split_continues_in_the_part_sharing_most_and_the_rest_is_new():
  before = follow(None, _frame(0, "abcdefg"))
  after = follow(before, _frame(10, "abcd", "efg"))
  assert _view(after) == ([("0/a", "continued", [("0/a", 4)]),
                           ("10000/e", "split", [("0/a", 3)])], [])


def test_ties_rank_predecessors_by_size_then_id_and_successors_by_size_then_first_member():
  before = follow(None, _frame(0, "bz", "ayq"))   # ids 0/a (3 members) and 0/b (2)
  # {a, b, c}: shares one member with each; the larger predecessor (0/a) ranks first.
  after = follow(before, _frame(10, "abc", "qy"))
  # 0/a's successors: {a,b,c} shares 1, {q,y} shares 2: {q,y} is its first successor, so
  # {a,b,c} continues nothing and is merged from both; {q,y} continues 0/a.
  assert _view(after) == ([("10000/a", "merged", [("0/a", 1), ("0/b", 1)]),
                           ("0/a", "continued", [("0/a", 2)])], [])
  # Equal shares and sizes: the successor with the first first member continues.
  split = follow(follow(None, _frame(0, "abcd")), _frame(10, "ab", "cd"))
  assert _view(split) == ([("0/a", "continued", [("0/a", 2)]),
                           ("10000/c", "split", [("0/a", 2)])], [])


def test_clusters_past_max_clusters_are_followed_too_and_inputs_are_left_alone():
  before = follow(None, _frame(0, "abcd", "xyz", listed=1))
  later = _frame(10, "abcd", "xyz", listed=1)
  copy = repr(later)
  after = follow(before, later)
  assert repr(later) == copy and before["dissolved"] == []
  assert [c["id"] for c in after["clusters"]] == ["0/a"]
  assert [(c["id"], c["change"]) for c in after["more_clusters"]] == [("0/x", "continued")]


def _follow_all(frames):
  out, previous = [], None
  for frame in sorted(frames, key=lambda f: f["window_start"]):
    previous = follow(previous if previous and
                      previous["window_start"] == frame["window_start"] - 10000 else None, frame)
    out.append(previous)
  return out


LINKS = st.lists(st.tuples(st.integers(0, 59), st.sampled_from("abcdefghij"),
                           st.sampled_from("abcdefghij")), max_size=30)


@settings(max_examples=60, deadline=None)
@given(edges=LINKS, data=st.data())
def test_lineage_depends_only_on_the_windows_members_not_on_order_or_split(edges, data):
  """Windows of 20 s every 10 s built from the edges in any order and any split into
  partial summaries (test_properties.combine) give the same lineage as in order."""
  edges = [(t * 1000, f"e{i}", a, b, "T") for i, (t, a, b) in enumerate(edges) if a != b]
  starts = sorted({t - t % 10000 - d for t, *_ in edges for d in (0, 10000)})

  def frames(shuffled):
    made = []
    for start in starts:
      mine = [e for e in edges if start <= e[0] < start + 20000]
      if mine:
        forest = (combine(ComponentsCombineFn(), mine, data) if shuffled else
                  _sequential(mine))
        made.append(build_frame(forest, start, start + 20000, 2, 1))
    return made

  assert [lineage(f) for f in _follow_all(frames(True))] == \
         [lineage(f) for f in _follow_all(frames(False))]


def _sequential(edges):
  fn = ComponentsCombineFn()
  forest = fn.create_accumulator()
  for edge in edges:
    forest = fn.add_input(forest, edge)
  return fn.extract_output(forest)


def test_the_beam_step_follows_frames_arriving_in_any_order_as_in_window_order():
  frames = [_frame(start, *groups) for start, groups in [
      (0, ("abc",)), (10, ("abcd", "xy")), (20, ("ab", "cdxy")), (30, ("cdxyz",)),
      (50, ("cdx",))]]
  expected = sorted(lineage(f) for f in _follow_all(frames))
  shuffled = frames[:]
  random.Random(7).shuffle(shuffled)
  with TestPipeline() as p:
    got = (p | beam.Create([TimestampedValue(f, f["window_end"] / 1000 - 0.001)
                            for f in shuffled])
           | FollowClusters(WindowGeometry(20, 10)) | beam.Map(lineage))
    assert_that(got, equal_to(expected))


def _edge(second, src, dst, n):
  return TimestampedValue({"type": "WatchEvent", "id": str(n), "created_at": second * 1000,
                           "src": src, "dst": dst, "repo": None}, second)


def test_a_late_pane_rewrites_its_window_and_refollows_the_windows_after_it():
  """a-b at 5 s and c-d at 15 s, windows of 20 s every 10 s: [0, 20) holds two clusters
  and [10, 30) continues the second. A late b-c at 8 s joins a, b, c, d in [0, 20): that
  cluster continues -10000/a, and so [10, 30)'s c-d now continues -10000/a too."""
  stream = (TestStream()
            .advance_watermark_to(0)
            .add_elements([_edge(5, "a", "b", 1), _edge(15, "c", "d", 2)])
            .advance_watermark_to(35)              # closes windows up to [10, 30)
            .add_elements([_edge(8, "b", "c", 3)])   # late, within 30 s of lateness
            .advance_watermark_to(90)
            .advance_watermark_to_infinity())
  options = PipelineOptions(runner="BundleBasedDirectRunner")
  options.view_as(StandardOptions).streaming = True
  geometry = WindowGeometry(20, 10, 30)
  with TestPipeline(options=options) as p:
    emitted = (p | stream
               | WindowedComponents(geometry, "sliced")
               | ToFrames(min_cluster_size=2)
               | FollowClusters(geometry)
               | beam.Map(lambda f: (f["id"], _view(f))))
    assert_that(emitted, equal_to([
        ("-10000-10000", ([("-10000/a", "born", [])], [])),
        ("0-20000", ([("-10000/a", "continued", [("-10000/a", 2)]),
                      ("0/c", "born", [])], [])),
        ("10000-30000", ([("0/c", "continued", [("0/c", 2)])], ["-10000/a"])),
        # the late pane: both windows holding 8 s, then the window after them
        ("-10000-10000", ([("-10000/a", "born", [])], [])),
        ("0-20000", ([("-10000/a", "continued", [("-10000/a", 3)])], [])),
        ("10000-30000", ([("-10000/a", "continued", [("-10000/a", 2)])], [])),
    ]))


def test_a_bounded_run_refollows_the_stored_windows_after_its_own():
  """Stored frames of a later run, [20, 40) and [40, 60) with none between, were followed
  without this run's [10, 30): [20, 40) is followed again; [40, 60), after a window
  without edges, keeps its lineage and is not rewritten."""
  stored = {f["window_start"]: f for f in _follow_all([_frame(20, "abc"), _frame(40, "abc")])}
  mine = [_frame(0, "abcd"), _frame(10, "abcd")]
  with TestPipeline() as p:
    got = (p | beam.Create([TimestampedValue(f, f["window_end"] / 1000 - 0.001)
                            for f in mine])
           | FollowClusters(WindowGeometry(20, 10), stored.get)
           | beam.Map(lambda f: (f["id"], _view(f))))
    assert_that(got, equal_to([
        ("0-20000", ([("0/a", "born", [])], [])),
        ("10000-30000", ([("0/a", "continued", [("0/a", 4)])], [])),
        ("20000-40000", ([("0/a", "continued", [("0/a", 3)])], [])),
    ]))

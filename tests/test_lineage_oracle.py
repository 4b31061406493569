"""Cluster lineage (ids, from, change, dissolved) and brokers of every window of every real
hour against an independent oracle (tests/lineage_oracle.py: networkx over the run's
--edges_output); and the oracle itself on tiny hand-made edge lists."""
import collections

import pytest

from helpers import HOURS, make_runner
from lineage_oracle import _Edges, lineage, window_brokers, window_clusters, window_starts

# name -> (flags, window size ms, period ms, min_cluster_size, max_clusters)
GEOMETRIES = {
    # 300 s every 60 s; pairs count, and a small cap so that most clusters are in
    # more_clusters.
    "300s": (("--window_size=300", "--window_period=60", "--min_cluster_size=2",
              "--max_clusters=5"), 300_000, 60_000, 2, 5),
    # every default: 600 s every 60 s, clusters of 3+, at most 50 listed in clusters.
    "defaults": ((), 600_000, 60_000, 3, 50),
}
CASES = [(year, geometry) for year in sorted(HOURS) for geometry in GEOMETRIES]
CASE_IDS = [f"{year}-{geometry}" for year, geometry in CASES]


@pytest.fixture(scope="module")
def lineage_runs(tmp_path_factory):
  """get(year, geometry) -> (PulseRun, its frames, the oracle's frames): one pipeline run
  per hour and geometry, shared by this module's tests."""
  run = make_runner(tmp_path_factory.mktemp("lineage"))
  cache = {}

  def get(year, geometry):
    if (year, geometry) not in cache:
      flags, size_ms, period_ms, min_size, _ = GEOMETRIES[geometry]
      result = run(HOURS[year], *flags)
      edges = result.edges
      assert edges
      cache[year, geometry] = (result, result.frames,
                               lineage(edges, size_ms, period_ms, min_size))
    return cache[year, geometry]

  return get


def _key(cluster):
  return (cluster["id"], tuple(sorted(cluster["members"])),
          tuple((f["id"], f["shared"]) for f in cluster["from"]), cluster["change"])


def _all_clusters(frame):
  return frame["clusters"] + frame["more_clusters"]


@pytest.mark.parametrize("year,geometry", CASES, ids=CASE_IDS)
def test_lineage_matches_the_oracle(lineage_runs, year, geometry):
  _, frames, expected = lineage_runs(year, geometry)
  assert [f["window_start"] for f in frames] == sorted(expected)
  problems = []
  for frame in frames:
    want = expected[frame["window_start"]]
    assert frame["window_end"] == want["window_end"]
    got_keys = [_key(c) for c in _all_clusters(frame)]
    assert len(set(got_keys)) == len(got_keys), frame["window_start"]
    got_keys, want_keys = set(got_keys), {_key(c) for c in want["clusters"]}
    if got_keys != want_keys or frame["dissolved"] != want["dissolved"]:
      problems.append({
          "window_start": frame["window_start"],
          "expected, not got": sorted(want_keys - got_keys)[:3],
          "got, not expected": sorted(got_keys - want_keys)[:3],
          "dissolved (got, expected)": (frame["dissolved"], want["dissolved"])
          if frame["dissolved"] != want["dissolved"] else None})
  assert not problems, f"{len(problems)} of {len(frames)} windows differ; first: " \
      f"{problems[:2]}"


@pytest.mark.parametrize("year,geometry", CASES, ids=CASE_IDS)
def test_clusters_are_the_largest_and_more_clusters_the_rest(lineage_runs, year, geometry):
  """clusters: the largest max_clusters (with links and hub); more_clusters: every other
  cluster of min_cluster_size or more (without them)."""
  _, frames, expected = lineage_runs(year, geometry)
  *_, min_size, max_clusters = GEOMETRIES[geometry]
  for frame in frames:
    total = len(expected[frame["window_start"]]["clusters"])
    clusters, more = frame["clusters"], frame["more_clusters"]
    assert len(clusters) == min(total, max_clusters)
    assert len(clusters) + len(more) == total
    for c in clusters:
      assert set(c) == {"id", "size", "members", "links", "hub", "from", "change",
                        "bridges"}
      assert c["size"] == len(c["members"]) >= min_size
    for c in more:
      assert set(c) == {"id", "size", "members", "from", "change"}
      assert c["size"] == len(c["members"]) >= min_size
    if clusters and more:
      assert min(c["size"] for c in clusters) >= max(c["size"] for c in more)


@pytest.mark.parametrize("year,geometry", CASES, ids=CASE_IDS)
def test_brokers_match_the_oracle(lineage_runs, year, geometry):
  """Each listed cluster's bridges: networkx's bridges of the window's simple graph that
  leave two sides of two or more members, those inside the cluster."""
  result, frames, _ = lineage_runs(year, geometry)
  edges = _Edges(result.edges)
  problems, found = [], 0
  for frame in frames:
    start, end = frame["window_start"], frame["window_end"]
    expected = window_brokers(edges.between(start, end), start, end)
    for cluster in frame["clusters"]:
      want = expected.get(cluster["members"][0], [])
      found += len(want)
      if cluster["bridges"] != want:
        problems.append((start, cluster["id"], cluster["bridges"][:3], want[:3]))
  assert not problems, f"{len(problems)} clusters differ; first: {problems[:3]}"
  assert found, "no window of the hour has a broker: the test would show nothing"


def test_the_real_hours_hold_every_kind_of_change(lineage_runs):
  """The comparisons above meet births, continuations, merges, splits and dissolutions."""
  counts = collections.Counter()
  for year, geometry in CASES:
    for frame in lineage_runs(year, geometry)[2].values():
      counts.update(c["change"] for c in frame["clusters"])
      counts["dissolved"] += len(frame["dissolved"])
  for change in ("born", "continued", "merged", "split", "dissolved"):
    assert counts[change] >= 5, counts


# The oracle on hand-made edges. Windows start at T0 + k * P (T0 a multiple of P).

P = 60_000
T0 = 1420115040000


def E(k, a, b, offset=0):
  """An edge a-b in the k-th period after T0."""
  return {"created_at": T0 + k * P + offset, "src": a, "dst": b}


def chain(k, *logins):
  return [E(k, a, b) for a, b in zip(logins, logins[1:])]


def tumbling(edges, min_size=3):
  return lineage(edges, P, P, min_size)


def summary(frame):
  """{id: (members, from, change)} of a frame's clusters."""
  return {c["id"]: ("".join(c["members"]), [(f["id"], f["shared"]) for f in c["from"]],
                    c["change"]) for c in frame["clusters"]}


def w(k):
  return T0 + k * P


def test_oracle_windows_slide():
  edges = [E(0, "a", "b", offset=59_999), E(2, "c", "d")]
  assert window_starts(edges, 3 * P, P) == [w(-2), w(-1), w(0), w(1), w(2)]
  assert window_starts(edges, P, P) == [w(0), w(2)]
  assert window_clusters(edges, w(0), w(1), 2) == [["a", "b"]]
  assert window_clusters(edges, w(0), w(1), 3) == []
  assert window_clusters(edges, w(0), w(3), 2) == [["a", "b"], ["c", "d"]]


def test_oracle_born_then_continued_keeps_the_first_id():
  frames = tumbling(chain(0, "b", "a", "c") + chain(1, "a", "b", "c", "d") +
                    chain(2, "a", "b", "d"))
  assert sorted(frames) == [w(0), w(1), w(2)]
  first = f"{w(0)}/a"
  assert summary(frames[w(0)]) == {first: ("abc", [], "born")}
  assert summary(frames[w(1)]) == {first: ("abcd", [(first, 3)], "continued")}
  assert summary(frames[w(2)]) == {first: ("abd", [(first, 3)], "continued")}
  assert [f["dissolved"] for f in frames.values()] == [[], [], []]
  assert frames[w(1)]["window_end"] == w(2)
  assert frames[w(1)]["clusters"][0]["size"] == 4


def test_oracle_merge_keeps_the_id_of_the_first_predecessor():
  frames = tumbling(chain(0, "a", "b", "c") + chain(0, "x", "y", "z") +
                    chain(1, "a", "b", "c", "x", "y"))
  a, x = f"{w(0)}/a", f"{w(0)}/x"
  assert summary(frames[w(1)]) == {a: ("abcxy", [(a, 3), (x, 2)], "merged")}
  assert frames[w(1)]["dissolved"] == []          # x's successor is the merged cluster


def test_oracle_merge_ranks_predecessors_by_shared_then_size_then_id():
  # equal shared: the larger predecessor first
  frames = tumbling(chain(0, "a", "b", "x") + chain(0, "c", "d", "y", "z") +
                    chain(1, "a", "b", "c", "d"))
  a, c = f"{w(0)}/a", f"{w(0)}/c"
  assert summary(frames[w(1)]) == {c: ("abcd", [(c, 2), (a, 2)], "merged")}
  # equal shared and size: the smaller id first
  frames = tumbling(chain(0, "a", "b", "x") + chain(0, "c", "d", "y") +
                    chain(1, "c", "d", "a", "b"))
  assert summary(frames[w(1)]) == {a: ("abcd", [(a, 2), (c, 2)], "merged")}
  # a merge that continues no one: its first predecessor's first successor is elsewhere
  frames = tumbling(chain(0, "a", "b", "c", "d", "e") + chain(0, "x", "y", "z") +
                    chain(1, "a", "b", "c") + chain(1, "d", "e", "x"))
  a, x, d = f"{w(0)}/a", f"{w(0)}/x", f"{w(1)}/d"
  assert summary(frames[w(1)]) == {a: ("abc", [(a, 3)], "continued"),
                                   d: ("dex", [(a, 2), (x, 1)], "merged")}
  assert frames[w(1)]["dissolved"] == []          # x's successor is d's cluster
  # a merge of a part of a (shared 1) with x (shared 2): it continues x
  frames = tumbling(chain(0, "a", "b", "c", "d") + chain(0, "x", "y", "z") +
                    chain(1, "a", "b", "c") + chain(1, "d", "x", "y"))
  assert summary(frames[w(1)]) == {a: ("abc", [(a, 3)], "continued"),
                                   x: ("dxy", [(x, 2), (a, 1)], "merged")}


def test_oracle_split_gives_the_smaller_part_a_new_id():
  frames = tumbling(chain(0, "a", "b", "c", "d", "e") + chain(1, "a", "b", "c") +
                    chain(1, "d", "e"), min_size=2)
  a, d = f"{w(0)}/a", f"{w(1)}/d"
  assert summary(frames[w(1)]) == {a: ("abc", [(a, 3)], "continued"),
                                   d: ("de", [(a, 2)], "split")}
  assert frames[w(1)]["dissolved"] == []


def test_oracle_split_ranks_successors_by_shared_then_size_then_first_member():
  # equal shared: the larger successor continues, though its first member is later
  frames = tumbling(chain(0, "a", "b", "c", "d") + chain(1, "a", "b", "x") +
                    chain(1, "c", "d", "y", "z"))
  a = f"{w(0)}/a"
  assert summary(frames[w(1)]) == {a: ("cdyz", [(a, 2)], "continued"),
                                   f"{w(1)}/a": ("abx", [(a, 2)], "split")}
  # equal shared and size: the smaller first member continues
  frames = tumbling(chain(0, "a", "b", "c", "d") + chain(1, "y", "c", "d") +
                    chain(1, "x", "a", "b"))
  assert summary(frames[w(1)]) == {a: ("abx", [(a, 2)], "continued"),
                                   f"{w(1)}/c": ("cdy", [(a, 2)], "split")}


def test_oracle_members_sort_as_python_sorts_strings():
  # "B" < "a" < "b": the first member of a new cluster, and a successor tie, go by it
  frames = tumbling(chain(0, "B", "a", "b", "c") + chain(1, "a", "c", "Z") +
                    chain(1, "b", "B", "q"))
  first = f"{w(0)}/B"
  assert summary(frames[w(0)]) == {first: ("Babc", [], "born")}
  assert summary(frames[w(1)]) == {first: ("Bbq", [(first, 2)], "continued"),
                                   f"{w(1)}/Z": ("Zac", [(first, 2)], "split")}


def test_oracle_dissolved_are_the_previous_clusters_without_successor():
  frames = tumbling(chain(0, "m", "n", "o") + chain(0, "a", "b", "c") +
                    chain(0, "p", "q", "r") + chain(1, "x", "y", "z") +
                    chain(1, "p", "q", "r") + [E(1, "a", "b")])
  assert summary(frames[w(1)]) == {
      f"{w(1)}/x": ("xyz", [], "born"),
      f"{w(0)}/p": ("pqr", [(f"{w(0)}/p", 3)], "continued")}
  # a-b is in the window but is no cluster of 3: a, b's cluster has no successor
  assert frames[w(1)]["dissolved"] == [f"{w(0)}/a", f"{w(0)}/m"]


def test_oracle_small_components_are_no_predecessors():
  frames = tumbling(chain(0, "a", "b") + chain(1, "a", "b", "c"))
  assert summary(frames[w(0)]) == {}
  assert summary(frames[w(1)]) == {f"{w(1)}/a": ("abc", [], "born")}
  assert frames[w(1)]["dissolved"] == []


def test_oracle_gap_window_breaks_the_lineage():
  frames = tumbling(chain(0, "a", "b", "c") + chain(2, "a", "b", "c"))
  assert sorted(frames) == [w(0), w(2)]            # no frame for the empty window
  assert summary(frames[w(2)]) == {f"{w(2)}/a": ("abc", [], "born")}
  assert frames[w(2)]["dissolved"] == []


def test_oracle_window_with_edges_but_no_cluster_still_dissolves_and_breaks():
  frames = tumbling(chain(0, "a", "b", "c") + [E(1, "x", "y")] + chain(2, "a", "b", "c"))
  assert sorted(frames) == [w(0), w(1), w(2)]
  assert frames[w(1)]["clusters"] == [] and frames[w(1)]["dissolved"] == [f"{w(0)}/a"]
  assert summary(frames[w(2)]) == {f"{w(2)}/a": ("abc", [], "born")}
  assert frames[w(2)]["dissolved"] == []


def test_oracle_sliding_windows():
  # 3-period windows: a-b-c at period 0, c-d at period 2, x-y-z at period 4
  edges = chain(0, "a", "b", "c") + [E(2, "c", "d")] + chain(4, "x", "y", "z")
  frames = lineage(edges, 3 * P, P, 3)
  assert sorted(frames) == [w(k) for k in range(-2, 5)]
  born = f"{w(-2)}/a"
  assert summary(frames[w(-2)]) == {born: ("abc", [], "born")}
  assert summary(frames[w(-1)]) == {born: ("abc", [(born, 3)], "continued")}
  assert summary(frames[w(0)]) == {born: ("abcd", [(born, 3)], "continued")}
  # a-b-c left: c-d alone is no cluster
  assert summary(frames[w(1)]) == {} and frames[w(1)]["dissolved"] == [born]
  assert summary(frames[w(2)]) == {f"{w(2)}/x": ("xyz", [], "born")}
  assert frames[w(2)]["dissolved"] == []
  assert frames[w(4)]["window_end"] == w(7)
  assert frames[w(-2)]["dissolved"] == []        # the first window's previous has no edges

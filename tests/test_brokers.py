"""The brokers' certificate (the two forests of components.py's summaries) against
networkx: any order, split, fold and merge tree of the links gives the certificate of all
of them, and its bridges (transforms/brokers.py), with the sizes of their sides, are
networkx's bridges of the simple graph of user pairs."""
import random

import networkx as nx
from hypothesis import given, settings, strategies as st

from pulse.transforms.brokers import brokers
from pulse.transforms.components import (ComponentsCombineFn, SpanningForestCoder,
                                         certificate, union)

USERS = "abcdefghij"


def _links(draw_pairs, times):
  """Links (created_at, id, src, dst, type) with distinct orders, as components.py's."""
  return [(t, f"e{i}", src, dst, "IssueCommentEvent")
          for i, ((src, dst), t) in enumerate(zip(draw_pairs, times))]


links_strategy = st.lists(
    st.tuples(st.sampled_from(USERS), st.sampled_from(USERS)).filter(
        lambda p: p[0] != p[1]),
    min_size=0, max_size=24).flatmap(
    lambda pairs: st.lists(st.integers(0, 50), min_size=len(pairs),
                           max_size=len(pairs)).map(lambda times: _links(pairs, times)))


def networkx_brokers(links, min_side=2):
  graph = nx.Graph()
  graph.add_edges_from((link[2], link[3]) for link in links)
  found = {}
  for a, b in nx.bridges(graph):
    graph.remove_edge(a, b)
    side_a, side_b = (len(nx.node_connected_component(graph, x)) for x in (a, b))
    graph.add_edge(a, b)
    if side_a >= min_side and side_b >= min_side:
      (u, su), (v, sv) = sorted(((a, side_a), (b, side_b)))
      found[(u, v)] = (su, sv)
  return found


def _merged(parts, rng):
  """The certificate of parts, each summarised by the CombineFn (edge by edge, folded
  in buffers of a random size, through the coder), then merged in a random tree."""
  combine, coder = ComponentsCombineFn(), SpanningForestCoder()
  combine.MIN_BUFFER = rng.randint(0, 6)
  summaries = []
  for part in parts:
    if rng.random() < 0.5:
      part = sorted(part)     # in the edge order: folds go on from the saved state
    summary = combine.create_accumulator()
    for link in part:
      summary = combine.add_input(summary, link)
    summaries.append(coder.decode(coder.encode(combine.compact(summary))))
  while len(summaries) > 1:
    rng.shuffle(summaries)
    take = rng.randint(2, len(summaries))
    summaries = [union(summaries[:take])] + summaries[take:]
  summary = combine.extract_output(summaries[0])
  return summary.links, summary.second


@settings(max_examples=400, deadline=None)
@given(links_strategy, st.integers(1, 5), st.randoms(use_true_random=False))
def test_any_split_and_merge_tree_gives_the_certificate_of_all(links, parts, rng):
  rng.shuffle(links)
  split = [links[i::parts] for i in range(parts)]
  assert _merged(split, rng) == certificate(links)


@settings(max_examples=400, deadline=None)
@given(links_strategy, st.integers(1, 4))
def test_bridges_of_the_certificate_are_networkx_bridges(links, min_side):
  first, second = certificate(links)
  assert brokers(first, second, min_side) == networkx_brokers(links, min_side)


def test_the_certificate_keeps_what_a_bridge_needs_and_drops_repeats():
  # Two triangles joined by c-d; c-d repeated, a-b three times.
  links = _links([("a", "b"), ("b", "c"), ("c", "a"), ("c", "d"), ("d", "e"), ("e", "f"),
                  ("f", "d"), ("d", "c"), ("a", "b"), ("b", "a")],
                 [1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
  first, second = certificate(links)
  assert [link[1] for link in first] == ["e0", "e1", "e3", "e4", "e5"]
  assert [link[1] for link in second] == ["e2", "e6"]   # the repeats are in neither
  assert brokers(first, second) == {("c", "d"): (3, 3)}
  assert brokers(first, second, min_side=4) == {}
  # A pendant user is no broker at min_side 2: one side would hold one member.
  pendant = links + _links([("f", "g")], [11])
  assert brokers(*certificate(pendant)) == {("c", "d"): (3, 4)}
  assert brokers(*certificate(pendant), min_side=1) == {("c", "d"): (3, 4),
                                                        ("f", "g"): (6, 1)}


def test_a_merged_certificate_of_random_graphs_matches_networkx():
  rng = random.Random(7)
  for _ in range(30):
    users = [f"u{i}" for i in range(40)]
    links = _links([tuple(rng.sample(users, 2)) for _ in range(70)],
                   rng.sample(range(1000), 70))
    merged = _merged([links[i::3] for i in range(3)], rng)
    assert merged == certificate(links)
    assert brokers(*merged) == networkx_brokers(links)

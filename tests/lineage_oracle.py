"""An independent oracle for cluster lineage: from edges alone (dicts with created_at in ms,
src, dst, as --edges_output writes them) with networkx, no pulse code.

The rule:
- The clusters of a window are the connected components of the user-user edges whose
  created_at falls in [window_start, window_end) with at least min_cluster_size members
  (all of them, max_clusters does not apply).
- A window's previous window starts one period earlier; shared(C, C') = |C & C'|.
- The predecessors of a cluster C' are the previous window's clusters with shared >= 1,
  ranked by shared desc, size desc, id asc. The successors of C are the next window's
  clusters with shared >= 1, ranked by shared desc, size desc, first member asc.
- C' continues C when C is C''s first predecessor and C' is C's first successor: C' keeps
  C's id. Otherwise C' gets "<window_start>/<first member>".
- from: all predecessors in rank order [{"id", "shared"}]; change: "merged" (2+
  predecessors), else "split" (one it does not continue), else "continued", else "born".
- dissolved: sorted ids of the previous window's clusters without a successor. A window
  whose previous window holds no edges: all born, nothing dissolved.
- Sliding windows of size S, period P (ms): starts are multiples of P, an edge at t is in
  every window with start <= t < start + S; only windows holding an edge have frames.
"""
import bisect

import networkx as nx

__all__ = ["window_starts", "window_clusters", "window_brokers", "lineage"]


def window_starts(edges, size_ms, period_ms):
  """The starts of every window holding at least one edge, ascending."""
  if size_ms <= 0 or period_ms <= 0 or size_ms % period_ms:
    raise ValueError("size must be a positive multiple of the period")
  starts = set()
  for e in edges:
    t = e["created_at"]
    last = t - t % period_ms          # the latest window start <= t (floor, also for t < 0)
    starts.update(range(last - size_ms + period_ms, last + 1, period_ms))
  return sorted(starts)


class _Edges:
  """Edges sorted by time, for the edges of [start, end) by bisection."""
  def __init__(self, edges):
    self.edges = sorted(edges, key=lambda e: e["created_at"])
    self.times = [e["created_at"] for e in self.edges]

  def between(self, start, end):
    lo = bisect.bisect_left(self.times, start)
    hi = bisect.bisect_left(self.times, end)
    return self.edges[lo:hi]


def window_brokers(edges, start, end, min_side=2):
  """The broker links of [start, end): {first member of a component: sorted [[u, v]]},
  the bridges of the simple graph of user pairs whose removal leaves both sides with at
  least min_side members (issue 15's rule)."""
  graph = nx.Graph()
  graph.add_edges_from((e["src"], e["dst"]) for e in edges
                       if start <= e["created_at"] < end)
  found = {}
  for a, b in nx.bridges(graph):
    graph.remove_edge(a, b)
    sides = [nx.node_connected_component(graph, x) for x in (a, b)]
    graph.add_edge(a, b)
    if min(len(side) for side in sides) >= min_side:
      first = min(sides[0] | sides[1])
      found.setdefault(first, []).append(sorted([a, b]))
  return {first: sorted(pairs) for first, pairs in found.items()}


def window_clusters(edges, start, end, min_cluster_size):
  """The clusters of [start, end): sorted member lists, in order of their first member."""
  graph = nx.Graph()
  graph.add_edges_from((e["src"], e["dst"]) for e in edges
                       if start <= e["created_at"] < end)
  return sorted((sorted(c) for c in nx.connected_components(graph)
                 if len(c) >= min_cluster_size), key=lambda m: m[0])


def _link(prev, current):
  """prev: [{"id", "members"}] of the previous window (may be empty); current: sorted
  member lists. Returns (clusters [{"id","members","from","change"}], dissolved)."""
  prev_sets = [set(c["members"]) for c in prev]
  cur_sets = [set(m) for m in current]
  shared = {(i, j): len(prev_sets[i] & cur_sets[j])
            for i in range(len(prev)) for j in range(len(current))}
  preds = {j: sorted((i for i in range(len(prev)) if shared[i, j] >= 1),
                     key=lambda i: (-shared[i, j], -len(prev_sets[i]), prev[i]["id"]))
           for j in range(len(current))}
  succs = {i: sorted((j for j in range(len(current)) if shared[i, j] >= 1),
                     key=lambda j: (-shared[i, j], -len(cur_sets[j]), current[j][0]))
           for i in range(len(prev))}
  clusters = []
  for j, members in enumerate(current):
    p = preds[j]
    continues = bool(p) and succs[p[0]][0] == j
    if len(p) >= 2:
      change = "merged"
    elif len(p) == 1 and not continues:
      change = "split"
    elif continues:
      change = "continued"
    else:
      change = "born"
    clusters.append({
        "id": prev[p[0]]["id"] if continues else None,
        "members": list(members),
        "from": [{"id": prev[i]["id"], "shared": shared[i, j]} for i in p],
        "change": change})
  dissolved = sorted(prev[i]["id"] for i in range(len(prev)) if not succs[i])
  return clusters, dissolved


def lineage(edges, size_ms, period_ms, min_cluster_size):
  """{window_start: {"window_start", "window_end", "clusters": [{"id", "size", "members",
  "from", "change"}] (in order of first member), "dissolved"}} for every window holding
  an edge."""
  indexed = _Edges(edges)
  frames = {}
  for start in window_starts(edges, size_ms, period_ms):
    end = start + size_ms
    current = window_clusters(indexed.between(start, end), start, end, min_cluster_size)
    # The previous window has a frame exactly when it holds an edge; if not, it has no
    # clusters (and nothing is carried across the gap).
    previous = frames.get(start - period_ms, {"clusters": []})["clusters"]
    clusters, dissolved = _link(previous, current)
    for c in clusters:
      if c["id"] is None:
        c["id"] = f"{start}/{c['members'][0]}"
      c["size"] = len(c["members"])
    ids = [c["id"] for c in clusters]
    assert len(set(ids)) == len(ids), ids
    frames[start] = {"window_start": start, "window_end": end, "clusters": clusters,
                     "dissolved": dissolved}
  return frames

"""Connected components by a union-find CombineFn.

The summary of a set of edges is its minimum spanning forest (MSF) under one total order of
edges, (created_at, id, src, dst, type). That forest is unique, so the summary does not
depend on the order edges arrive in or on how Beam splits and merges partial summaries; and
MSF(A + B) = MSF(MSF(A) + MSF(B)), so partial summaries merge exactly. The forest's edges
are the `links` a frame draws; its trees are the components.

The summary also keeps F2, the minimum spanning forest of the links whose user pair the
first forest does not hold: with it, a summary can tell the window's bridges
(transforms/brokers.py), and the two forests of a union are those of the union of both
summaries' forests, so they merge exactly too.

A link (and a buffered edge) is the tuple (created_at, id, src, dst, type).
"""
from typing import Dict

import apache_beam as beam

__all__ = ["SpanningForest", "SpanningForestCoder", "ComponentsCombineFn", "PanesCombineFn",
           "spanning_forest", "certificate", "forest_trees", "union", "link_of"]


def _grow(links, tree=None):
  """Kruskal's union-find, with trees held as lists: every vertex maps to the list of its
  tree's links (one list object per tree), and a join relabels the vertices of the
  smaller tree. A find is one dict lookup, the fastest form in pure Python. Goes on from
  `tree` if given (changing it). Returns (the links that joined two trees, in the order
  given; vertex -> its tree's links)."""
  tree = {} if tree is None else tree
  get = tree.get
  joined = []
  keep = joined.append
  for link in links:
    a, b = link[2], link[3]
    ta, tb = get(a), get(b)
    if ta is None:
      if tb is None:
        tree[a] = tree[b] = [link]
      else:
        tb.append(link)
        tree[a] = tb
    elif tb is None:
      ta.append(link)
      tree[b] = ta
    elif ta is tb:
      continue
    else:
      if len(ta) < len(tb):
        ta, tb = tb, ta
      ta.append(link)
      ta += tb
      for other in tb:
        tree[other[2]] = tree[other[3]] = ta
    keep(link)
  return joined, tree


def spanning_forest(links):
  """Kruskal: the MSF of these edges, sorted by the edge order. The hot spot of every
  combine."""
  return _grow(sorted(links))[0]


def _second(first, rejected, second=()):
  """F2 of links whose F1 is `first`: of the links F1 rejected (sorted, after those of
  `second`, the F2 so far), those whose pair F1 does not hold, grown on from `second`."""
  held = set()
  for link in first:             # both ways round: no ordering of each pair to look up
    held.add((link[2], link[3]))
    held.add((link[3], link[2]))
  grow = list(second)
  grow += [link for link in rejected if (link[2], link[3]) not in held]
  return _grow(grow)[0]


def _rejected(links, joined):
  kept = {id(link) for link in joined}
  return [link for link in links if id(link) not in kept]


def _certify(links):
  """(F1, its union-find state, F2) of these links, sorted by the edge order."""
  first, tree = _grow(links)
  return first, tree, _second(first, _rejected(links, first))


def certificate(links):
  """(F1, F2) of these links, each sorted by the edge order."""
  first, _, second = _certify(sorted(links))
  return first, second


def forest_trees(forest):
  """The trees of a SpanningForest (compacted), each as the list of its links; from its
  union-find state when it has one."""
  tree = _grow(forest.links)[1] if forest.tree is None else forest.tree
  return list({id(links): links for links in tree.values()}.values())


def union(forests):
  """A new summary of all the edges that these summaries cover."""
  edges, links = 0, []
  for forest in forests:
    edges += forest.edges
    links += forest.kept()
  first, tree, second = _certify(sorted(links))
  return SpanningForest(edges, first, second=second, tree=tree)


class SpanningForest:
  """A summary: the number of edges it covers, their minimum spanning forest (`links`)
  and F2 (`second`). `pending` buffers raw edges between compactions; compact() folds
  them in. `tree` is the union-find state of `links` when known (never encoded: it can
  be rebuilt)."""
  __slots__ = ("edges", "links", "second", "pending", "tree")

  def __init__(self, edges=0, links=(), pending=(), tree=None, second=()):
    self.edges = edges
    self.links = list(links)
    self.second = list(second)
    self.pending = list(pending)
    self.tree = tree

  def fold(self):
    """Fold the pending edges into the forests, in place. When they all come after the
    forests' links in the edge order (edges arriving in time order, the usual case),
    Kruskal goes on from the saved state and F2 from its links: F1 only grows then, and
    never by a pair F2 holds (that pair's ends were joined already)."""
    if not self.pending:
      return
    pending = sorted(self.pending)
    self.pending = []
    newest = max(self.links[-1:] + self.second[-1:], default=None)
    if self.tree is not None and (newest is None or pending[0] > newest):
      joined = _grow(pending, self.tree)[0]
      self.links += joined
      self.second = _second(self.links, _rejected(pending, joined), self.second)
    else:
      self.links, self.tree, self.second = _certify(
          sorted(self.links + self.second + pending))

  def kept(self):
    """Every link it holds, both forests' and the pending edges: their forests are its
    own, so this is what a merge or a store needs of it."""
    return self.links + self.second + self.pending

  def compacted(self):
    """A new summary with no pending edges and no union-find state. Folds self first,
    which changes its form but not what it summarises."""
    if self.pending:
      self.fold()
    return SpanningForest(self.edges, self.links, second=self.second)

  def __eq__(self, other):
    """Equal when they summarise alike: as many edges, the same forests."""
    return (isinstance(other, SpanningForest) and self.edges == other.edges and
            certificate(self.kept()) == certificate(other.kept()))

  def __repr__(self):
    return (f"SpanningForest(edges={self.edges}, links={len(self.links)}, "
            f"second={len(self.second)}, pending={len(self.pending)})")


class SpanningForestCoder(beam.coders.Coder):
  """Encodes a summary as primitives (FastPrimitivesCoder), so it crosses Beam stages
  without being pickled (faster than pickle on these, measured), union-find state left
  out."""
  def __init__(self):
    self._tuples = beam.coders.FastPrimitivesCoder()

  def encode(self, forest):
    return self._tuples.encode((forest.edges, forest.links, forest.second, forest.pending))

  def decode(self, encoded):
    edges, links, second, pending = self._tuples.decode(encoded)
    return SpanningForest(edges, links, pending, second=second)

  def is_deterministic(self):
    return True

  def to_type_hint(self):
    return SpanningForest


beam.coders.registry.register_coder(SpanningForest, SpanningForestCoder)


def link_of(edge):
  """The forest tuple of an edge dict (schemas/edge.avsc)."""
  return (edge["created_at"], edge["id"], edge["src"], edge["dst"], edge["type"])


@beam.typehints.with_output_types(SpanningForest)
class ComponentsCombineFn(beam.CombineFn):
  """Edges (link tuples) -> SpanningForest.

  Accumulators may be shared by several windows (Beam issue 13061), so merge and extract
  return new summaries and never change what their inputs summarise (extract may fold an
  input's pending edges, which keeps its meaning); only add_input, which owns its
  accumulator, adds to it.
  """
  # Fold buffered edges into the forest when the buffer outgrows this or the forest.
  MIN_BUFFER = 4096

  def create_accumulator(self):
    return SpanningForest(tree={})

  def add_input(self, forest, link):
    forest.edges += 1
    forest.pending.append(link)
    return self._fold_when_full(forest)

  def _fold_when_full(self, forest):
    if len(forest.pending) > max(self.MIN_BUFFER, len(forest.links)):
      forest.fold()
    return forest

  def merge_accumulators(self, forests):
    return union(forests)

  def extract_output(self, forest):
    return forest.compacted()

  def compact(self, forest):
    return forest.compacted()

  def get_accumulator_coder(self):
    return SpanningForestCoder()


@beam.typehints.with_output_types(Dict[int, SpanningForest])
class PanesCombineFn(beam.CombineFn):
  """(pane start, SpanningForest of some of the pane's edges) pairs -> {pane start: the
  SpanningForest of all of them}: the panes of a block of windows, each pane whole.

  Like ComponentsCombineFn, never changes what an input stands for (a pane's partial
  summary may sit in the accumulators of two blocks): a second part of a pane makes a new
  summary of both."""
  def create_accumulator(self):
    return {}

  def add_input(self, panes, pane):
    start, part = pane
    had = panes.get(start)
    panes[start] = part if had is None else SpanningForest(
        had.edges + part.edges, had.links, had.pending + part.kept(), second=had.second)
    return panes

  def merge_accumulators(self, accumulators):
    merged = {}
    for panes in accumulators:
      for pane in panes.items():
        self.add_input(merged, pane)
    return merged

  def extract_output(self, panes):
    return {start: forest.compacted() for start, forest in panes.items()}

  def compact(self, panes):
    return self.extract_output(panes)

  def get_accumulator_coder(self):
    return beam.coders.MapCoder(beam.coders.VarIntCoder(), SpanningForestCoder())

"""Connected components by a union-find CombineFn.

The summary of a set of edges is its minimum spanning forest (MSF) under one total order of
edges, (created_at, id, src, dst, type). That forest is unique, so the summary does not
depend on the order edges arrive in or on how Beam splits and merges partial summaries; and
MSF(A + B) = MSF(MSF(A) + MSF(B)), so partial summaries merge exactly. The forest's edges
are the `links` a frame draws; its trees are the components.

A link (and a buffered edge) is the tuple (created_at, id, src, dst, type).
"""
import apache_beam as beam


class UnionFind:
  """Disjoint sets over hashable items, with path halving and union by size."""
  __slots__ = ("parent", "size")

  def __init__(self):
    self.parent = {}
    self.size = {}

  def find(self, item):
    parent = self.parent
    root = parent.setdefault(item, item)
    while root != parent[root]:
      parent[root] = parent[parent[root]]
      root = parent[root]
    return root

  def union(self, a, b):
    """Join the sets of a and b; False if they were already one."""
    ra, rb = self.find(a), self.find(b)
    if ra == rb:
      return False
    if self.size.get(ra, 1) < self.size.get(rb, 1):
      ra, rb = rb, ra
    self.parent[rb] = ra
    self.size[ra] = self.size.get(ra, 1) + self.size.get(rb, 1)
    return True

  def groups(self):
    """{root: [items]} for every item seen."""
    out = {}
    for item in self.parent:
      out.setdefault(self.find(item), []).append(item)
    return out


def _root(parent, item):
  """The root of item in a union-find held as a dict (a vertex absent from it is a
  root), halving the path on the way."""
  get = parent.get
  up = get(item)
  while up is not None:
    above = get(up)
    if above is None:
      return up
    parent[item] = above
    item, up = above, get(above)
  return item


def spanning_forest(links):
  """Kruskal: the MSF of these edges, sorted by the edge order. The hot spot of every
  combine, so a bare dict union-find (which root wins does not change the links kept)."""
  parent = {}
  forest = []
  for link in sorted(links):
    a, b = _root(parent, link[2]), _root(parent, link[3])
    if a != b:
      parent[b] = a
      forest.append(link)
  return forest


def forest_trees(links):
  """The trees of a spanning forest: {root: [its links, in the order given]}."""
  parent = {}
  for link in links:              # a forest: every link joins two trees
    parent[_root(parent, link[3])] = _root(parent, link[2])
  trees = {}
  for link in links:
    trees.setdefault(_root(parent, link[2]), []).append(link)
  return trees


class SpanningForest:
  """A summary: the number of edges it covers and their minimum spanning forest.
  `pending` buffers raw edges between compactions; compact() folds them in."""
  __slots__ = ("edges", "links", "pending")

  def __init__(self, edges=0, links=(), pending=()):
    self.edges = edges
    self.links = list(links)
    self.pending = list(pending)

  def compacted(self):
    """A new summary with no pending edges (self is left as it is)."""
    if not self.pending:
      return SpanningForest(self.edges, self.links)
    return SpanningForest(self.edges, spanning_forest(self.links + self.pending))

  def __eq__(self, other):
    return (isinstance(other, SpanningForest) and
            (self.edges, sorted(self.links + self.pending)) ==
            (other.edges, sorted(other.links + other.pending)))

  def __repr__(self):
    return (f"SpanningForest(edges={self.edges}, links={len(self.links)}, "
            f"pending={len(self.pending)})")


class SpanningForestCoder(beam.coders.Coder):
  """Encodes a summary as primitives (FastPrimitivesCoder), so it crosses Beam stages
  without being pickled."""
  def __init__(self):
    self._tuples = beam.coders.FastPrimitivesCoder()

  def encode(self, forest):
    return self._tuples.encode((forest.edges, forest.links, forest.pending))

  def decode(self, encoded):
    edges, links, pending = self._tuples.decode(encoded)
    return SpanningForest(edges, links, pending)

  def is_deterministic(self):
    return True

  def to_type_hint(self):
    return SpanningForest


beam.coders.registry.register_coder(SpanningForest, SpanningForestCoder)


def link_of(edge):
  """The forest tuple of an edge dict (schemas/edge.avsc)."""
  return (edge["created_at"], edge["id"], edge["src"], edge["dst"], edge["type"])


class ComponentsCombineFn(beam.CombineFn):
  """Edges (link tuples) -> SpanningForest.

  Accumulators may be shared by several windows (Beam issue 13061), so merge and extract
  build new summaries and never change their inputs; only add_input, which owns its
  accumulator, changes it.
  """
  # Fold buffered edges into the forest when the buffer outgrows this or the forest.
  MIN_BUFFER = 4096

  def create_accumulator(self):
    return SpanningForest()

  def add_input(self, forest, link):
    forest.edges += 1
    forest.pending.append(link)
    if len(forest.pending) > max(self.MIN_BUFFER, len(forest.links)):
      forest.links = spanning_forest(forest.links + forest.pending)
      forest.pending = []
    return forest

  def merge_accumulators(self, forests):
    edges, links = 0, []
    for forest in forests:
      edges += forest.edges
      links += forest.links
      links += forest.pending
    return SpanningForest(edges, spanning_forest(links))

  def extract_output(self, forest):
    return forest.compacted()

  def compact(self, forest):
    return forest.compacted()

  def get_accumulator_coder(self):
    return SpanningForestCoder()


class MergeForestsCombineFn(beam.CombineFn):
  """(pane start, SpanningForest) pairs -> the SpanningForest of all their edges.

  A pane may fire again with late data (accumulating, so the new summary holds the old
  one): the accumulator keeps one summary per pane, the one covering most edges."""
  def create_accumulator(self):
    return {}

  def add_input(self, panes, pane):
    start, forest = pane
    if start not in panes or forest.edges > panes[start].edges:
      panes[start] = forest
    return panes

  def merge_accumulators(self, accumulators):
    merged = {}
    for panes in accumulators:
      for pane in panes.items():
        self.add_input(merged, pane)
    return merged

  def extract_output(self, panes):
    links = []
    for forest in panes.values():
      links += forest.links
      links += forest.pending
    return SpanningForest(sum(f.edges for f in panes.values()), spanning_forest(links))

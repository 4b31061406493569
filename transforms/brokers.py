"""Brokers: the links that alone hold two groups of a window together (issue 15).

A broker link is a bridge of the window's simple graph of user pairs (repeated
interactions of two users are one link) whose removal leaves both sides with at least
two members. One forest cannot tell a bridge; two can (Nagamochi and Ibaraki's sparse
certificate for 2-edge-connectivity):

- F1: the minimum spanning forest of the links, under the edge order of components.py;
- F2: the minimum spanning forest of the links whose user pair F1 does not hold.

A link outside F1 + F2 closes a cycle, so it is no bridge; a link of F1 + F2 is a bridge
of the window's graph exactly when it is one of F1 + F2. The window summaries of
components.py keep both forests (`links` and `second`), and the certificate of the links
of two certificates is the certificate of all their links, so they merge exactly
(tests/test_brokers.py checks both against networkx, for any order, split and merge
tree). A link is the tuple (created_at, id, src, dst, type) of components.py.
"""
__all__ = ["brokers"]


def brokers(first, second, min_side=2):
  """{(u, v): (members on u's side, members on v's side)} for each bridge (u < v) of the
  certificate's graph whose sides both have at least min_side members."""
  adjacent = {}
  for link in first + second:
    a, b = link[2], link[3]
    adjacent.setdefault(a, []).append(b)
    adjacent.setdefault(b, []).append(a)
  found = {}
  order, low, below = {}, {}, {}   # DFS number, low-link, members in the DFS subtree
  for root in sorted(adjacent):
    if root in order:
      continue
    component = _bridges_from(root, adjacent, order, low, below)
    size = below[root]
    for parent, child in component:
      child_side = below[child]
      if child_side >= min_side and size - child_side >= min_side:
        sides = {parent: size - child_side, child: child_side}
        u, v = sorted((parent, child))
        found[(u, v)] = (sides[u], sides[v])
  return found


def _bridges_from(root, adjacent, order, low, below):
  """Tarjan's bridges of root's component, iteratively: the (parent, child) tree links
  whose child's subtree has no link back above the child. The graph is simple, so the
  one link to the parent is the only one to skip."""
  bridges = []
  order[root] = low[root] = len(order)
  below[root] = 1
  stack = [(root, None, iter(adjacent[root]))]
  while stack:
    node, parent, neighbours = stack[-1]
    for other in neighbours:
      if other == parent:
        continue
      if other in order:
        low[node] = min(low[node], order[other])
      else:
        order[other] = low[other] = len(order)
        below[other] = 1
        stack.append((other, node, iter(adjacent[other])))
        break
    else:
      stack.pop()
      if parent is not None:
        low[parent] = min(low[parent], low[node])
        below[parent] += below[node]
        if low[node] > order[parent]:
          bridges.append((parent, node))
  return bridges

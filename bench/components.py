"""The components CombineFn alone against scipy.sparse.csgraph.connected_components and
networkx on the same edges (synthetic events): edges/s, medians of --repeats. The
CombineFn is driven as a runner would (create, add_input per edge, extract); scipy is
timed with and without mapping logins to integers (the CombineFn and networkx take the
logins as they are). All three must find the same number of components.

  python bench/components.py [--events 500000] [--repeats 3]
"""
import argparse
import statistics
import time

import networkx as nx
import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from pulse.firehose import synth
from pulse.transforms.components import ComponentsCombineFn, forest_trees, link_of
from pulse.transforms.edges import edge_of
from pulse.transforms.events import normalise


def links_of(events, seed=0):
  links = []
  for record in synth.events(events, seed):
    edge, _ = edge_of(normalise(record))
    if edge:
      links.append(link_of(edge))
  return links


def combinefn(links):
  fn = ComponentsCombineFn()
  forest = fn.create_accumulator()
  for link in links:
    forest = fn.add_input(forest, link)
  return len(forest_trees(fn.extract_output(forest)))


def scipy_mapped(links):
  ids = {}
  src = np.fromiter((ids.setdefault(l[2], len(ids)) for l in links), np.int64, len(links))
  dst = np.fromiter((ids.setdefault(l[3], len(ids)) for l in links), np.int64, len(links))
  return _scipy(src, dst, len(ids)), (src, dst, len(ids))


def _scipy(src, dst, n):
  graph = coo_matrix((np.ones(len(src), np.int8), (src, dst)), shape=(n, n))
  count, labels = connected_components(graph, directed=False)
  return int(np.count_nonzero(np.bincount(labels) > 1))   # as the forest counts: 2+


def networkx(links):
  return nx.number_connected_components(nx.Graph((l[2], l[3]) for l in links))


def timed(fn, *args):
  started = time.perf_counter()
  result = fn(*args)
  return time.perf_counter() - started, result


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--events", type=int, default=500_000)
  parser.add_argument("--repeats", type=int, default=3)
  args = parser.parse_args()
  links = links_of(args.events)
  times = {k: [] for k in ("CombineFn", "scipy (logins mapped to ints)",
                           "scipy (ints given)", "networkx")}
  for _ in range(args.repeats):
    t, ours = timed(combinefn, links)
    times["CombineFn"].append(t)
    t, (theirs, ints) = timed(scipy_mapped, links)
    times["scipy (logins mapped to ints)"].append(t)
    t, _ = timed(_scipy, *ints)
    times["scipy (ints given)"].append(t)
    t, nxc = timed(networkx, links)
    times["networkx"].append(t)
    assert ours == theirs == nxc, (ours, theirs, nxc)
  base = statistics.median(times["CombineFn"])
  print(f"{len(links):,} edges from {args.events:,} synthetic events, {ours:,} components")
  print("| implementation | median s | edges/s | time vs CombineFn |")
  print("|---|---|---|---|")
  for name, ts in times.items():
    t = statistics.median(ts)
    print(f"| {name} | {t:.3f} | {len(links) / t:,.0f} | {t / base:.2f}x |")


if __name__ == "__main__":
  main()

"""Measures, per real hour in data/, the share of events that give an edge (and why the
others give none), with and without organisation owners, and the cluster structure for
several window sizes: the numbers behind the defaults (docs/pipeline.md).

  python bench/edge_share.py [HOUR ...]
"""
import collections
import glob
import gzip
import os
import sys

import networkx as nx

from pulse.io.json_records import decode_lines
from pulse.transforms.edges import edge_of
from pulse.transforms.events import normalise

HERE = os.path.dirname(os.path.abspath(__file__))


def main(paths):
  print("| hour | events | edges (share) | self-edge | no partner | edges without org "
        "owners (share) |")
  print("|---|---|---|---|---|---|")
  windows = []
  for path in paths:
    with gzip.open(path) as f:
      events = [normalise(record) for _, record in decode_lines(f)]
    reasons = collections.Counter(edge_of(e)[1] or "edge" for e in events)
    no_org = sum(1 for e in events if edge_of(e, drop_org_owners=True)[0])
    n = len(events)
    print(f"| {os.path.basename(path)} | {n:,} | {reasons['edge']:,} "
          f"({reasons['edge'] / n:.1%}) | {reasons['self_edge']:,} | "
          f"{reasons['no_partner']:,} | {no_org:,} ({no_org / n:.1%}) |")
    edges = [edge for edge, _ in map(edge_of, events) if edge]
    windows.append((os.path.basename(path), edges))
  print()
  print("| hour | window | frames | median largest cluster | max largest | "
        "median clusters of 3+ |")
  print("|---|---|---|---|---|---|")
  for name, edges in windows:
    t0 = min(e["created_at"] for e in edges) // 60_000 * 60_000
    for size in (60, 300, 600, 900):
      largest, clusters = [], []
      for start in range(t0, t0 + 3_600_000 - size * 1000 + 1, 60_000):
        graph = nx.Graph((e["src"], e["dst"]) for e in edges
                         if start <= e["created_at"] < start + size * 1000)
        sizes = [len(c) for c in nx.connected_components(graph)] or [0]
        largest.append(max(sizes))
        clusters.append(sum(1 for s in sizes if s >= 3))
      median = lambda xs: sorted(xs)[len(xs) // 2]
      print(f"| {name} | {size} s | {len(largest)} | {median(largest)} | {max(largest)} | "
            f"{median(clusters)} |")


if __name__ == "__main__":
  main(sys.argv[1:] or sorted(glob.glob(os.path.join(HERE, "..", "data", "*.json.gz"))))

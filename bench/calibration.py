"""Real hour vs synthetic events (firehose/synth.py), side by side: the type mix, the share
of events that give an edge, users and repos per hour, the top user's share, and the
components of 10-minute windows (every minute).

  python bench/calibration.py [--hour data/gharchive-2015-01-01-12.json.gz] [--seed 0]
"""
import argparse
import collections
import gzip
import os
import statistics

from pulse.firehose import synth
from pulse.io.json_records import decode_lines
from pulse.transforms.components import (SpanningForest, forest_trees, link_of,
                                         spanning_forest)
from pulse.transforms.edges import edge_of
from pulse.transforms.events import normalise

HERE = os.path.dirname(os.path.abspath(__file__))
REAL = os.path.join(HERE, "..", "data", "gharchive-2015-01-01-12.json.gz")


def real_events(path=REAL):
  with gzip.open(path) as f:
    return [normalise(record) for _, record in decode_lines(f)]


def synthetic_events(count=synth.EVENTS_PER_HOUR, seed=0):
  return [normalise(record) for record in synth.events(count, seed)]


def window_components(edges, size_ms=600_000, period_ms=60_000):
  """Per window wholly inside the events' span: (largest component, components of 3+,
  components)."""
  t0 = min(e["created_at"] for e in edges) // period_ms * period_ms
  t1 = max(e["created_at"] for e in edges)
  out = []
  for start in range(t0, t1 - size_ms + 2, period_ms):
    links = [link_of(e) for e in edges if start <= e["created_at"] < start + size_ms]
    sizes = [len(tree) + 1 for tree in forest_trees(SpanningForest(links=spanning_forest(links)))] or [0]
    out.append((max(sizes), sum(1 for s in sizes if s >= 3), len(sizes)))
  return out


def stats(events):
  """The calibration figures of one hour of normalised events."""
  n = len(events)
  kinds = collections.Counter(e["type"] for e in events)
  results = [edge_of(e) for e in events]
  edges = [edge for edge, _ in results if edge]
  reasons = collections.Counter(reason for _, reason in results if reason)
  actors = collections.Counter(e["actor"].lower() for e in events)
  windows = window_components(edges)
  return {
      "events": n,
      "types": {k: c / n for k, c in kinds.items()},
      "edge_share": len(edges) / n,
      "self_edge_share": reasons["self_edge"] / n,
      "users": len(actors),
      "repos": len({e["repo"] for e in events}),
      "top_user_share": actors.most_common(1)[0][1] / n,
      "one_event_users": sum(1 for c in actors.values() if c == 1) / len(actors),
      "median_largest": statistics.median(w[0] for w in windows),
      "max_largest": max(w[0] for w in windows),
      "median_clusters3": statistics.median(w[1] for w in windows),
      "median_components": statistics.median(w[2] for w in windows),
  }


ROWS = (("events", "{:,}"), ("edge_share", "{:.1%}"), ("self_edge_share", "{:.1%}"),
        ("users", "{:,}"), ("repos", "{:,}"), ("top_user_share", "{:.2%}"),
        ("one_event_users", "{:.1%}"), ("median_largest", "{:g}"),
        ("max_largest", "{:g}"), ("median_clusters3", "{:g}"),
        ("median_components", "{:g}"))
LABELS = {"events": "events per hour", "edge_share": "events giving an edge",
          "self_edge_share": "self-edges", "users": "distinct users (actors)",
          "repos": "distinct repos", "top_user_share": "most active user's share",
          "one_event_users": "users with one event",
          "median_largest": "10-min windows: median largest component",
          "max_largest": "10-min windows: max largest component",
          "median_clusters3": "10-min windows: median components of 3+",
          "median_components": "10-min windows: median components"}


def table(real, synthetic):
  lines = ["| measure | real 2015 hour | synthetic (first hour) |", "|---|---|---|"]
  for key, fmt in ROWS:
    lines.append(f"| {LABELS[key]} | {fmt.format(real[key])} | "
                 f"{fmt.format(synthetic[key])} |")
  for kind in sorted(real["types"], key=real["types"].get, reverse=True):
    lines.append(f"| share {kind} | {real['types'][kind]:.1%} | "
                 f"{synthetic['types'].get(kind, 0):.1%} |")
  return "\n".join(lines)


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--hour", default=REAL)
  parser.add_argument("--seed", type=int, default=0)
  args = parser.parse_args()
  print(table(stats(real_events(args.hour)), stats(synthetic_events(seed=args.seed))))


if __name__ == "__main__":
  main()

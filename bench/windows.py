"""Sliced against plain sliding windows, the windowing alone (FnApiRunner, in process):
timestamped edges of synthetic events -> WindowedComponents -> one summary per window,
at size/period 6 and 30 (period 60 s). The edges are extracted once and cached; each run
reads them back and stamps them, which is also timed alone ("read only") so that the
windowing's own cost (run minus read) shows. Medians of --repeats, runs side by side.

  python bench/windows.py [--events 200000] [--repeats 3]
"""
import argparse
import os
import pickle
import statistics
import sys
import time

import apache_beam as beam
from apache_beam.metrics import Metrics, MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.transforms import window
from apache_beam.utils.timestamp import Timestamp

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from end_to_end import CACHE   # noqa: E402  (a sibling script)

from pulse.firehose import synth   # noqa: E402
from pulse.transforms.edges import edge_of   # noqa: E402
from pulse.transforms.events import normalise   # noqa: E402
from pulse.schemas.windows import WindowGeometry   # noqa: E402
from pulse.transforms.windows import WindowedComponents   # noqa: E402

PERIOD_S = 60


def edges_file(events, seed=0):
  """A cached pickle of the edges of `events` synthetic events."""
  os.makedirs(CACHE, exist_ok=True)
  path = os.path.join(CACHE, f"edges-{events}-{seed}.pickle")
  if not os.path.exists(path):
    edges = [e for e, _ in map(edge_of, map(normalise, synth.events(events, seed))) if e]
    with open(path + ".part", "wb") as out:
      pickle.dump(edges, out)
    os.replace(path + ".part", path)
  return path


class _ReadEdges(beam.DoFn):
  def process(self, path):
    with open(path, "rb") as edges:
      for edge in pickle.load(edges):
        yield window.TimestampedValue(edge, Timestamp(micros=edge["created_at"] * 1000))


class _Count(beam.DoFn):
  def __init__(self):
    self.items = Metrics.counter("bench", "items")

  def process(self, item):
    self.items.inc()


def run(path, ratio=None, sliced=True):
  """(seconds, items out) of one pipeline; ratio None: read and stamp only."""
  started = time.perf_counter()
  pipeline = beam.Pipeline(options=PipelineOptions(runner="FnApiRunner"))
  items = pipeline | beam.Create([path]) | beam.ParDo(_ReadEdges())
  if ratio:
    items = items | WindowedComponents(WindowGeometry(PERIOD_S * ratio, PERIOD_S),
                                       "sliced" if sliced else "plain")
  items | beam.ParDo(_Count())
  result = pipeline.run()
  result.wait_until_finish()
  seconds = time.perf_counter() - started
  (counter,) = result.metrics().query(MetricsFilter().with_name("items"))["counters"]
  return seconds, counter.committed


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--events", type=int, default=200_000)
  parser.add_argument("--repeats", type=int, default=3)
  args = parser.parse_args()
  path = edges_file(args.events)
  with open(path, "rb") as edges:
    count = len(pickle.load(edges))
  print(f"{count:,} edges from {args.events:,} synthetic events, period {PERIOD_S} s\n")
  print("| size / period | plain s | sliced s | read only s | plain / sliced | "
        "same, windowing only | plain edges/s | sliced edges/s |")
  print("|---|---|---|---|---|---|---|---|")
  for ratio in (6, 30):
    times = {"plain": [], "sliced": [], "read": []}
    for _ in range(args.repeats):       # side by side, so all see the same machine state
      times["read"].append(run(path)[0])
      t, plain_windows = run(path, ratio, sliced=False)
      times["plain"].append(t)
      t, sliced_windows = run(path, ratio, sliced=True)
      times["sliced"].append(t)
      assert plain_windows == sliced_windows > 0, (plain_windows, sliced_windows)
    p, s, r = (statistics.median(times[k]) for k in ("plain", "sliced", "read"))
    print(f"| {ratio} | {p:.1f} | {s:.1f} | {r:.1f} | {p / s:.1f}x | "
          f"{(p - r) / (s - r):.1f}x | {count / p:,.0f} | {count / s:,.0f} |")


if __name__ == "__main__":
  main()

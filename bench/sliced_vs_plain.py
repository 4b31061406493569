"""Sliced vs plain windows, end to end (FnApiRunner, synthetic Avro -> SQLite), at
size/period 6 and 30 (period 60 s). The two runs of a pair go back to back; medians of
--repeats pairs and their ratio. Both give identical frames (tests/test_oracle.py).

  python bench/sliced_vs_plain.py [--events 100000] [--repeats 3]
"""
import argparse
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from end_to_end import run_pipeline, synthetic   # noqa: E402  (a sibling script)


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--events", type=int, default=100_000)
  parser.add_argument("--repeats", type=int, default=3)
  args = parser.parse_args()
  path = synthetic(args.events)
  print("| size / period | window | events | plain s (median) | sliced s (median) | "
        "sliced speed-up |")
  print("|---|---|---|---|---|---|")
  for ratio in (6, 30):
    flags = ["--window_size", str(60 * ratio), "--window_period", "60"]
    plain, sliced = [], []
    for _ in range(args.repeats):
      plain.append(run_pipeline(path, flags + ["--windowing", "plain"])[0])
      sliced.append(run_pipeline(path, flags + ["--windowing", "sliced"])[0])
    p, s = statistics.median(plain), statistics.median(sliced)
    print(f"| {ratio} | {60 * ratio} s every 60 s | {args.events:,} | {p:.1f} | {s:.1f} | "
          f"{p / s:.2f}x |")


if __name__ == "__main__":
  main()

"""Growth, end to end (FnApiRunner, synthetic Avro -> SQLite, windows 300 s every 60 s):
time and peak memory as events grow (at the real hour's rate, so more hours and windows),
and as the event rate grows at a fixed count (more distinct users per window). One run
per point (bounded time); time per event shows where it stops being linear.

  python bench/growth.py [--sizes 100000,200000,500000,1000000] [--rates 8273,33092,132368]
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from end_to_end import WINDOWS, run_pipeline, synthetic   # noqa: E402


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--sizes", default="100000,200000,500000,1000000")
  parser.add_argument("--rates", default="8273,33092,132368")
  parser.add_argument("--rate_events", type=int, default=200_000)
  args = parser.parse_args()
  print("| events | events/hour | s | events/s | µs per event | peak RSS MB |")
  print("|---|---|---|---|---|---|")
  points = [(int(n), 8273) for n in args.sizes.split(",")]
  points += [(args.rate_events, int(r)) for r in args.rates.split(",") if int(r) != 8273]
  for events, rate in points:
    seconds, peak = run_pipeline(synthetic(events, events_per_hour=rate), WINDOWS)
    print(f"| {events:,} | {rate:,} | {seconds:.1f} | {events / seconds:,.0f} | "
          f"{seconds / events * 1e6:.1f} | {peak:,.0f} |", flush=True)


if __name__ == "__main__":
  main()

"""Growth, end to end (FnApiRunner, one worker, synthetic Avro -> SQLite, windows 300 s
every 60 s): time and peak memory as the input grows, for the default run (chunked:
pipeline/passes.py) and for one pass (--chunk_edges 0), and for a day at today's rate of
GitHub events. One run per point (bounded time); the ratios are against the first size.

  python bench/growth.py [--sizes 1000000,2000000,4000000,10000000]
                         [--one_pass_sizes 1000000,4000000] [--day_rate 190000]
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from end_to_end import WINDOWS, run_pipeline, synthetic   # noqa: E402


def _numbers(text):
  return [int(n) for n in text.split(",") if n]


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--sizes", default="1000000,2000000,4000000,10000000")
  parser.add_argument("--one_pass_sizes", default="1000000,4000000")
  parser.add_argument("--day_rate", type=int, default=190_000,
                      help="events per hour of the day's run (0: none)")
  args = parser.parse_args()
  points = [("chunked (default)", n, 8273, []) for n in _numbers(args.sizes)]
  points += [("one pass", n, 8273, ["--chunk_edges", "0"])
             for n in _numbers(args.one_pass_sizes)]
  if args.day_rate:
    points.append(("a day, chunked (default)", args.day_rate * 24, args.day_rate, []))
  print("| run | events | events/hour | s | events/s | µs per event | peak RSS MB | "
        "time per event / first | peak / first |")
  print("|---|---|---|---|---|---|---|---|---|")
  first = {}
  for name, events, rate, flags in points:
    seconds, peak = run_pipeline(synthetic(events, events_per_hour=rate),
                                 WINDOWS + flags)
    per_event = seconds / events * 1e6
    base = first.setdefault(name, (per_event, peak))
    print(f"| {name} | {events:,} | {rate:,} | {seconds:.1f} | {events / seconds:,.0f} | "
          f"{per_event:.1f} | {peak:,.0f} | {per_event / base[0]:.2f} | "
          f"{peak / base[1]:.2f} |", flush=True)


if __name__ == "__main__":
  main()

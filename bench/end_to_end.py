"""End to end, FnApiRunner batch: synthetic events from a nested Avro export to SQLite
frames, windows 300 s every 60 s. Reports events/s and peak memory (max RSS of the run's
process), the median of --repeats runs. --workers 1,2 runs the FnApiRunner with one
worker and with two worker processes (--direct_num_workers=2
--direct_running_mode=multi_processing; big Avro files are read in byte ranges, so the
workers share them). With --baseline DIR (a tree holding a `pulse` package, e.g.
`git archive HEAD --prefix=pulse/ | tar -x -C DIR`) the baseline runs too, with each
worker count.
All configurations of a repeat run back to back; medians and their ratios are printed.

  python bench/end_to_end.py [--events 1000000] [--repeats 3] [--workers 1,2]
                             [--baseline DIR]
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

from pulse.firehose import synth

HERE = os.path.dirname(os.path.abspath(__file__))
CACHE = os.path.join(tempfile.gettempdir(), "pulse-bench")
WINDOWS = ["--window_size", "300", "--window_period", "60"]


def synthetic(events, seed=0, events_per_hour=synth.EVENTS_PER_HOUR):
  """The path of a cached synthetic Avro export of `events` events."""
  os.makedirs(CACHE, exist_ok=True)
  path = os.path.join(CACHE, f"synth-{events}-{seed}-{events_per_hour}.avro")
  if not os.path.exists(path):
    part = path[:-len(".avro")] + ".part.avro"
    synth.write(part, events, seed, events_per_hour=events_per_hour)
    os.replace(part, path)
  return path


def run_pipeline(path, args=(), pythonpath=None):
  """(seconds, peak RSS MB) of one `pulse run` in a fresh process, frames to a fresh
  SQLite file. `pythonpath` puts another `pulse` package first."""
  with tempfile.TemporaryDirectory() as tmp:
    env = dict(os.environ)
    if pythonpath:
      env["PYTHONPATH"] = pythonpath
    command = [sys.executable, "-m", "pulse.pipeline", "run", "--input", path,
               "--sink", f"sqlite:///{tmp}/frames.db", *args]
    log = open(os.path.join(tmp, "log"), "w+b")
    started = time.monotonic()
    process = subprocess.Popen(command, env=env, cwd=tmp, stdout=log,
                               stderr=subprocess.STDOUT)
    _, status, usage = os.wait4(process.pid, 0)    # reaps it with its own peak RSS
    seconds = time.monotonic() - started
    if os.waitstatus_to_exitcode(status):
      log.seek(0)
      raise RuntimeError(log.read().decode()[-2000:])
    log.close()
  return seconds, usage.ru_maxrss / 1024


def worker_flags(workers):
  if workers == 1:
    return []
  return [f"--direct_num_workers={workers}", "--direct_running_mode=multi_processing"]



def print_medians(runs, events, first_column="version"):
  """Prints a markdown table of {name: [(seconds, peak RSS MB)]}; returns {name: median s}."""
  print(f"| {first_column} | events | median s | events/s | peak RSS MB | runs (s) |")
  print("|---|---|---|---|---|---|")
  medians = {}
  for name, results in runs.items():
    seconds = statistics.median(s for s, _ in results)
    medians[name] = seconds
    print(f"| {name} | {events:,} | {seconds:.1f} | {events / seconds:,.0f} | "
          f"{max(m for _, m in results):,.0f} | "
          f"{' / '.join(f'{s:.1f}' for s, _ in results)} |")
  return medians

def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--events", type=int, default=1_000_000)
  parser.add_argument("--repeats", type=int, default=3)
  parser.add_argument("--workers", default="1",
                      help="comma-separated worker counts to compare, e.g. 1,2")
  parser.add_argument("--baseline", help="a directory holding another `pulse` package")
  parser.add_argument("beam_args", nargs="*", help="extra flags for pulse run (after --)")
  args = parser.parse_args()
  path = synthetic(args.events)
  flags = WINDOWS + args.beam_args
  trees = [("baseline", args.baseline)] if args.baseline else []
  trees.append(("this tree", None))
  configs = [(f"{tree}, {workers} worker{'s' * (workers > 1)}", pythonpath,
              flags + worker_flags(workers))
             for tree, pythonpath in trees for workers in map(int, args.workers.split(","))]
  runs = {name: [] for name, _, _ in configs}
  for _ in range(args.repeats):         # interleaved, so all see the same machine state
    for name, pythonpath, config_flags in configs:
      runs[name].append(run_pipeline(path, config_flags, pythonpath))
  medians = print_medians(runs, args.events)
  first = configs[0][0]
  for name in list(medians)[1:]:
    print(f"\nspeed-up of {name} over {first} (medians): "
          f"{medians[first] / medians[name]:.2f}x")
    same = name.replace("this tree", "baseline")
    if same in medians and same != first:
      print(f"speed-up of {name} over {same} (medians): "
            f"{medians[same] / medians[name]:.2f}x")


if __name__ == "__main__":
  main()

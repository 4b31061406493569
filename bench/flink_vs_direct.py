"""Events/s of the batch job on a local Flink cluster (parallelism 1 and 2) next to the
FnApiRunner on the same input, in one run: the configurations take turns, each REPEATS
times, and the medians are printed. Each run is a whole `pulse run` process (start-up and
job submission included), timed by the wall clock around it and by pulse's own summary.

  python bench/flink_vs_direct.py [--input HOUR] [--repeats 3] [--flink_master HOST:PORT]

Without --flink_master a cluster is started with scripts/flink.sh in a temp dir and stopped
afterwards. When Beam's Flink job server jar is not to be had (scripts/flink.sh
jobserver-jar), the Flink rows say why and only the FnApiRunner is measured.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLINK_SH = os.path.join(REPO, "scripts", "flink.sh")
RUN_TIMEOUT = 900


def _script(*args, timeout=300):
  env = dict(os.environ, PULSE_PYTHON=sys.executable, FLINK_WATCH_PID=str(os.getpid()))
  return subprocess.run(["bash", FLINK_SH, *args], capture_output=True, text=True,
                        env=env, timeout=timeout, stdin=subprocess.DEVNULL)


def _timed(argv, folder):
  """(wall seconds, pulse's summary) of one run, or raises with its output's tail."""
  started = time.monotonic()
  done = subprocess.run(argv, capture_output=True, text=True, cwd=REPO, timeout=RUN_TIMEOUT,
                        stdin=subprocess.DEVNULL)
  wall = time.monotonic() - started
  lines = [l for l in done.stdout.splitlines() if l.startswith("summary: ")]
  if done.returncode or not lines:
    raise RuntimeError(f"{argv[:3]} exited {done.returncode}:\n{done.stderr[-2000:]}")
  return wall, json.loads(lines[-1][len("summary: "):])


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--input", default=os.path.join(REPO, "data",
                                                      "gharchive-2015-01-01-12.json.gz"))
  parser.add_argument("--repeats", type=int, default=3)
  parser.add_argument("--flink_master", default=None)
  args = parser.parse_args(argv)

  pulse = os.path.join(os.path.dirname(sys.executable), "pulse")   # this venv's
  configs = {"FnApiRunner": [pulse, "run", "--runner=FnApiRunner"]}
  unavailable = {}
  jar = _script("jobserver-jar")
  if jar.returncode:
    _script("fetch", timeout=900)
    jar = _script("jobserver-jar")
  cluster = None
  if jar.returncode:
    reason = jar.stderr.strip().splitlines()[-1]
    unavailable = {"Flink p=1": reason, "Flink p=2": reason}
  else:
    master = args.flink_master
    if not master:
      cluster = tempfile.mkdtemp(prefix="pulse-flink-bench.")
      started = _script("start", cluster)
      if started.returncode:
        sys.exit(f"scripts/flink.sh start failed:\n{started.stderr}")
      master = started.stdout.strip().splitlines()[-1]
    for p in (1, 2):
      configs[f"Flink p={p}"] = [
          "bash", "run_flink.sh", f"--flink_master={master}",
          f"--flink_job_server_jar={jar.stdout.strip()}", f"--parallelism={p}"]

  results = {name: [] for name in configs}
  try:
    with tempfile.TemporaryDirectory(prefix="pulse-bench.") as tmp:
      for round_ in range(args.repeats):
        for name, command in configs.items():   # take turns: same conditions for each
          folder = os.path.join(tmp, f"{name.replace(' ', '_').replace('=', '')}-{round_}")
          os.makedirs(folder)
          wall, summary = _timed(command + [
              f"--input={args.input}", f"--sink=sqlite://{folder}/frames.db",
              f"--dead_letter_output={folder}/dead.jsonl"], folder)
          results[name].append((wall, summary))
          print(f"  {name:<12} run {round_ + 1}: {summary['events_read']:,} events, "
                f"{wall:.1f} s wall, {summary['events_per_second']:,} events/s (pulse)",
                file=sys.stderr)
  finally:
    if cluster:
      _script("stop", cluster)

  print(f"input: {os.path.basename(args.input)}; medians of {args.repeats}; wall = the whole "
        "`pulse run` process, pulse = its own timer (pipeline build to end)")
  print("| runner | events | wall s | events/s (wall) | events/s (pulse) |")
  print("|---|---|---|---|---|")
  for name, runs in results.items():
    events = runs[0][1]["events_read"]
    wall = statistics.median(w for w, _ in runs)
    pulse = statistics.median(s["events_per_second"] for _, s in runs)
    print(f"| {name} | {events:,} | {wall:.1f} | {events / wall:,.0f} | {pulse:,.0f} |")
  for name, reason in unavailable.items():
    print(f"| {name} | not run: {reason} | | | |")
  return 0


if __name__ == "__main__":
  sys.exit(main())

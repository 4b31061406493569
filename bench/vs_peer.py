"""The pipeline against a hand-written polars + scipy peer (bench/peer.py), side by side on
one realistic BigQuery Avro export: wall time of `pulse run` (FnApiRunner, two worker
processes, windows 300 s every 60 s, SQLite frames; start and summary included) and of
`python bench/peer.py` (start included), alternately, --repeats times; medians, events/s
and their ratio. Then the last pipeline run's frames are checked against the peer's
windows (peer.py --check).

Realistic: `pulse synth` makes tiny payloads (about 100 bytes an event as deflated Avro;
real 2015 events are ~2.2 KB of JSON, ~2.0 KB of uncompressed and ~420 bytes of deflated
nested Avro), which flatters a decoder. This file takes synth's events (who, on whose
repo, when: calibrated on the 2015 hour) and gives each the payload of a real event of its
type from data/gharchive-2015-01-01-12.json.gz, in turn, with the logins the edge rules
read (issue and PR authors, a PR's base owner, a member) set to synth's, so the edges
are synth's; written as a nested export (deflate, fastavro's default blocks, as `pulse
convert`). Cached in ~/.cache/network-pulse/ (PULSE_BENCH_CACHE elsewhere).

  python bench/vs_peer.py [--events 1000000] [--repeats 3] [--workers 2]
                          [--pipeline_only | --peer_only] [--no_check] [--baseline DIR]
"""
import argparse
import collections
import gzip
import os
import subprocess
import sys
import tempfile
import time

import fastavro
import orjson

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from end_to_end import WINDOWS, print_medians, worker_flags   # noqa: E402

from pulse.firehose import synth                      # noqa: E402
from pulse.io.bigquery_export import to_nested        # noqa: E402
from pulse.schemas import NESTED, export_schema       # noqa: E402

CACHE = os.environ.get("PULSE_BENCH_CACHE",
                       os.path.expanduser("~/.cache/network-pulse"))
REAL_HOUR = os.path.join(REPO, "data", "gharchive-2015-01-01-12.json.gz")


def _real_payloads():
  """{type: [payload dict]} of the real 2015 hour, in file order."""
  by_type = collections.defaultdict(list)
  with gzip.open(REAL_HOUR) as f:
    for line in f:
      event = orjson.loads(line)
      if isinstance(event.get("payload"), dict):
        by_type[event["type"]].append(event["payload"])
  return by_type


def _with(node, path, value):
  """A copy of the dicts along `path` in node (the rest shared), the last key set to
  value; dicts made where the path is missing."""
  node = dict(node) if isinstance(node, dict) else {}
  if len(path) == 1:
    node[path[0]] = value
  else:
    node[path[0]] = _with(node.get(path[0]), path[1:], value)
  return node


def _author(synthetic):
  """The login synth's payload names as the partner (issue or PR author, member)."""
  payload = synthetic["payload"]
  for path in (("issue", "user"), ("pull_request", "user"), ("member",)):
    node = payload
    for key in path:
      node = node.get(key) if isinstance(node, dict) else None
    if isinstance(node, dict):
      return node.get("login")
  return None


def realistic_events(count, seed=0):
  """synth.events with real payloads (see the module docstring); payloads as JSON text."""
  real = _real_payloads()
  plain = {kind: [orjson.dumps(p).decode() for p in payloads]
           for kind, payloads in real.items()}
  turn = collections.Counter()
  for event in synth.events(count, seed):
    kind = event["type"]
    templates = real[kind]
    i = turn[kind] % len(templates)
    turn[kind] += 1
    author = _author(event)
    owner = event["repo"]["name"].partition("/")[0]
    if kind in ("IssueCommentEvent", "IssuesEvent"):
      payload = _with(templates[i], ("issue", "user", "login"), author)
    elif kind == "PullRequestEvent":
      payload = _with(templates[i], ("pull_request", "user", "login"), author)
      payload = _with(payload, ("pull_request", "base", "repo", "owner", "login"), owner)
      payload = _with(payload, ("pull_request", "base", "user", "login"), owner)
    elif kind == "PullRequestReviewCommentEvent":
      payload = _with(templates[i], ("pull_request", "user", "login"), author)
    elif kind == "MemberEvent":
      payload = _with(templates[i], ("member", "login"), author)
    else:
      event["payload"] = plain[kind][i]
      yield event
      continue
    event["payload"] = orjson.dumps(payload).decode()
    yield event


def realistic(events, seed=0):
  """The path of the cached realistic nested export of `events` events."""
  os.makedirs(CACHE, exist_ok=True)
  path = os.path.join(CACHE, f"realistic-{events}-{seed}.avro")
  if not os.path.exists(path):
    started = time.monotonic()
    part = path[:-len(".avro")] + f".part{os.getpid()}.avro"
    schema = fastavro.parse_schema(export_schema(NESTED))
    with open(part, "wb") as out:
      fastavro.writer(out, schema, (to_nested(e) for e in realistic_events(events, seed)),
                      codec="deflate")
    os.replace(part, path)
    print(f"wrote {path} ({os.path.getsize(path) / events:.0f} bytes an event) in "
          f"{time.monotonic() - started:.0f} s", file=sys.stderr)
  return path


def _timed(command, env=None, cwd=None):
  """(seconds, peak RSS MB) of a command in a fresh process; its output to a log."""
  with tempfile.TemporaryFile() as log:
    started = time.monotonic()
    process = subprocess.Popen(command, env=env, cwd=cwd, stdout=log,
                               stderr=subprocess.STDOUT)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.monotonic() - started
    if os.waitstatus_to_exitcode(status):
      log.seek(0)
      raise RuntimeError(f"{command[:4]}...: {log.read().decode()[-2000:]}")
  return seconds, usage.ru_maxrss / 1024


def run_pipeline(path, workers, sink_dir, pythonpath=None):
  env = dict(os.environ)
  if pythonpath:
    env["PYTHONPATH"] = pythonpath
  db = os.path.join(sink_dir, "frames.db")
  if os.path.exists(db):
    os.remove(db)
  return _timed([sys.executable, "-m", "pulse.pipeline", "run", "--input", path,
                 "--sink", f"sqlite://{db}", *WINDOWS, *worker_flags(workers)],
                env=env, cwd=sink_dir)


def run_peer(path, out):
  return _timed([sys.executable, os.path.join(HERE, "peer.py"), path,
                 "--window_size", "300", "--window_period", "60", "--output", out])


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--events", type=int, default=1_000_000)
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--repeats", type=int, default=3)
  parser.add_argument("--workers", type=int, default=2)
  parser.add_argument("--baseline", help="a directory holding another `pulse` package, "
                      "run too (e.g. `git archive HEAD --prefix=pulse/ | tar -x -C DIR`)")
  parser.add_argument("--pipeline_only", action="store_true")
  parser.add_argument("--peer_only", action="store_true")
  parser.add_argument("--no_check", action="store_true")
  args = parser.parse_args()
  path = realistic(args.events, args.seed)
  print(f"input: {path}, {os.path.getsize(path) / args.events:.0f} bytes an event "
        f"(deflated Avro), {args.events:,} events")
  with tempfile.TemporaryDirectory() as tmp:
    peer_out = os.path.join(tmp, "peer.jsonl")
    configs = []
    if not args.peer_only:
      if args.baseline:
        configs.append((f"pipeline, baseline tree, {args.workers} workers",
                        lambda: run_pipeline(path, args.workers, tmp, args.baseline)))
      configs.append((f"pipeline, {args.workers} worker{'s' * (args.workers > 1)}",
                      lambda: run_pipeline(path, args.workers, tmp)))
    if not args.pipeline_only:
      configs.append(("peer (polars + scipy)", lambda: run_peer(path, peer_out)))
    runs = {name: [] for name, _ in configs}
    for repeat in range(args.repeats):      # interleaved: all see the same machine state
      for name, run in configs:
        runs[name].append(run())
        print(f"  repeat {repeat + 1}: {name}: {runs[name][-1][0]:.1f} s", flush=True)
    print()
    medians = print_medians(runs, args.events, "contender")
    peer = next((name for name in medians if name.startswith("peer")), None)
    for name in medians:
      if peer and name != peer:
        print(f"\n{name} against the peer (medians): {medians[name]:.1f} s / "
              f"{medians[peer]:.1f} s; its events/s are {medians[peer] / medians[name]:.2f}x "
              f"the peer's")
    if args.baseline and not args.peer_only:
      old, new = list(medians)[:2]
      print(f"\n{new} against {old} (medians): {medians[old] / medians[new]:.2f}x as fast")
    if not (args.no_check or args.peer_only or args.pipeline_only):
      frames = os.path.join(tmp, "frames.jsonl")
      with open(frames, "wb") as f:
        subprocess.run([sys.executable, "-m", "pulse", "export", "--sink",
                        f"sqlite://{os.path.join(tmp, 'frames.db')}"], stdout=f,
                       check=True)
      check = subprocess.run([sys.executable, os.path.join(HERE, "peer.py"), path,
                              "--check", frames], capture_output=True, text=True)
      print("\n" + check.stdout.strip())
      if check.returncode:
        sys.exit(1)


if __name__ == "__main__":
  main()

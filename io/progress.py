"""Where a long read is, told by the worker processes to the process that runs them. A
local runner's metrics are there only when a run ends; so each worker process keeps its
own totals in a small JSON file in a folder the driver names, rewritten at most every
REPORT_S, and the driver adds them up (pipeline/progress.py).

  DIR/<pid>.json: {"events": n, "bytes": n, "event_ms": latest event time seen}"""
import json
import os
import time

__all__ = ["reporter", "read_totals", "REPORT_S"]

REPORT_S = 2.0
_REPORTERS = {}          # per process: folder -> its Reporter


class Reporter:
  """One process's totals for one folder. The DoFns of a worker share it (one bundle runs
  at a time per DoFn, but a worker may run bundles on several threads: plain adds under
  the GIL are enough for an estimate)."""
  def __init__(self, directory):
    self.path = os.path.join(directory, f"{os.getpid()}.json")
    self.events = self.bytes = 0
    self.event_ms = None
    self.written = 0.0

  def add(self, events=0, bytes_read=0, event_ms=None):
    self.events += events
    self.bytes += bytes_read
    if event_ms is not None and (self.event_ms is None or event_ms > self.event_ms):
      self.event_ms = event_ms
    if time.monotonic() - self.written >= REPORT_S:
      self.write()

  def write(self):
    part = f"{self.path}.{time.monotonic_ns()}.part"
    try:
      with open(part, "w", encoding="utf-8") as out:
        json.dump({"events": self.events, "bytes": self.bytes,
                   "event_ms": self.event_ms}, out)
      os.replace(part, self.path)       # a reader sees the old totals or the new
    except OSError:
      pass                              # progress is a courtesy; the run goes on
    self.written = time.monotonic()


def reporter(directory):
  """This process's Reporter for directory, or None without one."""
  if not directory:
    return None
  found = _REPORTERS.get(directory)
  if found is None:
    found = _REPORTERS[directory] = Reporter(directory)
  return found


def read_totals(directory):
  """(events, bytes, latest event ms or None) summed over the workers' files."""
  events = size = 0
  latest = None
  for name in os.listdir(directory):
    if not name.endswith(".json"):
      continue
    try:
      with open(os.path.join(directory, name), encoding="utf-8") as f:
        totals = json.load(f)
    except (OSError, ValueError):
      continue                          # being replaced: the next look has it
    events += totals["events"]
    size += totals["bytes"]
    if totals["event_ms"] is not None and (latest is None or totals["event_ms"] > latest):
      latest = totals["event_ms"]
  return events, size, latest

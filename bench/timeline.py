"""Where the wall time of a multi-process run goes: runs a command and prints, every
second, the CPU share of each of its processes (the command, the FnApiRunner's worker
processes, ...), from /proc. A profiler sees one process; this shows which stage keeps
which core busy, and when only the runner process works (its shuffles are serial).

  python bench/timeline.py python -m pulse.pipeline run --input FILE --sink sqlite:///F.db \\
      --direct_num_workers=2 --direct_running_mode=multi_processing

Linux only. The command's own output goes to the end of this one's.
"""
import os
import subprocess
import sys
import tempfile
import time

TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid):
  """(parent pid, CPU seconds) of a process, or None once it is gone."""
  try:
    with open(f"/proc/{pid}/stat") as f:
      fields = f.read().rsplit(")", 1)[1].split()
  except OSError:
    return None
  return int(fields[1]), (int(fields[11]) + int(fields[12])) / TICKS


def _descendants(root):
  children = {}
  for name in os.listdir("/proc"):
    if name.isdigit():
      stat = _stat(int(name))
      if stat:
        children.setdefault(stat[0], []).append(int(name))
  found, stack = [], [root]
  while stack:
    pid = stack.pop()
    found.append(pid)
    stack += children.get(pid, [])
  return found


def main(command):
  with tempfile.TemporaryFile("w+") as log:
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    started, seen = time.monotonic(), {}
    while process.poll() is None:
      time.sleep(1)
      busy = []
      for pid in _descendants(process.pid):
        stat = _stat(pid)
        if stat:
          used = stat[1] - seen.get(pid, 0)
          seen[pid] = stat[1]
          if used >= 0.05:
            busy.append(f"{'cmd' if pid == process.pid else pid}:{used:4.0%}")
      print(f"{time.monotonic() - started:5.1f} s  {'  '.join(busy)}", flush=True)
    log.seek(0)
    print(log.read())
  return process.returncode


if __name__ == "__main__":
  if len(sys.argv) < 2:
    sys.exit(__doc__)
  sys.exit(main(sys.argv[1:]))

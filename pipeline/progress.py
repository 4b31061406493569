"""Progress of a chunked batch run (pipeline/passes.py), printed as it goes: every EVERY_S
a line on standard error, or on an interactive terminal a bar redrawn every second.

While the input is read, the worker processes' totals (io/progress.py) give the events
read, the input's bytes read of all of them (so an ETA), and the latest event time seen;
while the frames are made, the driver says which run it is on."""
import sys
import threading
import time

from pulse.io.progress import read_totals

EVERY_S = 10.0
BAR_EVERY_S = 1.0
BAR_WIDTH = 24


def utc(ms):
  return time.strftime("%Y-%m-%d %H:%M", time.gmtime(ms / 1000))


def reading_text(events, done, total, latest, rate):
  """What the read has done: events, share of the input's bytes, event time, and an
  ETA at `rate` bytes a second (None: not known yet)."""
  parts = [f"reading: {events:,} events"]
  if total:
    parts.append(f"{min(done / total, 1.0):.0%} of {total / 2**20:,.0f} MB")
  if latest is not None:
    parts.append(f"event time to {utc(latest)} UTC")
  if total and rate:
    parts.append(f"ETA {max(total - done, 0) / rate:,.0f} s")
  return ", ".join(parts)


class Progress:
  """A thread that prints the run's progress until stopped.

  Args:
    directory: the workers' progress folder (read while `reading` is set).
    total_bytes: the input's size, for the share read and the ETA (None: unknown).
    out: where to print (standard error).
  """
  def __init__(self, directory, total_bytes, out=None):
    self.directory, self.total_bytes = directory, total_bytes
    self.out = out or sys.stderr
    self.bar = self.out.isatty()
    self.stage = None             # what the driver says it does; None: reading
    self.started = self.first_read = None     # (when, bytes) the first time any were read
    self.stopped = threading.Event()
    self.thread = threading.Thread(target=self._run, name="pulse-progress", daemon=True)

  def __enter__(self):
    self.started = time.monotonic()
    self.thread.start()
    return self

  def __exit__(self, *exc):
    self.stopped.set()
    self.thread.join()
    if self.bar:
      self.out.write("\n")
      self.out.flush()

  def say(self, text, stage=None):
    """A line now (the end of a step), and what is being done from now on."""
    self.stage = stage
    self._print(text, line=True)

  def text(self):
    """The progress line as of now."""
    if self.stage is not None:
      return f"{self.stage}, {time.monotonic() - self.started:,.0f} s in"
    events, done, latest = read_totals(self.directory)
    now, rate = time.monotonic(), None
    if done and self.first_read is None:      # the rate is measured from here on
      self.first_read = (now, done)
    elif self.first_read and now > self.first_read[0]:
      rate = (done - self.first_read[1]) / (now - self.first_read[0])
    return reading_text(events, done, self.total_bytes, latest, rate)

  def _run(self):
    last_line = time.monotonic()
    while not self.stopped.wait(BAR_EVERY_S if self.bar else EVERY_S):
      if self.bar:
        self._print(self.text(), line=False)
      elif time.monotonic() - last_line >= EVERY_S - 0.5:
        self._print(self.text(), line=True)
        last_line = time.monotonic()

  def _print(self, text, line):
    if self.bar:
      share = None
      if self.stage is None and self.total_bytes:
        share = min(read_totals(self.directory)[1] / self.total_bytes, 1.0)
      filled = "#" * round(BAR_WIDTH * (share or 0))
      bar = f"[{filled:<{BAR_WIDTH}}] " if share is not None else ""
      self.out.write(f"\r\x1b[K{bar}{text}" + ("\n" if line else ""))
    else:
      self.out.write(f"pulse: {text}\n")
    self.out.flush()

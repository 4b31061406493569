"""Where the wall time of a batch run goes, stage by stage: runs `pulse run ...` in this
process on the FnApiRunner and prints, for each bundle the runner starts, when it started,
how long it ran and the steps fused into its stage. The FnApiRunner runs a batch
pipeline's stages one after the other, so these add up to the run (bench/timeline.py
shows which processes keep the cores busy meanwhile).

  python bench/stages.py run --input FILE --sink sqlite:///F.db \\
      --direct_num_workers=2 --direct_running_mode=multi_processing [--min_s 0.2]
"""
import time

STARTED_AT = time.monotonic()   # before Beam's import (about 2 s), which the run pays too

import logging   # noqa: E402
import re        # noqa: E402
import sys       # noqa: E402

from pulse.cli import main                     # noqa: E402
from pulse.pipeline import run as pulse_run    # noqa: E402

# The runner's debug line for each bundle it starts (fn_runner.py, Beam 2.77).
RUNNER_LOG = "apache_beam.runners.portability.fn_api_runner.fn_runner.run_bundle"
STARTED = "Running bundle for stage "


def _steps(stage):
  """The step names fused into a stage, shortened."""
  names = re.findall(r"ref_AppliedPTransform_([A-Za-z0-9_-]+?)_\d+\b|([\w/]+)/Read\b", stage)
  return " + ".join(a or f"{b}/Read" for a, b in names)


class _Bundles(logging.Handler):
  def __init__(self, min_s):
    super().__init__()
    self.min_s, self.started, self.current = min_s, STARTED_AT, None

  def close_current(self, now):
    if self.current and now - self.current[1] >= self.min_s:
      name, began = self.current
      print(f"{began - self.started:6.1f} s  +{now - began:6.2f} s  {_steps(name)}",
            file=sys.stderr, flush=True)
    self.current = None

  def emit(self, record):
    message = record.getMessage()
    if message.startswith(STARTED):
      now = time.monotonic()
      self.close_current(now)
      self.current = (message.split("\n")[0][len(STARTED):], now)


def _until_done(follow, bundles):
  def wrapped(*args, **kwargs):
    try:
      return follow(*args, **kwargs)
    finally:
      now = time.monotonic()
      bundles.close_current(now)
      print(f"{now - bundles.started:6.1f} s  pipeline done (the summary follows)",
            file=sys.stderr, flush=True)
  return wrapped


if __name__ == "__main__":
  argv = sys.argv[1:]
  min_s = 0.2
  if "--min_s" in argv:
    at = argv.index("--min_s")
    min_s = float(argv[at + 1])
    del argv[at:at + 2]
  bundles = _Bundles(min_s)
  runner_log = logging.getLogger(RUNNER_LOG)
  runner_log.setLevel(logging.DEBUG)
  runner_log.addHandler(bundles)
  runner_log.propagate = False
  pulse_run.follow = _until_done(pulse_run.follow, bundles)
  sys.exit(main(argv))

"""A Python streaming pipeline really streams on Prism (local binary, LOOPBACK): an unbounded
splittable DoFn that polls (defer_remainder) and sets its watermark by hand feeds
SlidingWindows(20, 10) + CombineGlobally(Count); each window's count is written by a sink
while the source is still producing, every window fires once with its full count (Beam
issue 35384: Prism fired sliding windows early), and the source's bundle-finalizer callbacks
run for every emitted tick after its bundle is committed."""
import json
import os
import sys
import time
from collections import Counter

import apache_beam as beam
from apache_beam.io.restriction_trackers import OffsetRange, OffsetRestrictionTracker
from apache_beam.io.watermark_estimators import ManualWatermarkEstimator
from apache_beam.metrics import Metrics
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.runner import PipelineState
from apache_beam.transforms import window
from apache_beam.transforms.core import RestrictionProvider
from apache_beam.utils.timestamp import Duration, Timestamp

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))   # as conftest does
from prism_runner import prism_options  # noqa: E402

BASE = 1_700_000_000        # event-time origin, a multiple of the 10 s slide
TICKS = 24                  # the source emits one tick per poll ...
PER_TICK = 2                # ... of 2 elements sharing one timestamp
TICK_EVENT_SECS = 2         # tick k is at event time BASE + 2k
POLL = Duration(seconds=0.4)  # resume delay between polls: ~10 s of wall time in all
SIZE, PERIOD = 20, 10
RUN_TIMEOUT_S = 60


def tick_ts(k):
  return BASE + TICK_EVENT_SECS * k


def _log(path, kind, **fields):
  fields.update(kind=kind, wall=time.time())
  with open(path, "a") as f:   # one short append per line: safe across worker threads
    f.write(json.dumps(fields) + "\n")


class CheckpointOnlyTracker(OffsetRestrictionTracker):
  """Unbounded offsets: only checkpoints (fraction 0, from defer_remainder) may split.

  Prism asks a slow bundle for a fraction-0.5 split; over [n, 2**63-1) that would start a
  second reader at offset ~2**62, so such splits are refused (Prism then stops asking)."""
  def try_split(self, fraction_of_remainder):
    if fraction_of_remainder > 0:
      return None
    return super().try_split(fraction_of_remainder)

  def is_bounded(self):
    return False


class TickRestrictions(RestrictionProvider):
  def initial_restriction(self, element):
    return OffsetRange(0, sys.maxsize)

  def create_tracker(self, restriction):
    return CheckpointOnlyTracker(restriction)

  def restriction_size(self, element, restriction):
    return 1


class PollingTicks(beam.DoFn):
  """Unbounded SDF: each call claims one tick (offset), emits its elements, moves the
  watermark to the next tick's time and defers; after TICKS it claims the rest and ends."""
  def __init__(self, log_path):
    self.log_path = log_path
    self.ticks = Metrics.counter("pulse_test", "ticks")

  def setup(self):
    _log(self.log_path, "setup")

  # BundleFinalizerParam must come before the restriction/watermark params: the SDK passes
  # those two by keyword and this one by position ("got multiple values for argument").
  @beam.DoFn.unbounded_per_element()
  def process(self, element,
              finalizer=beam.DoFn.BundleFinalizerParam,
              tracker=beam.DoFn.RestrictionParam(TickRestrictions()),
              estimator=beam.DoFn.WatermarkEstimatorParam(
                  ManualWatermarkEstimator.default_provider())):
    k = tracker.current_restriction().start
    if k >= TICKS:
      _log(self.log_path, "source_done")
      # Prism sends FinalizeBundle after every bundle of this stage; one that registered no
      # callback makes the SDK log an ERROR traceback ("not in a finalizable state").
      finalizer.register(lambda: None)
      tracker.try_claim(tracker.current_restriction().stop)   # claims the rest: check_done ok
      return
    if not tracker.try_claim(k):
      return
    _log(self.log_path, "emit", tick=k)
    for i in range(PER_TICK):
      yield window.TimestampedValue((k, i), Timestamp(tick_ts(k)))
    self.ticks.inc()
    finalizer.register(lambda k=k: _log(self.log_path, "finalized", tick=k))
    estimator.set_watermark(Timestamp(tick_ts(k + 1)))
    tracker.defer_remainder(POLL)


class RecordWindow(beam.DoFn):
  def __init__(self, log_path):
    self.log_path = log_path

  def process(self, count, w=beam.DoFn.WindowParam, pane=beam.DoFn.PaneInfoParam):
    _log(self.log_path, "window", start=float(w.start), end=float(w.end), count=count,
         timing=int(pane.timing), first=pane.is_first, last=pane.is_last)


def expected_counts():
  counts = Counter()
  for k in range(TICKS):
    for w in window.SlidingWindows(SIZE, PERIOD).assign(
        window.SlidingWindows.AssignContext(Timestamp(tick_ts(k)))):
      counts[(float(w.start), float(w.end))] += PER_TICK
  return counts


def test_unbounded_sdf_streams_sliding_windows_on_prism(tmp_path):
  log_path = str(tmp_path / "events.jsonl")
  opts = PipelineOptions(prism_options(streaming=True))
  p = beam.Pipeline(options=opts)
  _ = (p
       | beam.Impulse()
       | "Ticks" >> beam.ParDo(PollingTicks(log_path))
       | beam.WindowInto(window.SlidingWindows(SIZE, PERIOD))
       | beam.CombineGlobally(beam.combiners.CountCombineFn()).without_defaults()
       | beam.ParDo(RecordWindow(log_path)))
  started = time.time()
  result = p.run()
  state = result.wait_until_finish(duration=RUN_TIMEOUT_S * 1000)
  if state != PipelineState.DONE:
    result.cancel()
  finished = time.time()
  assert state == PipelineState.DONE, "pipeline did not finish in %ss: %s" % (
      RUN_TIMEOUT_S, state)

  with open(log_path) as f:
    events = [json.loads(line) for line in f]
  of = lambda kind: [e for e in events if e["kind"] == kind]  # noqa: E731
  emits, windows = of("emit"), of("window")

  # The source ran to its end: every tick once, in order, resumed ~POLL apart after each
  # checkpoint (so ~10 s of wall time), and the driver waited for it.
  assert [e["tick"] for e in emits] == list(range(TICKS))
  assert of("source_done") and of("setup")
  gaps = [b["wall"] - a["wall"] for a, b in zip(emits, emits[1:])]
  assert min(gaps) >= 0.3, gaps
  assert finished >= of("source_done")[0]["wall"]

  # Every window fired exactly once, on time, with its complete count.
  outputs = Counter((w["start"] - BASE, w["end"] - BASE) for w in windows)
  assert [w for w, n in outputs.items() if n > 1] == [], "duplicate window outputs"
  got = {(w["start"], w["end"]): w["count"] for w in windows}
  assert got == dict(expected_counts())
  assert all(w["timing"] == 1 and w["first"] and w["last"] for w in windows), windows

  # It streamed: windows were written while the source was still producing, each soon
  # after the watermark passed its end (the watermark is set when tick k is emitted).
  last_emit = emits[-1]["wall"]
  early = [w for w in windows if w["wall"] < last_emit]
  assert len(early) >= 3, "only %d windows before the last element" % len(early)
  first = min(windows, key=lambda w: w["wall"])
  assert first["wall"] < last_emit - 3, (first["wall"] - started, last_emit - started)
  for w in early:
    closing = next(e for e in emits if tick_ts(e["tick"] + 1) >= w["end"])
    assert w["wall"] - closing["wall"] < 2.0, (w, closing)

  # Bundle finalization: each tick's callback ran once, after that tick was emitted.
  finalized = of("finalized")
  assert sorted(e["tick"] for e in finalized) == list(range(TICKS))
  emitted_at = {e["tick"]: e["wall"] for e in emits}
  assert all(e["wall"] >= emitted_at[e["tick"]] for e in finalized)

  # User metrics come back from the job service.
  counters = result.metrics().query(MetricsFilter().with_name("ticks"))["counters"]
  assert sum(c.committed for c in counters) == TICKS

"""Following a run until it ends: progress lines on streaming runs, Ctrl-C as a quiet stop,
and the last metrics for the summary (a local runner stopped by Ctrl-C cannot be asked
again, so streaming runs keep what they polled)."""
import contextlib
import logging
import signal
import threading
import time

from pulse.schemas import counters as C

LOG = logging.getLogger("pulse")


def counter(results, name):
  """The committed value of counter pulse/<name>, summed over steps."""
  return sum(r.committed or 0 for r in results["counters"] if r.key.metric.name == name)


def written_span(results):
  """(first, last) window_start of the frames this run wrote, or None."""
  found = [r.committed for r in results.get("distributions", [])
           if r.key.metric.name == C.FRAME_WINDOW_STARTS and r.committed
           and r.committed.count]
  if not found:
    return None
  return min(d.min for d in found), max(d.max for d in found)


class Flow:
  """When events were read: from the first poll that saw any to the last that saw more.
  A streaming run's rate is over that time, not over the waiting that follows."""
  def __init__(self, poll_s):
    self.poll_s, self.events, self.first, self.last = poll_s, 0, None, None

  def update(self, events):
    now = time.monotonic()
    if events > self.events:
      self.first = self.first or now - self.poll_s   # they began within the last poll
      self.last, self.events = now, events

  def seconds(self):
    return self.last - self.first if self.first is not None else None


def metrics_now(result, quiet=False):
  """The run's metrics as they stand now, or None once the runner is gone."""
  if hasattr(result, "_job_service"):
    result._metrics = None   # a portable result keeps its first answer: ask again
  try:
    return result.metrics().query()
  except Exception as error:     # the runner is gone
    (LOG.debug if quiet else LOG.warning)("no metrics from the runner: %s", error)
    return None


def _progress(results):
  return (counter(results, C.EVENTS_READ), counter(results, C.EDGES),
          counter(results, C.FRAMES_WRITTEN),
          sum(counter(results, n) for n in C.DEAD_LETTER_COUNTERS.values()))


def _runner_gone(error):
  """Whether error is gRPC's word that the runner went away (cancelled, or its process
  ended: Ctrl-C in a terminal reaches Prism too)."""
  import grpc
  return isinstance(error, grpc.RpcError) and callable(getattr(error, "code", None)) and (
      error.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED))


class _QuietRunnerGone(logging.Filter):
  """When the runner goes, Beam's threads (the job's message stream, the in-process
  worker's data and control planes) each print that they lost it; wait_until_finish
  reports the same end once, so their tracebacks are kept to the debug log."""
  def filter(self, record):
    if record.exc_info and _runner_gone(record.exc_info[1]):
      LOG.debug("%s: the runner went away", record.name)
      return False
    return True

  def excepthook(self, previous):
    def hook(args):
      if _runner_gone(args.exc_value):
        LOG.debug("thread %s: the runner went away", args.thread and args.thread.name)
      else:
        previous(args)
    return hook


@contextlib.contextmanager
def quiet_when_the_runner_goes():
  """For the length of a run and its summary (Beam's threads may speak up late)."""
  quiet, previous_hook = _QuietRunnerGone(), threading.excepthook
  threading.excepthook = quiet.excepthook(previous_hook)
  handlers = logging.getLogger().handlers
  for handler in handlers:
    handler.addFilter(quiet)
  try:
    yield
  finally:
    threading.excepthook = previous_hook
    for handler in handlers:
      handler.removeFilter(quiet)


def follow(result, streaming, every_s=10, poll_s=1):
  """Waits for the run to end, or for Ctrl-C (a stop: the job is cancelled). Returns (the
  last metrics seen, Flow or None). Streaming runs poll metrics every poll_s and log
  progress every every_s, once only while nothing changes ("caught up")."""
  outcome, stop = {}, threading.Event()

  def wait():
    try:
      result.wait_until_finish()
    except Exception as error:     # re-raised below, in the main thread, unless stopping
      outcome["error"] = error

  waiter = threading.Thread(target=wait, name="pulse-wait", daemon=True)
  previous_sigint = signal.signal(signal.SIGINT, lambda *_: stop.set()) if streaming else None
  waiter.start()
  last, flow, said, idle, next_log = None, Flow(poll_s) if streaming else None, None, False, 0
  try:
    while waiter.is_alive() and not stop.is_set():
      waiter.join(poll_s if streaming else every_s)
      if not streaming or not waiter.is_alive() or stop.is_set():
        continue
      last = metrics_now(result, quiet=True) or last
      if last is None:
        continue
      flow.update(counter(last, C.EVENTS_READ))
      if time.monotonic() < next_log:
        continue
      next_log = time.monotonic() + every_s
      now = _progress(last)
      if now != said:
        LOG.info("so far: %d events read, %d edges, %d frames stored, %d dead letters",
                 *now)
        said, idle = now, False
      elif not idle and flow.last and time.monotonic() - flow.last >= every_s:
        LOG.info("caught up: %d events read, %d frames stored; waiting for events",
                 now[0], now[2])
        idle = True
  except KeyboardInterrupt:        # batch: Ctrl-C
    stop.set()
  finally:
    if previous_sigint is not None:
      signal.signal(signal.SIGINT, previous_sigint)
  if stop.is_set():
    LOG.info("stopping the pipeline")
    # Prism reports each bundle the cancel ends as failed: expected here, not news.
    logging.getLogger("PrismRunner").setLevel(logging.CRITICAL)
    try:
      result.cancel()
    except Exception as error:   # Ctrl-C reached the runner's process too
      LOG.debug("the runner had already stopped (%s)", error)
    return metrics_now(result, quiet=True) or last or {"counters": []}, flow
  if "error" in outcome:
    raise outcome["error"]
  return metrics_now(result) or last or {"counters": []}, flow

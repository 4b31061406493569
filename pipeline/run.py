"""`pulse run`: build the graph from the command line, run it, follow it, and summarise
what the run did from its metrics and its store."""
import argparse
import json
import logging
import threading
import time

import apache_beam as beam
from apache_beam.options.pipeline_options import (
    GoogleCloudOptions, PipelineOptions, StandardOptions, TestOptions)
from apache_beam.options.pipeline_options_validator import PipelineOptionsValidator
from apache_beam.utils.subprocess_server import SubprocessServer

from pulse.io.object_stores import check_credentials
from pulse.io.stores import open_store
from pulse.pipeline import graph
from pulse.pipeline.options import PulseOptions
from pulse.schemas import counters as C
from pulse.transforms.edges import NO_EDGE_REASONS

LOG = logging.getLogger("pulse")

RUN_HELP = """\
Beam flags go beside these, e.g. --runner (default here: FnApiRunner, the engine of the
Python DirectRunner, for batch work on this machine), --direct_num_workers,
--direct_running_mode, --s3_endpoint_url, --project, --temp_location.
See `python -m apache_beam.runners.runner --help` style docs at beam.apache.org."""


def _run_parser():
  parser = argparse.ArgumentParser(
      prog="pulse run", description="Run the Network Pulse pipeline: GitHub Archive "
      "events -> user-user edges -> sliding-window connected components -> frames.",
      epilog=RUN_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
  PulseOptions._add_argparse_args(parser)
  return parser


def pipeline_options(argv):
  """PipelineOptions from the command line, with our defaults for a local batch run."""
  options = PipelineOptions(argv)
  standard = options.view_as(StandardOptions)
  if not standard.runner:
    standard.runner = "FnApiRunner"   # the DirectRunner would first try to fetch Prism
  return options


def check_dataflow(options):
  """Raise ValueError unless a Dataflow run has a project, a region and a valid gs://
  temp_location: without them Beam first spends ~2 minutes trying to make a default
  bucket, then fails."""
  if "dataflow" not in (options.view_as(StandardOptions).runner or "").lower():
    return
  cloud = options.view_as(GoogleCloudOptions)
  missing = [f"--{name}" for name in ("project", "region", "temp_location")
             if not getattr(cloud, name)]
  if missing:
    raise ValueError("the Dataflow runner needs --project, --region and "
                     f"--temp_location=gs://BUCKET/PATH; missing: {', '.join(missing)}")
  errors = PipelineOptionsValidator(options, None).validate_gcs_path(cloud, "temp_location")
  if errors:
    raise ValueError(errors[0])


def _counter(results, name):
  return sum(r.committed or 0 for r in results["counters"] if r.key.metric.name == name)


def _metrics(result):
  if hasattr(result, "_job_service"):
    result._metrics = None   # a portable result keeps its first answer: ask again
  try:
    return result.metrics().query()
  except Exception as error:     # the runner is gone
    LOG.warning("no metrics from the runner: %s", error)
    return None


def _follow(result, streaming, every_s=10):
  """Wait for the run to end (or Ctrl-C), logging progress on streaming runs; returns the
  last metrics seen (Ctrl-C may stop a local runner before it can be asked again)."""
  outcome = {}

  def wait():
    try:
      result.wait_until_finish()
    except Exception as error:     # re-raised below, in the main thread
      outcome["error"] = error

  waiter = threading.Thread(target=wait, name="pulse-wait", daemon=True)
  waiter.start()
  last = None
  try:
    while waiter.is_alive():
      waiter.join(every_s)
      if streaming and waiter.is_alive():
        last = _metrics(result) or last
        if last:
          LOG.info("so far: %d events read, %d edges, %d frames stored, %d dead letters",
                   _counter(last, C.EVENTS_READ), _counter(last, C.EDGES),
                   _counter(last, C.FRAMES_WRITTEN),
                   sum(_counter(last, n) for n in C.DEAD_LETTER_COUNTERS.values()))
  except KeyboardInterrupt:
    LOG.info("stopping the pipeline")
    try:
      result.cancel()
    except Exception as error:   # Ctrl-C reached the runner's process too
      LOG.info("the runner had already stopped (%s)", error)
    return _metrics(result) or last or {"counters": []}
  if "error" in outcome:
    raise outcome["error"]
  return _metrics(result) or last or {"counters": []}


def summarise(results, options):
  """A dict of what the run did, from its metrics and its store."""
  read = _counter(results, C.EVENTS_READ)
  edges = _counter(results, C.EDGES)
  no_edge = {reason: _counter(results, C.no_edge(reason)) for reason in NO_EDGE_REASONS}
  dead = {stage: _counter(results, name) for stage, name in C.DEAD_LETTER_COUNTERS.items()}
  events = _counter(results, C.EVENTS_NORMALISED)
  summary = {
      "events_read": read,
      "events": events,
      "edges": edges,
      "share_without_edge": round(1 - edges / events, 4) if events else None,
      "no_edge": no_edge,
      "dead_letters": dead,
      "windows": _counter(results, C.FRAMES),
      "frames_written": _counter(results, C.FRAMES_WRITTEN),
  }
  if options.view_as(TestOptions).dry_run:
    return summary     # nothing ran; the store may be remote (jsonl://gs://...)
  store = open_store(options.view_as(PulseOptions).sink)
  try:
    best = None
    for frame in store.frames():
      for cluster in frame["clusters"][:1]:
        if best is None or cluster["size"] > best[1]["size"]:
          best = (frame, cluster)
  finally:
    store.close()
  if best:
    frame, cluster = best
    summary["largest_cluster"] = {
        "size": cluster["size"], "hub": cluster["hub"], "window": frame["id"],
        "members": cluster["members"]}
  return summary


def run(argv):
  if "-h" in argv or "--help" in argv:
    _run_parser().print_help()
    return 0
  options = pipeline_options(argv)
  check_credentials(options.view_as(PulseOptions).input_patterns(), options)
  check_dataflow(options)
  started = time.monotonic()
  # Keeps helper processes (a cross-language expansion service and its Java worker)
  # alive for the whole run, as `with beam.Pipeline(...)` would.
  with SubprocessServer.cache_subprocesses():
    pipeline = beam.Pipeline(options=options)
    graph.build(pipeline, options)
    runner = options.view_as(StandardOptions).runner
    LOG.info("running on %s%s", runner,
             " (streaming: frames are stored as windows close; Ctrl-C stops)"
             if options.view_as(StandardOptions).streaming else "")
    result = pipeline.run()
    metrics = _follow(result, options.view_as(StandardOptions).streaming)
  seconds = time.monotonic() - started
  summary = summarise(metrics, options)
  summary["seconds"] = round(seconds, 2)
  summary["events_per_second"] = round(summary["events_read"] / seconds) if seconds else None
  _print_summary(summary)
  return 0


def _print_summary(s):
  print(f"events read        {s['events_read']:>10,}")
  print(f"edges              {s['edges']:>10,}" + (
      f"   ({s['share_without_edge']:.1%} of events gave none: " +
      ", ".join(f"{k} {v:,}" for k, v in s["no_edge"].items()) + ")"
      if s["share_without_edge"] is not None else ""))
  print(f"dead letters       {sum(s['dead_letters'].values()):>10,}   (" +
        ", ".join(f"{k} {v:,}" for k, v in s["dead_letters"].items()) + ")")
  print(f"windows            {s['windows']:>10,}")
  print(f"frames written     {s['frames_written']:>10,}")
  print(f"time               {s['seconds']:>10.1f} s   ({s['events_per_second']:,} events/s)")
  largest = s.get("largest_cluster")
  if largest:
    print(f"largest cluster    {largest['size']:>10,}   in window {largest['window']}, "
          f"hub {largest['hub']}")
    print("  members: " + ", ".join(largest["members"]))
  print("summary: " + json.dumps({k: v for k, v in s.items() if k != "largest_cluster"}))

"""The `pulse` command: run the pipeline, convert an hour to an Avro export, export frames."""
import argparse
import json
import logging
import sys
import threading
import time

import apache_beam as beam
from apache_beam.options.pipeline_options import (
    GoogleCloudOptions, PipelineOptions, StandardOptions, TestOptions)
from apache_beam.options.pipeline_options_validator import PipelineOptionsValidator
from apache_beam.utils.subprocess_server import SubprocessServer

from pulse.io.bigquery_export import convert
from pulse.io.frame_store import open_store
from pulse.io.object_stores import check_credentials
from pulse.pipeline import graph
from pulse.pipeline.options import PulseOptions
from pulse.pipeline.redaction import Redact, secrets_in
from pulse.schemas import FLAT, NESTED
from pulse.transforms.edges import NO_EDGE_REASONS

LOG = logging.getLogger("pulse")
DEAD_LETTER_STAGES = ("decode", "late", "normalise", "edges")

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
                   _counter(last, "events_read"), _counter(last, "edges"),
                   _counter(last, "frames_written"),
                   sum(_counter(last, "dead_letter_" + s) for s in DEAD_LETTER_STAGES))
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
  read = _counter(results, "events_read")
  edges = _counter(results, "edges")
  no_edge = {reason: _counter(results, "no_edge_" + reason) for reason in NO_EDGE_REASONS}
  dead = {stage: _counter(results, "dead_letter_" + stage) for stage in DEAD_LETTER_STAGES}
  events = _counter(results, "events_normalised")
  summary = {
      "events_read": read,
      "events": events,
      "edges": edges,
      "share_without_edge": round(1 - edges / events, 4) if events else None,
      "no_edge": no_edge,
      "dead_letters": dead,
      "windows": _counter(results, "frames"),
      "frames_written": _counter(results, "frames_written"),
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


def export(argv):
  parser = argparse.ArgumentParser(
      prog="pulse export", description="Print the stored frames as JSON lines, ordered by "
      "window_start.")
  parser.add_argument("--sink", required=True, help="the store, e.g. sqlite:///tmp/f.db")
  args = parser.parse_args(argv)
  store = open_store(args.sink)
  try:
    for frame in store.frames():
      sys.stdout.write(json.dumps(frame, ensure_ascii=False) + "\n")
  finally:
    store.close()
  return 0


def convert_command(argv):
  parser = argparse.ArgumentParser(
      prog="pulse convert", description="Write a GH Archive JSON hour as the matching "
      "BigQuery Avro export would: nested (2011-14, 2016+ tables) or flat (2015 table).")
  parser.add_argument("--input", required=True, help="a JSON hour (.json or .json.gz)")
  parser.add_argument("--output", required=True, help="the Avro file to write")
  parser.add_argument("--shape", choices=(NESTED, FLAT), default=NESTED)
  args = parser.parse_args(argv)
  written, refused = convert(args.input, args.output, args.shape)
  print(f"{args.output}: {written:,} events written as a {args.shape} export, "
        f"{len(refused):,} refused")
  for reason, text in refused[:10]:
    print(f"  refused: {reason}: {text[:120]}")
  return 0


def firehose(argv):
  from pulse.firehose.cli import main as firehose_main   # needs confluent-kafka only here
  return firehose_main(argv)


def synth(argv):
  from pulse.firehose.synth import main as synth_main   # numpy-heavy: load only here
  return synth_main(argv)


def ui(argv):
  from pulse.ui.cli import main as ui_main   # needs Flask-SocketIO only here
  return ui_main(argv)


COMMANDS = {"run": run, "export": export, "convert": convert_command, "firehose": firehose,
            "synth": synth,
            "ui": ui}


def main(argv=None):
  argv = sys.argv[1:] if argv is None else list(argv)
  logging.basicConfig(level=logging.WARNING,
                      format="%(asctime)s %(levelname)s %(name)s: %(message)s")
  LOG.setLevel(logging.INFO)
  redact = Redact(secrets_in(argv))
  for handler in logging.getLogger().handlers:
    handler.addFilter(redact)
  if not argv or argv[0] not in COMMANDS:
    print("usage: pulse {run,convert,export,firehose,synth,ui} [flags]   (pulse COMMAND --help)\n"
          "  run       run the pipeline (files or Kafka; Beam flags accepted)\n"
          "  convert   write a JSON hour as a BigQuery Avro export (nested or flat)\n"
          "  export    print stored frames as JSON lines\n"
          "  firehose  replay archives into a Kafka topic at a set rate\n"
          "  synth     write realistic synthetic GitHub events (JSON or Avro)\n"
          "  ui        serve the live web UI over a frame store", file=sys.stderr)
    return 0 if argv and argv[0] in ("-h", "--help") else 2
  try:
    return COMMANDS[argv[0]](argv[1:])
  except ValueError as error:
    print(f"pulse {argv[0]}: error: {redact.text(str(error))}", file=sys.stderr)
    return 2
  finally:
    for handler in logging.getLogger().handlers:
      handler.removeFilter(redact)

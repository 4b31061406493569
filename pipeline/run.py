"""`pulse run`: check the command line, build the graph, run it, follow it (follow.py),
and summarise what the run did (summary.py)."""
import argparse
import logging
import time

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.utils.subprocess_server import SubprocessServer

from pulse.pipeline import graph
from pulse.pipeline.checks import check_run
from pulse.pipeline.follow import follow, quiet_when_the_runner_goes
from pulse.pipeline.options import PulseOptions
from pulse.pipeline.passes import chunk_edges, run_chunked
from pulse.pipeline.summary import print_summary, summarise

LOG = logging.getLogger("pulse")

RUN_HELP = """\
Beam flags go beside these, e.g. --runner, --streaming, --direct_num_workers,
--direct_running_mode, --s3_endpoint_url, --project, --temp_location (Beam's pipeline
options reference lists them all). Without --runner, FnApiRunner: the engine of the Python
DirectRunner for batch work, which itself would first try to download Prism, and nothing
here downloads at run time. A misspelt flag, a value out of range, an input that matches
nothing or a store that cannot be written is an error before any work.
`python -m pulse.pipeline ...` is the same as `pulse run ...`."""


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


def run(argv):
  if "-h" in argv or "--help" in argv:
    _run_parser().print_help()
    return 0
  options = pipeline_options(argv)
  check_run(argv, options)
  per_chunk = chunk_edges(options)
  started = time.monotonic()
  streaming = options.view_as(StandardOptions).streaming
  if per_chunk:
    metrics, chunks = run_chunked(options, per_chunk)
    summary = summarise(metrics, options, time.monotonic() - started, chunks=chunks)
    print_summary(summary)
    return 0
  with quiet_when_the_runner_goes():
    # Keeps helper processes (a cross-language expansion service and its Java worker)
    # alive for the whole run, as `with beam.Pipeline(...)` would.
    with SubprocessServer.cache_subprocesses():
      pipeline = beam.Pipeline(options=options)
      graph.build(pipeline, options)
      LOG.info("running on %s%s", options.view_as(StandardOptions).runner,
               " (streaming: frames are stored as windows close; Ctrl-C stops)"
               if streaming else "")
      result = pipeline.run()
      metrics, flow = follow(result, streaming)
    print_summary(summarise(metrics, options, time.monotonic() - started, flow))
  return 0

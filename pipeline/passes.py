"""Long batch runs in bounded memory. A local runner holds whatever crosses a shuffle in
memory (the FnApiRunner materialises each stage's output), so a one-pass run grows with
its input. A chunked run instead:

  1. reads the input once, writing its edges to disk by slice of event time
     (io/edge_slices.py; one hour, or the multiple of the window period nearest it), with
     every dead letter and count as a one-pass run has them;
  2. makes the frames in consecutive Beam runs over consecutive slices of about
     --chunk_edges edges each, oldest first, into the one store: each joins the one
     before it as adjacent runs do (pipeline/stitch.py: kept boundary panes, lineage
     followed from the stored frame before), so the frames equal a one-pass run's.

Memory is then bounded by a chunk, not by the input; the price is one more read of the
edges (compact Avro) and each run's start."""
import functools
import logging
import os
import resource
import shutil
import tempfile
import time

import apache_beam as beam
from apache_beam.options.pipeline_options import StandardOptions, TestOptions

from pulse.io import bigquery_source
from pulse.io.archives import match_once
from pulse.io.edge_slices import SLICE_EDGES_NAMESPACE, ReadEdgeSlices, slice_files
from pulse.io.stores.registry import store_class
from pulse.pipeline.follow import counter
from pulse.pipeline.graph import build_edges, build_frames, geometry_of
from pulse.pipeline.options import AUTO_CHUNK_EDGES, AUTO_MIN_INPUT_MB, PulseOptions
from pulse.pipeline.progress import Progress, utc
from pulse.schemas.counters import EVENTS_READ

LOG = logging.getLogger("pulse")
HOUR_MS = 3_600_000
# Runners whose runs are chunked by default: those that hold what crosses a shuffle in
# this machine's memory and that the chunked runs are tested on (Dataflow and Flink spill
# their shuffles to disk; Prism's batch mode is untested here, so only on request).
LOCAL_RUNNERS = ("fnapirunner", "directrunner")


def chunk_edges(options):
  """The edges a chunk of this run takes, or 0 for one pass (ValueError for a chunked run
  that cannot be: streaming, Kafka, or a store that keeps no panes)."""
  o = options.view_as(PulseOptions)
  patterns = o.input_patterns()
  runner = (options.view_as(StandardOptions).runner or "").lower()
  why_not = ("a streaming run" if options.view_as(StandardOptions).streaming else
             "a Kafka input" if any(p.startswith("kafka://") for p in patterns) else
             f"the store {o.sink.split('://')[0]}:// (it keeps no panes to join runs)"
             if not store_class(o.sink).can_keep_panes else None)
  if o.work_dir and not (os.path.isdir(o.work_dir) and os.access(o.work_dir, os.W_OK)):
    raise ValueError(f"--work_dir {o.work_dir}: not a folder this run can write in")
  if o.chunk_edges is not None:
    if o.chunk_edges < 0:
      raise ValueError(f"--chunk_edges {o.chunk_edges}: must be at least 0 (0: one pass)")
    if o.chunk_edges and why_not:
      raise ValueError(f"--chunk_edges {o.chunk_edges}: cannot chunk {why_not}")
    return o.chunk_edges
  if why_not or runner not in LOCAL_RUNNERS or options.view_as(TestOptions).dry_run:
    return 0
  if bigquery_source.is_bigquery(patterns[0]):
    return AUTO_CHUNK_EDGES
  size = _input_bytes(tuple(patterns))
  return AUTO_CHUNK_EDGES if size >= AUTO_MIN_INPUT_MB << 20 else 0


@functools.lru_cache(maxsize=1)
def _input_bytes(patterns):
  """The input files' size in all: matched once a run (the choice and the progress)."""
  return sum(size for _, size in match_once(patterns))


def slice_ms(geometry):
  """The slices' length: the multiple of the window period nearest an hour."""
  return geometry.period_ms * max(1, round(HOUR_MS / geometry.period_ms))


def plan(slice_edges, per_chunk):
  """Consecutive slices, oldest first, grouped into chunks of at most per_chunk edges (a
  larger slice is a chunk of its own): [[slice start, ...], ...]."""
  chunks, edges = [], 0
  for start in sorted(slice_edges):
    if not chunks or edges + slice_edges[start] > per_chunk:
      chunks.append([])
      edges = 0
    chunks[-1].append(start)
    edges += slice_edges[start]
  return chunks


def _merged(queries):
  """One metrics query result of several runs' (counters add up, distributions span)."""
  merged = {}
  for query in queries:
    for kind, results in query.items():
      merged.setdefault(kind, []).extend(results)
  return merged


def run_chunked(options, per_chunk, out=None):
  """Both passes, with their progress on `out` (standard error); returns (the merged
  metrics of all the runs, how many runs made the frames)."""
  o = options.view_as(PulseOptions)
  work = tempfile.mkdtemp(prefix="pulse-edges-", dir=o.work_dir)
  slices, told = os.path.join(work, "slices"), os.path.join(work, "progress")
  os.makedirs(told)
  length = slice_ms(geometry_of(o))
  patterns = o.input_patterns()
  total_bytes = (None if bigquery_source.is_bigquery(patterns[0]) else
                 _input_bytes(tuple(patterns)))
  started = time.monotonic()
  try:
    with Progress(told, total_bytes, out) as progress:
      pipeline = beam.Pipeline(options=options)
      build_edges(pipeline, options, slices=(slices, length), progress_dir=told)
      first = pipeline.run()
      first.wait_until_finish()
      queries = [first.metrics().query()]
      slice_edges = {int(r.key.metric.name): r.committed for r in queries[0]["counters"]
                     if r.key.metric.namespace == SLICE_EDGES_NAMESPACE}
      chunks = plan(slice_edges, per_chunk)
      total, done = sum(slice_edges.values()), 0
      read_s = time.monotonic() - started
      progress.say(progress.text())       # where the reading ended
      events = counter(queries[0], EVENTS_READ)
      progress.say(f"read: {events:,} events, {total:,} edges on disk in "
                   f"{len(slice_edges)} slices of "
                   f"{length // 60000} min, {read_s:,.0f} s, {_peak_mb()}",
                   stage=_stage(1, chunks, length))
      for number, chunk in enumerate(chunks, 1):
        pipeline = beam.Pipeline(options=options)
        edges = pipeline | "ReadEdgeSlices" >> ReadEdgeSlices(slice_files(slices, chunk))
        build_frames(edges, options)
        result = pipeline.run()
        result.wait_until_finish()
        queries.append(result.metrics().query())
        done += sum(slice_edges[s] for s in chunk)
        spent = time.monotonic() - started - read_s
        progress.say(f"frames: run {number}/{len(chunks)} done, event time to "
                     f"{utc(chunk[-1] + length)} UTC, {done:,}/{total:,} edges "
                     f"({done / total:.0%}), {_peak_mb()}, "
                     f"ETA {spent / done * (total - done):,.0f} s",
                     stage=_stage(number + 1, chunks, length))
    return _merged(queries), len(chunks)
  finally:
    shutil.rmtree(work, ignore_errors=True)


def _stage(number, chunks, length):
  """What the run does while making the frames of chunk `number` (1-based), or None."""
  if number > len(chunks):
    return None
  chunk = chunks[number - 1]
  return (f"frames: run {number}/{len(chunks)}, event time {utc(chunk[0])} to "
          f"{utc(chunk[-1] + length)} UTC")


def _peak_mb():
  """The peak resident memory of this process and of its ended children (the worker
  processes of the runs so far)."""
  peak = max(resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF,
                                                           resource.RUSAGE_CHILDREN))
  return f"peak memory {peak / 1024:,.0f} MB"


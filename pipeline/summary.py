"""What a run did, from its metrics and the windows it wrote to its store."""
import json
import shlex

from apache_beam.options.pipeline_options import TestOptions

from pulse.io.stores import open_store
from pulse.io.uris import redact
from pulse.pipeline.follow import counter, written_span
from pulse.pipeline.options import PulseOptions
from pulse.pipeline.progress import utc
from pulse.schemas import counters as C
from pulse.transforms.edges import NO_EDGE_REASONS


def _largest_and_others(store, span):
  """The largest cluster among the windows this run wrote (its span of windows), and
  (count, first, last) of the stored frames outside that span."""
  best = None
  if span is not None:
    for frame in store.frames(span[0], span[1] + 1):
      for cluster in frame["clusters"][:1]:
        if best is None or cluster["size"] > best[1]["size"]:
          best = (frame, cluster)
  if span is None:
    others = store.span()
  else:
    before, after = store.span(end_ms=span[0]), store.span(start_ms=span[1] + 1)
    others = (before[0] + after[0],
              before[1] if before[0] else after[1], after[2] if after[0] else before[2])
  return best, others


def summarise(results, options, seconds, flow=None, chunks=None):
  """A dict of what the run did. events_per_second is over the run's time, or for a
  streaming run over the time events were flowing (flow: pipeline/follow.Flow). chunks:
  how many runs made the frames of a chunked run (pipeline/passes.py)."""
  read = counter(results, C.EVENTS_READ)
  edges = counter(results, C.EDGES)
  events = counter(results, C.EVENTS_NORMALISED)
  flowing = flow.seconds() if flow else None
  summary = {
      "events_read": read,
      "events": events,
      "edges": edges,
      "share_without_edge": round(1 - edges / events, 4) if events else None,
      "no_edge": {r: counter(results, C.no_edge(r)) for r in NO_EDGE_REASONS},
      "dead_letters": {s: counter(results, n) for s, n in C.DEAD_LETTER_COUNTERS.items()},
      "windows": counter(results, C.FRAMES),
      "frames_written": counter(results, C.FRAMES_WRITTEN),
      "seconds": round(seconds, 2),
      "events_per_second": round(read / (flowing or seconds)) if flowing or seconds else None,
  }
  if flowing is not None:
    summary["seconds_events_flowed"] = round(flowing, 2)
  completed = counter(results, C.WINDOWS_COMPLETED)
  if completed:
    summary["windows_completed_from_kept_panes"] = completed
  relinked = counter(results, C.FRAMES_RELINKED)
  if relinked:
    summary["frames_relinked"] = relinked
  if chunks:
    summary["frame_runs"] = chunks
  if options.view_as(TestOptions).dry_run:
    return summary     # nothing ran; the store may be remote (jsonl://gs://...)
  span = written_span(results)
  with open_store(options.view_as(PulseOptions).sink) as store:
    best, others = _largest_and_others(store, span)
    if chunks and span:   # each run made again the windows across its start: count once
      summary["windows"] = store.span(span[0], span[1] + 1)[0]
  if best:
    frame, cluster = best
    summary["largest_cluster"] = {
        "id": cluster["id"], "size": cluster["size"], "hub": cluster["hub"],
        "window": frame["id"], "members": cluster["members"],
        "history": f"pulse history --sink "
                   f"{shlex.quote(redact(options.view_as(PulseOptions).sink))} "
                   f"--cluster {shlex.quote(cluster['id'])}"}
  if others[0]:
    summary["other_frames_in_store"] = {"count": others[0], "first_window_start": others[1],
                                        "last_window_start": others[2]}
  return summary


def print_summary(s):
  print(f"events read        {s['events_read']:>10,}")
  print(f"edges              {s['edges']:>10,}" + (
      f"   ({s['share_without_edge']:.1%} of events gave none: " +
      ", ".join(f"{k} {v:,}" for k, v in s["no_edge"].items()) + ")"
      if s["share_without_edge"] is not None else ""))
  print(f"dead letters       {sum(s['dead_letters'].values()):>10,}   (" +
        ", ".join(f"{k} {v:,}" for k, v in s["dead_letters"].items()) + ")")
  print(f"windows            {s['windows']:>10,}" + (
      f"   (made by {s['frame_runs']} runs over consecutive stretches of the edges)"
      if s.get("frame_runs") else ""))
  print(f"frames written     {s['frames_written']:>10,}" + (
      f"   (and {s['windows_completed_from_kept_panes']:,} across this run's ends "
      "completed with the panes of earlier runs" + (
          ", those between its own runs included" if s.get("frame_runs", 0) > 1 else "") +
      ")" if s.get("windows_completed_from_kept_panes") else "") + (
      f"   ({s['frames_relinked']:,} rewritten for lineage: after a late pane, or stored "
      "after this run's windows)" if s.get("frames_relinked") else ""))
  rate = s["events_per_second"]
  flowed = s.get("seconds_events_flowed")
  print(f"time               {s['seconds']:>10.1f} s   (" + (
      f"{rate:,} events/s" if flowed is None else
      f"{rate:,} events/s over the {flowed:.1f} s events were flowing") + ")")
  largest = s.get("largest_cluster")
  if largest:
    print(f"largest cluster    {largest['size']:>10,}   in window {largest['window']}, "
          f"hub {largest['hub']}")
    print("  members: " + ", ".join(largest["members"]))
    print(f"  its life: {largest['history']}")
  others = s.get("other_frames_in_store")
  if others:
    print(f"the store also holds {others['count']:,} frame(s) of other windows, not this "
          f"run's: {utc(others['first_window_start'])} to "
          f"{utc(others['last_window_start'])} UTC")
  print("summary: " + json.dumps({k: v for k, v in s.items() if k != "largest_cluster"}))

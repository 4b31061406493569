"""Frames: one JSON-ready dict per window, built from the window's spanning forest."""
import collections

import apache_beam as beam

from pulse.schemas.counters import (FRAMES, FRAMES_ALREADY_STORED, FRAMES_UPDATED_LATE,
                                    counter)
from pulse.transforms.components import forest_trees
from pulse.transforms.windows import WindowedComponents

__all__ = ["FramesFromEdges", "ToFrames", "SkipStoredWindows", "build_frame", "frame_id"]


def frame_id(window_start_ms, window_end_ms):
  """Deterministic from the window, so a rerun overwrites a frame instead of adding one."""
  return f"{window_start_ms}-{window_end_ms}"


def _link_json(link):
  created_at, event_id, src, dst, kind = link
  return {"src": src, "dst": dst, "type": kind, "id": event_id, "created_at": created_at}


def build_frame(forest, window_start_ms, window_end_ms, min_cluster_size=3,
                max_clusters=50):
  """The frame of one window from its SpanningForest (compacted)."""
  trees = forest_trees(forest)
  sizes = collections.Counter(len(tree) + 1 for tree in trees)
  big = sorted((tree for tree in trees if len(tree) + 1 >= min_cluster_size),
               key=len, reverse=True)
  clusters = [_cluster(tree) for tree in big]
  clusters.sort(key=lambda c: (-c["size"], c["id"]))
  return {
      "id": frame_id(window_start_ms, window_end_ms),
      "window_start": window_start_ms,
      "window_end": window_end_ms,
      "edges": forest.edges,
      "vertices": sum(len(tree) + 1 for tree in trees),
      "components": len(trees),
      "size_histogram": {str(size): sizes[size] for size in sorted(sizes)},
      "clusters": clusters[:max_clusters],
  }


def _cluster(tree):
  ends = [link[2] for link in tree]
  ends += [link[3] for link in tree]
  degree = collections.Counter(ends)
  members = sorted(degree)
  most = max(degree.values())
  return {
      "id": members[0],
      "size": len(members),
      "members": members,
      "links": [_link_json(link) for link in sorted(tree)],   # in the forest's order
      "hub": next(login for login in members if degree[login] == most),  # ties: by login
  }


class FramesFromEdges(beam.PTransform):
  """Edges -> one frame per sliding window.

  Args:
    geometry: the WindowGeometry (schemas/windows.py).
    windowing: a windowing strategy's name (transforms/windows.WINDOWINGS).
    min_cluster_size, max_clusters: as ToFrames.
  Input: globally windowed edges timestamped by created_at (ExtractEdges' output).
  Returns: frames (dicts, see build_frame), one per window holding edges, in its window.
  """
  def __init__(self, geometry, windowing="sliced", min_cluster_size=3, max_clusters=50):
    super().__init__()
    self.geometry, self.windowing = geometry, windowing
    self.min_cluster_size, self.max_clusters = min_cluster_size, max_clusters

  def expand(self, edges):
    return (edges
            | "Windows" >> WindowedComponents(self.geometry, self.windowing)
            | "Frames" >> ToFrames(self.min_cluster_size, self.max_clusters))


class ToFrames(beam.PTransform):
  """Windowed SpanningForests -> frames (one per window and pane).

  Args:
    min_cluster_size: the smallest component listed in a frame's clusters.
    max_clusters: the most clusters listed, largest first.
  Input: SpanningForests, each in its sliding window.
  Returns: frames (dicts, see build_frame), in the same windows.
  """
  def __init__(self, min_cluster_size=3, max_clusters=50):
    super().__init__()
    self.min_cluster_size = min_cluster_size
    self.max_clusters = max_clusters

  def expand(self, forests):
    return forests | "BuildFrame" >> beam.ParDo(
        _FrameFn(self.min_cluster_size, self.max_clusters))


class _FrameFn(beam.DoFn):
  def __init__(self, min_cluster_size, max_clusters):
    self.min_cluster_size = min_cluster_size
    self.max_clusters = max_clusters
    self.frames = counter(FRAMES)
    self.updates = counter(FRAMES_UPDATED_LATE)

  def process(self, forest, window=beam.DoFn.WindowParam, pane=beam.DoFn.PaneInfoParam):
    frame = build_frame(forest, window.start.micros // 1000, window.end.micros // 1000,
                        self.min_cluster_size, self.max_clusters)
    (self.frames if pane.is_first else self.updates).inc()
    yield frame


class SkipStoredWindows(beam.PTransform):
  """Drops the frames of windows starting before resume_ms: a resumed Kafka run sees only
  part of their events, and the store holds them whole already.

  Args:
    resume_ms: the window start from which frames are kept.
  Input and output: frames.
  """
  def __init__(self, resume_ms):
    super().__init__()
    self.resume_ms = resume_ms

  def expand(self, frames):
    return frames | "SkipStored" >> beam.ParDo(_SkipStoredFn(self.resume_ms))


class _SkipStoredFn(beam.DoFn):
  def __init__(self, resume_ms):
    self.resume_ms = resume_ms
    self.skipped = counter(FRAMES_ALREADY_STORED)

  def process(self, frame):
    if frame["window_start"] < self.resume_ms:
      self.skipped.inc()
    else:
      yield frame

"""Frames: one JSON-ready dict per window, built from the window's spanning forest."""
import collections

import apache_beam as beam

from pulse.schemas.counters import (FRAMES, FRAMES_ALREADY_STORED, FRAMES_UPDATED_LATE,
                                    counter)
from pulse.transforms.brokers import brokers
from pulse.transforms.components import forest_trees
from pulse.transforms.windows import WindowedComponents

__all__ = ["FramesFromEdges", "ToFrames", "SkipStoredWindows", "build_frame", "frame_id",
           "new_cluster_id"]


def frame_id(window_start_ms, window_end_ms):
  """Deterministic from the window, so a rerun overwrites a frame instead of adding one."""
  return f"{window_start_ms}-{window_end_ms}"


def new_cluster_id(window_start_ms, members):
  """The id of a cluster that continues none (transforms/lineage.py): its window and its
  first member."""
  return f"{window_start_ms}/{members[0]}"


def _link_json(link):
  created_at, event_id, src, dst, kind = link
  return {"src": src, "dst": dst, "type": kind, "id": event_id, "created_at": created_at}


def build_frame(forest, window_start_ms, window_end_ms, min_cluster_size=3,
                max_clusters=50):
  """The frame of one window from its SpanningForest (compacted): the largest
  max_clusters clusters listed whole, the other clusters of at least min_cluster_size
  members by id and members (lineage follows them all), every cluster born (its lineage
  comes from transforms/lineage.follow)."""
  trees = forest_trees(forest)
  sizes = collections.Counter(len(tree) + 1 for tree in trees)
  big = [(_members(tree), tree) for tree in trees if len(tree) + 1 >= min_cluster_size]
  big.sort(key=lambda mt: (-len(mt[0]), mt[0][0]))
  bridges = _bridges_by_login(forest, big[:max_clusters])
  return {
      "id": frame_id(window_start_ms, window_end_ms),
      "window_start": window_start_ms,
      "window_end": window_end_ms,
      "edges": forest.edges,
      "vertices": sum(len(tree) + 1 for tree in trees),
      "components": len(trees),
      "size_histogram": {str(size): sizes[size] for size in sorted(sizes)},
      "clusters": [_cluster(tree, members, window_start_ms, bridges)
                   for members, tree in big[:max_clusters]],
      "more_clusters": [_born(members, window_start_ms)
                        for members, tree in big[max_clusters:]],
      "dissolved": [],
  }


def _members(tree):
  return sorted({login for link in tree for login in (link[2], link[3])})


def _born(members, window_start_ms):
  return {"id": new_cluster_id(window_start_ms, members), "size": len(members),
          "members": members, "from": [], "change": "born"}


def _bridges_by_login(forest, listed):
  """{first member of a listed cluster: its broker links [[u, v], ...], sorted}: the
  bridges of the window (transforms/brokers.py) that leave two sides of two or more.
  Only clusters of 4 or more can have one, so only their links are searched."""
  searched = [(members, tree) for members, tree in listed if len(members) >= 4]
  cluster_of = {login: members[0] for members, _ in searched for login in members}
  first = [link for _, tree in searched for link in tree]
  second = [link for link in forest.second if link[2] in cluster_of]
  found = {}
  for u, v in sorted(brokers(first, second)):
    found.setdefault(cluster_of[u], []).append([u, v])
  return found


def _cluster(tree, members, window_start_ms, bridges):
  degree = collections.Counter(link[2] for link in tree)
  degree.update(link[3] for link in tree)
  most = max(degree.values())
  return {
      **_born(members, window_start_ms),
      "links": [_link_json(link) for link in sorted(tree)],   # in the forest's order
      "hub": next(login for login in members if degree[login] == most),  # ties: by login
      "bridges": bridges.get(members[0], []),
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

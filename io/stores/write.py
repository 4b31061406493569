"""Beam's side of the frame stores: WriteFrames, and StoredUntil, the one question a
resuming source asks of the store."""
import logging

import apache_beam as beam

from pulse.io.stores.registry import open_store, store_class
from pulse.schemas.counters import (FRAME_WINDOW_STARTS, FRAMES_WRITTEN, counter,
                                    distribution)

__all__ = ["WriteFrames", "WritePanes", "StoredUntil", "StoredFrame"]

LOG = logging.getLogger(__name__)


class WriteFrames(beam.PTransform):
  """Writes frames to the store at `uri`, one transaction per bundle (or as the store
  needs, see FrameStore.beam_write).

  Args:
    uri: a store URI (io/stores/registry.py); checked when the transform is built.
  Input: frames (dicts, transforms/frames.py), any windowing.
  Returns: the written frames, or what the store's own write returns.
  """
  def __init__(self, uri):
    super().__init__()
    self.store = store_class(uri)   # fail at construction on a bad URI, not on a worker
    self.uri = uri

  def expand(self, frames):
    own = self.store.beam_write(self.uri, streaming=not frames.is_bounded)
    if own is not None:
      return frames | "Store" >> own
    return frames | "Store" >> beam.ParDo(_WriteFramesFn(self.uri))


class _WriteFramesFn(beam.DoFn):
  def __init__(self, uri):
    self.uri = uri
    self.written = counter(FRAMES_WRITTEN)
    self.starts = distribution(FRAME_WINDOW_STARTS)

  def setup(self):
    self.store = open_store(self.uri)

  def start_bundle(self):
    self.batch = []

  def process(self, frame):
    self.batch.append(frame)

  def finish_bundle(self):
    if self.batch:
      self.written.inc(self.store.write(self.batch))
      for frame in self.batch:
        self.starts.update(frame["window_start"])
      latest = max(self.batch, key=lambda f: f["window_end"])
      LOG.info("stored %d frame(s), latest %s: %d edges, largest cluster %d",
               len(self.batch), latest["id"], latest["edges"],
               latest["clusters"][0]["size"] if latest["clusters"] else 0)
      self.batch = []

  def teardown(self):
    self.store.close()


class WritePanes(beam.PTransform):
  """Keeps pane summaries in the store at `uri` (one that can_keep_panes).

  Args:
    uri: a store URI.
  Input: (pane start ms, summary) pairs, a summary having `edges` (a count) and kept()
    (every link it holds, tuples), as transforms/components.SpanningForest.
  """
  def __init__(self, uri):
    super().__init__()
    self.uri = uri

  def expand(self, panes):
    return panes | "KeepPanes" >> beam.ParDo(_WritePanesFn(self.uri))


class _WritePanesFn(beam.DoFn):
  def __init__(self, uri):
    self.uri = uri

  def setup(self):
    self.store = open_store(self.uri)

  def start_bundle(self):
    self.batch = []

  def process(self, pane):
    start, forest = pane
    self.batch.append((start, forest.edges, forest.kept()))

  def finish_bundle(self):
    if self.batch:
      self.store.write_panes(self.batch)
      self.batch = []

  def teardown(self):
    self.store.close()


class StoredUntil:
  """Callable: the newest window_end the store at `uri` holds (ms), or None. Picklable,
  so a source on a worker can ask it without knowing about stores."""
  def __init__(self, uri):
    self.uri = uri

  def __call__(self):
    store = open_store(self.uri)
    try:
      return store.newest_window_end()
    finally:
      store.close()


class StoredFrame:
  """Callable: the stored frame of the window starting at a given ms and size_ms long, or
  None. Picklable, so a step on a worker can ask it without knowing about stores."""
  def __init__(self, uri, size_ms):
    self.uri, self.size_ms = uri, size_ms

  def __call__(self, window_start_ms):
    store = open_store(self.uri)
    try:
      return next((frame for frame in store.frames(window_start_ms, window_start_ms + 1)
                   if frame["window_end"] == window_start_ms + self.size_ms), None)
    finally:
      store.close()

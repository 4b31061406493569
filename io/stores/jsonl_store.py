"""Frames as one file of JSON lines on any Beam filesystem:
  jsonl://PATH    (jsonl://gs://bucket/frames.jsonl, jsonl:///tmp/frames.jsonl)
for Dataflow, whose workers share no disk. Written once, at the end of a batch run (or
appended to a local file when streaming); read back keeping each id's last line."""
import json
import os

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from pulse.io.json_lines import WriteJsonLines, check_local_output
from pulse.io.stores.base import FrameStore, in_range
from pulse.schemas.counters import (FRAME_WINDOW_STARTS, FRAMES_WRITTEN, counter,
                                    distribution)

__all__ = ["JsonLinesFrameStore"]

FRAME_FIELDS = ("id", "window_start", "window_end")   # what every frame line holds


class JsonLinesFrameStore(FrameStore):
  SCHEME = "jsonl"
  FORMAT = "jsonl://PATH"

  @classmethod
  def open(cls, uri, create=True):
    path = uri.partition("://")[2]
    if not create and not FileSystems.exists(path):
      raise ValueError(f"no frame store at {uri}: {path} does not exist")
    return cls(path)

  @classmethod
  def local_path(cls, uri):
    path = uri.partition("://")[2]
    return None if "://" in path else os.path.abspath(path)

  @classmethod
  def check_writable(cls, uri):
    path = cls.local_path(uri)
    if path:
      check_local_output(path, f"the frame store {uri}", FRAME_FIELDS)

  @classmethod
  def beam_write(cls, uri, streaming):
    return _WriteJsonLinesFrames(uri.partition("://")[2], streaming)

  def __init__(self, path):
    self.path = path

  def frames(self, start_ms=None, end_ms=None):
    if not FileSystems.exists(self.path):
      return
    latest = {}
    with FileSystems.open(self.path) as f:
      for line in f:
        if line.strip():
          frame = json.loads(line)
          latest[frame["id"]] = frame
    yield from sorted((f for f in latest.values()
                       if in_range(f["window_start"], start_ms, end_ms)),
                      key=lambda f: (f["window_start"], f["window_end"], f["id"]))

  def newest_window_end(self):
    return max((f["window_end"] for f in self.frames()), default=None)


class _WriteJsonLinesFrames(beam.PTransform):
  """Frames -> the JSON lines file, counted as written."""
  def __init__(self, path, streaming):
    super().__init__()
    self.path, self.streaming = path, streaming

  def expand(self, frames):
    return (frames
            | "Count" >> beam.ParDo(_CountFramesFn())
            | "JsonLines" >> WriteJsonLines(self.path, streaming=self.streaming))


class _CountFramesFn(beam.DoFn):
  def __init__(self):
    self.written = counter(FRAMES_WRITTEN)
    self.starts = distribution(FRAME_WINDOW_STARTS)

  def process(self, frame):
    self.written.inc()
    self.starts.update(frame["window_start"])
    yield frame

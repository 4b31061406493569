"""Frames as one file of JSON lines on any Beam filesystem:
  jsonl://PATH    (jsonl://gs://bucket/frames.jsonl, jsonl:///tmp/frames.jsonl)
for Dataflow, whose workers share no disk. Written once, at the end of a batch run (or
appended to a local file when streaming); read back keeping each id's last line.

A plain file has no index of its own: the first read scans it once, keeping where each
id's last line starts and its summary (about 200 bytes a frame); later reads read only the
lines appended since, and a frame or a time range is read by seeking to its lines."""
import json
import os
import threading

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from pulse.io.json_lines import WriteJsonLines, check_local_output
from pulse.io.stores.base import FrameStore, frame_summary, in_range
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
    # Where each id's last line is, and its summary: built by one scan of the file, then
    # extended by reading only the lines appended since (a streaming run appends).
    self._lock = threading.Lock()
    self._lines = {}      # id -> (offset, length, summary)
    self._read_to = 0     # bytes of whole lines indexed
    self._head = None     # the first line as indexed: a file written anew differs

  def _index(self):
    """{id: (offset, length, summary)} of the file as it is now."""
    with self._lock:
      if not FileSystems.exists(self.path):
        self._lines, self._read_to, self._head = {}, 0, None
        return {}
      with FileSystems.open(self.path) as f:
        head = f.readline()
        size = _size(f)
        if head != self._head or (size is not None and size < self._read_to):   # new file
          self._lines, self._read_to, self._head = {}, 0, head
        f.seek(self._read_to)
        offset = self._read_to
        for line in f:
          whole = line.endswith(b"\n")   # else the last line, maybe still being written:
          if line.strip():               # indexed if it parses, and read again next time
            try:
              frame = json.loads(line)
            except ValueError:
              if whole:
                raise
              break
            self._lines[frame["id"]] = (offset, len(line), frame_summary(frame))
          if not whole:
            break
          offset += len(line)
        self._read_to = offset
      return dict(self._lines)

  def _read(self, entries):
    """The frames of these index entries, in their order (the file read in its own)."""
    if not entries:
      return []
    got = {}
    with FileSystems.open(self.path) as f:
      for offset, length, _ in sorted(entries):
        f.seek(offset)
        got[offset] = json.loads(f.read(length))
    return [got[e[0]] for e in entries]

  def _in_range(self, start_ms, end_ms):
    return sorted((e for e in self._index().values()
                   if in_range(e[2]["window_start"], start_ms, end_ms)), key=lambda e: (
        e[2]["window_start"], e[2]["window_end"], e[2]["id"]))

  def frames(self, start_ms=None, end_ms=None):
    for _ in range(2):              # once more after a rewrite since it was indexed
      entries = self._in_range(start_ms, end_ms)
      frames = self._read(entries)
      if all(f.get("id") == e[2]["id"] for f, e in zip(frames, entries)):
        break
      self._forget()
    yield from (f for f, e in zip(frames, entries) if f.get("id") == e[2]["id"])

  def summaries(self, start_ms=None, end_ms=None):
    return [dict(e[2]) for e in self._in_range(start_ms, end_ms)]

  def frame(self, frame_id):
    for _ in range(2):              # once more after a rewrite since it was indexed
      entry = self._index().get(frame_id)
      if entry is None:
        return None
      frame = self._read([entry])[0]
      if frame.get("id") == frame_id:
        return frame
      self._forget()
    return None

  def _forget(self):
    with self._lock:
      self._head = None           # the next _index() scans the file anew

  def newest_window_end(self):
    return max((e[2]["window_end"] for e in self._index().values()), default=None)


def _size(f):
  """The size of an open file, or None where it cannot seek to its end."""
  try:
    f.seek(0, os.SEEK_END)
    return f.tell()
  except (OSError, ValueError, NotImplementedError):
    return None
  finally:
    f.seek(0)


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

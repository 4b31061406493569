"""Writing dicts as JSON lines (edges, dead letters)."""
import json
import logging
import os
import stat
import tempfile

import apache_beam as beam

__all__ = ["WriteJsonLines", "WriteDeadLetters", "check_local_output"]

LOG = logging.getLogger(__name__)


def check_local_output(path, what, fields=()):
  """ValueError, in one line, unless a local file of JSON lines can be written at path:
  an existing file is replaced whole only if it is a regular, writable file that is empty
  or whose first line is a JSON object with `fields` (what this project writes there);
  else its missing folders must be makeable in the nearest existing folder above it."""
  path = os.path.abspath(path)
  if os.path.isdir(path):
    raise ValueError(f"cannot write {what}: {path} is a folder")
  if os.path.lexists(path):
    _check_replaceable(path, what, fields)
  folder = os.path.dirname(path)
  while not os.path.exists(folder):
    folder = os.path.dirname(folder)
  if not os.path.isdir(folder):
    raise ValueError(f"cannot write {what}: {folder} is not a folder")
  if folder != os.path.dirname(path):    # the run makes the missing folders: can it?
    try:
      os.rmdir(tempfile.mkdtemp(dir=folder))
    except OSError as error:
      raise ValueError(f"cannot write {what}: {error.strerror}: {folder}") from None
    return
  existed = os.path.exists(path)
  try:
    open(path, "a", encoding="utf-8").close()
  except OSError as error:
    raise ValueError(f"cannot write {what}: {error.strerror}: {path}") from None
  if not existed:
    os.remove(path)


def _check_replaceable(path, what, fields):
  mode = os.stat(path).st_mode
  if not stat.S_ISREG(mode) or os.path.islink(path):
    raise ValueError(f"cannot write {what}: {path} is not a regular file; it is left alone")
  if not mode & 0o222:
    raise ValueError(f"cannot write {what}: {path} is read-only; it is left alone")
  with open(path, "rb") as f:
    first = f.readline(1 << 16).strip()
  try:
    record = json.loads(first) if first else {}
  except ValueError:
    record = None
  if not isinstance(record, dict) or (first and not set(fields) <= set(record)):
    raise ValueError(f"cannot write {what}: {path} holds something else, which a run "
                     "would replace: remove it or name another file")


def _json(record):
  return json.dumps(record, ensure_ascii=False, sort_keys=True)


class WriteJsonLines(beam.PTransform):
  """Writes dicts as one JSON object per line (keys sorted) to one file. Batch: one file
  written at the end, any Beam filesystem. Streaming: lines appended as bundles finish,
  to a local file (Beam's text sink writes only at the end of a bounded run).

  Args:
    path: the file (a Beam path in batch, a local path when streaming).
    streaming: append as bundles finish instead of writing once.
  Input: JSON-ready dicts. Returns: Beam's write result (batch) or nothing of use.
  """
  def __init__(self, path, streaming=False):
    super().__init__()
    if streaming and "://" in path:
      raise ValueError(f"a streaming run appends JSON lines to a local file, not {path!r}")
    self.path = path
    self.streaming = streaming

  def expand(self, records):
    lines = records | "ToJson" >> beam.Map(_json)
    if self.streaming:
      return lines | "Append" >> beam.ParDo(_AppendLinesFn(self.path))
    return lines | "Write" >> beam.io.WriteToText(
        self.path, shard_name_template="", num_shards=1)


class _AppendLinesFn(beam.DoFn):
  def __init__(self, path):
    self.path = path

  def setup(self):
    os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)

  def start_bundle(self):
    self.lines = []

  def process(self, line):
    self.lines.append(line)

  def finish_bundle(self):
    if self.lines:
      with open(self.path, "a", encoding="utf-8") as f:
        f.write("\n".join(self.lines) + "\n")
      self.lines = []


class WriteDeadLetters(beam.PTransform):
  """Writes dead letters (schemas/dead_letters.py) as JSON lines at `path`; with no path,
  logs each as a warning, so none vanishes silently.

  Args:
    path: the file, or None to log.
    streaming: as WriteJsonLines.
  Input: dead-letter dicts.
  """
  def __init__(self, path=None, streaming=False):
    super().__init__()
    self.path = path
    self.streaming = streaming

  def expand(self, letters):
    if self.path:
      return letters | "WriteDeadLetters" >> WriteJsonLines(self.path, self.streaming)
    return letters | "LogDeadLetters" >> beam.Map(_log)


def _log(letter):
  LOG.warning("dead letter (%s): %s: %.200s", letter["stage"], letter["reason"],
              letter["record"])

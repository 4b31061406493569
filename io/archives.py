"""Reading GitHub Archive files: JSON hours (.json, .json.gz, either JSON shape) and Avro
exports (both BigQuery shapes), from any path Beam's filesystems take (local, s3://,
gs://, globs). Yields raw records; what cannot be read goes to the dead letter."""
import gzip
import logging

import apache_beam as beam
import fastavro
from apache_beam.io import fileio
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from pulse.io.json_records import decode_lines
from pulse.schemas import avro_shape
from pulse.transforms.dead_letters import DEAD, dead_letter

LOG = logging.getLogger(__name__)
PROGRESS_EVERY = 100_000


def is_avro(path):
  return path.lower().endswith(".avro")


def avro_records(stream, path):
  """('record', dict) for each record of an Avro export of either BigQuery shape;
  ('bad', reason, text) for a foreign schema (the whole file) or a corrupt block."""
  try:
    reader = fastavro.reader(stream)
  except Exception as error:   # fastavro raises several types for a bad header
    yield ("bad", f"not an Avro file: {error}", path)
    return
  fields = [f["name"] for f in reader.writer_schema.get("fields", [])]
  if avro_shape(fields) is None:
    yield ("bad", f"foreign Avro schema {reader.writer_schema.get('name')!r} "
                  f"with fields {fields}", path)
    return
  yield from (("record", record) for record in reader)


def json_records(stream):
  return decode_lines(iter(stream.readline, b""))


def decompressed(raw, path):
  """The content of `raw`. Gzip is read with Python's gzip module, not Beam's
  decompressor: it reads multi-member files and raises EOFError on a truncated one (Beam's
  ends quietly, and a file cut at a line boundary would lose data unnoticed)."""
  return gzip.GzipFile(fileobj=raw, mode="rb") if path.lower().endswith(".gz") else raw


def file_items(raw, path):
  """('record', raw record) and ('bad', reason, text) for one opened file (raw bytes
  stream). A file that breaks off (truncated gzip, corrupt Avro block, lost connection)
  ends with one 'bad' item saying after how many records."""
  count = 0
  try:
    stream = decompressed(raw, path)
    for item in avro_records(stream, path) if is_avro(path) else json_records(stream):
      count += item[0] == "record"
      yield item
  except Exception as error:
    yield ("bad", f"file unreadable after {count} records: "
                  f"{type(error).__name__}: {error}", "")


def read_records(patterns):
  """Outside Beam (the firehose): ('record', raw, path) and ('bad', reason, text, path)
  for every file matching the patterns, in order."""
  for pattern in patterns:
    (match,) = FileSystems.match([pattern])
    if not match.metadata_list:
      raise ValueError(f"no file matches {pattern!r}")
    for metadata in sorted(match.metadata_list, key=lambda m: m.path):
      with FileSystems.open(metadata.path,
                            compression_type=CompressionTypes.UNCOMPRESSED) as raw:
        for item in file_items(raw, metadata.path):
          yield (*item, metadata.path)


class ReadArchives(beam.PTransform):
  """File patterns -> raw event records (main output) and dead letters (output DEAD)."""
  def __init__(self, patterns):
    super().__init__()
    self.patterns = list(patterns)

  def expand(self, pbegin):
    return (pbegin
            | "Patterns" >> beam.Create(self.patterns)
            | "Match" >> fileio.MatchAll()
            | "Spread" >> beam.Reshuffle()
            | "Open" >> fileio.ReadMatches()
            | "Decode" >> beam.ParDo(_DecodeFileFn()).with_outputs(DEAD, main="records"))


class _DecodeFileFn(beam.DoFn):
  def __init__(self):
    self.read = Metrics.counter("pulse", "events_read")
    self.files = Metrics.counter("pulse", "files_read")
    self.bad = Metrics.counter("pulse", "dead_letter_decode")

  def process(self, readable):
    path = readable.metadata.path
    count = 0
    with readable.open(compression_type=CompressionTypes.UNCOMPRESSED) as raw:
      for item in file_items(raw, path):
        if item[0] == "record":
          count += 1
          self.read.inc()
          if count % PROGRESS_EVERY == 0:
            LOG.info("%s: %d records read", path, count)
          yield item[1]
        else:
          self.bad.inc()
          yield dead_letter("decode", item[1], item[2], source=path)
    self.files.inc()
    LOG.info("%s: %d records read", path, count)

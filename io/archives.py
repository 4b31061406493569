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

from pulse.io.json_records import decode_lines
from pulse.schemas import avro_shape
from pulse.schemas.counters import DEAD_LETTER_COUNTERS, EVENTS_READ, FILES_READ, counter
from pulse.schemas.dead_letters import DEAD, DECODE, dead_letter

__all__ = ["ReadArchives", "read_records", "file_items", "ranges", "is_avro",
           "AVRO_RANGE_BYTES"]

LOG = logging.getLogger(__name__)
PROGRESS_EVERY = 100_000


# Avro files are read in ranges of about this size, so that several workers share a big
# export (JSON hours, gzipped, are read whole). Block-aligned as in Beam's avroio: a block
# belongs to the range in which it starts.
AVRO_RANGE_BYTES = 8 << 20
SYNC_BYTES = 16


def is_avro(path):
  return path.lower().endswith(".avro")


def ranges(path, size):
  """(path, start, end) byte ranges to read a file in; end None: to the end."""
  if not is_avro(path) or size <= AVRO_RANGE_BYTES:
    return [(path, 0, None)]
  bounds = list(range(0, size, AVRO_RANGE_BYTES))
  return [(path, a, b) for a, b in zip(bounds, bounds[1:] + [None])]


def _seek_past_sync(stream, sync, position):
  """Moves to the first block starting after `position`; False when none does."""
  stream.seek(max(0, position - SYNC_BYTES))
  tail = b""
  while True:
    chunk = stream.read(1 << 16)
    if not chunk:
      return False
    data = tail + chunk
    found = data.find(sync)
    if found >= 0:
      stream.seek(stream.tell() - len(data) + found + SYNC_BYTES)
      return True
    tail = data[-(SYNC_BYTES - 1):]


def avro_records(stream, path, start=0, end=None):
  """('record', dict) for each record of an Avro export of either BigQuery shape, from
  the blocks starting in [start, end); ('bad', reason, text) for a foreign schema (the
  whole file) or a corrupt block. Only the range at 0 reports a file-wide problem."""
  try:
    blocks = fastavro.block_reader(stream)
  except Exception as error:   # fastavro raises several types for a bad header
    if start == 0:
      yield ("bad", f"not an Avro file: {error}", path)
    return
  fields = [f["name"] for f in blocks.writer_schema.get("fields", [])]
  if avro_shape(fields) is None:
    if start == 0:
      yield ("bad", f"foreign Avro schema {blocks.writer_schema.get('name')!r} "
                    f"with fields {fields}", path)
    return
  if start > 0:
    first_block = stream.tell()          # the header ends with the file's sync marker
    stream.seek(first_block - SYNC_BYTES)
    if not _seek_past_sync(stream, stream.read(SYNC_BYTES), max(start, first_block)):
      return
  for block in blocks:
    if end is not None and block.offset >= end:
      return
    for record in block:
      yield ("record", record)


def json_records(stream):
  return decode_lines(iter(stream.readline, b""))


def decompressed(raw, path):
  """The content of `raw`. Gzip is read with Python's gzip module, not Beam's
  decompressor: it reads multi-member files and raises EOFError on a truncated one (Beam's
  ends quietly, and a file cut at a line boundary would lose data unnoticed)."""
  return gzip.GzipFile(fileobj=raw, mode="rb") if path.lower().endswith(".gz") else raw


def file_items(raw, path, start=0, end=None):
  """('record', raw record) and ('bad', reason, text) for one opened file (raw bytes
  stream), or the byte range [start, end) of an Avro file. A file that breaks off
  (truncated gzip, corrupt Avro block, lost connection) ends with one 'bad' item saying
  after how many records; a later Avro range starts afresh at its first block."""
  count = 0
  try:
    stream = decompressed(raw, path)
    items = (avro_records(stream, path, start, end) if is_avro(path)
             else json_records(stream))
    for item in items:
      count += item[0] == "record"
      yield item
  except Exception as error:
    where = f"bytes {start}-{end or 'end'}" if start or end else "file"
    yield ("bad", f"{where} unreadable after {count} records: "
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
  """Reads GitHub Archive files: JSON hours and Avro exports of either BigQuery shape.

  Args:
    patterns: file patterns (local, s3://, gs://; globs).
  Returns: a tagged result: "records", raw event records (dicts, as the file holds them);
    DEAD, dead letters of stage DECODE (unreadable files, lines, blocks).
  """
  def __init__(self, patterns):
    super().__init__()
    self.patterns = list(patterns)

  def expand(self, pbegin):
    return (pbegin
            | "Patterns" >> beam.Create(self.patterns)
            | "Match" >> fileio.MatchAll()
            | "Ranges" >> beam.FlatMap(lambda m: ranges(m.path, m.size_in_bytes))
            | "Spread" >> beam.Reshuffle()
            | "Decode" >> beam.ParDo(_DecodeRangeFn()).with_outputs(DEAD, main="records"))


class _DecodeRangeFn(beam.DoFn):
  """(path, start, end) -> the records of that file or byte range."""
  def __init__(self):
    self.read = counter(EVENTS_READ)
    self.files = counter(FILES_READ)
    self.bad = counter(DEAD_LETTER_COUNTERS[DECODE])

  def process(self, byte_range):
    path, start, end = byte_range
    name = f"{path} [{start}, {end or 'end'})" if start or end else path
    count = 0
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as raw:
      for item in file_items(raw, path, start, end):
        if item[0] == "record":
          count += 1
          if count % PROGRESS_EVERY == 0:       # counted in steps: an inc costs ~0.6 us
            self.read.inc(PROGRESS_EVERY)
            LOG.info("%s: %d records read", name, count)
          yield item[1]
        else:
          self.bad.inc()
          yield dead_letter(DECODE, item[1], item[2], source=path)
    self.read.inc(count % PROGRESS_EVERY)
    if start == 0:
      self.files.inc()
    LOG.info("%s: %d records read", name, count)

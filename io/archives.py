"""Reading GitHub Archive files: JSON hours (.json, .json.gz, either JSON shape) and Avro
exports (both BigQuery shapes), from any path Beam's filesystems take (local, s3://,
gs://, globs). Yields raw records, each dict naming its file in SOURCE_FIELD
(schemas/dead_letters.py); what cannot be read goes to the dead letter."""
import gzip
import logging
import os

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from pulse.io.avro_records import avro_records
from pulse.io.json_records import decode_stream
from pulse.io.progress import reporter
from pulse.schemas.counters import DEAD_LETTER_COUNTERS, EVENTS_READ, FILES_READ, counter
from pulse.schemas.dead_letters import DEAD, DECODE, SOURCE_FIELD, dead_letter

__all__ = ["ReadArchives", "read_records", "file_items", "ranges", "is_avro",
           "match_once", "AVRO_RANGE_BYTES", "MAX_LETTERS_PER_RANGE"]

LOG = logging.getLogger(__name__)
PROGRESS_EVERY = 100_000
PROGRESS_STEP = (1 << 14) - 1      # records between reports to io/progress.py, less one
# What one file (or byte range) may send to the dead letter; the rest are counted, and said
# in one last letter (4 million junk lines would otherwise take gigabytes downstream).
MAX_LETTERS_PER_RANGE = 1_000


# Avro files are read in ranges of about this size, so that several workers share a big
# export (JSON hours, gzipped, are read whole). Block-aligned as in Beam's avroio: a block
# belongs to the range in which it starts.
AVRO_RANGE_BYTES = 8 << 20


def is_avro(path):
  return path.lower().endswith(".avro")


def ranges(path, size):
  """(path, start, end) byte ranges to read a file in; end None: to the end."""
  if not is_avro(path) or size <= AVRO_RANGE_BYTES:
    return [(path, 0, None)]
  bounds = list(range(0, size, AVRO_RANGE_BYTES))
  return [(path, a, b) for a, b in zip(bounds, bounds[1:] + [None])]


def decompressed(raw, path):
  """The content of `raw`. Gzip is read with Python's gzip module, not Beam's
  decompressor: it reads multi-member files and raises EOFError on a truncated one (Beam's
  ends quietly, and a file cut at a line boundary would lose data unnoticed)."""
  return gzip.GzipFile(fileobj=raw, mode="rb") if path.lower().endswith(".gz") else raw


def _items(raw, path, start, end):
  """The decoder's items of one opened file or byte range (raises where it breaks off)."""
  stream = decompressed(raw, path)
  if is_avro(path):
    return avro_records(stream, path, start, end)
  return decode_stream(stream)          # no line longer than json_records.MAX_LINE_BYTES


def _broken(error, records, start, end):
  """The 'bad' item that ends a file or range broken off after `records` records."""
  where = f"bytes {start}-{end or 'end'}" if start or end else "file"
  return ("bad", f"{where} unreadable after {records} records: "
                 f"{type(error).__name__}: {error}", "")


def file_items(raw, path, start=0, end=None):
  """('record', raw record) and ('bad', reason, text) for one opened file (raw bytes
  stream), or the byte range [start, end) of an Avro file. A file that breaks off
  (truncated gzip, corrupt Avro block, lost connection) ends with one 'bad' item saying
  after how many records; a later Avro range starts afresh at its first block."""
  count = 0
  try:
    for item in _items(raw, path, start, end):
      count += item[0] == "record"
      yield item
  except Exception as error:
    yield _broken(error, count, start, end)


def _file_key(path):
  """One name for a file however it is spelt: a local path resolved (relative, "./",
  symlinks), any other as matched."""
  return path if "://" in path else os.path.realpath(path)


def _matches(indexed_pattern):
  """(file key, (pattern index, pattern, path, size)) for each file a pattern matches; an
  error for a pattern without "*" that matches nothing (as fileio.MatchAll)."""
  index, pattern = indexed_pattern
  (match,) = FileSystems.match([pattern])
  if not match.metadata_list and "*" not in pattern:
    raise IOError(f"no file matches {pattern!r}")
  for metadata in match.metadata_list:
    yield _file_key(metadata.path), (index, pattern, metadata.path, metadata.size_in_bytes)


def _first_match(keyed):
  """(path, size, patterns) of one file: its path as its first pattern matched it, and
  each pattern once per match (a pattern given twice is there twice)."""
  _, found = keyed
  found = sorted(found)
  return found[0][2], found[0][3], [f[1] for f in found]


def _log_overlaps(files):
  """One warning for all the files that more than one input matched (each read once)."""
  if not files:
    return
  shown = "; ".join(f"{path} (by {', '.join(map(repr, patterns))})"
                    for path, _, patterns in sorted(files)[:5])
  more = f"; and {len(files) - 5} more" if len(files) > 5 else ""
  LOG.warning("%d files matched by more than one --input, each read once: %s%s",
              len(files), shown, more)


def match_once(patterns):
  """[(path, size)] of the files the patterns match, each once (in pattern order, then by
  path), and the overlaps logged as by ReadArchives. Raises ValueError for a pattern that
  matches nothing."""
  found = {}
  for index, pattern in enumerate(patterns):
    (match,) = FileSystems.match([pattern])
    if not match.metadata_list:
      raise ValueError(f"no file matches {pattern!r}")
    for metadata in sorted(match.metadata_list, key=lambda m: m.path):
      found.setdefault(_file_key(metadata.path), []).append(
          (index, pattern, metadata.path, metadata.size_in_bytes))
  files = [_first_match(item) for item in found.items()]
  _log_overlaps([file for file in files if len(file[2]) > 1])
  return [(path, size) for path, size, _ in files]


def read_records(patterns):
  """Outside Beam (the firehose): ('record', raw, path) and ('bad', reason, text, path)
  for every file matching the patterns, in order, each file once."""
  for path, _ in match_once(patterns):
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as raw:
      for item in file_items(raw, path):
        yield (*item, path)


class ReadArchives(beam.PTransform):
  """Reads GitHub Archive files: JSON hours and Avro exports of either BigQuery shape.
  A file that several patterns match (the same --input twice, overlapping globs, one file
  spelt two ways) is read once, and one warning lists such files.

  Args:
    patterns: file patterns (local, s3://, gs://; globs).
    progress_dir: a folder the workers tell their progress in (io/progress.py), or None.
  Returns: a tagged result: "records", raw event records (dicts, as the file holds them,
    plus SOURCE_FIELD: the file's path); DEAD, dead letters of stage DECODE (unreadable
    files, lines, blocks; at most MAX_LETTERS_PER_RANGE a file or range, then one saying
    how many more there were).
  """
  def __init__(self, patterns, progress_dir=None):
    super().__init__()
    self.patterns, self.progress_dir = list(patterns), progress_dir

  def expand(self, pbegin):
    files = (pbegin
             | "Patterns" >> beam.Create(list(enumerate(self.patterns)))
             | "Match" >> beam.FlatMap(_matches)
             | "OncePerFile" >> beam.GroupByKey()
             | "FirstMatch" >> beam.Map(_first_match))
    _ = (files
         | "Overlapping" >> beam.Filter(lambda file: len(file[2]) > 1)
         | "AllOverlapping" >> beam.combiners.ToList()
         | "LogOverlapping" >> beam.Map(_log_overlaps))
    return (files
            | "Ranges" >> beam.FlatMap(lambda file: ranges(file[0], file[1]))
            | "Spread" >> beam.Reshuffle()
            | "Decode" >> beam.ParDo(_DecodeRangeFn(self.progress_dir)).with_outputs(
                DEAD, main="records"))


class _DecodeRangeFn(beam.DoFn):
  """(path, start, end) -> the records of that file or byte range, each dict with
  SOURCE_FIELD set to the path (one shared string: no formatting per record)."""
  def __init__(self, progress_dir=None):
    self.read = counter(EVENTS_READ)
    self.files = counter(FILES_READ)
    self.bad = counter(DEAD_LETTER_COUNTERS[DECODE])
    self.progress_dir, self.progress = progress_dir, None

  def setup(self):
    self.progress = reporter(self.progress_dir)

  def process(self, byte_range):
    path, start, end = byte_range
    name = f"{path} [{start}, {end or 'end'})" if start or end else path
    count = letters = 0
    told = start                         # the bytes of the range told as read
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as raw:
      items = _items(raw, path, start, end)
      while True:       # file_items(), inline: a layer less for each of millions of lines
        try:
          item = next(items, None)
        except Exception as error:
          item, items = _broken(error, count, start, end), iter(())
        if item is None:
          break
        if item[0] == "record":
          count += 1
          if (count & PROGRESS_STEP) == 0 and self.progress:
            told = self._tell(raw, told, PROGRESS_STEP + 1)
          if count % PROGRESS_EVERY == 0:       # counted in steps: an inc costs ~0.6 us
            self.read.inc(PROGRESS_EVERY)
            LOG.info("%s: %d records read", name, count)
          record = item[1]
          if type(record) is dict:    # what the decoders make; a JSON list cannot carry it
            record[SOURCE_FIELD] = path
          yield record
        else:
          letters += 1
          if letters <= MAX_LETTERS_PER_RANGE:
            yield dead_letter(DECODE, item[1], item[2], source=path)
      if self.progress:
        self._tell(raw, told, count & PROGRESS_STEP, at=end)   # a range ends at its end
        self.progress.write()
    self.read.inc(count % PROGRESS_EVERY)
    self.bad.inc(letters)                     # every one, written or not
    if letters > MAX_LETTERS_PER_RANGE:
      refused = letters - MAX_LETTERS_PER_RANGE
      LOG.warning("%s: %d dead letters, %d of them not written", name, letters, refused)
      yield dead_letter(DECODE, f"{refused:,} more dead letters of {name} not written "
                        f"(at most {MAX_LETTERS_PER_RANGE:,} a file or range; "
                        f"{letters:,} in all, all counted)", "", source=path)
    if start == 0:
      self.files.inc()
    LOG.info("%s: %d records read", name, count)

  def _tell(self, raw, told, events, at=None):
    """Tells the progress reporter of `events` more and the bytes read since `told` (to
    `at` if given, else to where the file is); returns the position now."""
    try:
      now = raw.tell() if at is None else at
    except (OSError, ValueError):       # a stream that cannot tell: events only
      now = told
    self.progress.add(events=events, bytes_read=max(0, now - told))
    return max(now, told)

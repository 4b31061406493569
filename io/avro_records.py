"""Reading Avro exports without trusting them. fastavro decodes the records, but only of
a file whose header and writer schema io/avro_schema.py checked, and only blocks checked
here: at most MAX_BLOCK_BYTES as stored, inflated a bounded piece at a time to at most
the schema's cap, and holding at most as many records as their bytes can (a record takes
at least Header.fewest bytes). A refused block is one 'bad' item, and the next block is
read; a broken one (no sync marker where its size says) ends the file or range.

fastavro reads the checked blocks from a _Feed: the header again (codec "null"), then
each block as inflated here, so that it parses the schema once per file."""
import bz2
import io
import lzma

import fastavro
from isal import isal_zlib

from pulse.io.avro_schema import (MAGIC, MAX_BLOCK_BYTES, SYNC_BYTES, Refused,
                                  checked_header, encode_long, read_long)

__all__ = ["avro_records", "seek_past_sync"]

_INFLATE_STEP = 1 << 20


def _container_head(schema_text, sync):
  """The header fastavro reads: the file's schema, codec null (blocks come inflated)."""
  head = bytearray(MAGIC + encode_long(2))
  for key, value in ((b"avro.schema", schema_text), (b"avro.codec", b"null")):
    head += encode_long(len(key)) + key + encode_long(len(value)) + value
  return bytes(head + encode_long(0) + sync)


def _inflate_deflate(data, cap):
  # ISA-L's inflate: the same raw deflate as zlib's, in under half the time (measured on
  # the exports' ~4 KB blocks); most of a realistic export's bytes pass here.
  inflater = isal_zlib.decompressobj(-15)
  out = inflater.decompress(data, cap + 1)
  return None if len(out) > cap else out


def _inflate_streams(make):
  """An inflater for a codec whose data may be several concatenated streams (bzip2, xz),
  as bz2.decompress and lzma.decompress read them, at most cap bytes out."""
  def inflate(data, cap):
    out = bytearray()
    while data:
      inflater = make()
      while True:
        piece = inflater.decompress(data, min(_INFLATE_STEP, cap + 1 - len(out)))
        data = b""
        out += piece
        if len(out) > cap:
          return None
        if inflater.eof or inflater.needs_input:
          break
      if not inflater.eof:
        raise EOFError("compressed data ended before the end of its stream")
      data = inflater.unused_data
    return bytes(out)
  return inflate


_INFLATE = {
    "null": lambda data, cap: data,
    "deflate": _inflate_deflate,
    "bzip2": _inflate_streams(bz2.BZ2Decompressor),
    "xz": _inflate_streams(lzma.LZMADecompressor),
}


class _Feed:
  """The stream fastavro's block_reader reads: the container head, then each block
  pushed, as byte strings (a part read whole is not copied)."""
  def __init__(self, head):
    self.parts, self.at = [head], 0

  def push(self, *parts):
    self.parts, self.at = list(parts), 0

  def read(self, size=-1):
    out = b""
    while self.parts and (size < 0 or len(out) < size):
      part = self.parts[0]
      left = len(part) - self.at
      take = left if size < 0 else min(size - len(out), left)
      piece = part if take == len(part) else part[self.at:self.at + take]
      out = out + piece if out else piece
      self.at += take
      if self.at == len(part):
        self.parts.pop(0)
        self.at = 0
    return out

  def tell(self):
    return 0


def seek_past_sync(stream, sync, position):
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


def _expect_sync(stream, sync):
  if stream.read(SYNC_BYTES) != sync:
    raise ValueError("expected sync marker not found")


def _blocks(stream, sync, inflate, cap, fewest, end):
  """(count, inflated bytes) for each block starting before `end`; Refused for a block
  refused whole, after which the next is read (its sync marker found where its size
  says). A broken frame raises: the rest of the file or range is unreadable."""
  while True:
    offset = stream.tell()
    if end is not None and offset >= end:
      return
    count = read_long(stream)
    if count is None:
      return
    size = read_long(stream)
    if size is None or count < 0 or size < 0:
      raise ValueError(f"block at byte {offset}: no count and size")
    if size > MAX_BLOCK_BYTES:
      stream.seek(size, io.SEEK_CUR)
      _expect_sync(stream, sync)
      yield Refused(f"Avro block at byte {offset} holds {size:,} bytes, more than "
                    f"{MAX_BLOCK_BYTES:,}")
      continue
    stored = stream.read(size)
    if len(stored) != size:
      raise EOFError(f"block at byte {offset} cut short")
    _expect_sync(stream, sync)
    data = inflate(stored, cap)
    del stored
    if data is None:
      yield Refused(f"Avro block at byte {offset} inflates to more than {cap:,} bytes")
    elif count > len(data) // fewest:
      yield Refused(f"Avro block at byte {offset} claims {count:,} records; its "
                    f"{len(data):,} bytes hold at most {len(data) // fewest:,}")
    elif count:
      yield count, data


def avro_records(stream, path, start=0, end=None):
  """('record', dict) for each record of an Avro export of either BigQuery shape, from
  the blocks starting in [start, end); ('bad', reason, text) for a file refused whole
  (not Avro, a foreign or unsafe schema: only the range at 0 says so) and for a block
  refused whole. A broken block raises: the caller ends the range there."""
  try:
    header = checked_header(stream)
  except Refused as refused:
    if start == 0:
      yield ("bad", str(refused), path)
    return
  sync = header.sync
  first_block = stream.tell()
  if start > 0 and not seek_past_sync(stream, sync, max(start, first_block)):
    return
  feed = _Feed(_container_head(header.schema_text, sync))
  try:
    blocks = iter(fastavro.block_reader(feed))
  except Exception as error:   # fastavro raises several types for a schema it refuses
    if start == 0:
      yield ("bad", f"not an Avro file: {error}", path)
    return
  blocks_checked = _blocks(stream, sync, _INFLATE[header.codec], header.cap, header.fewest,
                           end)
  for block in blocks_checked:
    if isinstance(block, Refused):
      yield ("bad", str(block), path)
      continue
    count, data = block
    feed.push(encode_long(count) + encode_long(len(data)), data, sync)
    for record in next(blocks):
      yield ("record", record)

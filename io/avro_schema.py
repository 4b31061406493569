"""The header and writer schema of an Avro export, read by hand and checked before
fastavro sees either (io/avro_records.py reads the blocks):

- the header: at most MAX_HEADER_BYTES of metadata, MAX_HEADER_ENTRIES entries;
- the writer schema: no named type may refer to itself (fastavro would recurse until the
  C stack overflows: a segfault, not an exception), nesting at most MAX_SCHEMA_DEPTH
  levels, no record and no array item that can take 0 bytes (a block could then claim
  2**62 of them in no bytes at all), and the field names of a BigQuery shape;
- from the schema, the most bytes a block may inflate to: MAX_BLOCK_BYTES, less for a
  schema whose arrays or maps make many Python objects of few bytes (see _Walk)."""
import collections

import orjson

from pulse.schemas import avro_shape

__all__ = ["Refused", "Header", "checked_header", "read_long", "encode_long",
           "MAX_HEADER_BYTES", "MAX_SCHEMA_DEPTH", "MAX_BLOCK_BYTES", "SYNC_BYTES",
           "CODECS", "MAGIC"]

MAGIC = b"Obj\x01"
SYNC_BYTES = 16
MAX_HEADER_BYTES = 1 << 20       # an export's schema is a few KB
MAX_HEADER_ENTRIES = 1024
MAX_SCHEMA_DEPTH = 32            # the exports nest 4 levels
MAX_BLOCK_BYTES = 16 << 20       # a block, stored or inflated
DECODED_BUDGET = 256 << 20       # what one block's arrays and maps may take as objects
CODECS = ("null", "deflate", "bzip2", "xz")

Header = collections.namedtuple("Header", "schema_text fewest cap codec sync")
Header.__doc__ = """A checked header: the schema's JSON text, the fewest bytes a record
takes, the most bytes a block may inflate to, the codec, the sync marker."""


class Refused(Exception):
  """A file or block refused whole, with the reason."""


# ---- the header ----

def read_long(stream):
  """An Avro long (zig-zag varint), or None at the end of the stream."""
  shift = value = 0
  while True:
    byte = stream.read(1)
    if not byte:
      if shift:
        raise EOFError("cut inside a number")
      return None
    value |= (byte[0] & 0x7F) << shift
    if byte[0] < 0x80:
      return (value >> 1) ^ -(value & 1)
    shift += 7
    if shift > 63:
      raise ValueError("a number longer than 10 bytes")


def encode_long(n):
  n = (n << 1) ^ (n >> 63)
  out = bytearray()
  while n > 0x7F:
    out.append(n & 0x7F | 0x80)
    n >>= 7
  out.append(n)
  return bytes(out)


def _read_header(stream):
  """({key: bytes} of the metadata, sync marker). Raises Refused."""
  if stream.read(4) != MAGIC:
    raise Refused("not an Avro file: no Avro magic bytes")
  meta, size = {}, 0
  try:
    while True:
      count = read_long(stream)
      if count is None:
        raise EOFError("header cut short")
      if count == 0:
        break
      if count < 0:
        count = -count
        read_long(stream)                         # the entries' byte size
      for _ in range(count):
        key, value = _read_sized(stream, size), None
        size += len(key)
        value = _read_sized(stream, size)
        size += len(value)
        meta[key.decode("utf-8", "replace")] = value
        if len(meta) > MAX_HEADER_ENTRIES:
          raise ValueError(f"more than {MAX_HEADER_ENTRIES} metadata entries")
  except (EOFError, ValueError) as error:
    raise Refused(f"not an Avro file: {error}") from None
  sync = stream.read(SYNC_BYTES)
  if len(sync) != SYNC_BYTES:
    raise Refused("not an Avro file: header cut short")
  return meta, sync


def _read_sized(stream, used):
  length = read_long(stream)
  if length is None or length < 0:
    raise ValueError("bad header entry")
  if used + length > MAX_HEADER_BYTES:
    raise ValueError(f"header metadata over {MAX_HEADER_BYTES:,} bytes")
  data = stream.read(length)
  if len(data) != length:
    raise EOFError("header cut short")
  return data


# ---- the writer schema ----

_PRIMITIVE = {      # name: (fewest bytes, Python bytes of a value of that many bytes)
    "null": (0, 0), "boolean": (1, 0), "int": (1, 32), "long": (1, 32), "float": (4, 24),
    "double": (8, 24), "bytes": (1, 40), "string": (1, 56)}
_SLOT = 8           # a list's or dict's reference to an item


class _Walk:
  """Walks a writer schema (JSON) once, refusing (Refused) what fastavro cannot read
  safely; gives each type (fewest bytes, Python bytes of such a value, height). `ratio`:
  the most Python bytes an array item or map entry makes of one byte."""
  def __init__(self):
    self.named = {}           # full name -> (fewest bytes, cost, height)
    self.open = set()         # the named types being defined, around this one
    self.ratio = 1.0

  def type(self, schema, namespace, depth):
    if depth > MAX_SCHEMA_DEPTH:
      raise Refused(f"nested deeper than {MAX_SCHEMA_DEPTH} levels")
    if isinstance(schema, str):
      if schema in _PRIMITIVE:
        return (*_PRIMITIVE[schema], 0)
      return self.reference(schema, namespace, depth)
    if isinstance(schema, list):
      if not schema:
        raise Refused("an empty union")
      branches = [self.type(b, namespace, depth + 1) for b in schema]
      return (1 + min(b[0] for b in branches), max(b[1] for b in branches),
              1 + max(b[2] for b in branches))
    if not isinstance(schema, dict):
      raise Refused(f"a type that is a JSON {type(schema).__name__}")
    kind = schema.get("type")
    if kind in ("record", "error", "enum", "fixed"):
      return self.named_type(schema, kind, namespace, depth)
    if kind == "array":
      items = self.type(schema.get("items"), namespace, depth + 1)
      if items[0] == 0:
        raise Refused("array items that take 0 bytes")
      self.ratio = max(self.ratio, (_SLOT + items[1]) / items[0])
      return 1, 56, 1 + items[2]
    if kind == "map":
      values = self.type(schema.get("values"), namespace, depth + 1)
      self.ratio = max(self.ratio, (_SLOT + 56 + values[1]) / (1 + values[0]))
      return 1, 64, 1 + values[2]
    return self.type(kind, namespace, depth + 1)    # {"type": "string"}, {"type": "Name"}

  def reference(self, name, namespace, depth):
    full = name if "." in name or not namespace else f"{namespace}.{name}"
    for candidate in (full, name):
      if candidate in self.open:
        raise Refused(f"type {name!r} refers to itself")
      if candidate in self.named:
        fewest, cost, height = self.named[candidate]
        if depth + height > MAX_SCHEMA_DEPTH:
          raise Refused(f"nested deeper than {MAX_SCHEMA_DEPTH} levels")
        return fewest, cost, height
    raise Refused(f"unknown type {name!r}")

  def named_type(self, schema, kind, namespace, depth):
    name = schema.get("name")
    if not isinstance(name, str):
      raise Refused(f"a {kind} without a name")
    namespace = schema.get("namespace", namespace)
    full = name if "." in name or not namespace else f"{namespace}.{name}"
    if kind == "enum":
      result = (1, 0, 0)
    elif kind == "fixed":
      size = schema.get("size")
      if not isinstance(size, int) or size < 0:
        raise Refused(f"fixed {name!r} without a size")
      result = (size, 33 + size, 0)
    else:
      fields = schema.get("fields")
      if not isinstance(fields, list):
        raise Refused(f"record {name!r} without fields")
      self.open.add(full)
      inner = full.rpartition(".")[0]
      types = [self.type(f.get("type") if isinstance(f, dict) else None, inner, depth + 1)
               for f in fields]
      self.open.discard(full)
      fewest = sum(t[0] for t in types)
      if fewest == 0:
        raise Refused(f"record {name!r} can take 0 bytes")
      result = (fewest, 64 + (_SLOT + 24) * len(types) + sum(t[1] for t in types),
                1 + max((t[2] for t in types), default=0))
    self.named[full] = result
    return result


def _full_name(schema):
  name = schema.get("name")
  namespace = schema.get("namespace")
  if isinstance(name, str) and "." not in name and isinstance(namespace, str) and namespace:
    return f"{namespace}.{name}"
  return name


def checked_header(stream):
  """The Header of an Avro export (the stream left at its first block), or Refused."""
  meta, sync = _read_header(stream)
  text = meta.get("avro.schema")
  if text is None:
    raise Refused("not an Avro file: no schema in the header")
  try:
    schema = orjson.loads(text)
  except orjson.JSONDecodeError as error:
    if "depth limit" in str(error):            # orjson stops at 1,024 levels
      raise Refused(f"Avro writer schema refused: nested deeper than {MAX_SCHEMA_DEPTH} "
                    "levels") from None
    raise Refused(f"not an Avro file: the schema is not JSON: {error}") from None
  is_record = isinstance(schema, dict) and schema.get("type") in ("record", "error")
  fields = schema.get("fields") if is_record else None
  names = [f.get("name") for f in fields if isinstance(f, dict)] if isinstance(
      fields, list) else []
  if avro_shape(n for n in names if isinstance(n, str)) is None:
    name = _full_name(schema) if isinstance(schema, dict) else None
    raise Refused(f"foreign Avro schema {name!r} with fields {names}")
  walk = _Walk()
  try:
    fewest = walk.type(schema, None, 1)[0]
  except Refused as refused:
    raise Refused(f"Avro writer schema refused: {refused}") from None
  codec = meta.get("avro.codec", b"null").decode("utf-8", "replace") or "null"
  if codec not in CODECS:
    raise Refused(f"Avro codec {codec!r} is not supported ({', '.join(CODECS)})")
  cap = int(min(MAX_BLOCK_BYTES, max(1 << 16, DECODED_BUDGET / walk.ratio)))
  return Header(text, fewest, cap, codec, sync)

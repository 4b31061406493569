"""Hostile files, built at test time from a few KB of code (none is committed), and a
runner that measures what reading one costs: tests/test_hostile_files.py uses both.

Each builder returns the bytes of one small file whose reading, unguarded, would crash the
run (a segfault), never end, or take gigabytes: a recursive Avro writer schema, blocks
of records that take no bytes, blocks that inflate to 1 GB, a JSON value spread over a
million lines, a 1 GB line, millions of junk lines. Avro containers are written by hand
(avro_container), not by fastavro, which would itself recurse or refuse."""
import bz2
import gzip
import io
import json
import lzma
import os
import signal
import subprocess
import sys
import time
import zlib

import fastavro
import orjson

from pulse.io import json_records as J
from pulse.io.avro_schema import encode_long as zigzag   # an Avro long: zig-zag varint
from pulse.schemas import NESTED, export_schema

SYNC = b"hostile-sync-16b"           # 16 bytes
GIB = 1 << 30
LOOKALIKE = ("id", "type", "created_at", "actor", "repo")   # the nested export's names


def avro_bytes(data):
  return zigzag(len(data)) + data


def avro_string(text):
  return avro_bytes(text.encode())


def avro_container(schema, blocks, codec="null"):
  """An Avro object container file: header (schema, a dict or its JSON text; codec; SYNC),
  then each block given as (record count, block bytes as stored, i.e. compressed)."""
  text = schema if isinstance(schema, str) else json.dumps(schema)
  meta = {"avro.schema": text.encode(), "avro.codec": codec.encode()}
  out = bytearray(b"Obj\x01" + zigzag(len(meta)))
  for key, value in meta.items():
    out += avro_string(key) + avro_bytes(value)
  out += zigzag(0) + SYNC
  for count, data in blocks:
    out += zigzag(count) + zigzag(len(data)) + data + SYNC
  return bytes(out)


def lookalike_schema(**extra):
  """A writer schema with the nested export's field names (strings), and `extra` fields
  (name: Avro type) after them."""
  return {"type": "record", "name": "Lookalike", "fields": [
      {"name": n, "type": "string"} for n in LOOKALIKE] + [
      {"name": n, "type": t} for n, t in extra.items()]}


def lookalike_record(marker, tail=b""):
  """The bytes of one look-alike record (its strings), then `tail` for its extra fields."""
  values = (marker, "WatchEvent", "yesterday", "a", "b/c")
  return b"".join(avro_string(v) for v in values) + tail


# ---- Avro ----

def self_recursive_avro():
  """A record whose only field is of its own type, no union to end it: every value is
  infinite, and a reader recurses until the C stack overflows. 459 bytes or so."""
  node = {"type": "record", "name": "Node", "fields": [{"name": "next", "type": "Node"}]}
  return avro_container(lookalike_schema(payload=node),
                        [(1, lookalike_record("hostile-self-recursive", b"\x00" * 8))])


def nullable_recursion_avro(depth=5000):
  """A look-alike export whose payload is ["null", Node] with Node -> ["null", Node],
  holding one value `depth` levels deep (written by hand: fastavro's writer recurses)."""
  node = {"type": "record", "name": "Node", "fields": [
      {"name": "next", "type": ["null", "Node"]}]}
  payload = zigzag(1) * depth + zigzag(0)     # branch Node `depth` times, then null
  return avro_container(lookalike_schema(payload=["null", node]),
                        [(1, lookalike_record("hostile-nullable-recursion", payload))])


def deeply_nested_schema_avro(depth=5000):
  """No recursion, but `depth` distinct records each nesting the next in a nullable union:
  the schema alone is 5,000 levels deep (its JSON text built as text: json.dumps recurses)."""
  head = "".join(f'["null", {{"type": "record", "name": "N{level}", "fields": '
                 f'[{{"name": "next", "type": ' for level in range(depth))
  inner = head + '"null"' + "}]}]" * depth
  text = json.dumps(lookalike_schema(payload="@PAYLOAD@")).replace('"@PAYLOAD@"', inner)
  return avro_container(text, [(1, lookalike_record("hostile-deep-schema", zigzag(0)))])


def zero_byte_records_avro(count=2 ** 62):
  """Records of null fields take no bytes: one empty block claims `count` of them."""
  schema = {"type": "record", "name": "Nothing", "fields": [
      {"name": n, "type": "null"} for n in LOOKALIKE]}
  return avro_container(schema, [(count, b"")])


def null_array_avro(items=2 ** 62):
  """One record whose payload is an array of nulls claiming `items` items (no bytes)."""
  tail = zigzag(items) + zigzag(0)
  return avro_container(lookalike_schema(payload={"type": "array", "items": "null"}),
                        [(1, lookalike_record("hostile-null-array", tail))])


def record_count_beyond_bytes_avro(count=2 ** 40):
  """A block claiming far more look-alike records than its bytes can hold."""
  return avro_container(lookalike_schema(), [(count, lookalike_record("hostile-count"))])


def _repeat_bz2(size, chunk=1 << 20):
  """bzip2 data that inflates to `size` zero bytes: one compressed chunk, repeated
  (bzip2 reads concatenated streams)."""
  return bz2.compress(b"\x00" * chunk, 9) * (size // chunk)


def _repeat_deflate(size, chunk=1 << 20):
  """Raw deflate data that inflates to `size` zero bytes: full flushes reset the history,
  so one chunk's blocks repeat byte for byte."""
  deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
  one = deflate.compress(b"\x00" * chunk) + deflate.flush(zlib.Z_FULL_FLUSH)
  return one * (size // chunk) + deflate.flush()


def compress(codec, data):
  """data as an Avro block of `codec` stores it."""
  if codec == "deflate":
    deflate = zlib.compressobj(6, zlib.DEFLATED, -15)
    return deflate.compress(data) + deflate.flush()
  return {"null": bytes, "bzip2": bz2.compress, "xz": lzma.compress}[codec](data)


def export_blocks(records, codec, per_block=100):
  """Blocks (count, stored bytes) of nested-export records, `per_block` a block."""
  schema = fastavro.parse_schema(export_schema(NESTED))
  blocks = []
  for at in range(0, len(records), per_block):
    out = io.BytesIO()
    for record in records[at:at + per_block]:
      fastavro.schemaless_writer(out, schema, record)
    blocks.append((len(records[at:at + per_block]), compress(codec, out.getvalue())))
  return blocks


def count_beyond_block(codec, count=2 ** 40):
  """A block of the nested export holding one all-null record (9 bytes) but claiming
  `count`."""
  return count, compress(codec, b"\x00" * 9)


def inflating_block(codec, size=GIB):
  """A block of the nested export whose data inflate to `size` bytes of zeros (every
  field null: 9 bytes a record; the block claims 1 record)."""
  return 1, {"bzip2": _repeat_bz2, "deflate": _repeat_deflate}[codec](size)


def around(good_records, codec, hostile_block):
  """A nested export (the real schema, `codec`): half the good records, the hostile
  block, the other half."""
  half = len(good_records) // 2
  return avro_container(export_schema(NESTED), export_blocks(good_records[:half], codec) +
                        [hostile_block] + export_blocks(good_records[half:], codec),
                        codec=codec)


# ---- JSON ----

def _gzip(data):
  return gzip.compress(data, 9, mtime=0)


def open_array(lines=1_000_000):
  """`{"a":[` and then a million `1,` lines: never closed. About 3 KB gzipped."""
  return b'{"a":[\n' + b"1,\n" * lines


def pretty_printed_event(marker, lines=30_000):
  """A valid WatchEvent (an edge hostile-pretty-actor -> hostile-pretty-owner at
  2015-01-02T12:00:00Z) pretty-printed over about `lines` lines (a long payload list)."""
  record = {"id": marker, "type": "WatchEvent", "public": True,
            "actor": {"login": "hostile-pretty-actor"},
            "repo": {"name": "hostile-pretty-owner/repo"},
            "payload": {"action": "started", "filler": list(range(lines))},
            "created_at": "2015-01-02T12:00:00Z"}
  return json.dumps(record, indent=1).encode() + b"\n"


def gzip_members(*parts):
  """A gzip file of one member a part (gzip reads concatenated members): parts are bytes,
  or (bytes, times) for a member repeated."""
  out = bytearray()
  for part in parts:
    data, times = part if isinstance(part, tuple) else (part, 1)
    out += _gzip(data) * times
  return bytes(out)


def one_long_line(size=GIB, chunk=1 << 20):
  """gzip_members parts for one line of `size` bytes ('x', then a newline): about 1 MB."""
  return [(b"x" * chunk, size // chunk), b"\n"]


JUNK_LINES = 4_000_000


def junk_lines(lines=JUNK_LINES):
  """`lines` lines of junk ("x"): about 7.8 KB gzipped."""
  return b"x\n" * lines


# ---- running one file, measured ----

class Measured:
  """What a child process did: returncode, seconds, peak_mb (its peak resident set, and
  that of any child it waited for), stdout, stderr; timed_out when it was killed."""
  def __init__(self, **fields):
    self.__dict__.update(fields)

  def __repr__(self):
    return (f"Measured(rc={self.returncode}, {self.seconds:.1f} s, {self.peak_mb:.0f} MB"
            f"{', timed out' if self.timed_out else ''}, stderr={self.stderr[-600:]!r})")


def run_measured(args, timeout, folder):
  """Runs args (a list) with this Python's environment; kills it (and its process group)
  after `timeout` s. The peak RSS is the child's own, from wait4 (not the test process's
  RUSAGE_CHILDREN, which keeps the largest child ever waited for)."""
  out_path, err_path = os.path.join(folder, "stdout"), os.path.join(folder, "stderr")
  started = time.monotonic()
  with open(out_path, "wb") as out, open(err_path, "wb") as err:
    child = subprocess.Popen(args, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                             start_new_session=True)
    timed_out = False
    while True:
      pid, status, usage = os.wait4(child.pid, os.WNOHANG)
      if pid:
        break
      if time.monotonic() - started > timeout:
        timed_out = True
        os.killpg(child.pid, signal.SIGKILL)
        pid, status, usage = os.wait4(child.pid, 0)
        break
      time.sleep(0.05)
    child.returncode = os.waitstatus_to_exitcode(status)
  with open(out_path, encoding="utf-8", errors="replace") as f:
    stdout = f.read()
  with open(err_path, encoding="utf-8", errors="replace") as f:
    stderr = f.read()
  return Measured(returncode=child.returncode, seconds=time.monotonic() - started,
                  peak_mb=usage.ru_maxrss / 1024, stdout=stdout, stderr=stderr,
                  timed_out=timed_out)


def pulse_run(inputs, folder, timeout, *flags):
  """`pulse run` (python -m pulse.pipeline) on inputs into folder (frames.db, dead.jsonl),
  measured."""
  inputs = [inputs] if isinstance(inputs, str) else inputs
  args = [sys.executable, "-m", "pulse.pipeline",
          *[f"--input={i}" for i in inputs],
          f"--sink=sqlite://{os.path.join(folder, 'frames.db')}",
          f"--dead_letter_output={os.path.join(folder, 'dead.jsonl')}", *flags]
  return run_measured(args, timeout, folder)


# ---- the JSON decoder that was ----

def quadratic_decode_lines(lines):
  """The decoder that io/json_records.decode_lines replaced (as it was, but for its
  helpers' names): it parsed its whole buffer again after every line. The oracle of
  test_hostile_files.py: the new one must give the same items."""
  pending = ""             # text of an object not yet complete, spread over lines
  pending_error = ""       # why it does not parse yet
  last_line_start = 0      # where in `pending` the newest line begins
  for line in lines:
    try:
      value = orjson.loads(line)               # the common case: one object per line
    except orjson.JSONDecodeError:
      pass
    else:
      # A line that is a whole object is a record, never the rest of a line cut short
      # (which would swallow the good lines after it).
      if not pending or isinstance(value, dict):
        if pending:
          yield ("bad", f"invalid JSON: {pending_error}", J._shown(pending))
          pending = ""
        yield J._record(value, line)
        continue
    if isinstance(line, bytes):
      # A byte that is not UTF-8 stays a lone surrogate, which orjson refuses: repaired,
      # two logins spoilt alike would become one user.
      line = line.decode("utf-8", errors="surrogateescape")
    if not pending and not line.strip():
      continue
    last_line_start = len(pending)
    pending += line if line.endswith("\n") else line + "\n"
    pos = J._skip_ws(pending, 0)
    while pos < len(pending):
      try:
        value, end = J._DECODER.raw_decode(pending, pos)
      except json.JSONDecodeError as error:
        if error.pos >= last_line_start and len(pending) < J.MAX_PENDING_CHARS:
          pending_error = error.msg
          break                    # may be an object that continues on the next line
        # Garbage before the newest line (JSON strings hold no raw newline): refuse the
        # text up to the end of the line the error is on, and resume after it.
        end = J._line_end(pending, max(error.pos, pos))
        item = ("bad", f"invalid JSON: {error.msg}", J._shown(pending[pos:end]))
      except (ValueError, RecursionError) as error:   # an int of 5,000 digits; too deep
        end = J._line_end(pending, pos)
        item = ("bad", f"invalid JSON: {error}", J._shown(pending[pos:end]))
      else:
        item = J._as_orjson_reads(pending[pos:end])
      yield item
      pos = J._skip_ws(pending, end)
    pending = pending[pos:]
    last_line_start = 0
  if pending.strip():
    yield ("bad", "incomplete JSON at end of file", J._shown(pending))

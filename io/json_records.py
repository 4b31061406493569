"""Robust decoding of GH Archive JSON hours.

Most files hold one object per line, but some archives concatenate objects on one line or
spread an object over several lines. decode_lines() yields ("record", obj) for every JSON
value it can read and ("bad", reason, text) for text it cannot, then carries on after it.
"""
import json

import orjson

__all__ = ["decode_lines", "MAX_PENDING_CHARS", "MAX_DEPTH"]

_DECODER = json.JSONDecoder()
MAX_PENDING_CHARS = 64 * 1024 * 1024   # an unfinished object larger than this is refused
# Real events nest under 10 levels; at about 1,000 Python's recursion (json.dumps of a dead
# letter, Beam's coders) gives out, and a run would die.
MAX_DEPTH = 512
_WHITESPACE = " \t\r\n"


def _skip_ws(text, pos):
  while pos < len(text) and text[pos] in _WHITESPACE:
    pos += 1
  return pos


def _line_end(text, pos):
  cut = text.find("\n", pos)
  return len(text) if cut < 0 else cut + 1


def _shown(text):
  """Refused text as a dead letter can hold it: a byte that was not UTF-8 as U+FFFD."""
  return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _too_deep(value, line):
  """Whether value nests deeper than MAX_DEPTH. The length of its line, then its count of
  brackets, spare nearly every line the walk, which goes level by level (no recursion)."""
  if len(line) <= 2 * MAX_DEPTH:
    return False
  brackets = (b"{", b"[") if isinstance(line, bytes) else ("{", "[")
  if line.count(brackets[0]) + line.count(brackets[1]) <= MAX_DEPTH:
    return False
  level = [value]
  for _ in range(MAX_DEPTH + 1):
    level = [child for v in level if isinstance(v, (dict, list))
             for child in (v.values() if isinstance(v, dict) else v)]
    if not level:
      return False
  return True


def _record(value, line):
  if _too_deep(value, line):
    text = line.decode("utf-8", "replace") if isinstance(line, bytes) else _shown(line)
    return ("bad", f"nested deeper than {MAX_DEPTH} levels", text)
  return ("record", value)


def _as_orjson_reads(text):
  """A value the json module read, as orjson reads it (the fast path's rules and types),
  or refused as orjson refuses it."""
  try:
    return _record(orjson.loads(text), text)
  except orjson.JSONDecodeError as error:
    return ("bad", f"invalid JSON: {error.msg}", _shown(text))


def decode_lines(lines):
  """lines: an iterable of bytes (or str) lines. Yields ("record", value) and
  ("bad", reason, text). Both paths take what orjson takes: UTF-8 only, no NaN, no lone
  surrogate ("\\ud800": no file or store can write it), and at most MAX_DEPTH levels."""
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
          yield ("bad", f"invalid JSON: {pending_error}", _shown(pending))
          pending = ""
        yield _record(value, line)
        continue
    if isinstance(line, bytes):
      # A byte that is not UTF-8 stays a lone surrogate, which orjson refuses: repaired,
      # two logins spoilt alike would become one user.
      line = line.decode("utf-8", errors="surrogateescape")
    if not pending and not line.strip():
      continue
    last_line_start = len(pending)
    pending += line if line.endswith("\n") else line + "\n"
    pos = _skip_ws(pending, 0)
    while pos < len(pending):
      try:
        value, end = _DECODER.raw_decode(pending, pos)
      except json.JSONDecodeError as error:
        if error.pos >= last_line_start and len(pending) < MAX_PENDING_CHARS:
          pending_error = error.msg
          break                    # may be an object that continues on the next line
        # Garbage before the newest line (JSON strings hold no raw newline): refuse the
        # text up to the end of the line the error is on, and resume after it.
        end = _line_end(pending, max(error.pos, pos))
        item = ("bad", f"invalid JSON: {error.msg}", _shown(pending[pos:end]))
      except (ValueError, RecursionError) as error:   # an int of 5,000 digits; too deep
        end = _line_end(pending, pos)
        item = ("bad", f"invalid JSON: {error}", _shown(pending[pos:end]))
      else:
        item = _as_orjson_reads(pending[pos:end])
      yield item
      pos = _skip_ws(pending, end)
    pending = pending[pos:]
    last_line_start = 0
  if pending.strip():
    yield ("bad", "incomplete JSON at end of file", _shown(pending))

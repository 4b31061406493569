"""Robust decoding of GH Archive JSON hours.

Most files hold one object per line, but some archives concatenate objects on one line or
spread an object over several lines. decode_lines() yields ("record", obj) for every JSON
value it can read and ("bad", reason, text) for text it cannot, then carries on after it.
"""
import json

import orjson

_DECODER = json.JSONDecoder()
MAX_PENDING_CHARS = 64 * 1024 * 1024   # an unfinished object larger than this is refused
_WHITESPACE = " \t\r\n"


def _skip_ws(text, pos):
  while pos < len(text) and text[pos] in _WHITESPACE:
    pos += 1
  return pos


def decode_lines(lines):
  """lines: an iterable of bytes (or str) lines. Yields ("record", value) and
  ("bad", reason, text)."""
  pending = ""             # text of an object not yet complete, spread over lines
  last_line_start = 0      # where in `pending` the newest line begins
  for line in lines:
    if not pending:
      try:
        yield ("record", orjson.loads(line))   # the common case: one object per line
        continue
      except orjson.JSONDecodeError:
        pass
    if isinstance(line, bytes):
      line = line.decode("utf-8", errors="replace")
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
          break                    # may be an object that continues on the next line
        # Garbage before the newest line (JSON strings hold no raw newline): refuse the
        # text up to the end of the line the error is on, and resume after it.
        cut = pending.find("\n", max(error.pos, pos))
        cut = len(pending) if cut < 0 else cut + 1
        yield ("bad", f"invalid JSON: {error.msg}", pending[pos:cut])
        pos = _skip_ws(pending, cut)
        continue
      yield ("record", value)
      pos = _skip_ws(pending, end)
    pending = pending[pos:]
    last_line_start = 0
  if pending.strip():
    yield ("bad", "incomplete JSON at end of file", pending)

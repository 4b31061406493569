"""Robust decoding of GH Archive JSON hours.

Most files hold one object per line, but some archives concatenate objects on one line or
spread an object over several lines. decode_lines() yields ("record", obj) for every JSON
value it can read and ("bad", reason, text) for text it cannot, then carries on after it.
decode_stream() reads the lines of a file for it, none longer than MAX_LINE_BYTES.

Linear time: a value spread over lines is parsed once it can be complete, not again on
every line. _Prefix follows it a line at a time (the JSON grammar, with a stack of open
brackets), and the parser runs only when a line ends the value or cannot continue it.
Outcomes are those of parsing the whole text again after every line.
"""
import json
import re

import orjson

__all__ = ["decode_lines", "decode_stream", "read_lines", "Overlong", "MAX_PENDING_CHARS",
           "MAX_LINE_BYTES", "MAX_DEPTH"]

_DECODER = json.JSONDecoder()
MAX_PENDING_CHARS = 16 * 1024 * 1024   # an unfinished object larger than this is refused
MAX_LINE_BYTES = MAX_PENDING_CHARS     # a longer line is skipped while read (read_lines)
SHOWN_BYTES = 65_536                   # of a skipped line, its dead letter shows this much
_READ_CHUNK = 1 << 18
# Real events nest under 10 levels; at about 1,000 Python's recursion (json.dumps of a dead
# letter, Beam's coders) gives out, and a run would die.
MAX_DEPTH = 512
_WHITESPACE = " \t\r\n"


def _both(chars):
  """chars as 1-character strs and 1-byte bytes: a line may be either."""
  return frozenset(list(chars) + [c.encode() for c in chars])


_OBJECT_START = _both("{")
_BLANK = _both(_WHITESPACE)
# Printable ASCII that starts no JSON value (a value starts with {["-, a digit, t, f, n,
# or N and I for NaN and Infinity, which the json module reads).
_JUNK = _both(sorted(set(map(chr, range(0x21, 0x7F))) - set('{["-0123456789tfnNI')))


class Overlong:
  """A line longer than the limit (read_lines): its first SHOWN_BYTES and its size; the
  rest of it was read past, never held."""
  __slots__ = ("head", "size")

  def __init__(self, head, size):
    self.head, self.size = head, size


def read_lines(stream, limit=MAX_LINE_BYTES):
  """The lines (bytes, with their newline) of a binary stream, as its readline() gives
  them, each of at most `limit` bytes; a longer one as an Overlong, read past (a 1 GB line
  costs no 1 GB). Read in chunks, by read1 where the stream has it: a gzip stream cut
  short raises only once all it holds is read."""
  read = getattr(stream, "read1", stream.read)
  rest = b""            # a line begun in an earlier chunk
  skipped = None        # an Overlong being read past
  while True:
    chunk = read(_READ_CHUNK)
    if not chunk:
      break
    if skipped is not None:
      cut = chunk.find(b"\n")
      skipped.size += len(chunk) if cut < 0 else cut + 1
      if cut < 0:
        continue
      yield skipped
      skipped, chunk = None, chunk[cut + 1:]
    lines = chunk.split(b"\n")
    lines[0] = rest + lines[0] if rest else lines[0]
    rest = lines.pop()
    for line in lines:
      if len(line) < limit:
        yield line + b"\n"
      else:
        yield Overlong(line[:SHOWN_BYTES], len(line) + 1)
    if len(rest) > limit:
      skipped, rest = Overlong(rest[:SHOWN_BYTES], len(rest)), b""
  if skipped is not None:
    yield skipped
  elif rest:
    yield rest


def decode_stream(stream):
  """decode_lines() of a binary stream's lines (read_lines)."""
  return decode_lines(read_lines(stream))


def _skip_ws(text, pos):
  while pos < len(text) and text[pos] in _WHITESPACE:
    pos += 1
  return pos


def _line_end(text, pos):
  cut = text.find("\n", pos)
  return len(text) if cut < 0 else cut + 1


def _shown(text):
  """Refused text as a dead letter can hold it: a byte that was not UTF-8 as U+FFFD."""
  if text.isascii():
    return text
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


_EXPECTING_VALUE = "invalid JSON: Expecting value"


def _reason(text):
  """Why text (starting with a value) does not parse, as the json module says."""
  try:
    _DECODER.raw_decode(text, 0)
  except json.JSONDecodeError as error:
    return f"invalid JSON: {error.msg}"
  except (ValueError, RecursionError) as error:
    return f"invalid JSON: {error}"
  return "invalid JSON: Extra data"


# ---- following a value over lines ----

MORE, DONE, BROKEN = "more", "done", "broken"
# What may come next: a value, a value or "]", a key or "}", a key, ":", "," or a close.
_VALUE, _ITEM, _KEY_OR_CLOSE, _KEY, _COLON, _AFTER = range(6)
# A line's tokens as one character each (its shape), found by C code: strings become
# \x00, then numbers and literals \x01 (the json module's tokens, NaN too), blanks go. A
# line holding \x00 or \x01 itself is no JSON (raw control characters).
_STRING = re.compile(r'"[^"\\\x00-\x1f]*'
                     r'(?:\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4})[^"\\\x00-\x1f]*)*"')
_SCALAR = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?|true|false|null"
                     r"|NaN|-?Infinity")
_BLANKS = re.compile(r"[ \t\r\n]+")
_STR, _SCAL = "\x00", "\x01"
_CLOSES = {"}": (ord("{"), _KEY_OR_CLOSE), "]": (ord("["), _ITEM)}
_MOVES = {}     # (expect, innermost bracket, bracketless shape or short line) -> result
_MOVES_KEPT = 4096


def _shape(text):
  if _STR in text or _SCAL in text:
    return None
  return _BLANKS.sub("", _SCALAR.sub(_SCAL, _STRING.sub(_STR, text)))


class _Prefix:
  """The state of the JSON value a text begins, fed a line at a time: MORE while every
  token continues it and it is unfinished, DONE once it ends, BROKEN at a token that cannot
  continue it (the parser would fail there). A token never spans lines. The stack holds a
  byte per open bracket; a line without brackets (most of a pretty-printed value) moves
  the state as a line of its shape did before (_MOVES)."""
  __slots__ = ("stack", "expect")

  def __init__(self):
    self.stack = bytearray()
    self.expect = _VALUE

  def feed(self, text):
    stack, expect = self.stack, self.expect
    short = len(text) <= 64
    if short:                                       # a line seen before, as in "1,\n"
      move = _MOVES.get((expect, stack[-1] if stack else 0, text))
      if move is not None:
        state, self.expect = move
        return state
    shape = _shape(text)
    if shape is None:
      return BROKEN
    if len(shape) > 64 or "{" in shape or "[" in shape or "}" in shape or "]" in shape:
      state, self.expect = self._walk(shape)
      return state
    key = (expect, stack[-1] if stack else 0, shape)
    move = _MOVES.get(key)
    if move is None:
      move = self._walk(shape)
    if len(_MOVES) < _MOVES_KEPT:                   # the stack is as it was: no brackets
      _MOVES[key] = move
      if short:
        _MOVES[(key[0], key[1], text)] = move
    state, self.expect = move
    return state

  def _walk(self, shape):
    """(state, expect) after the tokens of shape (the stack moves as they say)."""
    stack, expect = self.stack, self.expect
    for char in shape:
      if char == _STR and (expect == _KEY_OR_CLOSE or expect == _KEY):
        expect = _COLON
        continue
      if char == _STR or char == _SCAL:
        if expect != _VALUE and expect != _ITEM:
          return BROKEN, expect
      elif char == "{" or char == "[":
        if expect != _VALUE and expect != _ITEM:
          return BROKEN, expect
        stack.append(ord(char))
        expect = _KEY_OR_CLOSE if char == "{" else _ITEM
        continue
      elif char == ":" and expect == _COLON:
        expect = _VALUE
        continue
      elif char == "," and expect == _AFTER:
        expect = _KEY if stack[-1] == ord("{") else _VALUE
        continue
      elif char in _CLOSES:
        opened, empty = _CLOSES[char]
        if not stack or stack[-1] != opened or (expect != _AFTER and expect != empty):
          return BROKEN, expect
        stack.pop()
      else:
        return BROKEN, expect
      if not stack:                                 # a value ended: the whole of it
        return DONE, expect
      expect = _AFTER
    return MORE, expect


def _unfinished_state(text):
  """A _Prefix that has read text, if text is the start of an unfinished value; else None
  (it ends or breaks: the parser decides)."""
  prefix = _Prefix()
  return prefix if prefix.feed(text) is MORE else None


class _Skipped:
  """A value that grew past MAX_PENDING_CHARS unfinished: refused, and followed (not held)
  to its end, so that its lines are not read as values of their own. A line that is a
  whole object ends it, as it ends any unfinished value."""
  __slots__ = ("prefix", "head", "chars")

  def __init__(self, prefix, head, chars):
    self.prefix, self.head, self.chars = prefix, head, chars

  def letter(self):
    return ("bad", f"invalid JSON: a value of more than {MAX_PENDING_CHARS:,} characters "
                   f"({self.chars:,} read past)", _shown(self.head))


def _is_object_line(line):
  first = line.lstrip(b" \t\r\n" if isinstance(line, bytes) else _WHITESPACE)[:1]
  if first not in _OBJECT_START:
    return False
  try:
    return isinstance(orjson.loads(line), dict)
  except orjson.JSONDecodeError:
    return False


def decode_lines(lines):
  """lines: an iterable of bytes (or str) lines, or Overlong. Yields ("record", value) and
  ("bad", reason, text). Both paths take what orjson takes: UTF-8 only, no NaN, no lone
  surrogate ("\\ud800": no file or store can write it), and at most MAX_DEPTH levels."""
  pending = ""             # text of a value not yet complete, spread over lines
  reason = None            # why it does not parse yet (None: not parsed since it grew)
  prefix = None            # its _Prefix while it is a valid unfinished value
  skip = None              # a _Skipped value, too long to hold, being read past
  for line in lines:
    if skip is not None:
      if type(line) is not Overlong and not _is_object_line(line):
        text = line.decode("utf-8", "surrogateescape") if type(line) is bytes else line
        skip.chars += len(text)
        if skip.prefix.feed(text) is MORE:
          continue
        yield skip.letter()              # the line that ends or breaks it goes with it
        skip = None
        continue
      yield skip.letter()
      skip = None
    if type(line) is Overlong:
      if pending:
        yield ("bad", reason or _reason(pending), _shown(pending))
        pending, prefix = "", None
      yield ("bad", f"line of {line.size:,} bytes, longer than {MAX_LINE_BYTES:,}: skipped",
             line.head.decode("utf-8", "replace"))
      continue
    first = line[:1]
    blank = first in _BLANK
    if blank:
      first = line.lstrip(b" \t\r\n" if isinstance(line, bytes) else _WHITESPACE)[:1]
    if first in _JUNK and prefix is None:
      # No value starts here, and none unfinished goes on: refused as parsing would refuse
      # it (once the next line is seen), unparsed. (Millions of junk lines pass here.)
      if pending:
        yield ("bad", reason, pending if pending.isascii() else _shown(pending))
      pending = line.decode("utf-8", "surrogateescape") if type(line) is bytes else line
      if blank:
        pending = pending.lstrip(_WHITESPACE)
      if pending[-1] != "\n":
        pending += "\n"
      reason = _EXPECTING_VALUE
      continue
    if first in _OBJECT_START or not pending:
      try:
        value = orjson.loads(line)             # the common case: one object per line
      except orjson.JSONDecodeError:
        pass
      else:
        # A line that is a whole object is a record, never the rest of a line cut short
        # (which would swallow the good lines after it).
        if not pending or isinstance(value, dict):
          if pending:
            yield ("bad", reason or _reason(pending), _shown(pending))
            pending, prefix = "", None
          yield _record(value, line)
          continue
    if isinstance(line, bytes):
      # A byte that is not UTF-8 stays a lone surrogate, which orjson refuses: repaired,
      # two logins spoilt alike would become one user.
      line = line.decode("utf-8", errors="surrogateescape")
    if not pending and not line.strip():
      continue
    if not line.endswith("\n"):
      line += "\n"
    if prefix is not None:
      if prefix.feed(line) is MORE:            # still unfinished: nothing to parse yet
        if len(pending) + len(line) < MAX_PENDING_CHARS:
          pending += line
          reason = None
          continue
        skip = _Skipped(prefix, pending[:SHOWN_BYTES], len(pending) + len(line))
        pending, prefix = "", None
        continue
    last_line_start = len(pending)             # where in `pending` the newest line begins
    pending += line
    pos = _skip_ws(pending, 0)
    while pos < len(pending):
      try:
        value, end = _DECODER.raw_decode(pending, pos)
      except json.JSONDecodeError as error:
        if error.pos >= last_line_start and len(pending) < MAX_PENDING_CHARS:
          reason = f"invalid JSON: {error.msg}"
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
    prefix = _unfinished_state(pending) if pending else None
  if skip is not None:
    yield skip.letter()
  if pending.strip():
    yield ("bad", "incomplete JSON at end of file", _shown(pending))

"""Hostile input: what real archives and hostile producers send, built at test time (a 10 MB
payload and binary files are not committed). tests/test_hostile_input.py mixes it into
copies of the real 2015 hour; write_corpus() writes the files.

A case is a function (or a row of a table of alike cases) of its marker
(f"hostile-{name}": the record's id or text in its line, by which its dead letter or edge
is found) returning (data, expect):
- LINES: data is one line of a JSON hour;
- AVRO: data is (an events-API record, fields to set on its export record), written to a
  nested and to a flat Avro export;
- KAFKA: data is a Kafka message value.
FILES are functions of the good lines of the hour they may hold, returning (file name,
bytes, expect[, marker]); their marker is the file name unless they name one.

expect is Dead(stage, reason regex): one dead letter of that stage; Edge(src, dst, repo):
odd but valid, its edge stored exactly; NoEdge(reason): valid but gives no edge, counted as
no_edge_<reason>; None: nothing at all.
"""
import collections
import functools
import gzip
import io
import json
import random

import fastavro
import orjson

import hostile_files
from pulse.io.bigquery_export import to_flat, to_nested
from pulse.io.kafka_codec import MARKER, PREFIX, encode_event
from pulse.schemas import FLAT, NESTED, export_schema

Case = collections.namedtuple("Case", "name marker data expect")
Dead = collections.namedtuple("Dead", "stage reason")
Edge = collections.namedtuple("Edge", "src dst repo", defaults=(None,))
NoEdge = collections.namedtuple("NoEdge", "reason")

ODD_TIME = "2015-01-02T12:00:00Z"   # a day after the hour: odd edges get windows of their own
ODD_TIME_MS = 1_420_200_000_000
TEN_MB = 10 * 1024 * 1024
MISSING = object()                  # a field left out
HOLE = "@HOLE@"                     # where line() patches in what orjson will not write
YEAR_9999_US = 253_402_300_799_000_000
YEAR_1_US = -62_135_596_800_000_000
FILE_GOOD_LINES = 300               # lines of the hour a broken file holds before it breaks

LINES, AVRO, KAFKA, FILES = [], [], [], []


def _cases(kind):
  """Registers a case function under its name."""
  def register(build):
    kind.append((build.__name__, build))
    return build
  return register


def _table(kind, make, rows):
  """Registers one case a row: (name, *arguments of make), make(*arguments, marker)."""
  for name, *arguments in rows:
    kind.append((name, functools.partial(make, *arguments)))


def cases(kind):
  """The cases of LINES or KAFKA; a case may name its own marker as a third item."""
  out = []
  for name, build in kind:
    marker = f"hostile-{name}"
    data, expect, *own_marker = build(marker)
    out.append(Case(name, own_marker[0] if own_marker else marker, data, expect))
  return out


def avro_cases(shape):
  """The AVRO cases as export records of `shape` (NESTED or FLAT)."""
  out = []
  for base_name, build in AVRO:
    name = f"{base_name}-{shape}"
    record, fields, expect = build(f"hostile-{name}")
    export = (to_nested if shape == NESTED else to_flat)(record)
    export.update(fields)
    out.append(Case(name, f"hostile-{name}", export, expect))
  return out


def event(marker, **fields):
  """An events-API WatchEvent at ODD_TIME, hostile-actor -> hostile-owner, with `fields`
  set (MISSING leaves one out). A refused record would give an edge if it were let in."""
  record = {"id": marker, "type": "WatchEvent", "actor": {"login": "hostile-actor"},
            "repo": {"name": "hostile-owner/repo"}, "payload": {"action": "started"},
            "public": True, "created_at": ODD_TIME}
  record.update(fields)
  return {k: v for k, v in record.items() if v is not MISSING}


def comment(marker, actor, author, **fields):
  """An IssueCommentEvent: the edge actor -> author."""
  payload = {"action": "created", "issue": {"number": 1, "user": {"login": author}},
             "comment": {"body": "hello"}}
  return event(marker, **{"type": "IssueCommentEvent", "actor": {"login": actor},
                          "payload": payload, **fields})


def line(record, patch=b""):
  """record as a JSON line, the value HOLE replaced by the bytes `patch`."""
  return orjson.dumps(record).replace(b'"' + HOLE.encode() + b'"', patch) + b"\n"


def nested(depth):
  return b"[" * depth + b"]" * depth


# ---- JSON lines: refused by the decoder ----

@_cases(LINES)
def not_json(marker):
  return f"{marker} is not JSON\n".encode(), Dead("decode", "invalid JSON: Expecting value")


@_cases(LINES)
def binary_garbage(marker):
  junk = bytes(b for b in range(256) if b != ord("\n"))
  return junk + marker.encode() + junk + b"\n", Dead("decode", "invalid JSON")


@_cases(LINES)
def cut_inside_a_string(marker):
  text = line(event(marker))
  return text[:text.index(b"WatchEvent") + 5] + b"\n", Dead("decode", "invalid JSON")


@_cases(LINES)
def cut_between_tokens(marker):
  """The good lines after it would complete it as JSON: they must not be swallowed."""
  text = line(event(marker))
  return text[:text.index(b'"payload":') + 10] + b"\n", Dead("decode", "invalid JSON")


def _patched(field, patch, reason, marker):
  """A WatchEvent whose `field` is the bytes `patch`: what orjson will not write."""
  return line(event(marker, **{field: HOLE}), patch), Dead("decode", reason)


_table(LINES, _patched, [
    ("lone_high_surrogate", "actor", b'{"login": "x\\ud800"}', "invalid JSON: .*surrogate"),
    ("lone_low_surrogate", "actor", b'{"login": "\\udfffx"}', "invalid JSON: .*surrogate"),
    ("invalid_utf8", "actor", b'{"login": "x\xc3\x28y"}', "invalid JSON: .*not valid UTF-8"),
    ("raw_nul_in_a_string", "actor", b'{"login": "a\x00b"}',
     "invalid JSON: Invalid control character"),
    ("nan_created_at", "created_at", b"NaN", "invalid JSON"),
    ("infinite_created_at", "created_at", b"-Infinity", "invalid JSON"),
    ("integer_of_5000_digits", "stars", b"9" * 5000, "invalid JSON"),
    ("nested_100000_levels", "payload", nested(100_000),
     "invalid JSON: maximum recursion depth"),
    # orjson reads it, but json.dumps of its dead letter would not write it.
    ("nested_600_levels", "payload", nested(600), "nested deeper than 512 levels"),
])


# ---- JSON lines: read, refused by the normaliser ----

@_cases(LINES)
def json_list(marker):
  return f'["{marker}", 1, 2]\n'.encode(), Dead("normalise", "record is a JSON list, not")


@_cases(LINES)
def json_number(marker):
  return (b"271828182845904523\n", Dead("normalise", "record is a JSON number, not"),
          "271828182845904523")


@_cases(LINES)
def json_string(marker):
  return json.dumps(marker).encode() + b"\n", Dead("normalise", "record is a JSON string")


def _bad_event(fields, reason, marker):
  return line(event(marker, **fields)), Dead("normalise", reason)


OUTSIDE = " is outside 2007-2099$"
_table(LINES, _bad_event, [
    ("no_type", {"type": MISSING}, "no event type$"),
    ("null_type", {"type": None}, "no event type$"),
    ("type_a_number", {"type": 42}, "type is a JSON number, not a string"),
    ("no_created_at", {"created_at": MISSING}, "no created_at$"),
    ("null_created_at", {"created_at": None}, "no created_at$"),
    ("created_in_year_1", {"created_at": "0001-01-01T00:00:00Z"},
     "created_at '0001-01-01T00:00:00Z'" + OUTSIDE),
    ("created_in_year_9999", {"created_at": "9999-12-31T23:59:59Z"},
     "created_at '9999-12-31T23:59:59Z'" + OUTSIDE),
    ("created_at_negative", {"created_at": -1}, "created_at -1" + OUTSIDE),
    ("created_at_1e300", {"created_at": 1e300}, r"created_at 1e\+300" + OUTSIDE),
    ("created_at_not_a_time", {"created_at": "yesterday"},
     "unreadable created_at 'yesterday'"),
    ("created_on_february_30", {"created_at": "2015-02-30T12:00:00Z"},
     "unreadable created_at '2015-02-30"),
    ("created_at_empty", {"created_at": ""}, "unreadable created_at ''$"),
    ("created_at_an_object", {"created_at": {"$date": ODD_TIME_MS}},
     "created_at of type dict"),
    ("login_a_number", {"actor": {"login": 12345}},
     "actor login is a JSON number, not a string"),
    ("login_an_object", {"actor": {"login": {"name": "x"}}},
     "actor login is a JSON object, not a string"),
    ("actor_a_list", {"actor": ["a", "b"]}, "actor is a JSON list, not a string"),
    ("actor_a_number", {"actor": 42}, "actor is a JSON number, not a string"),
    ("org_login_a_list", {"org": {"login": ["x"]}}, "org login is a JSON list"),
    ("repo_a_list", {"repo": ["a/b"]}, "repo is a JSON list, not an object"),
    ("repo_name_a_number", {"repo": {"name": 5}}, "repo name is a JSON number"),
])


@_cases(LINES)
def old_payload_actor_with_a_lone_surrogate(marker):
  """A 2011-12 BigQuery row names its actor in the payload string, where JSON may escape
  half a character that no store can write."""
  payload = '{"actor": "x\\ud800", "repo": "hostile-owner/repo"}'
  return (line(event(marker, actor=None, repo={"name": "/"}, payload=payload,
                     created_at="2015-01-02 12:00:00")),
          Dead("normalise", "payload is not valid JSON: no low surrogate"))


@_cases(LINES)
def ten_mb_without_created_at(marker):
  body = ("ten megabytes of ünïcødé 😀 " * (TEN_MB // 20))[:TEN_MB]
  return (line(event(marker, created_at=MISSING, payload={"comment": {"body": body}})),
          Dead("normalise", "no created_at$"))


# ---- JSON lines: read, refused by the edge rules ----

def _bad_payload(payload, reason, marker):
  return line(comment(marker, "hostile-actor", "x", payload=payload)), Dead("edges", reason)


_table(LINES, _bad_payload, [
    ("payload_not_json", "{broken", "payload is not valid JSON"),
    ("payload_nested_100000_levels", "[" * 100_000,
     "payload is not valid JSON: depth limit exceeded"),
    ("payload_a_json_list", "[1, 2]", "payload is not a JSON object$"),
    ("payload_a_number", 5, "payload is not a JSON object$"),
    ("issue_user_a_number", {"issue": {"user": 5}}, "user is a JSON number, not a string"),
    ("issue_user_login_a_list", {"issue": {"user": {"login": ["x"]}}},
     "user login is a JSON list"),
    ("issue_user_with_a_lone_surrogate", '{"issue": {"user": {"login": "\\udfff"}}}',
     "payload is not valid JSON: invalid high surrogate"),
])


# ---- JSON lines: valid, no edge (counted) ----

def _no_edge(fields, reason, marker):
  return line(event(marker, **fields)), NoEdge(reason)


_table(LINES, _no_edge, [
    ("null_actor", {"actor": None}, "no_partner"),
    ("no_repo", {"repo": MISSING}, "no_partner"),
    ("blank_login", {"actor": {"login": " \t "}}, "no_partner"),
    ("own_repo_in_other_case",
     {"actor": {"login": "Hostile-Self"}, "repo": {"name": "hostile-SELF/x"}}, "self_edge"),
    ("bot_account", {"actor": {"login": "hostile[bot]"}}, "bot"),
])


# ---- JSON lines: odd but valid, stored exactly (lower-cased) ----

def _odd(actor, author, src, dst, marker):
  return line(comment(marker, actor, author)), Edge(src, dst)


EVERY_PLANE = "".join(chr(plane << 16 | 0x4E2D) for plane in range(17))
_table(LINES, _odd, [
    ("unicode_logins", "ünïcødé-用户", "مستخدم", "ünïcødé-用户", "مستخدم"),
    ("upper_case_logins", "ÜPPER-ΣΑΣ", "MiXeD", "üpper-σας", "mixed"),
    ("every_unicode_plane", EVERY_PLANE, EVERY_PLANE[::-1], EVERY_PLANE, EVERY_PLANE[::-1]),
    ("control_characters_in_logins", "bell\u0007tab\tnul\u0000end", "del\u007fesc\u001b",
     "bell\u0007tab\tnul\u0000end", "del\u007fesc\u001b"),
    ("bidi_and_zero_width", "\u202eevil\u200d", "zw\u200bsp\ufeff", "\u202eevil\u200d",
     "zw\u200bsp\ufeff"),
    ("combining_and_precomposed", "caf\u00e9", "cafe\u0301", "caf\u00e9", "cafe\u0301"),
])


@_cases(LINES)
def html_in_names(marker):
  actor, author = "<img src=x onerror=alert(1)>", '<script>alert("x")</script>'
  repo = "&amp;owner/<b>repo</b>"
  return (line(comment(marker, actor, author, repo={"name": repo})),
          Edge(actor, author, repo))


@_cases(LINES)
def escaped_astral_pair(marker):
  """\\ud83d\\ude00 is one character, U+1F600: valid, unlike either half alone."""
  return (line(comment(marker, HOLE, "pair-author"), b'"\\ud83d\\ude00-actor"'),
          Edge("\U0001F600-actor", "pair-author"))


@_cases(LINES)
def bigquery_row_with_unicode(marker):
  payload = json.dumps({"issue": {"user": {"login": "Ŝŧřàñĝę"}}})    # \\u escapes inside
  return (line(comment(marker, "bq-ünï", "x", payload=payload,
                       created_at="2015-01-02 12:00:00")), Edge("bq-ünï", "ŝŧřàñĝę"))


@_cases(LINES)
def crlf_line_end(marker):
  return (line(comment(marker, "crlf-actor", "crlf-author"))[:-1] + b"\r\n",
          Edge("crlf-actor", "crlf-author"))


@_cases(LINES)
def ten_mb_payload(marker):
  record = comment(marker, "ten-mb-commenter", "ten-mb-author")
  record["payload"]["comment"]["body"] = ("ünïcødé 😀 <b>" * (TEN_MB // 12))[:TEN_MB]
  return line(record), Edge("ten-mb-commenter", "ten-mb-author")


@_cases(LINES)
def nested_480_levels(marker):
  record = comment(marker, "deep-actor", "deep-author")
  record["payload"]["deep"] = HOLE
  return line(record, nested(480)), Edge("deep-actor", "deep-author")


# ---- Avro export records (nested and flat) ----

def _avro(make, fields, expect, marker):
  return make(marker), fields, expect


def _avro_comment(actor, author):
  return lambda marker: comment(marker, actor, author)


_BAD_COMMENT = _avro_comment("hostile-actor", "x")
_table(AVRO, _avro, [
    ("avro_created_in_year_9999", event, {"created_at": YEAR_9999_US},
     Dead("normalise", f"created_at {YEAR_9999_US}" + OUTSIDE)),
    ("avro_created_in_year_1", event, {"created_at": YEAR_1_US},
     Dead("normalise", f"created_at {YEAR_1_US}" + OUTSIDE)),
    ("avro_created_at_negative", event, {"created_at": -1},
     Dead("normalise", "created_at -1" + OUTSIDE)),
    ("avro_null_created_at", event, {"created_at": None}, Dead("normalise", "no created_at$")),
    ("avro_null_type", event, {"type": None}, Dead("normalise", "no event type$")),
    ("avro_payload_not_json", _BAD_COMMENT, {"payload": "{broken"},
     Dead("edges", "payload is not valid JSON")),
    ("avro_payload_nested_100000_levels", _BAD_COMMENT, {"payload": "[" * 100_000},
     Dead("edges", "payload is not valid JSON: depth limit exceeded")),
    ("avro_login_with_a_lone_surrogate", _BAD_COMMENT,
     {"payload": '{"issue": {"user": {"login": "\\ud800"}}}'},
     Dead("edges", "payload is not valid JSON: no low surrogate")),
    ("avro_null_actor", functools.partial(event, actor=None), {}, NoEdge("no_partner")),
    ("avro_unicode_logins", _avro_comment("🦀-Ferris", "𝔬𝔴𝔫𝔢𝔯"), {},
     Edge("🦀-ferris", "𝔬𝔴𝔫𝔢𝔯")),
    ("avro_html_in_names",
     _avro_comment("<b onmouseover=alert(1)>", "</textarea><svg/onload=alert(1)>"), {},
     Edge("<b onmouseover=alert(1)>", "</textarea><svg/onload=alert(1)>")),
])


# ---- Kafka message values (io/kafka_codec.decode_event) ----

def _message(fields):
  record = to_nested(event("hostile-kafka"))
  record.update(fields)
  return encode_event(record)


@_cases(KAFKA)
def empty_message(marker):
  return b"", Dead("decode", "empty message$")


@_cases(KAFKA)
def plain_text(marker):
  return marker.encode(), Dead("decode", "not Avro single-object encoding")


@_cases(KAFKA)
def json_event(marker):
  return orjson.dumps(event(marker)), Dead("decode", "not Avro single-object encoding")


@_cases(KAFKA)
def another_schemas_fingerprint(marker):
  return (MARKER + b"\x00" * 8 + _message({})[10:],
          Dead("decode", "Avro of another schema \\(fingerprint 0000000000000000\\)"))


@_cases(KAFKA)
def body_cut_short(marker):
  value = _message({})
  return value[:len(value) // 2], Dead("decode", "corrupt Avro body")


@_cases(KAFKA)
def body_of_garbage(marker):
  return PREFIX + b"\xff" * 64, Dead("decode", "corrupt Avro body")


@_cases(KAFKA)
def string_longer_than_the_message(marker):
  # type: union branch 1 (a string) of 2**62 bytes
  return (PREFIX + b"\x02\xfe\xff\xff\xff\xff\xff\xff\xff\x7f",
          Dead("decode", "corrupt Avro body: EOFError"))


@_cases(KAFKA)
def invalid_utf8_in_a_string(marker):
  return (_message({"type": "@@"}).replace(b"@@", b"\xc3\x28"),
          Dead("decode", "corrupt Avro body: UnicodeDecodeError"))


@_cases(KAFKA)
def bytes_after_the_body(marker):
  return _message({}) + b"junk", Dead("decode", "4 bytes after the Avro body$")


@_cases(KAFKA)
def null_created_at_message(marker):
  return _message({"created_at": None}), Dead("decode", "no created_at$")


@_cases(KAFKA)
def created_in_year_9999_message(marker):
  return (_message({"created_at": YEAR_9999_US}),
          Dead("decode", f"created_at {YEAR_9999_US} µs" + OUTSIDE))


@_cases(KAFKA)
def created_in_year_1_message(marker):
  return (_message({"created_at": YEAR_1_US}),
          Dead("decode", f"created_at {YEAR_1_US} µs" + OUTSIDE))


# ---- whole files ----

def _file(holds_good_lines=False):
  """Registers a file case: build(good lines) -> (file name, bytes, expect[, marker])."""
  def register(build):
    FILES.append((build.__name__, build, holds_good_lines))
    return build
  return register


def _gzip(data):
  return gzip.compress(data, mtime=0)


def export_bytes(shape, records):
  """An Avro export of `shape` holding these records, as `pulse convert` writes one."""
  out = io.BytesIO()
  fastavro.writer(out, fastavro.parse_schema(export_schema(shape)), records,
                  codec="deflate")
  return out.getvalue()


def _after_varint(data, pos):
  while data[pos] & 0x80:
    pos += 1
  return pos + 1


@_file(holds_good_lines=True)
def truncated_gzip(good):
  """Cut inside a second member that holds one long line: nothing of it can be read."""
  tail = _gzip(random.Random(0).randbytes(50_000).hex().encode() + b"\n")
  return ("truncated.json.gz", _gzip(b"".join(good)) + tail[:len(tail) // 2],
          Dead("decode", f"file unreadable after {len(good)} records: EOFError"))


@_file(holds_good_lines=True)
def corrupt_gzip(good):
  """A second member whose deflate data starts with a reserved block type."""
  bad_member = _gzip(b"x")[:10] + b"\x07" + b"\x00" * 20
  return ("corrupt.json.gz", _gzip(b"".join(good)) + bad_member,
          Dead("decode", f"file unreadable after {len(good)} records: error: .*invalid "
                         "block type"))


@_file(holds_good_lines=True)
def gzip_with_a_wrong_crc(good):
  data = bytearray(_gzip(b"".join(good)))
  data[-8] ^= 0xFF                               # the CRC-32 of the trailer
  return ("bad_crc.json.gz", bytes(data),
          Dead("decode", f"file unreadable after {len(good)} records: BadGzipFile: CRC"))


@_file(holds_good_lines=True)
def half_line_at_end_of_file(good):
  return ("half_line_at_end.json", b"".join(good) + b'{"id": "cut", "type": "Wat',
          Dead("decode", "incomplete JSON at end of file$"))


@_file()
def binary_file_named_gz(good):
  return ("binary.json.gz", bytes(range(256)) * 40,
          Dead("decode", "file unreadable after 0 records: BadGzipFile: Not a gzipped"))


@_file()
def empty_gzip(good):
  return "empty.json.gz", b"", None


@_file()
def empty_avro(good):
  return "empty.avro", b"", Dead("decode", "not an Avro file")


@_file()
def avro_header_cut_short(good):
  return ("header_cut.avro", export_bytes(NESTED, [])[:40],
          Dead("decode", "not an Avro file"))


@_file()
def foreign_avro_schema(good):
  schema = {"type": "record", "name": "GithubEvent", "fields": [
      {"name": "kind", "type": "string"}, {"name": "when", "type": "long"}]}
  out = io.BytesIO()
  fastavro.writer(out, schema, [{"kind": "PushEvent", "when": ODD_TIME_MS}])
  return ("foreign.avro", out.getvalue(),
          Dead("decode", r"foreign Avro schema 'GithubEvent' with fields \['kind', 'when'\]"))


@_file()
def avro_lookalike_schema(good):
  """The field names of the nested export, other types: read, and refused per record."""
  schema = {"type": "record", "name": "Lookalike", "fields": [
      {"name": n, "type": "string"} for n in ("id", "type", "created_at", "actor", "repo")]}
  out = io.BytesIO()
  fastavro.writer(out, schema, [{"id": "hostile-lookalike", "type": "WatchEvent",
                                 "created_at": ODD_TIME, "actor": "a", "repo": "b/c"}])
  return ("lookalike.avro", out.getvalue(),
          Dead("normalise", "repo is a JSON string, not an object"), "hostile-lookalike")


@_file(holds_good_lines=True)
def avro_with_a_corrupt_block(good):
  """The good lines' block, then a block (of copies: read, they would change the frames)
  whose deflate data starts with a reserved block type."""
  records = [to_nested(orjson.loads(g)) for g in good]
  head = export_bytes(NESTED, records)
  out = io.BytesIO(head)
  out.seek(0, io.SEEK_END)
  fastavro.writer(out, None, records[:50])      # appends one block
  data = bytearray(out.getvalue())
  data[_after_varint(data, _after_varint(data, len(head)))] = 0x07
  return ("corrupt_block.avro", bytes(data),
          Dead("decode", f"file unreadable after {len(good)} records: IsalError: .*"
                         "Invalid deflate block"))


@_file()
def recursive_avro_schema(good):
  """A record type whose field is of its own type: fastavro recursed until the C stack
  overflowed (a segfault). See tests/test_hostile_files.py for more."""
  return ("recursive_schema.avro", hostile_files.self_recursive_avro(),
          Dead("decode", "Avro writer schema refused: type 'Node' refers to itself$"))


@_file()
def avro_records_of_no_bytes(good):
  """2**62 records of null fields in an empty block: a read that never ends."""
  return ("zero_byte_records.avro", hostile_files.zero_byte_records_avro(),
          Dead("decode", "Avro writer schema refused: record 'Nothing' can take 0 bytes$"))


@_file(holds_good_lines=True)
def avro_block_claiming_more_records_than_it_holds(good):
  """Between blocks of good records, one that claims 2**40 records in 9 bytes: refused
  whole, the blocks after it read."""
  records = [to_nested(orjson.loads(g)) for g in good]
  return ("count_beyond_bytes.avro",
          hostile_files.around(records, "deflate", hostile_files.count_beyond_block("deflate")),
          Dead("decode", r"Avro block at byte \d+ claims 1,099,511,627,776 records; its 9 "
                         r"bytes hold at most 1$"))


def recursive_avro(depth):
  """A look-alike export whose payload is a record of its own type, `depth` deep: fastavro
  reads it (no recursion limit), so the pipeline gets the deep value."""
  node = {"type": "record", "name": "Node", "fields": [{"name": "next",
                                                         "type": ["null", "Node"]}]}
  schema = {"type": "record", "name": "Deep", "fields": [
      {"name": n, "type": "string"} for n in ("id", "type", "created_at", "actor", "repo")
  ] + [{"name": "payload", "type": node}]}
  payload = {"next": None}
  for _ in range(depth - 1):
    payload = {"next": ("Node", payload)}     # the union branch named: no search
  out = io.BytesIO()
  fastavro.writer(out, schema, [{"id": "hostile-recursive_avro", "type": "WatchEvent",
                                 "created_at": "yesterday", "actor": "a", "repo": "b/c",
                                 "payload": payload}])
  return out.getvalue()


def write_corpus(folder, hour_lines, json_every=40):
  """Writes the hour, split over files with every hostile case mixed in: a JSON hour with
  the LINES between its lines, nested and flat Avro exports with the AVRO records between
  theirs, and the FILES (the broken ones holding good lines too). Every line of the hour is
  in exactly one file. Returns (paths, cases)."""
  lines = list(hour_lines)
  paths, all_cases = [], []

  def take(count):
    taken, lines[:] = lines[:count], lines[count:]
    return taken

  for case_name, build, holds_good_lines in FILES:
    name, data, expect, *own_marker = build(take(FILE_GOOD_LINES) if holds_good_lines else [])
    paths.append(folder / name)
    paths[-1].write_bytes(data)
    all_cases.append(Case(case_name, own_marker[0] if own_marker else name, None, expect))
  for shape, to_export in ((NESTED, to_nested), (FLAT, to_flat)):
    hostile = avro_cases(shape)
    records = [to_export(orjson.loads(g)) for g in take(1000)]
    for i, case in enumerate(hostile):
      records.insert(1 + i * 20, case.data)
    paths.append(folder / f"{shape}.avro")
    paths[-1].write_bytes(export_bytes(shape, records))
    all_cases += hostile
  hostile = cases(LINES)
  noisy = []
  for i, good in enumerate(lines):
    noisy.append(good)
    if i % json_every == 0 and i // json_every < len(hostile):
      noisy.append(hostile[i // json_every].data)
  assert i // json_every >= len(hostile), "the hour is too short for the cases"
  paths.append(folder / "noisy.json.gz")
  paths[-1].write_bytes(_gzip(b"".join(noisy)))
  return paths, all_cases + hostile

"""Hostile files (tests/hostile_files.py builds them, small, at test time), each read by
the real pipeline in a subprocess (`python -m pulse.pipeline`) beside good records of the
2015 hour: each gives the dead letters it should (stage decode, a reason naming the
problem, the file as source), the good records give the frames they give alone, and the
run takes at most SECONDS more than the same run over the good records alone (a run's fixed
cost, 3-6 s, varies with the machine's load), and PEAK_MB (the child's own peak RSS,
from wait4). Unguarded,
these files segfaulted a run (a recursive Avro schema), never ended (records of 0 bytes,
a JSON value open over a million lines), or took gigabytes (a 1 GB line or Avro block, an
array of 2**62 nulls, 4 million junk lines). Also here: a file given twice or matched by
overlapping globs is read once, the Avro reader reads real exports of every codec as
fastavro does, and the line decoder gives the items of the quadratic one it replaced."""
import collections
import gzip
import io
import json
import os
import re

import fastavro
import orjson
import pytest
from hypothesis import given, settings, strategies as st

import hostile_files as H
from helpers import HOURS, read_json_lines, stored_frames
from pulse.io import archives, json_records
from pulse.io.bigquery_export import to_flat, to_nested
from pulse.io.json_records import Overlong, decode_lines, read_lines
from pulse.schemas import FLAT, NESTED, export_schema

SECONDS = 10
PEAK_MB = 500
TIMEOUT = 120                        # a run killed after this (the unguarded ones ran on)
FLAGS = ("--min_cluster_size=2",)    # every component listed: every login is seen
GOOD_LINES = 600
ODD_TIME_MS = 1_420_200_000_000      # 2015-01-02T12:00:00Z, the pretty-printed event's time

Good = collections.namedtuple("Good", "path lines frames seconds")


def _run(inputs, folder, *flags):
  os.makedirs(folder, exist_ok=True)
  run = H.pulse_run(inputs, str(folder), TIMEOUT, *FLAGS, *flags)
  assert run.returncode == 0 and not run.timed_out, run
  run.frames = stored_frames(f"sqlite://{os.path.join(folder, 'frames.db')}")
  run.letters = read_json_lines(os.path.join(folder, "dead.jsonl"))
  run.summary = json.loads(re.findall(r"^summary: (.*)$", run.stdout, re.M)[-1])
  return run


@pytest.fixture(scope="module")
def good(tmp_path_factory):
  """GOOD_LINES lines of the 2015 hour, as a JSON file, and the frames they give."""
  folder = tmp_path_factory.mktemp("good")
  with gzip.open(HOURS["2015"]) as f:
    lines = f.readlines()[:GOOD_LINES]
  path = folder / "good.json"
  path.write_bytes(b"".join(lines))
  reference = _run([str(path)], folder / "run")
  assert reference.frames and reference.letters == []
  return Good(str(path), lines, reference.frames, reference.seconds)


def _halves(good):
  half = len(good.lines) // 2
  return b"".join(good.lines[:half]), b"".join(good.lines[half:])


def _nested(good):
  return [to_nested(orjson.loads(line)) for line in good.lines]


# Each case: build(good) -> (file name, bytes, whether the file holds the good records);
# and the reasons (regexes) of its dead letters, in order.
def _alone(name, build):
  return lambda good: (name, build(), False)


CASES = {
    "recursive_writer_schema": (
        _alone("recursive.avro", H.self_recursive_avro),
        ["Avro writer schema refused: type 'Node' refers to itself$"]),
    "nullable_recursion_5000_deep": (
        _alone("nullable_recursion.avro", H.nullable_recursion_avro),
        ["Avro writer schema refused: type 'Node' refers to itself$"]),
    "writer_schema_nested_5000_levels": (
        _alone("deep_schema.avro", H.deeply_nested_schema_avro),
        ["Avro writer schema refused: nested deeper than 32 levels$"]),
    "2_62_records_of_0_bytes": (
        _alone("zero_byte_records.avro", H.zero_byte_records_avro),
        ["Avro writer schema refused: record 'Nothing' can take 0 bytes$"]),
    "array_of_2_62_nulls": (
        _alone("null_array.avro", H.null_array_avro),
        ["Avro writer schema refused: array items that take 0 bytes$"]),
    "block_claiming_2_40_records": (
        lambda good: ("count.avro", H.around(_nested(good), "deflate",
                                             H.count_beyond_block("deflate")), True),
        [r"Avro block at byte \d+ claims 1,099,511,627,776 records; its 9 bytes hold at "
         r"most 1$"]),
    "bzip2_block_inflating_to_1_gb": (
        lambda good: ("bzip2.avro", H.around(_nested(good), "bzip2",
                                             H.inflating_block("bzip2")), True),
        [r"Avro block at byte \d+ inflates to more than 16,777,216 bytes$"]),
    "deflate_block_inflating_to_1_gb": (
        lambda good: ("deflate.avro", H.around(_nested(good), "deflate",
                                               H.inflating_block("deflate")), True),
        [r"Avro block at byte \d+ inflates to more than 16,777,216 bytes$"]),
    "json_value_open_over_a_million_lines": (
        lambda good: ("open.json.gz", H.gzip_members(_halves(good)[0], H.open_array(),
                                                     _halves(good)[1]), True),
        ["invalid JSON: Expecting value$"]),        # refused at the next whole object
    "json_value_open_to_the_end_of_the_file": (
        lambda good: ("open_at_end.json.gz", H.gzip_members(b"".join(good.lines),
                                                            H.open_array()), True),
        ["incomplete JSON at end of file$"]),
    "one_line_of_1_gb": (
        lambda good: ("long_line.json.gz", H.gzip_members(
            _halves(good)[0], *H.one_long_line(), _halves(good)[1]), True),
        ["line of 1,073,741,825 bytes, longer than 16,777,216: skipped$"]),
    "4_million_junk_lines": (
        _alone("junk.json.gz", lambda: H.gzip_members(H.junk_lines())),
        ["invalid JSON: Expecting value$"] * archives.MAX_LETTERS_PER_RANGE +
        [r"3,999,000 more dead letters of \S+junk.json.gz not written \(at most 1,000 a "
         r"file or range; 4,000,000 in all, all counted\)$"]),
}


@pytest.mark.parametrize("name", CASES)
def test_a_hostile_file_is_dead_lettered_quickly_and_in_little_memory(name, good, tmp_path):
  build, reasons = CASES[name]
  file_name, data, holds_good = build(good)
  assert len(data) < 2 << 20, "the file itself is small"
  path = tmp_path / file_name
  path.write_bytes(data)
  run = _run([str(path)] if holds_good else [good.path, str(path)], tmp_path / "run")
  assert run.seconds - good.seconds < SECONDS and run.peak_mb < PEAK_MB, (run, good.seconds)
  got = [(d["stage"], d["source"]) for d in run.letters]
  assert got == [("decode", str(path))] * len(reasons)
  wrong = [(d["reason"], want) for d, want in zip(run.letters, reasons)
           if not re.match(want, d["reason"])]
  assert wrong[:3] == []
  assert run.summary["dead_letters"]["decode"] == (
      H.JUNK_LINES if name == "4_million_junk_lines" else len(reasons))
  assert run.frames == good.frames


def test_an_event_pretty_printed_over_30000_lines_is_read(good, tmp_path):
  """It took 24 s and more when every line parsed the buffer again."""
  path = tmp_path / "pretty.json"
  first, second = _halves(good)
  path.write_bytes(first + H.pretty_printed_event("hostile-pretty") + second)
  assert path.read_bytes().count(b"\n") > 30_000
  run = _run([str(path)], tmp_path / "run")
  assert run.seconds - good.seconds < SECONDS and run.peak_mb < PEAK_MB, (run, good.seconds)
  assert run.letters == []
  odd = [f for f in run.frames if f["window_start"] <= ODD_TIME_MS < f["window_end"]]
  assert [f for f in run.frames if f not in odd] == good.frames
  assert odd and all({m for c in f["clusters"] for m in c["members"]} ==
                     {"hostile-pretty-actor", "hostile-pretty-owner"} for f in odd)


# ---- a file named twice ----

def test_the_same_file_given_twice_is_read_once(good, tmp_path):
  run = _run([good.path, good.path], tmp_path / "run")
  assert run.frames == good.frames and run.letters == []
  assert run.summary["events_read"] == GOOD_LINES
  assert "1 files matched by more than one --input, each read once" in run.stderr


def test_overlapping_globs_and_spellings_read_each_file_once(good, tmp_path):
  folder = tmp_path / "hours"
  folder.mkdir()
  first, second = _halves(good)
  (folder / "a.json").write_bytes(first)
  (folder / "b.json").write_bytes(second)
  patterns = [f"{folder}/*.json", f"{folder}/a*", f"{folder}/../hours/b.json"]
  run = _run(patterns, tmp_path / "run")
  assert run.frames == good.frames and run.letters == []
  assert run.summary["events_read"] == GOOD_LINES
  assert "2 files matched by more than one --input, each read once" in run.stderr


def test_read_records_reads_each_file_once(good, caplog):
  """The firehose's and `pulse convert`'s reader."""
  items = list(archives.read_records([good.path, good.path, os.path.dirname(good.path) +
                                      "/*.json"]))
  assert [item[0] for item in items] == ["record"] * GOOD_LINES
  assert "1 files matched by more than one --input" in caplog.text


# ---- the Avro reader against fastavro, on real exports ----

@pytest.mark.parametrize("codec", ["null", "deflate", "bzip2", "xz"])
@pytest.mark.parametrize("shape", [NESTED, FLAT])
def test_real_exports_of_every_codec_read_as_fastavro_reads_them(good, shape, codec,
                                                                 tmp_path):
  records = [(to_nested if shape == NESTED else to_flat)(orjson.loads(line))
             for line in good.lines]
  out = io.BytesIO()
  fastavro.writer(out, fastavro.parse_schema(export_schema(shape)), records, codec=codec,
                  sync_interval=4000)
  path = str(tmp_path / f"{shape}-{codec}.avro")
  with open(path, "wb") as f:
    f.write(out.getvalue())
  with open(path, "rb") as raw:
    items = list(archives.file_items(raw, path))
  out.seek(0)
  assert items == [("record", r) for r in fastavro.reader(out)]


def test_a_block_stored_larger_than_the_cap_is_refused_and_the_next_read(good, tmp_path):
  """A block's size says 2**25 bytes, its data follow and then its sync marker: refused
  unread (and unheld), the blocks around it read."""
  records = _nested(good)
  big = (1, H.compress("null", b"\x00" * (32 << 20)))
  path = str(tmp_path / "big_block.avro")
  with open(path, "wb") as f:
    f.write(H.around(records, "null", big))
  with open(path, "rb") as raw:
    items = list(archives.file_items(raw, path))
  (bad,) = [i[1] for i in items if i[0] == "bad"]
  assert re.match(r"Avro block at byte \d+ holds 33,554,432 bytes, more than 16,777,216$",
                  bad)
  assert [i[1] for i in items if i[0] == "record"] == records


# ---- the line decoder ----

def test_a_line_over_the_limit_is_read_past_as_one_overlong():
  data = b'{"a": 1}\n' + b"x" * 100 + b"\n" + b'{"b": 2}\n' + b"y" * 50
  lines = list(read_lines(io.BytesIO(data), limit=20))
  assert [line if isinstance(line, bytes) else (line.size, line.head) for line in lines] == [
      b'{"a": 1}\n', (101, b"x" * 100), b'{"b": 2}\n', (50, b"y" * 50)]
  items = list(decode_lines([Overlong(b"zz", 10**9), b'{"c": 3}\n']))
  assert items == [("bad", "line of 1,000,000,000 bytes, longer than 16,777,216: skipped",
                    "zz"), ("record", {"c": 3})]


def test_a_value_over_the_pending_cap_is_one_dead_letter_and_read_past(monkeypatch):
  """Its lines are not read as values of their own after it (a record 1 each, then
  refused one by one downstream); a whole-object line ends it, as it ends any unfinished
  value."""
  monkeypatch.setattr(json_records, "MAX_PENDING_CHARS", 40)
  head = [b'{"a": [\n'] + [b"1,\n"] * 30
  reason = "invalid JSON: a value of more than 40 characters (98 read past)"
  assert [i[:2] for i in decode_lines(head + [b'{"b": 1}\n', b"2\n"])] == [
      ("bad", reason), ("record", {"b": 1}), ("record", 2)]
  assert [i[:2] for i in decode_lines(head + [b"1]}\n", b'{"c": 1}\n'])] == [
      ("bad", reason.replace("98", "102")), ("record", {"c": 1})]
  assert [i[:2] for i in decode_lines(head)] == [("bad", reason)]


_SCALAR = st.integers(-10**6, 10**6) | st.floats(allow_nan=False, allow_infinity=False) | \
    st.text(max_size=4) | st.booleans() | st.none()
_VALUE = st.recursive(_SCALAR, lambda inner: st.lists(inner, max_size=3) |
                      st.dictionaries(st.text(max_size=3), inner, max_size=3), max_leaves=8)
_PIECE = st.one_of(
    st.builds(lambda v: json.dumps(v) + "\n", _VALUE),                     # a whole line
    st.builds(lambda v: json.dumps(v, indent=1) + "\n", _VALUE),           # over lines
    st.builds(lambda v, cut: (json.dumps(v, indent=1) + "\n")[:cut] + "\n", _VALUE,
              st.integers(0, 60)),                                         # cut short
    st.sampled_from(["garbage\n", "\n", "  \n", "]\n", "}{\n", '"open\n', "NaN\n", ",\n",
                     "[1,\n", '{"k":\n', "1 2\n", "\x00\n", "\udcff\n", "{} []\n"]))


@settings(max_examples=400, deadline=None)
@given(st.lists(_PIECE, max_size=12))
def test_the_decoder_gives_the_items_the_quadratic_one_gave(pieces):
  lines = "".join(pieces).encode("utf-8", "surrogateescape").splitlines(keepends=True)
  assert list(decode_lines(lines)) == list(H.quadratic_decode_lines(lines))

"""Bad input goes to the dead letter with a reason; the good records' frames are unchanged."""
import gzip
import json
import zlib

import fastavro
import pytest

from helpers import HOURS, make_runner
from pulse.io.json_records import decode_lines
from pulse.schemas.dead_letters import SOURCE_FIELD

GARBAGE = [
    b"this is not json\n",
    b"\x00\xff\xfe\x89PNG binary garbage \x01\x02\n",
    b'{"type": "PushEvent", "id": "half a li\n',                     # a half line
    b'[1, 2, 3]\n',                                                   # JSON, not an object
    b'{"foo": "bar"}\n',                                              # the wrong shape
    b'{"type": "WatchEvent", "id": "x", "created_at": null, "actor": {"login": "a"}}\n',
    b'{"type": "WatchEvent", "id": "y", "created_at": "yesterday", "actor": "b"}\n',
    b'{"type": "IssuesEvent", "id": "z", "created_at": "2012-02-15 00:10:00", '
    b'"actor": {"login": "a"}, "repo": {"name": "b/c"}, "payload": "{broken"}\n',
]


def test_decode_lines_recovers_from_every_kind_of_damage():
  good = [{"a": 1}, {"b": [1, 2]}, {"c": "x"}, {"d": 4}, {"e": 5}]
  text = (b'{"a": 1}\n'
          b'garbage line\n'
          b'{"b": [1,\n 2]}\n'                       # one object over two lines
          b'{"c": "x"}{"d": 4}\n'                     # two objects on one line
          b'{"trunc\n'
          b'{"e": 5}\n'
          b'{"never": "ends"\n')
  items = list(decode_lines(text.splitlines(keepends=True)))
  assert [i[1] for i in items if i[0] == "record"] == good
  bad = [(i[1], i[2]) for i in items if i[0] == "bad"]
  assert [text for _, text in bad] == ["garbage line\n", '{"trunc\n', '{"never": "ends"\n']
  assert bad[0][0].startswith("invalid JSON") and bad[-1][0] == "incomplete JSON at end of file"


def _is_json(line):
  try:
    json.loads(line)
    return True
  except ValueError:
    return False


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory):
  folder = tmp_path_factory.mktemp("bad")
  # A 2012 hour with garbage between its lines.
  with gzip.open(HOURS["2012"]) as f:
    lines = f.readlines()
  noisy = []
  for i, line in enumerate(lines):
    noisy.append(line)
    if i % 500 == 7:
      noisy.append(GARBAGE[(i // 500) % len(GARBAGE)])
  noisy.extend(GARBAGE)
  with gzip.open(folder / "noisy.json.gz", "wb") as f:
    f.writelines(noisy)
  # The 2011 hour cut in the middle of its gzip stream, and the records Python can read
  # from what is left (the expected good part).
  raw = open(HOURS["2011"], "rb").read()
  (folder / "truncated.json.gz").write_bytes(raw[:len(raw) // 2])
  text = zlib.decompressobj(31).decompress(raw[:len(raw) // 2])
  complete = text[:text.rfind(b"\n") + 1]
  (folder / "truncated_good_part.json").write_bytes(complete)
  # An Avro file of a foreign schema.
  schema = {"type": "record", "name": "Weather", "fields": [
      {"name": "city", "type": "string"}, {"name": "celsius", "type": "double"}]}
  with open(folder / "weather.avro", "wb") as f:
    fastavro.writer(f, schema, [{"city": "Oslo", "celsius": -3.5}])
  # Not Avro at all, though named so.
  (folder / "fake.avro").write_bytes(b"Obj\x01 definitely not an avro header")
  return folder, noisy, complete.count(b"\n")


@pytest.fixture(scope="module")
def runs(bad_files, tmp_path_factory):
  """(clean, dirty): the good records alone, and the bad files."""
  folder = bad_files[0]
  run = make_runner(tmp_path_factory.mktemp("runs"))
  clean = run([HOURS["2012"], str(folder / "truncated_good_part.json")])
  dirty = run([str(folder / "noisy.json.gz"), str(folder / "truncated.json.gz"),
               str(folder / "weather.avro"), str(folder / "fake.avro")])
  return clean, dirty


def test_bad_input_goes_to_dead_letter_and_good_frames_are_unchanged(runs, bad_files):
  folder, noisy, readable = bad_files
  clean, dirty = runs
  assert dirty.frames == clean.frames
  parsed_garbage = sum(1 for line in noisy if line in GARBAGE and _is_json(line))
  assert dirty.counter("events_read") == clean.counter("events_read") + parsed_garbage
  letters = dirty.dead_letters
  reasons = [(d["stage"], d["reason"]) for d in letters]
  by_stage = {}
  for stage, reason in reasons:
    by_stage.setdefault(stage, []).append(reason)
  assert sum(r.startswith("invalid JSON") for r in by_stage["decode"]) >= 3
  assert any(r.startswith("file unreadable after %d records" % readable)
             for r in by_stage["decode"])
  assert any(r.startswith("foreign Avro schema 'Weather'") for r in by_stage["decode"])
  assert any(r.startswith("not an Avro file") for r in by_stage["decode"])
  assert "record is a JSON list, not an object" in by_stage["normalise"]
  assert "no event type" in by_stage["normalise"]
  assert "no created_at" in by_stage["normalise"]
  assert any(r.startswith("unreadable created_at 'yesterday'") for r in by_stage["normalise"])
  assert any(r.startswith("payload is not valid JSON") for r in by_stage["edges"])
  sources = {d["source"] for d in letters if d["stage"] == "decode"}
  assert any(s.endswith("truncated.json.gz") for s in sources)
  assert all(d["record"] is not None and d["reason"] for d in letters)
  # Every garbage record inserted is accounted for: nothing vanished.
  total_garbage = sum(1 for line in noisy if line in GARBAGE)
  per_file = [d for d in letters if d["source"].endswith("noisy.json.gz") or
              d["stage"] != "decode"]
  assert len(per_file) == total_garbage


def test_normalise_dead_letters_name_the_file_their_record_is_in(runs, bad_files):
  noisy = bad_files[1]
  letters = [d for d in runs[1].dead_letters if d["stage"] == "normalise"]
  objects = [d for d in letters if d["record"].startswith("{")]
  assert len(objects) >= 4 and all(d["source"].endswith("noisy.json.gz") for d in objects)
  assert all(SOURCE_FIELD not in d["record"] for d in letters)    # the record as read
  # A JSON value that is no object has no field to carry its file in.
  lists = [d["source"] for d in letters if not d["record"].startswith("{")]
  assert lists == [""] * noisy.count(b"[1, 2, 3]\n") and lists

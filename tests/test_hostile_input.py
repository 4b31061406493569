"""The hostile corpus (tests/hostile_corpus.py) mixed into the real 2015 hour, split over a
JSON hour, nested and flat Avro exports and broken files, in one pipeline run: every bad
record lands in the dead letter once, with its reason, and is counted; the hour's frames
and edges are those of the clean hour; odd but valid records flow through and are stored
exactly. Kafka messages are checked at the codec here; with a broker, see
tests/test_kafka_pipeline.py::test_messages_that_are_not_events_go_to_the_dead_letter."""
import collections
import gzip
import json
import re

import orjson
import pytest

import hostile_corpus as corpus
from helpers import HOURS, make_runner
from hostile_corpus import Dead, Edge, NoEdge
from pulse.io.bigquery_export import to_nested
from pulse.io.kafka_codec import (HEARTBEAT_HEADER, NotAnEvent, decode_event, encode_event,
                                  heartbeat_headers, heartbeat_time)
from pulse.schemas.dead_letters import dead_letter

FLAGS = ("--min_cluster_size=2",)    # every component is listed, so every login is seen


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
  folder = tmp_path_factory.mktemp("hostile")
  with gzip.open(HOURS["2015"]) as f:
    paths, cases = corpus.write_corpus(folder, f.readlines())
  run = make_runner(folder)
  return run(HOURS["2015"], *FLAGS), run([str(p) for p in paths], *FLAGS), cases


def _owners(letter, cases):
  return [c for c in cases if c.marker in letter["record"] or c.marker in letter["source"]]


def test_every_bad_record_is_dead_lettered_once_with_its_reason(runs):
  clean, dirty, cases = runs
  assert clean.dead_letters == []
  letters = dirty.dead_letters
  owners = [_owners(letter, cases) for letter in letters]
  assert [letter for letter, mine in zip(letters, owners) if len(mine) != 1] == []
  wrong = []
  for case in cases:
    mine = [letter for letter, (owner,) in zip(letters, owners) if owner is case]
    if not isinstance(case.expect, Dead):
      if mine:
        wrong.append((case.name, "dead-lettered", mine[0]["reason"]))
    elif len(mine) != 1:
      wrong.append((case.name, f"{len(mine)} dead letters"))
    elif (mine[0]["stage"] != case.expect.stage or
          not re.match(case.expect.reason, mine[0]["reason"])):
      wrong.append((case.name, mine[0]["stage"], mine[0]["reason"][:200]))
  assert wrong == [], "\n".join(map(str, wrong))


def test_dead_letter_counters_equal_the_dead_letters(runs):
  _, dirty, cases = runs
  counters = collections.Counter()
  for counter in dirty.pipeline_result.metrics().query()["counters"]:
    if counter.key.metric.name.startswith("dead_letter_"):
      counters[counter.key.metric.name] += counter.committed
  stages = collections.Counter("dead_letter_" + d["stage"] for d in dirty.dead_letters)
  assert +counters == stages
  assert sum(stages.values()) == sum(isinstance(c.expect, Dead) for c in cases)


def test_no_record_vanishes_between_the_steps(runs):
  clean, dirty, cases = runs
  expects = [c.expect for c in cases]
  dead = collections.Counter(e.stage for e in expects if isinstance(e, Dead))
  no_edge = collections.Counter(e.reason for e in expects if isinstance(e, NoEdge))
  edges = sum(isinstance(e, Edge) for e in expects)
  read = sum(e is not None for e in expects) - dead["decode"]
  assert dirty.counter("events_read") == clean.counter("events_read") + read
  assert dirty.counter("events_normalised") == (
      clean.counter("events_normalised") + edges + sum(no_edge.values()) + dead["edges"])
  assert dirty.counter("edges") == clean.counter("edges") + edges
  for reason in ("no_partner", "self_edge", "bot", "org_owner"):
    assert (dirty.counter("no_edge_" + reason) ==
            clean.counter("no_edge_" + reason) + no_edge[reason]), reason


def _covers_odd_time(frame):
  return frame["window_start"] <= corpus.ODD_TIME_MS < frame["window_end"]


def _key(record):
  return json.dumps(record, sort_keys=True)


def test_the_hours_frames_and_edges_are_unchanged(runs):
  clean, dirty, cases = runs
  assert clean.frames and clean.edges
  assert [f for f in dirty.frames if not _covers_odd_time(f)] == clean.frames
  odd = {c.marker for c in cases if isinstance(c.expect, Edge)}
  assert (sorted(map(_key, (e for e in dirty.edges if e["id"] not in odd))) ==
          sorted(map(_key, clean.edges)))


def test_odd_but_valid_records_are_stored_exactly(runs):
  _, dirty, cases = runs
  expected = {c.marker: c.expect for c in cases if isinstance(c.expect, Edge)}
  edges = {e["id"]: e for e in dirty.edges if e["created_at"] == corpus.ODD_TIME_MS}
  assert set(edges) == set(expected)           # and no refused record gave an edge
  for marker, want in expected.items():
    got = edges[marker]
    assert (got["src"], got["dst"]) == (want.src, want.dst), marker
    assert want.repo is None or got["repo"] == want.repo, marker
  logins = {login for want in expected.values() for login in want[:2]}
  frames = [f for f in dirty.frames if _covers_odd_time(f)]
  assert len(frames) == 600 // 60                          # the default window geometry
  for frame in frames:                   # read back from the SQLite frame text
    assert frame["edges"] == len(expected)
    assert {m for c in frame["clusters"] for m in c["members"]} == logins


def test_a_10_mb_record_is_cut_in_its_dead_letter(runs):
  _, dirty, _ = runs
  (letter,) = [d for d in dirty.dead_letters
               if "hostile-ten_mb_without_created_at" in d["record"]]
  assert letter["record_chars"] > corpus.TEN_MB
  assert len(letter["record"]) == 65_536


@pytest.mark.parametrize("case", corpus.cases(corpus.KAFKA), ids=lambda c: c.name)
def test_kafka_messages_that_are_not_events_are_refused_with_a_reason(case):
  with pytest.raises(NotAnEvent) as refused:
    decode_event(case.data)
  assert re.match(case.expect.reason, str(refused.value)), str(refused.value)


def test_real_events_pass_the_codec_unchanged():
  with gzip.open(HOURS["2015"]) as f:
    records = [to_nested(orjson.loads(line)) for line in f.readlines()[:200]]
  assert [decode_event(encode_event(r)) for r in records] == records


@pytest.mark.parametrize("value", [b"soon", b"", None, b"12.5", b"-1", b"253402300799000"])
def test_a_heartbeat_header_that_is_no_event_time_makes_no_heartbeat(value):
  """Read as a heartbeat it would stop the source (an exception) or move its clock to
  year 9999, making every later event late."""
  assert heartbeat_time([(HEARTBEAT_HEADER, value)]) is None
  assert heartbeat_time(heartbeat_headers(1_420_113_600_000)) == 1_420_113_600_000


def test_a_recursive_avro_schema_is_refused_before_fastavro_reads_it(run_pulse, tmp_path):
  """A payload of a record type that refers to itself: fastavro recursed as deep as the
  data went (5,000 levels: a segfault). The file is one dead letter, read no further
  (tests/test_hostile_files.py: deeper, and with no union to end the recursion)."""
  path = tmp_path / "deep.avro"
  path.write_bytes(corpus.recursive_avro(1500))
  (letter,) = run_pulse(str(path)).dead_letters
  assert (letter["stage"], letter["source"]) == ("decode", str(path))
  assert letter["reason"] == "Avro writer schema refused: type 'Node' refers to itself"


def test_a_record_nested_1500_levels_deep_is_dead_lettered_with_a_summary():
  """json.dumps of it recursed and killed the run: the letter holds a summary instead
  (schemas/dead_letters.py)."""
  record = {"created_at": "yesterday"}
  for _ in range(1500):
    record = {"next": record}
  letter = dead_letter("normalise", "unreadable created_at 'yesterday'", record).value
  assert letter["record"].startswith("{'next': {'next':") and len(letter["record"]) < 100

"""Raw records on their way into events: the id of an event that has none (derived the
same from every input shape), and the source every reader names on each record
(SOURCE_FIELD), which the normaliser's dead letters carry."""
import collections
import gzip
import json
import time

import orjson
import pytest

from helpers import HOURS
from pulse.io.archives import _DecodeRangeFn
from pulse.io.bigquery_export import to_flat, to_nested
from pulse.io.bigquery_source import _RowFn
from pulse.io.kafka_codec import encode_event
from pulse.io.kafka_reader import ReadPartitionFn
from pulse.io.kafka_source import KafkaSpec
from pulse.schemas.dead_letters import DEAD, SOURCE_FIELD, dead_letter
from pulse.transforms.edges import edge_of
from pulse.transforms.events import DERIVED_ID_PREFIX, _NormaliseFn, normalise


def _without_ids(year):
  with gzip.open(HOURS[year]) as f:
    records = [orjson.loads(line) for line in f]
  for record in records:
    del record["id"]
  return records


# ---- derived ids ----

def _is_derived(event_id):
  return (event_id.startswith(DERIVED_ID_PREFIX) and len(event_id) == 17 and
          int(event_id[1:], 16) >= 0)


@pytest.mark.parametrize("year", ["2011", "2012"])
def test_events_without_an_id_get_one_derived_alike_from_every_shape(year):
  records = _without_ids(year)
  ids = [normalise(r)["id"] for r in records]
  assert all(map(_is_derived, ids))
  assert len(set(ids)) == len(ids)           # every event of the hour its own id
  for shape in (to_nested, to_flat):
    assert [normalise(shape(r))["id"] for r in records] == ids


def test_a_derived_id_is_stable():
  """Ids are stored in frames: the rule may not change unnoticed."""
  record = {"type": "WatchEvent", "created_at": "2013-02-15 08:00:45",
            "actor": {"login": "danielvlopes"},
            "repo": {"id": 1707621, "name": "hallo", "url": "https://github.com/bergie/hallo"},
            "payload": '{"action":"started"}'}
  assert normalise(record)["id"] == "h670713d83a161e56"


def test_a_derived_id_reads_the_payload_as_a_value():
  """The events-API object, a BigQuery JSON string of it in another key order and
  spacing, and the nested export's text give one id; another payload another."""
  payload = {"action": "created", "issue": {"number": 7, "user": {"login": "ann"}}}
  record = {"type": "IssuesEvent", "created_at": "2014-05-01T10:00:00Z",
            "actor": {"login": "bob"}, "repo": {"name": "ann/tool"}, "payload": payload}
  reordered = dict(record, payload=json.dumps(
      {"issue": {"user": {"login": "ann"}, "number": 7}, "action": "created"}, indent=2))
  ids = {normalise(r)["id"] for r in (record, reordered, to_nested(record),
                                      to_flat(record))}
  assert len(ids) == 1
  other = dict(record, payload=dict(payload, action="closed"))
  assert normalise(other)["id"] not in ids


@pytest.mark.parametrize("field,value", [
    ("type", "ForkEvent"), ("created_at", "2014-05-01T10:00:01Z"),
    ("actor", {"login": "carl"}), ("repo", {"name": "ann/other"}),
    ("repo", {"name": "tool", "url": "https://github.com/dora/tool"})])
def test_a_derived_id_differs_with_each_field(field, value):
  record = {"type": "WatchEvent", "created_at": "2014-05-01T10:00:00Z",
            "actor": {"login": "bob"}, "repo": {"name": "tool",
                                                "url": "https://github.com/ann/tool"},
            "payload": {"action": "started"}}
  assert normalise(record)["id"] != normalise(dict(record, **{field: value}))["id"]


@pytest.mark.parametrize("event_id,expected", [("1132219608", "1132219608"),
                                               (1132219608, "1132219608"), (0, "0")])
def test_an_id_the_record_has_is_kept(event_id, expected):
  record = {"type": "WatchEvent", "id": event_id, "created_at": "2014-05-01T10:00:00Z"}
  assert normalise(record)["id"] == expected


@pytest.mark.parametrize("event_id", [None, "", "  "])
def test_an_empty_id_is_derived(event_id):
  record = {"type": "WatchEvent", "id": event_id, "created_at": "2014-05-01T10:00:00Z"}
  assert _is_derived(normalise(record)["id"])


@pytest.mark.parametrize("payload", [
    "{not json", '{"login": "\\ud800"}', "", None, 5, [1, "x"], "[1, 2]",
    {"deep": json.loads("[" * 300 + "]" * 300)}, {"big": 2**64 - 1},
    {"float": 1e16, "tiny": 5e-324, "text": "ünï 😀 \u2028"}])
def test_odd_payloads_give_an_id_alike_from_every_shape(payload):
  record = {"type": "IssuesEvent", "created_at": "2014-05-01T10:00:00Z",
            "actor": {"login": "bob"}, "repo": {"name": "ann/tool"}, "payload": payload}
  ids = {normalise(shape(record))["id"] for shape in (dict, to_nested, to_flat)}
  assert len(ids) == 1 and _is_derived(ids.pop())


def test_deriving_ids_costs_little(capsys):
  """Only events without an id pay: about 3 us each on the 2011 hour (the payload parsed
  and written again, then hashed), where normalising costs about 4 us."""
  with_ids = [orjson.loads(line) for line in gzip.open(HOURS["2011"])]
  without = _without_ids("2011")

  def cost(records):
    best = float("inf")
    for _ in range(5):
      started = time.perf_counter()
      for record in records:
        normalise(record)
      best = min(best, time.perf_counter() - started)
    return best / len(records) * 1e6

  base, derived = cost(with_ids), cost(without)
  with capsys.disabled():
    print(f"\nnormalise, 2011 hour: {base:.1f} us/event with ids, {derived:.1f} without")
  assert derived - base < 25      # generous: a loaded CI machine; the point is the order


# ---- the source of each record ----

def test_dead_letter_takes_the_source_from_the_record_and_leaves_it_out_of_the_text():
  letter = dead_letter("normalise", "no event type", {"a": 1, SOURCE_FIELD: "f.json"}).value
  assert (letter["source"], json.loads(letter["record"])) == ("f.json", {"a": 1})
  passed = dead_letter("late", "late", {SOURCE_FIELD: "x"}, source="given").value
  assert passed["source"] == "given" and SOURCE_FIELD not in passed["record"]
  odd = dead_letter("normalise", "r", {SOURCE_FIELD: 5}).value
  assert odd["source"] == ""


def test_archive_records_name_their_file_with_one_shared_string(tmp_path):
  path = str(tmp_path / "hour.json")
  with open(path, "w") as f:
    f.write('{"type": "WatchEvent"}\n[1, 2]\nnot json\n{"type": "ForkEvent"}\n')
  out = list(_DecodeRangeFn().process((path, 0, None)))
  records = [o for o in out if not hasattr(o, "tag")]
  assert records == [{"type": "WatchEvent", SOURCE_FIELD: path}, [1, 2],
                     {"type": "ForkEvent", SOURCE_FIELD: path}]
  assert records[0][SOURCE_FIELD] is path and records[2][SOURCE_FIELD] is path
  (letter,) = [o.value for o in out if hasattr(o, "tag")]
  assert letter["source"] == path


def test_bigquery_rows_name_their_table_on_a_copy():
  row = {"type": "WatchEvent", "created_at": 1}
  (out,) = _RowFn("githubarchive:year.2013").process(row)
  assert out == {**row, SOURCE_FIELD: "githubarchive:year.2013"}
  assert SOURCE_FIELD not in row


class _Message:
  def __init__(self, value, offset):
    self._value, self._offset = value, offset

  def offset(self):
    return self._offset

  def headers(self):
    return []

  def value(self):
    return self._value


def _nested_without_type():
  record = to_nested({"type": "WatchEvent", "created_at": "2014-05-01T10:00:00Z",
                      "actor": {"login": "bob"}, "repo": {"name": "ann/tool"}})
  record["type"] = None
  return record


def test_kafka_records_name_topic_partition_and_offset():
  uri = "kafka://127.0.0.1:9/events"
  reader = ReadPartitionFn(KafkaSpec(uri), None, None, 4, "run")
  offset, record, _, _ = reader._parse(_Message(encode_event(_nested_without_type()), 41), 3)
  assert record[SOURCE_FIELD] == f"{uri}[3]@41"
  (letter,) = _NormaliseFn().process(record)
  assert letter.tag == DEAD
  assert (letter.value["source"], letter.value["reason"]) == (f"{uri}[3]@41",
                                                              "no event type")
  assert SOURCE_FIELD not in json.loads(letter.value["record"])


def test_xlang_kafka_records_name_topic_partition_and_offset():
  from pulse.io.kafka_xlang import _DecodeFn
  Row = collections.namedtuple("Row", "headers value partition offset")
  uri = "kafka://127.0.0.1:9/events"
  (stamped,) = _DecodeFn(uri)._decode(Row([], encode_event(_nested_without_type()), 2, 7))
  assert stamped.value[SOURCE_FIELD] == f"{uri}[2]@7"


def test_normalise_ignores_the_source_field_of_good_records():
  record = {"type": "WatchEvent", "id": "1", "created_at": "2014-05-01T10:00:00Z",
            "actor": {"login": "bob"}, "repo": {"name": "ann/tool"}, SOURCE_FIELD: "f"}
  (event,) = _NormaliseFn().process(record)
  assert SOURCE_FIELD not in event and event == normalise(
      {k: v for k, v in record.items() if k != SOURCE_FIELD})
  assert edge_of(event)[0]["dst"] == "ann"


@pytest.mark.servers
def test_a_kafka_record_the_normaliser_refuses_names_its_message(kafka_bootstrap,
                                                                  run_pulse):
  from confluent_kafka import Producer
  topic = f"unreadable-{time.monotonic_ns()}"
  producer = Producer({"bootstrap.servers": kafka_bootstrap})
  delivered = []
  producer.produce(topic, encode_event(_nested_without_type()), key=b"k",
                   on_delivery=lambda error, m: delivered.append(m))
  producer.flush(30)
  (message,) = delivered
  uri = f"kafka://{kafka_bootstrap}/{topic}"
  run = run_pulse(uri, "--kafka_stop=end", "--kafka_start=earliest",
                  f"--kafka_group=g-{time.monotonic_ns()}")
  (letter,) = run.dead_letters
  assert (letter["stage"], letter["reason"]) == ("normalise", "no event type")
  assert letter["source"] == f"{uri}[{message.partition()}]@{message.offset()}"
  assert SOURCE_FIELD not in json.loads(letter["record"])

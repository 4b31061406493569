"""Avro exports read in byte ranges (so that workers share a big file): the ranges give
exactly the file's records, a corrupt block costs only its own range, and a run split
over ranges and over two worker processes stores the frames of the JSON run."""
import fastavro
import pytest

from helpers import HOURS
from pulse.io import archives
from pulse.io.bigquery_export import convert

SMALL_RANGE = 64 << 10


@pytest.fixture(scope="module")
def avro_hour(tmp_path_factory):
  path = str(tmp_path_factory.mktemp("ranges") / "2015.avro")
  written, _ = convert(HOURS["2015"], path, "nested")
  return path, written


def read_ranges(path, data):
  items = []
  for _, start, end in archives.ranges(path, len(data)):
    with open(path, "rb") as raw:
      items += list(archives.file_items(raw, path, start, end))
  return items


def test_ranges_cover_the_file_once_in_order(avro_hour, monkeypatch):
  path, written = avro_hour
  monkeypatch.setattr(archives, "AVRO_RANGE_BYTES", SMALL_RANGE)
  with open(path, "rb") as raw:
    data = raw.read()
    raw.seek(0)
    whole = [r["id"] for r in fastavro.reader(raw)]
  assert len(archives.ranges(path, len(data))) >= 10
  items = read_ranges(path, data)
  assert [item[0] for item in items] == ["record"] * written
  assert [item[1]["id"] for item in items] == whole


def test_a_corrupt_block_costs_only_its_range(avro_hour, tmp_path, monkeypatch):
  path, written = avro_hour
  monkeypatch.setattr(archives, "AVRO_RANGE_BYTES", SMALL_RANGE)
  with open(path, "rb") as raw:
    data = bytearray(raw.read())
  middle = len(data) // 2
  data[middle:middle + 200] = b"\xff" * 200        # inside a deflated block
  broken = str(tmp_path / "broken.avro")
  with open(broken, "wb") as out:
    out.write(data)
  with open(broken, "rb") as raw:                    # read whole, it stops at the damage
    whole = list(archives.file_items(raw, broken))
  assert whole[-1][0] == "bad" and "unreadable after" in whole[-1][1]
  items = read_ranges(broken, data)
  bad = [item for item in items if item[0] == "bad"]
  records = [item for item in items if item[0] == "record"]
  assert len(bad) == 1 and bad[0][1].startswith("bytes ")
  # Everything before the damaged range and everything after it is read.
  assert len(whole) - 1 < len(records) < written
  assert written - len(records) < 2000


@pytest.mark.parametrize("flags", [
    (),
    ("--direct_num_workers=2", "--direct_running_mode=multi_processing"),
], ids=["in-process", "two-worker-processes"])
def test_a_run_over_ranges_stores_the_json_runs_frames(avro_hour, run_pulse, monkeypatch,
                                                       flags):
  path, _ = avro_hour
  monkeypatch.setattr(archives, "AVRO_RANGE_BYTES", SMALL_RANGE)  # in-process workers
  reference = run_pulse(HOURS["2015"])
  run = run_pulse(path, *flags)
  assert run.frames == reference.frames
  assert run.dead_letters == []
  assert run.counter("events_read") == reference.counter("events_read")
  assert run.counter("files_read") == 1

"""Chunked batch runs (pipeline/passes.py): the edges to disk by slice of event time, then
the frames in consecutive runs, equal the frames of one pass, whatever order the input
holds its records in, and mistakes in the flags are refused before any work."""
import random

import fastavro
import pytest

from helpers import HOURS, stored_frames
from pulse.cli import main
from pulse.io import edge_slices
from pulse.io.archives import read_records
from pulse.io.bigquery_export import to_flat
from pulse.pipeline import passes
from pulse.schemas import FLAT, export_schema


@pytest.fixture(scope="module")
def shuffled_export(tmp_path_factory):
  """The real 2015 hour as a flat BigQuery export, its records in random order (an
  export shard's records span its whole day, in no order)."""
  records = [to_flat(item[1]) for item in read_records([HOURS["2015"]])]
  random.Random(7).shuffle(records)
  path = tmp_path_factory.mktemp("export") / "shuffled.avro"
  with open(path, "wb") as out:
    fastavro.writer(out, fastavro.parse_schema(export_schema(FLAT)), records,
                    codec="deflate", sync_interval=64 << 10)
  return str(path)


def _frames(tmp_path, name, inputs, *flags):
  sink = f"sqlite://{tmp_path}/{name}.db"
  assert main(["run", *[f"--input={p}" for p in inputs], f"--sink={sink}", *flags]) == 0
  return stored_frames(sink)


@pytest.mark.parametrize("flags", [(), ("--window_size=300", "--windowing=plain")])
def test_chunked_runs_equal_one_pass(shuffled_export, tmp_path, monkeypatch, capsys,
                                     flags):
  # Slices of 10 minutes, chunks of ~300 edges: the hour's frames made by many runs; at
  # most 4 slice files open at once, so the shuffled records close and reopen many.
  monkeypatch.setattr(passes, "HOUR_MS", 600_000)
  monkeypatch.setattr(edge_slices, "MAX_OPEN_FILES", 4)
  one_pass = _frames(tmp_path, "one", [HOURS["2015"]], "--chunk_edges=0", *flags)
  capsys.readouterr()
  chunked = _frames(tmp_path, "chunked", [shuffled_export], "--chunk_edges=300", *flags)
  out = capsys.readouterr().out
  runs = int(out.split("made by ")[1].split(" runs")[0])
  assert runs >= 6                       # 3,564 edges in 300s: the hour cut many times
  assert f"windows            {len(one_pass):>10,}" in out
  assert [f["id"] for f in chunked] == [f["id"] for f in one_pass]
  assert chunked == one_pass             # clusters, lineage, brokers: everything


def test_chunks_of_three_eras_with_gaps_equal_one_pass(tmp_path):
  """Hours years apart: the chunks have gaps between them, and one store holds all."""
  inputs = [HOURS["2011"], HOURS["2012"], HOURS["2015"]]
  one_pass = _frames(tmp_path, "one", inputs, "--chunk_edges=0")
  assert _frames(tmp_path, "chunked", inputs, "--chunk_edges=1000") == one_pass


def test_plan_groups_consecutive_slices_up_to_the_chunk():
  slices = {3: 40, 1: 50, 2: 60, 4: 500, 5: 10}
  assert passes.plan(slices, 100) == [[1], [2, 3], [4], [5]]
  assert passes.plan(slices, 1000) == [[1, 2, 3, 4, 5]]
  assert passes.plan({}, 100) == []


@pytest.mark.parametrize("flags, error", [
    (["--chunk_edges=-1"], "--chunk_edges -1: must be at least 0"),
    (["--chunk_edges=5", "--sink=jsonl:///tmp/x.jsonl"], "cannot chunk the store jsonl://"),
    (["--chunk_edges=5", "--streaming", "--runner=PrismRunner"],
     "cannot chunk a streaming run"),
    (["--work_dir=/nonexistent/folder"], "--work_dir /nonexistent/folder: not a folder"),
])
def test_a_chunked_run_that_cannot_be_is_refused(flags, error, capsys):
  assert main(["run", f"--input={HOURS['2015']}", *flags]) == 2
  assert error in capsys.readouterr().err


def test_a_chunked_run_tells_its_progress(shuffled_export, tmp_path, monkeypatch, capsys):
  from pulse.io import archives, progress as told
  from pulse.pipeline import progress
  # Reports every 1,024 records and every 0.05 s, printed every 0.1 s: a small run shows.
  monkeypatch.setattr(archives, "PROGRESS_STEP", 1023)
  monkeypatch.setattr(told, "REPORT_S", 0.05)
  monkeypatch.setattr(progress, "EVERY_S", 0.1)
  monkeypatch.setattr(passes, "HOUR_MS", 600_000)
  _frames(tmp_path, "told", [shuffled_export], "--chunk_edges=1000")
  lines = [line for line in capsys.readouterr().err.splitlines()
           if line.startswith("pulse: ")]
  reading = [line for line in lines if line.startswith("pulse: reading: ")]
  assert reading, lines
  counts = [int(line.split()[2].replace(",", "")) for line in reading]
  assert counts == sorted(counts) and counts[-1] <= 8273
  assert any("% of 3 MB" in line for line in reading)
  assert reading[-1].startswith("pulse: reading: 8,273 events, 100% of 3 MB, event time "
                                "to 2015-01-01 12:59 UTC")
  assert "pulse: read: 8,273 events, 3,564 edges on disk in 6 slices of 10 min" in "\n".join(
      lines)
  done = [line for line in lines if " done, event time to " in line]
  assert [line.split(" done")[0] for line in done] == [
      f"pulse: frames: run {n}/6" for n in range(1, 7)]
  assert "event time to 2015-01-01 13:00 UTC, 3,564/3,564 edges (100%)" in done[-1]


def test_the_progress_of_the_workers_adds_up(tmp_path):
  from pulse.io.progress import Reporter, read_totals
  from pulse.pipeline.progress import reading_text
  one, two = Reporter(str(tmp_path)), Reporter(str(tmp_path))
  two.path = str(tmp_path / "other.json")          # another worker process
  one.add(events=10, bytes_read=100, event_ms=5_000)
  two.add(events=5, bytes_read=50, event_ms=1_420_113_600_000)
  one.write(), two.write()
  assert read_totals(str(tmp_path)) == (15, 150, 1_420_113_600_000)
  assert reading_text(15, 150, 600, 1_420_113_600_000, 50.0) == (
      "reading: 15 events, 25% of 0 MB, event time to 2015-01-01 12:00 UTC, ETA 9 s")

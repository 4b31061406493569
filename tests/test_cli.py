"""The commands as a user runs them: run_direct.sh, pulse run/convert/export, reruns."""
import json
import subprocess
import sys

import fastavro

from helpers import HOURS, REPO, stored_frames
from pulse.io.stores import open_store
from pulse.cli import main
from pulse.schemas import FLAT, NESTED, export_schema


def test_run_direct_sh_with_no_input_flags_runs_the_bundled_hour(tmp_path):
  sink = f"sqlite://{tmp_path}/frames.db"
  done = subprocess.run(
      ["./run_direct.sh", "--sink", sink, "--dead_letter_output", str(tmp_path / "dead")],
      cwd=REPO, capture_output=True, text=True, timeout=300)
  assert done.returncode == 0, done.stderr[-2000:]
  summary = json.loads(done.stdout.split("summary: ", 1)[1].splitlines()[0])
  assert summary["events_read"] == 8273
  assert summary["edges"] + sum(summary["no_edge"].values()) == 8273
  assert summary["frames_written"] == summary["windows"] == len(stored_frames(sink)) > 60
  assert "largest cluster" in done.stdout and "members:" in done.stdout
  assert "gharchive-2015-01-01-12.json.gz: 8273 records read" in done.stderr


def test_rerun_overwrites_frames_and_export_orders_them(tmp_path, capsys):
  sink = f"sqlite://{tmp_path}/f.db"
  args = ["run", f"--input={HOURS['2011']}", f"--sink={sink}", "--window_size=300"]
  assert main(args) == 0
  first = stored_frames(sink)
  assert main(args) == 0
  assert stored_frames(sink) == first           # same ids, replaced, not added
  capsys.readouterr()
  assert main(["export", f"--sink={sink}"]) == 0
  lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
  assert lines == first
  starts = [f["window_start"] for f in lines]
  assert starts == sorted(starts) and len(set(f["id"] for f in lines)) == len(lines)


def test_frame_store_write_is_idempotent(tmp_path):
  store = open_store(f"sqlite://{tmp_path}/s.db")
  frame = {"id": "0-600000", "window_start": 0, "window_end": 600000, "clusters": []}
  store.write([frame])
  store.write([dict(frame, clusters=[{"id": "a"}])])
  assert list(store.frames()) == [dict(frame, clusters=[{"id": "a"}])]
  store.close()


def test_convert_writes_both_bigquery_export_shapes(tmp_path, capsys):
  for shape in (NESTED, FLAT):
    out = tmp_path / f"{shape}.avro"
    assert main(["convert", f"--input={HOURS['2015']}", f"--output={out}",
                 f"--shape={shape}"]) == 0
    assert "8,273 events written" in capsys.readouterr().out
    with open(out, "rb") as f:
      reader = fastavro.reader(f)
      assert reader.writer_schema["name"].endswith(export_schema(shape)["name"])
      first = next(reader)
    assert first["id"] == "2489582589"
    assert first["created_at"] == 1420113601 * 1_000_000      # microseconds
    login = first["actor"]["login"] if shape == NESTED else first["actor_login"]
    assert login == "kevinvanhove"
    assert json.loads(first["payload"]) == {"action": "started"}


def test_errors_are_clear_and_exit_2(tmp_path, capsys):
  assert main(["run", f"--sink=sqlite://{tmp_path}/x.db"]) == 2
  assert "no --input given" in capsys.readouterr().err
  assert main(["run", f"--input={HOURS['2011']}", "--sink=postgres://x"]) == 2
  assert "unknown sink 'postgres://x'" in capsys.readouterr().err
  assert main(["run", f"--input={HOURS['2011']}", "--window_size=100",
               f"--sink=sqlite://{tmp_path}/x.db"]) == 2
  assert "must be a positive multiple of the period" in capsys.readouterr().err


def test_module_entry_point_help():
  done = subprocess.run([sys.executable, "-m", "pulse.pipeline", "--help"],
                        capture_output=True, text=True, timeout=120, cwd="/")
  assert done.returncode == 0
  for flag in ("--input", "--sink", "--window_size", "--windowing", "--dead_letter_output",
               "--edges_output", "--keep_bots", "--drop_org_owners", "--runner"):
    assert flag in done.stdout

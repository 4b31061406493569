"""Runs a new user can trust: each common mistake ends in a one-line error and a non-zero
exit within seconds, before any work; the summary speaks of this run's windows only; a
reader of a store that is not there is told so; `pulse export | head` ends quietly."""
import json
import os
import subprocess
import sys
import time

import pytest

from helpers import HOURS, REPO
from pulse.cli import main

HOUR = HOURS["2015"]


def pulse(*args, env=None, cwd=None):
  """(exit code, stdout, stderr, seconds) of `python -m pulse ARGS` in a fresh process."""
  began = time.monotonic()
  done = subprocess.run([sys.executable, "-m", "pulse", *args], capture_output=True,
                        text=True, timeout=120, env=env, cwd=cwd or REPO)
  return done.returncode, done.stdout, done.stderr, time.monotonic() - began


@pytest.mark.parametrize("args, message", [
    (["--input", "nothing/*.json.gz"], "--input nothing/*.json.gz: no file matches"),
    (["--input", HOUR, "--input", "data/2015-*.avro"], "--input data/2015-*.avro: no file"),
    (["--input", "data"], "--input data is a folder"),
    (["--input", HOUR, "--windw_size", "300"], "unknown flag --windw_size: did you mean "
                                                "--window_size?"),
    (["--input", HOUR, "--no_such_flag"], "unknown flag --no_such_flag"),
    (["--input", HOUR, "300"], "unexpected argument '300'"),
    (["--input", HOUR, "--window_size", "ten"], "argument --window_size: invalid int"),
    (["--input", HOUR, "--windowing", "fast"], "argument --windowing: invalid choice"),
    (["--input", HOUR, "--max_clusters", "-1"], "--max_clusters -1: must be at least 1"),
    (["--input", HOUR, "--max_clusters", "0"], "--max_clusters 0: must be at least 1"),
    (["--input", HOUR, "--min_cluster_size", "0"], "--min_cluster_size 0: must be at least 2"),
    (["--input", HOUR, "--min_cluster_size", "1"], "--min_cluster_size 1: must be at least 2"),
    (["--input", HOUR, "--allowed_lateness", "-5"], "--allowed_lateness -5: must be at least"),
    (["--input", HOUR, "--window_period", "0"], "--window_period 0: must be at least 1"),
    (["--input", HOUR, "--window_size", "-600"], "--window_size -600: must be at least 1"),
    (["--input", HOUR, "--kafka_max_out_of_order_s", "-1"], "must be at least 0"),
    (["--input", HOUR, "--direct_num_workers", "-2"], "--direct_num_workers -2: must be"),
    (["--input", HOUR, "--window_size", "100"], "must be a positive multiple of the period"),
    (["--input", "gs://pulse-bucket/2015/*.avro"], "gs:// input but no Google credentials"),
])
def test_a_mistake_is_one_line_and_exit_2_before_any_work(args, message, tmp_path):
  env = {k: v for k, v in os.environ.items()
         if not k.startswith(("GOOGLE_", "STORAGE_EMULATOR", "CLOUDSDK"))}
  env["HOME"] = str(tmp_path)            # no gcloud credentials file either
  sink = tmp_path / "frames.db"
  code, out, err, seconds = pulse("run", *args, f"--sink=sqlite://{sink}", env=env)
  lines = err.strip().splitlines()
  assert code == 2 and out == ""
  assert len(lines) == 1 and lines[0].startswith("pulse run: error: "), err[-2000:]
  assert message in lines[0]
  assert not sink.exists()               # nothing was done, not even the store made
  assert seconds < 20


@pytest.mark.parametrize("sink, message", [
    ("sqlite:///proc/pulse/frames.db", "cannot write the frame store sqlite:///proc/pulse"),
    ("sqlite://{tmp}", "is a folder"),
    ("jsonl://{tmp}", "cannot write the frame store jsonl://"),
])
def test_an_unwritable_store_is_refused_before_the_run(sink, message, tmp_path):
  code, out, err, _ = pulse("run", "--input", HOUR, "--sink", sink.format(tmp=tmp_path))
  assert code == 2 and out == "" and len(err.strip().splitlines()) == 1, err[-2000:]
  assert message in err
  assert "events read" not in out


@pytest.mark.parametrize("flag", ["--dead_letter_output", "--edges_output"])
def test_an_unwritable_output_file_is_refused_before_the_run(flag, tmp_path):
  code, _, err, _ = pulse("run", "--input", HOUR, f"--sink=sqlite://{tmp_path}/f.db",
                          flag, "/proc/pulse.jsonl")
  assert code == 2 and len(err.strip().splitlines()) == 1
  assert f"cannot write {flag} /proc/pulse.jsonl" in err


@pytest.mark.parametrize("command", ["export", "ui"])
@pytest.mark.parametrize("scheme", ["sqlite", "jsonl"])
def test_reading_a_store_that_is_not_there_says_so_and_creates_nothing(command, scheme,
                                                                      tmp_path):
  path = tmp_path / "typo.db"
  code, out, err, _ = pulse(command, f"--sink={scheme}://{path}")
  assert code == 2 and out == "" and len(err.strip().splitlines()) == 1, err[-2000:]
  assert f"pulse {command}: error: no frame store at {scheme}://{path}" in err
  assert not path.exists()


def test_the_summary_speaks_of_this_runs_windows_and_names_the_others(tmp_path, capsys):
  """2015 first (largest cluster 19), then 2011 into the same store: the second summary
  names the largest cluster of the 2011 windows, not the bigger one of 2015, and says in
  one line that the store also holds the 2015 frames."""
  sink = f"sqlite://{tmp_path}/both.db"
  assert main(["run", f"--input={HOUR}", f"--sink={sink}"]) == 0
  first = capsys.readouterr().out
  assert "largest cluster            19   in window 1420115040000" in first
  assert "also holds" not in first
  assert main(["run", f"--input={HOURS['2011']}", f"--sink={sink}"]) == 0
  second = capsys.readouterr().out
  summary = json.loads(second.split("summary: ", 1)[1])
  (largest,) = [line for line in second.splitlines() if line.startswith("largest cluster")]
  window_start = int(largest.split("in window ")[1].split("-")[0])
  assert 1297727400000 - 600_000 < window_start < 1297731600000     # 2011-02-15 00:xx
  assert " 19 " not in largest
  (others,) = [line for line in second.splitlines() if "also holds" in line]
  assert others == ("the store also holds 69 frame(s) of other windows, not this run's: "
                    "2015-01-01 11:51 to 2015-01-01 12:59 UTC")
  assert summary["other_frames_in_store"]["count"] == 69


def test_export_into_a_closed_pipe_ends_quietly(tmp_path):
  sink = f"sqlite://{tmp_path}/f.db"
  assert main(["run", f"--input={HOUR}", f"--sink={sink}"]) == 0
  done = subprocess.run(["bash", "-c", "set -o pipefail; "
                         f"{sys.executable} -m pulse export --sink={sink} | head -1"],
                        capture_output=True, text=True, timeout=60, cwd=REPO)
  assert done.returncode == 0 and done.stderr == ""
  assert json.loads(done.stdout)["window_start"] == 1420113060000


def _precious(tmp_path):
  """Files a run must never delete or replace, and what each held."""
  folder = tmp_path / "folder"
  folder.mkdir()
  (folder / "keep.txt").write_text("keep me\n")
  notes = tmp_path / "notes.txt"
  notes.write_text("my notes\n")
  foreign = tmp_path / "other.jsonl"
  foreign.write_text('{"name": "not a dead letter"}\n')
  readonly = tmp_path / "readonly.jsonl"
  readonly.write_text("")
  readonly.chmod(0o444)
  return {p: (p.read_text() if p.is_file() else None)
          for p in (folder / "keep.txt", notes, foreign, readonly)}


@pytest.mark.parametrize("flags, message", [
    (["--dead_letter_output", "{tmp}/folder"], "/folder is a folder"),
    (["--edges_output", "{tmp}/folder"], "/folder is a folder"),
    (["--dead_letter_output", "{tmp}/notes.txt"], "notes.txt holds something else"),
    (["--edges_output", "{tmp}/other.jsonl"], "other.jsonl holds something else"),
    (["--dead_letter_output", "{tmp}/readonly.jsonl"], "readonly.jsonl is read-only"),
    (["--dead_letter_output", "/dev/full"], "/dev/full is not a regular file"),
    (["--dead_letter_output", "{tmp}/x.jsonl", "--edges_output", "{tmp}/x.jsonl"],
     "--dead_letter_output and --edges_output name the same file"),
    (["--dead_letter_output", "{tmp}/f.db"], "--dead_letter_output and --sink name the same"),
    (["--sink", "jsonl://{tmp}/e.jsonl", "--edges_output", "{tmp}/e.jsonl"],
     "--edges_output and --sink name the same file"),
    (["--sink", "sqlite://:memory:"], "frames must outlive the run"),
    (["--sink", "sqlite://{tmp}/notes.txt"], "file is not a database"),
    (["--sink", "jsonl://{tmp}/notes.txt"], "notes.txt holds something else"),
])
def test_no_output_replaces_what_is_not_its_own(flags, message, tmp_path):
  before = _precious(tmp_path)
  args = [a.format(tmp=tmp_path) for a in flags]
  code, out, err, seconds = pulse("run", "--input", HOUR, f"--sink=sqlite://{tmp_path}/f.db",
                                  *args)
  assert code == 2 and out == "" and len(err.strip().splitlines()) == 1, err[-2000:]
  assert message in err and seconds < 20
  assert {p: (p.read_text() if p.is_file() else None) for p in before} == before


@pytest.mark.parametrize("make, message", [
    (lambda p: os.mkfifo(p), "is not a regular file"),
    (lambda p: os.symlink("/dev/zero", p), "is not a regular file"),
])
def test_an_input_that_is_no_regular_file_is_refused(make, message, tmp_path):
  path = tmp_path / "input.json"
  make(path)
  code, _, err, seconds = pulse("run", "--input", str(path), f"--sink=sqlite://{tmp_path}/f.db")
  assert code == 2 and message in err and seconds < 20


def test_an_existing_file_of_the_same_kind_is_replaced_whole(tmp_path):
  dead = tmp_path / "dead.jsonl"
  dead.write_text('{"stage": "decode", "reason": "old", "source": "", "record": ""}\n')
  code, _, err, _ = pulse("run", "--input", HOURS["2011"], f"--sink=sqlite://{tmp_path}/f.db",
                          f"--dead_letter_output={dead}")
  assert code == 0, err[-2000:]
  assert "old" not in dead.read_text()

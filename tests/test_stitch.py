"""Runs over adjacent stretches of time into one store give the frames of one run over all
of it (pipeline/stitch.py): the windows across a run's ends are completed from the pane
summaries that runs keep in the store. Cut the real 2015 hour at 12:20 and 12:40."""
import gzip
import json

import pytest

from helpers import HOURS, stored_frames
from pulse.cli import main
from pulse.schemas.windows import WindowGeometry


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
  """The 2015 hour as three files by event time: before 12:20, to 12:40, and after."""
  folder = tmp_path_factory.mktemp("parts")
  with gzip.open(HOURS["2015"], "rt", encoding="utf-8") as f:
    lines = [line for line in f if line.strip()]
  cuts = ("2015-01-01T12:20:00Z", "2015-01-01T12:40:00Z")
  groups = {"a": [], "b": [], "c": []}
  for line in lines:
    at = json.loads(line)["created_at"]
    groups["a" if at < cuts[0] else "b" if at < cuts[1] else "c"].append(line)
  paths = {}
  for name, group in groups.items():
    paths[name] = folder / f"{name}.json.gz"
    with gzip.open(paths[name], "wt", encoding="utf-8") as f:
      f.writelines(group)
  assert all(len(g) > 1000 for g in groups.values())
  return paths


def _frames(tmp_path, name, runs, *flags):
  sink = f"sqlite://{tmp_path}/{name}.db"
  for inputs in runs:
    assert main(["run", *[f"--input={p}" for p in inputs], f"--sink={sink}", *flags]) == 0
  return stored_frames(sink)


@pytest.mark.parametrize("flags", [(), ("--window_size=300", "--windowing=plain")])
def test_runs_part_by_part_in_any_order_equal_one_run(parts, tmp_path, flags):
  whole = _frames(tmp_path, "whole", [[HOURS["2015"]]], *flags)
  by_parts = _frames(tmp_path, "abc", [[parts["a"]], [parts["b"]], [parts["c"]]], *flags)
  assert by_parts == whole
  backwards = _frames(tmp_path, "cba", [[parts["c"]], [parts["b"]], [parts["a"]]], *flags)
  assert backwards == whole
  # Outer parts first, the middle last: both of its ends are stitched.
  middle_last = _frames(tmp_path, "acb", [[parts["a"], parts["c"]], [parts["b"]]], *flags)
  assert middle_last == whole


def test_a_rerun_of_a_part_changes_nothing_and_the_stitch_is_reported(parts, tmp_path,
                                                                      capsys):
  whole = _frames(tmp_path, "whole", [[HOURS["2015"]]])
  sink = f"sqlite://{tmp_path}/again.db"
  for part in ("a", "b", "c", "b", "a"):
    assert main(["run", f"--input={parts[part]}", f"--sink={sink}"]) == 0
  assert stored_frames(sink) == whole                  # no edge counted twice
  out = capsys.readouterr().out
  summary = json.loads(out.rsplit("summary: ", 1)[1])
  assert summary["windows_completed_from_kept_panes"] == 9      # 600 s / 60 s: 9 across
  assert "completed with the panes of earlier runs" in out


def test_without_the_neighbour_the_boundary_windows_hold_only_this_runs_edges(parts,
                                                                              tmp_path):
  """The first run alone is what it was: its windows past 12:20 hold its edges only,
  and nothing is stitched; the stitch needs the neighbour's kept panes."""
  alone = _frames(tmp_path, "a", [[parts["a"]]])
  whole = {f["id"]: f for f in _frames(tmp_path, "whole", [[HOURS["2015"]]])}
  crossing = [f for f in alone if f["window_end"] > 1420114800000]     # past 12:20
  assert len(crossing) == 9
  assert all(f["edges"] < whole[f["id"]]["edges"] for f in crossing)


def test_the_windows_across_an_end_or_a_gap_are_those_that_hold_panes_with_and_without():
  g = WindowGeometry(600, 60)
  covered = set(range(0, 3_600_000, 60_000)) - {1_800_000}       # an hour, one empty pane
  assert g.straddling_windows(0, covered) == list(range(-540_000, 0, 60_000))
  assert g.straddling_windows(600_000, covered) == []                # no gap in reach
  assert g.straddling_windows(1_740_000, covered) == list(range(1_260_000, 1_740_001,
                                                                60_000))
  assert g.straddling_windows(1_200_000, covered) == []   # its windows end by 1_800_000

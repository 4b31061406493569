"""A replayed event (the same event id twice: GH Archive repeats some, Kafka delivers at
least once) counts again in a frame's `edges`, the interactions delivered, and changes
nothing else: its link is the same tuple, so components, clusters, links and hubs stay as
they were (docs/frames.md)."""
import gzip

from helpers import HOURS, stored_frames
from pulse.cli import main


def test_every_event_twice_doubles_edges_and_changes_nothing_else(tmp_path):
  with gzip.open(HOURS["2015"], "rt", encoding="utf-8") as f:
    lines = [line for line in f if line.strip()]
  twice = tmp_path / "twice.json.gz"
  with gzip.open(twice, "wt", encoding="utf-8") as f:
    f.writelines(line for line in lines for _ in range(2))    # each right after itself
  once, doubled = f"sqlite://{tmp_path}/once.db", f"sqlite://{tmp_path}/twice.db"
  assert main(["run", f"--input={HOURS['2015']}", f"--sink={once}"]) == 0
  assert main(["run", f"--input={twice}", f"--sink={doubled}"]) == 0
  expected, got = stored_frames(once), stored_frames(doubled)
  assert [f["id"] for f in got] == [f["id"] for f in expected]
  for mine, theirs in zip(got, expected):
    assert mine["edges"] == 2 * theirs["edges"]
    assert {k: v for k, v in mine.items() if k != "edges"} == {
        k: v for k, v in theirs.items() if k != "edges"}

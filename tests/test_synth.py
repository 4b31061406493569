"""Synthetic events (firehose/synth.py): deterministic by seed, calibrated on the real 2015
hour within tolerances, and the oracle holds on them."""
import collections
import gzip
import os
import sys

import fastavro
import networkx as nx
import pytest

from helpers import HOURS, REPO, make_runner
from pulse.firehose import synth
from pulse.cli import main as pulse_main

sys.path.insert(0, os.path.join(REPO, "bench"))
import calibration  # noqa: E402  (bench/calibration.py: the same figures as docs/performance.md)


def _lines(path):
  with gzip.open(path) as f:
    return f.read()


def test_same_seed_same_bytes_other_seed_other_events(tmp_path):
  paths = [tmp_path / name for name in ("a.json.gz", "b.json.gz", "c.json.gz")]
  for path, seed in zip(paths, (7, 7, 8)):
    assert pulse_main(["synth", "--events", "3000", "--seed", str(seed),
                       "--output", str(path)]) == 0
  assert _lines(paths[0]) == _lines(paths[1])
  assert _lines(paths[0]) != _lines(paths[2])
  assert _lines(paths[0]).count(b"\n") == 3000


def test_avro_is_a_nested_export_of_the_same_events(tmp_path):
  synth.write(str(tmp_path / "e.avro"), 500, seed=3)
  with open(tmp_path / "e.avro", "rb") as f:
    reader = fastavro.reader(f)
    fields = [x["name"] for x in reader.writer_schema["fields"]]
    assert "actor" in fields and "actor_login" not in fields
    records = list(reader)
  events = list(synth.events(500, seed=3))
  assert [r["id"] for r in records] == [e["id"] for e in events]
  assert [r["actor"]["login"] for r in records] == [e["actor"]["login"] for e in events]


@pytest.fixture(scope="module")
def figures():
  return (calibration.stats(calibration.real_events(HOURS["2015"])),
          calibration.stats(calibration.synthetic_events(seed=0)))


def test_calibrated_on_the_real_hour(figures):
  real, fake = figures
  for kind, share in real["types"].items():       # the type mix
    assert abs(fake["types"].get(kind, 0) - share) < max(0.01, 0.15 * share), kind
  assert abs(fake["edge_share"] - real["edge_share"]) < 0.03
  for key, tolerance in (("users", 0.15), ("repos", 0.35), ("one_event_users", 0.1),
                         ("median_largest", 0.5), ("median_components", 0.35),
                         ("median_clusters3", 0.7)):
    assert abs(fake[key] - real[key]) <= tolerance * real[key], key
  assert 0.3 * real["top_user_share"] < fake["top_user_share"] < 3 * real["top_user_share"]


def test_oracle_holds_on_synthetic_events(tmp_path):
  """Every frame of a small synthetic run equals networkx's components of its window's
  edges (sliced and plain give the same frames)."""
  path = str(tmp_path / "s.avro")
  synth.write(path, 6000, seed=11)
  run = make_runner(tmp_path)
  sliced = run(path, "--max_clusters=1000000", "--min_cluster_size=2",
               "--window_size=300", "--window_period=60")
  plain = run(path, "--max_clusters=1000000", "--min_cluster_size=2",
              "--window_size=300", "--window_period=60", "--windowing=plain")
  frames, edges = sliced.frames, sliced.edges
  assert frames == plain.frames and len(frames) > 40
  for frame in frames:
    mine = [e for e in edges
            if frame["window_start"] <= e["created_at"] < frame["window_end"]]
    graph = nx.Graph((e["src"], e["dst"]) for e in mine)
    components = list(nx.connected_components(graph))
    assert (frame["edges"], frame["vertices"], frame["components"]) == \
        (len(mine), graph.number_of_nodes(), len(components))
    assert frame["size_histogram"] == {
        str(k): v for k, v in sorted(collections.Counter(map(len, components)).items())}
    assert sorted(sorted(c["members"]) for c in frame["clusters"]) == \
        sorted(sorted(c) for c in components)

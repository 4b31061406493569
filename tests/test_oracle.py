"""Every frame of every real hour against networkx, computed independently from the
window's own edges; and the same frames from every input form and windowing form."""
import collections
import gzip
import json

import networkx as nx
import pytest

from helpers import HOURS, make_runner
from pulse.io.bigquery_export import convert

UNLIMITED = "--max_clusters=1000000"


def window_edges(edges, frame):
  return [e for e in edges if frame["window_start"] <= e["created_at"] < frame["window_end"]]


def expected_windows(edges, size_ms, period_ms):
  starts = set()
  for e in edges:
    last = e["created_at"] - e["created_at"] % period_ms
    starts.update(range(last - size_ms + period_ms, last + 1, period_ms))
  return sorted((s, s + size_ms) for s in starts)


@pytest.fixture(scope="module")
def hour_runs(tmp_path_factory):
  """One run per real hour, shared by the oracle tests (defaults: 600 s every 60 s)."""
  run = make_runner(tmp_path_factory.mktemp("oracle"))
  return {year: run(path, UNLIMITED, "--min_cluster_size=2") for year, path in HOURS.items()}


@pytest.mark.parametrize("year", sorted(HOURS))
def test_frames_match_networkx(hour_runs, year):
  run = hour_runs[year]
  frames, edges = run.frames, run.edges
  assert edges and frames
  assert [(f["window_start"], f["window_end"]) for f in frames] == \
      expected_windows(edges, 600_000, 60_000)
  for frame in frames:
    mine = window_edges(edges, frame)
    graph = nx.Graph()
    graph.add_edges_from((e["src"], e["dst"]) for e in mine)
    components = list(nx.connected_components(graph))
    assert frame["edges"] == len(mine)
    assert frame["vertices"] == graph.number_of_nodes()
    assert frame["components"] == len(components)
    histogram = collections.Counter(len(c) for c in components)
    assert frame["size_histogram"] == {str(k): v for k, v in sorted(histogram.items())}
    assert sorted(sorted(c["members"]) for c in frame["clusters"]) == \
        sorted(sorted(c) for c in components)


@pytest.mark.parametrize("year", sorted(HOURS))
def test_links_are_the_minimum_spanning_forest(hour_runs, year):
  """links: real edges of the window that span each cluster, and exactly the spanning
  forest that Kruskal picks in (created_at, id) order, whatever the input order."""
  run = hour_runs[year]
  for frame in run.frames:
    mine = window_edges(run.edges, frame)
    graph = nx.Graph()
    for rank, e in enumerate(sorted(mine, key=lambda e: (e["created_at"], e["id"],
                                                         e["src"], e["dst"]))):
      if not graph.has_edge(e["src"], e["dst"]):
        graph.add_edge(e["src"], e["dst"], weight=rank, id=e["id"])
    forest = nx.minimum_spanning_tree(graph, weight="weight", algorithm="kruskal")
    expected = {frozenset((a, b)): d["id"] for a, b, d in forest.edges(data=True)}
    got = {}
    for cluster in frame["clusters"]:
      assert len(cluster["links"]) == cluster["size"] - 1
      tree = nx.Graph((l["src"], l["dst"]) for l in cluster["links"])
      assert nx.is_tree(tree) and sorted(tree.nodes) == cluster["members"]
      degree = dict(tree.degree)
      assert degree[cluster["hub"]] == max(degree.values())
      got.update({frozenset((l["src"], l["dst"])): l["id"] for l in cluster["links"]})
    assert got == expected


def test_same_frames_from_json_nested_and_flat_avro_and_both_windowings(
    run_pulse, tmp_path):
  hour = HOURS["2012"]
  nested, flat = str(tmp_path / "nested.avro"), str(tmp_path / "flat.avro")
  assert convert(hour, nested, "nested")[0] == 4074
  assert convert(hour, flat, "flat")[0] == 4074
  reference = run_pulse(hour, "--window_size=300", "--window_period=60").frames
  assert len(reference) > 60
  for source, flags in ((nested, ()), (flat, ()), (hour, ("--windowing=plain",)),
                        (flat, ("--windowing=plain",))):
    run = run_pulse(source, "--window_size=300", "--window_period=60", *flags)
    assert run.frames == reference, (source, flags)
    assert run.dead_letters == []


def _without_links(frames):
  return [{**f, "clusters": [{k: v for k, v in c.items() if k not in ("links", "hub")}
                             for c in f["clusters"]]} for f in frames]


def test_events_without_ids_get_the_same_ids_from_json_nested_and_flat_avro(
    hour_runs, tmp_path):
  """The 2011 hour without its event ids (as GitHub Archive holds 2013-14 timeline
  events): every link has a derived id, the same from each input shape; the components
  are those of the hour with its ids."""
  hour = str(tmp_path / "no_ids.json.gz")
  with gzip.open(HOURS["2011"]) as f, gzip.open(hour, "wb") as out:
    for line in f:
      record = json.loads(line)
      del record["id"]
      out.write(json.dumps(record).encode() + b"\n")
  nested, flat = str(tmp_path / "nested.avro"), str(tmp_path / "flat.avro")
  assert convert(hour, nested, "nested")[0] == convert(hour, flat, "flat")[0] == 1639
  run = make_runner(tmp_path)
  reference = run(hour, UNLIMITED, "--min_cluster_size=2").frames
  ids = [l["id"] for f in reference for c in f["clusters"] for l in c["links"]]
  assert ids and all(i.startswith("h") and len(i) == 17 for i in ids)
  for source in (nested, flat):
    assert run(source, UNLIMITED, "--min_cluster_size=2").frames == reference, source
  assert _without_links(reference) == _without_links(hour_runs["2011"].frames)

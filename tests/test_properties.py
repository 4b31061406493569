"""Property-based tests (hypothesis). The line decoder, the normaliser and the edge rules on
arbitrary JSON-like input and on near-valid records of every shape: a well-formed result or
a refusal, never another exception. The union-find combines against networkx under any
order, any split into partial accumulators and any merge tree."""
import datetime
import json
import re

import networkx as nx
import orjson
from hypothesis import given, settings, strategies as st

from pulse.io.bigquery_export import to_flat, to_nested
from pulse.io.json_records import decode_lines
from pulse.transforms.components import (ComponentsCombineFn, PanesCombineFn,
                                         SpanningForest, SpanningForestCoder, union)
from pulse.transforms.edges import NO_EDGE_REASONS, edge_of
from pulse.schemas import EARLIEST_MS, LATEST_MS
from pulse.transforms.events import BadRecord, normalise
from pulse.transforms.frames import build_frame

FAST = settings(max_examples=300, deadline=None)
SLOW = settings(max_examples=150, deadline=None)    # Beam coders and networkx per example

# ---- records ----

ANY_TEXT = st.text(st.characters(), max_size=8)      # lone surrogates too
TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=8)
ANY_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | ANY_TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(ANY_TEXT, inner, max_size=3),
    max_leaves=8)
# What the rules look at: case, blanks, "/", "[bot]", characters whose lower() grows.
LOGIN = st.sampled_from(["alice", "Alice", "BOB", "bob", "ci[bot]", " dave ", "", "ΣΑΣ",
                         "İstanbul", "straße", "😀", "a/b"]) | TEXT
EVENT_TYPE = st.sampled_from([
    "IssueCommentEvent", "IssuesEvent", "PullRequestEvent", "PullRequestReviewEvent",
    "PullRequestReviewCommentEvent", "CommitCommentEvent", "ForkEvent", "WatchEvent",
    "PushEvent", "MemberEvent", "FollowEvent", "GistEvent", "SomeFutureEvent"])
IN_RANGE_MS = st.integers(EARLIEST_MS, LATEST_MS - 1)
ANY_MS = st.integers(-62_135_000_000_000, 253_402_000_000_000) | IN_RANGE_MS  # years 1-9999
EPOCH = datetime.datetime(1970, 1, 1)


def _time_text(form, offset_ms=0):
  return lambda ms: (EPOCH + datetime.timedelta(milliseconds=ms + offset_ms)).strftime(form)


def mostly(strategy):
  """Usually the right shape, sometimes anything."""
  return st.one_of(strategy, strategy, strategy, ANY_JSON)


def exact(strategy):
  return strategy


def records(shape, field):
  """Records of `shape`: "events_api"; "bigquery" (the 2011-12 table: payload and other
  are JSON strings); "flat" (the 2015 Avro export). Every field goes through `field`:
  exact gives valid records, mostly near-valid ones."""
  ms = IN_RANGE_MS if field is exact else ANY_MS

  def fields(**optional):
    return st.fixed_dictionaries({}, optional={k: field(v) for k, v in optional.items()})

  user = LOGIN | st.none() | fields(login=LOGIN)
  repo_name = st.builds("{}/{}".format, LOGIN, LOGIN) | LOGIN | st.just("/")
  url = st.builds("https://github.com/{}/{}".format, LOGIN, LOGIN)
  payload = fields(issue=fields(user=user), member=user, target=user, actor=LOGIN,
                   repo=repo_name, pull_request=fields(
                       user=user, base=fields(user=user, repo=fields(owner=user))))
  other = fields(repository=fields(owner=user)).map(json.dumps)
  created_at = {
      "events_api": ms.map(_time_text("%Y-%m-%dT%H:%M:%SZ")),
      "bigquery": ms.map(_time_text("%Y-%m-%d %H:%M:%S")) |
                  ms.map(_time_text("%Y/%m/%d %H:%M:%S -0800", -28_800_000)),
      "flat": ms.map(lambda t: t * 1000),
  }[shape]
  if shape != "events_api":
    payload = payload.map(json.dumps)
  ids = st.integers(0, 10**10).map(str)
  if shape == "flat":
    optional = {"id": ids, "actor_login": LOGIN, "repo_name": repo_name, "repo_url": url,
                "org_login": LOGIN, "payload": payload, "other": other}
  else:
    optional = {"id": ids | st.integers(0, 10**10), "actor": user, "org": user,
                "repo": fields(name=repo_name, url=url), "payload": payload, "other": other}
  return st.fixed_dictionaries(
      {"type": field(EVENT_TYPE), "created_at": field(created_at)},
      optional={k: field(v) for k, v in optional.items()})


SHAPES = ("events_api", "bigquery", "flat")
ANY_RECORD = st.one_of(ANY_JSON, *(records(shape, mostly) for shape in SHAPES))
VALID_RECORD = st.one_of(*(records(shape, exact) for shape in SHAPES))


def _storable(text):
  """A str that UTF-8 can hold (no lone surrogate): any file or store can write it."""
  if not isinstance(text, str):
    return False
  try:
    text.encode("utf-8")
  except UnicodeEncodeError:
    return False
  return True


def check_event(event, record):
  assert set(event) == {"type", "id", "created_at", "actor", "repo", "owner", "org",
                        "payload"}
  assert event["type"]
  assert all(_storable(event[k]) for k in ("type", "id", "actor", "repo", "owner", "org"))
  assert type(event["created_at"]) is int
  assert EARLIEST_MS <= event["created_at"] < LATEST_MS
  assert event["payload"] is record.get("payload")


def check_edge(result, event, drop_bots, drop_org_owners):
  edge, reason = result
  if edge is None:
    assert reason in NO_EDGE_REASONS
    return
  assert reason is None
  src, dst = edge["src"], edge["dst"]
  assert _storable(src) and _storable(dst) and src and dst and src != dst
  assert src == src.lower() and dst == dst.lower()
  assert src == event["actor"].lower()
  assert (edge["type"], edge["id"], edge["created_at"], edge["repo"]) == (
      event["type"], event["id"], event["created_at"], event["repo"] or None)
  assert not drop_bots or not (src.endswith("[bot]") or dst.endswith("[bot]"))
  assert not drop_org_owners or dst != event["org"].lower()


@FAST
@given(record=ANY_RECORD, drop_bots=st.booleans(), drop_org_owners=st.booleans())
def test_any_record_gives_a_well_formed_event_and_edge_or_a_bad_record(
    record, drop_bots, drop_org_owners):
  try:
    event = normalise(record)
  except BadRecord:
    return
  check_event(event, record)
  try:
    result = edge_of(event, drop_bots, drop_org_owners)
  except BadRecord:
    return
  check_edge(result, event, drop_bots, drop_org_owners)


@FAST
@given(record=VALID_RECORD, drop_bots=st.booleans(), drop_org_owners=st.booleans())
def test_valid_records_of_every_shape_are_never_refused(record, drop_bots, drop_org_owners):
  event = normalise(record)
  check_event(event, record)
  check_edge(edge_of(event, drop_bots, drop_org_owners), event, drop_bots, drop_org_owners)


@FAST
@given(record=VALID_RECORD)
def test_an_event_without_an_id_gets_the_same_id_from_every_shape(record):
  """Read from its JSON shape, the nested or the flat Avro export (pulse convert)."""
  record = {k: v for k, v in record.items() if k != "id"}
  ids = {normalise(shape(record))["id"] for shape in (dict, to_nested, to_flat)}
  assert len(ids) == 1
  assert re.fullmatch("h[0-9a-f]{16}", ids.pop())


# ---- the line decoder ----

JSON_OBJECT = st.dictionaries(TEXT, st.recursive(
    st.none() | st.booleans() | st.integers(-2**63, 2**64 - 1) |
    st.floats(allow_nan=False, allow_infinity=False) | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=6), max_size=4)
GARBAGE = st.binary(max_size=30).map(lambda b: b.replace(b"\n", b"")) | st.builds(
    lambda value, cut: orjson.dumps(value)[:cut], JSON_OBJECT, st.integers(0, 40))


@FAST
@given(st.lists(st.tuples(st.booleans(), JSON_OBJECT, GARBAGE), max_size=8))
def test_no_good_line_is_lost_next_to_garbage(lines):
  """Whole-object lines among garbage (binary, cut JSON): each is read, in order, and
  everything read could be written again (no NaN, no lone surrogate)."""
  text = b"".join((orjson.dumps(value) if good else junk) + b"\n"
                  for good, value, junk in lines)
  items = list(decode_lines(text.splitlines(keepends=True)))
  records = iter([item[1] for item in items if item[0] == "record"])
  # In order: the good values are a subsequence of what was read (garbage may read too).
  assert all(any(value == got for got in records) for good, value, _ in lines if good)
  for item in items:
    if item[0] == "record":
      json.dumps(item[1], allow_nan=False, ensure_ascii=False).encode("utf-8")
    else:
      assert item[0] == "bad" and item[1] and _storable(item[2])


# ---- the union-find combines ----

LINK = st.tuples(st.integers(0, 4), st.sampled_from("123"), st.sampled_from("abcdef"),
                 st.sampled_from("abcdef"), st.sampled_from(["WatchEvent", "ForkEvent"])
                 ).filter(lambda link: link[2] != link[3])


def spanning_forest_by_networkx(links):
  """The minimum spanning forest under the edge order (created_at, id, src, dst, type):
  the weights are ranks in that order, all distinct, so it is unique. In edge order."""
  graph = nx.MultiGraph()
  for rank, link in enumerate(sorted(set(links))):
    graph.add_edge(link[2], link[3], key=rank, weight=rank, link=link)
  return sorted(data["link"] for *_, data in nx.minimum_spanning_edges(
      graph, algorithm="kruskal", keys=True, data=True))


def components_by_networkx(links):
  graph = nx.Graph((link[2], link[3]) for link in links)
  return sorted(sorted(c) for c in nx.connected_components(graph))


def meaning(forest):
  """What a summary stands for, whatever its form (pending edges folded in or not)."""
  return forest.edges, spanning_forest_by_networkx(forest.links + forest.pending)


def _summaries(value):
  """The summaries in an input or an accumulator of either combine."""
  if isinstance(value, SpanningForest):
    return [value]
  if isinstance(value, dict):                      # PanesCombineFn's accumulator
    return list(value.values())
  return [value[1]] if isinstance(value[1], SpanningForest) else []   # (pane, summary)


def _watch(values):
  return [(s, meaning(s)) for value in values for s in _summaries(value)]


def combine(fn, items, data, coder=None):
  """fn over items as a runner may call it: any order, any split into accumulators (some
  compacted, some through the coder), merged in any tree, more items added to the root.
  Checks that no call but add_input changes what a summary stands for (Beam issue 13061:
  one accumulator may belong to several windows)."""
  items = data.draw(st.permutations(items))
  tail = data.draw(st.integers(0, len(items)))     # items[tail:] go to the merged root
  cuts = sorted(data.draw(st.lists(st.integers(0, tail), max_size=5)))
  watched = _watch(items)
  accumulators = []
  for start, end in zip([0] + cuts, cuts + [tail]):
    accumulator = fn.create_accumulator()
    for item in items[start:end]:
      accumulator = fn.add_input(accumulator, item)
    if data.draw(st.booleans()):
      accumulator = fn.compact(accumulator)
    if coder and data.draw(st.booleans()):
      accumulator = coder.decode(coder.encode(accumulator))
    accumulators.append(accumulator)
  while len(accumulators) > 1 or data.draw(st.booleans()):   # merges of one happen too
    group = data.draw(st.lists(st.sampled_from(range(len(accumulators))), min_size=1,
                               unique=True))
    chosen = [accumulators[i] for i in group]
    watched += _watch(chosen)
    accumulators = [a for i, a in enumerate(accumulators) if i not in group]
    accumulators.append(fn.merge_accumulators(chosen))
  (root,) = accumulators
  for item in items[tail:]:
    root = fn.add_input(root, item)
  watched += _watch([root])
  output = fn.extract_output(root)
  assert _watch(s for s, _ in watched) == watched
  output_meaning = [m for _, m in _watch([output])]
  if items:
    fn.add_input(root, items[0])      # a window's accumulator may take more after firing
  assert [m for _, m in _watch([output])] == output_meaning
  return output


def check_forest(forest, links):
  assert forest.edges == len(links)
  assert forest.pending == []
  assert forest.links == spanning_forest_by_networkx(links)
  frame = build_frame(forest, 0, 1, min_cluster_size=1, max_clusters=len(links))
  assert sorted(c["members"] for c in frame["clusters"]) == components_by_networkx(links)
  coder = SpanningForestCoder()
  assert coder.decode(coder.encode(forest)) == forest


@SLOW
@given(links=st.lists(LINK, max_size=25), buffer=st.sampled_from([0, 1, 3, 4096]),
       data=st.data())
def test_components_combine_gives_the_networkx_forest_and_components(links, buffer, data):
  fn = ComponentsCombineFn()
  fn.MIN_BUFFER = buffer            # small: edges are folded in while they arrive too
  check_forest(combine(fn, links, data, SpanningForestCoder()), links)


@SLOW
@given(links=st.lists(LINK, max_size=25), data=st.data())
def test_merging_pane_summaries_gives_the_forest_of_all_their_edges(links, data):
  """Panes summarised in parts (one per bundle), combined per pane in any order and tree;
  then the panes merged."""
  panes = {}
  for link in links:
    panes.setdefault(data.draw(st.integers(0, 3)), []).append(link)
  parts = []
  for start, pane in panes.items():
    cuts = sorted(data.draw(st.sets(st.integers(1, len(pane)), max_size=2)))
    for a, b in zip([0] + cuts, cuts + [len(pane)]):
      parts.append((start, combine(ComponentsCombineFn(), pane[a:b], data)))
  combined = combine(PanesCombineFn(), parts, data)
  assert sorted(combined) == sorted(panes)
  for start, forest in combined.items():
    check_forest(forest, panes[start])
  check_forest(union(combined.values()), links)

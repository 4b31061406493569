"""The hand-written peer: the pipeline's windows and components of one BigQuery Avro export
(2015+ shape, nested or flat), as a plain polars + scipy script, no Beam.

What it does, all in columns:
- reads the export with polars' own Avro reader (`pl.read_avro`, whole file in memory);
- normalises as transforms/events.py does for 2015+ exports: type, actor, repo name and
  url, org stripped; created_at as the pipeline reads a number (micro-, milli-, nano- or
  seconds by magnitude), events outside 2007-2099 or without a type dropped; the repo
  owner from "owner/name", else the repo URL, else the org;
- the edge rules of transforms/edges.py: per type, the partner from the payload (parsed
  by polars' `str.json_path_match`, only for the types whose rule reads it) or the repo
  owner; logins lower-cased; empty ends, self-edges and (unless --keep_bots) [bot]
  accounts dropped; --drop_org_owners drops edges to the owning organisation;
- each edge into the size/period sliding windows that hold it (epoch-aligned, as Beam's
  SlidingWindows);
- one scipy.sparse.csgraph.connected_components call over the disjoint union of all the
  windows' graphs (a vertex is a (window, user) pair), then per window: edges, vertices,
  components, the largest component and the size histogram.

Not implemented (the pipeline has them): the 2011-14 fallbacks (actor and repo named in
the payload, the owner in `other`), dead letters (a payload the rule needs that is not
JSON gives the owner here, a dead letter there), the hostile-file checks, byte ranges.

Prints one JSON line per window holding an edge (or writes them to --output), and a
summary line to stderr. --check FRAMES_JSONL compares them with the pipeline's frames
(`pulse run --sink jsonl://...`, or `pulse export --sink URI`): edges, vertices,
components, largest cluster and size histogram of every window; exit 1 on a difference.

  python bench/peer.py FILE.avro [--window_size 300] [--window_period 60] [--keep_bots]
                       [--drop_org_owners] [--output OUT.jsonl] [--check FRAMES_JSONL]
"""
import argparse
import json
import sys
import time

import numpy as np
import polars as pl
import scipy.sparse
from scipy.sparse.csgraph import connected_components

EARLIEST_MS = 1_167_609_600_000    # 2007-01-01, as pulse.schemas
LATEST_MS = 4_102_444_800_000      # 2100-01-01

# Types whose partner is in the payload: {type: {column: JSON path}}.
PAYLOAD_PATHS = {
    "IssueCommentEvent": {"author": "$.issue.user.login"},
    "IssuesEvent": {"author": "$.issue.user.login"},
    "PullRequestEvent": {"author": "$.pull_request.user.login",
                         "base_owner": "$.pull_request.base.repo.owner.login",
                         "base_user": "$.pull_request.base.user.login"},
    "PullRequestReviewEvent": {"author": "$.pull_request.user.login"},
    "PullRequestReviewCommentEvent": {"author": "$.pull_request.user.login"},
    "MemberEvent": {"author": "$.member.login"},
    "FollowEvent": {"author": "$.target.login"},
}
PAYLOAD_COLUMNS = ("author", "base_owner", "base_user")


def _text(expr):
  """A text field as the pipeline reads it: stripped, '' when null."""
  return expr.str.strip_chars().fill_null("")


def read_events(path):
  """The export's events, normalised: type, created_ms, actor, repo, owner, org, payload."""
  columns = pl.read_avro(path, n_rows=1).columns
  if "actor_login" in columns:                # the flat 2015 export
    frame = pl.read_avro(path, columns=["type", "created_at", "actor_login", "repo_name",
                                        "repo_url", "org_login", "payload"])
    actor, repo, url, org = (pl.col("actor_login"), pl.col("repo_name"),
                             pl.col("repo_url"), pl.col("org_login"))
  else:
    frame = pl.read_avro(path, columns=["type", "created_at", "actor", "repo", "org",
                                        "payload"])
    actor, repo, url, org = (pl.col("actor").struct.field("login"),
                             pl.col("repo").struct.field("name"),
                             pl.col("repo").struct.field("url"),
                             pl.col("org").struct.field("login"))
  created = pl.col("created_at")
  size = created.abs()
  created_us = (pl.when(size >= 10**17).then(created // 1000)
                .when(size >= 10**14).then(created)
                .when(size >= 10**11).then(created * 1000)
                .otherwise(created * 1_000_000))
  events = frame.lazy().select(
      type=_text(pl.col("type")),
      created_ms=created_us // 1000,
      actor=_text(actor),
      repo=_text(repo),
      url=_text(url),
      org=_text(org),
      payload=pl.col("payload"),
  ).filter((pl.col("type") != "") & pl.col("created_ms").is_between(
      EARLIEST_MS, LATEST_MS, closed="left"))
  name_owner = pl.col("repo").str.split_exact("/", 1).struct.field("field_0")
  has_owner = pl.col("repo").str.contains("/", literal=True) & (name_owner != "")
  url_owner = pl.col("url").str.extract(
      r"github\.(?:com|dev)/(?:repos/)?([^/\s]+)/[^/\s]+/?$", 1)
  repo_clean = pl.when(pl.col("repo") == "/").then(pl.lit("")).otherwise(pl.col("repo"))
  return events.with_columns(repo=repo_clean).with_columns(
      owner=pl.when(has_owner).then(name_owner)
      .when(url_owner.is_not_null()).then(url_owner)
      .when(pl.col("repo") != "").then(pl.col("org"))
      .otherwise(pl.lit(""))).drop("url")


def _nonempty(column):
  """A payload login, stripped; null when missing or blank (the rules' `or`)."""
  value = pl.col(column).str.strip_chars()
  return pl.when(value != "").then(value)


def _other_user_or(owner_expr):
  """The payload's author unless it is the actor (case-insensitively), else owner_expr."""
  author = _nonempty("author")
  return (pl.when(author.is_not_null() &
                  (author.str.to_lowercase() != pl.col("actor").str.to_lowercase()))
          .then(author).otherwise(owner_expr))


def edges_of(events, keep_bots=False, drop_org_owners=False):
  """Edges (created_ms, src, dst) by the rules of transforms/edges.py."""
  parts = [events.filter(~pl.col("type").is_in(list(PAYLOAD_PATHS))).with_columns(
      partner=pl.col("owner"))]
  for kind, paths in PAYLOAD_PATHS.items():
    part = events.filter(pl.col("type") == kind).with_columns(
        **{column: (pl.col("payload").str.json_path_match(paths[column])
                    if column in paths else pl.lit(None, pl.String))
           for column in PAYLOAD_COLUMNS})
    owner = pl.col("owner")
    if kind == "IssuesEvent":
      partner = _other_user_or(owner)
    elif kind == "PullRequestEvent":
      partner = _other_user_or(pl.coalesce(_nonempty("base_owner"), _nonempty("base_user"),
                                           owner))
    elif kind in ("MemberEvent", "FollowEvent"):
      partner = pl.coalesce(_nonempty("author"), pl.lit(""))
    else:                 # IssueCommentEvent, PullRequestReview(Comment)Event
      partner = pl.coalesce(_nonempty("author"), owner)
    parts.append(part.with_columns(partner=partner).drop(PAYLOAD_COLUMNS))
  edges = pl.concat(parts).select(
      "created_ms", src=pl.col("actor").str.to_lowercase(),
      dst=pl.col("partner").str.to_lowercase(), org=pl.col("org").str.to_lowercase())
  keep = (pl.col("src") != "") & (pl.col("dst") != "") & (pl.col("src") != pl.col("dst"))
  if not keep_bots:
    keep &= ~(pl.col("src").str.ends_with("[bot]") | pl.col("dst").str.ends_with("[bot]"))
  if drop_org_owners:
    keep &= pl.col("dst") != pl.col("org")
  return edges.filter(keep).drop("org")


def window_stats(edges, size_ms, period_ms):
  """One row per window holding an edge: window_start, edges, vertices, components,
  largest, histogram (a list of (size, count)), by connected_components over the
  disjoint union of the windows' graphs."""
  edges = edges.collect()
  users = pl.concat([edges["src"], edges["dst"]]).unique().to_frame("user").with_row_index(
      "uid")
  coded = edges.join(users.rename({"user": "src", "uid": "s"}), on="src").join(
      users.rename({"user": "dst", "uid": "d"}), on="dst")
  pane = pl.col("created_ms") - pl.col("created_ms") % period_ms
  panes = size_ms // period_ms
  windowed = pl.concat([coded.select(start=pane - k * period_ms, s="s", d="d")
                        for k in range(panes)])
  windowed = windowed.with_columns(w=pl.col("start").rank("dense").cast(pl.Int64) - 1)
  n_users = len(users)
  a = (windowed["w"] * n_users + windowed["s"].cast(pl.Int64)).to_numpy()
  b = (windowed["w"] * n_users + windowed["d"].cast(pl.Int64)).to_numpy()
  keys, inverse = np.unique(np.concatenate((a, b)), return_inverse=True)
  n = len(keys)
  graph = scipy.sparse.coo_matrix(
      (np.ones(len(a), dtype=np.int8), (inverse[:len(a)], inverse[len(a):])), shape=(n, n))
  _, labels = connected_components(graph, directed=False)
  sizes = (pl.DataFrame({"w": keys // n_users, "label": labels})
           .group_by("w", "label").len("size"))
  per_window = sizes.group_by("w").agg(
      vertices=pl.col("size").sum(), components=pl.len(), largest=pl.col("size").max())
  histogram = (sizes.group_by("w", "size").len("count").sort("w", "size")
               .group_by("w", maintain_order=True)
               .agg(histogram=pl.struct("size", "count")))
  counts = windowed.group_by("w").agg(start=pl.col("start").first(), edges=pl.len())
  return (counts.join(per_window, on="w").join(histogram, on="w").sort("start")
          .select("start", "edges", "vertices", "components", "largest", "histogram"))


def windows(path, size_s=300, period_s=60, keep_bots=False, drop_org_owners=False):
  """[{window_start, window_end, edges, vertices, components, largest, size_histogram}]"""
  size_ms, period_ms = size_s * 1000, period_s * 1000
  stats = window_stats(edges_of(read_events(path), keep_bots, drop_org_owners),
                       size_ms, period_ms)
  return [{"window_start": row["start"], "window_end": row["start"] + size_ms,
           "edges": row["edges"], "vertices": row["vertices"],
           "components": row["components"], "largest": row["largest"],
           "size_histogram": {str(h["size"]): h["count"] for h in row["histogram"]}}
          for row in stats.iter_rows(named=True)]


def check(rows, frames_path):
  """Differences between the peer's windows and the pipeline's frames (a list of text)."""
  frames = {}
  with open(frames_path, encoding="utf-8") as f:
    for line in f:
      if line.strip():
        frame = json.loads(line)
        frames[frame["window_start"]] = frame
  mine = {row["window_start"]: row for row in rows}
  problems = [f"window {w}: only in the frames" for w in sorted(set(frames) - set(mine))]
  problems += [f"window {w}: only in the peer" for w in sorted(set(mine) - set(frames))]
  for start in sorted(set(mine) & set(frames)):
    row, frame = mine[start], frames[start]
    theirs = {"window_end": frame["window_end"], "edges": frame["edges"],
              "vertices": frame["vertices"], "components": frame["components"],
              "largest": max(map(int, frame["size_histogram"]), default=0),
              "size_histogram": frame["size_histogram"]}
    for key, value in theirs.items():
      if row[key] != value:
        problems.append(f"window {start}: {key} peer {row[key]!r}, pipeline {value!r}")
  return problems


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("input", help="a BigQuery Avro export (nested or flat shape)")
  parser.add_argument("--window_size", type=int, default=300, help="seconds")
  parser.add_argument("--window_period", type=int, default=60, help="seconds")
  parser.add_argument("--keep_bots", action="store_true")
  parser.add_argument("--drop_org_owners", action="store_true")
  parser.add_argument("--output", help="write the window lines here, not to stdout")
  parser.add_argument("--check", metavar="FRAMES_JSONL",
                      help="compare with the pipeline's frames; exit 1 on a difference")
  args = parser.parse_args(argv)
  started = time.monotonic()
  rows = windows(args.input, args.window_size, args.window_period, args.keep_bots,
                 args.drop_org_owners)
  seconds = time.monotonic() - started
  text = "".join(json.dumps(row) + "\n" for row in rows)
  if args.output:
    with open(args.output, "w", encoding="utf-8") as f:
      f.write(text)
  elif not args.check:
    sys.stdout.write(text)
  largest = max(rows, key=lambda r: r["largest"], default=None)
  print(f"peer: {len(rows)} windows, {sum(r['edges'] for r in rows):,} window-edges, "
        f"largest component {largest['largest'] if largest else 0} in {seconds:.2f} s",
        file=sys.stderr)
  if args.check:
    problems = check(rows, args.check)
    for problem in problems[:20]:
      print(problem)
    print(f"check: {len(rows)} peer windows against {args.check}: "
          f"{len(problems)} differences")
    return 1 if problems else 0
  return 0


if __name__ == "__main__":
  sys.exit(main())

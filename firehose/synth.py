"""pulse synth: realistic synthetic GitHub events, deterministic by seed, for benchmarks.

The model is calibrated on the 2015 hour in data/ (bench/calibration.py compares them):
- event types in that hour's mix; each type's outcome (the repo is the actor's own, an
  organisation's, or another user's) in that hour's shares, so the share of events that
  give no edge (mostly self-edges: pushes to one's own repo) matches;
- actors drawn with heavy-tailed (Zipf) activity from a fixed population, so users per
  hour and the top user's share stay those of a real hour however many events are made;
- users belong to communities; a partner is mostly a member of the actor's community
  (weighted by activity: the same few people keep meeting, which makes clusters), else
  the owner of a globally popular repo (stars and forks of famous projects, hubs).
Events are written one by one (nothing held in memory): a JSON hour (.json, .json.gz,
events-API shape) or a nested BigQuery Avro export (.avro).
"""
import argparse
import gzip
import time

import fastavro
import numpy as np
import orjson
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from pulse.io.bigquery_export import to_nested
from pulse.schemas import NESTED, export_schema

# (type, events in the 2015 hour, outcomes: own repo, an org's repo, another user's repo)
TYPES = (
    ("PushEvent", 4284, (3270, 807, 207)),
    ("WatchEvent", 994, (25, 315, 654)),
    ("CreateEvent", 981, (836, 136, 9)),
    ("IssueCommentEvent", 574, (189, 0, 385)),
    ("PullRequestEvent", 367, (77, 107, 183)),
    ("IssuesEvent", 361, (119, 122, 120)),
    ("ForkEvent", 285, (0, 93, 192)),
    ("DeleteEvent", 156, (76, 79, 1)),
    ("GollumEvent", 123, (66, 54, 3)),
    ("PullRequestReviewCommentEvent", 50, (10, 0, 40)),
    ("CommitCommentEvent", 41, (15, 9, 17)),
    ("ReleaseEvent", 30, (16, 14, 0)),
    ("MemberEvent", 17, (0, 0, 17)),
    ("PublicEvent", 10, (10, 0, 0)),
)
OWN, ORG, USER = 0, 1, 2
EVENTS_PER_HOUR = 8273          # the 2015 hour
START = "2015-01-01T12:00:00Z"
FIRST_ID = 2489582592
REPO_SPREAD = 0.3               # mean of an exponential: most work is on one repo


class Model:
  """The population: users with Zipf activity in communities, organisations."""
  def __init__(self, seed, users=200_000, activity_exponent=0.75, community_size=8,
               popular_exponent=1.0, global_share=0.25, repeat=0.45, repeat_lag=600):
    rng = np.random.default_rng([seed, 1])
    self.users = users
    self.global_share = global_share
    self.repeat = repeat            # an event by a recent actor (work comes in sessions)
    self.repeat_lag = repeat_lag    # mean distance back, in events
    ranks = rng.permutation(users) + 1.0                 # user id -> activity rank
    activity = ranks ** -activity_exponent
    self.actor_cum = np.cumsum(activity) / activity.sum()
    # Communities of ~community_size members; members sorted by community so a member
    # is drawn from the community's slice of one cumulative weight array.
    communities = max(1, users // community_size)
    self.community = rng.integers(0, communities, users)
    self.members = np.argsort(self.community, kind="stable")
    weights = activity[self.members]
    self.member_cum = np.concatenate(([0.0], np.cumsum(weights)))
    bounds = np.searchsorted(self.community[self.members], np.arange(communities + 1))
    self.lo, self.hi = bounds[:-1], bounds[1:]
    # Popular owners (users and organisations both): a steeper Zipf over a random order.
    self.popular = rng.permutation(users)
    pop = (np.arange(users) + 1.0) ** -popular_exponent
    self.popular_cum = np.cumsum(pop) / pop.sum()
    # Half of the communities work in an organisation of their own; famous projects
    # (the popular draw) are organisations half of the time.
    self.orgs = communities // 2

  def login(self, user):
    return _name("u", user)

  def org_login(self, org):
    return _name("o", org)


_SYLLABLES = ("ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "ze", "an", "el", "or",
              "is", "um", "ba", "de", "fi", "go", "ha", "jo")


def _name(prefix, n):
  """A readable, unique, mixed-case login: logins are compared lower-cased."""
  parts, x = [], n
  for _ in range(3):
    parts.append(_SYLLABLES[x % 20])
    x //= 20
  word = "".join(parts)
  return (word.capitalize() if n % 3 == 0 else word) + f"{prefix}{n}"


def _user(login, uid):
  return {"id": uid, "login": login, "gravatar_id": "",
          "url": f"https://api.github.com/users/{login}",
          "avatar_url": f"https://avatars.githubusercontent.com/u/{uid}?"}


def _repo(name, rid):
  return {"id": rid, "name": name, "url": f"https://api.github.com/repos/{name}"}


def _payload(kind, author, number, sha):
  """A payload of the events-API shape with what the edge rules read (and some bulk)."""
  who = {"login": author, "id": number, "type": "User"}
  if kind == "PushEvent":
    return {"push_id": number, "size": 1, "distinct_size": 1, "ref": "refs/heads/master",
            "head": sha, "before": sha[::-1],
            "commits": [{"sha": sha, "author": {"email": f"{author}@example.com",
                                                "name": author},
                         "message": f"Fix #{number % 997}: update the build", "distinct": True,
                         "url": f"https://api.github.com/commits/{sha}"}]}
  if kind == "IssueCommentEvent":
    return {"action": "created",
            "issue": {"number": number % 5000, "title": "It breaks", "user": who,
                      "state": "open", "comments": number % 7},
            "comment": {"id": number, "body": "Thanks, looking into it."}}
  if kind == "IssuesEvent":
    return {"action": "opened", "issue": {"number": number % 5000, "title": "It breaks",
                                          "user": who, "state": "open"}}
  if kind in ("PullRequestEvent", "PullRequestReviewCommentEvent"):
    return {"action": "opened", "number": number % 5000,
            "pull_request": {"number": number % 5000, "title": "Add a feature", "user": who,
                             "state": "open", "head": {"sha": sha}},
            **({"comment": {"id": number, "body": "nit"}}
               if kind == "PullRequestReviewCommentEvent" else {})}
  if kind == "MemberEvent":
    return {"action": "added", "member": who}
  if kind in ("CreateEvent", "DeleteEvent"):
    return {"ref": "master", "ref_type": "branch", "pusher_type": "user"}
  if kind == "ForkEvent":
    return {"forkee": {"id": number, "full_name": f"fork/{number}"}}
  if kind == "WatchEvent":
    return {"action": "started"}
  return {}


_KINDS = [t for t, _, _ in TYPES]
_TYPE_CUM = np.cumsum([n for _, n, _ in TYPES]) / sum(n for _, n, _ in TYPES)
_OUTCOME_CUM = [np.cumsum(o) / sum(o) for _, _, o in TYPES]
# Types whose partner is named in the payload (the author of an issue or PR, a member).
_AUTHORED = {"IssueCommentEvent", "IssuesEvent", "PullRequestEvent",
             "PullRequestReviewCommentEvent", "MemberEvent"}


def events(count, seed=0, events_per_hour=EVENTS_PER_HOUR, users=200_000, chunk=8192,
           **model):
  """Yields `count` raw events (events-API shape), deterministic for a seed."""
  m = Model(seed, users=users, **model)
  rng = np.random.default_rng([seed, 2])
  t0 = int(time.mktime(time.strptime(START, "%Y-%m-%dT%H:%M:%SZ")) - time.timezone)
  recent = np.zeros(0, dtype=np.int64)       # the previous chunk's actors
  for base in range(0, count, chunk):
    n = min(chunk, count - base)
    actors = np.concatenate((recent, np.searchsorted(m.actor_cum, rng.random(n))))
    lags = (rng.exponential(m.repeat_lag, n) + 1).astype(np.int64)
    repeats = np.flatnonzero(rng.random(n) < m.repeat) + len(recent)
    for j in repeats.tolist():                 # in order: a session can go on and on
      if j - lags[j - len(recent)] >= 0:
        actors[j] = actors[j - lags[j - len(recent)]]
    recent = actors[-4 * m.repeat_lag:]
    actors = actors[len(actors) - n:]
    kinds = np.searchsorted(_TYPE_CUM, rng.random(n))
    outcome_r, pick_r, popular_r, k_r, member_r = rng.random((5, n))
    popular = m.popular[np.minimum(np.searchsorted(m.popular_cum, popular_r), m.users - 1)]
    comm = m.community[actors]
    lo, hi = m.lo[comm], m.hi[comm]
    target = m.member_cum[lo] + member_r * (m.member_cum[hi] - m.member_cum[lo])
    mates = m.members[np.clip(np.searchsorted(m.member_cum, target, side="right") - 1,
                              lo, np.maximum(hi - 1, lo))]
    repo_k = np.minimum((-np.log(1 - k_r) * REPO_SPREAD).astype(int), 30)  # a few repos each
    for j in range(n):
      i = base + j
      kind = _KINDS[kinds[j]]
      actor = int(actors[j])
      outcome = int(np.searchsorted(_OUTCOME_CUM[kinds[j]], outcome_r[j], side="right"))
      event_id = FIRST_ID + i
      login = m.login(actor)
      org = None
      author = login
      if outcome == OWN:
        owner, owner_id = login, actor
      elif pick_r[j] < m.global_share or hi[j] - lo[j] < 2:   # a famous project
        target_user = int(popular[j])
        if outcome == ORG or target_user % 2:
          owner, owner_id = m.org_login(target_user % m.orgs), 10**8 + target_user % m.orgs
          org = owner_id
        else:
          owner, owner_id = m.login(target_user), target_user
        if outcome == USER:                  # someone's issue or PR on it
          author = owner if kind == "IssueCommentEvent" and org is None else \
              m.login(int(mates[j]))
      else:                                                  # the actor's community
        mate = int(mates[j])
        if mate == actor:
          mate = int(m.members[lo[j] + (mate + 1) % (hi[j] - lo[j])])
        if outcome == ORG:
          owner_id = 10**8 + int(comm[j]) % m.orgs
          owner = m.org_login(owner_id - 10**8)
          org = owner_id
        else:
          owner, owner_id = m.login(mate), mate
          author = owner
      if outcome == ORG and kind in _AUTHORED:
        author = login                      # their own issue or PR: the edge is to the org
      if author.lower() == login.lower() and outcome == USER:
        author = owner if owner.lower() != login.lower() else author
      name = f"{owner}/proj-{int(repo_k[j])}"
      created = t0 + i * 3600 // events_per_hour
      record = {
          "id": str(event_id), "type": kind, "actor": _user(login, actor),
          "repo": _repo(name, owner_id * 31 + int(repo_k[j])),
          "payload": _payload(kind, author, event_id, f"{event_id * 2654435761:040x}"[-40:]),
          "public": True,
          "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(created)),
      }
      if org is not None:
        record["org"] = _user(owner, owner_id)
      yield record


def write(path, count, seed=0, **kwargs):
  """Write `count` events to path: .avro (nested export), .json or .json.gz (events-API
  JSON lines). Returns the number written."""
  stream = events(count, seed, **kwargs)
  # Beam would gzip a .gz path itself; Python's gzip writes it here, as GH Archive does.
  with FileSystems.create(path, compression_type=CompressionTypes.UNCOMPRESSED) as out:
    if path.lower().endswith(".avro"):
      schema = fastavro.parse_schema(export_schema(NESTED))
      fastavro.writer(out, schema, (to_nested(e) for e in stream), codec="deflate")
    elif path.lower().endswith((".json", ".json.gz")):
      sink = gzip.GzipFile(fileobj=out, mode="wb", compresslevel=6) \
          if path.lower().endswith(".gz") else out
      for event in stream:
        sink.write(orjson.dumps(event) + b"\n")
      if sink is not out:
        sink.close()
    else:
      raise ValueError(f"{path}: write .avro, .json or .json.gz")
  return count


def main(argv):
  parser = argparse.ArgumentParser(
      prog="pulse synth", description="Write synthetic GitHub events calibrated on a real "
      "hour (bench/calibration.py), deterministic by seed: a JSON hour (.json, .json.gz) "
      "or a nested BigQuery Avro export (.avro).")
  parser.add_argument("--events", type=int, required=True, help="how many events")
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--output", required=True, help="PATH.avro, PATH.json or PATH.json.gz")
  parser.add_argument("--events_per_hour", type=int, default=EVENTS_PER_HOUR,
                      help=f"event-time rate (default {EVENTS_PER_HOUR:,}, the real hour)")
  parser.add_argument("--users", type=int, default=200_000,
                      help="user population (default 200,000)")
  args = parser.parse_args(argv)
  if args.events < 0 or args.events_per_hour <= 0 or args.users < 2:
    raise ValueError("--events >= 0, --events_per_hour > 0, --users >= 2")
  started = time.monotonic()
  write(args.output, args.events, args.seed, events_per_hour=args.events_per_hour,
        users=args.users)
  seconds = time.monotonic() - started
  print(f"{args.output}: {args.events:,} synthetic events (seed {args.seed}) in "
        f"{seconds:.1f} s")
  return 0

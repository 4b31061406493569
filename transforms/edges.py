"""The Venturi step: each event gives at most one user-user edge src -> dst.

Rules (README, "Edge rules"): the partner of the actor depends on the event type; logins are
compared and emitted lower-cased (GitHub logins are case-insensitive); self-edges and empty
users give no edge; bot accounts and organisation owners may be dropped.
"""
import apache_beam as beam
from apache_beam.transforms import window
from apache_beam.utils.timestamp import Timestamp
from apache_beam.utils.windowed_value import WindowedValue

from pulse.schemas import counters as C
from pulse.schemas.dead_letters import DEAD, EDGES, dead_letter
from pulse.transforms.counting import BundleCounters
from pulse.transforms.events import BadRecord, as_dict, login_of

__all__ = ["ExtractEdges", "edge_of", "partner", "is_bot", "NO_EDGE_REASONS", "NO_PARTNER",
           "SELF_EDGE", "BOT", "ORG_OWNER"]

# Why an event gave no edge; each is counted (Metrics counter "no_edge_<reason>").
NO_PARTNER = "no_partner"    # no second user: no repo owner, no target
SELF_EDGE = "self_edge"      # the partner is the actor (their own repo, their own issue)
BOT = "bot"                  # an end is a bot account, with drop_bots
ORG_OWNER = "org_owner"      # the partner is the owning organisation, with drop_org_owners
NO_EDGE_REASONS = (NO_PARTNER, SELF_EDGE, BOT, ORG_OWNER)


def _dig(payload, *path):
  """payload[path[0]][path[1]]... or None where any step is missing or not an object."""
  node = payload
  for key in path:
    if not isinstance(node, dict):
      return None
    node = node.get(key)
  return node


def _other_user_or_owner(actor, author, owner):
  return author if author and author.lower() != actor.lower() else owner


def partner(event, payload_of):
  """The login the actor interacted with, or '' if none. payload_of() parses the payload
  on demand: most events (pushes, stars) need only the repo owner."""
  kind = event["type"]
  actor, owner = event["actor"], event["owner"]
  if kind == "IssueCommentEvent":
    return login_of(_dig(payload_of(), "issue", "user")) or owner
  if kind == "IssuesEvent":
    return _other_user_or_owner(
        actor, login_of(_dig(payload_of(), "issue", "user")), owner)
  if kind == "PullRequestEvent":
    pull = _dig(payload_of(), "pull_request")
    base_owner = (login_of(_dig(pull, "base", "repo", "owner")) or
                  login_of(_dig(pull, "base", "user")) or owner)
    return _other_user_or_owner(actor, login_of(_dig(pull, "user")), base_owner)
  if kind in ("PullRequestReviewEvent", "PullRequestReviewCommentEvent"):
    # The PR author; older review comments carry no PR: then the repo owner.
    return login_of(_dig(payload_of(), "pull_request", "user")) or owner
  if kind == "MemberEvent":
    return login_of(_dig(payload_of(), "member"))
  if kind == "FollowEvent":
    return login_of(_dig(payload_of(), "target"))
  # CommitCommentEvent, ForkEvent (event.repo is the repo that was forked), WatchEvent,
  # PushEvent and every other type with a repo.
  return owner


def is_bot(login):
  return login.endswith("[bot]")


def edge_of(event, drop_bots=True, drop_org_owners=False):
  """(edge, None) or (None, reason). An edge is a dict
  {type, id, created_at, src, dst, repo} as schemas/edge.avsc describes.
  Raises BadRecord when the payload the rule needs cannot be read."""
  cache = []

  def payload_of():
    if not cache:
      cache.append(as_dict(event["payload"], "payload"))
    return cache[0]

  dst = partner(event, payload_of).lower()
  src = event["actor"].lower()
  if not src or not dst:
    return None, NO_PARTNER
  if src == dst:
    return None, SELF_EDGE
  if drop_bots and (is_bot(src) or is_bot(dst)):
    return None, BOT
  if drop_org_owners and dst == event["org"].lower():
    return None, ORG_OWNER
  return {
      "type": event["type"],
      "id": event["id"],
      "created_at": event["created_at"],
      "src": src,
      "dst": dst,
      "repo": event["repo"] or None,
  }, None


class ExtractEdges(beam.PTransform):
  """The Venturi step: events -> user-user edges.

  Args:
    drop_bots: drop edges with a bot account ([bot] logins) at either end.
    drop_org_owners: drop edges whose partner is the organisation owning the repo.
  Input: globally windowed events (NormaliseEvents' output).
  Returns: a tagged result: "edges", edges (dicts, schemas/edge.avsc) timestamped by
    created_at; DEAD, dead letters of stage EDGES for events whose payload the rule needs
    but cannot read.
  """
  def __init__(self, drop_bots=True, drop_org_owners=False):
    super().__init__()
    self.drop_bots = drop_bots
    self.drop_org_owners = drop_org_owners

  def expand(self, events):
    if not isinstance(events.windowing.windowfn, window.GlobalWindows):
      raise ValueError("ExtractEdges takes globally windowed events")
    return events | "EdgeOf" >> beam.ParDo(
        _EdgeFn(self.drop_bots, self.drop_org_owners)).with_outputs(DEAD, main="edges")


_GLOBAL = (window.GlobalWindow(),)


class _EdgeFn(beam.DoFn):
  def __init__(self, drop_bots, drop_org_owners):
    self.drop_bots = drop_bots
    self.drop_org_owners = drop_org_owners
    self.no_edge = {reason: C.no_edge(reason) for reason in NO_EDGE_REASONS}
    self.counts = BundleCounters(C.EDGES, C.DEAD_LETTER_COUNTERS[EDGES],
                                 *self.no_edge.values())

  def process(self, event):
    try:
      edge, reason = edge_of(event, self.drop_bots, self.drop_org_owners)
    except BadRecord as error:
      self.counts.tally[C.DEAD_LETTER_COUNTERS[EDGES]] += 1
      yield dead_letter(EDGES, str(error), event)
      return
    if edge is None:
      self.counts.tally[self.no_edge[reason]] += 1
    else:
      self.counts.tally[C.EDGES] += 1
      # As TimestampedValue would, without Beam assigning the global window anew to
      # each edge (3 us, measured).
      yield WindowedValue(edge, Timestamp(micros=edge["created_at"] * 1000), _GLOBAL)

  def finish_bundle(self):
    self.counts.flush()

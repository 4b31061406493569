"""The Venturi step: each event gives at most one user-user edge src -> dst.

Rules (README, "Edge rules"): the partner of the actor depends on the event type; logins are
compared and emitted lower-cased (GitHub logins are case-insensitive); self-edges and empty
users give no edge; bot accounts and organisation owners may be dropped.
"""
import apache_beam as beam
from apache_beam.transforms import window
from apache_beam.utils.timestamp import Timestamp
from apache_beam.utils.windowed_value import WindowedValue

from pulse.transforms.counting import BundleCounters
from pulse.transforms.dead_letters import DEAD, dead_letter
from pulse.transforms.events import BadRecord, as_dict, login_of

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
  """Events -> edges (main output, timestamped by their event's time) and dead letters
  (output DEAD) for events whose payload cannot be read."""
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
    self.counts = BundleCounters(
        "edges", "dead_letter_edges", *("no_edge_" + r for r in NO_EDGE_REASONS))

  def process(self, event):
    try:
      edge, reason = edge_of(event, self.drop_bots, self.drop_org_owners)
    except BadRecord as error:
      self.counts.tally["dead_letter_edges"] += 1
      yield dead_letter("edges", str(error), event)
      return
    if edge is None:
      self.counts.tally["no_edge_" + reason] += 1
    else:
      self.counts.tally["edges"] += 1
      # As TimestampedValue would, without Beam assigning the global window anew to
      # each edge (3 us, measured).
      yield WindowedValue(edge, Timestamp(micros=edge["created_at"] * 1000), _GLOBAL)

  def finish_bundle(self):
    self.counts.flush()

"""Normalise raw GitHub Archive records of every era and shape to one internal form.

An event is a plain dict (cheap to encode between Beam stages):
  type, id, created_at (ms since the epoch), actor, repo ("owner/name" or ""), owner
  (the repo owner's login or ""), org (the owning organisation's login or ""), and payload,
  kept raw (a dict, or the JSON string of the BigQuery shapes): it is parsed only for the
  event types whose edge needs it.
"""
import json
import re

import apache_beam as beam
from apache_beam.metrics import Metrics

from pulse.schemas import created_at_micros
from pulse.transforms.dead_letters import DEAD, dead_letter

# "https://api.github.com/repos/OWNER/NAME", "https://github.com/OWNER/NAME", ...
_REPO_URL = re.compile(r"github\.(?:com|dev)/(?:repos/)?([^/\s]+)/[^/\s]+/?$")


class BadRecord(ValueError):
  """A record that cannot be read as a GitHub event; the message is the reason."""


def login_of(user):
  """The login in a user field: a plain string (2011-12 payloads) or an object with
  `login`. '' when there is none."""
  if isinstance(user, str):
    return user.strip()
  if isinstance(user, dict):
    login = user.get("login")
    if isinstance(login, str):
      return login.strip()
  return ""


def as_dict(value, what):
  """A JSON object field that may arrive as a dict, a JSON string, or nothing."""
  if value is None or value == "":
    return {}
  if isinstance(value, dict):
    return value
  if isinstance(value, str):
    try:
      parsed = json.loads(value)
    except ValueError as error:
      raise BadRecord(f"{what} is not valid JSON: {error}") from None
    if parsed is None:
      return {}
    if isinstance(parsed, dict):
      return parsed
  raise BadRecord(f"{what} is not a JSON object")


def _owner(repo_name, repo_url, other):
  """The repo owner's login: from "owner/name", else (2013-14 events carry a bare name)
  from `other` (repository.owner) or the repo URL."""
  owner, slash, _ = repo_name.partition("/")
  if slash and owner:
    return owner
  repository = as_dict(other, "other").get("repository")
  if isinstance(repository, dict):
    owner = login_of(repository.get("owner"))
    if owner:
      return owner
  match = _REPO_URL.search(repo_url or "")
  return match.group(1) if match else ""


def _text(value):
  return value.strip() if isinstance(value, str) else ""


def normalise(record):
  """The internal event for one raw record (events-API JSON, BigQuery table JSON, nested
  or flat Avro export). Raises BadRecord with the reason when it cannot be read."""
  if not isinstance(record, dict):
    raise BadRecord(f"record is a JSON {type(record).__name__}, not an object")
  event_type = record.get("type")
  if not isinstance(event_type, str) or not event_type:
    raise BadRecord("no event type")
  try:
    created_ms = created_at_micros(record.get("created_at")) // 1000
  except ValueError as error:
    raise BadRecord(str(error)) from None
  if "actor_login" in record or "repo_name" in record:     # flat 2015 export
    actor = _text(record.get("actor_login"))
    repo_name = _text(record.get("repo_name"))
    repo_url = _text(record.get("repo_url"))
    org = _text(record.get("org_login"))
  else:
    repo = record.get("repo")
    repo = repo if isinstance(repo, dict) else {}
    actor = login_of(record.get("actor"))
    repo_name = _text(repo.get("name"))
    repo_url = _text(repo.get("url"))
    org = login_of(record.get("org"))
  event_id = record.get("id")
  payload = record.get("payload")
  if repo_name == "/":           # 2011-12 events whose repository sits only in the payload
    repo_name = ""
  if payload and (not actor or not repo_name):
    # 2011-12 payloads name the actor and the repo ("owner/name") as plain strings.
    old = as_dict(payload, "payload")
    actor = actor or login_of(old.get("actor"))
    repo_name = repo_name or _text(old.get("repo"))
  return {
      "type": event_type,
      "id": "" if event_id is None else str(event_id),
      "created_at": created_ms,
      "actor": actor,
      "repo": repo_name,
      "owner": _owner(repo_name, repo_url, record.get("other")),
      "org": org,
      "payload": payload,
  }


class NormaliseEvents(beam.PTransform):
  """Raw records -> events (main output, timestamped by event time) and dead letters
  (output DEAD) for records that cannot be read."""
  def expand(self, records):
    return records | "Normalise" >> beam.ParDo(_NormaliseFn()).with_outputs(
        DEAD, main="events")


class _NormaliseFn(beam.DoFn):
  def __init__(self):
    self.events = Metrics.counter("pulse", "events_normalised")
    self.bad = Metrics.counter("pulse", "dead_letter_normalise")

  def process(self, record):
    try:
      event = normalise(record)
    except BadRecord as error:
      self.bad.inc()
      yield dead_letter("normalise", str(error), record)
      return
    self.events.inc()
    yield beam.window.TimestampedValue(
        event, beam.utils.timestamp.Timestamp(micros=event["created_at"] * 1000))

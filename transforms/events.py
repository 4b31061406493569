"""Normalise raw GitHub Archive records of every era and shape to one internal form.

An event is a plain dict (cheap to encode between Beam stages):
  type, id, created_at (ms since the epoch), actor, repo ("owner/name" or ""), owner
  (the repo owner's login or ""), org (the owning organisation's login or ""), and payload,
  kept raw (a dict, or the JSON string of the BigQuery shapes): it is parsed only for the
  event types whose edge needs it.
"""
import hashlib
import re

import apache_beam as beam
import orjson

from pulse.schemas import EARLIEST_MS, LATEST_MS, created_at_micros
from pulse.schemas.counters import DEAD_LETTER_COUNTERS, EVENTS_NORMALISED
from pulse.schemas.dead_letters import DEAD, NORMALISE, SOURCE_FIELD, dead_letter
from pulse.transforms.counting import BundleCounters

__all__ = ["NormaliseEvents", "normalise", "BadRecord", "login_of", "as_dict", "json_type",
           "event_time_ms", "derived_id", "DERIVED_ID_PREFIX"]

# "https://api.github.com/repos/OWNER/NAME", "https://github.com/OWNER/NAME", ...
_REPO_URL = re.compile(r"github\.(?:com|dev)/(?:repos/)?([^/\s]+)/[^/\s]+/?$")

_JSON_TYPES = {dict: "object", list: "list", str: "string", int: "number",
               float: "number", bool: "boolean", type(None): "null"}


class BadRecord(ValueError):
  """A record that cannot be read as a GitHub event; the message is the reason."""


def json_type(value):
  """The JSON name of a value's type, for reasons."""
  return _JSON_TYPES.get(type(value), type(value).__name__)


def _text(value, what):
  """A text field, stripped: '' when missing or null; BadRecord when of another type or
  not storable (JSON may escape a lone surrogate, "\\ud800", which UTF-8 cannot hold)."""
  if value is None:
    return ""
  if not isinstance(value, str):
    raise BadRecord(f"{what} is a JSON {json_type(value)}, not a string")
  if not value.isascii():
    try:
      value.encode("utf-8")
    except UnicodeEncodeError:
      raise BadRecord(f"{what} {value[:40]!r} holds a lone surrogate") from None
  return value.strip()


def login_of(user, what="user"):
  """The login in a user field: a plain string (2011-12 payloads) or an object with
  `login`. '' when there is none; BadRecord when it is of another type."""
  if isinstance(user, dict):
    return _text(user.get("login"), what + " login")
  return _text(user, what)


def event_time_ms(created_at):
  """Milliseconds since the epoch of a created_at in any form GitHub Archive uses
  (schemas.created_at_micros); BadRecord when unreadable or outside 2007-2099."""
  try:
    ms = created_at_micros(created_at) // 1000
  except ValueError as error:
    raise BadRecord(str(error)) from None
  if not EARLIEST_MS <= ms < LATEST_MS:
    raise BadRecord(f"created_at {created_at!r:.60} is outside 2007-2099")
  return ms


def as_dict(value, what):
  """A JSON object field that may arrive as a dict, a JSON string, or nothing."""
  if value is None or value == "":
    return {}
  if isinstance(value, dict):
    return value
  if isinstance(value, str):
    try:
      parsed = orjson.loads(value)       # refuses NaN, lone surrogates, over 1024 levels
    except orjson.JSONDecodeError as error:
      raise BadRecord(f"{what} is not valid JSON: {error}") from None
    if parsed is None:
      return {}
    if isinstance(parsed, dict):
      return parsed
  raise BadRecord(f"{what} is not a JSON object")


def _owner(repo_name, repo_url, other, org):
  """The repo owner's login, from the first of these that names one:
  1. repo name "owner/name";
  2. other.repository.owner (2012-14 timeline events carry a bare name, the owner here);
  3. the repo URL's owner (.../OWNER/NAME; a blank one, "https://github.com//name", is
     none);
  4. other.repository.organization (set only for a repo an organisation owns);
  5. the record's org login (org.login; org_login in the flat shape): the repo's
     organisation, last because 2011-12 rows may name another one there.
  4 and 5 only for an event with a repo (a bare name): a gist has no owner. `other` (a
  JSON string) is parsed only for a name without its owner."""
  owner, slash, _ = repo_name.partition("/")
  if slash and owner:
    return owner
  repository = as_dict(other, "other").get("repository")
  if not isinstance(repository, dict):
    repository = {}
  owner = login_of(repository.get("owner"), "repository owner")
  if owner:
    return owner
  match = _REPO_URL.search(repo_url)
  if match:
    return match.group(1)
  if not repo_name:
    return ""
  return login_of(repository.get("organization"), "repository organization") or org


def _event_id(value):
  """An id as text: a string, or a number as some exports hold it."""
  if isinstance(value, int) and not isinstance(value, bool) and abs(value) < 2**63:
    return str(value)
  return _text(value, "id")


DERIVED_ID_PREFIX = "h"     # GitHub's event ids are digits: a derived id is never one


def _canonical_payload(payload):
  """The payload as a value, whatever the shape holds: a JSON string is parsed (kept as
  the string if it is not JSON), a dict or anything else taken as it is."""
  if isinstance(payload, str):
    try:
      return orjson.loads(payload)
    except orjson.JSONDecodeError:
      return payload
  return payload


def derived_id(event_type, created_ms, actor, repo, owner, payload):
  """The id of an event that has none (2013-14 timeline events): "h" and 16 hex digits of
  the BLAKE2b hash of its normalised fields and its payload as a value, serialised with
  sorted keys. The same event in a JSON hour, a nested or a flat Avro export, Kafka or
  BigQuery gets the same id; two events differ in it unless they agree in all of these."""
  head = [event_type, created_ms, actor, repo, owner]
  value = _canonical_payload(payload)
  try:
    text = orjson.dumps(head + [value], option=orjson.OPT_SORT_KEYS)
  except TypeError:    # orjson's JSONEncodeError: past 255 levels, a lone surrogate, ...
    try:
      tail = repr(value)
    except RecursionError:
      tail = ""
    text = orjson.dumps(head) + tail.encode("utf-8", "surrogatepass")
  return DERIVED_ID_PREFIX + hashlib.blake2b(text, digest_size=8).hexdigest()


def normalise(record):
  """The internal event for one raw record (events-API JSON, BigQuery table JSON, nested
  or flat Avro export). Raises BadRecord with the reason when it cannot be read.

  The owner is read as _owner() says. An event without an id (missing or empty: GitHub
  Archive's 2013-14 timeline events have none) gets derived_id(): "h" + 16 hex digits of
  a hash of its type, created_at (ms), actor, repo, owner and payload (parsed, keys
  sorted), so it is the same from every input shape and cannot be taken for a GitHub id
  (digits only). Only such events pay for it (about 3 us each on the 2011 hour)."""
  if not isinstance(record, dict):
    raise BadRecord(f"record is a JSON {json_type(record)}, not an object")
  event_type = _text(record.get("type"), "type")
  if not event_type:
    raise BadRecord("no event type")
  created_ms = event_time_ms(record.get("created_at"))
  if "actor_login" in record or "repo_name" in record:     # flat 2015 export
    actor = _text(record.get("actor_login"), "actor_login")
    repo_name = _text(record.get("repo_name"), "repo_name")
    repo_url = _text(record.get("repo_url"), "repo_url")
    org = _text(record.get("org_login"), "org_login")
  else:
    repo = record.get("repo")
    if repo is None:
      repo = {}
    elif not isinstance(repo, dict):
      raise BadRecord(f"repo is a JSON {json_type(repo)}, not an object")
    actor = login_of(record.get("actor"), "actor")
    repo_name = _text(repo.get("name"), "repo name")
    repo_url = _text(repo.get("url"), "repo url")
    org = login_of(record.get("org"), "org")
  payload = record.get("payload")
  if repo_name == "/":           # 2011-12 events whose repository sits only in the payload
    repo_name = ""
  if payload and (not actor or not repo_name):
    # 2011-12 payloads name the actor and the repo ("owner/name") as plain strings.
    old = as_dict(payload, "payload")
    actor = actor or login_of(old.get("actor"), "payload actor")
    repo_name = repo_name or _text(old.get("repo"), "payload repo")
  owner = _owner(repo_name, repo_url, record.get("other"), org)
  event_id = _event_id(record.get("id"))
  if not event_id:
    event_id = derived_id(event_type, created_ms, actor, repo_name, owner, payload)
  return {
      "type": event_type,
      "id": event_id,
      "created_at": created_ms,
      "actor": actor,
      "repo": repo_name,
      "owner": owner,
      "org": org,
      "payload": payload,
  }


class NormaliseEvents(beam.PTransform):
  """Raw records of any era and shape -> internal events. Events are not timestamped
  here: only the edges they give are (see edges.py), which spares the cost for the
  majority that give none.

  Input: raw records (dicts: events-API or BigQuery JSON, nested or flat Avro exports),
    each naming where it was read in SOURCE_FIELD (schemas/dead_letters.py), which only
    the dead letters use.
  Returns: a tagged result: "events", events (dicts, see the module docstring); DEAD,
    dead letters of stage NORMALISE for records that cannot be read, with their source.
  """
  def expand(self, records):
    return records | "Normalise" >> beam.ParDo(_NormaliseFn()).with_outputs(
        DEAD, main="events")


class _NormaliseFn(beam.DoFn):
  def __init__(self):
    self.counts = BundleCounters(EVENTS_NORMALISED, DEAD_LETTER_COUNTERS[NORMALISE])

  def process(self, record):
    try:
      event = normalise(record)
    except BadRecord as error:
      self.counts.tally[DEAD_LETTER_COUNTERS[NORMALISE]] += 1
      source = record.get(SOURCE_FIELD) if isinstance(record, dict) else None
      yield dead_letter(NORMALISE, str(error), record,
                        source=source if isinstance(source, str) else "")
      return
    self.counts.tally[EVENTS_NORMALISED] += 1
    yield event

  def finish_bundle(self):
    self.counts.flush()

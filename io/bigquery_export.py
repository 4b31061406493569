"""Writing GitHub events as BigQuery exports GH Archive tables to Avro, in either shape, so
the Avro path is tested on real events (`pulse convert`)."""
import hashlib
import json

import fastavro
from apache_beam.io.filesystems import FileSystems

from pulse.io.archives import read_records
from pulse.schemas import FLAT, NESTED, created_at_micros, export_schema

__all__ = ["to_nested", "to_flat", "convert"]

_USER_FIELDS = ("id", "login", "gravatar_id", "avatar_url", "url")
_REPO_FIELDS = ("id", "name", "url")
_LONG_FIELDS = {"id"}


def _json_text(value):
  if value is None or isinstance(value, str):
    return value
  return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _long(value):
  try:
    return int(value)
  except (TypeError, ValueError):
    return None


def _string(value):
  return None if value is None else str(value)


def _sub_record(value, fields):
  if isinstance(value, str):        # old raw timeline events name the actor as a string
    value = {"login": value}
  if not isinstance(value, dict):
    return None
  return {f: (_long if f in _LONG_FIELDS else _string)(value.get(f)) for f in fields}


def _unflatten(flat):
  nested = {k: flat.get(k) for k in ("type", "public", "payload", "created_at", "id",
                                     "other")}
  for prefix, fields in (("repo", _REPO_FIELDS), ("actor", _USER_FIELDS),
                         ("org", _USER_FIELDS)):
    sub = {f: flat.get(f"{prefix}_{f}") for f in fields}
    nested[prefix] = sub if any(v is not None for v in sub.values()) else None
  return nested


def to_nested(raw):
  """The nested export record of a raw event of any shape (events-API or BigQuery table
  JSON, nested or flat export). Raises ValueError if it has no readable created_at."""
  if "actor_login" in raw or "repo_name" in raw:
    raw = _unflatten(raw)
  return {
      "type": _string(raw.get("type")),
      "public": raw.get("public") if isinstance(raw.get("public"), bool) else None,
      "payload": _json_text(raw.get("payload")),
      "repo": _sub_record(raw.get("repo"), _REPO_FIELDS),
      "actor": _sub_record(raw.get("actor"), _USER_FIELDS),
      "org": _sub_record(raw.get("org"), _USER_FIELDS),
      "created_at": created_at_micros(raw.get("created_at")),
      "id": _string(raw.get("id")),
      "other": _json_text(raw.get("other")),
  }


def to_flat(raw):
  """The flattened 2015 export record; rnd is derived from the id, so reruns agree."""
  nested = to_nested(raw)
  flat = {k: nested[k] for k in ("type", "public", "payload", "created_at", "id", "other")}
  for prefix, fields in (("repo", _REPO_FIELDS), ("actor", _USER_FIELDS),
                         ("org", _USER_FIELDS)):
    sub = nested[prefix] or {}
    for field in fields:
      flat[f"{prefix}_{field}"] = sub.get(field)
  digest = hashlib.sha1((nested["id"] or "").encode()).digest()
  flat["rnd"] = int.from_bytes(digest[:7], "big") / 2.0**56
  return flat


def convert(input_path, output_path, shape):
  """Write every event of the input (a JSON hour, or an export of either shape) as an
  Avro export of `shape`. Returns (written, refused) where refused lists (reason, text)
  of what could not be converted."""
  to_record = {NESTED: to_nested, FLAT: to_flat}[shape]
  records, refused = [], []
  for item in read_records([input_path]):
    if item[0] == "bad" or not isinstance(item[1], dict):
      refused.append(item[1:3] if item[0] == "bad" else ("not an object", repr(item[1])))
      continue
    try:
      records.append(to_record(item[1]))
    except ValueError as error:
      refused.append((str(error), json.dumps(item[1])[:200]))
  schema = fastavro.parse_schema(export_schema(shape))
  with FileSystems.create(output_path) as out:
    fastavro.writer(out, schema, records, codec="deflate")
  return len(records), refused

"""Record shapes: the Avro schemas in this folder and the field-level facts about GitHub
Archive records that both the sources (io/) and the transforms need. Depends on nothing.

The other contracts every layer shares live beside this: dead_letters.py (the dead-letter
record and the stages), counters.py (Metrics counter names), windows.py (window geometry)."""
import datetime
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))

__all__ = ["NESTED", "FLAT", "EARLIEST_MS", "LATEST_MS", "load_schema", "export_schema",
           "avro_shape", "created_at_micros"]

NESTED = "nested"   # BigQuery table / export shape, also the events-API JSON shape
FLAT = "flat"       # the flattened 2015 BigQuery table

# GitHub opened in 2008 and its archives start in 2011. An event time outside these
# bounds is corrupt, and one far ahead would open windows that no later data closes.
EARLIEST_MS = 1_167_609_600_000    # 2007-01-01T00:00:00Z
LATEST_MS = 4_102_444_800_000      # 2100-01-01T00:00:00Z


def load_schema(name):
  """The parsed JSON of schemas/<name>.avsc."""
  with open(os.path.join(HERE, name + ".avsc"), encoding="utf-8") as f:
    return json.load(f)


def export_schema(shape):
  """The Avro schema BigQuery writes for GitHub Archive tables of this shape."""
  return load_schema(
      {NESTED: "github_event_nested", FLAT: "github_event_flat"}[shape])


def avro_shape(field_names):
  """NESTED or FLAT for an Avro writer schema with these top-level fields; None if it is
  neither (a foreign schema)."""
  names = set(field_names)
  if {"type", "created_at", "actor_login", "repo_name"} <= names:
    return FLAT
  if {"type", "created_at", "actor", "repo"} <= names:
    return NESTED
  return None


_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def created_at_micros(value):
  """Event time in microseconds since the epoch, from any form GitHub Archive uses:
  ISO-8601 with Z or an offset (events API), 'YYYY-MM-DD HH:MM:SS' UTC (BigQuery tables),
  'YYYY/MM/DD HH:MM:SS -0800' (2011-12 timeline), a datetime, or a number (Avro exports
  hold microseconds; seconds and milliseconds are recognised by magnitude).
  Raises ValueError for anything else."""
  if isinstance(value, bool) or value is None:
    raise ValueError("no created_at")
  if isinstance(value, (int, float)):
    magnitude = abs(value)
    if magnitude >= 1e17:
      return int(value // 1000)          # nanoseconds
    if magnitude >= 1e14:
      return int(value)                  # microseconds
    if magnitude >= 1e11:
      return int(value * 1000)           # milliseconds
    return int(value * 1_000_000)        # seconds
  if isinstance(value, datetime.datetime):
    moment = value
  elif isinstance(value, str):
    text = value.strip()
    try:
      moment = datetime.datetime.fromisoformat(text)
    except ValueError:
      try:
        moment = datetime.datetime.strptime(text, "%Y/%m/%d %H:%M:%S %z")
      except ValueError:
        raise ValueError(f"unreadable created_at {value[:40]!r}") from None
  else:
    raise ValueError(f"created_at of type {type(value).__name__}")
  if moment.tzinfo is None:
    moment = moment.replace(tzinfo=datetime.timezone.utc)
  delta = moment - _EPOCH
  return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds

"""GitHub events as Kafka messages: the nested BigQuery export record in Avro single-object
encoding (marker C3 01, the schema's 8-byte CRC-64-AVRO fingerprint, the Avro body), which
names its schema in every message, plus a header with the schema's full name. Heartbeat
messages carry no event, only the producer's event-time progress in a header."""
import io

import fastavro
from fastavro.schema import fingerprint, to_parsing_canonical_form

from pulse.schemas import NESTED, export_schema

_SCHEMA = fastavro.parse_schema(export_schema(NESTED))
SCHEMA_NAME = _SCHEMA["name"]
MARKER = b"\xc3\x01"
FINGERPRINT = bytes.fromhex(  # fastavro gives the little-endian bytes the encoding wants
    fingerprint(to_parsing_canonical_form(_SCHEMA), "CRC-64-AVRO"))
PREFIX = MARKER + FINGERPRINT
SCHEMA_HEADER = "pulse.schema"
HEARTBEAT_HEADER = "pulse.event_time_ms"


class NotAnEvent(ValueError):
  """A message that is not an event of our schema; the message is the reason."""


def encode_event(record):
  """Bytes of a nested export record (see io/bigquery_export.to_nested)."""
  out = io.BytesIO()
  out.write(PREFIX)
  fastavro.schemaless_writer(out, _SCHEMA, record)
  return out.getvalue()


def decode_event(value):
  """The nested export record in a message value; NotAnEvent if it is not one."""
  if not value:
    raise NotAnEvent("empty message")
  if value[:2] != MARKER:
    raise NotAnEvent("not Avro single-object encoding (no C3 01 marker)")
  if value[2:10] != FINGERPRINT:
    raise NotAnEvent(f"Avro of another schema (fingerprint {value[2:10].hex()})")
  try:
    return fastavro.schemaless_reader(io.BytesIO(value[10:]), _SCHEMA)
  except Exception as error:     # fastavro raises several types for a bad body
    raise NotAnEvent(f"corrupt Avro body: {type(error).__name__}: {error}") from None


def heartbeat_headers(event_time_ms):
  return [(HEARTBEAT_HEADER, str(int(event_time_ms)).encode())]


def heartbeat_time(headers):
  """The event time a heartbeat message announces, or None for an ordinary message."""
  for key, value in headers or ():
    if key == HEARTBEAT_HEADER:
      return int(value)
  return None

"""GitHub events as Kafka messages: the nested BigQuery export record in Avro single-object
encoding (marker C3 01, the schema's 8-byte CRC-64-AVRO fingerprint, the Avro body), which
names its schema in every message, plus a header with the schema's full name. Heartbeat
messages carry no event, only the producer's event-time progress in a header.
BrokerWatch tells, for both ends, when the broker is gone and when it is back."""
import io
import time

import fastavro
from fastavro.schema import fingerprint, to_parsing_canonical_form

from pulse.schemas import EARLIEST_MS, LATEST_MS, NESTED, export_schema

__all__ = ["encode_event", "decode_event", "NotAnEvent", "heartbeat_headers",
           "heartbeat_time", "BrokerWatch", "SCHEMA_NAME", "SCHEMA_HEADER",
           "HEARTBEAT_HEADER", "MARKER", "FINGERPRINT", "PREFIX"]

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
  """The nested export record in a message value; NotAnEvent if it is not one, or if its
  created_at is no event time: the source reads event time before any other step, and one
  far ahead would make every later event of its partition late."""
  if not value:
    raise NotAnEvent("empty message")
  if value[:2] != MARKER:
    raise NotAnEvent("not Avro single-object encoding (no C3 01 marker)")
  if value[2:10] != FINGERPRINT:
    raise NotAnEvent(f"Avro of another schema (fingerprint {value[2:10].hex()})")
  body = value[10:]
  stream = io.BytesIO(body)
  try:
    record = fastavro.schemaless_reader(stream, _SCHEMA)
  except Exception as error:     # fastavro raises several types for a bad body
    raise NotAnEvent(f"corrupt Avro body: {type(error).__name__}: {error}") from None
  if stream.tell() != len(body):
    raise NotAnEvent(f"{len(body) - stream.tell()} bytes after the Avro body")
  created_at = record["created_at"]          # microseconds, by the schema
  if created_at is None:
    raise NotAnEvent("no created_at")
  if not EARLIEST_MS * 1000 <= created_at < LATEST_MS * 1000:
    raise NotAnEvent(f"created_at {created_at} µs is outside 2007-2099")
  return record


def heartbeat_headers(event_time_ms):
  return [(HEARTBEAT_HEADER, str(int(event_time_ms)).encode())]


def heartbeat_time(headers):
  """The event time a heartbeat message announces, or None for an ordinary message. A
  header naming no event time of 2007-2099 makes no heartbeat (the message is then read,
  and refused, as an event): it must neither stop the source nor move its clock."""
  for key, value in headers or ():
    if key == HEARTBEAT_HEADER:
      try:
        event_ms = int(value)
      except (TypeError, ValueError):
        return None
      return event_ms if EARLIEST_MS <= event_ms < LATEST_MS else None
  return None


class BrokerWatch:
  """A Kafka client's error_cb: says once when no broker answers, again every every_s
  seconds while that lasts (tick), and how long it lasted once one does (ok)."""
  def __init__(self, say, every_s=5.0):
    self.say, self.every_s = say, every_s
    self.down_since = self._said_at = self._probed_at = None

  def config(self):
    """Client settings with the watch. Quieter librdkafka logs: it would print every
    failed reconnect, many lines a second per client, and its errors reach the watch."""
    return {"error_cb": self, "log_level": 2}

  def __call__(self, error):
    from confluent_kafka import KafkaError
    if error.code() == KafkaError._ALL_BROKERS_DOWN:
      if self.down_since is None:
        self.down_since = self._said_at = self._probed_at = time.monotonic()
        self.say("Kafka unreachable: all brokers down; waiting for one")
    elif error.code() != KafkaError._TRANSPORT:     # one failed (re)connect of many
      self.say(f"Kafka: {error.str()}")

  def ok(self):
    """A broker answered (a delivery, metadata; not a message read: it may have been
    fetched before)."""
    if self.down_since is not None:
      self.say(f"Kafka reachable again after {time.monotonic() - self.down_since:.1f} s")
      self.down_since = None

  def tick(self, detail=None, probe=None):
    """Seconds without a broker so far (0 with one). Once a second probe() (if given) may
    find one; every every_s seconds say how long it has been, and detail() if given."""
    if self.down_since is None:
      return 0.0
    now = time.monotonic()
    if probe is not None and now - self._probed_at >= 1.0:
      self._probed_at = now
      if probe():
        self.ok()
        return 0.0
    if now - self._said_at >= self.every_s:
      self._said_at = now
      self.say(f"Kafka still unreachable after {now - self.down_since:.0f} s"
               + (detail() if detail else ""))
    return now - self.down_since

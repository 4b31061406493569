"""Writing dicts as JSON lines (edges, dead letters) to any Beam filesystem path."""
import json
import logging

import apache_beam as beam

LOG = logging.getLogger(__name__)


class WriteJsonLines(beam.PTransform):
  """Dicts -> one JSON object per line in the single file `path`."""
  def __init__(self, path):
    super().__init__()
    self.path = path

  def expand(self, records):
    return (records
            | "ToJson" >> beam.Map(
                lambda record: json.dumps(record, ensure_ascii=False, sort_keys=True))
            | "Write" >> beam.io.WriteToText(
                self.path, shard_name_template="", num_shards=1))


class WriteDeadLetters(beam.PTransform):
  """Dead letters -> JSON lines at `path`; with no path, each is logged as a warning so
  none vanishes silently."""
  def __init__(self, path=None):
    super().__init__()
    self.path = path

  def expand(self, letters):
    if self.path:
      return letters | "WriteDeadLetters" >> WriteJsonLines(self.path)
    return letters | "LogDeadLetters" >> beam.Map(_log)


def _log(letter):
  LOG.warning("dead letter (%s): %s: %.200s", letter["stage"], letter["reason"],
              letter["record"])

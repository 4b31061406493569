"""The floor under any speed of the pipeline on realistic Avro: what only reading the
records costs, per event, in CPU time of one process, before anything is done with them.

- inflating the blocks: zlib against ISA-L (isal, what io/avro_records.py uses);
- inflating and decoding as the pipeline reads (io/avro_records.avro_records: the block
  checks, ISA-L, fastavro);
- polars' own Avro reader (`pl.read_avro`, the peer's; columns, not Python objects), when
  polars is installed (`pip install -e '.[bench]'`).

Each is run --repeats times, alternately; medians. The file is bench/vs_peer.py's
realistic export (written there first if missing).

  python bench/decode_floor.py [--events 1000000] [--records 300000] [--repeats 5]
"""
import argparse
import itertools
import os
import statistics
import sys
import time
import zlib

from isal import isal_zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vs_peer import realistic   # noqa: E402

from pulse.io.avro_records import avro_records               # noqa: E402
from pulse.io.avro_schema import SYNC_BYTES, checked_header, read_long   # noqa: E402


def stored_blocks(path, records):
  """(count, stored bytes) of the file's first blocks holding `records` records."""
  blocks, total = [], 0
  with open(path, "rb") as f:
    checked_header(f)
    while total < records:
      count = read_long(f)
      if count is None:
        break
      blocks.append((count, f.read(read_long(f))))
      f.read(SYNC_BYTES)
      total += count
  return blocks


def inflate_with(module, blocks):
  def run():
    for _, data in blocks:
      module.decompressobj(-15).decompress(data)
  return run


def read_as_pipeline(path, records):
  def run():
    with open(path, "rb") as f:
      for _ in itertools.islice(avro_records(f, path), records):
        pass
  return run


def polars_reader(path, records):
  import polars as pl

  def run():
    pl.read_avro(path, n_rows=records)
  return run


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--events", type=int, default=1_000_000)
  parser.add_argument("--records", type=int, default=300_000)
  parser.add_argument("--repeats", type=int, default=5)
  args = parser.parse_args()
  path = realistic(args.events, 0)
  blocks = stored_blocks(path, args.records)
  records = sum(count for count, _ in blocks)
  contenders = {"inflate, zlib": inflate_with(zlib, blocks),
                "inflate, ISA-L": inflate_with(isal_zlib, blocks),
                "inflate + decode (avro_records)": read_as_pipeline(path, records)}
  try:
    contenders["polars read_avro"] = polars_reader(path, records)
  except ImportError:
    print("polars not installed: its reader is left out", file=sys.stderr)
  runs = {name: [] for name in contenders}
  for _ in range(args.repeats):
    for name, run in contenders.items():
      started = time.process_time()
      run()
      runs[name].append((time.process_time() - started) / records * 1e6)
  print(f"{records:,} records of {path}; CPU-us an event, medians of {args.repeats}")
  for name, times in runs.items():
    print(f"  {name:34s} {statistics.median(times):6.1f}   "
          f"({' / '.join(f'{t:.1f}' for t in times)})")


if __name__ == "__main__":
  main()

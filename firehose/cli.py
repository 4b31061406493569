"""pulse firehose: replay GitHub Archive files into Kafka at a set rate."""
import argparse
import json
import sys

from pulse.firehose.replay import Settings, run


def main(argv):
  parser = argparse.ArgumentParser(
      prog="pulse firehose",
      description="Replay GitHub Archive files (JSON hours or Avro exports, local, s3:// "
                  "or gs://, globs) into a Kafka topic: each event as Avro single-object "
                  "encoding of the nested BigQuery export schema, keyed by actor.")
  parser.add_argument("--input", action="append", required=True,
                      help="files to replay; repeat or comma-separate")
  parser.add_argument("--bootstrap_servers", required=True, help="HOST:PORT of Kafka")
  parser.add_argument("--topic", required=True,
                      help="topic to write (created with --partitions if missing)")
  parser.add_argument("--rate", type=float, default=1000.0,
                      help="target events/s over all producers; 0 = as fast as possible "
                           "(default 1000)")
  parser.add_argument("--producers", type=int, default=1,
                      help="producer processes; producer k of K sends every K-th event, so "
                           "all move through event time together (default 1)")
  parser.add_argument("--speedup", type=float, default=0.0,
                      help="also pace by event time, X times faster than it happened "
                           "(3600 replays an hour in a second); 0 = pace by --rate only. "
                           "With both, the slower of the two holds")
  parser.add_argument("--loop", action="store_true",
                      help="replay again and again; each pass is shifted later in event "
                           "time by the input's span (whole hours) and its ids get ~PASS")
  parser.add_argument("--partitions", type=int, default=4,
                      help="partitions of the topic if it is created (default 4)")
  parser.add_argument("--max_events", type=int, default=0,
                      help="stop after this many events (0 = no limit)")
  parser.add_argument("--no_close", action="store_true",
                      help="do not close the replayed time at the end (by default a last "
                           "heartbeat a day past the final event lets streaming consumers "
                           "fire every window; never sent with --loop)")
  parser.add_argument("--delivery_timeout", type=float, default=120.0,
                      help="seconds an event may wait for Kafka (a broker restarting, say) "
                           "before it counts as failed; while no broker answers, new events "
                           "are held back, and after this long the replay stops "
                           "(default 120)")
  parser.add_argument("--quiet", action="store_true", help="no progress lines")
  args = parser.parse_args(argv)
  settings = Settings(
      [p.strip() for arg in args.input for p in arg.split(",") if p.strip()],
      args.bootstrap_servers, args.topic, rate=args.rate, producers=args.producers,
      speedup=args.speedup, loop=args.loop, partitions=args.partitions,
      max_events=args.max_events, quiet=args.quiet, close=not args.no_close,
      delivery_timeout_s=args.delivery_timeout)
  total = run(settings)
  print(f"firehose: {total['delivered']:,} events delivered to {args.topic} in "
        f"{total['seconds']:.1f} s ({total['events_per_second']:,.0f} events/s), "
        f"{total['failed']:,} failed, {total['unreadable']:,} unreadable records skipped")
  for error in total["errors"]:
    print(f"firehose: delivery error: {error}", file=sys.stderr)
  for reason in total["stopped"]:
    print(f"firehose: stopped early: {reason}", file=sys.stderr)
  print("summary: " + json.dumps({k: v for k, v in total.items() if k != "errors"}))
  return 1 if total["failed"] or total["stopped"] else 0

"""pulse ui: serve the live web UI over a frame store."""
import argparse
import logging
import sys

from pulse.io.stores import open_store
from pulse.io.uris import redact
from pulse.ui.server import create_app, missing_vendor_files, serve

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def main(argv):
  parser = argparse.ArgumentParser(
      prog="pulse ui", description="Serve a live web page over a frame store: the current "
      "window's clusters as a graph, charts over time, a timeline of the stored frames; "
      "each new frame is pushed to every open page.")
  parser.add_argument("--sink", required=True, help="the store, e.g. sqlite://out/frames.db")
  parser.add_argument("--host", default="127.0.0.1",
                      help="address to bind (default 127.0.0.1: this machine only)")
  parser.add_argument("--port", type=int, default=5000, help="port (default 5000)")
  args = parser.parse_args(argv)
  missing = missing_vendor_files()
  if missing:
    raise ValueError("the page's JavaScript is not set up (missing ui/static/vendor/"
                     f"{missing[0]}): run `cd ui && npm ci && npm run vendor`")
  open_store(args.sink, create=False).close()    # a typo is no empty store
  app, _, start = create_app(args.sink)
  start()
  print(f"pulse ui: http://{args.host}:{args.port}/  (frames from {redact(args.sink)}; "
        "Ctrl-C stops)", file=sys.stderr, flush=True)
  if args.host not in LOOPBACK:
    print(f"pulse ui: warning: --host {args.host} serves the frames, without any login, to "
          "every machine that can reach it", file=sys.stderr, flush=True)
  # Werkzeug's request handling, in a server whose threads and waits are bounded (not
  # socketio.run's thread per connection); its per-request lines are noise here.
  logging.getLogger("werkzeug").setLevel(logging.ERROR)
  serve(app, args.host, args.port)
  return 0

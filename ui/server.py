"""The live UI's server: Flask serves the page and the stored frames, Flask-SocketIO pushes
each frame as it lands (a background task following store.subscribe()) to every browser."""
import logging
import os
import threading

from flask import Flask, abort, jsonify, request, send_from_directory
from flask_socketio import SocketIO

from pulse.io.stores import open_store
from pulse.io.uris import redact

LOG = logging.getLogger(__name__)
STATIC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
VENDOR_FILES = ("sigma.min.js", "graphology.umd.min.js", "socket.io.min.js",
                "plotly.min.js")
SUMMARY_KEYS = ("id", "window_start", "window_end", "edges", "vertices", "components",
                "size_histogram")


def missing_vendor_files():
  return [f for f in VENDOR_FILES if not os.path.exists(os.path.join(STATIC, "vendor", f))]


def summary(frame):
  """What the timeline and the charts need of a frame (the graph fetches the rest)."""
  out = {k: frame.get(k) for k in SUMMARY_KEYS}
  sizes = [int(s) for s in (frame.get("size_histogram") or {})]
  out["largest"] = max(sizes, default=0)
  return out


class Frames:
  """Every frame seen, by id: loaded from the store, then kept current by the follower."""
  def __init__(self):
    self.lock = threading.Lock()
    self.by_id = {}

  def put(self, frame):
    with self.lock:
      self.by_id[frame["id"]] = frame

  def get(self, frame_id):
    with self.lock:
      return self.by_id.get(frame_id)

  def summaries(self):
    with self.lock:
      frames = sorted(self.by_id.values(),
                      key=lambda f: (f["window_start"], f["window_end"], f["id"]))
    return [summary(f) for f in frames]


def create_app(sink):
  """(app, socketio, start): start() loads the store and begins following it; call it once
  before serving."""
  app = Flask(__name__, static_folder=STATIC, static_url_path="/static")
  # Threads, not eventlet/gevent: the store's blocking reads need no monkey-patching.
  # cors_allowed_origins None: sockets only from the page's own origin ([] would turn the
  # Origin check off, so any web site open in the browser could read the frames).
  socketio = SocketIO(app, async_mode="threading", cors_allowed_origins=None)
  shown = redact(sink)        # the password of a rethinkdb:// sink stays here
  frames = Frames()
  started = threading.Event()

  @app.get("/")
  def index():
    return send_from_directory(STATIC, "index.html")

  @app.get("/api/frames")
  def list_frames():
    return jsonify({"sink": shown, "frames": frames.summaries()})

  @app.get("/api/frame")
  def one_frame():
    frame = frames.get(request.args.get("id", ""))
    if frame is None:
      abort(404)
    return jsonify(frame)

  @app.after_request
  def no_sniffing(response):
    # The page runs only our own scripts; data never becomes markup.
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; script-src 'self'; "
        "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
        "connect-src 'self' ws: wss:")
    return response

  def follow(feed):
    try:
      for frame in feed:
        frames.put(frame)
        socketio.emit("frame", frame)
    except Exception:     # a broken feed: the page keeps what it has
      LOG.exception("following %s stopped", shown)

  def start():
    if started.is_set():
      return
    started.set()
    store = open_store(sink)
    # Subscribe before reading, so no frame falls between the two (repeats are harmless).
    feed = store.subscribe() if store.can_subscribe else None
    for frame in store.frames():
      frames.put(frame)
    LOG.info("%d frames in %s%s", len(frames.by_id), shown,
             "; following new ones" if feed is not None else " (this store cannot be followed)")
    if feed is not None:
      socketio.start_background_task(follow, feed)

  return app, socketio, start

"""The live UI's server: Flask serves the page and the stored frames, Flask-SocketIO pushes
each frame as it lands (a background task following store.subscribe()) to every browser;
serve() runs them in a server whose threads and waits are bounded (BoundedServer)."""
import io
import logging
import os
import queue
import re
import selectors
import socket
import threading
import time

from flask import Flask, abort, jsonify, request, send_from_directory
from flask_socketio import SocketIO
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler

from pulse.io.stores import open_store
from pulse.io.uris import redact
from pulse.ui.history import cluster_history

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
  out["clustered"] = sum(int(c.get("size") or 0) for c in frame.get("clusters") or ())
  return out


def opening_frame(summaries):
  """The id of the frame the page opens on: the newest window that holds clusters.

  Among the frames whose windows overlap the newest frame's window, the one with the most
  members in listed clusters (the newest of equals). A finished run's last windows reach
  past its last event and fade out over exactly these frames (two tiny clusters at the
  end), the first of them being the last full window; in a live store they are the last
  window's worth of complete frames. None when there are no frames."""
  if not summaries:
    return None
  newest = summaries[-1]
  recent = [s for s in summaries if s["window_end"] > newest["window_start"]]
  return max(reversed(recent), key=lambda s: s["clustered"])["id"]


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

  def ordered(self):
    """Every frame, in store order (window_start, window_end, id)."""
    with self.lock:
      return sorted(self.by_id.values(),
                    key=lambda f: (f["window_start"], f["window_end"], f["id"]))

  def summaries(self):
    return [summary(f) for f in self.ordered()]


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
    listed = frames.summaries()
    return jsonify({"sink": shown, "frames": listed, "open": opening_frame(listed)})

  @app.get("/api/frame")
  def one_frame():
    frame = frames.get(request.args.get("id", ""))
    if frame is None:
      abort(404)
    return jsonify(frame)

  @app.get("/api/history")
  def one_history():
    # Over the frames in memory (the store's, kept current by the follower). An unknown id
    # is a plain 404 that does not repeat it.
    try:
      return jsonify(cluster_history(frames.ordered(), request.args.get("id", "")))
    except ValueError:
      abort(404)

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


# ---- serving ----------------------------------------------------------------------------
# Werkzeug's threaded server (what socketio.run starts) gives every connection a thread of
# its own, which waits as long as the client likes for the rest of the request: a client
# that opens connections and never finishes a request ties up a thread each, unbounded.
# Here one thread (the caller's) reads every connection's request head, and a small body,
# as it arrives, without waiting on any; only complete requests go to a fixed pool of
# workers. Werkzeug answers every request with "Connection: close", so one per connection.
HEAD_TIMEOUT_S = 10       # to send the request head (and a body of up to MAX_BODY)
IO_TIMEOUT_S = 20         # each read or whole write of a worker on its request's socket
WEBSOCKET_IDLE_S = 60     # a websocket silent this long is closed (engine.io pings: 25 s)
WORKERS = 24
MAX_WEBSOCKETS = 16       # each holds a worker and 3 threads of engine.io's: at most ~76
MAX_PENDING = 512         # connections still sending their request (beyond: the oldest goes)
MAX_QUEUED = 256          # complete requests waiting for a worker (beyond: refused, 503)
MAX_HEAD, MAX_BODY = 32 * 1024, 1024 * 1024
_HEAD_END = re.compile(rb"\r?\n\r?\n")
_LENGTH = re.compile(rb"\ncontent-length:[ \t]*(\d+)", re.IGNORECASE)
_CONTINUE = re.compile(rb"\nexpect:[ \t]*100-continue", re.IGNORECASE)


def request_end(data):
  """How many bytes the request that `data` begins needs read before a worker takes it
  (its head, and its body when one of up to MAX_BODY is declared), or None while its head
  is incomplete."""
  end = _HEAD_END.search(data, 0, MAX_HEAD + 4)
  if end is None:
    return None
  head = data[:end.end()]
  length = _LENGTH.search(head)
  body = int(length.group(1)) if length and not _CONTINUE.search(head) else 0
  return end.end() + (body if body <= MAX_BODY else 0)


class _ReadFirst(io.RawIOBase):
  """A socket read as a file, what was already read from it first."""
  def __init__(self, sock, first):
    self.sock, self.first = sock, memoryview(first)

  def readable(self):
    return True

  def readinto(self, buffer):
    if not self.first:
      return self.sock.recv_into(buffer)
    n = min(len(buffer), len(self.first))
    buffer[:n], self.first = self.first[:n], self.first[n:]
    return n


class _Handler(WSGIRequestHandler):
  """Werkzeug's handler, given (socket, bytes already read from it) as its request."""
  protocol_version = "HTTP/1.1"
  timeout = IO_TIMEOUT_S

  def setup(self):
    self.request, first = self.request
    super().setup()
    self.rfile.close()      # the socket's own file, replaced (it would hold the socket open)
    self.rfile = io.BufferedReader(_ReadFirst(self.connection, first))


def _limit_websockets(app):
  """app, taking at most MAX_WEBSOCKETS websockets at a time (each holds its worker)."""
  slots = threading.BoundedSemaphore(MAX_WEBSOCKETS)

  def limited(environ, start_response):
    if environ.get("HTTP_UPGRADE", "").lower() != "websocket":
      return app(environ, start_response)
    if not slots.acquire(blocking=False):
      start_response("503 Service Unavailable", [("Content-Type", "text/plain"),
                                                 ("Retry-After", "10")])
      return [b"too many open pages\n"]
    try:
      environ["werkzeug.socket"].settimeout(WEBSOCKET_IDLE_S)
      return app(environ, start_response)     # returns when the websocket closes
    finally:
      slots.release()
  return limited


def _refuse(sock, status):
  try:        # a courtesy: the socket does not wait to send it
    sock.send(f"HTTP/1.1 {status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
              .encode())
  except OSError:
    pass
  sock.close()


class BoundedServer(BaseWSGIServer):
  """Werkzeug's WSGI server with its threads and waits bounded (see above)."""
  multithread = True

  def __init__(self, host, port, app):
    super().__init__(host, port, _limit_websockets(app), handler=_Handler)
    self.ready = queue.Queue(MAX_QUEUED)
    self.pending = {}       # socket -> [address, bytes read, deadline]: oldest first
    self.selector = selectors.DefaultSelector()

  def serve_forever(self, poll_interval=0.5):
    for n in range(WORKERS):
      threading.Thread(target=self._work, name=f"pulse-ui-worker-{n}", daemon=True).start()
    self.socket.setblocking(False)
    self.selector.register(self.socket, selectors.EVENT_READ)
    try:
      while True:
        for key, _ in self.selector.select(timeout=poll_interval):
          if key.fileobj is self.socket:
            self._accept()
          else:
            self._read(key.fileobj)
        now = time.monotonic()
        while self.pending and next(iter(self.pending.values()))[2] < now:
          self._drop(next(iter(self.pending)), "408 Request Timeout")
    except KeyboardInterrupt:
      pass
    finally:
      self.selector.close()
      self.server_close()

  def _drop(self, sock, status=None):
    self.selector.unregister(sock)
    del self.pending[sock]
    if status:
      _refuse(sock, status)
    else:
      sock.close()

  def _accept(self):
    while True:
      try:
        sock, address = self.socket.accept()
      except (BlockingIOError, InterruptedError):
        return
      except OSError:       # out of file descriptors, say: make room
        if self.pending:
          self._drop(next(iter(self.pending)))
        return
      if len(self.pending) >= MAX_PENDING:
        self._drop(next(iter(self.pending)), "408 Request Timeout")
      sock.setblocking(False)
      self.pending[sock] = [address, b"", time.monotonic() + HEAD_TIMEOUT_S]
      self.selector.register(sock, selectors.EVENT_READ)

  def _read(self, sock):
    entry = self.pending[sock]
    try:
      data = sock.recv(65536)
    except (BlockingIOError, InterruptedError):
      return
    except OSError:
      data = b""
    if not data:
      return self._drop(sock)
    entry[1] += data
    end = request_end(entry[1])
    if end is None:
      if len(entry[1]) > MAX_HEAD:
        self._drop(sock, "431 Request Header Fields Too Large")
      return
    if len(entry[1]) < end:
      return
    self.selector.unregister(sock)
    del self.pending[sock]
    try:
      self.ready.put_nowait((sock, entry[0], entry[1]))
    except queue.Full:
      _refuse(sock, "503 Service Unavailable")

  def _work(self):
    while True:
      sock, address, first = self.ready.get()
      try:
        sock.setblocking(True)
        self.finish_request((sock, first), address)
      except Exception:
        self.handle_error(sock, address)
      finally:
        self.shutdown_request(sock)

  def shutdown_request(self, request):
    try:        # both ways: wakes a websocket's reader still waiting on it
      request.shutdown(socket.SHUT_RDWR)
    except OSError:
      pass
    request.close()


def serve(app, host, port):
  """Serve app (the Flask app, its socket.io included) on host:port until interrupted."""
  BoundedServer(host, port, app).serve_forever()

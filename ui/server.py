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
from flask_compress import Compress
from flask_socketio import SocketIO
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler

from pulse.io.stores import open_store
from pulse.io.stores.base import frame_summary
from pulse.io.uris import redact
from pulse.ui.history import born_at, cluster_history
from pulse.ui.paging import FrameCache, StoreReader, Summaries, frames_from

LOG = logging.getLogger(__name__)
STATIC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
VENDOR_FILES = ("sigma.min.js", "graphology.umd.min.js", "socket.io.min.js",
                "plotly.min.js")
GZIP_FROM = 4096          # bytes: smaller JSON answers go as they are


def missing_vendor_files():
  return [f for f in VENDOR_FILES if not os.path.exists(os.path.join(STATIC, "vendor", f))]


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


def create_app(sink):
  """(app, socketio, start): start() reads the store's summaries and begins following it;
  call it once before serving.

  The server keeps every window's summary (Summaries) and the last CACHED_FRAMES whole
  frames it served or was pushed (FrameCache); any other frame is read from the store
  when asked for, and a cluster's history from its birth on, a chunk of windows at a
  time, until its life ends (paging.frames_from)."""
  app = Flask(__name__, static_folder=STATIC, static_url_path="/static")
  # The summaries of a week of windows are 1.6 MB of JSON, about 0.2 MB gzipped.
  app.config.update(COMPRESS_MIMETYPES=["application/json"], COMPRESS_MIN_SIZE=GZIP_FROM,
                    COMPRESS_ALGORITHM=["gzip"], COMPRESS_LEVEL=5)
  Compress(app)
  # Threads, not eventlet/gevent: the store's blocking reads need no monkey-patching.
  # cors_allowed_origins None: sockets only from the page's own origin ([] would turn the
  # Origin check off, so any web site open in the browser could read the frames).
  socketio = SocketIO(app, async_mode="threading", cors_allowed_origins=None)
  shown = redact(sink)        # the password of a rethinkdb:// sink stays here
  summaries, cache, reader = Summaries(), FrameCache(), StoreReader()
  started = threading.Event()

  @app.get("/")
  def index():
    return send_from_directory(STATIC, "index.html")

  @app.get("/api/frames")
  def list_frames():
    # Every window's summary (or those starting in [start, end) ms), and where to open.
    try:
      start, end = (None if request.args.get(k) in (None, "") else int(request.args[k])
                    for k in ("start", "end"))
    except ValueError:
      abort(400)
    return jsonify({"sink": shown, "frames": summaries.between(start, end),
                    "open": opening_frame(summaries.between())})

  @app.get("/api/frame")
  def one_frame():
    frame_id = request.args.get("id", "")
    if frame_id not in summaries:          # no store read for an id no window has
      abort(404)
    frame = cache.get(frame_id)
    if frame is None:
      frame = reader.frame(frame_id)
      if frame is None:
        abort(404)
      cache.put(frame)
    return jsonify(frame)

  @app.get("/api/history")
  def one_history():
    # Read from the store from the cluster's birth on, until its life ends. An unknown id
    # is a plain 404 that does not repeat it.
    cluster_id = request.args.get("id", "")
    frames = frames_from(reader, summaries, born_at(cluster_id))
    try:
      return jsonify(cluster_history(frames, cluster_id))
    except ValueError:
      abort(404)
    finally:
      frames.close()

  @app.get("/api/stats")
  def stats():
    # What the server holds: summaries, cached frames, and frames read from the store.
    return jsonify({"summaries": len(summaries), "cached_frames": len(cache),
                    "cache_size": cache.size, "frames_read": reader.read})

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
        summaries.put(frame_summary(frame))
        cache.put(frame)            # the newest frames: what a live page asks for next
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
    reader.store = store
    for summary in reader.summaries():
      summaries.put(summary)
    LOG.info("%d frames in %s%s", len(summaries), shown,
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

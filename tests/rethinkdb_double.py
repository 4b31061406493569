"""RethinkDBDouble: a TEST DOUBLE of a RethinkDB server for tests. It is NOT a database.

It speaks just enough of the client wire protocol for the official Python driver to run the
queries of pulse.io.stores.rethinkdb_store, keeping everything in memory:
  handshake   V1_0 magic (c3 bd c2 34), then NUL-terminated JSON messages carrying
              SCRAM-SHA-256 (RFC 5802/7677) for the configured users; a wrong password or an
              unknown user gets the server's own error (codes 12 and 17)
  queries     12-byte header (token u64, length u32, little-endian) + JSON
              [type, term, global options],
              answered with {"t": response type, "r": [...]} (+ "n" notes for a changefeed)
  terms       DB, TABLE, DB_CREATE/LIST, TABLE_CREATE/LIST, INDEX_CREATE/LIST/WAIT (simple
              field indexes only), INSERT (conflict error|replace), GET (by primary key:
              the document or null; a key over 127 bytes refused), ORDER_BY {index},
              MAX {index}, BETWEEN {index} (of a table; bounds numbers, MINVAL or
              MAXVAL; lower closed, upper open), PLUCK (fields, and nested selectors
              {field: selector} of objects and arrays of objects), CHANGES
              {include_initial}, MAKE_ARRAY; any other term gets a RUNTIME_ERROR naming it
  cursors     sequences come in SUCCESS_PARTIAL batches answered per CONTINUE; a changefeed
              is a partial sequence that never ends and answers a CONTINUE once it has
              changes; STOP ends either
stop() drops every connection and the listener; restart() listens again on the same port
with the same data, like a server restart; crash_on_insert() stops it in the middle of a
write (the insert neither applied nor answered), to come back later or never.

  with RethinkDBDouble(users={"admin": "", "pulse": "pw"}) as server:
    r.connect("127.0.0.1", server.port, user="pulse", password="pw")
"""
import base64
import copy
import hashlib
import hmac
import json
import os
import socket
import struct
import threading
import time
import uuid

HOST = "127.0.0.1"
MAGIC_V1_0 = struct.pack("<L", 885177795)      # VersionDummy.Version.V1_0
ITERATIONS = 4096                              # the server's default for new passwords
BATCH = 50                                     # documents per sequence response

# ql2.proto numbers (tests check them against the driver's rethinkdb/ql2_pb2.py)
QUERY = {"START": 1, "CONTINUE": 2, "STOP": 3, "NOREPLY_WAIT": 4, "SERVER_INFO": 5}
RESPONSE = {"SUCCESS_ATOM": 1, "SUCCESS_SEQUENCE": 2, "SUCCESS_PARTIAL": 3,
            "WAIT_COMPLETE": 4, "SERVER_INFO": 5, "CLIENT_ERROR": 16, "RUNTIME_ERROR": 18}
ERROR = {"INTERNAL": 1000000, "QUERY_LOGIC": 3000000, "NON_EXISTENCE": 3100000,
         "OP_FAILED": 4100000}
SEQUENCE_FEED = 1                              # Response.ResponseNote
TERM = {"MAKE_ARRAY": 2, "DB": 14, "TABLE": 15, "GET": 16, "PLUCK": 33, "ORDER_BY": 41, "INSERT": 56,
        "DB_CREATE": 57, "DB_LIST": 59, "TABLE_CREATE": 60, "TABLE_LIST": 62,
        "INDEX_CREATE": 75, "INDEX_LIST": 77, "INDEX_WAIT": 140, "MAX": 148,
        "CHANGES": 152, "MINVAL": 180, "MAXVAL": 181, "BETWEEN": 182}
MINVAL, MAXVAL = float("-inf"), float("inf")   # r.minval and r.maxval, as bounds
_TERM_NAME = {number: name for name, number in TERM.items()}


def _term_name(number):
  """The proto name of any term, for the error on one the double does not implement."""
  try:
    from rethinkdb.ql2_pb2 import Term
    names = {v: k for k, v in vars(Term.TermType).items() if not k.startswith("_")}
  except ImportError:
    names = {}
  return names.get(number, _TERM_NAME.get(number, "?"))


class _QueryError(Exception):
  def __init__(self, message, error_type=ERROR["QUERY_LOGIC"]):
    super().__init__(message)
    self.error_type = error_type


class _AuthError(Exception):
  def __init__(self, code, message):
    super().__init__(message)
    self.code = code


class _Table:
  def __init__(self, db, name, primary_key):
    self.db, self.name, self.primary_key = db, name, primary_key
    self.docs = {}
    self.indexes = []
    self.feeds = []

  def label(self):
    return f"`{self.db}.{self.name}`"

  def index(self, name):
    if name != self.primary_key and name not in self.indexes:
      raise _QueryError(f"Index `{name}` was not found on table {self.label()}.",
                        ERROR["OP_FAILED"])
    return name

  def ordered(self, index):
    # A secondary index orders ties by primary key, as the server does.
    return sorted(self.docs.values(), key=lambda d: (d[index], d[self.primary_key]))


class _Stream(list):
  """A sequence result, sent in batches."""


class _Feed:
  """One changefeed: changes queue up until the client's CONTINUE asks for them."""
  def __init__(self, conn, token):
    self.conn, self.token = conn, token
    self.pending = []
    self.asked = False      # a CONTINUE waits for changes

  def push(self, changes):
    self.pending.extend(changes)
    self.flush()

  def flush(self):
    if self.asked and self.pending:
      self.asked = False
      batch, self.pending = self.pending, []
      self.conn.send(self.token, {"t": RESPONSE["SUCCESS_PARTIAL"], "r": batch,
                                  "n": [SEQUENCE_FEED]})


class _Connection:
  def __init__(self, server, sock):
    self.server, self.sock = server, sock
    self.send_lock = threading.Lock()
    self.cursors = {}        # token -> remaining _Stream or a _Feed

  def send(self, token, response):
    body = json.dumps(response, separators=(",", ":")).encode()
    try:
      with self.send_lock:
        self.sock.sendall(struct.pack("<QL", token, len(body)) + body)
    except OSError:
      pass                   # the client went away; its reader notices

  def recv_exactly(self, n):
    data = b""
    while len(data) < n:
      chunk = self.sock.recv(n - len(data))
      if not chunk:
        raise ConnectionError("client closed the connection")
      data += chunk
    return data

  def recv_message(self):
    """One NUL-terminated handshake message, as JSON."""
    data = b""
    while not data.endswith(b"\0"):
      data += self.recv_exactly(1)
    return json.loads(data[:-1])

  def send_message(self, message):
    self.sock.sendall(json.dumps(message).encode() + b"\0")

  def serve(self):
    try:
      if not self.handshake():
        return
      while True:
        token, length = struct.unpack("<QL", self.recv_exactly(12))
        self.query(token, json.loads(self.recv_exactly(length)))
    except (OSError, ConnectionError, ValueError):
      pass
    finally:
      self.server._forget(self)

  def handshake(self):
    if self.recv_exactly(4) != MAGIC_V1_0:
      self.send_message({"success": False, "error_code": -1, "error": "Received an "
                         "unsupported protocol version. This port is for RethinkDB "
                         "queries."})
      return False
    self.send_message({"success": True, "min_protocol_version": 0,
                       "max_protocol_version": 0, "server_version": "2.4.4 (test double)"})
    try:
      first = self.recv_message()
      if first.get("authentication_method") != "SCRAM-SHA-256":
        raise _AuthError(4, "Unsupported `authentication_method`.")
      scram = _Scram(self.server.users)
      self.send_message({"success": True, "authentication": scram.first(
          first["authentication"])})
      final = self.recv_message()
      self.send_message({"success": True, "authentication": scram.final(
          final["authentication"])})
      return True
    except _AuthError as e:
      self.send_message({"success": False, "error": str(e), "error_code": e.code})
      return False

  def query(self, token, message):
    kind = message[0]
    if kind == QUERY["START"]:
      if self.server._crashes_on(message[1]):
        return                   # the client waits for an answer that never comes
      options = message[2] if len(message) > 2 else {}
      noreply = options.get("noreply", False)
      try:
        result = self.server.run(message[1], options, self, token)
      except Exception as e:     # a bug in the double must show, not hang the client
        if not noreply:
          self.send(token, {"t": RESPONSE["RUNTIME_ERROR"], "e": getattr(
              e, "error_type", ERROR["INTERNAL"]), "r": [str(e) or repr(e)], "b": []})
        return
      if noreply:
        return
      if isinstance(result, _Table):           # r.table(...).run(): every document
        result = _Stream(copy.deepcopy(list(result.docs.values())))
      if isinstance(result, _Feed):
        with self.server.lock:
          initial, result.pending = result.pending, []
          self.send(token, {"t": RESPONSE["SUCCESS_PARTIAL"], "r": initial,
                            "n": [SEQUENCE_FEED]})
      elif isinstance(result, _Stream):
        self.cursors[token] = result
        self.next_batch(token)
      else:
        self.send(token, {"t": RESPONSE["SUCCESS_ATOM"], "r": [result]})
    elif kind == QUERY["CONTINUE"]:
      cursor = self.cursors.get(token)
      if isinstance(cursor, _Feed):
        with self.server.lock:
          cursor.asked = True
          cursor.flush()
      elif cursor is not None:
        self.next_batch(token)
    elif kind == QUERY["STOP"]:
      cursor = self.cursors.pop(token, None)
      if isinstance(cursor, _Feed):
        self.server.drop_feed(cursor)
      self.send(token, {"t": RESPONSE["SUCCESS_SEQUENCE"], "r": []})
    elif kind == QUERY["NOREPLY_WAIT"]:       # the driver sends one when it closes
      self.send(token, {"t": RESPONSE["WAIT_COMPLETE"], "r": []})
    elif kind == QUERY["SERVER_INFO"]:
      self.send(token, {"t": RESPONSE["SERVER_INFO"], "r": [
          {"id": self.server.id, "name": "test_double", "proxy": False}]})
    else:
      self.send(token, {"t": RESPONSE["CLIENT_ERROR"], "r": [f"Unrecognized QueryType "
                                                             f"{kind}."], "b": []})

  def next_batch(self, token):
    stream = self.cursors[token]
    batch, rest = stream[:BATCH], _Stream(stream[BATCH:])
    if rest:
      self.cursors[token] = rest
      self.send(token, {"t": RESPONSE["SUCCESS_PARTIAL"], "r": batch})
    else:
      del self.cursors[token]
      self.send(token, {"t": RESPONSE["SUCCESS_SEQUENCE"], "r": batch})

  def close(self):
    try:
      self.sock.shutdown(socket.SHUT_RDWR)
    except OSError:
      pass
    self.sock.close()


class _Scram:
  """The server side of SCRAM-SHA-256, as RethinkDB runs it (no channel binding)."""
  def __init__(self, users):
    self.users = users

  def first(self, message):
    if not message.startswith("n,"):
      raise _AuthError(15, "Channel binding is not supported")
    self.first_bare = message.split(",", 2)[2]
    attributes = _attributes(self.first_bare)
    if "n" not in attributes or "r" not in attributes:
      raise _AuthError(10, "Invalid encoding")
    self.user = attributes["n"].replace("=2C", ",").replace("=3D", "=")
    # An unknown user is refused only at the proof, as the server does.
    password = self.users.get(self.user, os.urandom(16).hex())
    salt = os.urandom(16)
    self.salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, ITERATIONS)
    self.nonce = attributes["r"] + base64.b64encode(os.urandom(18)).decode()
    self.server_first = (f"r={self.nonce},s={base64.b64encode(salt).decode()},"
                         f"i={ITERATIONS}")
    return self.server_first

  def final(self, message):
    if self.user not in self.users:
      raise _AuthError(17, "Unknown user")
    attributes = _attributes(message)
    if attributes.get("c") != "biws":
      raise _AuthError(10, "Invalid encoding")
    if attributes.get("r") != self.nonce:
      raise _AuthError(20, "Other error")
    auth_message = ",".join((self.first_bare, self.server_first,
                             message[:message.index(",p=")]))
    client_key = hmac.digest(self.salted, b"Client Key", "sha256")
    stored_key = hashlib.sha256(client_key).digest()
    signature = hmac.digest(stored_key, auth_message.encode(), "sha256")
    try:
      proof = base64.b64decode(attributes.get("p", ""), validate=True)
    except ValueError:
      raise _AuthError(10, "Invalid encoding") from None
    recovered = bytes(a ^ b for a, b in zip(proof, signature))
    if len(proof) != 32 or not hmac.compare_digest(
        hashlib.sha256(recovered).digest(), stored_key):
      raise _AuthError(12, "Wrong password")
    server_key = hmac.digest(self.salted, b"Server Key", "sha256")
    return "v=" + base64.b64encode(
        hmac.digest(server_key, auth_message.encode(), "sha256")).decode()


def _plucked(doc, selectors):
  """pluck's selection of an object: a field by name, a list of selectors, or {field:
  selector} picking within that field (each element of an array of objects); True keeps
  the field whole. A field the object lacks is left out."""
  out = {}
  for selector in selectors:
    if isinstance(selector, str):
      if selector in doc:
        out[selector] = copy.deepcopy(doc[selector])
    elif isinstance(selector, list):
      out.update(_plucked(doc, selector))
    elif isinstance(selector, dict):
      for field, inner in selector.items():
        if field not in doc:
          continue
        value, inner = doc[field], inner if isinstance(inner, list) else [inner]
        if inner == [True]:
          out[field] = copy.deepcopy(value)
        elif isinstance(value, dict):
          out[field] = _plucked(value, inner)
        elif isinstance(value, list) and all(isinstance(v, dict) for v in value):
          out[field] = [_plucked(v, inner) for v in value]
        else:
          raise _QueryError("The RethinkDB test double plucks within objects and arrays "
                            f"of objects only, not {type(value).__name__}.")
    else:
      raise _QueryError(f"Invalid path argument `{json.dumps(selector)}`.")
  return out


def _attributes(message):
  return dict(part.split("=", 1) for part in message.split(",") if "=" in part)


class RethinkDBDouble:
  """The test double (see the module docstring). users: {name: password}."""
  def __init__(self, users=None, port=0):
    self.users = dict(users) if users is not None else {"admin": ""}
    self.port = port
    self.id = str(uuid.uuid4())
    self.dbs = {}              # db name -> {table name: _Table}
    self.lock = threading.RLock()
    self.listener = None
    self.connections = set()
    self.crash = None          # [inserts to go, seconds down or None] (crash_on_insert)
    self.crashes = 0
    self.start()

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    self.stop()

  @property
  def address(self):
    return f"{HOST}:{self.port}"

  def start(self):
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((HOST, self.port))
    listener.listen(16)
    listener.settimeout(0.05)      # so stop() ends the accept loop promptly
    self.port = listener.getsockname()[1]
    self.listener = listener
    self.accepting = threading.Thread(target=self._accept, args=(listener,), daemon=True,
                                      name=f"rethinkdb-double-{self.port}")
    self.accepting.start()

  def stop(self):
    """Like killing the server: stop listening and drop every connection."""
    listener, self.listener = self.listener, None
    if listener is None:
      return
    self.accepting.join()
    listener.close()
    with self.lock:
      connections, self.connections = list(self.connections), set()
      for table in self._tables():
        table.feeds = []
    for conn in connections:
      conn.close()

  def restart(self):
    """Up again on the same port, with the same data."""
    self.stop()
    self.start()

  def crash_on_insert(self, nth=1, down_s=None):
    """At the nth INSERT from now, crash: stop without applying or answering it, and
    start again after down_s seconds (None: stay down)."""
    with self.lock:
      self.crash = [nth, down_s]

  def _crashes_on(self, term):
    with self.lock:
      if self.crash is None or not (isinstance(term, list) and term[0] == TERM["INSERT"]):
        return False
      self.crash[0] -= 1
      if self.crash[0] > 0:
        return False
      down_s, self.crash = self.crash[1], None
      self.crashes += 1
    threading.Thread(target=self._down_for, args=(down_s,), daemon=True).start()
    return True

  def _down_for(self, down_s):
    self.stop()
    if down_s is not None:
      time.sleep(down_s)
      self.start()

  def _accept(self, listener):
    while self.listener is listener:
      try:
        sock, _ = listener.accept()
      except socket.timeout:
        continue
      except OSError:
        return
      sock.settimeout(None)
      conn = _Connection(self, sock)
      with self.lock:
        self.connections.add(conn)
      threading.Thread(target=conn.serve, daemon=True).start()

  def _forget(self, conn):
    with self.lock:
      self.connections.discard(conn)
      for feed in list(conn.cursors.values()):
        if isinstance(feed, _Feed):
          self.drop_feed(feed)
    conn.close()

  def _tables(self):
    return [t for tables in self.dbs.values() for t in tables.values()]

  def drop_feed(self, feed):
    with self.lock:
      for table in self._tables():
        if feed in table.feeds:
          table.feeds.remove(feed)

  # --- queries

  def run(self, term, options, conn, token):
    with self.lock:
      default_db = self.eval(options["db"]) if "db" in options else None
      return self.eval(term, default_db, conn, token)

  def eval(self, term, default_db=None, conn=None, token=None):
    if isinstance(term, dict):
      return {k: self.eval(v, default_db) for k, v in term.items()}
    if not isinstance(term, list):
      return term
    number, args = term[0], term[1] if len(term) > 1 else []
    options = term[2] if len(term) > 2 else {}
    name = _TERM_NAME.get(number)
    if name is None:
      raise _QueryError(f"The RethinkDB test double does not implement term "
                        f"{_term_name(number)} ({number}).")
    if name == "CHANGES":
      return self._changes(self.eval(args[0], default_db), options, conn, token)
    args = [self.eval(a, default_db) for a in args]
    options = {k: self.eval(v, default_db) for k, v in options.items()}
    return getattr(self, "_" + name.lower())(default_db, *args, **options)

  def _make_array(self, _, *items):
    return list(items)

  def _db(self, _, name):
    if name not in self.dbs:
      raise _QueryError(f"Database `{name}` does not exist.", ERROR["OP_FAILED"])
    return name

  def _table(self, default_db, *args):
    db, name = args if len(args) == 2 else (default_db or self._db(None, "test"), args[0])
    if name not in self.dbs[db]:
      raise _QueryError(f"Table `{db}.{name}` does not exist.", ERROR["OP_FAILED"])
    return self.dbs[db][name]

  def _db_create(self, _, name):
    if name in self.dbs:
      raise _QueryError(f"Database `{name}` already exists.", ERROR["OP_FAILED"])
    self.dbs[name] = {}
    return {"dbs_created": 1, "config_changes": [
        {"old_val": None, "new_val": {"id": str(uuid.uuid4()), "name": name}}]}

  def _db_list(self, _):
    return sorted(self.dbs)

  def _table_create(self, _, db, name, primary_key="id"):
    if name in self.dbs[db]:
      raise _QueryError(f"Table `{db}.{name}` already exists.", ERROR["OP_FAILED"])
    self.dbs[db][name] = _Table(db, name, primary_key)
    return {"tables_created": 1, "config_changes": [{"old_val": None, "new_val": {
        "id": str(uuid.uuid4()), "db": db, "name": name, "primary_key": primary_key}}]}

  def _table_list(self, _, db):
    return sorted(self.dbs[db])

  def _index_create(self, _, table, name, *function):
    if function:
      raise _QueryError("The RethinkDB test double indexes fields only, not functions.")
    if name in table.indexes:
      raise _QueryError(f"Index `{name}` already exists on table {table.label()}.",
                        ERROR["OP_FAILED"])
    table.indexes.append(name)
    return {"created": 1}

  def _index_list(self, _, table):
    return list(table.indexes)

  def _index_wait(self, _, table, *names):
    return [{"index": table.index(n), "ready": True, "multi": False, "geo": False,
             "outdated": False} for n in names or table.indexes]

  def _insert(self, _, table, docs, conflict="error"):
    if conflict not in ("error", "replace"):
      raise _QueryError(f"The RethinkDB test double does not implement conflict="
                        f"{conflict!r}.")
    result = {"deleted": 0, "errors": 0, "inserted": 0, "replaced": 0, "skipped": 0,
              "unchanged": 0}
    changes = []
    pk = table.primary_key
    for doc in docs if isinstance(docs, list) else [docs]:
      if pk not in doc:
        raise _QueryError(f"The RethinkDB test double needs a primary key `{pk}` in "
                          f"every document.")
      old = table.docs.get(doc[pk])
      if old is not None and conflict == "error":
        result["errors"] += 1
        result.setdefault("first_error", f"Duplicate primary key `{pk}`:\n"
                          f"{json.dumps(old)}\n{json.dumps(doc)}")
        continue
      if old == doc:
        result["unchanged"] += 1
        continue
      table.docs[doc[pk]] = copy.deepcopy(doc)
      result["inserted" if old is None else "replaced"] += 1
      changes.append({"new_val": copy.deepcopy(doc), "old_val": old})
    for feed in table.feeds:
      feed.push(copy.deepcopy(changes))
    return result

  def _order_by(self, _, table, index=None):
    if not isinstance(table, _Table) or not isinstance(index, str):
      raise _QueryError("The RethinkDB test double orders a table by index=NAME only.")
    return _Stream(copy.deepcopy(table.ordered(table.index(index))))

  def _minval(self, _):
    return MINVAL

  def _maxval(self, _):
    return MAXVAL

  def _between(self, _, table, lower, upper, index=None):
    if type(table) is not _Table or not isinstance(index, str):
      raise _QueryError("The RethinkDB test double takes between of a table by "
                        "index=NAME only.")
    part = copy.copy(table)     # a table slice: the same table, fewer documents
    part.docs = {k: d for k, d in table.docs.items()
                 if lower <= d[table.index(index)] < upper}
    return part

  def _max(self, _, table, index=None):
    if not isinstance(table, _Table) or not isinstance(index, str):
      raise _QueryError("The RethinkDB test double takes the max of a table by "
                        "index=NAME only.")
    docs = table.ordered(table.index(index))
    if not docs:
      raise _QueryError("Cannot take the max of an empty stream.  (If you passed `max` a "
                        "field name, it may be that no elements of the stream had that "
                        "field.)", ERROR["NON_EXISTENCE"])
    return copy.deepcopy(docs[-1])

  def _get(self, _, table, key):
    if type(table) is not _Table:
      raise _QueryError("The RethinkDB test double gets from a table only.")
    if isinstance(key, str) and len(key.encode()) > 127:
      raise _QueryError(f"Primary key too long (max 127 characters): {json.dumps(key)}")
    return copy.deepcopy(table.docs.get(key))

  def _pluck(self, _, seq, *selectors):
    if isinstance(seq, dict):
      return _plucked(seq, selectors)
    docs = seq.docs.values() if isinstance(seq, _Table) else seq
    return _Stream(_plucked(d, selectors) for d in docs)

  def _changes(self, table, options, conn, token):
    unknown = set(options) - {"include_initial"}
    if not isinstance(table, _Table) or unknown:
      raise _QueryError(f"The RethinkDB test double follows a whole table only, without "
                        f"{sorted(unknown)}.")
    feed = _Feed(conn, token)
    if self.eval(options.get("include_initial", False)):
      feed.pending = [{"new_val": copy.deepcopy(d)} for d in table.docs.values()]
    table.feeds.append(feed)
    conn.cursors[token] = feed
    return feed

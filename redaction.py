"""Keeping credentials out of what `pulse` prints: the secrets of a command line and the
environment, and a logging filter that puts *** for each."""
import logging
import os
import re
import urllib.parse

from pulse.io.stores.rethinkdb_store import PASSWORD_ENV
from pulse.io.uris import uri_password

SECRET_FLAG = re.compile(r"secret|password|token|credential", re.IGNORECASE)
SECRET_ENV = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", PASSWORD_ENV)


def secrets_in(argv, environ=os.environ):
  """The credentials in a command line (values of --*secret*, --*password*, --*token*,
  --*credential* flags, passwords in URIs) and in the environment, longest first."""
  found = {environ.get(name) for name in SECRET_ENV}
  for arg, after in zip(argv, argv[1:] + [None]):
    flag, eq, value = arg.partition("=")
    if flag.startswith("-") and SECRET_FLAG.search(flag):
      found.add(value if eq else after if after and not after.startswith("-") else None)
    password = uri_password(arg)
    if password:
      found.update((password, urllib.parse.unquote(password)))
  return sorted(filter(None, found), key=len, reverse=True)


class Redact(logging.Filter):
  """Puts *** for each secret in log records. Beam logs flags it cannot parse with their
  values (a misspelt --s3_secret_access_key), and the Dataflow runner all options."""
  def __init__(self, secrets):
    super().__init__()
    self.secrets = secrets

  def text(self, text):
    for secret in self.secrets:
      text = text.replace(secret, "***")
    return text

  def filter(self, record):
    message = record.getMessage()
    if self.text(message) != message:
      record.msg, record.args = self.text(message), None
    if record.exc_info and not record.exc_text:
      record.exc_text = logging.Formatter().formatException(record.exc_info)
    record.exc_text = record.exc_text and self.text(record.exc_text)
    record.stack_info = record.stack_info and self.text(record.stack_info)
    return True

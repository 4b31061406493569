"""The retry budget the retrying stores (sqlite, rethinkdb) share, set in their URI:
?retry_s=30&retries=10&timeout_s=5. A write that fails for a passing reason (SQLite:
another connection holds the write lock; RethinkDB: the connection) is tried again with
exponential backoff, each attempt waiting at most timeout_s, until retry_s seconds or
`retries` retries are spent; then FrameStoreError names the store, what failed, how long
it tried and how many frames were not written."""
import logging
import time

from pulse.io.stores.base import FrameStoreError

__all__ = ["RETRY_OPTIONS", "RETRY_DEFAULTS", "RetryBudget"]

LOG = logging.getLogger(__name__)
RETRY_OPTIONS = {"retry_s": float, "retries": int, "timeout_s": float}
RETRY_DEFAULTS = {"retry_s": 30.0, "retries": 10, "timeout_s": 5.0}
FIRST_DELAY_S, MAX_DELAY_S = 0.1, 5.0


class RetryBudget:
  """Runs a store operation again while it fails for a passing reason, with exponential
  backoff, within retry_s seconds and `retries` retries (see the module docstring)."""
  def __init__(self, where, retry_s, retries, timeout_s, transient, scrub=str,
               error=FrameStoreError):
    self.where, self.retry_s, self.retries = where, retry_s, retries
    self.timeout_s = timeout_s
    self.transient, self.scrub, self.error = transient, scrub, error

  def run(self, what, attempt, unwritten=None, recover=None):
    """attempt(timeout_s), the seconds it may wait (less at the end of the budget);
    recover() after each failed attempt, e.g. to drop a broken connection."""
    started = time.monotonic()
    delay, tries = FIRST_DELAY_S, 0
    while True:
      tries += 1
      try:
        return attempt(max(0.1, min(self.timeout_s,
                                    self.retry_s - (time.monotonic() - started))))
      except Exception as e:
        if not self.transient(e):
          raise
        if recover:
          recover()
        reason = self.scrub(f"{type(e).__name__}: {e}".splitlines()[0])
        elapsed = time.monotonic() - started
        if tries > self.retries or elapsed >= self.retry_s:
          lost = f"; {unwritten} not written" if unwritten else ""
          raise self.error(
              f"{self.where}: {what} failed after {tries} attempt(s) over {elapsed:.1f} s "
              f"(retry budget {self.retry_s:g} s, {self.retries} retries): "
              f"{reason}{lost}") from None
        wait = min(delay, MAX_DELAY_S, self.retry_s - elapsed)   # the last try at the end
        LOG.warning("%s: %s failed (%s); retry %d in %.2f s", self.where, what, reason,
                    tries, wait)
        time.sleep(wait)
        delay *= 2

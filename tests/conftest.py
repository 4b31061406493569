import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from helpers import make_runner  # noqa: E402


@pytest.fixture
def run_pulse(tmp_path):
  """run_pulse(inputs, *flags) -> PulseRun (see helpers.make_runner)."""
  return make_runner(tmp_path)

from kafka_broker import kafka_bootstrap  # noqa: E402,F401  one broker for the session

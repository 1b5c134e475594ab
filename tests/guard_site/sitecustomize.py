"""Loaded by subprocesses that tests start: the same network guard as the test session."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from tests.network_guard import install

install(os.environ.get("NETWORK_GUARD_LOG"))

"""Benchmarks of ``langchain_comet.CometCallbackHandler`` against the handler it replaces
and the trackers people pick instead (Opik, Langfuse, MLflow).

Importing the package configures the process environment first: comet_ml reads its
settings when it is imported, and every contender must see the same settings. The
network guard goes in first of all: nothing a bench process runs may leave 127.0.0.1.
"""

from bench.guard import install as _install_network_guard

_install_network_guard()

from bench.env import configure_environment  # noqa: E402

configure_environment()

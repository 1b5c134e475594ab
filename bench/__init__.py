"""Benchmarks of ``langchain_comet.CometCallbackHandler`` against the handler it replaces.

Importing the package configures the process environment first: comet_ml reads its
settings when it is imported, and every contender must see the same settings.
"""

from bench.env import configure_environment

configure_environment()

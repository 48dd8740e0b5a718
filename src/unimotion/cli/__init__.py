"""The ``unimotion`` command line.

Every module in this package that defines ``register(subparsers)`` adds its own sub-command(s); nothing
else needs editing to add a command. Handlers import heavy dependencies (torch, transformers) lazily so
that ``unimotion --help`` stays fast, and a module whose *parser* needs a heavy import (the ``train``
recipes, the ``demo`` motion kinds) builds it only when its command is the one on the command line
(:func:`requested`); ``build_parser()`` without ``argv`` builds every parser fully.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys

from .. import __version__

#: environment variable that makes every command show the traceback of an error (like --debug)
DEBUG_ENV = "UNIMOTION_DEBUG"
#: commands whose outputs are never replaced without --overwrite, even when they appear during the run
NO_CLOBBER_COMMANDS = ("generate", "caption", "predict", "edit", "render", "demo", "capture", "animate")
# The command on the command line being parsed ("" for none), or None: build every parser fully.
_REQUESTED: str | None = None


def requested(command: str) -> bool:
    """Whether the full parser of ``command`` is needed (it is the one being run, or every one is built)."""
    return _REQUESTED is None or _REQUESTED == command


def _command_of(argv: list[str]) -> str:
    """The sub-command named in ``argv`` (the first word that is not a global option), or ""."""
    for word in argv:
        if word == "--":
            break
        if not word.startswith("-"):
            return word
    return ""


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The ``unimotion`` parser; with ``argv``, only the named command's parser is built in full."""
    global _REQUESTED
    _REQUESTED = None if argv is None else _command_of(argv)
    parser = argparse.ArgumentParser(
        prog="unimotion",
        description="UniMotion / UniMo: generate, caption, capture and evaluate human motion.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"unimotion {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-v: debug)")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    parser.add_argument("--debug", action="store_true",
                        help=f"show the full traceback of an error (also: {DEBUG_ENV}=1)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command. Every failure ends with a one-line ``error: ...`` on stderr and a non-zero exit
    (2: bad input, a missing file or a library error; 1: another file-system or an unexpected failure;
    130: interrupted); ``--debug`` or ``UNIMOTION_DEBUG=1`` lets the traceback through instead."""
    from ..utils.logging import setup_logging

    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        # A group without a sub-command (e.g. "unimotion data") prints its own help.
        (getattr(args, "_group_parser", None) or parser).print_help()
        return 2 if args.command else 0
    debug = bool(getattr(args, "debug", False)) or os.environ.get(DEBUG_ENV, "").strip() not in ("", "0")
    setup_logging(-1 if args.quiet else args.verbose)
    from ..utils.io import no_clobber

    # commands that refuse existing outputs without --overwrite also refuse a path that appears while they
    # run (another process wrote it): their atomic writes become exclusive
    exclusive = args.command in NO_CLOBBER_COMMANDS and getattr(args, "overwrite", True) is False
    try:
        with no_clobber(exclusive):
            result = args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BaseException as exc:  # noqa: BLE001 - the one place where every failure becomes one line
        if debug or isinstance(exc, SystemExit):
            raise
        code, message = describe_failure(exc)
        _print_error(message)
        return code
    return int(result or 0)


def describe_failure(exc: BaseException) -> tuple[int, str]:
    """(exit code, one-line message) for an exception that ended a command."""
    from ..errors import UnimotionError
    from ..utils.io import describe_os_error

    def one_line(text: str) -> str:
        text = " ".join(str(text).split())
        return text if len(text) <= 2000 else text[:2000] + " ..."

    if isinstance(exc, UnimotionError):
        return 2, f"error: {one_line(exc)}"
    if isinstance(exc, OSError):
        where = f" {exc.filename}" if exc.filename else ""
        return (2 if isinstance(exc, FileNotFoundError) else 1), f"error: cannot access{where}: {describe_os_error(exc)}"
    if isinstance(exc, MemoryError):
        return 1, "error: out of memory (the input is too large for this machine)"
    return 1, (f"error: unexpected {type(exc).__name__}: {one_line(exc)[:300]} — this is a bug in unimotion; "
               f"rerun with --debug (or {DEBUG_ENV}=1) for the traceback and report it")


def _print_error(message: str) -> None:
    """Print to stderr whatever the terminal's encoding (lone surrogates from odd file names included)."""
    encoding = getattr(sys.stderr, "encoding", None) or "utf-8"
    safe = message.encode(encoding, errors="backslashreplace").decode(encoding, errors="replace")
    print(safe, file=sys.stderr)


def add_group(subparsers, name: str, help: str) -> argparse._SubParsersAction:
    """Create a command group (``unimotion NAME SUBCOMMAND``) and return its sub-parser collection."""
    group = subparsers.add_parser(name, help=help, description=help)
    group.set_defaults(_group_parser=group, func=None)
    return group.add_subparsers(dest=f"{name}_command", metavar="SUBCOMMAND")

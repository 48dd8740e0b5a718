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
import pkgutil
import sys

from .. import __version__

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
    from ..errors import UnimotionError
    from ..utils.logging import setup_logging

    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        # A group without a sub-command (e.g. "unimotion data") prints its own help.
        (getattr(args, "_group_parser", None) or parser).print_help()
        return 2 if args.command else 0
    setup_logging(-1 if args.quiet else args.verbose)
    try:
        result = args.func(args)
    except UnimotionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return int(result or 0)


def add_group(subparsers, name: str, help: str) -> argparse._SubParsersAction:
    """Create a command group (``unimotion NAME SUBCOMMAND``) and return its sub-parser collection."""
    group = subparsers.add_parser(name, help=help, description=help)
    group.set_defaults(_group_parser=group, func=None)
    return group.add_subparsers(dest=f"{name}_command", metavar="SUBCOMMAND")

"""`cityops`: one command line for both sides.

Each side registers its own subcommands (`edge_agent.cli.register`, `cloud_hub.cli.register`); those modules
import only the standard library at module level, so `--help` is quick and an edge box without the hub's
dependencies still gets a working `cityops edge ...`.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from cityops import __version__
from cityops.logs import FORMATS, LOG_FORMAT_ENV, configure_logging

SIDES = ("cloud_hub.cli", "edge_agent.cli", "models.cli")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cityops",
        description="CityOps: edge video analytics -> MQTT -> hub (TimescaleDB, incidents, work orders).",
    )
    parser.add_argument("--version", action="version", version=f"cityops {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument(
        "--log-format",
        choices=FORMATS,
        default=None,
        help=f"text (default) or json: one JSON object per line for a log collector (also {LOG_FORMAT_ENV})",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in SIDES:
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:  # that side is not installed on this box
            logging.getLogger(__name__).debug("%s not available: %s", module_name, exc)
            continue
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        configure_logging(logging.DEBUG if args.verbose else logging.INFO, log_format=args.log_format)
    except ValueError as exc:  # a bad CITYOPS_LOG_FORMAT
        parser.error(str(exc))
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        return int(func(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

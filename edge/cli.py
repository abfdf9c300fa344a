"""The `edge` command: one argparse parser, each subcommand in edge/commands/<name>.py."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from edge import __version__

# Each module exposes add_parser(subparsers) and run(args) -> int.
SUBCOMMANDS = ("read", "run", "bench", "gps", "outbox", "doctor", "calibrate", "preview", "privacy",
               "collect", "models")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="edge", description="Edge licence-plate reader.")
    parser.add_argument("--version", action="version", version=f"edge {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.set_defaults(handler=None)  # no subcommand: the help
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        module = importlib.import_module(f"edge.commands.{name}")
        module.add_parser(sub)
        sub.choices[name].set_defaults(handler=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if args.handler is None:
        parser.print_help(sys.stderr)
        return 2
    from edge.configuration.validation import ConfigError

    try:
        return int(args.handler(args) or 0)
    except BrokenPipeError:
        # `edge read DIR | head -1`: the reader took what it wanted; end quietly, like other
        # tools killed by SIGPIPE (128 + 13), with no traceback.
        from edge.commands import silence_stdout

        silence_stdout()
        return 141
    except ConfigError as exc:
        print(f"edge {args.command}: config error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

"""`edge privacy hash`: HMAC lines for plates, to build a watchlist the device cannot read.

    edge privacy hash --key-file /etc/edge/credentials/plate-key < stolen.txt > stolen.hmac

Reads plates (one per line, '#' comments, as a watchlist file) from the arguments or stdin and
prints HMAC-SHA256(key, normalised plate) as lowercase hex, one per line: the same value a
device in `plates = "hashed"` mode publishes for that plate. Run it where the plain list lives
(the back-end), and give the device only the output. The key is --key-file, else the config's
`[privacy] key_file` (or the systemd credential plate-key).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from edge.commands import one_line


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("privacy", help="privacy tools (HMAC lines for watchlists)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = p.add_subparsers(dest="privacy_command", metavar="ACTION", required=True)
    h = actions.add_parser("hash", help="print the HMAC line of each plate (arguments or stdin)")
    h.add_argument("plates", nargs="*", metavar="PLATE", help="plates; none = read stdin")
    h.add_argument("--key-file", type=Path, help="the plate key (default: the config's privacy.key_file)")
    h.add_argument("--config", type=Path, help="TOML config whose [privacy] key to use")


def run(args: argparse.Namespace) -> int:
    from edge.configuration.validation import ConfigError
    from edge.privacy import PlateHasher, require_key
    from edge.configuration.settings import load_config
    from edge.watchlist import WatchlistError, parse_lines

    try:
        privacy = load_config(args.config).privacy
        if args.key_file is not None:
            privacy = dataclasses.replace(privacy, key_file=str(args.key_file))
        hasher = PlateHasher(require_key(privacy, "edge privacy hash"))
        source = "\n".join(args.plates) if args.plates else sys.stdin.read()
        plates, hashes = parse_lines(source, "input")
    except (ConfigError, WatchlistError) as exc:
        print(f"edge privacy: {one_line(exc)}", file=sys.stderr)
        return 2
    for plate in sorted(plates):
        sys.stdout.write(hasher.digest(plate) + "\n")
    for line in sorted(hashes):  # already HMAC lines: passed through
        sys.stdout.write(line + "\n")
    return 0

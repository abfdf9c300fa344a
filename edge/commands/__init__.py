"""`edge` subcommands: each module exposes add_parser(subparsers) and run(args) -> int."""


def one_line(exc: BaseException) -> str:
    """An exception as the single line a user sees (the first line of its message)."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__

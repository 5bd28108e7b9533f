"""``python -m src.core.settings``: ``--check [--shell]`` is the appliance's start-up check
(entrypoint.sh calls it); ``--write-docs`` regenerates what derives from the declaration
(settings.json, the README and appliance tables, .env.example, the compose file)."""

from __future__ import annotations

import sys

from src.core.settings import check, docs
from src.core.settings.model import PROJECT_ROOT


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["--write-docs"]:
        for written in docs.write_all(PROJECT_ROOT):
            print(f"wrote {written.relative_to(PROJECT_ROOT)}")
        return 0
    if args[:1] == ["--check"]:
        return check.main(args[1:])
    print("usage: python -m src.core.settings --check [--shell] | --write-docs", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())

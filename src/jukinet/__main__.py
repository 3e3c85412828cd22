"""``python -m jukinet``: the command line (see :mod:`jukinet.cli`)."""

from __future__ import annotations

from jukinet.cli import main

if __name__ == "__main__":
    raise SystemExit(main())

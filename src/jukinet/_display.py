"""A progress display for the command line and the demo (not part of the library core).

:class:`ProgressDisplay` is a :data:`~jukinet.progress.ProgressCallback` that writes
to a stream, normally stderr, so stdout keeps the story:

* on a terminal (``stream.isatty()``), one line that updates in place with ``\\r``:
  a bar, the percentage and the counts, ended by a newline when the task is done;
* otherwise (a file, a pipe, a CI log), one plain line per task, when it is done.

>>> import io
>>> log = io.StringIO()
>>> show = ProgressDisplay(log)
>>> from jukinet.progress import Progress
>>> show(Progress("initial load", 500, 1000))
>>> show(Progress("initial load", 1000, 1000))
>>> print(log.getvalue(), end="")
initial load: 1,000 of 1,000 records (100%)
>>> show.labelled("東京都千代田区")(Progress("restore", 3, 3, "versions"))
>>> print(log.getvalue().splitlines()[-1])
東京都千代田区: restore: 3 of 3 versions (100%)
"""

from __future__ import annotations

from typing import TextIO

import attrs

from jukinet.progress import Progress, ProgressCallback

__all__ = ["ProgressDisplay"]

_BAR = 24


class ProgressDisplay:
    """Show :class:`~jukinet.progress.Progress` on ``stream`` (see the module docstring)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        isatty = getattr(stream, "isatty", None)
        self.live = bool(isatty()) if callable(isatty) else False
        """Whether the stream is a terminal (one line updated in place)."""
        self._shown = 0  # length of the live line now on screen

    def __call__(self, progress: Progress) -> None:
        finished = progress.total is not None and progress.done >= progress.total
        if self.live:
            line = self._bar(progress)
            self.stream.write("\r" + line + " " * max(0, self._shown - len(line)))
            self._shown = len(line)
            if finished:
                self.stream.write("\n")
                self._shown = 0
            self.stream.flush()
        elif finished:
            self.stream.write(f"{progress}\n")
            self.stream.flush()

    def labelled(self, label: str) -> ProgressCallback:
        """A callback that shows each progress with ``label`` before its task."""

        def show(progress: Progress) -> None:
            self(attrs.evolve(progress, task=f"{label}: {progress.task}"))

        return show

    def close(self) -> None:
        """End a live line left unfinished (an operation that stopped half way)."""
        if self.live and self._shown:
            self.stream.write("\n")
            self.stream.flush()
            self._shown = 0

    @staticmethod
    def _bar(progress: Progress) -> str:
        fraction = progress.fraction
        if fraction is None:
            return str(progress)
        filled = round(fraction * _BAR)
        return f"[{'#' * filled}{'.' * (_BAR - filled)}] {progress}"

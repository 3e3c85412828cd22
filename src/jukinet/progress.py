"""Progress of long work: what a caller's callback is told.

The operations that can take long (a municipality's initial load, a restore, the
snapshots of a reconciliation, a designation of many codes, a provision batch) take
a keyword-only ``progress`` callback. They call it with a :class:`Progress` after
each batch and once at the end, when ``done == total``. ``done`` never goes down.
The callback runs inside the operation: one that raises stops it, and an operation
that writes in one unit of work then writes nothing.

>>> seen = []
>>> report(seen.append, "initial load", 250, 1000)
>>> seen
[Progress(task='initial load', done=250, total=1000, unit='records')]
>>> print(seen[0])
initial load: 250 of 1,000 records (25%)
>>> seen[0].fraction
0.25
>>> report(None, "initial load", 1000, 1000)  # no callback: nothing happens

A value that cannot be progress is refused:

>>> Progress("restore", -1, 10)
Traceback (most recent call last):
...
jukinet.errors.InvalidComponent: done: -1 (expected a whole number >= 0)
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

from jukinet.errors import InvalidComponent

__all__ = ["Progress", "ProgressCallback", "check_callback", "report"]


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _check_text(_instance: object, attribute: attrs.Attribute[str], value: object) -> None:
    if not isinstance(value, str) or not value.strip():
        raise InvalidComponent(f"{value!r}", field=attribute.name, expected="a non-empty text")


def _check_done(_instance: object, _attribute: attrs.Attribute[int], value: object) -> None:
    if not _whole(value):
        raise InvalidComponent(f"{value!r}", field="done", expected="a whole number >= 0")


@attrs.frozen
class Progress:
    """How far one long operation has come.

    >>> Progress("designation", 3, None, unit="codes").fraction is None
    True
    >>> print(Progress("reconciliation", 0, 0, unit="people"))
    reconciliation: 0 of 0 people (100%)
    >>> Progress("restore", 11, 10)
    Traceback (most recent call last):
    ...
    jukinet.errors.InvalidComponent: done: 11 of 10 (expected at most the total)
    """

    task: str = attrs.field(validator=_check_text)
    """What is being done, in plain words ("initial load", "restore" …)."""
    done: int = attrs.field(validator=_check_done)
    """Units done so far (>= 0; never goes down within one operation)."""
    total: int | None = attrs.field()
    """Units expected, or None when unknown."""
    unit: str = attrs.field(default="records", validator=_check_text)
    """What is counted ("records", "versions", "codes", "queries" …)."""

    @total.validator
    def _check_total(self, _attribute: attrs.Attribute[int | None], value: object) -> None:
        if value is None:
            return
        if not _whole(value):
            raise InvalidComponent(
                f"{value!r}", field="total", expected="None or a whole number >= 0"
            )
        assert isinstance(value, int)
        if self.done > value:
            raise InvalidComponent(
                f"{self.done} of {value}", field="done", expected="at most the total"
            )

    @property
    def fraction(self) -> float | None:
        """``done / total`` (1.0 when the total is 0), or None when the total is unknown."""
        if self.total is None:
            return None
        return 1.0 if self.total == 0 else self.done / self.total

    def __str__(self) -> str:
        if self.total is None:
            return f"{self.task}: {self.done:,} {self.unit}"
        fraction = self.fraction
        assert fraction is not None
        return f"{self.task}: {self.done:,} of {self.total:,} {self.unit} ({fraction:.0%})"


ProgressCallback = Callable[[Progress], None]
"""What an operation's ``progress`` argument takes: called with each :class:`Progress`."""


def check_callback(progress: object) -> ProgressCallback | None:
    """Return ``progress`` if it is None or callable; otherwise refuse it (an operation
    checks its argument this way before it starts work).

    >>> check_callback(print) is print
    True
    >>> check_callback(3)
    Traceback (most recent call last):
    ...
    jukinet.errors.InvalidComponent: progress: 3 (expected None or a callable taking a Progress)
    """
    if progress is not None and not callable(progress):
        raise InvalidComponent(
            f"{progress!r}", field="progress", expected="None or a callable taking a Progress"
        )
    return progress


def report(
    progress: ProgressCallback | None,
    task: str,
    done: int,
    total: int | None,
    unit: str = "records",
) -> None:
    """Call ``progress`` (if any) with ``Progress(task, done, total, unit)``; what the
    callback raises propagates."""
    if progress is not None:
        progress(Progress(task, done, total, unit))

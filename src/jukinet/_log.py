"""Structured log events: one helper, :func:`event`, that every jukinet module logs through.

Each module that logs has ``_logger = logging.getLogger(__name__)``, so every logger
is under ``jukinet.`` (``jukinet.tiers.node``, ``jukinet.tiers.upper`` …). The library
never prints and never configures handlers, with one exception that is standard
library practice: the package's root logger ``jukinet`` gets a
:class:`logging.NullHandler` when this module is first imported. Without it, a
program that configured no logging would see jukinet's warnings on stderr through
:data:`logging.lastResort`. It is added here rather than in ``jukinet/__init__``
because every module that logs imports this one, so the handler is in place
exactly when something can log, and importing the package's values alone changes
nothing else. The handler is added once (a reload does not add a second).

A record made by :func:`event` carries two extra attributes that a handler can read:
``record.event``, the event's dotted name, and ``record.fields``, a dict of its
structured fields. Its message is the name followed by ``key=value`` pairs in key
order, each value ``str()``'d (and quoted as JSON when it holds a space, a quote or
an ``=``), so the line is readable without a structured handler.

>>> import logging
>>> seen = []
>>> class Keep(logging.Handler):
...     def emit(self, record):
...         seen.append((record.event, record.fields, record.getMessage()))
>>> logger = logging.getLogger("jukinet.example")
>>> handler = Keep()
>>> logger.addHandler(handler)
>>> logger.setLevel(logging.INFO)
>>> event(logger, logging.WARNING, "notice.refused", seq=3, why="not held here")
>>> seen
[('notice.refused', {'seq': 3, 'why': 'not held here'}, 'notice.refused seq=3 why="not held here"')]
>>> logger.removeHandler(handler)
>>> logger.setLevel(logging.NOTSET)

Nothing secret is ever a field: no PIN, key, passphrase or full identity
information; resident codes appear only where the audit log names them too.
"""

from __future__ import annotations

import json
import logging

__all__ = ["event"]

_ROOT = logging.getLogger("jukinet")
if not any(isinstance(h, logging.NullHandler) for h in _ROOT.handlers):
    _ROOT.addHandler(logging.NullHandler())


def _text(value: object) -> str:
    text = str(value)
    if not text or any(c.isspace() or c in '"=' for c in text):
        return json.dumps(text, ensure_ascii=False)
    return text


def event(logger: logging.Logger, level: int, name: str, /, **fields: object) -> None:
    """Log the event ``name`` (dotted, lower case, e.g. ``"notice.refused"``) at ``level``
    with structured ``fields``: the message is ``"<name> k=v k=v ..."`` (fields sorted)
    and the record carries ``record.event`` and ``record.fields`` (see the module).

    Does nothing (not even format the message) when ``logger`` is not enabled for
    ``level``.
    """
    if not logger.isEnabledFor(level):
        return
    message = " ".join([name, *(f"{key}={_text(fields[key])}" for key in sorted(fields))])
    logger.log(level, "%s", message, extra={"event": name, "fields": dict(fields)}, stacklevel=2)

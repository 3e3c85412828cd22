"""Reprs of wide records that show what is set.

A resident record has some thirty fields, most of them ``None`` or ``False`` for
most people; attrs' own repr prints every one. :func:`set_fields_repr` prints only
the fields whose value differs from the field's default, in declaration order, and
writes an enum member as ``Sex.FEMALE`` rather than ``<Sex.FEMALE: 'female'>``, so
the repr stays an expression: ``eval`` of it, with the classes (and ``datetime``)
in scope, builds an equal value (the fields left out take their defaults).

The house convention for reprs (see also ``docs/concepts.md``):

* **values** (frozen attrs records, codes) have an eval-able repr,
  ``Class(field=value, ...)``, that leaves out fields at their default;
* **live objects** (nodes, stores, desks, clocks, trust stores, networks) have a
  short ``<Class identity details>`` repr that names what they are and where their
  data lives. Such a repr reads no storage, takes no lock, never raises and never
  shows a secret (keys, passwords).

A record opts in with ``@attrs.frozen(kw_only=True, repr=False)`` and
``__repr__ = set_fields_repr``; a live object decorates its ``__repr__`` with
:func:`never_raises`.

>>> import attrs, enum
>>> class Colour(enum.Enum):
...     RED = "red"
>>> @attrs.frozen(kw_only=True, repr=False)
... class Paint:
...     name: str
...     colour: Colour = Colour.RED
...     note: str | None = None
...     layers: tuple[int, ...] = attrs.field(default=(), converter=tuple)
...     __repr__ = set_fields_repr
>>> Paint(name="朱")
Paint(name='朱')
>>> Paint(name="朱", note="matt", layers=[1, 2])
Paint(name='朱', note='matt', layers=(1, 2))
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

import attrs

__all__ = ["never_raises", "set_fields_repr"]

_T = TypeVar("_T")

_UNKNOWN = object()
"""A default that cannot be worked out without calling user code on the instance."""


def _default(field: attrs.Attribute[Any]) -> object:
    """The value a field takes when it is not given (after its converter), or
    :data:`_UNKNOWN`."""
    default = field.default
    if default is attrs.NOTHING:
        return _UNKNOWN
    if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
        factory = getattr(default, "factory", None)
        if getattr(default, "takes_self", True) or not callable(factory):
            return _UNKNOWN
        default = factory()
    converter = field.converter
    if converter is None:
        return default
    if not callable(converter):  # an attrs.Converter taking the instance or fields
        return _UNKNOWN
    try:
        return converter(default)
    except Exception:  # a converter that refuses its own default: show the field
        return _UNKNOWN


def _value_repr(value: object) -> str:
    """``repr`` that writes enum members as ``Class.NAME`` (an expression)."""
    if isinstance(value, enum.Enum):
        return f"{type(value).__name__}.{value.name}"
    if isinstance(value, tuple):
        items = [_value_repr(item) for item in value]
        return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"
    if isinstance(value, list):
        return f"[{', '.join(_value_repr(item) for item in value)}]"
    return repr(value)


def set_fields_repr(self: object) -> str:
    """``Class(field=value, ...)`` of the fields of an attrs instance that are not at
    their default (fields with ``repr=False`` are left out too)."""
    cls = type(self)
    parts = []
    for field in attrs.fields(cast("type[attrs.AttrsInstance]", cls)):
        if not field.repr:
            continue
        value = getattr(self, field.name)
        default = _default(field)
        if default is not _UNKNOWN:
            try:
                if value is default or (type(value) is type(default) and value == default):
                    continue
            except Exception:  # an __eq__ that raises: show the field
                pass
        show = field.repr
        parts.append(f"{field.name}={show(value) if callable(show) else _value_repr(value)}")
    return f"{cls.__name__}({', '.join(parts)})"


def never_raises(method: Callable[[_T], str]) -> Callable[[_T], str]:
    """Wrap a live object's ``__repr__`` so that it cannot raise: on any error (a
    half-built object, a closed or broken resource) it falls back to
    ``object.__repr__`` (``<module.Class object at 0x…>``).

    >>> class Broken:
    ...     @never_raises
    ...     def __repr__(self) -> str:
    ...         return f"<Broken {self.missing}>"
    >>> repr(Broken()).startswith("<jukinet.domain._repr.Broken object at 0x")
    True
    """

    @functools.wraps(method)
    def guarded(self: _T) -> str:
        try:
            return method(self)
        except Exception:
            return object.__repr__(self)

    return guarded

"""The ``jukinet`` command line (also ``python -m jukinet``).

Sub-commands:

``code TEXT``
    Say which kind of code ``TEXT`` is (by its number of digits) and whether it
    is valid; if not, why. Exit status 0 when valid, 1 when not.
``lg TEXT``
    Show a local government by code (5 or 6 digits) or by name. Exit status 0
    when found, 1 when not.
``demo``
    Run a small country (the centre, two prefectures, four municipalities) on
    SQLite through a year of events and reconcile it (see :mod:`jukinet.demo`).

Usage errors exit with status 2. Each sub-command is one ``_add_…`` function that
registers its parser and handler; to add a command, write one and list it in
``_COMMANDS``.

>>> main(['code', '12345678903'])
resident code (住民票コード): 1234-5678-903
valid
0
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import TextIO

import jukinet
from jukinet.domain import individual_number, lg_code, resident_code
from jukinet.domain._digits import fold_digits
from jukinet.domain.individual_number import IndividualNumber
from jukinet.domain.lg_code import LocalGovernmentCode, lookup_by_name
from jukinet.domain.resident_code import ResidentCode
from jukinet.errors import JukinetError, ValidationError

__all__ = ["main"]

_OK = 0
_INVALID = 1

_Handler = Callable[[argparse.Namespace, TextIO, TextIO], int]

_RESIDENT = "resident code (住民票コード)"
_INDIVIDUAL = "individual number (個人番号)"
_LG = "local government code (全国地方公共団体コード)"
_LG_FIVE = "local government code without check digit (全国地方公共団体コード, 5 digits)"
_LENGTHS = (
    f"11 digits for a {_RESIDENT}, 12 for an {_INDIVIDUAL}, "
    f"6 for a {_LG}, or 5 for one without its check digit"
)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``); return the exit status.

    >>> main(['lg', '13101'])
    code:        131016
    name:        千代田区
    kana:        チヨダク
    kind:        特別区 (special_ward)
    prefecture:  東京都 (130001)
    parent city: -
    0
    """
    parser = _build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        return exc.code if isinstance(exc.code, int) else 2
    handler: _Handler = args.handler
    try:
        return handler(args, sys.stdout, sys.stderr)
    except BrokenPipeError:
        # the reader went away (``jukinet demo | head``): stop quietly, no traceback
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jukinet",
        description="Tools for Juki Net (住民基本台帳ネットワークシステム) identifiers.",
    )
    parser.add_argument("--version", action="version", version=f"jukinet {jukinet.__version__}")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    for add in _COMMANDS:
        add(subparsers)
    return parser


# --- code -------------------------------------------------------------------


def _add_code(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cmd = subparsers.add_parser(
        "code",
        help="say which kind of code TEXT is and whether it is valid",
        description=f"Check a code. Expected lengths: {_LENGTHS}.",
    )
    cmd.add_argument(
        "text", metavar="TEXT", help="the code (full-width digits, spaces, hyphens ok)"
    )
    cmd.set_defaults(handler=_run_code)


def _run_code(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    text: str = args.text
    digits = fold_digits(text, field="code")
    if digits and not (digits.isascii() and digits.isdigit()):
        print(f"invalid: {text!r} contains characters other than digits", file=out)
        print(f"expected {_LENGTHS}", file=out)
        return _INVALID
    checks: dict[int, tuple[str, Callable[[], str]]] = {
        resident_code.LENGTH: (_RESIDENT, lambda: ResidentCode(digits).formatted),
        individual_number.LENGTH: (_INDIVIDUAL, lambda: IndividualNumber(digits).formatted),
        lg_code.LENGTH: (_LG, lambda: _lg_summary(LocalGovernmentCode(digits))),
        lg_code.LENGTH - 1: (
            _LG_FIVE,
            lambda: _lg_summary(LocalGovernmentCode.from_five_digits(digits)),
        ),
    }
    if len(digits) in checks:
        kind, check = checks[len(digits)]
        return _report(out, kind, digits, check)
    count = f"{len(digits)} digit" + ("" if len(digits) == 1 else "s")
    print(f"invalid: {count} is not the length of any known code", file=out)
    print(f"expected {_LENGTHS}", file=out)
    return _INVALID


def _report(out: TextIO, kind: str, digits: str, check: Callable[[], str]) -> int:
    """Print the kind and the verdict of ``check`` (which returns the display form)."""
    try:
        shown = check()
    except ValidationError as exc:
        print(f"{kind}: {digits}", file=out)
        print(f"invalid: {exc}", file=out)
        return _INVALID
    print(f"{kind}: {shown}", file=out)
    print("valid", file=out)
    return _OK


def _lg_summary(code: LocalGovernmentCode) -> str:
    return f"{code} {code.full_name} ({code.kind.label})"


# --- lg ---------------------------------------------------------------------


def _add_lg(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cmd = subparsers.add_parser(
        "lg",
        help="show a local government by code or name",
        description=(
            "Show a local government (地方公共団体) by its code (5 or 6 digits) or its "
            f"name. The list is valid as of {lg_code.DATA_VALID_AS_OF}."
        ),
    )
    cmd.add_argument("text", metavar="TEXT", help="a code (e.g. 131016 or 13101) or a name")
    cmd.add_argument(
        "--prefecture",
        metavar="PREF",
        help="with a name: only look in this prefecture (name or 2-digit code)",
    )
    cmd.set_defaults(handler=_run_lg)


def _run_lg(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    text: str = args.text
    prefecture: str | None = args.prefecture
    digits = fold_digits(text, field="local government code")
    try:
        if digits.isascii() and digits.isdigit():
            if len(digits) == lg_code.LENGTH - 1:
                found = [LocalGovernmentCode.from_five_digits(digits)]
            elif len(digits) == lg_code.LENGTH:
                found = [LocalGovernmentCode(digits)]
            else:
                print(
                    f"jukinet lg: {text!r} has {len(digits)} digits "
                    "(expected a code of 5 or 6 digits, or a name)",
                    file=err,
                )
                return _INVALID
        else:
            found = lookup_by_name(text, prefecture=prefecture)
    except JukinetError as exc:
        print(f"jukinet lg: {exc}", file=err)
        return _INVALID
    if not found:
        where = "" if prefecture is None else f" in {prefecture}"
        hint = _suggest(text, prefecture)
        print(
            f"jukinet lg: no local government is called {text!r}{where} "
            f"(list valid as of {lg_code.DATA_VALID_AS_OF})"
            + (f"; did you mean {hint}?" if hint else ""),
            file=err,
        )
        return _INVALID
    if len(found) == 1:
        _print_lg(found[0], out)
    else:
        print(f"{len(found)} local governments are called {text!r}:", file=out)
        for code in found:
            print(f"{code}  {code.full_name}  {code.kind.label}", file=out)
    return _OK


def _print_lg(code: LocalGovernmentCode, out: TextIO) -> None:
    parent = code.parent
    rows = [
        ("code", str(code)),
        ("name", code.name),
        ("kana", code.kana),
        ("kind", f"{code.kind.label} ({code.kind.value})"),
        ("prefecture", f"{code.prefecture_name} ({code.prefecture})"),
        ("parent city", "-" if parent is None else f"{parent.name} ({parent})"),
    ]
    wards = code.wards
    if wards:
        rows.append(("wards", " ".join(w.name for w in wards)))
    for label, value in rows:
        print(f"{label + ':':<12} {value}", file=out)


# --- demo -------------------------------------------------------------------


def _add_demo(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from jukinet import demo

    cmd = subparsers.add_parser(
        "demo",
        help="run a small country through a year on SQLite and tell the story",
        description=(
            "Run a small Juki Net (the national centre, two prefectures, four "
            "municipalities, each on its own SQLite database) through a year of "
            "births, deaths and moves while the network misbehaves, then reconcile "
            "every tier and show provision, the resident card and the counter "
            "services. The story goes to stdout, progress of the long steps to stderr."
        ),
    )
    demo.add_arguments(cmd)
    cmd.set_defaults(handler=_run_demo)


def _run_demo(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from jukinet import demo

    if args.dir is not None:
        try:
            args.dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            print(f"jukinet demo: cannot use --dir {args.dir}: {exc.strerror}", file=err)
            return 2
    return demo.run(args, out, err)


def _suggest(text: str, prefecture: str | None) -> str:
    """Names that contain ``text`` (in ``prefecture`` when given), e.g. 中央区 in 大阪府
    → 大阪市中央区 (271284): at most five, or "" when none."""
    prefix = None
    if prefecture is not None:
        if prefecture.isdigit():
            prefix = prefecture.zfill(2)[:2]
        else:
            matches = [p for p in lg_code.prefectures() if p.name == prefecture]
            prefix = matches[0].value[:2] if matches else ""
    names = [
        f"{code.name} ({code.value})"
        for code in lg_code.all_codes()
        if text and text in code.name and (prefix is None or code.value[:2] == prefix)
    ]
    return "、".join(names[:5])


_COMMANDS: tuple[Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None], ...] = (
    _add_code,
    _add_lg,
    _add_demo,
)
"""Functions that each register one sub-command (its parser and its handler)."""

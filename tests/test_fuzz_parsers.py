"""Every parser and public constructor, fuzzed: bad input raises a JukinetError, never
anything else (issue 10, "the network refuses what is not true").

Inputs: random text and bytes; text far longer than any field (runs of combining
marks, which NFKC normalises in quadratic time); numbers of thousands of digits
(Python's int/str conversion limit); JSON nested thousands of levels deep (the
parser's recursion limit); valid messages and values with one thing changed (a
byte, a JSON value swapped for another, digits made full-width).

Beside the random search, fixed hostile inputs go to every parser: JSON 5,000
levels deep, each field of a valid message swapped for a value of the wrong type
or form, and text of 100,000 characters, which must be refused within a second
(normalising it first takes seconds, even if the right error follows). Random
text runs under a 2 s deadline for the same reason. A node given signed garbage
refuses it and stores nothing.

The budget is the Hypothesis profile's (``ci``: 50 examples a target,
derandomized): about 5 s for the module on a small machine.
"""

from __future__ import annotations

import functools
import json
import random
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jukinet.domain import codec, individual_number, lg_code, resident_code
from jukinet.domain.address import Address, address_key
from jukinet.domain.agency import COLUMNS, AgencyUseTable, PermittedUse, Table
from jukinet.domain.changes import ChangeReason
from jukinet.domain.era import Era, from_wareki, parse_wareki
from jukinet.domain.identity import IdentityInfo, IdentityNotice
from jukinet.domain.individual_number import IndividualNumber
from jukinet.domain.jpki import RevocationNotice, no_move_in
from jukinet.domain.lg_code import LocalGovernmentCode
from jukinet.domain.linkage import CodeChangeNotice, code_change
from jukinet.domain.names import PersonName, name_key, normalize_reading
from jukinet.domain.resident import ResidentRecord
from jukinet.domain.resident_code import ResidentCode
from jukinet.errors import JukinetError
from jukinet.storage.memory import MemoryStore
from jukinet.testing import examples
from jukinet.testing import strategies as jst
from jukinet.testing.country import Country, build_country
from jukinet.tiers import messages, wire
from jukinet.tiers.messages import NodeId, NodeKey
from jukinet.tiers.provision import ByBasicItems, ByCode, ProvisionRequest

# --- inputs ---------------------------------------------------------------------------

_UNITS = [
    "9",
    "９",
    " ",
    "\u3000",
    "-",
    "山",
    "ｶﾞ",
    "\u0301",
    "a\u0316\u0301",  # a run of combining marks: NFKC reorders them in quadratic time
    "\U000e0100",
    "\ufdfa",  # NFKC makes 18 characters of this one
    "令和",
    "[",
    '"',
]
_huge_text = st.builds(
    lambda unit, n: unit * n,
    st.sampled_from(_UNITS),
    st.sampled_from([5_000, 50_000]) | st.integers(500, 100_000),
)
_HOSTILE_TEXT = {
    "combining marks": "a" + "\u0316\u0301" * 50_000,  # NFKC: about 12 s, unbounded
    "4,301 digits": "9" * 4_301,  # int(): beyond Python's conversion limit
    "full-width digits": "９" * 100_000,
    "ligatures": "\ufdfa" * 20_000,
    "variation selectors": "\U000e0100" * 100_000,
}
_alphabet = st.sampled_from(
    list("0123456789０１２３４５６７８９ -ー‐−　.,/年月日元令和平成昭和MTSHRr別表第一六の\r")
    + list("山田太郎葛\U000e0100ヤマダたろうｶﾞ東京都千代田区丁目番地号郡\u0301\t\n\x00\ufeff")
)
_short_text = st.text(max_size=40) | st.text(_alphabet, max_size=40)
_texts = _short_text | _huge_text

_HUGE = "\x00huge\x00"


def _depth(n: int, kind: int) -> bytes:
    if kind == 0:
        return b"[" * n + b"]" * n
    if kind == 1:
        return b'{"a":' * n + b"1" + b"}" * n
    return b'[{"a":' * (n // 2) + b"[]" + b"}]" * (n // 2)


_deep_json = st.builds(_depth, st.integers(33, 20_000), st.integers(0, 2))
_huge_number = st.integers(4_000, 20_000).map(lambda n: b"9" * n)
_leaves = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.from_regex(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", fullmatch=True)  # dates, mostly not real
    | st.just(_HUGE)
)
_json_values = st.recursive(
    _leaves,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


def _dump(value: object, huge: bytes) -> bytes:
    """JSON of ``value``; the marker ``_HUGE`` becomes ``huge`` (a deep or huge token)."""
    raw = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    return raw.replace(json.dumps(_HUGE).encode(), huge)


_tokens = _deep_json | _huge_number | st.just(b"1.5") | st.just(b"NaN")


def _paths(value: object, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*path, index))
    return found


def _replace(value: Any, path: tuple[Any, ...], new: object) -> Any:
    if not path:
        return new
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[path[0]] = _replace(value[path[0]], path[1:], new)
    return copy


@st.composite
def _mutated(draw: st.DrawFn, valid: st.SearchStrategy[bytes]) -> bytes:
    """A valid encoding with one thing changed."""
    raw = draw(valid)
    how = draw(st.integers(0, 5))
    if how == 0 and raw:  # a byte changed
        at = draw(st.integers(0, len(raw) - 1))
        return raw[:at] + bytes([draw(st.integers(0, 255))]) + raw[at + 1 :]
    if how == 1:  # bytes inserted
        at = draw(st.integers(0, len(raw)))
        return raw[:at] + draw(st.binary(min_size=1, max_size=8) | _tokens) + raw[at:]
    if how == 2 and raw:  # a slice cut out
        at = draw(st.integers(0, len(raw) - 1))
        return raw[:at] + raw[at + draw(st.integers(1, 16)) :]
    if how == 3:  # digits made full-width, or a space after a key
        text = raw.decode("utf-8")
        if draw(st.booleans()):
            return text.translate(str.maketrans("0123456789", "０１２３４５６７８９")).encode()
        return raw.replace(b'":', b'": ', 1)
    # one JSON value of a framed message replaced by another
    parts = raw.split(b"\n")
    candidates = []
    for index, part in enumerate(parts):
        try:
            candidates.append((index, json.loads(part)))
        except ValueError:
            continue
    if not candidates:
        return raw
    index, data = draw(st.sampled_from(candidates))
    paths = _paths(data)
    if isinstance(data, dict) and data and draw(st.booleans()):
        paths = [(key,) for key in data]  # a field of the message itself, more often
    path = draw(st.sampled_from(paths))
    new = draw(_json_values)
    parts[index] = _dump(_replace(data, path, new), draw(_tokens))
    return b"\n".join(parts)


def _bytes_for(valid: st.SearchStrategy[bytes], frame: bytes = b"") -> st.SearchStrategy[bytes]:
    """Random, deep, huge and mutated inputs for a parser of ``valid``'s kind."""
    json_data = st.builds(_dump, _json_values, _tokens)
    return st.one_of(
        st.binary(max_size=64),
        (_deep_json | _huge_number | json_data).map(lambda b: frame + b),
        _mutated(valid),
    )


# --- valid encodings to mutate ----------------------------------------------------------

_NOTICES = jst.identity_notices()


def _row_bytes(notice: IdentityNotice, version: int) -> bytes:
    row = wire.parse_notice(wire.encode_notice(notice), verify=True).row(version)
    return wire.encode_identity_version(row)


@functools.cache
def _key() -> NodeKey:
    return NodeKey.generate(NodeId.municipality("131016"), random.Random(10))


_AT = datetime(2026, 4, 1, tzinfo=UTC)
_queries = st.one_of(
    jst.resident_codes().map(lambda code: ByCode(resident_code=code)),
    st.builds(
        lambda name, born, address: ByBasicItems(name=name, birth_date=born, address=address),
        jst.person_names(),
        jst.birth_dates(),
        st.none() | jst.addresses(),
    ),
)
_requests = st.builds(
    lambda queries: ProvisionRequest(
        request_id="r-1", agency="nenkin", use="1-77", queries=tuple(queries)
    ).to_bytes(),
    st.lists(_queries, min_size=1, max_size=3),
)
_WIRE: dict[str, tuple[st.SearchStrategy[bytes], Callable[[bytes], object]]] = {
    "parse_notice(verify=True)": (
        _NOTICES.map(wire.encode_notice),
        lambda raw: wire.parse_notice(raw, verify=True),
    ),
    "parse_notice(verify=False)": (
        _NOTICES.map(wire.encode_notice),
        lambda raw: wire.parse_notice(raw, verify=False).row(1),
    ),
    "decode_ack": (
        st.builds(
            lambda p, s, f: wire.encode_ack(wire.Ack(p, s, "ab" * 32, f)),
            st.integers(0, 10**6),
            st.sampled_from(["applied", "duplicate", "gap"]),
            st.integers(1, 10**6),
        ),
        wire.decode_ack,
    ),
    "parse_code_designation": (
        st.builds(
            lambda town, codes: wire.encode_code_designation(town.value, codes),
            jst.register_municipalities(),
            st.lists(jst.resident_codes(), max_size=4),
        ),
        wire.parse_code_designation,
    ),
    "parse_restore_header": (
        st.builds(
            lambda town, part, extra: wire.encode_restore_header(
                wire.RestoreHeader(
                    municipality=town.value,
                    source="p:13",
                    as_of=_AT.isoformat(),
                    part=part,
                    parts=part + extra,
                    versions=3,
                    applied=2,
                    confirmed=1,
                )
            ),
            jst.register_municipalities(),
            st.integers(1, 5),
            st.integers(0, 5),
        ),
        wire.parse_restore_header,
    ),
    "parse_identity_version": (
        st.builds(_row_bytes, _NOTICES, st.integers(1, 9)),
        wire.parse_identity_version,
    ),
    "parse_correction": (
        st.builds(
            lambda code, outcome: wire.encode_correction(
                wire.CorrectionMessage(
                    request_id="c-1",
                    resident_code=code.value,
                    filed_with="p:13",
                    details="氏名の振り仮名",
                    outcome=outcome,
                )
            ),
            jst.resident_codes(),
            st.none() | st.text(min_size=1, max_size=10),
        ),
        wire.parse_correction,
    ),
    "message_type": (_NOTICES.map(wire.encode_notice), wire.message_type),
    "messages.decode": (
        _NOTICES.map(
            lambda n: messages.encode(
                _key().seal(
                    NodeId.prefecture("13"),
                    first_seq=1,
                    payload_type=wire.MESSAGES,
                    payloads=[wire.encode_notice(n)],
                    sent_at=_AT,
                )
            )
        ),
        messages.decode,
    ),
    "ProvisionRequest.from_bytes": (_requests, ProvisionRequest.from_bytes),
}

_VALUES: dict[type[Any], st.SearchStrategy[Any]] = {
    ResidentCode: jst.resident_codes(),
    IndividualNumber: jst.individual_numbers(),
    LocalGovernmentCode: jst.lg_codes(),
    PersonName: jst.person_names(),
    Address: jst.addresses(),
    IdentityInfo: jst.identity_infos(),
    IdentityNotice: _NOTICES,
    ResidentRecord: jst.resident_records(),
    RevocationNotice: st.builds(
        no_move_in,
        jst.resident_codes(),
        st.sampled_from([ChangeReason.DOMESTIC_MOVE_OUT]),
        st.dates(date(2000, 1, 1), date(2040, 1, 1)),
    ),
    CodeChangeNotice: _NOTICES.map(code_change).filter(lambda n: n is not None),
}


def _frame(name: str) -> bytes:
    kinds = {
        "parse_notice": wire.IDENTITY_NOTICE,
        "parse_code_designation": wire.CODE_DESIGNATION,
        "parse_restore_header": wire.RESTORE_HEADER,
        "parse_identity_version": wire.IDENTITY_VERSION,
        "parse_correction": wire.CORRECTION,
    }
    for prefix, kind in kinds.items():
        if name.startswith(prefix):
            return kind.encode() + b"\n"
    return b""


def _refuses_only_with_jukinet_errors(parse: Callable[[Any], object], value: object) -> None:
    try:
        parse(value)
    except JukinetError:
        pass


# --- bytes ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(_WIRE))
def test_wire_parsers_raise_only_jukinet_errors(name: str) -> None:
    valid, parse = _WIRE[name]

    @given(_bytes_for(valid, _frame(name)))
    def check(raw: bytes) -> None:
        _refuses_only_with_jukinet_errors(parse, raw)

    check()


@pytest.mark.parametrize("cls", list(_VALUES), ids=[c.__name__ for c in _VALUES])
def test_codec_decoders_raise_only_jukinet_errors(cls: type[Any]) -> None:
    valid = _VALUES[cls].map(codec.to_bytes)

    @given(_bytes_for(valid))
    def check(raw: bytes) -> None:
        _refuses_only_with_jukinet_errors(lambda b: codec.from_bytes(cls, b), raw)
        _refuses_only_with_jukinet_errors(lambda b: codec.from_canonical(cls, b), raw)
        # Meant for the library's own storage, but malformed bytes are still refused.
        _refuses_only_with_jukinet_errors(lambda b: codec.from_stored(cls, b), raw)

    check()


_PARSERS: dict[str, Callable[[bytes], object]] = {
    **{name: parse for name, (_, parse) in _WIRE.items()},
    "codec.from_bytes": lambda b: codec.from_bytes(IdentityNotice, b),
    "codec.from_stored": lambda b: codec.from_stored(IdentityNotice, b),
    "codec.load_json": lambda b: codec.load_json(b, field="x"),
}


@pytest.mark.parametrize("name", list(_PARSERS))
def test_json_thousands_of_levels_deep_is_refused_with_a_jukinet_error(name: str) -> None:
    """The reported finding: a RecursionError from every message parser."""
    parse = _PARSERS[name]
    frame = _frame(name)
    for kind in range(3):
        deep = _depth(5000, kind)
        for raw in (frame + deep, frame + deep + b"\n{}", frame + b"{}\n" + deep):
            _refuses_only_with_jukinet_errors(parse, raw)


def _sample_notice() -> IdentityNotice:
    record = examples.resident_record()
    return IdentityNotice.for_change(
        record, reason=ChangeReason.BIRTH, event_date=record.birth_date
    )


def _samples() -> dict[str, bytes]:
    """One valid encoding per parser of ``_WIRE`` (every field present)."""
    notice = _sample_notice()
    row = wire.parse_notice(wire.encode_notice(notice), verify=True).row(2)
    framed = wire.encode_notice(notice)
    code = notice.resident_code
    request = ProvisionRequest(
        request_id="r-1",
        agency="nenkin",
        use="1-77",
        queries=(
            ByCode(resident_code=code),
            ByBasicItems(
                name=notice.info.name,
                birth_date=notice.info.birth_date,
                address=notice.info.address,
            ),
        ),
    )
    return {
        "parse_notice(verify=True)": framed,
        "parse_notice(verify=False)": framed,
        "message_type": framed,
        "decode_ack": wire.encode_ack(wire.Ack(3, "applied", "ab" * 32, 2)),
        "parse_code_designation": wire.encode_code_designation("131016", [code]),
        "parse_restore_header": wire.encode_restore_header(
            wire.RestoreHeader(
                municipality="131016",
                source="p:13",
                as_of=_AT.isoformat(),
                part=1,
                parts=2,
                versions=3,
                applied=2,
                confirmed=1,
            )
        ),
        "parse_identity_version": wire.encode_identity_version(row),
        "parse_correction": wire.encode_correction(
            wire.CorrectionMessage(
                request_id="c-1",
                resident_code=code.value,
                filed_with="p:13",
                details="氏名",
                outcome="訂正しました",
            )
        ),
        "messages.decode": messages.encode(
            _key().seal(
                NodeId.prefecture("13"),
                first_seq=1,
                payload_type=wire.MESSAGES,
                payloads=[framed],
                sent_at=_AT,
            )
        ),
        "ProvisionRequest.from_bytes": request.to_bytes(),
    }


_WRONG: list[object] = [
    None,
    True,
    0,
    -1,
    "",
    "x",
    "2026-02-30",
    "１２３４５６７８９０３",
    [],
    {},
    {"a": [1]},
    _HUGE,
]
_WRONG_TOKENS = [b"9" * 5000, _depth(5000, 0), b"1.5"]


def _with_each_field_swapped(raw: bytes) -> list[bytes]:
    """``raw`` with one field of one of its JSON objects (nested ones too) replaced by
    a value of a wrong type or form, every way."""
    parts = raw.split(b"\n")
    found = []
    for index, part in enumerate(parts):
        try:
            data = json.loads(part)
        except ValueError:
            continue
        for path in _paths(data)[1:]:
            for wrong in _WRONG:
                for token in _WRONG_TOKENS if wrong == _HUGE else [b"1"]:
                    copy = list(parts)
                    copy[index] = _dump(_replace(data, path, wrong), token)
                    found.append(b"\n".join(copy))
    return found


@pytest.mark.parametrize("name", sorted(_WIRE))
def test_every_field_of_every_message_swapped_for_a_wrong_value(name: str) -> None:
    """Systematic, beside the random search: each field, each wrong kind of value."""
    raw = _samples()[name]
    parse = _WIRE[name][1]
    parse(raw)  # the sample itself is valid
    for altered in _with_each_field_swapped(raw):
        _refuses_only_with_jukinet_errors(parse, altered)


# --- text -------------------------------------------------------------------------------

_USES = AgencyUseTable.load()
_HEADER = ",".join(COLUMNS) + "\n"
_TEXT: dict[str, Callable[[str], object]] = {
    "ResidentCode": ResidentCode,
    "IndividualNumber": IndividualNumber,
    "LocalGovernmentCode": LocalGovernmentCode,
    "resident_code.validate": resident_code.validate,
    "individual_number.validate": individual_number.validate,
    "lg_code.validate": lg_code.validate,
    "lg_code.lookup_by_name": lg_code.lookup_by_name,
    "lg_code.lookup_by_name(prefecture)": lambda s: lg_code.lookup_by_name("千代田区", s),
    "PersonName.parse": PersonName.parse,
    "PersonName.parse(reading)": lambda s: PersonName.parse("山田 太郎", reading=s),
    "PersonName(family)": lambda s: PersonName(family=s, given="太郎"),
    "PersonName(readings)": lambda s: PersonName(
        family="山田", given="太郎", family_reading=s, given_reading=s
    ),
    "PersonName(alias)": lambda s: PersonName(family="SMITH", given="JOHN", alias=s),
    "name_key": name_key,
    "normalize_reading": normalize_reading,
    "parse_wareki": parse_wareki,
    "Address": lambda s: Address("131016", s),
    "Address(municipality)": lambda s: Address(s, "千代田1-1"),
    "Address.parse": Address.parse,
    "address_key": address_key,
    "Table.parse": Table.parse,
    "PermittedUse": lambda s: PermittedUse(table=s, row=s, recipient=s, task=s, statutes=(s,)),
    "AgencyUseTable.row": lambda s: _USES.row(1, s),
    "AgencyUseTable.by_key": _USES.by_key,
    "AgencyUseTable.search": _USES.search,
    "AgencyUseTable.by_recipient": _USES.by_recipient,
    "AgencyUseTable.from_csv": lambda s: AgencyUseTable.from_csv(
        s, revision="r", in_force=date(2026, 1, 1)
    ),
    "AgencyUseTable.from_csv(rows)": lambda s: AgencyUseTable.from_csv(
        _HEADER + s, revision="r", in_force=date(2026, 1, 1)
    ),
    "NodeId.parse": NodeId.parse,
}


@pytest.mark.parametrize("name", list(_TEXT))
def test_text_parsers_raise_only_jukinet_errors_and_refuse_huge_text_quickly(name: str) -> None:
    parse = _TEXT[name]

    @settings(deadline=timedelta(seconds=2))
    @given(_texts)
    def check(text: str) -> None:
        _refuses_only_with_jukinet_errors(parse, text)

    check()


@pytest.mark.parametrize("name", list(_TEXT))
def test_text_far_too_long_is_refused_quickly_with_a_jukinet_error(name: str) -> None:
    """The reported finding: seconds of normalisation before any length check, and
    ValueError from int() of thousands of digits."""
    parse = _TEXT[name]
    for text in _HOSTILE_TEXT.values():
        started = time.perf_counter()
        _refuses_only_with_jukinet_errors(parse, text)
        assert time.perf_counter() - started < 1.0, f"{name} took long to refuse"


@given(_texts)
def test_is_valid_never_raises(text: str) -> None:
    for module in (resident_code, individual_number, lg_code):
        assert isinstance(module.is_valid(text), bool)


_ints = st.integers() | st.integers(3_000, 6_000).map(lambda n: 10**n) | st.sampled_from([0, -1])


@given(st.sampled_from(Era), _ints, _ints, _ints)
def test_era_dates_from_any_integers_raise_only_jukinet_errors(
    era: Era, year: int, month: int, day: int
) -> None:
    _refuses_only_with_jukinet_errors(lambda _: from_wareki(era, year, month, day), None)
    _refuses_only_with_jukinet_errors(Table.parse, year)


# --- wrong Python types: a programmer's mistake, TypeError (documented) ----------------

_NOT_TEXT = [None, 1, 1.5, b"131016", ["1"], object()]


@pytest.mark.parametrize("name", list(_TEXT))
def test_text_parsers_given_no_text_raise_type_errors_or_jukinet_errors(name: str) -> None:
    for value in _NOT_TEXT:
        try:
            _TEXT[name](value)  # type: ignore[arg-type]
        except (TypeError, JukinetError):
            pass


@pytest.mark.parametrize("name", sorted(_WIRE))
def test_bytes_parsers_given_no_bytes_raise_type_errors_or_jukinet_errors(name: str) -> None:
    for value in [None, 1, "identity_notice\n{}\n{}", ["x"]]:
        try:
            _WIRE[name][1](value)  # type: ignore[arg-type]
        except (TypeError, JukinetError):
            pass


# --- a node given authenticated garbage refuses it and stores nothing --------------------


def _memory(node: NodeId) -> MemoryStore:
    store = MemoryStore()
    store.create_schema()
    return store


@functools.cache
def _country() -> Country:
    country = build_country(_memory, ["131016"], seed=11)
    country.network.settle()
    return country


@given(_bytes_for(_NOTICES.map(wire.encode_notice), wire.IDENTITY_NOTICE.encode() + b"\n"))
def test_upper_tiers_refuse_signed_garbage_and_store_nothing(payload: bytes) -> None:
    country = _country()
    links = [
        (NodeId.municipality("131016"), country.prefecture("13")),  # decodes in full
        (NodeId.prefecture("13"), country.center),  # trusts the index header
    ]
    for sender, tier in links:
        store = country.stores[tier.node_id]
        before = store.identities.count()
        position = store.tracking.position(str(sender))
        envelope = country.keys[sender].seal(
            tier.node_id,
            first_seq=position + 1,
            payload_type=wire.MESSAGES,
            payloads=[payload],
            sent_at=country.clock.now(),
        )
        try:
            tier.receive(envelope)
        except JukinetError:
            assert store.identities.count() == before
            assert store.tracking.position(str(sender)) == position

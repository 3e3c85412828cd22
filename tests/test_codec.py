"""The private cattrs converter: JSON-able data and canonical bytes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jukinet.domain import codec
from jukinet.domain.address import Address
from jukinet.domain.changes import ChangeReason
from jukinet.domain.identity import IdentityInfo, IdentityNotice
from jukinet.domain.individual_number import IndividualNumber
from jukinet.domain.lg_code import LocalGovernmentCode
from jukinet.domain.names import PersonName
from jukinet.domain.resident import ResidentHistory, ResidentRecord
from jukinet.domain.resident_code import ResidentCode
from jukinet.errors import InvalidFormat, InvalidLength, ValidationError
from jukinet.testing import examples
from jukinet.testing import strategies as jst

ROUND_TRIPS: list[tuple[type[Any], st.SearchStrategy[Any]]] = [
    (ResidentCode, jst.resident_codes()),
    (IndividualNumber, jst.individual_numbers()),
    (LocalGovernmentCode, jst.lg_codes()),
    (PersonName, jst.person_names()),
    (Address, jst.addresses()),
    (IdentityInfo, jst.identity_infos()),
    (IdentityNotice, jst.identity_notices()),
    (ResidentRecord, jst.resident_records()),
]


@pytest.mark.parametrize(("cls", "strategy"), ROUND_TRIPS, ids=[c.__name__ for c, _ in ROUND_TRIPS])
def test_every_domain_value_round_trips(cls: type[Any], strategy: st.SearchStrategy[Any]) -> None:
    @given(strategy)
    def check(value: Any) -> None:
        data = codec.to_data(value)
        assert json.loads(json.dumps(data)) == data  # JSON-able
        assert codec.from_data(cls, data) == value
        raw = codec.to_bytes(value)
        assert codec.from_bytes(cls, raw) == value
        assert codec.to_bytes(codec.from_bytes(cls, raw)) == raw  # canonical
        stored = codec.from_stored(cls, raw)  # the unvalidated read of own storage
        assert stored == value
        assert repr(stored) == repr(value)
        assert hash(stored) == hash(value)
        assert codec.to_bytes(stored) == raw

    check()


def test_canonical_bytes_sort_keys_and_have_no_spaces() -> None:
    raw = codec.to_bytes(examples.resident_record())
    text = raw.decode("utf-8")
    assert ": " not in text
    assert ", " not in text
    assert text == json.dumps(
        json.loads(text), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    assert "山田" in text  # not escaped


def test_history_round_trips() -> None:
    from datetime import date

    history = ResidentHistory.start(
        examples.resident_record(),
        reason=ChangeReason.BIRTH,
        event_date=date(1980, 4, 1),
        processed_on=date(1980, 4, 2),
    )
    assert codec.from_bytes(ResidentHistory, codec.to_bytes(history)) == history


def _record_data() -> dict[str, Any]:
    data = codec.to_data(examples.resident_record())
    assert isinstance(data, dict)
    return data


def test_unknown_keys_are_refused_with_the_path() -> None:
    data = _record_data()
    data["name"]["nickname"] = "タロ"
    with pytest.raises(InvalidFormat, match=r"\$\.name"):
        codec.from_data(ResidentRecord, data)


def test_wrong_types_are_refused_with_the_path() -> None:
    data = _record_data()
    data["electoral_register"] = "yes"
    with pytest.raises(InvalidFormat, match=r"expected a boolean.*\$\.electoral_register"):
        codec.from_data(ResidentRecord, data)
    data = _record_data()
    data["resident_code"] = 12345678903
    with pytest.raises(InvalidFormat, match=r"\$\.resident_code"):
        codec.from_data(ResidentRecord, data)
    data = _record_data()
    data["birth_date"] = "1980-4-1"
    with pytest.raises(InvalidFormat, match=r"\$\.birth_date"):
        codec.from_data(ResidentRecord, data)


def test_bad_values_inside_are_reported_with_the_path() -> None:
    data = _record_data()
    data["resident_code"] = "12345678904"
    with pytest.raises(InvalidFormat, match=r"check digit 3.*\$\.resident_code"):
        codec.from_data(ResidentRecord, data)
    data = _record_data()
    del data["sex"]
    with pytest.raises(InvalidFormat, match=r"sex"):
        codec.from_data(ResidentRecord, data)


@pytest.mark.parametrize(
    "raw",
    [b'"1234567890\xff"', b"1.5", b"NaN", b'{"a":1,"a":2}', b"[", b""],
)
def test_malformed_bytes_are_refused(raw: bytes) -> None:
    with pytest.raises(InvalidFormat):
        codec.from_bytes(ResidentCode, raw)


def test_to_data_refuses_a_datetime() -> None:
    from datetime import datetime

    with pytest.raises(TypeError):
        codec.to_data(datetime(2020, 1, 1))


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@pytest.mark.parametrize(
    "cls", [c for c, _ in ROUND_TRIPS], ids=[c.__name__ for c, _ in ROUND_TRIPS]
)
def test_fuzzed_data_raises_only_validation_errors(cls: type[Any]) -> None:
    @given(_json)
    def check(data: object) -> None:
        try:
            codec.from_data(cls, data)
        except ValidationError:
            pass

    check()


@given(st.binary(max_size=64))
def test_fuzzed_bytes_raise_only_validation_errors(raw: bytes) -> None:
    try:
        codec.from_bytes(IdentityNotice, raw)
    except ValidationError:
        pass


@given(jst.resident_records())
def test_mutated_record_data_never_escapes_as_another_error(record: ResidentRecord) -> None:
    data = codec.to_data(record)
    for key in list(data):
        replacements: tuple[object, ...] = (None, 0, "", [], {}, "x" * 300)
        for replacement in replacements:
            mutated = dict(data)
            mutated[key] = replacement
            try:
                codec.from_data(ResidentRecord, mutated)
            except ValidationError:
                pass


def test_from_stored_refuses_what_is_not_canonical_bytes_of_the_class() -> None:
    raw = codec.to_bytes(examples.resident_record())
    data = json.loads(raw)
    assert codec.from_stored(ResidentRecord, raw) == examples.resident_record()
    extra = json.dumps({**data, "surplus": 1}).encode()
    missing = json.dumps({k: v for k, v in data.items() if k != "name"}).encode()
    for bad in (b"not json", b"[]", extra, missing, b'{"value": 1}'):
        with pytest.raises(InvalidFormat, match="canonical bytes written by to_bytes"):
            codec.from_stored(ResidentRecord, bad)


def test_from_stored_does_not_validate_which_is_why_only_own_storage_uses_it() -> None:
    # A check digit that from_bytes refuses passes through: the caller vouches for the bytes.
    assert codec.from_stored(ResidentCode, b'"12345678904"').value == "12345678904"
    with pytest.raises(InvalidFormat):
        codec.from_bytes(ResidentCode, b'"12345678904"')


# --- the bounded JSON loader (issue 10) ------------------------------------------

_DEEP = b"[" * 5000 + b"]" * 5000


@pytest.mark.parametrize(
    "raw",
    [
        _DEEP,
        b'{"a":' * 3000 + b"1" + b"}" * 3000,
        b"[" * (codec.MAX_JSON_DEPTH + 1) + b"]" * (codec.MAX_JSON_DEPTH + 1),
        b'["' + b"\\\\" * 10 + b'",' + _DEEP + b"]",  # escapes do not hide the brackets
    ],
)
def test_json_nested_too_deep_is_refused_before_parsing(raw: bytes) -> None:
    with pytest.raises(InvalidFormat, match="levels deep") as caught:
        codec.load_json(raw, field="message")
    assert caught.value.field == "message"
    assert caught.value.expected == f"at most {codec.MAX_JSON_DEPTH} levels of arrays and objects"
    with pytest.raises(InvalidFormat, match="levels deep"):
        codec.from_bytes(IdentityNotice, raw)
    with pytest.raises(InvalidFormat, match="levels deep"):
        codec.from_stored(IdentityNotice, raw)


def test_json_at_the_depth_bound_and_brackets_inside_strings_are_fine() -> None:
    depth = codec.MAX_JSON_DEPTH
    assert codec.load_json(b"[" * depth + b"]" * depth, field="x") is not None
    in_strings = json.dumps(["[" * 100, "{" * 100, '\\"[[[', "]" * 100]).encode()
    assert codec.load_json(in_strings, field="x") == json.loads(in_strings)
    # Brackets in strings count for nothing, even when many strings hold them.
    wide = json.dumps([["[", "]]"]] * 1000).encode()
    assert codec.load_json(wide, field="x") == [["[", "]]"]] * 1000


def test_json_longer_than_the_bound_is_refused_before_parsing() -> None:
    raw = b'"' + b"a" * 100 + b'"'
    assert codec.load_json(raw, field="x", max_bytes=len(raw)) == "a" * 100
    with pytest.raises(InvalidLength, match="at most 101 bytes"):
        codec.load_json(raw, field="x", max_bytes=len(raw) - 1)
    huge = b'"' + b"a" * codec.MAX_JSON_BYTES + b'"'
    with pytest.raises(InvalidLength):
        codec.from_bytes(ResidentCode, huge)
    with pytest.raises(InvalidLength):
        codec.from_stored(ResidentCode, huge)


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        (b"\xff", "not UTF-8"),
        (b"1.5", "not an integer"),
        (b"[Infinity]", "not an integer"),
        (b'{"a":1,"a":2}', "appears twice"),
        (b"9" * 5000, "not JSON"),  # beyond Python's int conversion limit
        (b'{"a":', "not JSON"),
        (b'"\\', "not JSON"),
    ],
)
def test_load_json_refuses_what_jukinet_never_writes(raw: bytes, match: str) -> None:
    with pytest.raises(InvalidFormat, match=match):
        codec.load_json(raw, field="x")


def test_load_json_takes_bytes_only() -> None:
    with pytest.raises(TypeError, match="expected bytes"):
        codec.load_json("[]", field="x")  # type: ignore[arg-type]


def test_from_canonical_refuses_bytes_that_only_decode_to_a_value() -> None:
    code = ResidentCode("12345678903")
    assert codec.from_canonical(ResidentCode, b'"12345678903"') == code
    for raw in ('"１２３４５６７８９０３"'.encode(), b'"1234-5678-903"', b' "12345678903"'):
        assert codec.from_bytes(ResidentCode, raw) == code
        with pytest.raises(InvalidFormat, match="not the canonical form"):
            codec.from_canonical(ResidentCode, raw)
    record = examples.resident_record()
    spaced = json.dumps(codec.to_data(record), sort_keys=True, ensure_ascii=False).encode()
    assert codec.from_bytes(ResidentRecord, spaced) == record
    with pytest.raises(InvalidFormat, match="not the canonical form"):
        codec.from_canonical(ResidentRecord, spaced)

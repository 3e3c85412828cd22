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
from jukinet.errors import InvalidFormat, ValidationError
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

"""The three number modules obey one contract, tested for each as python-stdnum tests
every one of its modules: resident codes (住民票コード, 住基法7条13号), individual
numbers (個人番号, 番号法2条5項) and local government codes (全国地方公共団体コード).

Each module has ``LENGTH``, ``compact``, ``calc_check_digit``, ``validate``,
``is_valid`` and ``format``; a body with its computed check digit validates, any
other check digit does not, input in full-width digits or with spaces and hyphens
validates to the same canonical digits, and nothing but a typed jukinet error
escapes (``is_valid`` never raises at all).
"""

from __future__ import annotations

from types import ModuleType

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jukinet.domain import individual_number, lg_code, resident_code
from jukinet.errors import InvalidChecksum, ValidationError

MODULES = [resident_code, individual_number, lg_code]
_FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def _body(module: ModuleType) -> st.SearchStrategy[str]:
    length: int = module.LENGTH - 1
    return st.text("0123456789", min_size=length, max_size=length)


each_module = pytest.mark.parametrize(
    "module", MODULES, ids=[m.__name__.rsplit(".", 1)[-1] for m in MODULES]
)


@each_module
def test_every_module_has_the_contract(module: ModuleType) -> None:
    for name in ("LENGTH", "compact", "calc_check_digit", "validate", "is_valid", "format"):
        assert hasattr(module, name), name
        assert name == "LENGTH" or getattr(module, name).__doc__, f"{name} has no docstring"


@each_module
@given(data=st.data())
def test_a_body_with_its_check_digit_validates(module: ModuleType, data: st.DataObject) -> None:
    body = data.draw(_body(module))
    number = body + module.calc_check_digit(body)
    assert module.validate(number) == number
    assert module.is_valid(number)
    assert module.validate(module.format(number)) == number
    assert module.validate(number.translate(_FULL_WIDTH)) == number
    spaced = f"{number[:3]} {number[3:5]}-{number[5:]}"
    assert module.validate(spaced) == number
    assert module.compact(module.compact(spaced)) == module.compact(spaced) == number


@each_module
@given(data=st.data())
def test_any_other_check_digit_is_refused(module: ModuleType, data: st.DataObject) -> None:
    body = data.draw(_body(module))
    right = module.calc_check_digit(body)
    wrong = data.draw(st.sampled_from([d for d in "0123456789" if d != right]))
    assert not module.is_valid(body + wrong)
    with pytest.raises(InvalidChecksum):
        module.validate(body + wrong)


@each_module
@given(value=st.none() | st.integers() | st.binary() | st.text() | st.lists(st.text()))
def test_is_valid_never_raises(module: ModuleType, value: object) -> None:
    assert module.is_valid(value) in (True, False)


@each_module
@given(text=st.text(max_size=40))
def test_only_typed_errors_escape_validate(module: ModuleType, text: str) -> None:
    try:
        module.validate(text)
    except ValidationError:
        pass

"""Resident code (住民票コード): check digit, error detection, fuzzing, generation.

The check digit is a weighted mod-11 sum whose remainders 0 and 1 both give 0.
Because of that collapse, single-digit changes and adjacent transpositions are
*not* all detected: the tests below pin down exactly which ones escape (the two
codes' body remainders are 0 and 1, or 1 and 10 when the last body digit and
the check digit are swapped) and count them over all 10^10 codes.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable, Iterator

import attrs
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from jukinet.domain import resident_code
from jukinet.domain.resident_code import (
    ResidentCode,
    calc_check_digit,
    compact,
    format,
    generate,
    is_valid,
    validate,
)
from jukinet.errors import (
    CodePoolExhausted,
    InvalidChecksum,
    InvalidFormat,
    InvalidLength,
    ValidationError,
)

# The weights of 平成14年総務省告示第436号 as restated in domain-facts §1.2,
# written out again here so that the tests do not trust the module's constant.
WEIGHTS = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)
BODY = len(WEIGHTS)
DIGITS = "0123456789"

bodies = st.text(alphabet=DIGITS, min_size=BODY, max_size=BODY)
valid_codes = bodies.map(lambda body: body + calc_check_digit(body))


def body_remainder(code: str) -> int:
    """S mod 11 over the body digits of ``code``."""
    return sum(w * int(d) for w, d in zip(WEIGHTS, code[:BODY], strict=True)) % 11


@st.composite
def collapsed_codes(draw: st.DrawFn) -> str:
    """Valid codes whose body remainder is 0 or 1 (the check digit collapses to 0)."""
    head = draw(st.text(alphabet=DIGITS, min_size=BODY - 1, max_size=BODY - 1))
    target = draw(st.sampled_from((0, 1)))
    partial = sum(w * int(d) for w, d in zip(WEIGHTS, head, strict=False))
    last = (target - partial) * 6 % 11  # 6 is the inverse of the last weight, 2, mod 11
    assume(last <= 9)
    body = head + str(last)
    return body + calc_check_digit(body)


some_codes = st.one_of(valid_codes, collapsed_codes())


def substitutions(code: str) -> Iterator[tuple[int, str]]:
    """Every code that differs from ``code`` in exactly one digit, with the position."""
    for i, old in enumerate(code):
        for new in DIGITS:
            if new != old:
                yield i, code[:i] + new + code[i + 1 :]


def transpositions(code: str) -> Iterator[tuple[int, str]]:
    """Every code made by swapping two different adjacent digits, with the left position."""
    for i in range(len(code) - 1):
        if code[i] != code[i + 1]:
            yield i, code[:i] + code[i + 1] + code[i] + code[i + 2 :]


# --- worked examples (domain-facts §1.2) -------------------------------------


@pytest.mark.parametrize(
    ("body", "total", "check"),
    [("1234567890", 195, "3"), ("0000000005", 10, "1"), ("0000000006", 12, "0")],
)
def test_worked_examples(body: str, total: int, check: str) -> None:
    assert sum(w * int(d) for w, d in zip(WEIGHTS, body, strict=True)) == total
    assert calc_check_digit(body) == check
    assert validate(body + check) == body + check
    assert str(ResidentCode(body + check)) == body + check


@pytest.mark.parametrize("code", ["12345678903", "00000000051", "00000000060"])
def test_published_examples_are_valid(code: str) -> None:
    assert is_valid(code)
    assert ResidentCode(code).value == code


def test_input_folding_and_format() -> None:
    assert compact("１２３４－５６７８　９０３") == "12345678903"
    assert validate("1234 5678 903") == "12345678903"
    assert format("12345678903") == "1234-5678-903"
    code = ResidentCode("１２３４-５６７８-９０３")
    assert code.formatted == "1234-5678-903"
    assert code.body == "1234567890"
    assert repr(code) == "ResidentCode('12345678903')"


def test_errors_say_what_was_expected() -> None:
    with pytest.raises(InvalidChecksum, match="expected check digit 3"):
        validate("12345678904")
    with pytest.raises(InvalidLength, match="11 digits"):
        validate("1234567890")
    with pytest.raises(InvalidFormat, match="digits 0-9"):
        validate("1234567890X")


def test_value_type_is_ordered_hashable_and_frozen() -> None:
    low, high = ResidentCode("00000000051"), ResidentCode("12345678903")
    assert low < high
    assert sorted([high, low]) == [low, high]
    assert len({low, ResidentCode("0000-0000-051")}) == 1
    assert ResidentCode(low) == low
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        low.value = "12345678903"  # type: ignore[misc]
    with pytest.raises(InvalidChecksum):
        attrs.evolve(low, value="00000000052")


# --- every generated code validates -----------------------------------------


@given(bodies)
def test_every_generated_code_validates(body: str) -> None:
    code = body + calc_check_digit(body)
    assert validate(code) == code
    assert is_valid(code)
    assert ResidentCode(code).body == body


# --- error detection: what is really true ------------------------------------


@given(some_codes)
def test_a_changed_check_digit_is_always_detected(code: str) -> None:
    for i, changed in substitutions(code):
        if i == BODY:
            assert not is_valid(changed)


@given(some_codes)
def test_body_substitution_escapes_exactly_when_remainders_are_0_and_1(code: str) -> None:
    for i, changed in substitutions(code):
        if i < BODY:
            escapes = {body_remainder(code), body_remainder(changed)} == {0, 1}
            assert is_valid(changed) is escapes, (code, changed)


@given(some_codes)
def test_transposition_escapes_exactly_when_the_check_digit_collapses(code: str) -> None:
    for i, swapped in transpositions(code):
        pair = {body_remainder(code), body_remainder(swapped)}
        # within the body: remainders 0 and 1; body's last digit with the check
        # digit: remainders 1 and 10 (the codes end in ...01 and ...10).
        escapes = pair == ({0, 1} if i < BODY - 1 else {1, 10})
        assert is_valid(swapped) is escapes, (code, swapped)


@pytest.mark.parametrize(
    ("code", "neighbour"),
    [
        ("00000000000", "00000000060"),  # one digit changed: remainders 0 and 1
        ("40000000010", "40000000100"),  # body digits swapped: remainders 0 and 1
        ("20000000001", "20000000010"),  # last body digit and check digit swapped: 10 and 1
    ],
)
def test_some_single_errors_are_not_detected(code: str, neighbour: str) -> None:
    """Counter-examples to "every single-digit change or adjacent swap is detected"."""
    assert is_valid(code)
    assert is_valid(neighbour)


def _residue_counts(weights: tuple[int, ...], skip: frozenset[int]) -> list[int]:
    """How many digit strings over the positions not in ``skip`` have each S mod 11."""
    counts = [1] + [0] * 10
    for i, w in enumerate(weights):
        if i in skip:
            continue
        new = [0] * 11
        for r, n in enumerate(counts):
            for d in range(10):
                new[(r + w * d) % 11] += n
        counts = new
    return counts


def _body_with(fixed: dict[int, int], residue: int) -> str:
    """A body with the digits ``fixed`` whose other digits sum (weighted) to ``residue``."""
    free = [i for i in range(BODY) if i not in fixed][:2]
    for x in range(10):
        for y in range(10):
            if (WEIGHTS[free[0]] * x + WEIGHTS[free[1]] * y) % 11 == residue:
                digits = dict(fixed) | {free[0]: x, free[1]: y}
                return "".join(str(digits.get(i, 0)) for i in range(BODY))
    raise AssertionError("unreachable: two weights reach every residue")


def _count_escapes(
    neighbour: Callable[[str], str], fixed_positions: tuple[int, ...]
) -> tuple[int, int]:
    """Escapes and cases of one kind of error over all 10^10 codes, class by class.

    Validity depends on the body only through ``S mod 11``, so the codes fall
    into classes by the digits at ``fixed_positions`` and the residue of the rest;
    one representative per class is checked with the module's own functions.
    """
    counts = _residue_counts(WEIGHTS, frozenset(fixed_positions))
    escaped = total = 0
    for digits in range(10 ** len(fixed_positions)):
        fixed = dict(
            zip(fixed_positions, map(int, f"{digits:0{len(fixed_positions)}d}"), strict=True)
        )
        for residue in range(11):
            body = _body_with(fixed, residue)
            code = body + calc_check_digit(body)
            changed = neighbour(code)
            if changed == code:
                continue
            total += counts[residue]
            escaped += counts[residue] * is_valid(changed)
    return escaped, total


def test_exact_number_of_undetected_substitutions_over_all_codes() -> None:
    def substitute(i: int, new: str) -> Callable[[str], str]:
        return lambda c: c[:i] + new + c[i + 1 :]

    escaped = total = 0
    for i in range(BODY):
        for new in DIGITS:
            e, t = _count_escapes(substitute(i, new), (i,))
            escaped, total = escaped + e, total + t
    total += 10**BODY * 9  # changes of the check digit itself: all detected (above)
    assert total == 10**BODY * 11 * 9
    assert (escaped, total) == (16_363_636_360, 990_000_000_000)  # about 1.65 %


def test_exact_number_of_undetected_transpositions_over_all_codes() -> None:
    def swap(i: int) -> Callable[[str], str]:
        return lambda c: c[:i] + c[i + 1] + c[i] + c[i + 2 :]

    within = [_count_escapes(swap(i), (i, i + 1)) for i in range(BODY - 1)]
    assert (sum(e for e, _ in within), sum(t for _, t in within)) == (
        1_472_727_270,
        81_000_000_000,
    )  # about 1.82 %
    assert _count_escapes(swap(BODY - 1), (BODY - 1,)) == (181_818_182, 9_000_000_000)


# --- fuzzing: only ValidationError for text, TypeError for anything else ----

TEXT_FUNCTIONS: list[Callable[[str], object]] = [
    compact,
    calc_check_digit,
    validate,
    format,
    ResidentCode,
]
digitish_text = st.text(alphabet=st.sampled_from("0123456789０１２３４５６７８９-－ 　ー٣x"))
not_str = st.one_of(
    st.none(),
    st.integers(),
    st.floats(),
    st.binary(),
    st.lists(st.integers()),
    st.builds(object),
    st.dictionaries(st.text(), st.integers()),
)


@pytest.mark.parametrize("function", TEXT_FUNCTIONS)
@given(text=st.one_of(st.text(), digitish_text))
def test_text_raises_only_validation_errors(function: Callable[[str], object], text: str) -> None:
    with contextlib.suppress(ValidationError):
        function(text)
    assert isinstance(is_valid(text), bool)


@pytest.mark.parametrize("function", TEXT_FUNCTIONS)
@given(value=not_str)
def test_non_str_raises_type_error(function: Callable[[str], object], value: object) -> None:
    with pytest.raises(TypeError):
        function(value)  # type: ignore[arg-type]
    assert is_valid(value) is False


# --- generate(): injected randomness, never reuses a code -------------------


class ScriptedRandom(random.Random):
    """Hands out the given bodies in turn (the last one forever)."""

    def __init__(self, bodies: list[int]) -> None:
        super().__init__(0)
        self._bodies = bodies

    def randrange(self, start: int, stop: int | None = None, step: int = 1) -> int:
        return self._bodies.pop(0) if len(self._bodies) > 1 else self._bodies[0]


def test_generate_skips_used_codes() -> None:
    used = {ResidentCode("12345678903")}
    code = generate(ScriptedRandom([1234567890, 1234567890, 5]), used=used)
    assert code == ResidentCode("00000000051")


def test_generate_gives_up_when_every_draw_is_used() -> None:
    with pytest.raises(CodePoolExhausted):
        generate(ScriptedRandom([1234567890]), used={ResidentCode("12345678903")})


@given(seed=st.integers(), n_used=st.integers(min_value=0, max_value=20))
def test_generate_never_returns_a_used_code(seed: int, n_used: int) -> None:
    rng = random.Random(seed)
    used = {generate(rng) for _ in range(n_used)}
    # The same seed replays the same draws, so every used code comes up again.
    fresh = generate(random.Random(seed), used=used)
    assert fresh not in used
    assert is_valid(str(fresh))


@given(seed=st.integers())
def test_generate_is_deterministic_for_a_seeded_random(seed: int) -> None:
    first, second = random.Random(seed), random.Random(seed)
    assert [generate(first) for _ in range(5)] == [generate(second) for _ in range(5)]


def test_module_constants() -> None:
    assert resident_code.LENGTH == BODY + 1


def test_input_far_too_long_is_refused_before_it_is_folded() -> None:
    for text in ("１" * 1_000_000, "1" + "\u0301" * 100_000):
        with pytest.raises(InvalidLength, match="before normalisation"):
            ResidentCode(text)
    assert ResidentCode("  １２３４ ５６７８ ９０３  ").value == "12345678903"

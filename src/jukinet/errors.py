"""The whole jukinet error hierarchy.

Every error jukinet raises on purpose is a :class:`JukinetError`. The families:

* :class:`ValidationError` (also a :class:`ValueError`): a value is malformed.
  Its subclasses follow python-stdnum's shape: :class:`InvalidFormat`,
  :class:`InvalidLength`, :class:`InvalidChecksum`, :class:`InvalidComponent`.
* :class:`PolicyError`: the law does not permit what was asked (別表, 30条の9 …).
* :class:`ProcedureError`: the step is not allowed in the current state, or too late.
* :class:`IntegrityViolation`: a message or log fails a signature, sequence or
  hash-chain check.
* :class:`CardError`: the resident card refuses (wrong PIN, locked, suspended …).
* :class:`StorageError`: the storage layer failed, with PEP 249's names.

Messages say what was wrong and what was expected; they never echo secrets such
as PINs or keys.

>>> from jukinet.errors import InvalidChecksum, ValidationError
>>> err = InvalidChecksum(field="resident code", expected="check digit 3")
>>> isinstance(err, ValidationError) and isinstance(err, ValueError)
True
>>> str(err)
"resident code: the number's checksum or check digit is invalid (expected check digit 3)"

This module imports nothing else of jukinet.
"""

from __future__ import annotations

__all__ = [
    "AreaAccessDenied",
    "BadSignature",
    "CardAuthenticationFailed",
    "CardError",
    "CardExpired",
    "CardImageInvalid",
    "CardLocked",
    "CardMemoryFull",
    "CardRevoked",
    "CardSuspended",
    "CodePoolExhausted",
    "CorruptRecord",
    "DataError",
    "DatabaseError",
    "DeadlinePassed",
    "DuplicateRegistration",
    "IdentityMismatch",
    "IntegrityError",
    "IntegrityViolation",
    "InterfaceError",
    "InternalError",
    "InvalidChecksum",
    "InvalidComponent",
    "InvalidFormat",
    "InvalidLength",
    "InvalidState",
    "ItemsNotPermitted",
    "JukinetError",
    "KeyFileInvalid",
    "Misaddressed",
    "MissingDependency",
    "NotFound",
    "NotOfHousehold",
    "NotPermitted",
    "NotSupportedError",
    "OperationalError",
    "PolicyError",
    "ProcedureError",
    "ProgrammingError",
    "ReplayDetected",
    "RequestNotAuthentic",
    "RequestReplayed",
    "ResidentCodeReplaced",
    "SchemaVersionMismatch",
    "SequenceGap",
    "StorageError",
    "TamperingDetected",
    "UnknownAgency",
    "UnknownSender",
    "UseNotPermitted",
    "ValidationError",
    "WrongPin",
]


class JukinetError(Exception):
    """Root of every error jukinet raises on purpose.

    Each class carries a class-level :attr:`message` (python-stdnum's shape).
    An instance may replace it, name the ``field`` concerned and say what was
    ``expected``; ``str()`` joins the three.
    """

    message: str = "jukinet error"

    def __init__(
        self,
        message: str | None = None,
        *,
        field: str | None = None,
        expected: str | None = None,
    ) -> None:
        if message is not None:
            self.message = message
        self.field = field
        self.expected = expected
        super().__init__(str(self))

    def __str__(self) -> str:
        text = self.message
        if self.field:
            text = f"{self.field}: {text}"
        if self.expected:
            text = f"{text} (expected {self.expected})"
        return text


# --- validation (stdnum's names) -------------------------------------------


class ValidationError(JukinetError, ValueError):
    """A value is not valid. Also a :class:`ValueError`."""

    message = "the value is not valid"


class InvalidFormat(ValidationError):
    """Something is wrong with the format of the value."""

    message = "the value has an invalid format"


class InvalidLength(InvalidFormat):
    """The value has the wrong length."""

    message = "the value has an invalid length"


class InvalidChecksum(InvalidFormat):
    """The check digit does not match the rest of the number."""

    message = "the number's checksum or check digit is invalid"


class InvalidComponent(InvalidFormat):
    """A well-formed part of the value names something that does not exist."""

    message = "one of the parts of the value is invalid or unknown"


# --- policy ----------------------------------------------------------------


class PolicyError(JukinetError):
    """The law does not permit what was asked."""

    message = "not permitted by law"


class NotPermitted(PolicyError):
    """A recipient asked for something its 別表 row does not allow."""

    message = "the request is not permitted for this recipient and task"


class IdentityMismatch(NotPermitted):
    """The identity shown at the counter (an identity document's details, or a card)
    differs from what the network holds (住基法12条の4第1項)."""

    message = "the identity shown differs from the network's"


class NotOfHousehold(NotPermitted):
    """A copy of another person's record was asked by someone not of their household
    (住基法12条の4第1項)."""

    message = "the requester is not of the person's household"


class UnknownAgency(NotPermitted):
    """The requesting agency is not registered with this provider."""

    message = "the agency is not registered with this provider"


class UseNotPermitted(NotPermitted):
    """The agency may not act under the 別表 row it names, or the provider does not
    provide under that table (住基法30条の9〜30条の15)."""

    message = "the agency may not act under this row of the appended tables"


class ItemsNotPermitted(NotPermitted):
    """The request asks for items of identity information its 別表 row does not let
    leave: the resident code (never under a table, 住基法30条の9〜30条の15) or the
    individual number without the recipient's use of it (番号法9条)."""

    message = "the request asks for items its row does not permit"


class RequestNotAuthentic(NotPermitted):
    """The request is not signed by the agency's registered key, or is misaddressed."""

    message = "the request is not signed by the registered agency key"


class RequestReplayed(NotPermitted):
    """The request was made before (its id is in the provision log) or is too old."""

    message = "the request was replayed"


# --- procedure -------------------------------------------------------------


class ProcedureError(JukinetError):
    """A procedure was asked for in a state or at a time that does not allow it."""

    message = "the procedure is not allowed now"


class InvalidState(ProcedureError):
    """The record or object is in the wrong state for this step."""

    message = "the record is in the wrong state for this step"


class DuplicateRegistration(InvalidState):
    """The person is registered in this municipality already: a current record holds
    the same name (compared by its matching key), birth date, sex and household
    (住基法6条: one record per person; 14条: an accurate register).

    ``resident_code`` is the existing record's resident code (11 digits), the one
    the counter checks before it may register the person anyway
    (``distinct_from=``, docs/tiers.md); ``matches`` every current record's code
    that matches, in the register's order.

    >>> err = DuplicateRegistration(resident_code="00000000019", field="住民票")
    >>> isinstance(err, InvalidState), err.resident_code, err.matches
    (True, '00000000019', ('00000000019',))
    """

    message = "the person is registered in this municipality already"

    def __init__(
        self,
        message: str | None = None,
        *,
        resident_code: str,
        matches: tuple[str, ...] = (),
        field: str | None = None,
        expected: str | None = None,
    ) -> None:
        self.resident_code = resident_code
        self.matches = matches or (resident_code,)
        super().__init__(message, field=field, expected=expected)

    def __reduce__(self) -> tuple[object, ...]:
        return (
            _duplicate_registration,
            (self.message, self.resident_code, self.matches, self.field, self.expected),
        )


def _duplicate_registration(
    message: str,
    resident_code: str,
    matches: tuple[str, ...],
    field: str | None,
    expected: str | None,
) -> DuplicateRegistration:
    """Rebuild a pickled :class:`DuplicateRegistration` (its keyword arguments survive)."""
    return DuplicateRegistration(
        message, resident_code=resident_code, matches=matches, field=field, expected=expected
    )


class DeadlinePassed(ProcedureError):
    """A time limit set by law has passed."""

    message = "the time limit for this step has passed"


class CodePoolExhausted(ProcedureError):
    """No unused resident code is left to draw (住基法30条の2, 30条の3)."""

    message = "no unused resident code is left to draw"


class NotFound(ProcedureError):
    """The record, resident or object asked for does not exist."""

    message = "no such record"


class ResidentCodeReplaced(NotFound):
    """The resident code was replaced by a new one (住基法30条の4, 令30条の4): it no
    longer identifies a current person; the person's current code does."""

    message = "the resident code was replaced and no longer identifies a person"


# --- integrity -------------------------------------------------------------


class IntegrityViolation(JukinetError):
    """A message or a log fails an integrity check; nothing was changed."""

    message = "integrity check failed"


class KeyFileInvalid(IntegrityViolation):
    """A key file cannot be opened: a wrong passphrase, or not an encrypted Ed25519
    private key in PEM. The passphrase is never echoed."""

    message = "the key file cannot be opened"


class MissingDependency(JukinetError, ImportError):
    """An optional dependency is not installed; the message names the extra to install
    (e.g. ``pip install 'jukinet[postgres]'``)."""

    message = "an optional dependency is not installed"


class BadSignature(IntegrityViolation):
    """A signature does not verify against the sender's trusted key."""

    message = "the signature does not verify"


class UnknownSender(IntegrityViolation):
    """The sender is not in the receiver's trust store."""

    message = "the sender is not trusted"


class Misaddressed(IntegrityViolation):
    """The message is not for this node, or this sender may not send it here."""

    message = "the message is not addressed to this node or not allowed on this link"


class ReplayDetected(IntegrityViolation):
    """A message or request was seen before and is refused as a replay."""

    message = "the message was already received"


class SequenceGap(IntegrityViolation):
    """A sequence number skipped ahead: earlier messages are missing."""

    message = "messages are missing before this one"


class TamperingDetected(IntegrityViolation):
    """A hash-chained log or stored copy was changed, removed or reordered."""

    message = "stored data was altered"


# --- card ------------------------------------------------------------------


class CardError(JukinetError):
    """The resident card refuses the operation."""

    message = "the card refuses the operation"


class WrongPin(CardError):
    """The PIN entered is wrong. The PIN itself is never echoed."""

    message = "the PIN is wrong"


class CardLocked(CardError):
    """Too many wrong PINs: the card is locked until reset at the counter."""

    message = "the card is locked"


class CardSuspended(CardError):
    """The card was reported lost and is suspended (一時停止)."""

    message = "the card is suspended"


class CardExpired(CardError):
    """The card's validity period has ended."""

    message = "the card has expired"


class CardRevoked(CardError):
    """The card lost its effect (廃止 / 失効)."""

    message = "the card is no longer valid"


class CardAuthenticationFailed(CardError):
    """Mutual authentication between card and terminal failed: a certificate not
    chained to the trusted authority (an unknown issuer), a wrong or replayed
    answer to a challenge, a card that is not the one presented, or a command that
    needs an authenticated counter session without one."""

    message = "card and terminal could not authenticate each other"


class AreaAccessDenied(CardError):
    """An application area does not open with the access key given: another
    application's area, a wrong key, or no such area (条例利用, old 住基法30条の44第12項)."""

    message = "the application area does not open with this key"


class CardMemoryFull(CardError):
    """The card's free memory (or an application area) is too small for what was asked."""

    message = "not enough free memory on the card"


class CardImageInvalid(CardError):
    """A sealed chip image was changed, cut short, made for another card or sealed
    with another key: it is refused whole."""

    message = "the sealed chip image is not valid"


# --- storage (PEP 249's names) ---------------------------------------------


class StorageError(JukinetError):
    """The storage layer failed (PEP 249 ``Error``)."""

    message = "storage error"


class InterfaceError(StorageError):
    """The storage interface itself was misused (PEP 249)."""

    message = "storage interface error"


class DatabaseError(StorageError):
    """The database reported an error (PEP 249)."""

    message = "database error"


class DataError(DatabaseError):
    """A value does not fit the stored column (PEP 249)."""

    message = "the value does not fit the stored field"


class CorruptRecord(DataError):
    """A stored record cannot be read back as the record it should be.

    Someone changed the stored value behind the adapter's back (raw SQL, a
    damaged file): broken JSON, a value of the wrong type or form. Every adapter
    raises this, and nothing else, for a row it cannot decode; the error names
    the row, so that a caller can report it and read on past it
    (:meth:`ProvisionLog.verify <jukinet.storage.base.ProvisionLog.verify>` names
    such a provision record as ``altered``).

    ``table`` is where the record is kept (``provision_log``, ``register_versions``
    …), ``key`` the values that identify it (its primary key, or the part of it the
    read had), and ``seq`` its sequence number when it is an entry of a log
    numbered by sequence (provision log, audit log, outbox), else ``None``.

    >>> err = CorruptRecord(
    ...     "items is not a JSON array", table="provision_log", key=(3,), seq=3,
    ...     expected="the value the adapter wrote")
    >>> isinstance(err, DataError), err.seq
    (True, 3)
    >>> str(err)
    'provision_log 3: items is not a JSON array (expected the value the adapter wrote)'
    """

    message = "a stored record cannot be read back"

    def __init__(
        self,
        message: str | None = None,
        *,
        table: str | None = None,
        key: tuple[object, ...] = (),
        seq: int | None = None,
        field: str | None = None,
        expected: str | None = None,
    ) -> None:
        self.table = table
        self.key = key
        self.seq = seq
        if field is None and table is not None:
            field = " ".join([table, *(str(part) for part in key)])
        super().__init__(message, field=field, expected=expected)

    def __reduce__(self) -> tuple[object, ...]:
        return (
            _corrupt_record,
            (self.message, self.table, self.key, self.seq, self.field, self.expected),
        )


def _corrupt_record(
    message: str,
    table: str | None,
    key: tuple[object, ...],
    seq: int | None,
    field: str | None,
    expected: str | None,
) -> CorruptRecord:
    """Rebuild a pickled :class:`CorruptRecord` (its keyword arguments survive)."""
    return CorruptRecord(message, table=table, key=key, seq=seq, field=field, expected=expected)


class OperationalError(DatabaseError):
    """The database is unreachable, busy or otherwise not operating (PEP 249)."""

    message = "the database is not operating"


class IntegrityError(DatabaseError):
    """A uniqueness or reference constraint refused the write (PEP 249)."""

    message = "the write breaks a storage constraint"


class InternalError(DatabaseError):
    """The database is in an inconsistent internal state (PEP 249)."""

    message = "internal database error"


class ProgrammingError(DatabaseError):
    """The stored schema or the call does not fit (PEP 249)."""

    message = "storage programming error"


class SchemaVersionMismatch(ProgrammingError):
    """The database schema version differs from the one this code expects."""

    message = "the database schema version differs from this code's"


class NotSupportedError(DatabaseError):
    """The adapter does not support the operation (PEP 249)."""

    message = "the operation is not supported by this storage"

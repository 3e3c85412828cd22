"""Provision of identity information to agencies, and the residents' rights over it.

Juki Net exists so that agencies can confirm identity without asking residents for
paper. The law limits provision to the tasks in its appended tables (別表第一〜第六,
住基法30条の9〜30条の15), forbids any other use (30条の30) and requires every
provision to be recorded (30条の16; the logs are kept 7 years). A
:class:`ProvisionDesk` is the part of an upper tier that does this:

* agencies are registered with a signing key and the left-column recipients of the
  tables they may act as (:meth:`ProvisionDesk.register_agency`);
* :meth:`ProvisionDesk.provide` takes a signed request (an
  :class:`~jukinet.tiers.messages.Envelope` from ``a:<agency>``) naming the
  :class:`~jukinet.domain.agency.PermittedUse` it relies on and a batch of queries
  (by resident code, or by the four basic items; 令30条の8 allows batch delivery),
  and answers with only the items that row permits — or the fewer it names
  (``items=``) — for the person's current identity information. Refusals — an
  unknown agency, a wrong key, a replay, a row the agency may not act under, items
  beyond the row's permission — raise a typed
  :class:`~jukinet.errors.NotPermitted` and are logged too;
* every provision and refusal goes into the tier's hash-chained provision log
  (:class:`~jukinet.storage.base.ProvisionLog`), which :meth:`ProvisionDesk.verify_log`
  checks end to end;
* a resident may obtain their own identity information and the provision records
  about them (開示, 30条の32: :meth:`ProvisionDesk.disclose`), under every resident
  code they have held (a code replaced under 30条の4 is followed back), and file a correction
  request (訂正, 30条の35: :meth:`ProvisionDesk.file_correction`), which is routed to
  the municipality that keeps the register; its outcome comes back and is logged.

Which tables a tier serves follows the law (:attr:`Table.provider
<jukinet.domain.agency.Table.provider>`): the national centre (機構) 別表第一〜第四
(30条の9〜30条の12), a prefecture 別表第五 (the governor's own use) and 別表第六 (its
other executive bodies, 30条の15).
"""

from __future__ import annotations

import enum
import heapq
import logging
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import date, datetime, timedelta

import attrs
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from jukinet._log import event
from jukinet.domain import codec
from jukinet.domain._repr import never_raises
from jukinet.domain.address import Address
from jukinet.domain.agency import (
    AgencyUseTable,
    Item,
    PermittedUse,
    Provider,
    Table,
)
from jukinet.domain.changes import ChangeKind, ChangeReason
from jukinet.domain.identity import IdentityNotice
from jukinet.domain.individual_number import IndividualNumber
from jukinet.domain.lg_code import LocalGovernmentCode
from jukinet.domain.names import PersonName
from jukinet.domain.resident import Sex
from jukinet.domain.resident_code import ResidentCode
from jukinet.errors import (
    IntegrityError,
    InvalidComponent,
    InvalidFormat,
    ItemsNotPermitted,
    JukinetError,
    NotFound,
    NotPermitted,
    RequestNotAuthentic,
    RequestReplayed,
    ResidentCodeReplaced,
    UnknownAgency,
    UseNotPermitted,
    ValidationError,
)
from jukinet.progress import ProgressCallback, check_callback, report
from jukinet.storage.base import Store, UnitOfWork
from jukinet.storage.records import (
    AgencyRow,
    ChainFault,
    IdentityQuery,
    IdentityRow,
    ProvisionEntry,
    ProvisionRecord,
    unchecked_replace,
)
from jukinet.tiers import wire
from jukinet.tiers._repr import node_label
from jukinet.tiers.clock import Clock
from jukinet.tiers.messages import (
    DEFAULT_MAX_AGE,
    Envelope,
    NodeId,
    NodeKey,
    NodeKind,
    check_fresh,
)

__all__ = [
    "MAX_BATCH",
    "MAX_REQUEST_BYTES",
    "PROVISION_BATCH",
    "PROVISION_REQUEST",
    "RETENTION",
    "ByBasicItems",
    "ByCode",
    "Disclosure",
    "Outcome",
    "ProvidedIdentity",
    "ProvisionAnswer",
    "ProvisionDesk",
    "ProvisionReport",
    "ProvisionRequest",
    "Result",
    "seal_request",
]

PROVISION_REQUEST = "provision_request"
"""Envelope payload type of a provision request (unsequenced, one payload)."""
MAX_BATCH = 100_000
"""The most queries one request may carry."""
PROVISION_BATCH = 1000
"""Queries answered between two progress reports of :meth:`ProvisionDesk.provide`."""
MAX_REQUEST_BYTES = 64 * 1024 * 1024
"""Longest request :meth:`ProvisionRequest.from_bytes` reads (refused before parsing).

A query by the four basic items with name, reading and address takes about 350
bytes, one by resident code 23: :data:`MAX_BATCH` queries of the first kind take
about 35 MB, and 64 MiB leaves room for queries of twice that size.
"""
RETENTION = timedelta(days=7 * 366)
"""How long provision records are kept (7 years, as prefectures publish; 30条の16)."""
_SEARCH_LIMIT = 1000
_logger = logging.getLogger(__name__)


# --- requests -----------------------------------------------------------------


def _request_id(_i: object, _a: object, value: str) -> None:
    if not isinstance(value, str) or not 1 <= len(value) <= 64 or not value.isascii():
        raise InvalidFormat(f"{value!r}", field="request_id", expected="1 to 64 ASCII characters")
    if not (value[0].isalnum() and all(c.isalnum() or c in "_.:-" for c in value)):
        raise InvalidFormat(
            f"{value!r}", field="request_id", expected="letters, digits and _ . : - only"
        )


def _resident_code(value: object) -> ResidentCode:
    if isinstance(value, ResidentCode):
        return value
    if isinstance(value, str):
        return ResidentCode(value)
    raise InvalidFormat(
        f"{type(value).__name__}", field="resident_code", expected="a ResidentCode or its 11 digits"
    )


@attrs.frozen(kw_only=True)
class ByCode:
    """A query by resident code (住民票コード). The code may be given as its digits;
    anything else is a typed error:

    >>> ByCode(resident_code="1234-5678-903")
    ByCode(resident_code=ResidentCode('12345678903'))
    >>> ByCode(resident_code="12345678904")
    Traceback (most recent call last):
    ...
    jukinet.errors.InvalidChecksum: resident code: the number's checksum or check digit is invalid (expected check digit 3)
    >>> ByCode(resident_code=12345678903)
    Traceback (most recent call last):
    ...
    jukinet.errors.InvalidFormat: resident_code: int (expected a ResidentCode or its 11 digits)
    """

    resident_code: ResidentCode = attrs.field(converter=_resident_code)


@attrs.frozen(kw_only=True)
class ByBasicItems:
    """A query by the four basic items (基本4情報): the name with its reading and the
    birth date are required; sex and address narrow the search."""

    name: PersonName = attrs.field(validator=attrs.validators.instance_of(PersonName))
    birth_date: date = attrs.field(validator=attrs.validators.instance_of(date))
    sex: Sex | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.instance_of(Sex))
    )
    address: Address | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.instance_of(Address))
    )


Query = ByCode | ByBasicItems


def _queries(value: object) -> tuple[Query, ...]:
    if not isinstance(value, list | tuple):
        raise InvalidFormat(f"got {type(value).__name__}", field="queries", expected="a sequence")
    items = tuple(value)
    if not 1 <= len(items) <= MAX_BATCH:
        raise InvalidComponent(
            f"{len(items)} queries", field="queries", expected=f"1 to {MAX_BATCH:,}"
        )
    for item in items:
        if not isinstance(item, ByCode | ByBasicItems):
            raise InvalidFormat(
                f"got {type(item).__name__}", field="queries", expected="ByCode or ByBasicItems"
            )
    return items


_ITEMS_EXPECTED = "a non-empty set of Item, or None for every item the row permits"


def _items(
    value: frozenset[Item] | set[Item] | tuple[Item, ...] | list[Item] | None,
) -> frozenset[Item] | None:
    if value is None:
        return None
    if not isinstance(value, frozenset | set | list | tuple):
        raise InvalidFormat(f"got {type(value).__name__}", field="items", expected=_ITEMS_EXPECTED)
    for item in value:
        if not isinstance(item, Item):
            raise InvalidFormat(f"{item!r} is no Item", field="items", expected=_ITEMS_EXPECTED)
    if not value:
        raise InvalidComponent("no items", field="items", expected=_ITEMS_EXPECTED)
    return frozenset(value)


_REQUEST_FIELDS = frozenset({"agency", "queries", "request_id", "use"})


@attrs.frozen(kw_only=True)
class ProvisionRequest:
    """What an agency asks: under which permitted use, about whom, which items.

    ``use`` is a :attr:`PermittedUse.key <jukinet.domain.agency.PermittedUse.key>`
    such as ``"1-57の3"``. ``items`` names the items of identity information the
    agency needs (a set of :class:`~jukinet.domain.agency.Item`); left out, it
    asks for every item the row permits. Asking for an item the row does not let
    leave is refused (:class:`~jukinet.errors.ItemsNotPermitted`): the use of
    identity information is limited to what the task needs (住基法30条の30).
    """

    request_id: str = attrs.field(validator=_request_id)
    agency: str = attrs.field(validator=attrs.validators.instance_of(str))
    use: str = attrs.field(validator=attrs.validators.instance_of(str))
    queries: tuple[Query, ...] = attrs.field(converter=_queries)
    items: frozenset[Item] | None = attrs.field(default=None, converter=_items)

    def to_bytes(self) -> bytes:
        """Canonical bytes (what the agency signs). ``items`` appears only when given,
        as a sorted list, so a request for every permitted item keeps the bytes it
        had before requests could name items."""
        queries: list[object] = []
        for query in self.queries:
            if isinstance(query, ByCode):
                queries.append({"code": query.resident_code.value})
            else:
                queries.append({"items": codec.to_data(query)})
        data: dict[str, object] = {
            "agency": self.agency,
            "queries": queries,
            "request_id": self.request_id,
            "use": self.use,
        }
        if self.items is not None:
            data["items"] = sorted(item.value for item in self.items)
        return codec.to_bytes(data)

    @classmethod
    def from_bytes(cls, raw: bytes) -> ProvisionRequest:
        """Parse canonical bytes; anything malformed is an :class:`~jukinet.errors.InvalidFormat`.

        The bytes must be at most :data:`MAX_REQUEST_BYTES` long and exactly
        :meth:`to_bytes` of the request they hold: the agency signs them, and
        the provision log keeps what was asked.
        """
        data = codec.load_json(raw, field="request", max_bytes=MAX_REQUEST_BYTES)
        try:
            if not isinstance(data, dict) or set(data) - {"items"} != _REQUEST_FIELDS:
                raise InvalidFormat(
                    "wrong fields",
                    field="request",
                    expected="agency, queries, request_id, use and optionally items",
                )
            queries: list[Query] = []
            for item in data["queries"]:
                if isinstance(item, dict) and set(item) == {"code"}:
                    queries.append(ByCode(resident_code=ResidentCode(item["code"])))
                elif isinstance(item, dict) and set(item) == {"items"}:
                    queries.append(codec.from_data(ByBasicItems, item["items"]))
                else:
                    raise InvalidFormat("a query is malformed", field="queries")
            request = cls(
                request_id=data["request_id"],
                agency=data["agency"],
                use=data["use"],
                queries=tuple(queries),
                items=_parse_items(data["items"]) if "items" in data else None,
            )
        except ValidationError:
            raise
        except (ValueError, TypeError, KeyError) as exc:
            raise InvalidFormat(f"malformed request: {exc}", field="request") from None
        if request.to_bytes() != raw:
            raise InvalidFormat(
                "the request is not in canonical form",
                field="request",
                expected="the bytes ProvisionRequest.to_bytes gives: sorted keys, no spaces,"
                " normalised values",
            )
        return request


def _parse_items(value: object) -> frozenset[Item]:
    names = sorted(item.value for item in Item)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidFormat(
            "items is not a list of item names", field="items", expected=", ".join(names)
        )
    unknown = sorted(set(value) - set(names))
    if unknown:
        raise InvalidFormat(
            f"unknown items {', '.join(unknown)}", field="items", expected=", ".join(names)
        )
    if len(set(value)) != len(value):
        raise InvalidFormat("an item is named twice", field="items", expected="each item once")
    return frozenset(Item(v) for v in value)


def seal_request(
    key: NodeKey, provider: NodeId, request: ProvisionRequest, *, sent_at: datetime
) -> Envelope:
    """Sign a request as the agency whose key this is (its node is ``a:<agency>``)."""
    if key.node != NodeId.agency(request.agency):
        raise InvalidComponent(
            f"the key belongs to {key.node}", field="key", expected=f"a:{request.agency}"
        )
    return key.seal(
        provider,
        first_seq=1,
        payload_type=PROVISION_REQUEST,
        payloads=[request.to_bytes()],
        sent_at=sent_at,
    )


# --- answers ------------------------------------------------------------------


class Outcome(enum.Enum):
    """What a query found."""

    FOUND = "found"
    NOT_FOUND = "not_found"
    SEVERAL = "several"
    """A search matched more than one person: nothing is provided, narrow it."""


@attrs.frozen(kw_only=True)
class ProvidedIdentity:
    """The items of a person's current identity information a permitted use may receive.

    Items outside the permission are ``None`` (住基法30条の9: no resident code to
    別表第一 recipients; the individual number only where the recipient may use it).
    ``CHANGE`` is the latest change: its kind (記載/消除/修正), reason and date.
    """

    items: frozenset[Item]
    name: PersonName | None = None
    birth_date: date | None = None
    sex: Sex | None = None
    address: Address | None = None
    resident_code: ResidentCode | None = None
    individual_number: IndividualNumber | None = None
    change_kind: ChangeKind | None = None
    change_reason: ChangeReason | None = None
    change_date: date | None = None

    @classmethod
    def of(cls, notice: IdentityNotice, items: frozenset[Item]) -> ProvidedIdentity:
        """Keep only ``items`` of a notice's identity information."""
        info = notice.info
        change = Item.CHANGE in items
        return cls(
            items=items,
            name=info.name if Item.NAME in items else None,
            birth_date=info.birth_date if Item.BIRTH_DATE in items else None,
            sex=info.sex if Item.SEX in items else None,
            address=info.address if Item.ADDRESS in items else None,
            resident_code=info.resident_code if Item.RESIDENT_CODE in items else None,
            individual_number=(info.individual_number if Item.INDIVIDUAL_NUMBER in items else None),
            change_kind=notice.kind if change else None,
            change_reason=notice.reason if change else None,
            change_date=notice.event_date if change else None,
        )


@attrs.frozen(kw_only=True)
class Result:
    """The answer to one query of a request, in the request's order."""

    outcome: Outcome
    identity: ProvidedIdentity | None = None
    #: How many persons matched (a search looks at 1,000 at most).
    candidates: int = 0


@attrs.frozen(kw_only=True)
class ProvisionAnswer:
    """The answer to a request: it carries the request's hash (the envelope digest)
    and the ``items`` given for each person found (those the request named, or every
    item its row permits)."""

    request_id: str
    request_hash: str
    provider: str
    use: str
    items: frozenset[Item]
    results: tuple[Result, ...]


@attrs.frozen(kw_only=True)
class Disclosure:
    """What a resident obtains about themself (開示, 住基法30条の32).

    ``codes`` is every resident code the person has held that this tier knows,
    oldest first, ending with their current ``resident_code`` (a code replaced
    under 住基法30条の4 is followed back through ``previous_resident_code``).
    ``history`` is every version of their identity information this tier holds
    under those codes, code by code, each code's oldest first (a code change
    appears once, under the new code); ``provisions`` every provision-log record
    about them under any of those codes, in log order: the provisions to agencies,
    and their own earlier disclosures and correction requests.
    """

    resident_code: ResidentCode
    codes: tuple[ResidentCode, ...]
    history: tuple[IdentityNotice, ...]
    provisions: tuple[ProvisionRecord, ...]


@attrs.frozen(kw_only=True)
class ProvisionReport:
    """Provisions over a period, counted by recipient (the 別表 left column) and
    permitted use, i.e. the task (住基法30条の16)."""

    start: datetime
    end: datetime
    provided: dict[tuple[str, str], int]
    refused: int

    @property
    def total(self) -> int:
        """How many persons' information was provided in all."""
        return sum(self.provided.values())


# --- the desk -----------------------------------------------------------------


class ProvisionDesk:
    """An upper tier's provision service over its store (see the module docstring).

    ``send`` queues a message for a node in the caller's unit of work (the tier's
    outbox): it routes correction requests to municipalities.
    """

    def __init__(
        self,
        node_id: NodeId,
        store: Store,
        clock: Clock,
        send: Callable[[UnitOfWork, NodeId, Sequence[bytes]], object],
        *,
        uses: AgencyUseTable | None = None,
        max_age: timedelta = DEFAULT_MAX_AGE,
    ) -> None:
        self.node_id = node_id
        self.store = store
        self.clock = clock
        self._send = send
        self._uses = uses
        self._max_age = max_age
        provider = Provider.CENTER if node_id.kind is NodeKind.CENTER else Provider.PREFECTURE
        #: The tables this desk provides under (:attr:`Table.provider
        #: <jukinet.domain.agency.Table.provider>`).
        self.tables = frozenset(t for t in Table if t.provider is provider)

    @property
    def uses(self) -> AgencyUseTable:
        """The appended tables this desk applies (the shipped ones unless given)."""
        if self._uses is None:
            self._uses = AgencyUseTable.load()
        return self._uses

    # --- agencies ------------------------------------------------------------

    def register_agency(
        self,
        agency: str,
        public_key: bytes,
        *,
        recipients: Sequence[str],
        number_uses: Sequence[str] = (),
        locality: LocalGovernmentCode | str | None = None,
    ) -> AgencyRow:
        """Register an agency with its Ed25519 public key and the 別表 recipients it may
        act as. Every recipient must appear in a table this tier serves; every
        ``number_uses`` key must be a row of those recipients. Registered once;
        again is an :class:`~jukinet.errors.IntegrityError`.
        """
        NodeId.agency(agency)  # validates the name
        served = {
            use.recipient for use in self.uses if use.table in self.tables and not use.deleted
        }
        for recipient in recipients:
            if recipient not in served:
                raise InvalidComponent(
                    f"{recipient!r} is no recipient of the tables {self.node_id} serves",
                    field="recipients",
                    expected="a left-column name of " + ", ".join(t.label_ja for t in self.tables),
                )
        for key in number_uses:
            try:
                use = self._use(key)
            except UseNotPermitted:
                raise InvalidComponent(
                    f"{key!r} is no row of the appended tables",
                    field="number_uses",
                    expected="permitted-use keys such as '1-77'",
                ) from None
            if use.recipient not in recipients:
                raise InvalidComponent(
                    f"{key} is a row of {use.recipient}",
                    field="number_uses",
                    expected="rows of the agency's own recipients",
                )
        code = (
            locality.value
            if isinstance(locality, LocalGovernmentCode)
            else (LocalGovernmentCode(locality).value if locality is not None else None)
        )
        row = AgencyRow(
            agency=agency,
            public_key=public_key,
            registered_at=self.clock.now(),
            recipients=tuple(recipients),
            number_uses=tuple(number_uses),
            locality=code,
        )
        with self.store.unit_of_work() as uow:
            self.store.agencies.register(uow, row)
        return row

    def _use(self, key: str) -> PermittedUse:
        try:
            return self.uses.by_key(key)
        except (NotFound, ValidationError):
            raise UseNotPermitted(
                f"{key!r} is no row of the appended tables", field="use"
            ) from None

    # --- provision -----------------------------------------------------------

    def provide(
        self, envelope: Envelope, *, progress: ProgressCallback | None = None
    ) -> ProvisionAnswer:
        """Answer a signed request, logging each person provided; see the module docstring.

        Raises a :class:`~jukinet.errors.NotPermitted` (recorded in the provision
        log, nothing provided) for an unknown agency, a request not signed by its
        registered key or misaddressed, a replayed or stale request, a row the
        agency may not act under, or items the row does not permit
        (:class:`~jukinet.errors.ItemsNotPermitted`).

        A ``progress`` callback (:mod:`jukinet.progress`, task "provision", unit
        "queries") hears after every :data:`PROVISION_BATCH` queries answered and
        once when the answer is logged, in the same unit of work: one that raises
        leaves nothing provided and nothing logged.
        """
        if not isinstance(envelope, Envelope):
            raise TypeError(f"expected an Envelope, got {type(envelope).__name__}")
        progress = check_callback(progress)
        request: ProvisionRequest | None = None
        authentic = False
        try:
            request = self._parse(envelope)
            # One unit of work: the agency as registered now, the replay check, the
            # reads and the log entries are one consistent step.
            with self.store.unit_of_work() as uow:
                agency = self._authenticate(uow, envelope, request)
                authentic = True
                use = self._permitted(agency, request)
                items = self._items(agency, use, request)
                if self.store.provision_log.has_request(
                    request.request_id, uow, agency=request.agency
                ):
                    raise RequestReplayed(
                        f"request {request.request_id} was made before",
                        field="request_id",
                        expected="a new request id",
                    )
                results, entries = self._answer(uow, request, use, agency, items, progress)
                entries = entries or [self._entry(request, "provided", use=use.key)]
                self.store.provision_log.append(uow, entries)
                total = len(request.queries)
                report(progress, "provision", total, total, "queries")
        except (NotPermitted, ValidationError) as exc:
            self._refuse(envelope, request, exc, authentic=authentic)
            if isinstance(exc, NotPermitted):
                raise
            raise RequestNotAuthentic(f"the request is malformed: {exc}", field="request") from exc
        event(
            _logger,
            logging.INFO,
            "provision.given",
            node=self.node_id,
            agency=request.agency,
            use=use.key,
            request_id=request.request_id,
            queries=len(request.queries),
            found=sum(1 for r in results if r.outcome is Outcome.FOUND),
        )
        return ProvisionAnswer(
            request_id=request.request_id,
            request_hash=envelope.digest,
            provider=str(self.node_id),
            use=use.key,
            items=items,
            results=tuple(results),
        )

    def _parse(self, envelope: Envelope) -> ProvisionRequest:
        if envelope.payload_type != PROVISION_REQUEST or len(envelope.payloads) != 1:
            raise RequestNotAuthentic(
                "not a provision request", field="payload_type", expected=PROVISION_REQUEST
            )
        if envelope.recipient != self.node_id:
            raise RequestNotAuthentic(
                f"the request is for {envelope.recipient}",
                field="recipient",
                expected=str(self.node_id),
            )
        return ProvisionRequest.from_bytes(envelope.payloads[0])

    def _authenticate(
        self, uow: UnitOfWork, envelope: Envelope, request: ProvisionRequest
    ) -> AgencyRow:
        if envelope.sender.kind is not NodeKind.AGENCY or envelope.sender.code != request.agency:
            raise RequestNotAuthentic(
                f"the request names {request.agency} but comes from {envelope.sender}",
                field="sender",
                expected=f"a:{request.agency}",
            )
        agency = self.store.agencies.get(request.agency, uow)
        if agency is None:
            raise UnknownAgency(
                f"{request.agency} is not registered with {self.node_id}",
                field="agency",
                expected="an agency registered with this provider",
            )
        try:
            Ed25519PublicKey.from_public_bytes(agency.public_key).verify(
                envelope.signature, envelope.signed_bytes()
            )
        except InvalidSignature:
            raise RequestNotAuthentic(
                f"the signature is not {request.agency}'s registered key's",
                field="signature",
            ) from None
        check_fresh(
            envelope.sent_at,
            self.clock.now(),
            max_age=self._max_age,
            what="the request",
            error=RequestReplayed,
        )
        return agency

    def _permitted(self, agency: AgencyRow, request: ProvisionRequest) -> PermittedUse:
        use = self._use(request.use)
        if use.deleted:
            raise UseNotPermitted(f"{use.table.label_ja} {use.row} is 削除", field="use")
        if use.table not in self.tables:
            raise UseNotPermitted(
                f"{self.node_id} does not provide under {use.table.label_ja}",
                field="use",
                expected=", ".join(t.label_ja for t in sorted(self.tables)),
            )
        if use.recipient not in agency.recipients:
            raise UseNotPermitted(
                f"{agency.agency} may not act as {use.recipient}",
                field="use",
                expected="a row of " + "、".join(agency.recipients),
            )
        why = use.table.scope.refuses(agency.locality, self.node_id.code)
        if why is not None:
            raise UseNotPermitted(f"{use.table.label_ja}: {why} ({agency.agency})", field="use")
        return use

    def _items(
        self, agency: AgencyRow, use: PermittedUse, request: ProvisionRequest
    ) -> frozenset[Item]:
        """The items to give: those asked for, each of which the row must permit
        (住基法30条の9〜30条の15; the individual number under 番号法9条); every
        permitted one when the request names none."""
        permitted = use.items(individual_number=use.key in agency.number_uses)
        if request.items is None:
            return permitted
        beyond = sorted(request.items - permitted, key=lambda item: item.value)
        if beyond:
            reasons = {
                Item.RESIDENT_CODE: "withheld under every appended table, 住基法30条の9〜30条の15",
                Item.INDIVIDUAL_NUMBER: (
                    f"{agency.agency} is not registered to use the individual number "
                    "for this task, 番号法9条"
                ),
            }
            named = ", ".join(
                f"{item.value} ({reasons[item]})" if item in reasons else item.value
                for item in beyond
            )
            raise ItemsNotPermitted(
                f"{use.citation} does not permit {named}",
                field="items",
                expected="items among " + ", ".join(sorted(i.value for i in permitted)),
            )
        return request.items

    def _in_scope(self, agency: AgencyRow, use: PermittedUse, municipality: str) -> bool:
        return use.table.scope.covers(municipality, agency.locality, self.node_id.code)

    def _answer(
        self,
        uow: UnitOfWork,
        request: ProvisionRequest,
        use: PermittedUse,
        agency: AgencyRow,
        items: frozenset[Item],
        progress: ProgressCallback | None,
    ) -> tuple[list[Result], list[ProvisionEntry]]:
        identities = self.store.identities
        codes = [q.resident_code.value for q in request.queries if isinstance(q, ByCode)]
        current = identities.current_many(sorted(set(codes)), uow) if codes else {}
        results: list[Result] = []
        entries: list[ProvisionEntry] = []
        # One validated entry; each person's is a copy naming them (their resident
        # code comes from this tier's own storage).
        provided = self._entry(
            request, "provided", use=use.key, items=tuple(sorted(i.value for i in items))
        )
        total = len(request.queries)
        for n, query in enumerate(request.queries, 1):
            if n > 1 and (n - 1) % PROVISION_BATCH == 0:
                report(progress, "provision", n - 1, total, "queries")
            if isinstance(query, ByCode):
                row = current.get(query.resident_code.value)
                rows = [row] if row is not None else []
            else:
                rows = self._search(uow, query)
            rows = [r for r in rows if self._in_scope(agency, use, r.municipality)]
            if not rows:
                results.append(Result(outcome=Outcome.NOT_FOUND))
            elif len(rows) > 1:
                results.append(Result(outcome=Outcome.SEVERAL, candidates=len(rows)))
            else:
                notice = codec.from_stored(IdentityNotice, rows[0].payload)
                identity = ProvidedIdentity.of(notice, items)
                results.append(Result(outcome=Outcome.FOUND, identity=identity, candidates=1))
                entries.append(unchecked_replace(provided, subject=rows[0].resident_code))
        return results, entries

    def _search(self, uow: UnitOfWork, query: ByBasicItems) -> list[IdentityRow]:
        found = self.store.identities.search(
            IdentityQuery(
                name_key=query.name.matching_key,
                birth_date=query.birth_date,
                sex=query.sex.value if query.sex else None,
                address_key=query.address.search_key if query.address else None,
            ),
            limit=_SEARCH_LIMIT,
            uow=uow,
        )
        reading = query.name.reading_key
        by_code: dict[str, IdentityRow] = {}
        for row in found:
            if reading is not None and row.reading_key is not None and row.reading_key != reading:
                continue
            by_code.setdefault(row.resident_code, row)
        if len(by_code) != 1:
            return list(by_code.values())
        # The person's current version (a search hit may be an old municipality's word).
        (code,) = by_code
        current = self.store.identities.current(code, uow)
        return [current] if current is not None and not current.removed else []

    def _entry(
        self,
        request: ProvisionRequest,
        kind: str,
        *,
        use: str | None = None,
        subject: str | None = None,
        items: tuple[str, ...] = (),
        detail: Mapping[str, object] | None = None,
    ) -> ProvisionEntry:
        return ProvisionEntry(
            at=self.clock.now(),
            kind=kind,
            request_id=request.request_id,
            agency=request.agency,
            use=use,
            subject=subject,
            items=items,
            detail=_json(detail or {}),
        )

    def _refuse(
        self,
        envelope: Envelope,
        request: ProvisionRequest | None,
        exc: JukinetError,
        *,
        authentic: bool,
    ) -> None:
        detail: dict[str, object] = {"error": type(exc).__name__, "reason": str(exc)[:500]}
        # A request that failed authentication is logged under its envelope's digest,
        # so that whoever sent it cannot use up the id the agency will use.
        request_id = f"env-{envelope.digest[:60]}"
        agency: str | None = None
        use: str | None = None
        if request is not None:
            if authentic:
                request_id = request.request_id
            else:
                detail["claimed_request_id"] = request.request_id
            agency = _valid(lambda: NodeId.agency(request.agency).code)
            use = _valid(lambda: self._use(request.use).key)
            if request.items is not None:
                detail["items"] = sorted(item.value for item in request.items)
        entry = ProvisionEntry(
            at=self.clock.now(),
            kind="refused",
            request_id=request_id,
            agency=agency,
            use=use,
            detail=_json(detail),
        )
        with self.store.unit_of_work() as uow:
            self.store.provision_log.append(uow, [entry])
        event(
            _logger,
            logging.WARNING,
            "provision.refused",
            node=self.node_id,
            agency=agency,
            use=use,
            request_id=request_id,
            error=type(exc).__name__,
            reason=str(exc)[:500],
        )

    # --- the log -------------------------------------------------------------

    def verify_log(self) -> list[ChainFault]:
        """Recompute the provision log's hash chain; every changed, removed or
        reordered record is named (an empty list: intact).

        A record the store cannot read back any more (changed in storage into
        something unreadable, :class:`~jukinet.errors.CorruptRecord`) is named
        ``altered`` like any other changed record, and the check goes on past it
        (:meth:`ProvisionLog.verify <jukinet.storage.base.ProvisionLog.verify>`).
        """
        with self.store.unit_of_work() as uow:
            return self.store.provision_log.verify(uow)

    def purge_log(self, *, now: datetime | None = None) -> int:
        """Remove provision records older than :data:`RETENTION` (7 years), logging the
        purge itself in the same unit of work; returns how many went."""
        now = self.clock.now() if now is None else now
        before = now - RETENTION
        with self.store.unit_of_work() as uow:
            count = self.store.provision_log.purge(uow, before=before)
            self.store.provision_log.append(
                uow,
                [
                    ProvisionEntry(
                        at=self.clock.now(),
                        kind="purged",
                        request_id=f"purge-{now.strftime('%Y%m%dT%H%M%S')}",
                        detail=_json({"before": before.isoformat(), "count": count}),
                    )
                ],
            )
        event(
            _logger,
            logging.INFO,
            "deadlines.run",
            node=self.node_id,
            task="provision.purge_log",
            count=count,
            before=before.isoformat(),
        )
        return count

    def report(self, start: datetime, end: datetime) -> ProvisionReport:
        """Persons provided in ``[start, end)``, counted by (recipient, use key), and
        refusals (30条の16).

        A record the store cannot read back stops the report with
        :class:`~jukinet.errors.CorruptRecord` naming its ``seq`` (its time and
        kind are unknown, so no count would be exact); :meth:`verify_log` names
        every such record.
        """
        provided: Counter[tuple[str, str]] = Counter()
        refused = 0
        for record in _read_log(self.store, after=self.store.provision_log.anchor()[0]):
            entry = record.entry
            if not start <= entry.at < end:
                continue
            if entry.kind == "provided" and entry.subject is not None and entry.use:
                provided[(self._use(entry.use).recipient, entry.use)] += 1
            elif entry.kind == "refused":
                refused += 1
        return ProvisionReport(start=start, end=end, provided=dict(provided), refused=refused)

    # --- residents' rights -----------------------------------------------------

    def disclose(self, resident_code: ResidentCode, *, request_id: str) -> Disclosure:
        """A resident's own identity information and provision records (30条の32),
        under every resident code they have held.

        A person whose code was replaced (住基法30条の4, 令30条の4) asks with their
        current code; the disclosure follows the ``previous_resident_code`` links
        back through this tier's identity information and covers the versions and
        the provision records kept under each earlier code too. A replaced code no
        longer identifies a person: asking with it raises
        :class:`~jukinet.errors.ResidentCodeReplaced`, which does not name the new
        code (the old one may be why the code was changed). A code this tier holds
        nothing about raises :class:`~jukinet.errors.NotFound`.

        Checking who asks (a written request with identification) is the caller's;
        the disclosure itself is logged, under the current code, with the earlier
        codes in its detail. A provision record about the resident that the store
        cannot read back stops the disclosure with
        :class:`~jukinet.errors.CorruptRecord` naming its ``seq``, and nothing is
        logged: a disclosure never leaves out a record (:meth:`verify_log` names it).
        """
        if not isinstance(resident_code, ResidentCode):
            raise TypeError(f"expected a ResidentCode, got {type(resident_code).__name__}")
        code = resident_code.value
        with self.store.unit_of_work() as uow:
            if self.store.provision_log.has_request(request_id, uow):
                raise IntegrityError(f"request {request_id} was made before")
            chain = self._codes_held(code, uow)
            if not chain[-1][1]:
                raise NotFound(
                    f"{self.node_id} holds no identity information for {code}",
                    field="住民票コード",
                )
            history: list[IdentityNotice] = []
            for held, rows in chain:
                for row in rows:
                    notice = codec.from_stored(IdentityNotice, row.payload)
                    if notice.info.resident_code.value == held:
                        history.append(notice)
                    elif held == code:
                        raise ResidentCodeReplaced(
                            f"{code} was replaced by a new resident code on "
                            f"{notice.event_date.isoformat()} ({notice.reason.label_ja})",
                            field="住民票コード",
                            expected="the person's current resident code",
                        )
                    # else: the removal that ended an earlier code carries the
                    # change notice, which is the next code's own version.
            codes = [held for held, _rows in chain]
            records = list(
                heapq.merge(
                    *(_read_log(self.store, after=0, subject=c, uow=uow) for c in codes),
                    key=lambda record: record.seq,
                )
            )
            earlier = codes[:-1]
            self.store.provision_log.append(
                uow,
                [
                    ProvisionEntry(
                        at=self.clock.now(),
                        kind="disclosed",
                        request_id=request_id,
                        subject=code,
                        items=tuple(sorted(i.value for i in Item)),
                        detail=_json({"earlier_codes": earlier} if earlier else {}),
                    )
                ],
            )
        return Disclosure(
            resident_code=resident_code,
            codes=tuple(ResidentCode(c) for c in codes),
            history=tuple(history),
            provisions=tuple(records),
        )

    def _codes_held(self, code: str, uow: UnitOfWork) -> list[tuple[str, list[IdentityRow]]]:
        """``code`` and every code it replaced, each with its kept versions, oldest
        code first: the ``previous_resident_code`` links followed back (a person may
        have changed code several times; a code is replaced once, 30条の4)."""
        found: list[tuple[str, list[IdentityRow]]] = []
        seen = {code}
        pending = [code]
        while pending:
            held = pending.pop(0)
            rows = self.store.identities.history(held, uow)
            found.append((held, rows))
            for row in rows:
                previous = row.previous_resident_code
                if previous is not None and previous not in seen:
                    seen.add(previous)
                    pending.append(previous)
        found.reverse()
        return found

    def file_correction(
        self, resident_code: ResidentCode, *, request_id: str, details: str
    ) -> NodeId:
        """Record a resident's correction request (訂正, 30条の35) and route it to the
        municipality that keeps their register; returns that municipality's node.

        The outcome comes back from the municipality and is logged
        (:meth:`record_outcome`).
        """
        if not isinstance(resident_code, ResidentCode):
            raise TypeError(f"expected a ResidentCode, got {type(resident_code).__name__}")
        if not isinstance(details, str) or not 1 <= len(details) <= 2000:
            raise InvalidComponent(
                "the request's details", field="details", expected="1 to 2,000 characters"
            )
        code = resident_code.value
        with self.store.unit_of_work() as uow:
            row = self.store.identities.current(code, uow)
            if row is None:
                raise NotFound(
                    f"{self.node_id} holds no identity information for {code}",
                    field="住民票コード",
                )
            if self.store.provision_log.has_request(request_id, uow):
                raise IntegrityError(f"request {request_id} was filed before")
            municipality = NodeId.municipality(row.municipality)
            self.store.provision_log.append(
                uow,
                [
                    ProvisionEntry(
                        at=self.clock.now(),
                        kind="correction.filed",
                        request_id=request_id,
                        subject=code,
                        detail=_json({"details": details, "routed_to": str(municipality)}),
                    )
                ],
            )
            message = wire.encode_correction(
                wire.CorrectionMessage(
                    request_id=request_id,
                    resident_code=code,
                    filed_with=str(self.node_id),
                    details=details,
                    outcome=None,
                )
            )
            self._send(uow, municipality, [message])
        return municipality

    def open_corrections(self) -> list[ProvisionRecord]:
        """Correction requests filed here whose outcome has not come back, oldest first
        (to follow up; after a municipality's restore, to file again)."""
        records = list(_read_log(self.store, after=self.store.provision_log.anchor()[0]))
        answered = {r.entry.request_id for r in records if r.entry.kind == "correction.outcome"}
        return [
            r
            for r in records
            if r.entry.kind == "correction.filed" and r.entry.request_id not in answered
        ]

    def record_outcome(self, uow: UnitOfWork, message: wire.CorrectionMessage) -> None:
        """Log a correction's outcome as it comes back from the municipality."""
        self.store.provision_log.append(
            uow,
            [
                ProvisionEntry(
                    at=self.clock.now(),
                    kind="correction.outcome",
                    request_id=message.request_id,
                    subject=message.resident_code,
                    detail=_json({"filed_with": message.filed_with, "outcome": message.outcome}),
                )
            ],
        )

    # --- repr -------------------------------------------------------------------

    @never_raises
    def __repr__(self) -> str:
        """``<ProvisionDesk p:13 東京都 on <MemoryStore database=0x… open>>``: the tier
        it serves and where its data lives (no storage read)."""
        return f"<ProvisionDesk {node_label(self.node_id)} on {self.store!r}>"


def _read_log(
    store: Store, *, after: int, subject: str | None = None, uow: UnitOfWork | None = None
) -> Iterator[ProvisionRecord]:
    """Every provision record after ``after`` (of one subject), read page by page."""
    while batch := store.provision_log.read(after=after, limit=1000, subject=subject, uow=uow):
        yield from batch
        after = batch[-1].seq


def _json(data: Mapping[str, object]) -> bytes:
    return codec.canonical_json(data)


def _valid(get: Callable[[], str]) -> str | None:
    try:
        return get()
    except JukinetError:
        return None

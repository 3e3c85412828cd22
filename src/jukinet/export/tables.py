"""The tables :mod:`jukinet.export` makes, read through public APIs and storage ports.

Each function returns a :class:`~jukinet.export.table.Table`. Values are flat:
codes are ``str``, dates ``datetime.date``, times ``datetime.datetime``, enums
their ``value`` (a reason also gets its Japanese label in a column of its own),
several values in one cell are joined by ``|`` (as in the shipped 別表 CSV).

>>> uses = agency_uses()
>>> len(uses), uses.to_dicts()[0]["citation"]
(689, '別表第一の1の項')
>>> pension = [row for row in uses if row["key"] == "1-77"][0]
>>> pension["recipient"], pension["ministry"], pension["statutes"], pension["article"]
('厚生労働省及び日本年金機構', '厚生労働省', '国民年金法', '30条の9')
>>> pension["items"]
'name|birth_date|sex|address|change'
>>> uses.labels[:6]
('別表', '別表の名称', '項', 'キー', '引用', '提供先')
>>> lg = local_governments()
>>> [row for row in lg if row["code"] == "131016"][0]["full_name"]
'東京都千代田区'
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date

from jukinet.domain.agency import AgencyUseTable, Item, PermittedUse
from jukinet.domain.identity import IdentityNotice
from jukinet.domain.lg_code import all_codes
from jukinet.domain.resident import RecordVersion
from jukinet.errors import JukinetError
from jukinet.export.table import Column, Table, Value
from jukinet.storage import mapping
from jukinet.storage.base import Store
from jukinet.storage.records import IdentityRow, ProvisionRecord, RegisterRow
from jukinet.tiers.municipality import Municipality
from jukinet.tiers.provision import ProvisionDesk
from jukinet.tiers.upper import NationalCenter, UpperTier

__all__ = [
    "AGENCY_USE_COLUMNS",
    "IDENTITY_COLUMNS",
    "LOCAL_GOVERNMENT_COLUMNS",
    "PROVISION_COLUMNS",
    "REGISTER_COLUMNS",
    "REVOCATION_COLUMNS",
    "agency_uses",
    "identity_rows",
    "jpki_feed",
    "local_governments",
    "provision_log",
    "register",
]

_JOIN = "|"
_PAGE = 1000
# Item order as the law lists identity information (住基法30条の6第1項, 7条).
_ITEM_ORDER = (
    Item.NAME,
    Item.BIRTH_DATE,
    Item.SEX,
    Item.ADDRESS,
    Item.RESIDENT_CODE,
    Item.INDIVIDUAL_NUMBER,
    Item.CHANGE,
)
# A national ministry or agency (府省庁) named first in a 別表第一 recipient:
# 厚生労働省及び日本年金機構 → 厚生労働省, 金融庁又は財務省 → 金融庁.
_MINISTRY = re.compile(r"(内閣府|内閣官房|[^\s、（）]{1,10}?[省庁])(?:又は|若しくは|及び|並びに|$)")


def _join(values: Iterator[str] | tuple[str, ...] | list[str]) -> str:
    return _JOIN.join(values)


# --- the 別表 -------------------------------------------------------------------

AGENCY_USE_COLUMNS = (
    Column("table", "別表", "the appended table, 1 to 6"),
    Column("table_label", "別表の名称", "別表第一 … 別表第六"),
    Column("row", "項", "the row (in 別表第五 the 号) as written, Arabic digits: 57の3"),
    Column("key", "キー", "the row's stable id, table-row: 1-57の3"),
    Column("citation", "引用", "the row as the law cites it: 別表第一の57の3の項"),
    Column("recipient", "提供先", "the body that may receive (別表第五: use) the information"),
    Column(
        "ministry",
        "府省庁",
        "the national ministry or agency named first in the recipient, None when the "
        "recipient names none (corporations, local bodies); read from the recipient text",
    ),
    Column("task", "事務", "the task (下欄) as written; 削除 for a deleted row"),
    Column("statutes", "法律", "the statutes the task cites, joined by |"),
    Column("article", "根拠条文", "the article of 住民基本台帳法 that provides under the table"),
    Column("provider", "提供元", "whose copy is used: center (J-LIS) or prefecture"),
    Column("scope", "対象者の範囲", "whose information the recipients may obtain"),
    Column(
        "items",
        "提供する本人確認情報",
        "the items the row lets leave, joined by |; the individual number is added only "
        "where 番号法9条 lets the recipient use it for the task",
    ),
    Column("deleted", "削除", "whether the law has deleted the row"),
    Column("revision", "法令改正", "the e-Gov revision id of the law text the row is from"),
    Column("in_force", "施行日", "the day that revision came into force"),
)
"""The columns of :func:`agency_uses`."""


def _ministry(use: PermittedUse) -> str | None:
    match = _MINISTRY.match(use.recipient)
    return match.group(1) if match else None


def _items(items: frozenset[Item]) -> str:
    return _join([item.value for item in _ITEM_ORDER if item in items])


def agency_uses(table: AgencyUseTable | None = None) -> Table:
    """The appended tables 別表第一〜第六 (住基法30条の9〜30条の15), one row per 項
    (deleted ones included, marked ``deleted``), in the law's order.

    ``table`` defaults to the shipped one (:meth:`AgencyUseTable.load
    <jukinet.domain.agency.AgencyUseTable.load>`). Count by table and ministry with
    pandas: ``agency_uses().to_pandas().groupby(["table", "ministry"]).size()``.
    """
    uses = AgencyUseTable.load() if table is None else table
    if not isinstance(uses, AgencyUseTable):
        raise TypeError(f"expected an AgencyUseTable, got {type(uses).__name__}")
    rows: list[dict[str, Value]] = []
    for use in uses:
        rows.append(
            {
                "table": use.table.value,
                "table_label": use.table.label_ja,
                "row": use.row,
                "key": use.key,
                "citation": use.citation,
                "recipient": use.recipient,
                "ministry": _ministry(use),
                "task": use.task,
                "statutes": _join(use.statutes),
                "article": use.table.article,
                "provider": use.table.provider.value,
                "scope": use.table.scope.value,
                "items": _items(use.items(individual_number=False)),
                "deleted": use.deleted,
                "revision": uses.revision,
                "in_force": uses.in_force,
            }
        )
    return Table.from_dicts("agency_uses", AGENCY_USE_COLUMNS, rows)


# --- the local-government list ----------------------------------------------------

LOCAL_GOVERNMENT_COLUMNS = (
    Column("code", "団体コード", "the 6-digit local government code, check digit included"),
    Column("prefecture_code", "都道府県コード", "the prefecture's 2 digits"),
    Column("prefecture", "都道府県名", "the prefecture's name"),
    Column("name", "団体名", "the name as the list gives it"),
    Column("full_name", "団体名（都道府県名付き）", "prefecture and name"),
    Column("kana", "団体名カナ", "the name's reading"),
    Column("kind", "区分", "prefecture, designated_city, city, town, village, special_ward, …"),
    Column("kind_label", "区分名", "the kind in Japanese: 都道府県, 政令指定都市, 市, …"),
    Column("parent", "親団体コード", "a designated-city ward's city, else None"),
    Column("keeps_register", "住民基本台帳の保有", "whether it keeps a resident register"),
)
"""The columns of :func:`local_governments`."""


def local_governments() -> Table:
    """The shipped list of local governments (全国地方公共団体コード), one row each."""
    rows: list[dict[str, Value]] = []
    for code in all_codes():
        parent = code.parent
        rows.append(
            {
                "code": code.value,
                "prefecture_code": code.prefecture_code,
                "prefecture": code.prefecture_name,
                "name": code.name,
                "full_name": code.full_name,
                "kana": code.kana,
                "kind": code.kind.value,
                "kind_label": code.kind.label,
                "parent": None if parent is None else parent.value,
                "keeps_register": code.keeps_register,
            }
        )
    return Table.from_dicts("local_governments", LOCAL_GOVERNMENT_COLUMNS, rows)


# --- identity information ----------------------------------------------------------

IDENTITY_COLUMNS = (
    Column("holder", "保存者", "the node whose copy this is: m:131016, p:13, c:jlis"),
    Column("resident_code", "住民票コード", "the resident code (住基法7条13号)"),
    Column("version", "版", "the version's number for this person at the holder"),
    Column("municipality", "市町村コード", "the notifying municipality's code"),
    Column("municipality_name", "市町村名", "its name, prefecture included"),
    Column("name", "氏名", "family and given name (住基法7条1号)"),
    Column("reading", "氏名の振り仮名", "the name's reading in katakana (7条1号の2)"),
    Column("birth_date", "生年月日", "date of birth (出生の年月日, 7条2号)"),
    Column("sex", "性別", "male or female (男女の別, 7条3号)"),
    Column("address", "住所", "the address (7条7号)"),
    Column("individual_number", "個人番号", "the individual number (7条8号の2), or None"),
    Column("kind", "異動等の区分", "entry (記載), removal (消除) or correction (修正)"),
    Column("reason", "異動事由", "the reason for the change (ChangeReason value)"),
    Column("reason_label", "異動事由の名称", "the reason in Japanese: 出生, 国内転入, …"),
    Column("event_date", "異動年月日", "the day of the change"),
    Column("previous_resident_code", "変更前の住民票コード", "the code a code change replaced"),
    Column("removed", "消除", "whether this version removes the person (a 除票)"),
    Column("received_on", "受信年月日", "the day the holder received it; None at a municipality"),
)
"""The columns of :func:`identity_rows`."""


def _identity(
    holder: str,
    version: int,
    notice: IdentityNotice,
    *,
    removed: bool,
    received_on: date | None,
) -> dict[str, Value]:
    info = notice.info
    municipality = info.address.municipality
    return {
        "holder": holder,
        "resident_code": info.resident_code.value,
        "version": version,
        "municipality": municipality.value,
        "municipality_name": municipality.full_name,
        "name": info.name.full,
        "reading": info.name.full_reading,
        "birth_date": info.birth_date,
        "sex": info.sex.value,
        "address": info.address.full,
        "individual_number": (
            None if info.individual_number is None else info.individual_number.value
        ),
        "kind": notice.kind.value,
        "reason": notice.reason.value,
        "reason_label": notice.reason.label_ja,
        "event_date": notice.event_date,
        "previous_resident_code": (
            None if notice.previous_resident_code is None else notice.previous_resident_code.value
        ),
        "removed": removed,
        "received_on": received_on,
    }


def _identity_from_row(holder: str, row: IdentityRow) -> dict[str, Value]:
    return _identity(
        holder,
        row.version,
        mapping.notice(row),
        removed=row.removed,
        received_on=row.received_on,
    )


def _scan_identities(store: Store) -> Iterator[IdentityRow]:
    after: str | None = None
    while rows := store.identities.scan(after=after, limit=_PAGE):
        yield from rows
        after = rows[-1].resident_code


def _notices(versions: tuple[RecordVersion, ...]) -> Iterator[tuple[RecordVersion, IdentityNotice]]:
    """The identity notice each notifiable version of one record sends (as the
    municipality's communication server builds it, 住基法30条の6)."""
    for index, version in enumerate(versions):
        if version.reason.notifiable:
            before = versions[index - 1].record if index else None
            yield (
                version,
                IdentityNotice.for_change(
                    version.record,
                    reason=version.reason,
                    event_date=version.event_date,
                    before=before,
                ),
            )


def identity_rows(node: UpperTier | Municipality, *, history: bool = False) -> Table:
    """A tier's identity information (本人確認情報, 住基法30条の6〜30条の7), one row per
    person (their current version), or with ``history`` every version kept.

    At a prefecture or the centre the rows are the versions the tier stored from
    the notices it accepted (:class:`~jukinet.storage.base.IdentityStore`), with the
    day each was received. At a municipality they are the notices its register's
    versions send up (every notifiable version; the current one is the newest),
    without a received day.
    """
    rows: list[dict[str, Value]] = []
    if isinstance(node, Municipality):
        holder = str(node.node_id)
        for row in _scan_register(node.store):
            versions = tuple(
                mapping.record_version(r) for r in node.store.register.history(row.internal_id)
            )
            notices = list(_notices(versions))
            if not history:
                notices = notices[-1:]
            for version, notice in notices:
                rows.append(
                    _identity(
                        holder,
                        version.version,
                        notice,
                        removed=version.record.is_removed,
                        received_on=None,
                    )
                )
    elif isinstance(node, UpperTier):
        holder = str(node.node_id)
        identities = node.store.identities
        for current in _scan_identities(node.store):
            kept = identities.history(current.resident_code) if history else [current]
            rows.extend(_identity_from_row(holder, row) for row in kept)
    else:
        raise TypeError(
            f"expected a Municipality, Prefecture or NationalCenter, got {type(node).__name__}"
        )
    return Table.from_dicts("identity", IDENTITY_COLUMNS, rows)


# --- the register -------------------------------------------------------------------

REGISTER_COLUMNS = (
    Column("municipality", "市町村コード", "the municipality that keeps the register"),
    Column("internal_id", "宛名番号", "the municipality's internal number for the person"),
    Column("version", "版", "the record's version"),
    Column("resident_code", "住民票コード", "the resident code (住基法7条13号)"),
    Column("status", "状態", "registered, or removed (a 除票)"),
    Column("family_name", "氏", "family name (7条1号)"),
    Column("given_name", "名", "given name"),
    Column("family_reading", "氏の振り仮名", "family name's reading (7条1号の2)"),
    Column("given_reading", "名の振り仮名", "given name's reading"),
    Column("birth_date", "生年月日", "date of birth (7条2号)"),
    Column("sex", "性別", "male or female (7条3号)"),
    Column("household_id", "世帯番号", "the household"),
    Column("relationship", "続柄", "relationship to the head of household (7条4号)"),
    Column("head_of_household", "世帯主の氏名", "the head's name (7条4号)"),
    Column("address", "住所", "the address (7条7号)"),
    Column("resident_since", "住民となった年月日", "7条6号"),
    Column("address_since", "住所を定めた年月日", "7条7号, or None"),
    Column("individual_number", "個人番号", "7条8号の2, or None"),
    Column("domicile", "本籍", "the family register's domicile (7条5号), or None"),
    Column("family_register_head", "筆頭者", "the family register's head, or None"),
    Column("nationality", "国籍・地域", "a foreign resident's nationality (30条の45), or None"),
    Column("previous_address", "従前の住所", "where a moved-in person lived before (7条8号)"),
    Column("electoral_register", "選挙人名簿への登録", "7条11号"),
    Column("reason", "異動事由", "the reason of this version's change"),
    Column("reason_label", "異動事由の名称", "that reason in Japanese"),
    Column("event_date", "異動年月日", "the day of the change"),
    Column("processed_on", "処理年月日", "the day the municipality recorded it"),
    Column("removal_reason", "消除の事由", "why a 除票 was removed, or None"),
    Column("removed_on", "消除の年月日", "when, or None"),
    Column("destination", "転出先", "a move-out's destination, or None"),
)
"""The columns of :func:`register`."""


def _scan_register(store: Store) -> Iterator[RegisterRow]:
    after: str | None = None
    while rows := store.register.scan(after=after, limit=_PAGE):
        yield from rows
        after = rows[-1].internal_id


def _register_row(municipality: str, version: RecordVersion) -> dict[str, Value]:
    record = version.record
    name, household = record.name, record.household
    head = name if household.is_head else household.head_name
    family = record.family_register
    removal = record.removal
    return {
        "municipality": municipality,
        "internal_id": record.internal_id,
        "version": version.version,
        "resident_code": record.resident_code.value,
        "status": record.status.value,
        "family_name": name.family,
        "given_name": name.given,
        "family_reading": name.family_reading,
        "given_reading": name.given_reading,
        "birth_date": record.birth_date,
        "sex": record.sex.value,
        "household_id": household.household_id,
        "relationship": household.relationship,
        "head_of_household": None if head is None else head.full,
        "address": record.address.full,
        "resident_since": record.resident_since,
        "address_since": record.address_since,
        "individual_number": (
            None if record.individual_number is None else record.individual_number.value
        ),
        "domicile": None if family is None else family.domicile,
        "family_register_head": None if family is None else family.head,
        "nationality": None if record.foreign is None else record.foreign.nationality,
        "previous_address": None if record.moved_in is None else record.moved_in.previous_address,
        "electoral_register": record.electoral_register,
        "reason": version.reason.value,
        "reason_label": version.reason.label_ja,
        "event_date": version.event_date,
        "processed_on": version.processed_on,
        "removal_reason": None if removal is None else removal.reason.value,
        "removed_on": None if removal is None else removal.removed_on,
        "destination": None if removal is None else removal.destination,
    }


def register(municipality: Municipality, *, history: bool = False) -> Table:
    """A municipality's resident register (住民基本台帳, 住基法6条): one row per
    record (住民票) as it stands, removed ones (除票) included, by internal number;
    with ``history`` one row per version of every record.
    """
    if not isinstance(municipality, Municipality):
        raise TypeError(f"expected a Municipality, got {type(municipality).__name__}")
    code = municipality.code.value
    store = municipality.store
    rows: list[dict[str, Value]] = []
    for row in _scan_register(store):
        if history:
            kept = store.register.history(row.internal_id)
            rows.extend(_register_row(code, mapping.record_version(r)) for r in kept)
        else:
            rows.append(_register_row(code, mapping.record_version(row)))
    return Table.from_dicts("register", REGISTER_COLUMNS, rows)


# --- the provision log ------------------------------------------------------------

PROVISION_COLUMNS = (
    Column("provider", "提供者", "the node that keeps the log: c:jlis, p:13"),
    Column("seq", "番号", "the record's number in the log"),
    Column("at", "日時", "when (timezone-aware)"),
    Column("kind", "種別", "provided, refused, disclosed, correction.filed, …"),
    Column("request_id", "請求番号", "the request (or the resident's request)"),
    Column("agency", "提供先機関", "the registered agency that asked, or None"),
    Column("use", "利用事務", "the 別表 row it relied on (a key such as 1-77), or None"),
    Column("citation", "別表の項", "that row as the law cites it, or None"),
    Column("recipient", "提供先", "that row's recipient (上欄), or None"),
    Column("subject", "住民票コード", "the resident code of the person, or None"),
    Column("items", "提供した本人確認情報", "the items provided, joined by |"),
    Column("detail", "詳細", "the particulars (a refusal's reason …) as JSON text"),
    Column("hash", "ハッシュ値", "the record's link in the log's hash chain"),
)
"""The columns of :func:`provision_log`."""


def provision_log(source: ProvisionDesk | UpperTier) -> Table:
    """The provision log (提供記録, 住基法30条の16) of a tier's provision desk, one row per
    kept record in log order: provisions, refusals, residents' disclosures
    (30条の32) and correction requests (30条の35).

    Check the chain with :meth:`ProvisionDesk.verify_log
    <jukinet.tiers.provision.ProvisionDesk.verify_log>`; this only reads.
    """
    desk = source.provision if isinstance(source, UpperTier) else source
    if not isinstance(desk, ProvisionDesk):
        raise TypeError(
            f"expected a ProvisionDesk, Prefecture or NationalCenter, got {type(source).__name__}"
        )
    log = desk.store.provision_log
    provider = str(desk.node_id)
    rows: list[dict[str, Value]] = []
    after = log.anchor()[0]
    while records := log.read(after=after, limit=_PAGE):
        rows.extend(_provision_row(provider, desk, record) for record in records)
        after = records[-1].seq
    return Table.from_dicts("provision_log", PROVISION_COLUMNS, rows)


def _provision_row(provider: str, desk: ProvisionDesk, record: ProvisionRecord) -> dict[str, Value]:
    entry = record.entry
    use: PermittedUse | None = None
    if entry.use is not None:
        try:
            use = desk.uses.by_key(entry.use)
        except JukinetError:  # a key of another revision: keep the key alone
            use = None
    return {
        "provider": provider,
        "seq": record.seq,
        "at": entry.at,
        "kind": entry.kind,
        "request_id": entry.request_id,
        "agency": entry.agency,
        "use": entry.use,
        "citation": None if use is None else use.citation,
        "recipient": None if use is None else use.recipient,
        "subject": entry.subject,
        "items": _join(entry.items),
        "detail": entry.detail.decode("utf-8", errors="replace"),
        "hash": record.hash,
    }


# --- the JPKI feed ---------------------------------------------------------------

REVOCATION_COLUMNS = (
    Column("position", "位置", "the notice's position on the feed"),
    Column("resident_code", "住民票コード", "whose certificate is revoked"),
    Column("certificate", "電子証明書", "signature or user_authentication"),
    Column("certificate_label", "電子証明書の種類", "署名用電子証明書 or 利用者証明用電子証明書"),
    Column("cause", "失効の事由", "identity_changed, removed or no_move_in (JPKI法12条, 31条)"),
    Column("reason", "異動事由", "the change that caused it"),
    Column("reason_label", "異動事由の名称", "that reason in Japanese"),
    Column("event_date", "異動年月日", "the day of the change (or the move-in deadline)"),
)
"""The columns of :func:`jpki_feed`."""


def jpki_feed(center: NationalCenter, *, after: int = 0) -> Table:
    """The centre's JPKI revocation feed (異動等失効情報, JPKI法12条・31条) after
    position ``after``, one row per notice; reading does not confirm it
    (:meth:`NationalCenter.confirm_revocations
    <jukinet.tiers.upper.NationalCenter.confirm_revocations>` does)."""
    if not isinstance(center, NationalCenter):
        raise TypeError(f"expected a NationalCenter, got {type(center).__name__}")
    rows: list[dict[str, Value]] = []
    while feed := center.revocations(after=after, limit=_PAGE):
        for position, notice in feed:
            rows.append(
                {
                    "position": position,
                    "resident_code": notice.resident_code.value,
                    "certificate": notice.certificate.value,
                    "certificate_label": notice.certificate.label_ja,
                    "cause": notice.cause.value,
                    "reason": notice.reason.value,
                    "reason_label": notice.reason.label_ja,
                    "event_date": notice.event_date,
                }
            )
        after = feed[-1][0]
    return Table.from_dicts("jpki_feed", REVOCATION_COLUMNS, rows)

"""``python -m jukinet demo``: a small country living through a year, told as a story.

Two prefectures, two municipalities each, the national centre; every node on its
own SQLite database (in a temporary folder unless ``--dir`` says where). The
centre designates resident codes, each municipality loads a synthetic population
and uploads it, then a year of births, deaths, moves, name changes and code
changes flows up while the network drops, duplicates, reorders and delays
messages and a prefecture server crashes and restarts. At the end every tier is
reconciled with the municipalities' registers; then a pension agency makes a lawful
query and a refused one, and the person it asked about reads who looked at their
information. A resident card is issued, checked at a counter in another
prefecture, locked by wrong PINs, reset and reported lost; a wide-area copy is
issued away from home and the card's holder moves by mail (special move-out and
move-in); and the centre's feeds (JPKI revocations, code changes for デジタル庁)
are summed up. The long steps show their progress on standard error
(``--no-progress`` turns it off); the story goes to standard output.

Rates follow Japan's (2023, per resident per year): births 0.6 %, deaths 1.3 %,
moves between municipalities 3.9 %; moves within a municipality, marriages (name
changes) and code change requests are rough guesses, said so in the output.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TextIO

import attrs

from jukinet._display import ProgressDisplay
from jukinet.card.chip import Chip
from jukinet.domain.individual_number import IndividualNumber
from jukinet.domain.lg_code import LocalGovernmentCode
from jukinet.domain.names import PersonName
from jukinet.domain.resident import HEAD_OF_HOUSEHOLD, FamilyRegister, HouseholdMembership, Sex
from jukinet.domain.resident_code import ResidentCode
from jukinet.errors import JukinetError, NotPermitted
from jukinet.progress import ProgressCallback, report
from jukinet.storage.sqlite import SQLiteStore
from jukinet.testing import population
from jukinet.testing.country import Country, build_country
from jukinet.tiers import reconcile
from jukinet.tiers.messages import CENTER, NodeId, NodeKey
from jukinet.tiers.municipality import Municipality
from jukinet.tiers.node import FEED_PREFIX
from jukinet.tiers.provision import ByCode, Outcome, ProvisionRequest, seal_request
from jukinet.tiers.wide_area import IdentityDocument

__all__ = ["MUNICIPALITIES", "add_arguments", "run"]

MUNICIPALITIES = ("131016", "131024", "271276", "271284")
"""東京都千代田区, 東京都中央区, 大阪市北区, 大阪市中央区."""

# Events per resident per year.
_RATES = {
    "birth": 729_367 / 124_885_175,
    "death": 1_579_727 / 124_885_175,
    "move": 4_874_448 / 124_885_175,
    "move_within": 0.03,  # a guess: no national figure in domain-facts
    "marriage": 0.004,  # a guess (about 500,000 marriages a year)
    "code_change": 0.0005,  # a guess: the law allows it any time (住基法30条の4)
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the demo's options on ``parser``."""
    parser.add_argument(
        "--dir", type=Path, help="folder for the SQLite databases (default: temporary)"
    )
    parser.add_argument("--residents", type=int, default=1000, help="residents per municipality")
    parser.add_argument("--days", type=int, default=365, help="days to simulate")
    parser.add_argument(
        "--seed", type=int, default=2026, help="random seed (the run is reproducible)"
    )
    parser.add_argument(
        "--quiet-network", action="store_true", help="no drops, duplicates or delays"
    )
    parser.add_argument(
        "--no-progress",
        action="store_true",
        help="show no progress on stderr (by default: a bar on a terminal, "
        "else one line per long step)",
    )


def run(args: argparse.Namespace, out: TextIO, err: TextIO | None = None) -> int:
    """Run the demo; returns the exit status (0 when every tier reconciles).

    The story goes to ``out``; the progress of the long steps to ``err`` (none when
    it is None or ``args.no_progress`` is set), see :mod:`jukinet._display`.
    """
    if args.residents < 1 or args.days < 1:
        print("--residents and --days must be positive", file=out)
        return 2
    display = None
    if err is not None and not getattr(args, "no_progress", False):
        display = ProgressDisplay(err)
    try:
        if args.dir is not None:
            args.dir.mkdir(parents=True, exist_ok=True)
            return _run_in(args.dir, args, out, display)
        with tempfile.TemporaryDirectory(prefix="jukinet-demo-") as folder:
            return _run_in(Path(folder), args, out, display)
    finally:
        if display is not None:
            display.close()


def _say(out: TextIO, text: str = "") -> None:
    print(text, file=out, flush=True)


def _run_in(
    folder: Path, args: argparse.Namespace, out: TextIO, display: ProgressDisplay | None
) -> int:
    started = time.perf_counter()
    stores: list[SQLiteStore] = []

    def store_for(node: NodeId) -> SQLiteStore:
        store = SQLiteStore(folder / f"{str(node).replace(':', '_')}.sqlite3")
        store.create_schema()
        stores.append(store)
        return store

    faults: dict[str, float] = (
        dict.fromkeys(("drop", "duplicate", "reorder", "delay"), 0.0)
        if args.quiet_network
        else {"drop": 0.05, "duplicate": 0.05, "reorder": 0.1, "delay": 0.1}
    )
    codes_each = args.residents + max(50, args.residents * args.days // 365 // 5)
    towns = [LocalGovernmentCode(c) for c in MUNICIPALITIES]
    _say(out, "jukinet demo: a small Juki Net (住民基本台帳ネットワークシステム)")
    _say(out, f"Storage: one SQLite database per node in {folder}")
    _say(
        out,
        "Nodes: the national centre (J-LIS), 東京都 and 大阪府, and "
        + "、".join(t.full_name for t in towns),
    )
    country = build_country(
        store_for,
        MUNICIPALITIES,
        seed=args.seed,
        start=datetime(2026, 4, 1, tzinfo=UTC),
        codes_per_municipality=codes_each,
        drop=faults["drop"],
        duplicate=faults["duplicate"],
        reorder=faults["reorder"],
        delay=faults["delay"],
    )
    try:
        return _story(country, towns, args, out, started, display)
    finally:
        for store in stores:
            store.close()


def _story(
    country: Country,
    towns: list[LocalGovernmentCode],
    args: argparse.Namespace,
    out: TextIO,
    started: float,
    display: ProgressDisplay | None = None,
) -> int:
    def shown(label: str) -> ProgressCallback | None:
        return None if display is None else display.labelled(label)

    rng = random.Random(args.seed + 1)
    network = country.network
    _say(out)
    codes_each = country.center.store.code_pool.designated_count() // len(towns)
    _say(out, f"1. The centre designates {codes_each} fresh resident codes to each municipality")
    _say(out, "   (住基法30条の2): a code is never designated twice.")
    network.settle()
    for town in towns:
        left = country.municipality(town.value).store.code_pool.available(town.value)
        _say(out, f"   {town.full_name}: {left} codes in the pool")

    _say(out)
    _say(
        out,
        f"2. Each municipality joins with {args.residents} residents and uploads their identity information.",
    )
    today = country.clock.today()
    for town in towns:
        municipality = country.municipality(town.value)
        codes = municipality.reserve_codes(args.residents)
        people = population.residents(rng, town, codes, today=today)
        municipality.initial_load(people, as_of=today, progress=shown(town.full_name))
    rounds = network.settle()
    _summary(country, out, f"   uploaded in {rounds} network rounds")

    _say(out)
    _say(
        out,
        f"3. {args.days} days of events. The network drops 5 %, duplicates 5 %, delays 10 % of envelopes.",
    )
    counts: dict[str, int] = {}
    crash_day = args.days // 2
    for day in range(1, args.days + 1):
        country.clock.advance(days=1)
        _one_day(country, towns, rng, counts)
        if day == crash_day:
            node = NodeId.prefecture("27")
            network.crash(node)
            _say(out, f"   day {day}: the 大阪府 server crashes; its database survives")
        if crash_day and day == min(crash_day + 3, args.days):  # a short run: its last day
            country.restart(NodeId.prefecture("27"))
            _say(out, f"   day {day}: the 大阪府 server restarts and catches up")
        network.round()
        report(display, "events", day, args.days, "days")
        if day % 30 == 0 or day == args.days:
            done = ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "no events yet"
            _say(out, f"   day {day:>3} ({country.clock.today().isoformat()}): {done}")
    network.settle()
    stats = network.stats
    _say(
        out,
        f"   network: {stats.sent} envelopes sent, {stats.dropped} dropped, "
        f"{stats.duplicated} duplicated, {stats.delayed} delayed",
    )
    stale = sum("too long ago" in reason for _, reason in network.refusals)
    _say(
        out,
        f"   {stats.refused} envelopes refused on arrival ({stale} delayed past the 1-day "
        "freshness window, as a replay would be); their senders sent them again",
    )
    _say(out, "   " + _links(country))

    _say(out)
    _say(out, "4. Reconciliation: each tier's copy against each municipality's register (digests).")
    clean = True
    compared = 0
    for town in towns:
        below = reconcile.snapshot_of_entries(
            town.value, country.municipality(town.value).register_entries()
        )
        for label, node in (
            ("prefecture", NodeId.prefecture(town.prefecture_code)),
            ("centre", CENTER),
        ):
            above = reconcile.snapshot_of_store(country.stores[node], town.value)
            compared += 1
            report(display, "reconciliation", compared, 2 * len(towns), "comparisons")
            differences = reconcile.compare(below, above)
            verdict = "identical" if not differences else f"{len(differences.codes)} differ"
            clean = clean and not differences
            _say(
                out,
                f"   {town.full_name:<12} vs {label:<10}: {below.count} registered, {verdict} "
                f"(digest {above.digest[:12]})",
            )
    _summary(country, out, "   totals")
    health = [country.center.health(), *(p.health() for p in country.prefectures.values())]
    backlog = sum(
        link.backlog for h in health for link in h.links if not _is_feed(link.destination)
    )
    _say(out, f"   backlog on every link: {backlog}")
    _say(out)
    clean = _provision(country, rng, out) and clean
    _say(out)
    card_ok, chip = _card(country, out)
    _say(out)
    clean = _counter(country, chip, out) and card_ok and clean
    _say(out)
    _jpki(country, out)
    _say(out)
    _say(
        out,
        f"Done in {time.perf_counter() - started:.1f} s. "
        + ("Every tier agrees with the registers." if clean else "DIVERGENCE FOUND."),
    )
    return 0 if clean else 1


def _is_feed(destination: str) -> bool:
    return destination.startswith(FEED_PREFIX)


def _provision(country: Country, rng: random.Random, out: TextIO) -> bool:
    """Step 5: an agency's lawful query, a refused one, and a resident reading the log."""
    _say(out, "5. Provision to agencies (住基法30条の9, 別表第一).")
    center = country.center
    key = NodeKey.generate(NodeId.agency("nenkin"), rng)
    center.provision.register_agency(
        "nenkin", key.public_bytes, recipients=["厚生労働省及び日本年金機構"]
    )
    pension = center.provision.uses.by_key("1-77")
    _say(out, f"   registered a:nenkin as {pension.recipient} ({pension.citation})")
    town = country.municipality(MUNICIPALITIES[0])
    person = next(entry.info for entry in town.register_entries() if not entry.removed)
    now = country.clock.now()
    lawful = ProvisionRequest(
        request_id="demo-1",
        agency="nenkin",
        use="1-77",
        queries=(ByCode(resident_code=person.resident_code),),
    )
    answer = center.provide(seal_request(key, CENTER, lawful, sent_at=now))
    result = answer.results[0]
    identity = result.identity
    if result.outcome is not Outcome.FOUND or identity is None:
        _say(out, "   the lawful query found nobody: UNEXPECTED")
        return False
    items = ", ".join(sorted(i.value for i in identity.items))
    who = f"{person.name.family} {person.name.given}"
    _say(out, f"   lawful query by resident code ({pension.statutes[0]}): found {who}")
    _say(out, f"     items provided: {items}; the resident code is withheld (30条の9)")
    unlawful = attrs.evolve(lawful, request_id="demo-2", use="1-41")
    try:
        center.provide(seal_request(key, CENTER, unlawful, sent_at=now))
    except NotPermitted as exc:
        _say(
            out,
            f"   unlawful query under 別表第一 41 (旅券法, 外務省): refused, {type(exc).__name__}",
        )
    else:
        _say(out, "   unlawful query: PROVIDED, which must never happen")
        return False
    disclosure = center.provision.disclose(person.resident_code, request_id="demo-disclosure")
    _say(out, f"   {who} asks who looked at their information (30条の32):")
    for record in disclosure.provisions:
        entry = record.entry
        _say(
            out,
            f"     {entry.at.date().isoformat()} {entry.agency} under {entry.use}: {', '.join(entry.items)}",
        )
    faults = center.provision.verify_log()
    _say(
        out,
        f"   provision log: {center.store.provision_log.head()[0]} records, hash chain "
        + ("intact" if not faults else f"BROKEN at {[f.seq for f in faults]}"),
    )
    return not faults


def _card(country: Country, out: TextIO) -> tuple[bool, Chip]:
    """Issue a card in 千代田区, use it in 大阪市北区, lock it, reset it, report it lost."""
    home, away = MUNICIPALITIES[0], MUNICIPALITIES[2]
    town = country.municipality(home)
    _say(out, "6. The resident card (個人番号カード, 番号法17条; 住基法旧30条の44).")
    born = country.clock.today()
    holder = town.register_birth(
        name=PersonName(
            family="中村", given="陽菜", family_reading="ナカムラ", given_reading="ヒナ"
        ),
        birth_date=born,
        sex=Sex.FEMALE,
        household=HouseholdMembership(household_id="HCARD", relationship=HEAD_OF_HOUSEHOLD),
        address="千代田1丁目1番1号",
        family_register=FamilyRegister(domicile="東京都千代田区千代田1番", head="中村 陽菜"),
        individual_number=IndividualNumber("621498320257"),
    )
    country.network.settle()
    _say(
        out,
        f"   {holder.name.full} is born in {town.code.full_name}; her parents apply for her card",
    )
    desk, counter = country.desk(home), country.desk(away)
    ask = country.center.answer_card_check
    chip = desk.issue(holder.resident_code, pin="2580", photo_image=b"photo")
    country.network.settle()
    status = desk.status(chip.card_id)
    _say(
        out,
        f"   {town.code.full_name} issues card {chip.card_id[:8]}… to {holder.resident_code}"
        f" (in effect until {status.expires_on.isoformat()})",
    )
    answer = counter.check(chip, ask=ask, pin="2580")
    _say(
        out,
        f"   at {country.municipality(away).code.full_name} (another prefecture): the chip and"
        f" the counter authenticate each other, PIN verified; the centre answers"
        f" {answer.verdict}, a resident of {answer.municipality}",
    )
    refusals = []
    for _ in range(3):
        try:
            counter.check(chip, ask=ask, pin="0000")
        except JukinetError as exc:
            refusals.append(type(exc).__name__)
    _say(out, f"   three wrong PINs: {', '.join(refusals)}")
    desk.reset_pin(chip, "1470")
    country.network.settle()
    ok = counter.check(chip, ask=ask, pin="1470").in_effect
    _say(out, f"   reset at the home counter after confirming identity: in effect again = {ok}")
    desk.report_lost(chip.card_id)
    country.network.settle()
    try:
        counter.check(chip, ask=ask)
        suspended = False
    except JukinetError as exc:
        suspended = True
        _say(out, f"   reported lost: the counter is told {exc}")
    kept = country.center.store.cards.get(chip.card_id)
    steps = [e.event.value for e in desk.history(chip.card_id)]
    _say(
        out,
        f"   history: {' → '.join(steps)}; the centre keeps version {kept.version if kept else '?'}",
    )
    return ok and suspended and kept is not None and kept.version == len(steps), chip


def _counter(country: Country, chip: Chip, out: TextIO) -> bool:
    """A wide-area copy in 大阪市北区 for a 千代田区 resident, then her move there by mail."""
    home, away = MUNICIPALITIES[0], MUNICIPALITIES[2]
    town, there = country.municipality(home), country.municipality(away)
    ask = country.center.answer_card_check
    _say(out, "7. Counter services between municipalities, relayed m → p → c → p → m.")
    found = country.desk(home).lift_suspension(chip)  # the lost card turns up
    country.network.settle()
    holder = town.resident(found.holder)
    _say(out, f"   the lost card turns up: suspension lifted in person ({found.state.value})")
    document = IdentityDocument(kind="旅券", name=holder.name, birth_date=holder.birth_date)
    request_id = there.wide_area.request(
        home=home, requester=holder.resident_code, document=document
    )
    country.network.settle()
    copy = there.wide_area.issue_copy(request_id)
    _say(
        out,
        f"   a wide-area copy (住基法12条の4) at {there.code.full_name}, asked with a passport:",
    )
    for line in copy.to_text().splitlines()[:6]:
        _say(out, f"     | {line}")
    shown = json.dumps(copy.to_data(), ensure_ascii=False)
    # the family register (本籍, 7条5号) never leaves the home municipality (12条の4第1項)
    _say(
        out,
        f"   本籍 shown: {'東京都千代田区千代田1番' in shown}; resident code shown: {holder.resident_code.value in shown}",
    )
    planned = country.clock.today()
    town.special_move.move_out(
        holder.resident_code,
        planned_date=planned,
        destination=away,
        address="大阪市北区梅田1丁目1番1号",
        by="mail",
        card_id=chip.card_id,
    )
    country.network.settle()
    kept = there.special_move.pending_info(holder.resident_code)
    _say(
        out,
        f"   move-out by mail (24条の2) from {town.code.full_name}: the move-out data reaches"
        f" {there.code.full_name}, kept until {kept[0].erase_on.isoformat() if kept else '?'}",
    )
    waiting = len(town.special_move.awaiting_notifications())
    country.clock.advance(days=2)
    card = country.desk(away).check(chip, ask=ask, pin="1470", moving=True)
    moved = there.special_move.move_in(
        holder.resident_code,
        card=card,
        moved_in_on=planned,
        address="梅田1丁目1番1号",
        household=HouseholdMembership(household_id="OCARD", relationship=HEAD_OF_HOUSEHOLD),
    )
    country.network.settle()
    status = country.desk(away).continue_use(chip, pin="1470", ask=ask)
    after = len(town.special_move.awaiting_notifications())
    _say(
        out,
        f"   move-in at {there.code.full_name} with the card (verdict {card.verdict}), no paper"
        f" certificate: {moved[0].address.full}; 転入通知 awaited {waiting} → {after}",
    )
    _say(out, f"   continued use of the card registered there: version {status.version}")
    return bool(kept) and waiting == 1 and after == 0


def _jpki(country: Country, out: TextIO) -> None:
    """Step 6: the revocation feed for the public key infrastructure, and the
    code-change feed for デジタル庁."""
    center = country.center
    overdue = center.run_deadlines()
    feed = center.revocations(limit=1_000_000)
    counts: dict[str, int] = {}
    for _seq, notice in feed:
        label = f"{notice.certificate.label_ja} ({notice.cause.value})"
        counts[label] = counts.get(label, 0) + 1
    _say(out, "8. The JPKI revocation feed (JPKI法12条, 31条):")
    for label, count in sorted(counts.items()):
        _say(out, f"   {count:>5}  {label}")
    if not counts:
        _say(out, "   no certificate revoked yet")
    _say(out, f"   ({overdue} for a move-out with no move-in within 30 days, 31条2号)")
    if feed:
        center.confirm_revocations(feed[-1][0])
    changes = center.code_changes(limit=1_000_000)
    _say(
        out,
        f"   and {len(changes)} resident-code change(s) on the feed for デジタル庁"
        " (old and new code, 住基法30条の9の2第2項)",
    )
    if changes:
        center.confirm_code_changes(changes[-1][0])


def _links(country: Country) -> str:
    """Check every link: what the receiver applied equals what the sender sent."""
    links = 0
    for sender, store in country.stores.items():
        for destination in store.outbox.destinations():
            if destination.startswith(FEED_PREFIX):
                continue  # a feed is read by its consumer (the JPKI feed), not a link
            receiver = country.stores[NodeId.parse(destination)]
            sent = store.outbox.last_seq(destination)
            applied = receiver.tracking.position(str(sender))
            if applied != sent or store.outbox.acknowledged(destination) != sent:
                return f"LINK {sender} -> {destination}: sent {sent}, applied {applied}"
            links += 1
    return f"all {links} links: every message applied exactly once and acknowledged"


def _summary(country: Country, out: TextIO, prefix: str) -> None:
    center = country.stores[CENTER].identities
    prefectures = ", ".join(
        f"{code}: {country.stores[NodeId.prefecture(code)].identities.count()} codes"
        for code in sorted(country.prefectures)
    )
    _say(out, f"{prefix}: centre holds {center.count()} codes; prefectures {prefectures}")


def _one_day(
    country: Country, towns: list[LocalGovernmentCode], rng: random.Random, counts: dict[str, int]
) -> None:
    today = country.clock.today()
    for town in towns:
        municipality = country.municipality(town.value)
        population_size = max(1, municipality.store.register.count(status="registered"))
        for event, rate in _RATES.items():
            expected = population_size * rate / 365
            n = int(expected) + (1 if rng.random() < expected - int(expected) else 0)
            for _ in range(n):
                try:
                    if _event(country, municipality, towns, event, rng, today):
                        counts[event] = counts.get(event, 0) + 1
                except JukinetError:
                    counts["refused"] = counts.get("refused", 0) + 1


def _pick(municipality: Municipality, rng: random.Random) -> ResidentCode | None:
    """A registered resident picked at random (internal numbers are 12 digits)."""
    register = municipality.store.register
    for _ in range(5):
        rows = register.scan(after=f"{rng.randrange(10**12):012d}", limit=1)
        if rows and rows[0].status == "registered":
            return ResidentCode(rows[0].resident_code)
    return None


def _event(
    country: Country,
    municipality: Municipality,
    towns: list[LocalGovernmentCode],
    event: str,
    rng: random.Random,
    today: date,
) -> bool:
    if event == "birth":
        sex = rng.choice((Sex.MALE, Sex.FEMALE))
        name = population.person_name(rng, sex)
        municipality.register_birth(
            name=name,
            birth_date=today,
            sex=sex,
            household=HouseholdMembership(
                household_id=f"B{rng.randrange(10**9)}", relationship=HEAD_OF_HOUSEHOLD
            ),
            address=population.street_address(rng),
            family_register=FamilyRegister(
                domicile=f"{municipality.code.full_name}1番地", head=name.full
            ),
        )
        return True
    code = _pick(municipality, rng)
    if code is None:
        return False
    if event == "death":
        municipality.record_death(code, died_on=today)
    elif event == "move_within":
        municipality.move_within(code, address=population.street_address(rng), moved_on=today)
    elif event == "marriage":
        record = municipality.resident(code)
        new_family = population.person_name(rng, record.sex)
        name = PersonName(
            family=new_family.family,
            given=record.name.given,
            family_reading=new_family.family_reading,
            given_reading=record.name.given_reading,
        )
        municipality.change_name(code, name=name, changed_on=today)
    elif event == "code_change":
        municipality.change_resident_code(code, requested_on=today)
    elif event == "move":
        target = rng.choice([t for t in towns if t != municipality.code])
        certificate = municipality.move_out(code, planned_date=today, destination=target.full_name)
        country.municipality(target.value).register_move_in(
            certificate,
            address=population.street_address(rng),
            household=HouseholdMembership(
                household_id=f"M{rng.randrange(10**9)}", relationship=HEAD_OF_HOUSEHOLD
            ),
            moved_in_on=today,
        )
    return True

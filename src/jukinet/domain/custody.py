"""Who holds a person: the rules an upper tier applies to every identity notice.

A valid signature proves who sent a notice, not that it is true. Before an
upper tier (prefecture or national centre) applies a notice about a resident
code, it compares what the notice claims (:class:`Claim`) with what the tier
holds about that code now (:class:`Standing`) and gives a :class:`Judgement`:

* **accept**: apply it now;
* **wait**: not decidable yet: the notice it follows may still be on its way
  (notices from different municipalities are not ordered with respect to each
  other, so a move-in can arrive before the move-out it follows). The centre
  keeps the notice pending and judges it again when the person's standing
  changes; a prefecture, which sees only its own municipalities, refers it to
  the centre and applies it when the centre confirms it;
* **refuse**: it cannot become true: it changes nothing, and the tier records
  the refusal with the sender named.

The rules (docs/tiers.md, the identity invariants):

1. A resident code belongs to one person for ever: a code replaced under
   住基法30条の4 is never accepted again (30条の2第2項), a new code must be
   unknown to the tier and, at the centre, designated to the municipality that
   uses it (30条の2第1項, 30条の3第2項).
2. Only the municipality that holds a person (where the person is registered)
   notifies a change (修正), a removal (消除) or a code change about them
   (30条の6第1項: the mayor notifies about the mayor's own residents).
3. A domestic move-in (国内転入, 22条) follows the move-out (24条) from the
   municipality named in the move-out certificate, matched by the certificate's
   number; a certificate is used once.
4. A person is registered in at most one municipality: a registration
   elsewhere waits until the removal from where the person is registered
   arrives. After a move-out (with its certificate) or a death, only the
   move-in with the certificate or the removing municipality undoing its
   removal registers the person again; anything else waits, since what
   follows may still be on its way.

>>> from jukinet.domain.changes import ChangeReason
>>> held = Standing(municipality="131016", reason=ChangeReason.BIRTH, removed=False)
>>> judge(Claim("13123456789", "131016", ChangeReason.MOVE_WITHIN), held).verdict
<Verdict.ACCEPT: 'accept'>
>>> judge(Claim("13123456789", "131024", ChangeReason.DEATH), held).verdict
<Verdict.REFUSE: 'refuse'>
"""

from __future__ import annotations

import enum
from datetime import date

import attrs

from jukinet.domain.changes import ChangeKind, ChangeReason

__all__ = ["Claim", "Judgement", "Standing", "Verdict", "judge"]


class Verdict(enum.Enum):
    """What an upper tier does with a notice."""

    ACCEPT = "accept"
    """Apply it now."""
    WAIT = "wait"
    """Keep it (centre) or refer it to the centre (prefecture): the notice it
    follows may still arrive."""
    REFUSE = "refuse"
    """It cannot become true: change nothing, record the refusal."""


@attrs.frozen
class Judgement:
    """A verdict and why, in words fit for the audit log."""

    verdict: Verdict
    why: str


@attrs.frozen(kw_only=True)
class Standing:
    """What a tier holds about one resident code now: its current version's
    municipality, reason and whether it is removed, and, for a domestic move-out,
    the certificate's number (None when the tier did not look it up)."""

    municipality: str
    reason: ChangeReason
    removed: bool
    certificate: str | None = None
    event_date: date | None = None
    """The date of the event the current version records (None: not known here)."""

    @property
    def superseded(self) -> bool:
        """Whether the code was replaced by another (住基法30条の4): its history ended
        with the replacement, and it never identifies anyone again."""
        return self.removed and self.reason.changes_resident_code

    def held_by(self, municipality: str) -> bool:
        """Whether the person is registered in ``municipality``."""
        return not self.removed and self.municipality == municipality


@attrs.frozen
class Claim:
    """What a notice claims: about which code, from which municipality, why; for a
    code change the replaced code, for a domestic move-in where from and which
    certificate."""

    resident_code: str
    municipality: str
    reason: ChangeReason
    previous_resident_code: str | None = None
    moved_from: str | None = None
    certificate: str | None = None
    event_date: date | None = None
    """The date of the event the notice records (its 異動日)."""

    @property
    def codes(self) -> tuple[str, ...]:
        """The codes the notice is about (the replaced one first)."""
        if self.previous_resident_code is None:
            return (self.resident_code,)
        return (self.previous_resident_code, self.resident_code)


def _accept(why: str) -> Judgement:
    return Judgement(Verdict.ACCEPT, why)


def _wait(why: str) -> Judgement:
    return Judgement(Verdict.WAIT, why)


def _refuse(why: str) -> Judgement:
    return Judgement(Verdict.REFUSE, why)


def judge(
    claim: Claim,
    current: Standing | None,
    previous: Standing | None = None,
    *,
    waiting: bool = False,
    national: bool = False,
    designated_to: str | None = None,
    certificate_used: bool = False,
) -> Judgement:
    """Judge one notice against what the tier holds.

    ``current`` is the tier's standing of the notice's code (None: unknown here),
    ``previous`` that of the replaced code for a code change. ``waiting``: an
    earlier notice the claim may follow is still pending here. ``national``: the
    tier sees every municipality and every designation (the centre); then
    ``designated_to`` is the municipality the code was designated to (None: never
    designated) and ``certificate_used`` whether a move-in already followed the
    move-out with the claim's certificate.
    """
    m = claim.municipality
    if waiting:
        return _wait("an earlier notice about the person is still pending here")
    if current is not None and current.superseded:
        return _refuse(
            f"the code {claim.resident_code} was replaced (住基法30条の4) and is never"
            " accepted again (30条の2第2項)"
        )
    if claim.reason.changes_resident_code:
        replaced = claim.previous_resident_code
        if previous is None or not previous.held_by(m):
            return _refuse(f"{m} does not hold the person with code {replaced} (住基法30条の6)")
        if current is not None:
            return _refuse(
                f"the new code {claim.resident_code} already belongs to a person (30条の2第2項)"
            )
        return _fresh(claim, national=national, designated_to=designated_to)
    if current is not None and current.held_by(m):
        return _accept(f"{m} holds the person")
    kind = claim.reason.kind
    if kind is not ChangeKind.ENTRY:
        return _refuse(
            f"{m} does not hold the person with code {claim.resident_code}"
            f" (住基法30条の6: a {kind.label_ja} comes from the municipality that holds them)"
        )
    if not national:
        # Another prefecture's municipality may hold the person, or may have used
        # the same certificate first: only the centre can tell.
        return _wait("a registration is judged by the centre, which sees every municipality")
    if claim.reason is ChangeReason.DOMESTIC_MOVE_IN:
        if (
            current is not None
            and current.removed
            and current.reason is ChangeReason.DOMESTIC_MOVE_OUT
            and current.municipality == claim.moved_from
            and current.certificate == claim.certificate
        ):
            return _accept(f"follows the move-out from {claim.moved_from}")
        if certificate_used:
            return _refuse(
                f"the move-out certificate from {claim.moved_from} was used already"
                " (住基法22条, 24条)"
            )
        return _wait(f"the move-out from {claim.moved_from} with this certificate is not known yet")
    if current is None:
        return _fresh(claim, national=national, designated_to=designated_to)
    if claim.reason is ChangeReason.BIRTH:
        return _refuse(
            f"the code {claim.resident_code} already belongs to a person (30条の2第2項, 30条の3)"
        )
    if current.removed:
        return _after_removal(claim, current)
    return _wait(f"the person is registered in {current.municipality}; its removal may follow")


def _after_removal(claim: Claim, current: Standing) -> Judgement:
    """A registration of a person registered nowhere: what may follow depends on
    how they were removed. After a move-out (with its certificate) the move-in with
    that certificate follows (judged above), or the removing municipality undoes
    the removal (an ex officio entry, a cancellation, a reconstruction: 住基法8条,
    令12条); after a death only the latter. Anything else waits: notices from
    different municipalities travel apart, and the move-in (and whatever the new
    municipality notified after it, such as a move abroad) may still be on its
    way. After any other removal (abroad, ex officio) any municipality registers
    the person."""
    if (
        current.reason is ChangeReason.MOVE_ABROAD
        and claim.reason is ChangeReason.MOVE_IN_FROM_ABROAD
        and claim.event_date is not None
        and current.event_date is not None
        and claim.event_date < current.event_date
    ):
        # an arrival held since before the person left cannot follow their leaving
        return _refuse(
            f"the arrival from abroad on {claim.event_date.isoformat()} is dated before the"
            f" departure it would follow ({current.event_date.isoformat()})"
        )
    if current.reason not in _REMOVALS_WITH_A_SUCCESSOR:
        return _accept("the person is registered nowhere")
    removed_by = current.municipality
    if claim.municipality == removed_by and claim.reason in _UNDOING_ENTRIES:
        return _accept(f"{removed_by} registers again the person it removed")
    return _wait(
        f"the person was removed by {removed_by} ({current.reason.label_ja}); what"
        f" follows that removal is not known here yet"
    )


_REMOVALS_WITH_A_SUCCESSOR = frozenset({ChangeReason.DOMESTIC_MOVE_OUT, ChangeReason.DEATH})
"""Removals after which only a known successor registers the person again."""
_UNDOING_ENTRIES = frozenset(
    {
        ChangeReason.EX_OFFICIO_ENTRY,
        ChangeReason.RECONSTRUCTION_ENTRY,
        ChangeReason.RECREATION_ENTRY,
        ChangeReason.CANCELLATION_ENTRY,
    }
)
"""Entries by which a municipality undoes its own removal of a person."""


def _fresh(claim: Claim, *, national: bool, designated_to: str | None) -> Judgement:
    """A code the tier has never seen: only the centre knows whether it is new.

    A code the centre designated to the claiming municipality is new to the network
    when first used there. A code it designated to another municipality is that
    municipality's: a birth or a new code after a change (30条の3第2項, 30条の4)
    uses it wrongly, but a person registered there and now arriving here (from
    abroad, say) brings it, and the registrations that came before may still be
    on their way. A code never designated is never right.
    """
    if not national:
        return _wait("a new code: only the centre knows whether it is new nationwide")
    m = claim.municipality
    if designated_to == m:
        return _accept(f"a new code designated to {m}")
    first_use = claim.reason is ChangeReason.BIRTH or claim.reason.changes_resident_code
    if designated_to is None or first_use:
        return _refuse(
            f"the code {claim.resident_code} was not designated to {m}"
            " (住基法30条の2, 30条の3第2項)"
        )
    return _wait(
        f"the code {claim.resident_code} was designated to {designated_to}, whose"
        " notices about the person are not known here yet"
    )

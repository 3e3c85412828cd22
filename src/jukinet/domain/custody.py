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
   arrives. A death or a domestic move-out is followed by no other
   municipality's registration but the move-in with the certificate (rule 3):
   a registration elsewhere after one of those is refused, so one kept waiting
   can never take over a person who died or moved to another municipality.

>>> from jukinet.domain.changes import ChangeReason
>>> held = Standing(municipality="131016", reason=ChangeReason.BIRTH, removed=False)
>>> judge(Claim("13123456789", "131016", ChangeReason.MOVE_WITHIN), held).verdict
<Verdict.ACCEPT: 'accept'>
>>> judge(Claim("13123456789", "131024", ChangeReason.DEATH), held).verdict
<Verdict.REFUSE: 'refuse'>
"""

from __future__ import annotations

import enum

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

    @property
    def codes(self) -> tuple[str, ...]:
        """The codes the notice is about (the replaced one first)."""
        if self.previous_resident_code is None:
            return (self.resident_code,)
        return (self.previous_resident_code, self.resident_code)


_ONLY_FOLLOWED_THERE = {
    ChangeReason.DEATH: "no municipality registers a dead person; only the one that"
    " recorded the death may enter them again, by cancelling it (異動の取消し)",
    ChangeReason.DOMESTIC_MOVE_OUT: "only the move-in with its move-out certificate"
    " follows (住基法22条, 24条), or its cancellation by that municipality (転出の取消し)",
}
"""Removals after which no other municipality's registration but a domestic move-in
can follow (the move-in has its own rule, invariant 3)."""


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
        if current.municipality != m and current.reason in _ONLY_FOLLOWED_THERE:
            return _refuse(
                f"the person was removed from {current.municipality} by"
                f" {current.reason.label_ja}: {_ONLY_FOLLOWED_THERE[current.reason]}"
            )
        return _accept("the person is registered nowhere")
    return _wait(f"the person is registered in {current.municipality}; its removal may follow")


def _fresh(claim: Claim, *, national: bool, designated_to: str | None) -> Judgement:
    """A code the tier has never seen: only the centre knows whether it is new."""
    if not national:
        return _wait("a new code: only the centre knows whether it is new nationwide")
    if designated_to != claim.municipality:
        return _refuse(
            f"the code {claim.resident_code} was not designated to {claim.municipality}"
            " (住基法30条の2, 30条の3第2項)"
        )
    return _accept(f"a new code designated to {claim.municipality}")

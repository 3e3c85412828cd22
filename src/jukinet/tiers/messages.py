"""Node identities, signed envelopes and trust stores.

Every message between nodes travels in an :class:`Envelope`: sender, recipient,
the per-link sequence number of its first payload, a payload type, the payloads
(canonical bytes, e.g. identity notices) and an Ed25519 signature over all of
that. An envelope carries a *batch* of payloads so that signing costs once per
envelope, not once per notice.

The receiver checks the signature against its :class:`TrustStore`, which binds
each node's public key to that node's identity: a key that belongs to another
node, an altered payload or header, or an unknown sender is refused with a typed
:class:`~jukinet.errors.IntegrityViolation` before anything is applied.

>>> import random
>>> rng = random.Random(7)
>>> chiyoda = NodeId.municipality("131016")
>>> key = NodeKey.generate(chiyoda, rng)
>>> trust = TrustStore()
>>> trust.add(chiyoda, key.public_bytes)
>>> from datetime import datetime, timezone
>>> at = datetime(2026, 4, 1, tzinfo=timezone.utc)
>>> envelope = key.seal(
...     NodeId.prefecture("13"), first_seq=1, payload_type="notice", payloads=[b'{"a":1}'], sent_at=at
... )
>>> trust.verify(envelope) is None
True
>>> decode(encode(envelope)) == envelope
True
"""

from __future__ import annotations

import base64
import enum
import functools
import hashlib
import json
import os
import random
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import attrs
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    BestAvailableEncryption,
    Encoding,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
)

from jukinet.domain import codec
from jukinet.domain._repr import never_raises
from jukinet.domain.lg_code import LocalGovernmentCode
from jukinet.errors import (
    BadSignature,
    InvalidComponent,
    InvalidFormat,
    InvalidState,
    JukinetError,
    KeyFileInvalid,
    ReplayDetected,
    UnknownSender,
)

__all__ = [
    "CENTER",
    "DEFAULT_MAX_AGE",
    "DEFAULT_MAX_SKEW",
    "MAX_ENVELOPE_BYTES",
    "MAX_PAYLOADS",
    "Envelope",
    "NodeId",
    "NodeKey",
    "NodeKind",
    "TrustStore",
    "check_fresh",
    "decode",
    "encode",
]

_SIGNING_CONTEXT = b"jukinet-envelope-v1\n"
_PREFECTURE = re.compile(r"(0[1-9]|[1-3][0-9]|4[0-7])")
_AGENCY = re.compile(r"[a-z0-9][a-z0-9_-]{0,47}")
MAX_PAYLOADS = 10_000
"""Most payloads one envelope may carry."""
MAX_ENVELOPE_BYTES = 96 * 1024 * 1024
"""Longest encoded envelope :func:`decode` reads (it is refused before parsing).

The largest legitimate envelope is a provision request of
:data:`~jukinet.tiers.provision.MAX_REQUEST_BYTES` (64 MiB), which base64 makes
85.4 MiB; a batch of 1,000 notices (the default batch) takes about 2 MB, one of
:data:`MAX_PAYLOADS` about 20 MB.
"""


class NodeKind(enum.Enum):
    """The kinds of node on the network."""

    MUNICIPALITY = "m"
    """市町村 (a municipality, or a ward of a designated city), with its communication server."""
    PREFECTURE = "p"
    """都道府県サーバ (a prefecture's server)."""
    CENTER = "c"
    """全国サーバ (the national centre run by J-LIS, 指定情報処理機関)."""
    AGENCY = "a"
    """A recipient of identity information (国の機関等, 別表)."""


@attrs.frozen(order=True)
class NodeId:
    """A node's identity, written ``m:131016``, ``p:13``, ``c:jlis`` or ``a:<name>``.

    >>> NodeId.parse("m:131016").prefecture_node
    NodeId('p:13')
    """

    kind: NodeKind = attrs.field(order=lambda kind: kind.value)  # node ids of any kinds sort
    code: str

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.kind, NodeKind):
            raise TypeError(f"node kind: expected NodeKind, got {type(self.kind).__name__}")
        if not isinstance(self.code, str):
            raise TypeError(f"node code: expected a str, got {type(self.code).__name__}")
        if self.kind is NodeKind.MUNICIPALITY:
            if not LocalGovernmentCode(self.code).keeps_register:
                raise InvalidComponent(
                    f"{self.code} does not keep a resident register",
                    field="node",
                    expected="a city, town, village, special ward or designated-city ward",
                )
        elif self.kind is NodeKind.PREFECTURE:
            if not _PREFECTURE.fullmatch(self.code):
                raise InvalidComponent(
                    f"{self.code!r} is not a prefecture code", field="node", expected="01 to 47"
                )
        elif self.kind is NodeKind.CENTER:
            if self.code != "jlis":
                raise InvalidComponent(
                    f"{self.code!r} is not the national centre", field="node", expected="c:jlis"
                )
        elif not _AGENCY.fullmatch(self.code):
            raise InvalidFormat(
                f"{self.code!r} is not an agency name",
                field="node",
                expected="1 to 48 lowercase letters, digits, '-' or '_'",
            )

    def __str__(self) -> str:
        return f"{self.kind.value}:{self.code}"

    def __repr__(self) -> str:
        return f"NodeId({str(self)!r})"

    @classmethod
    def parse(cls, text: str) -> NodeId:
        """Parse ``kind:code``."""
        if not isinstance(text, str):
            raise TypeError(f"node: expected a str, got {type(text).__name__}")
        kind, sep, code = text.partition(":")
        try:
            node_kind = NodeKind(kind)
        except ValueError:
            raise InvalidFormat(
                f"{text!r} is not a node identity", field="node", expected="m:, p:, c: or a: + code"
            ) from None
        if not sep:
            raise InvalidFormat(f"{text!r} has no code", field="node", expected="kind:code")
        return cls(node_kind, code)

    @classmethod
    def municipality(cls, code: LocalGovernmentCode | str) -> NodeId:
        """The node of a municipality (or a ward of a designated city)."""
        value = code.value if isinstance(code, LocalGovernmentCode) else code
        return cls(NodeKind.MUNICIPALITY, value)

    @classmethod
    def prefecture(cls, code: str) -> NodeId:
        """The node of a prefecture, by its two-digit code (``"13"`` for 東京都)."""
        return cls(NodeKind.PREFECTURE, code)

    @classmethod
    def agency(cls, name: str) -> NodeId:
        """The node of an agency (a recipient of identity information)."""
        return cls(NodeKind.AGENCY, name)

    @property
    def prefecture_node(self) -> NodeId | None:
        """For a municipality, the node of its prefecture; otherwise None."""
        if self.kind is not NodeKind.MUNICIPALITY:
            return None
        return NodeId.prefecture(self.code[:2])


CENTER = NodeId(NodeKind.CENTER, "jlis")
"""The national centre (全国サーバ, J-LIS)."""


def _payloads(value: object) -> tuple[bytes, ...]:
    if isinstance(value, bytes | str) or not isinstance(value, Iterable):
        raise TypeError("payloads: expected a sequence of bytes")
    items = tuple(value)
    for item in items:
        if not isinstance(item, bytes):
            raise TypeError(f"payloads: expected bytes items, got {type(item).__name__}")
    if not 1 <= len(items) <= MAX_PAYLOADS:
        raise InvalidComponent(
            f"{len(items)} payloads", field="payloads", expected=f"1 to {MAX_PAYLOADS}"
        )
    return items


def _aware(_i: Any, _a: Any, value: Any) -> None:
    if not isinstance(value, datetime):
        raise TypeError(f"sent_at: expected a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidComponent("the time has no time zone", field="sent_at", expected="aware")


def _positive(_i: Any, _a: Any, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"first_seq: expected an int, got {type(value).__name__}")
    if value < 1:
        raise InvalidComponent(f"{value} is not positive", field="first_seq", expected="1 or more")


@attrs.frozen(kw_only=True)
class Envelope:
    """A signed batch of payloads on one link (sender → recipient).

    ``first_seq`` is the link sequence number of the first payload; the others
    follow without gaps, up to :attr:`last_seq`.
    """

    sender: NodeId = attrs.field(validator=attrs.validators.instance_of(NodeId))
    recipient: NodeId = attrs.field(validator=attrs.validators.instance_of(NodeId))
    first_seq: int = attrs.field(validator=_positive)
    payload_type: str = attrs.field(validator=attrs.validators.instance_of(str))
    payloads: tuple[bytes, ...] = attrs.field(converter=_payloads)
    sent_at: datetime = attrs.field(validator=_aware)
    signature: bytes = attrs.field(validator=attrs.validators.instance_of(bytes), repr=False)

    @property
    def last_seq(self) -> int:
        """The sequence number of the last payload."""
        return self.first_seq + len(self.payloads) - 1

    def signed_bytes(self) -> bytes:
        """The bytes the signature covers: every header field and a digest of each payload."""
        return self._signed

    @functools.cached_property
    def _signed(self) -> bytes:
        # computed once: the receiver verifies the signature and names the envelope by it
        return signing_bytes(
            self.sender,
            self.recipient,
            self.first_seq,
            self.payload_type,
            self.payloads,
            self.sent_at,
        )

    @functools.cached_property
    def digest(self) -> str:
        """A hex SHA-256 of the signed content: names the envelope (e.g. in an answer)."""
        return hashlib.sha256(self.signed_bytes()).hexdigest()


def signing_bytes(
    sender: NodeId,
    recipient: NodeId,
    first_seq: int,
    payload_type: str,
    payloads: Sequence[bytes],
    sent_at: datetime,
) -> bytes:
    """Canonical, domain-separated bytes for a signature over an envelope's content."""
    header = {
        "digests": [hashlib.sha256(p).hexdigest() for p in payloads],
        "first_seq": first_seq,
        "payload_type": payload_type,
        "recipient": str(recipient),
        "sender": str(sender),
        "sent_at": sent_at.isoformat(),
    }
    return _SIGNING_CONTEXT + codec.canonical_json(header)


@attrs.frozen
class NodeKey:
    """A node's Ed25519 signing key. The private key is never printed; it is written
    out only encrypted with a passphrase (:meth:`to_pem`, :meth:`save`)."""

    node: NodeId
    _private: Ed25519PrivateKey = attrs.field(repr=False, alias="private")

    def to_pem(self, passphrase: bytes) -> bytes:
        """The private key as PKCS#8 PEM, encrypted with ``passphrase`` (the best
        encryption :mod:`cryptography` offers), for a key file the node keeps.

        >>> key = NodeKey.generate(NodeId.municipality("131016"), random.Random(1))
        >>> pem = key.to_pem(b"correct horse")
        >>> pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
        True
        >>> NodeKey.from_pem(key.node, pem, b"correct horse").public_bytes == key.public_bytes
        True
        >>> NodeKey.from_pem(key.node, pem, b"wrong")
        Traceback (most recent call last):
        ...
        jukinet.errors.KeyFileInvalid: key file: the key file cannot be opened (expected the passphrase it was saved with, for an encrypted Ed25519 private key in PEM)
        """
        if not isinstance(passphrase, bytes) or not passphrase:
            raise KeyFileInvalid(
                "a key file needs a passphrase", field="passphrase", expected="non-empty bytes"
            )
        return self._private.private_bytes(
            Encoding.PEM, PrivateFormat.PKCS8, BestAvailableEncryption(passphrase)
        )

    @classmethod
    def from_pem(cls, node: NodeId, data: bytes, passphrase: bytes) -> NodeKey:
        """The key of ``node`` from a key file made by :meth:`to_pem`; a wrong
        passphrase or anything but an encrypted Ed25519 key is a
        :class:`~jukinet.errors.KeyFileInvalid`."""
        try:
            key = load_pem_private_key(data, password=passphrase)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            key = None
        if not isinstance(key, Ed25519PrivateKey):
            raise KeyFileInvalid(
                field="key file",
                expected="the passphrase it was saved with, for an encrypted Ed25519"
                " private key in PEM",
            )
        return cls(node, key)

    def save(self, path: str | os.PathLike[str], passphrase: bytes) -> None:
        """Write :meth:`to_pem` to ``path``, readable by its owner only (mode 0600)."""
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            file.write(self.to_pem(passphrase))

    @classmethod
    def load(cls, node: NodeId, path: str | os.PathLike[str], passphrase: bytes) -> NodeKey:
        """Read a key file written by :meth:`save` (see :meth:`from_pem`)."""
        with open(path, "rb") as file:
            return cls.from_pem(node, file.read(), passphrase)

    @classmethod
    def generate(cls, node: NodeId, rng: random.Random) -> NodeKey:
        """Make a key from 32 bytes of the injected random source.

        Use a :class:`random.SystemRandom` for real keys; a seeded
        :class:`random.Random` gives reproducible keys for tests and demos.
        """
        return cls(node, Ed25519PrivateKey.from_private_bytes(rng.randbytes(32)))

    @property
    def public_bytes(self) -> bytes:
        """The raw 32-byte public key, for the other nodes' trust stores."""
        return self._private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    def sign(self, data: bytes) -> bytes:
        """Sign arbitrary bytes (e.g. a request) with this node's key."""
        return self._private.sign(data)

    def seal(
        self,
        recipient: NodeId,
        *,
        first_seq: int,
        payload_type: str,
        payloads: Sequence[bytes],
        sent_at: datetime,
    ) -> Envelope:
        """Build and sign an envelope from this node, sent at ``sent_at``."""
        items = _payloads(payloads)
        signature = self._private.sign(
            signing_bytes(self.node, recipient, first_seq, payload_type, items, sent_at)
        )
        return Envelope(
            sender=self.node,
            recipient=recipient,
            first_seq=first_seq,
            payload_type=payload_type,
            payloads=items,
            sent_at=sent_at,
            signature=signature,
        )


_REPR_NODES = 6
"""How many trusted nodes a :class:`TrustStore`'s repr names."""


class TrustStore:
    """Public keys bound to node identities: who is who on the network.

    A node may have more than one trusted key while it changes keys (a *rotation*):
    :meth:`add` trusts a new key **beside** the ones already trusted, so envelopes
    signed with the old key and still on their way (or sealed before the change and
    waiting in an outbox, such as a relayed counter message) still verify;
    :meth:`retire` ends the overlap, after which the old key is refused
    (:class:`~jukinet.errors.BadSignature`). A public key belongs to one node only:
    a key trusted for one node is never accepted as another's.

    >>> rng = random.Random(5)
    >>> chiyoda = NodeId.municipality("131016")
    >>> old, new = NodeKey.generate(chiyoda, rng), NodeKey.generate(chiyoda, rng)
    >>> trust = TrustStore({chiyoda: old.public_bytes})
    >>> trust.add(chiyoda, new.public_bytes)          # the overlap: both verify
    >>> trust.keys(chiyoda) == [old.public_bytes, new.public_bytes]
    True
    >>> trust.verify_bytes(chiyoda, b"data", old.sign(b"data"))
    >>> trust.retire(chiyoda, old.public_bytes)       # the cut-over
    >>> trust.verify_bytes(chiyoda, b"data", old.sign(b"data"))
    Traceback (most recent call last):
    ...
    jukinet.errors.BadSignature: signature: the signature is not m:131016's over this content
    """

    def __init__(self, keys: Mapping[NodeId, bytes] | None = None) -> None:
        self._keys: dict[NodeId, dict[bytes, Ed25519PublicKey]] = {}
        for node, public in (keys or {}).items():
            self.add(node, public)

    def add(self, node: NodeId, public_key: bytes) -> None:
        """Trust ``public_key`` as one of ``node``'s keys, beside any trusted already
        (a key trusted already is left as it is); end an overlap with :meth:`retire`.

        A key already trusted for another node is refused
        (:class:`~jukinet.errors.InvalidComponent`) and nothing changes.
        """
        if not isinstance(node, NodeId):
            raise TypeError(f"node: expected NodeId, got {type(node).__name__}")
        if not isinstance(public_key, bytes) or len(public_key) != 32:
            raise InvalidFormat(
                "the public key is not 32 raw bytes", field="public key", expected="32 bytes"
            )
        for other, keys in self._keys.items():
            if other != node and public_key in keys:
                raise InvalidComponent(
                    f"the public key is trusted for {other} already",
                    field="public key",
                    expected=f"a key of {node} alone (one key, one node)",
                )
        self._keys.setdefault(node, {}).setdefault(
            public_key, Ed25519PublicKey.from_public_bytes(public_key)
        )

    def retire(self, node: NodeId, public_key: bytes) -> None:
        """Stop trusting ``public_key`` for ``node`` (the end of a key rotation): what
        it signed is refused from now on.

        A node that is not trusted is an :class:`~jukinet.errors.UnknownSender`; a
        key not trusted for the node an :class:`~jukinet.errors.InvalidComponent`;
        retiring a node's last key (which would leave it unable to send anything) an
        :class:`~jukinet.errors.InvalidState`. Each leaves the store as it was.
        """
        if not isinstance(node, NodeId):
            raise TypeError(f"node: expected NodeId, got {type(node).__name__}")
        keys = self._keys.get(node)
        if keys is None:
            raise UnknownSender(f"{node} is not in the trust store", field="node")
        if not isinstance(public_key, bytes) or public_key not in keys:
            raise InvalidComponent(
                f"the key is not one trusted for {node}",
                field="public key",
                expected=f"one of the {len(keys)} key(s) trusted for {node}",
            )
        if len(keys) == 1:
            raise InvalidState(
                f"the key is the last one trusted for {node}",
                field="public key",
                expected=f"the new key of {node} added first",
            )
        del keys[public_key]

    def keys(self, node: NodeId) -> list[bytes]:
        """The raw public keys trusted for ``node``, oldest first (empty if none)."""
        return list(self._keys.get(node, {}))

    def __contains__(self, node: object) -> bool:
        return node in self._keys

    def nodes(self) -> list[NodeId]:
        """Every trusted node, sorted (``c:jlis``, then ``m:…``, then ``p:…``)."""
        return sorted(self._keys)

    def verify_bytes(self, node: NodeId, data: bytes, signature: bytes) -> None:
        """Raise unless ``signature`` is ``node``'s signature over ``data``, by any of
        the keys trusted for ``node`` (the newest is tried first)."""
        keys = self._keys.get(node)
        if keys is None:
            raise UnknownSender(f"{node} is not in the trust store", field="sender")
        for key in reversed(keys.values()):
            try:
                key.verify(signature, data)
            except InvalidSignature:
                continue
            return
        raise BadSignature(f"the signature is not {node}'s over this content", field="signature")

    def verify(self, envelope: Envelope) -> None:
        """Raise unless the envelope is signed by a key trusted for its sender."""
        self.verify_bytes(envelope.sender, envelope.signed_bytes(), envelope.signature)

    @never_raises
    def __repr__(self) -> str:
        """``<TrustStore 3 nodes: c:jlis m:131016 p:13>``: how many nodes are trusted and
        the first few of them (never the keys)."""
        nodes = self.nodes()
        shown = " ".join(str(node) for node in nodes[:_REPR_NODES])
        more = f" … (+{len(nodes) - _REPR_NODES})" if len(nodes) > _REPR_NODES else ""
        return f"<TrustStore {len(nodes)} node{'' if len(nodes) == 1 else 's'}: {shown}{more}>"


def encode(envelope: Envelope) -> bytes:
    """Serialize an envelope for transport (UTF-8 JSON, payloads in base64)."""
    return json.dumps(
        {
            "first_seq": envelope.first_seq,
            "payload_type": envelope.payload_type,
            "payloads": [base64.b64encode(p).decode("ascii") for p in envelope.payloads],
            "recipient": str(envelope.recipient),
            "sender": str(envelope.sender),
            "sent_at": envelope.sent_at.isoformat(),
            "signature": base64.b64encode(envelope.signature).decode("ascii"),
        },
        sort_keys=True,
        separators=(",", ":"),
    ).encode("utf-8")


_ENVELOPE_KEYS = frozenset(
    {"first_seq", "payload_type", "payloads", "recipient", "sender", "sent_at", "signature"}
)


def decode(raw: bytes) -> Envelope:
    """Parse what :func:`encode` produced; malformed input is an InvalidFormat.

    Input longer than :data:`MAX_ENVELOPE_BYTES` or nested deeper than
    :data:`~jukinet.domain.codec.MAX_JSON_DEPTH` is refused before it is parsed.
    Decoding does not verify: pass the result to :meth:`TrustStore.verify`.
    """
    if not isinstance(raw, bytes):
        raise TypeError(f"expected bytes, got {type(raw).__name__}")
    data = codec.load_json(raw, field="envelope", max_bytes=MAX_ENVELOPE_BYTES)
    try:
        if not isinstance(data, dict) or set(data) != _ENVELOPE_KEYS:
            raise InvalidFormat(
                "the envelope's fields are wrong", expected=", ".join(sorted(_ENVELOPE_KEYS))
            )
        payloads = data["payloads"]
        if not isinstance(payloads, list) or not all(isinstance(p, str) for p in payloads):
            raise InvalidFormat("payloads are not a list of base64 strings")
        for key in ("sender", "recipient", "payload_type", "signature", "sent_at"):
            if not isinstance(data[key], str):
                raise InvalidFormat(f"{key} is not a string")
        return Envelope(
            sender=NodeId.parse(data["sender"]),
            recipient=NodeId.parse(data["recipient"]),
            first_seq=data["first_seq"],
            payload_type=data["payload_type"],
            payloads=[base64.b64decode(p, validate=True) for p in payloads],
            sent_at=datetime.fromisoformat(data["sent_at"]),
            signature=base64.b64decode(data["signature"], validate=True),
        )
    except InvalidFormat as exc:
        raise InvalidFormat(exc.message, field="envelope", expected=exc.expected) from None
    except (ValueError, TypeError, InvalidComponent) as exc:
        raise InvalidFormat(f"malformed envelope ({exc})", field="envelope") from None


DEFAULT_MAX_AGE = timedelta(days=1)
"""Signed messages (envelopes, agencies' requests) older than this are refused as replays."""
DEFAULT_MAX_SKEW = timedelta(minutes=5)
"""Signed messages dated further in the future than this are refused."""


def check_fresh(
    sent_at: datetime,
    now: datetime,
    *,
    max_age: timedelta = DEFAULT_MAX_AGE,
    max_skew: timedelta = DEFAULT_MAX_SKEW,
    what: str = "the envelope",
    error: type[JukinetError] = ReplayDetected,
) -> None:
    """The one freshness rule for signed messages: ``sent_at`` must lie between
    ``max_age`` before ``now`` and ``max_skew`` after it, else ``error`` (a replay, or
    a clock too far ahead) naming ``what``.

    >>> from datetime import UTC
    >>> now = datetime(2026, 4, 1, 9, tzinfo=UTC)
    >>> check_fresh(now - timedelta(hours=23), now)
    >>> check_fresh(now - timedelta(days=2), now)
    Traceback (most recent call last):
    ...
    jukinet.errors.ReplayDetected: sent_at: the envelope was sent at 2026-03-30T09:00:00+00:00, too long ago (expected within 1 day, 0:00:00 of 2026-04-01T09:00:00+00:00)
    """
    if sent_at < now - max_age:
        raise error(
            f"{what} was sent at {sent_at.isoformat()}, too long ago",
            field="sent_at",
            expected=f"within {max_age} of {now.isoformat()}",
        )
    if sent_at > now + max_skew:
        raise error(
            f"{what} is dated in the future ({sent_at.isoformat()})",
            field="sent_at",
            expected=f"no later than {(now + max_skew).isoformat()}",
        )

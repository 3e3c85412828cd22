"""What the tiers' reprs share: a node's identity with its name.

Nodes and desks are live objects: their reprs follow the house convention of
:mod:`jukinet.domain._repr` (``<Class identity details>``, no storage read, never
raising, no secret).

>>> from jukinet.tiers.messages import CENTER, NodeId
>>> node_label(NodeId.parse("m:131016")), node_label(NodeId.parse("p:13")), node_label(CENTER)
('m:131016 東京都千代田区', 'p:13 東京都', 'c:jlis')
"""

from __future__ import annotations

from jukinet.domain.lg_code import LocalGovernmentCode
from jukinet.tiers.messages import NodeId, NodeKind

__all__ = ["node_label"]


def node_label(node: NodeId) -> str:
    """``m:131016 東京都千代田区``: the node's identity and, for a municipality or a
    prefecture, its name (from the shipped code table)."""
    try:
        if node.kind is NodeKind.MUNICIPALITY:
            return f"{node} {LocalGovernmentCode(node.code).full_name}"
        if node.kind is NodeKind.PREFECTURE:
            return f"{node} {LocalGovernmentCode.from_five_digits(node.code + '000').name}"
    except Exception:  # a name the table lacks: the identity alone
        pass
    return str(node)

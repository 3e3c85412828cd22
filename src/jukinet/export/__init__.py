"""Turns the agency table, identity rows, registers and the provision log into flat
rows for DataFrames.

Every function returns a :class:`Table`: rows of plain values (``str``, ``int``,
``bool``, ``date``, ``datetime``, ``None``) under English column names, each
column also carrying its Japanese label (the law's term: 住民票コード, 氏名,
生年月日, 異動事由, 提供先, 事務 …). :meth:`Table.to_dicts` gives the list of flat
dicts a DataFrame takes directly; :meth:`Table.to_pandas` builds the DataFrame
when the ``pandas`` extra is installed (``pip install 'jukinet[pandas]'``).

* :func:`agency_uses`: the appended tables 別表第一〜第六, one row per 項;
* :func:`local_governments`: the shipped list of local government codes;
* :func:`identity_rows`: a tier's identity information (本人確認情報), current
  versions or every version;
* :func:`register`: a municipality's resident records (住民票), flat;
* :func:`provision_log`: a tier's provision log (提供記録);
* :func:`jpki_feed`: the centre's JPKI revocation feed (異動等失効情報).

They read through the tiers' public faces and the storage ports only, and change
nothing.

>>> from jukinet import export
>>> uses = export.agency_uses()
>>> row = uses.to_dicts(japanese=True)[0]
>>> row["別表の名称"], row["項"], row["提供先"][:10]
('別表第一', '1', '被災者生活再建支援法')
>>> sum(1 for row in uses if row["table"] == 1 and not row["deleted"])
300
"""

from __future__ import annotations

from jukinet.export.table import Column, Table, Value
from jukinet.export.tables import (
    AGENCY_USE_COLUMNS,
    IDENTITY_COLUMNS,
    LOCAL_GOVERNMENT_COLUMNS,
    PROVISION_COLUMNS,
    REGISTER_COLUMNS,
    REVOCATION_COLUMNS,
    agency_uses,
    identity_rows,
    jpki_feed,
    local_governments,
    provision_log,
    register,
)

__all__ = [
    "AGENCY_USE_COLUMNS",
    "IDENTITY_COLUMNS",
    "LOCAL_GOVERNMENT_COLUMNS",
    "PROVISION_COLUMNS",
    "REGISTER_COLUMNS",
    "REVOCATION_COLUMNS",
    "Column",
    "Table",
    "Value",
    "agency_uses",
    "identity_rows",
    "jpki_feed",
    "local_governments",
    "provision_log",
    "register",
]

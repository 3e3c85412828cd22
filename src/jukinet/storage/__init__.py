"""Storage: the ports (:mod:`jukinet.storage.base`), the plain records that cross
them (:mod:`jukinet.storage.records`), the domain mapping
(:mod:`jukinet.storage.mapping`) and the adapters: :mod:`jukinet.storage.memory`,
:mod:`jukinet.storage.sqlite` and :mod:`jukinet.storage.postgres` (the last needs
the ``postgres`` extra). Importing this package imports no adapter.
"""

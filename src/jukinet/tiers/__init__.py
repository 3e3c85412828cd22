"""The three tiers: municipalities, prefectures and the national centre.

* :mod:`jukinet.tiers.messages`: node identities, signed envelopes, trust stores.
* :mod:`jukinet.tiers.wire`: the messages inside envelopes.
* :mod:`jukinet.tiers.node`: links, acknowledgements, refusals, health.
* :mod:`jukinet.tiers.cs`: the municipality's communication server and the
  interface a vendor's register implements.
* :mod:`jukinet.tiers.municipality`: jukinet's own register on top of the CS.
* :mod:`jukinet.tiers.upper`: the prefecture server and the national centre.
* :mod:`jukinet.tiers.provision`: provision to agencies under the 別表, the
  provision log, disclosure and correction requests.
* :mod:`jukinet.tiers.card_desk`, :mod:`jukinet.tiers.card_office`,
  :mod:`jukinet.tiers.card_messages`: the resident card at the municipality's
  counter, at the upper tiers and on the wire.
* :mod:`jukinet.tiers.relay`, :mod:`jukinet.tiers.counter_messages`,
  :mod:`jukinet.tiers.wide_area`, :mod:`jukinet.tiers.special_move`: the counter
  services between municipalities (wide-area copies, the special moving-out/in),
  relayed by the upper tiers.
* :mod:`jukinet.tiers.restore`: restoring a municipality from the upper tiers.
* :mod:`jukinet.tiers.reconcile`: comparing a tier's copy with the tier below.
* :mod:`jukinet.tiers.clock`: injected time.

The tiers depend on the storage *ports* only, never on an adapter.
"""

"""Test helpers shipped with jukinet, for jukinet's own tests and for yours.

* :mod:`jukinet.testing.strategies`: Hypothesis strategies for every domain value
  (they need the ``testing`` extra: ``pip install 'jukinet[testing]'``).
* :mod:`jukinet.testing.examples`: fixed example values.
* :mod:`jukinet.testing.conformance`: the storage conformance suite, for your
  own adapter.
* :mod:`jukinet.testing.network`: an in-process network that drops, duplicates,
  reorders and delays envelopes; :mod:`jukinet.testing.country`: a whole country
  on it.
* :mod:`jukinet.testing.population`: synthetic populations.

Nothing here is imported by the library itself.
"""

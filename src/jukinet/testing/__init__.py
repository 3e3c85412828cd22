"""Test helpers shipped with jukinet, for jukinet's own tests and for yours.

:mod:`jukinet.testing.strategies` holds Hypothesis strategies for every domain
value. They need the ``testing`` extra (``pip install 'jukinet[testing]'``).
Nothing here is imported by the library itself.
"""

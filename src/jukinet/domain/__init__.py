"""The domain: pure values and rules, with no I/O, no clock and no randomness of
its own (time and random sources are passed in).

* :mod:`jukinet.domain.resident_code`, :mod:`jukinet.domain.individual_number`,
  :mod:`jukinet.domain.lg_code`: the three numbers (住民票コード, 個人番号,
  全国地方公共団体コード) with their check digits; the shipped list of local
  governments.
* :mod:`jukinet.domain.names`, :mod:`jukinet.domain.address`,
  :mod:`jukinet.domain.era`: names and readings, addresses, Japanese era dates.
* :mod:`jukinet.domain.resident`: the resident record (住民票) and its parts.
* :mod:`jukinet.domain.changes`: kinds and reasons of change (異動事由).
* :mod:`jukinet.domain.identity`: identity information and the identity notice
  (本人確認情報の通知).
* :mod:`jukinet.domain.copies`: what a wide-area copy of the 住民票 shows
  (住民票の写しの広域交付, 住基法12条の4) and how it is printed.
* :mod:`jukinet.domain.custody`: who holds a person; the rules the upper tiers
  apply to every notice.
* :mod:`jukinet.domain.agency`: the appended tables (別表) and their scopes.
* :mod:`jukinet.domain.jpki`: what a change revokes in the public key
  infrastructure; :mod:`jukinet.domain.linkage`: the feed to the individual-number
  system; :mod:`jukinet.domain.retention`: how long things are kept.
* :mod:`jukinet.domain.codec`: structuring, canonical JSON and bounded parsing.
"""

"""Governance, the lowest stage: who may do what, which disclosure rules are in force, and the
trail of what was done.

- `access`: accounts, roles and the sign-in throttle (the privacy notice's "seen only by those
  whose role allows").
- `audit`: the append-only audit trail that every other stage writes to.
- `rules`: the disclosure rules from disclosure.toml, the record of one suppression, and the
  selection floor checked before an evaluation starts.
- `untrusted`, `private`, `strength`: text from outside echoed safely (pages, terminals, CSV),
  owner-only files and folders, and how guessable a password or key is (docs/threat-model.md).

Imports: `tf_eval.config` only. It reads no record about a family, so every stage above may use
it (tests/test_architecture.py enforces the order config < governance < data < method < release).
"""

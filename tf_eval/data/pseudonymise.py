"""Pseudonyms at the door: every source identifier becomes a keyed hash before it nears the store.

A pseudonym is the first 8 bytes of HMAC-SHA256(key, namespace NUL identifier), read as a signed
big-endian integer so that it fits DuckDB's BIGINT. The namespace ("family", "person") keeps a
family and a person with the same reference apart. Unlike a plain hash of 'P-0001234', nobody
can recompute a pseudonym from a reference without the key, and the key never enters the store:
it comes from TF_EVAL_PSEUDO_KEY, or from a key file that only its owner may read, created on
first use (config.py). The store keeps only a check value (an HMAC of a fixed text), so a load
made with another key - whose people would silently fail to link - is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
from pathlib import Path

import numpy as np
import pandas as pd

from tf_eval import config
from tf_eval.governance import private, strength

NAMESPACES = ("family", "person")
_CHECK_TEXT = b"tf-eval pseudonym key check"


class PseudonymKeyError(Exception):
    """The pseudonym key is missing, unsafe or not the store's; the message is one line."""


def key_file_path() -> Path:
    """TF_EVAL_PSEUDO_KEY_FILE, else ~/.config/tf-eval/pseudonym.key."""
    return Path(os.environ.get(config.PSEUDO_KEY_FILE_ENV_VAR) or config.DEFAULT_PSEUDO_KEY_FILE)


def load_key() -> bytes:
    """The key from the environment, else from the key file (created if there is none)."""
    given = os.environ.get(config.PSEUDO_KEY_ENV_VAR)
    if given is not None:
        return _checked(given, f"${config.PSEUDO_KEY_ENV_VAR}")
    path = key_file_path()
    if not path.exists():
        _create_key_file(path)
    return _read_key_file(path)


def key_check(key: bytes) -> str:
    """A value that tells keys apart without revealing them (stored in store_info)."""
    return hmac.new(key, _CHECK_TEXT, hashlib.sha256).hexdigest()[:16]


def pseudonyms(references: pd.Series, namespace: str, key: bytes) -> np.ndarray:
    """The int64 pseudonym of each reference (each distinct reference is hashed once)."""
    if namespace not in NAMESPACES:
        raise ValueError(f"unknown namespace {namespace!r}")
    codes, distinct = pd.factorize(references, sort=False)
    prefix = namespace.encode() + b"\0"
    digests = b"".join(
        hmac.digest(key, prefix + str(reference).encode(), "sha256")[:8] for reference in distinct
    )
    return np.frombuffer(digests, dtype=">i8").astype(np.int64)[codes]


def _checked(text: str, where: str) -> bytes:
    key = text.strip()
    if len(key) < config.PSEUDO_KEY_MIN_CHARS:
        raise PseudonymKeyError(
            f"the pseudonym key in {where} has {len(key)} characters; it needs at least "
            f"{config.PSEUDO_KEY_MIN_CHARS} (make one with: python -c 'import secrets; "
            "print(secrets.token_hex(32))')"
        )
    weak = strength.key_problem(key, f"the pseudonym key in {where}")
    if weak:
        raise PseudonymKeyError(weak)
    return key.encode()


def _create_key_file(path: Path) -> None:
    """Write a new random key that only its owner can read. The key is written to a private
    temporary file and linked into place, so a reader never sees a half-written key and two
    processes creating it at once agree on one key."""
    private.make_dirs(path.parent)
    draft = path.with_name(f".{path.name}.new-{os.getpid()}")
    fd = private.create(draft)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.link(draft, path)
    except FileExistsError:
        pass  # another process made it first: use theirs
    finally:
        draft.unlink(missing_ok=True)


def _read_key_file(path: Path) -> bytes:
    try:
        mode = path.stat().st_mode
        if not stat.S_ISREG(mode):
            raise PseudonymKeyError(f"the pseudonym key file {path} is not a file")
        if mode & 0o077:
            raise PseudonymKeyError(
                f"the pseudonym key file {path} can be read by others (mode "
                f"{stat.S_IMODE(mode):o}); make it private with: chmod 600 {path}"
            )
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise PseudonymKeyError(f"cannot read the pseudonym key file {path}: {exc}") from None
    return _checked(text, str(path))

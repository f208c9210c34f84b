"""How hard a password or key is to guess, estimated, and what is wrong with a weak one.

A length rule alone accepts 'aaaaaaaaaaaa' as a password and 32 x 'a' as a key. This estimate
counts the bits of a guess an attacker who knows the usual shortcuts would need:

- the character classes used set the bits of a character that is free (log2 of their size:
  lower case 26, upper case 26, digits 10, anything else 33);
- a text made of one part repeated ('abcabcabc') counts that part once;
- a character that repeats the one before it or continues a sequence ('aaaa', 'abcd', '4321')
  counts 1 bit;
- a password that is, or starts with, one of a small list of the commonest passwords and words
  people choose for a council system is refused whatever its length.

It is a floor, not a promise: a long phrase of common words scores well here and may still be
guessable. Random keys (`openssl rand -hex 32`) score about 300 bits.
"""

from __future__ import annotations

import math
import string

from tf_eval import config

# The commonest choices (leaked-password lists' top entries) and the obvious words here; a
# password is refused when, lower-cased and without digits and symbols at either end, it is one.
DENIED = frozenset(
    """password passw0rd p@ssword p@ssw0rd qwerty qwertyuiop asdfgh asdfghjkl zxcvbnm letmein
    welcome welcome1 admin administrator changeme change me default secret iloveyou monkey
    dragon football baseball sunshine princess trustno master login abc abcdef abcdefgh
    qazwsx starwars whatever shadow superman batman hello freedom summer winter autumn spring
    council troubled families family tfeval tf-eval tf eval evaluation support programme
    program viewer evaluator steward london england""".split()
)
_CLASSES = (
    (set(string.ascii_lowercase), 26),
    (set(string.ascii_uppercase), 26),
    (set(string.digits), 10),
)
_OTHER = 33


def estimated_bits(text: str) -> float:
    """The estimated bits of a guess (see the module's docstring)."""
    if not text:
        return 0.0
    pool = sum(size for members, size in _CLASSES if any(c in members for c in text))
    if any(not any(c in members for members, _ in _CLASSES) for c in text):
        pool += _OTHER
    unit = _shortest_unit(text)
    per_char = math.log2(pool)
    bits, previous = 0.0, None
    for character in unit:
        if previous is not None and abs(ord(character) - ord(previous)) <= 1:
            bits += 1.0  # the same again, or the next in a sequence
        else:
            bits += per_char
        previous = character
    repeats = len(text) / len(unit)
    return bits + (math.log2(repeats) if repeats > 1 else 0.0)


def _shortest_unit(text: str) -> str:
    """The shortest part whose repetition makes the text ('abc' for 'abcabcab')."""
    for size in range(1, len(text) // 2 + 1):
        unit = text[:size]
        if (unit * (len(text) // size + 1))[: len(text)] == text:
            return unit
    return text


def _denied(text: str) -> bool:
    core = text.lower().strip(string.digits + string.punctuation + " ")
    return core in DENIED or _shortest_unit(core) in DENIED


def password_problem(password: str) -> str | None:
    """What is wrong with a new password, in words, or None when it will do."""
    if len(password) < config.PASSWORD_MIN_CHARS:
        return (
            f"the password has {len(password)} characters; it needs at least "
            f"{config.PASSWORD_MIN_CHARS}"
        )
    if _denied(password):
        return (
            "the password is one of the commonest passwords or words, so it is guessed first; "
            "choose a phrase of several unrelated words"
        )
    bits = estimated_bits(password)
    if bits < config.PASSWORD_MIN_BITS:
        return (
            f"the password is too easy to guess (about {bits:.0f} bits; at least "
            f"{config.PASSWORD_MIN_BITS} needed): avoid repeated characters, sequences and "
            "repeated parts, or use a phrase of several unrelated words"
        )
    return None


def key_problem(key: str, where: str) -> str | None:
    """What makes a secret key given in `where` easy to guess, or None (its length is checked
    where it is read, with the message that names the minimum)."""
    bits = estimated_bits(key)
    if bits < config.KEY_MIN_BITS:
        return (
            f"{where} is too easy to guess (about {bits:.0f} bits, from repeated characters, "
            f"sequences or a repeated part; at least {config.KEY_MIN_BITS} needed): use a "
            "random key, e.g. `openssl rand -hex 32`"
        )
    return None

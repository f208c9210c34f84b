"""Consistent cell-key perturbation: the noise the gate adds to counts and to the sums behind
means (docs/disclosure-control.md#consistent-perturbation).

This is the cell-key method that the ONS used for the 2021 Census tables (after the Australian
Bureau of Statistics' TableBuilder). Every record has a key from 0 to 255
(tf_eval.data.record_keys); a cell's key is the sum of its records' keys modulo 256. The noise
for a cell is looked up in a perturbation table (p-table) by its exact value and its key, so:

- the same records always get the same noise (the same selection gives the same output, so
  asking again and averaging gains nothing);
- two cells whose records differ by even one family have unrelated keys, so subtracting one
  output from another leaves the difference of two noises, never an exact count;
- a viewer cannot undo the noise: the keys come from pseudonyms, which no viewer sees.

The p-table. For a count n at or above the threshold T, the noise j runs from -m to +m with
m = min(perturbation_max, n - T), so a perturbed count is never below T (no count of 1-9 ever
appears), and j has probability proportional to (perturbation_max + 1 - |j|): small changes are
likelier than large ones, and the table is symmetric, so the noise averages to exactly zero over
the 256 keys. Each row holds 256 entries, one per key, sorted by noise (an ONS p-table's "ckey
ranges"); a count's row position is its key offset by a multiple of its value, so that cells with
the same key but different values (a family's people and its records, say) do not share a noise.

Sums. A mean or rate is released as (sum + noise) / size, rounded. The noise comes from the same
cell key (remixed, so it is not the count's draw): a symmetric triangular number in [-1, 1] times
`sum_perturbation` times the cell's largest single contribution (the bound on what any one
record adds to the sum). Then the mean is rounded to the decimal place of the noise's standard
deviation: digits finer than the noise would only help someone trying to take it off again (the
noise takes one of 256 known shapes, so a mean to 15 digits could give its sum back exactly).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from tf_eval.data.record_keys import KEYS
from tf_eval.governance.rules import Rules

# A count's position in its p-table row: its key offset by this multiple of its value (odd, so
# the offsets of consecutive values differ and cycle through every position).
VALUE_OFFSET = 167
# The sum's position: its cell key remixed by a bijection of 0-255 (an odd multiplier and a shift).
SUM_MIX, SUM_SHIFT = 97, 89
# Digits never go finer than this, whatever the noise.
MAX_DECIMALS = 12


@lru_cache(maxsize=8)
def ptable(perturbation_max: int) -> np.ndarray:
    """The p-table: row m (0 to perturbation_max) lists the noise for each of the 256 keys when
    the noise may reach +-m. Entries per noise value j are floor(256 p_j) for j != 0, the same
    for -j, and the rest at 0, so every row is symmetric and averages to exactly zero."""
    rows = np.zeros((perturbation_max + 1, KEYS), dtype=np.int64)
    for m in range(perturbation_max + 1):
        noise = np.arange(-m, m + 1)
        weight = (perturbation_max + 1 - np.abs(noise)).astype(float)
        share = np.floor(KEYS * weight / weight.sum()).astype(np.int64)
        share[m] = KEYS - 2 * share[m + 1 :].sum()
        share[:m] = share[m + 1 :][::-1]
        rows[m] = np.repeat(noise, share)
    rows.setflags(write=False)
    return rows


def check_keys(keys: object, n: int) -> np.ndarray:
    """Record or cell keys as whole numbers 0-255, `n` of them, or a ValueError saying what is
    wrong."""
    array = np.asarray(keys)
    if array.shape != (n,):
        raise ValueError(f"{array.size} keys for {n} values")
    if n and (
        not np.issubdtype(array.dtype, np.number)
        or not np.isfinite(array.astype(float)).all()
        or (array != np.round(array)).any()
        or array.min() < 0
        or array.max() >= KEYS
    ):
        raise ValueError(f"keys must be whole numbers from 0 to {KEYS - 1}")
    return array.astype(np.int64)


def perturb_counts(exact: np.ndarray, keys: np.ndarray, rules: Rules) -> np.ndarray:
    """Each count plus its noise from the p-table; counts below the threshold are returned as
    they are (the gate suppresses them or, for 0, shows them)."""
    exact = np.asarray(exact, dtype=np.int64)
    table = ptable(rules.perturbation_max)
    reach = np.clip(exact - rules.count_threshold, 0, rules.perturbation_max)
    position = (keys + VALUE_OFFSET * (exact % KEYS)) % KEYS
    noise = table[reach, position]
    return np.where(exact >= rules.count_threshold, exact + noise, exact)


def sum_noise(key: int, largest: float, rules: Rules) -> float:
    """The noise on a sum with cell key `key` whose largest single contribution is `largest`."""
    u = ((SUM_MIX * key + SUM_SHIFT) % KEYS + 0.5) / KEYS
    z = -1 + math.sqrt(2 * u) if u < 0.5 else 1 - math.sqrt(2 * (1 - u))  # triangular in [-1, 1]
    return rules.sum_perturbation * largest * z


def decimals(amplitude: float) -> int:
    """The decimal places a value perturbed by up to +-amplitude (the triangular noise of
    `sum_noise`) may be shown to: the place of the leading digit of the noise's standard
    deviation, amplitude / sqrt(6) (an amplitude of 0.05 -> sd 0.02 -> 2 places; 20 -> 8 -> 0)."""
    sd = amplitude / math.sqrt(6)
    if not sd > 0 or not math.isfinite(sd):
        return MAX_DECIMALS
    return min(MAX_DECIMALS, -math.floor(math.log10(sd)))


def round_out(low: float, high: float, places: int) -> tuple[float, float]:
    """An interval rounded outwards to `places` decimals, so rounding never narrows it."""
    step = 10.0**-places
    return (
        round(math.floor(low / step) * step, places),
        round(math.ceil(high / step) * step, places),
    )

"""A tiny hand-made store for tests whose right answers are worked out by hand.

The study calendar comes from the records (tf_eval.data.coverage): `tiny_store` gives the store
ten filler people, in no family, with an A&E attendance in the calendar's first and last months,
so the calendar is exactly [first, last] whatever the hand-made records hold (each of their
sources has fewer than ten people in any month and is ignored for the calendar).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from tf_eval.data import store

FILLER_FAMILY = 0  # the filler people's family_id: no such family, so never in a panel
_DEFAULTS = {"benefit_spells": {"benefit": "UC"}, "offences": {"disposal": "caution"}}


def tiny_store(
    path: Path,
    families: list[tuple[int, date, date | None]],
    people: list[tuple[int, int, int, int | None, str]] = (),  # type: ignore[assignment]
    records: dict[str, list[dict]] | None = None,
    calendar: tuple[date, date] = (date(2012, 1, 1), date(2022, 12, 1)),
) -> store.Store:
    """families: (family_id, identified_on, attached_on or None), all in LA01.
    people: (person_id, family_id, birth_year, birth_month or None, role).
    records: table -> rows as dicts of its columns (load_id added).
    calendar: the first days of the first and last months the records cover."""
    con = store.connect(path, read_only=False)
    store.create_schema(con)
    for family_id, identified, attached in families:
        con.execute("INSERT INTO families VALUES (?, 'LA01', ?, 1)", [family_id, identified])
        if attached:
            con.execute("INSERT INTO programme VALUES (?, ?, NULL, 1)", [family_id, attached])
    rows = [(*person, "F") for person in people]
    for i in range(10):
        rows.append((10_000_000 + i, FILLER_FAMILY, 1970, 1, "adult", "F"))
    con.executemany(
        "INSERT INTO people (person_id, family_id, birth_year, birth_month, role, sex, load_id) "
        "VALUES (?, ?, ?, ?, ?, ?, 1)",
        rows,
    )
    for i in range(10):
        for month in calendar:
            con.execute("INSERT INTO ae_attendances VALUES (?, ?, 1)", [10_000_000 + i, month])
    for table, table_rows in (records or {}).items():
        for given in table_rows:
            row = _DEFAULTS.get(table, {}) | given
            columns = ", ".join([*row, "load_id"])
            marks = ", ".join(["?"] * (len(row) + 1))
            con.execute(f"INSERT INTO {table} ({columns}) VALUES ({marks})", [*row.values(), 1])
    con.close()
    return store.Store(path)

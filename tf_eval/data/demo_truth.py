"""The demo's planted truth, summed as batches are generated and written as `demo_truth` rows:
for each outcome and follow-up, the average effect over the supported people tf-eval measures,
for the whole store (NULL `la_code` and `cohort`), each LA, each identification year (cohort)
and each LA x cohort, so a study of any selection has its own truth."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pandas as pd

from tf_eval.data.store import Store

COLUMNS = ["outcome", "follow_up_months", "la_code", "cohort", "true_att"]


FAMILY_COLUMNS = ["family_id", "outcome", "follow_up_months", "effect_sum", "people"]


def planted_effects(
    store: Store, follow_up_months: int, la: str | None, cohort: int | None
) -> dict[str, float]:
    """The demo's planted effect of each outcome for one selection (empty for a council's store,
    which has no `demo_truth` rows): what the power check compares with the smallest effect the
    comparison can detect."""
    found = store.query(
        "SELECT outcome, true_att FROM demo_truth WHERE follow_up_months = $months "
        "AND la_code IS NOT DISTINCT FROM $la AND cohort IS NOT DISTINCT FROM $cohort",
        {"months": follow_up_months, "la": la, "cohort": cohort},
    )
    return dict(zip(found["outcome"], found["true_att"].astype(float), strict=True))


class TruthSums:
    """Running sums of supported people's expected effects, per outcome, follow-up, LA and
    cohort; with `by_family`, per family too (`family_frame`), so a study can take the truth of
    exactly the families an analysis kept (a caliper's matched ones). Not written to the store:
    at national scale it would be millions of rows no page reads."""

    def __init__(self, la_codes: tuple[str, ...], by_family: bool = False) -> None:
        self.la_codes = la_codes
        self._sums: dict[tuple[str, int], dict[tuple[int, int], list[float]]] = defaultdict(
            lambda: defaultdict(lambda: [0.0, 0])
        )
        self._families: list[pd.DataFrame] | None = [] if by_family else None

    def add(
        self,
        outcome: str,
        follow_up: int,
        la: np.ndarray,
        cohort: np.ndarray,
        effect: np.ndarray,
        family_id: np.ndarray | None = None,
    ) -> None:
        """Add people's effects (one per person, with their family's LA index, cohort and, for
        the per-family sums, id)."""
        if effect.size == 0:
            return
        if self._families is not None:
            if family_id is None:
                raise ValueError("per-family truth needs each person's family id")
            people = pd.DataFrame({"family_id": family_id, "effect": effect})
            grouped = people.groupby("family_id")["effect"].agg(["sum", "count"]).reset_index()
            grouped.columns = ["family_id", "effect_sum", "people"]
            self._families.append(
                grouped.assign(outcome=outcome, follow_up_months=follow_up)[FAMILY_COLUMNS]
            )
        cells = pd.DataFrame({"la": la, "cohort": cohort, "effect": effect})
        grouped = cells.groupby(["la", "cohort"])["effect"].agg(["sum", "count"])
        table = self._sums[(outcome, follow_up)]
        for (la_index, year), (total, people) in grouped.iterrows():
            table[(int(la_index), int(year))][0] += float(total)
            table[(int(la_index), int(year))][1] += int(people)

    def frame(self) -> pd.DataFrame:
        """One row per outcome, follow-up and selection (whole store, LA, cohort, LA x cohort)."""
        rows = []
        for (outcome, follow_up), table in sorted(self._sums.items()):
            cells = pd.DataFrame(
                [(la, year, s, n) for (la, year), (s, n) in table.items()],
                columns=["la", "cohort", "sum", "n"],
            )
            cells["la"] = [self.la_codes[i] for i in cells["la"]]
            cells["store"] = 0
            for keys in ([], ["la"], ["cohort"], ["la", "cohort"]):
                grouped = cells.groupby(["store", *keys])[["sum", "n"]].sum().reset_index()
                for _, row in grouped.iterrows():
                    rows.append(
                        (
                            outcome,
                            follow_up,
                            row["la"] if "la" in keys else None,
                            int(row["cohort"]) if "cohort" in keys else None,
                            row["sum"] / row["n"],
                        )
                    )
        return pd.DataFrame(rows, columns=COLUMNS)

    def family_frame(self) -> pd.DataFrame:
        """One row per supported family, outcome and follow-up: the sum of its measured
        people's expected effects and how many they are (only with `by_family`)."""
        if self._families is None:
            raise ValueError("these sums were not kept by family (TruthSums(by_family=True))")
        if not self._families:
            return pd.DataFrame(columns=FAMILY_COLUMNS)
        return pd.concat(self._families, ignore_index=True)

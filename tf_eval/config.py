"""Configuration in one place: where data lives, the study calendar, demo defaults and the
disclosure floors. Other modules import these names rather than repeating the numbers."""

from datetime import date
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# The store: `--db` beats the environment variable, which beats the default file.
DB_ENV_VAR = "TF_EVAL_DB"
DEFAULT_DB_PATH = PROJECT_ROOT / "data" / "tf_eval.duckdb"

# The study calendar (design.md sections 2 and 3).
RECORDS_FROM = date(2012, 1, 1)
RECORDS_TO = date(2022, 12, 31)
IDENTIFIED_FROM = date(2014, 1, 1)
IDENTIFIED_TO = date(2020, 12, 31)
PRE_WINDOW_MONTHS = 12
FOLLOW_UP_MONTHS = (12, 24)
# Treated families were attached to support within this many months of being identified; their
# index date is the attachment date. A comparison family's index date is the first day of the
# month after identification - when it would have been attached - and it must not have been
# attached before its follow-up ends. Families attached in between are neither and are left out.
ATTACHED_WITHIN_MONTHS = 3

# The synthetic demo store. 20,000 families give every LA x cohort cell at least 50 treated and
# 50 comparison families (the differencing floor of design.md section 5) and build in seconds.
DEMO_FAMILIES = 20_000
DEMO_SEED = 2014
# Families generated per batch: bounds memory at national scale (400,000 families) and paces the
# progress bar. Part of the generator's definition: changing it changes the data for a seed.
DEMO_BATCH_FAMILIES = 10_000

# Disclosure floors (design.md section 5). The full gate and its config file come with the
# disclosure issue; until then the 10-5 helper reads these.
COUNT_THRESHOLD = 10
COUNT_ROUNDING = 5
SUPPRESSED_MARK = "c"
# An estimate is shown only with this many families in each matched arm and residual df.
ESTIMATE_MIN_FAMILIES = 10
ESTIMATE_MIN_DF = 10

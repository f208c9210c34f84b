"""Configuration in one place: where data lives, the windows, demo defaults and the
disclosure floors. Other modules import these names rather than repeating the numbers."""

from datetime import date
from pathlib import Path

# tf-eval's version, stamped on every store, load and board pack it writes.
VERSION = "0.1.0"

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# The store: `--db` beats the environment variable, which beats the default file.
DB_ENV_VAR = "TF_EVAL_DB"
DEFAULT_DB_PATH = PROJECT_ROOT / "data" / "tf_eval.duckdb"
# Encryption at rest: with this variable set, the store is encrypted with it (AES-GCM through
# OpenSSL, from the duckdb-extension-httpfs package); without it the store is plaintext.
DB_KEY_ENV_VAR = "TF_EVAL_DB_KEY"
DB_KEY_MIN_CHARS = 32

# The synthetic demo's calendar (tf_eval.data.synth) and nothing else: an evaluation takes its
# study calendar from the records in the store (tf_eval.data.coverage, docs/method.md).
DEMO_RECORDS_FROM = date(2012, 1, 1)
DEMO_RECORDS_TO = date(2022, 12, 31)
DEMO_IDENTIFIED_FROM = date(2014, 1, 1)
DEMO_IDENTIFIED_TO = date(2020, 12, 31)
# Windows around the index date (docs/method.md).
PRE_WINDOW_MONTHS = 12
# The pre-window's last months whose level a lasting state (an outcome's `recent_level`) also
# gets as a covariate: the quarter before the index date.
RECENT_MONTHS = 3
FOLLOW_UP_MONTHS = (12, 24)
# Treated families were attached to support within this many months of being identified (the day
# exactly this many months on included); their index date is the attachment date. A comparison
# family's index date is the first day of the month after identification - when it would have
# been attached - and it must not have been attached before its follow-up ends. Families attached
# in between are neither and are left out.
ATTACHED_WITHIN_MONTHS = 3
# A person whose birth month is not recorded is taken to be born in July, the middle of the year
# (tf_eval.data.outcomes.age_at).
UNKNOWN_BIRTH_MONTH = 7
# A school term recorded without its last day ends the day before the child's next term starts,
# and at most this many months after its own start (tf_eval.data.outcomes.TERMS).
TERM_MAX_MONTHS = 4

# The estimator behind the headline estimates (tf_eval.method.estimators; all three are shown side
# by side). Chosen from the Monte Carlo study (studies/monte_carlo.py, docs/method.md).
DEFAULT_ESTIMATOR = "pre_level_adjustment"

# DuckDB's memory for reading a store (the dashboard's shared connection, the CLI's evaluations).
# Unlimited, DuckDB keeps up to 80% of the machine's memory in its buffer pool; the national-scale
# panel (2 million families, 143 million records) runs within this (benchmarks/bench_national.py).
STORE_MEMORY_LIMIT = "2GB"
# What DuckDB may keep between queries when an evaluation hands its memory back (Store.release):
# after the national panel it held 1.3 GB more than that (the records' blocks it read, its
# allocator's pages), all the evaluation's way through.
STORE_IDLE_MEMORY = "64MB"
# The dashboard checks this often whether a store it has open was replaced (a load, a purge, a demo
# rebuild, in any process) and closes the old file's connection, so a purged file is not kept open.
STORE_WATCH_SECONDS = 2.0
# Threads for numpy's and scipy's linear algebra (tf_eval/__init__.py says why one).
BLAS_THREADS = 1
# Rows per block of the blocked cross-products and gathers (tf_eval.method.cr2, design, drdid):
# a block of 38 float columns is 2.4 MiB, kept in this machine's caches while it is scaled and
# multiplied. With blocks of 65,536 rows (20 MiB each, two threads sharing a 32 MiB cache) the
# same products took 20% longer.
BLOCK_ROWS = 8_192
# The large fits' warm start (tf_eval.method.drdid's tilting, tf_eval.method.propensity's
# logit): with at least WARM_START_STRIDE x WARM_START_ROWS units, every stride-th unit (about
# WARM_START_ROWS of them) is fitted first, and the whole sample starts from that optimum, a few
# Newton steps nearer its own than zero is (each step a cross-product of every unit).
WARM_START_ROWS = 131_072
WARM_START_STRIDE = 4
# Threads computing an evaluation's estimates (1 or 2), each single-threaded in its linear
# algebra: the estimates are independent, so two share this machine's two cores
# (tf_eval.method.estimate).
ESTIMATE_THREADS = 2

# The outcome model shrinks when the data are thin (tf_eval.method.estimate, docs/method.md): an
# estimate uses the full model (covariates, squares, interactions with treatment) only with at
# least this many families per parameter, else the pre-window levels alone, else no covariates.
OUTCOME_MODEL_MIN_FAMILIES_PER_PARAMETER = 10
# An outcome's pre-window level joins the propensity model of a selection only where at least
# this many supported and this many comparison families have it above zero: a rare event's
# (custody, a child looked after) in a few families tells the model little and can separate it
# (tf_eval.method.unit_matching.match_units; it is then left out and reported).
PRE_LEVEL_MIN_FAMILIES = 10
# A rare 0/1 outcome's estimate rests on the families holding its rarer answer (someone with the
# event, or someone without) in the smaller group compared: its t degrees of freedom are at most
# this many per such family beyond the first (tf_eval.method.estimators.with_events). A variance
# summed over k families' rare events varies as their count does, like a chi-square on about 2k
# df; Bell-McCaffrey's df, computed as if every family's variance were alike, credit far more.
RARE_EVENT_DF_PER_FAMILY = 2

# The evidence beside every finding (tf_eval.method.sensitivity, tf_eval.release.evidence;
# docs/method.md says why each threshold). Tests are two-sided at this level, with this power for
# the minimum detectable effect.
EVIDENCE_ALPHA = 0.05
# The relative-magnitudes breakdown value (tf_eval.method.honest_bounds) is searched for only with
# at most this many quarters after the index date: 4 (a 12-month follow-up) take about 0.3 s per
# outcome, 8 (24 months) about 16 s, as its exact test enumerates C(2T, T) vertices per point.
BOUNDS_MAX_POST_QUARTERS = 4
# The event study (tf_eval.method.event_study) reads the records of at most about this many of
# the selection's families, drawn before matching, and uses the matched ones among them: a fixed
# sample beyond it (its `sample` says why; docs/performance.md measures what it saves).
EVENT_STUDY_MAX_FAMILIES = 200_000
EVIDENCE_POWER = 0.8
# The verdict's thresholds: the largest |SMD| after matching for "strong", and above which the
# outcome model must extrapolate ("weak"; Rubin 2001, Stuart 2010) ...
SMD_GOOD = 0.1
SMD_POOR = 0.25
# ... the share of supported families matched below which the estimate describes a different
# group ("weak"; above 1 - UNMATCHED_WARNING_SHARE it is "strong") ...
MATCHED_SHARE_POOR = 0.8
# ... and the E-value of the interval's limit nearer no effect (and Rosenbaum's Gamma, where there
# are pairs) below which a modest hidden difference could explain the finding away ("moderate":
# they say how much bias it would take, not that there is any).
E_VALUE_MODERATE = 1.25
GAMMA_MODERATE = 1.2

# The synthetic demo store. 20,000 families give every LA x cohort cell at least 50 treated and
# 50 comparison families (the differencing floor, docs/disclosure-control.md) and build in seconds.
DEMO_FAMILIES = 20_000
DEMO_SEED = 2014
# Families generated per batch: bounds memory at national scale (400,000 families) and paces the
# progress bar. Part of the generator's definition: changing it changes the data for a seed.
DEMO_BATCH_FAMILIES = 10_000
# DuckDB's memory while a demo store is built. Unlimited it takes up to 80% of the machine's
# memory: the 2-million-family build peaked at 21.3 GB and, beside other work, was killed. Capped
# here it spills to disk instead (that build: 12.9 GB at its peak, in 1,118 s).
DEMO_BUILD_MEMORY_LIMIT = "8GB"

# Disclosure-control defaults (docs/disclosure-control.md). tf_eval.governance.rules.Rules holds
# the rules in force; a deployment overrides them in one TOML file ([disclosure] table): the file
# named by TF_EVAL_DISCLOSURE_CONFIG, else disclosure.toml in the project (missing = these
# defaults).
DISCLOSURE_CONFIG_ENV_VAR = "TF_EVAL_DISCLOSURE_CONFIG"
DEFAULT_DISCLOSURE_CONFIG = PROJECT_ROOT / "disclosure.toml"
COUNT_THRESHOLD = 10  # counts of 1-9 are suppressed ...
COUNT_ROUNDING = 5  # ... and every other count rounded to the nearest 5
PERTURBATION_MAX = 3  # counts of 10+ get consistent noise of at most +-3 (cell key) before rounding
SUM_PERTURBATION = 1.0  # a mean's sum: noise of at most this many times its largest contribution
SUPPRESSED_MARK = "c"
PROPORTION_MIN = 10  # a 0/1 rate needs this many people with and without the outcome
DOMINANCE_N = 2  # a magnitude is suppressed when its 2 largest contributors ...
DOMINANCE_K = 0.9  # ... make up 90% or more of the total,
P_RATIO = 0.1  # or the rest sums to under 10% of the largest contributor
ESTIMATE_MIN_FAMILIES = 10  # an estimate needs this many families in each group compared
ESTIMATE_MIN_DF = 10  # and this many residual degrees of freedom
SELECTION_MIN_FAMILIES = 50  # a selection needs this many supported and comparison families
# When a caliper or exact keys leave more than this share of supported families unmatched, every
# surface says that the estimates describe the matched families only (tf_eval.release.results).
UNMATCHED_WARNING_SHARE = 0.05
HISTOGRAM_MIN_BIN = 10  # bins below this are merged or suppressed
# Differencing between outputs (tf_eval.release.register): an output whose families differ from
# an earlier released output's by 1 to this many less one is refused.
DIFFERENCING_MIN_FAMILIES = COUNT_THRESHOLD
SIGNIFICANT_FIGURES = 3  # estimates, means and balance are released to this many figures
# The headline estimates' correlation across outcomes is released to this many decimals
# (tf_eval.release.disclosure.correlation_table): ample for drawing them jointly.
CORRELATION_DECIMALS = 2

# The audit trail: an append-only DuckDB file beside the store (`<store>.audit.duckdb`), so that
# a purge or a demo rebuild never touches it and a refused load leaves the store's bytes alone.
AUDIT_SUFFIX = ".audit.duckdb"
# One process at a time may write it: an append waits this long for others before it gives up
# (and the output it would record is not released; a sign-in is refused).
AUDIT_WAIT_SECONDS = 30.0
# Evaluators' saved analysis specs: likewise a small DuckDB file beside the store.
SPECS_SUFFIX = ".specs.duckdb"
# The release register: which families each released output rests on (tf_eval.release.register),
# an owner-only DuckDB file beside the store, encrypted with the store's key when it is.
REGISTER_SUFFIX = ".register.duckdb"
# The privacy notice's retention period: linked records are destroyed after this many years,
# counted per family from the later of its index date and its newest load (tf_eval.data.retention).
RETENTION_YEARS = 7

# Loading agency extracts (tf_eval.data.ingest). Every source identifier is replaced at the door by
# HMAC-SHA256 under a secret key that never enters the store: the key itself in
# TF_EVAL_PSEUDO_KEY, else a key file (TF_EVAL_PSEUDO_KEY_FILE, else the default below), created
# with owner-only permissions on first use. Keep the file outside the store's folder and back it
# up: without the same key, later extracts cannot be linked to the records already loaded.
PSEUDO_KEY_ENV_VAR = "TF_EVAL_PSEUDO_KEY"
PSEUDO_KEY_FILE_ENV_VAR = "TF_EVAL_PSEUDO_KEY_FILE"
DEFAULT_PSEUDO_KEY_FILE = Path.home() / ".config" / "tf-eval" / "pseudonym.key"
PSEUDO_KEY_MIN_CHARS = 32  # a key given in the environment; a new key file holds 64 hex digits
# References must resolve: a person's family and a programme row's family always. For outcome
# sources a steward may accept a small share of records naming a person the store does not know
# (TF_EVAL_MAX_UNLINKED_SHARE, 0-0.5); those records are dropped, counted and recorded per load.
MAX_UNLINKED_SHARE_ENV_VAR = "TF_EVAL_MAX_UNLINKED_SHARE"
MAX_UNLINKED_SHARE = 0.0
EARLIEST_RECORD_DATE = date(1900, 1, 1)  # no date in an extract may be earlier (or in the future)
INGEST_PROBLEMS_SHOWN = 20  # a refused file lists this many problems, then "and N more"
# The largest file one load (`ingest`, the Load data page) or `match-file` takes, checked before
# it is read into memory: its bytes (for Parquet also its uncompressed data) and its rows (a
# Parquet file's own count; a CSV's lines, counted without parsing). A load holds about 300 bytes
# of memory per row, so 5 million rows need about 1.5 GB; a larger extract is split into several
# files (or the limits raised on a server with the memory). The dashboard's upload limit,
# server.maxUploadSize in .streamlit/config.toml, is the same 512 MB.
EXTRACT_MAX_BYTES = 512 * 1024 * 1024
EXTRACT_MAX_ROWS = 5_000_000

# Access (tf_eval.governance.access): local accounts and roles in one owner-only JSON file outside
# the store (TF_EVAL_ACCOUNTS, else the default below), managed by `python -m tf_eval users`.
# Passwords are kept as argon2id hashes. Failed sign-ins are slowed: each failure waits before
# answering, and a name with this many failures within the lockout window is refused until the
# window passes.
ACCOUNTS_FILE_ENV_VAR = "TF_EVAL_ACCOUNTS"
DEFAULT_ACCOUNTS_FILE = Path.home() / ".config" / "tf-eval" / "accounts.json"
PASSWORD_MIN_CHARS = 12
# Passwords and keys must also be hard to guess: tf_eval.governance.strength estimates the bits of
# a guess ('aaaaaaaaaaaa' about 8, a random 12-letter password 56, `openssl rand -hex 32` 290).
PASSWORD_MIN_BITS = 40
KEY_MIN_BITS = 128
SIGN_IN_FAILURE_DELAY_SECONDS = 1.0
SIGN_IN_MAX_FAILURES = 5
# ... and a client (the address the server sees) with this many failures, over any names, likewise
# (password spraying: one guess at each of many names).
SIGN_IN_MAX_CLIENT_FAILURES = 20
SIGN_IN_LOCKOUT_SECONDS = 15 * 60

# The board pack (tf_eval.release.report). Charts are drawn to PNG and SVG by plotly.js in a
# headless Chromium (kaleido): the browser named by BROWSER_PATH (kaleido's own setting), else the
# first of these names on PATH. Debian: `apt-get install chromium`.
BROWSER_ENV_VAR = "BROWSER_PATH"
BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
BROWSER_INSTALL_HINT = "apt-get install chromium"
PACK_CHART_WIDTH = 1000  # CSS pixels: every chart in the pack is drawn this wide ...
PACK_PNG_SCALE = 2  # ... and its PNG at twice that, for print and slides

# Value for money (tf_eval.method.unit_costs, tf_eval.method.value_model, docs/method.md). The unit
# costs: `vfm --costs FILE` or the dashboard's upload, else this file, whose figures are
# illustrative. No programme cost per family is assumed: the user always gives it.
DEFAULT_UNIT_COSTS = PROJECT_ROOT / "unit_costs.toml"
UNIT_COSTS_MAX_BYTES = 64 * 1024  # a costs file is a few dozen lines
# The Green Book's discount rate for the first 30 years, and the longest persistence offered.
DISCOUNT_RATE = 0.035
VFM_MAX_YEARS = 30
# By default an effect lasts the one year measured, undecayed: nothing assumed beyond the data.
VFM_YEARS = 1
VFM_DECAY = 0.0
# Draws from the estimates' sampling distribution behind every interval, with a fixed seed so the
# page, the command line and the board pack give the same figures for the same estimates.
VFM_DRAWS = 10_000
VFM_SEED = 20_190_228
# School attendance is costed per day of school missed: a school year has 190 days (380 sessions),
# so one percentage point of sessions attended is 1.9 days a year.
SCHOOL_DAYS_PER_YEAR = 190
# The one-way sensitivity chart: each unit cost and the programme cost moved by this share either
# way, and persistence from one year to this many.
VFM_SENSITIVITY_SHARE = 0.25
VFM_SENSITIVITY_YEARS = 5

"""Benchmark: tf-eval's propensity matching side by side with causalml, psmpy and dowhy, on the
same data, each run in its own guarded process.

    .venv/bin/python benchmarks/bench_peers.py
    .venv/bin/python benchmarks/bench_peers.py --treated 10000 --timeout 900 --memory-cap 12

The peers live only in their own venv, `.venv-peers` at the repo root, which this script creates
when it is missing (python -m venv + pip install -r benchmarks/requirements-peers.txt; delete the
folder to rebuild it). tf-eval runs in the interpreter that runs this script.

Data, one dataset per size, written once to a temporary .npz that every run reads: `n` treated
families and 4n comparison families, one row each (each family is its own cluster), with 12
covariates shaped like tf-eval's panel: household size (1 + Poisson(2.2)), lone parent, workless
household and domestic abuse flags, the pre-window outcome levels (school attendance %,
Normal(88, 8) clipped to 30-100; exclusions, offences and anti-social behaviour incidents,
Poisson; months on benefits, Binomial(12, .)) and dummies for 3 of 4 local authorities.
Treatment follows a logistic model in those covariates (`treatment_logit`: families with more
needs are more often treated); a population is drawn and its first n treated and first 4n
comparison rows are kept (a case-control sample, so the logistic model still holds, with another
intercept). The outcome is post-window attendance: `untreated_outcome` (0.85 x pre-window
attendance minus needs-related terms) plus, for the treated, a planted effect that grows with
household size and exclusions (`planted_effect`), plus Normal(0, 6) noise. The planted truth is
the mean effect over the treated rows; the naive treated-minus-comparison difference is biased
(down) by the confounding, and correct matching lands near the truth. Seeded: the same data on
every run.

Each (tool, size, mode) runs in its own subprocess started the same way (this file, `--worker`),
with the same environment (PYTHONHASHSEED=0; no thread variable set: tf-eval runs its BLAS on
one thread, its own setting in tf_eval/__init__.py, the peers on their libraries' defaults). The
worker imports its library, loads the data into one pandas DataFrame, then times propensity fit
+ 1:1 nearest-neighbour matching on the score + the ATT (mean treated-minus-matched difference):

* tf-eval: PropensityModel (unpenalised logistic regression), NearestNeighbourMatcher(ratio=1,
  replace=...) without caliper, weighted_difference (with a family-clustered standard error).
* causalml: scikit-learn's unpenalised LogisticRegression with the Newton-Cholesky solver, the
  fit tf-eval uses too (causalml's own propensity models are a cross-validated elastic net with
  isotonic calibration, a different model), so the two differ in matching only; then
  NearestNeighborMatch(ratio=1, replace=..., caliper=inf: its default 0.2 SD caliper would drop
  treated units the others keep); it matches treated units in a random order (shuffle=True).
* psmpy: PsmPy(...).logistic_ps(balance=False) (one liblinear logistic regression on all rows;
  balance=True averages fits on balanced folds) and kdtree_matched(matcher='propensity_logit',
  replacement=...) (psmpy 0.3.16's name for knn_matched).
* dowhy: CausalModel(...).estimate_effect(method_name="backdoor.propensity_score_matching",
  target_units="att"), which fits its own LogisticRegression and matches with replacement only.

The parent polls each worker's resident memory (VmRSS of it and its children) every 0.2 s and kills
it above `--memory-cap`; the worker also runs under RLIMIT_DATA of 1.5 x the cap, a backstop that
makes a runaway allocation fail with MemoryError. A worker still running `--timeout` seconds after
its data were loaded is killed. A run under a minute is repeated, each time in a new process, and
the fastest of `--repeats` kept. Prints a Markdown table for docs/performance.md (ratios are peer
seconds / tf-eval seconds, same size and mode). Not a test: timings depend on the machine.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import json
import os
import platform
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
PEERS_VENV = ROOT / ".venv-peers"
PEERS_REQUIREMENTS = ROOT / "benchmarks" / "requirements-peers.txt"
CONTROLS_PER_TREATED = 4
POLL_SECONDS = 0.2
REPEAT_UNDER = 60  # seconds: only runs faster than this are repeated (--repeats)
DATA_LIMIT_FACTOR = 1.5  # RLIMIT_DATA backstop, as a multiple of the memory cap
GIB = 2**30
# Every worker gets this environment. A fixed hash seed makes runs repeatable: dowhy takes its
# backdoor covariates in set (hash) order, and its logistic fit, stopped at 100 lbfgs iterations
# on unscaled covariates, then ends elsewhere for each order (ATT 2.9-3.5 at 1,000 treated).
WORKER_ENVIRONMENT = {**os.environ, "PYTHONHASHSEED": "0"}
COVARIATES = [
    "household_size",
    "lone_parent",
    "workless",
    "domestic_abuse",
    "pre_attendance",
    "pre_exclusions",
    "pre_offences",
    "pre_asb_incidents",
    "pre_benefit_months",
    "la_2",
    "la_3",
    "la_4",
]
# Modes are "without" and "with" (replacement); each tool lists the modes it supports.
TOOLS = {
    "tf-eval": ("without", "with"),
    "causalml": ("without", "with"),
    "psmpy": ("without", "with"),
    "dowhy": ("with",),
}
# What each worker imports before its clock starts, and the package whose version is reported.
IMPORTS = {
    "tf-eval": ["tf_eval.method.propensity", "tf_eval.method.matching", "tf_eval.method.estimate"],
    "causalml": ["causalml.match", "sklearn.linear_model"],
    "psmpy": ["psmpy"],
    "dowhy": ["dowhy"],
}
LIBRARIES = ["numpy", "pandas", "scikit-learn", "scipy", "statsmodels"]


def make_data(n_treated: int, seed: int) -> dict[str, np.ndarray]:
    """One family-level dataset: covariates, treatment, outcome and the planted ATT (docstring)."""
    rng = np.random.default_rng([seed, n_treated])
    n_control = CONTROLS_PER_TREATED * n_treated
    treated_parts, control_parts, have = [], [], np.zeros(2, dtype=int)
    while have[0] < n_treated or have[1] < n_control:
        block = _population(rng, 6 * n_treated)
        treated_parts.append(block[block[:, -1] == 1])
        control_parts.append(block[block[:, -1] == 0])
        have += [len(treated_parts[-1]), len(control_parts[-1])]
    rows = np.concatenate(
        [np.concatenate(treated_parts)[:n_treated], np.concatenate(control_parts)[:n_control]]
    )
    rows = rows[rng.permutation(len(rows))]
    x, treated = rows[:, : len(COVARIATES)], rows[:, -1] == 1
    effect = planted_effect(x)
    outcome = untreated_outcome(x) + effect * treated + rng.normal(0, 6, len(rows))
    return {
        "covariates": x,
        "treated": treated,
        "outcome": outcome,
        "truth": np.float64(effect[treated].mean()),
        "naive": np.float64(outcome[treated].mean() - outcome[~treated].mean()),
    }


def _population(rng: np.random.Generator, size: int) -> np.ndarray:
    """Covariates (COVARIATES order) and, last, a treatment flag drawn from treatment_logit."""
    lone_parent = rng.random(size) < 0.3
    workless = rng.random(size) < 0.25 + 0.2 * lone_parent
    la = rng.integers(1, 5, size)
    x = np.column_stack(
        [
            1 + rng.poisson(2.2, size),
            lone_parent,
            workless,
            rng.random(size) < 0.12,
            np.clip(rng.normal(88, 8, size), 30, 100),
            rng.poisson(0.3, size),
            rng.poisson(0.25, size),
            rng.poisson(0.4, size),
            rng.binomial(12, 0.2 + 0.5 * workless),
            la == 2,
            la == 3,
            la == 4,
        ]
    ).astype(float)
    treated = rng.random(size) < 1 / (1 + np.exp(-treatment_logit(x)))
    return np.column_stack([x, treated])


def _columns(x: np.ndarray) -> dict[str, np.ndarray]:
    return dict(zip(COVARIATES, x.T, strict=True))


def treatment_logit(x: np.ndarray) -> np.ndarray:
    c = _columns(x)
    return (
        -2.1
        + 0.25 * (c["household_size"] - 3)
        + 0.4 * c["lone_parent"]
        + 0.5 * c["workless"]
        + 0.6 * c["domestic_abuse"]
        - 0.05 * (c["pre_attendance"] - 88)
        + 0.4 * c["pre_exclusions"]
        + 0.4 * c["pre_offences"]
        + 0.2 * c["pre_asb_incidents"]
        + 0.05 * (c["pre_benefit_months"] - 4)
        + 0.2 * c["la_2"]
        - 0.2 * c["la_3"]
        + 0.1 * c["la_4"]
    )


def untreated_outcome(x: np.ndarray) -> np.ndarray:
    """Post-window school attendance (%) without the programme."""
    c = _columns(x)
    return (
        10
        + 0.85 * c["pre_attendance"]
        - 2.0 * c["pre_exclusions"]
        - 1.5 * c["workless"]
        - 0.5 * (c["household_size"] - 3)
        - 1.0 * c["domestic_abuse"]
        - 0.8 * c["pre_offences"]
        - 0.1 * c["pre_benefit_months"]
        + 1.0 * c["la_2"]
        - 1.0 * c["la_3"]
    )


def planted_effect(x: np.ndarray) -> np.ndarray:
    """The programme's effect on each family's attendance, in percentage points."""
    c = _columns(x)
    return 3 + 0.5 * (c["household_size"] - 3) + 1.0 * c["pre_exclusions"]


# ---- Workers: one tool, one mode, one dataset; run in the tool's own venv. ----


def run_tf_eval(frame, replace: bool) -> dict:
    """tf-eval's own pipeline, as tf_eval.method.estimate runs it (ATT with its clustered SE)."""
    from tf_eval.method.estimate import weighted_difference
    from tf_eval.method.matching import NearestNeighbourMatcher
    from tf_eval.method.propensity import PropensityModel

    started = time.perf_counter()
    score = PropensityModel().fit(frame[COVARIATES], frame["treated"]).predict(frame[COVARIATES])
    fitted = time.perf_counter()
    treated = frame["treated"].to_numpy() == 1
    matcher = NearestNeighbourMatcher(ratio=1, replace=replace).fit(score, treated)
    families = np.arange(len(frame))  # each unit is its own family (cluster)
    estimate = weighted_difference(
        "outcome", frame["outcome"].to_numpy(), treated, matcher.weights_, families
    )
    return {
        "fit_seconds": fitted - started,
        "matched": int((matcher.match_matrix_ >= 0).any(axis=1).sum()),
        "att": estimate.att,
    }


def run_causalml(frame, replace: bool) -> dict:
    """causalml's matcher on tf-eval's kind of fit, so the two differ in matching only."""
    from causalml.match import NearestNeighborMatch
    from sklearn.linear_model import LogisticRegression

    started = time.perf_counter()
    model = LogisticRegression(C=np.inf, solver="newton-cholesky", max_iter=1000)
    model.fit(frame[COVARIATES], frame["treated"])
    frame["score"] = model.predict_proba(frame[COVARIATES])[:, 1]
    fitted = time.perf_counter()
    matcher = NearestNeighborMatch(caliper=np.inf, replace=replace, ratio=1, random_state=2024)
    matcher.match(data=frame, treatment_col="treated", score_cols=["score"])
    pairs = matcher.matched_indexes_  # (from = treated, to = control) row labels
    outcome = frame["outcome"].to_numpy()
    return {
        "fit_seconds": fitted - started,
        "matched": int(pairs["from"].nunique()),
        "att": float(
            outcome[pairs["from"].to_numpy(int)].mean() - outcome[pairs["to"].to_numpy(int)].mean()
        ),
    }


def run_psmpy(frame, replace: bool) -> dict:
    """psmpy's documented two calls; the ATT from its table of matched ids."""
    from psmpy import PsmPy

    started = time.perf_counter()
    psm = PsmPy(frame, treatment="treated", indx="id", exclude=["outcome"])
    psm.logistic_ps(balance=False)
    fitted = time.perf_counter()
    psm.kdtree_matched(matcher="propensity_logit", replacement=replace, caliper=None)
    pairs = psm.matched_ids  # id of each matched treated unit and of its match
    outcome = frame["outcome"].to_numpy()
    return {
        "fit_seconds": fitted - started,
        "matched": len(pairs),
        "att": float(
            (outcome[pairs["id"].to_numpy(int)] - outcome[pairs["matched_ID"].to_numpy(int)]).mean()
        ),
    }


def run_dowhy(frame, replace: bool) -> dict:
    """dowhy's propensity-score matching for the ATT (always with replacement: `replace` is
    accepted for a common signature)."""
    from dowhy import CausalModel

    model = CausalModel(
        data=frame, treatment="treated", outcome="outcome", common_causes=COVARIATES
    )
    estimand = model.identify_effect(proceed_when_unidentifiable=True)
    estimate = model.estimate_effect(
        estimand, method_name="backdoor.propensity_score_matching", target_units="att"
    )
    # Every treated unit is matched: dowhy's matching has no caliper.
    return {"fit_seconds": None, "matched": int(frame["treated"].sum()), "att": estimate.value}


RUNNERS = {"tf-eval": run_tf_eval, "causalml": run_causalml, "psmpy": run_psmpy, "dowhy": run_dowhy}


def worker(tool: str, replace: bool, data_path: Path, result_path: Path) -> None:
    """Import the tool, load the data, mark the start (a `.loaded` file), time the run and write
    the result as JSON."""
    import pandas as pd

    sys.path.insert(0, str(ROOT))
    for module in IMPORTS[tool]:
        importlib.import_module(module)
    with np.load(data_path) as data:
        frame = pd.DataFrame(data["covariates"], columns=COVARIATES)
        frame["treated"] = data["treated"].astype(int)
        frame["outcome"] = data["outcome"]
    frame["id"] = np.arange(len(frame))
    Path(f"{result_path}.loaded").touch()
    started = time.perf_counter()
    result = RUNNERS[tool](frame, replace)
    result["seconds"] = time.perf_counter() - started
    result["max_rss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    result_path.write_text(json.dumps(result))


def versions() -> dict[str, str]:
    """Versions of the shared libraries and of whichever tools this interpreter has."""
    found = {}
    for name in [*LIBRARIES, "causalml", "psmpy", "dowhy"]:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return found


# ---- Parent: data, venv, guarded runs, table. ----


def ensure_peers_venv() -> Path:
    """The peers' interpreter, creating .venv-peers first when it is missing."""
    python = PEERS_VENV / "bin" / "python"
    if python.exists():
        return python
    print(f"Creating {PEERS_VENV.name} (pip install -r {PEERS_REQUIREMENTS.name}) ...", flush=True)
    for command in (
        [sys.executable, "-m", "venv", str(PEERS_VENV)],
        [str(python), "-m", "pip", "install", "-q", "-r", str(PEERS_REQUIREMENTS)],
    ):
        if subprocess.run(command).returncode:
            sys.exit(f"error: could not build {PEERS_VENV} ({' '.join(command[:4])} failed)")
    return python


def tree_rss(pid: int) -> int:
    """Resident bytes of a process and all its descendants (0 once it is gone)."""
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            for task in Path(f"/proc/{current}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) * 1024
    return total


def guarded_run(python: Path, tool: str, replace: bool, data_path: Path, work: Path, args) -> dict:
    """Run one worker under the memory cap and timeout; its result, or how it was stopped."""
    result_path = work / f"{tool}-{'with' if replace else 'without'}-{data_path.stem}.json"
    loaded = Path(f"{result_path}.loaded")
    for stale in (result_path, loaded):  # left by an earlier repeat
        stale.unlink(missing_ok=True)
    cap = int(args.memory_cap * GIB)
    data_limit = int(DATA_LIMIT_FACTOR * cap)

    def limit_data() -> None:
        resource.setrlimit(resource.RLIMIT_DATA, (data_limit, data_limit))

    command = [str(python), __file__, "--worker", tool, "--data", str(data_path)]
    command += ["--result", str(result_path)] + (["--replace"] if replace else [])
    with open(f"{result_path}.err", "w+") as errors:
        child = subprocess.Popen(
            command,
            stdout=subprocess.DEVNULL,
            stderr=errors,
            env=WORKER_ENVIRONMENT,
            preexec_fn=limit_data,
            start_new_session=True,  # its own process group, so a kill takes its children too
        )
        spawned = time.perf_counter()
        start, peak, stopped = None, 0, None
        while True:
            pid, status, usage = os.wait4(child.pid, os.WNOHANG)
            if pid:
                child.returncode = os.waitstatus_to_exitcode(status)
                peak = max(peak, usage.ru_maxrss * 1024)
                break
            now = time.perf_counter()
            if start is None and loaded.exists():
                start = now
            rss = tree_rss(child.pid)
            peak = max(peak, rss)
            if rss > cap:
                stopped = (
                    f"stopped at {args.memory_cap:g} GiB after {now - (start or spawned):.0f} s"
                )
            elif now - (start or spawned) > args.timeout:
                stopped = f"> {args.timeout:g} s"
            if stopped:
                os.killpg(child.pid, signal.SIGKILL)
            else:
                time.sleep(POLL_SECONDS)
        errors.seek(0)
        last_error = (errors.read().strip().splitlines() or ["no message"])[-1]
    elapsed = time.perf_counter() - (start or spawned)
    if stopped:
        return {"stopped": stopped, "seconds": elapsed, "peak": peak}
    if child.returncode or not result_path.exists():
        if "MemoryError" in last_error:  # the RLIMIT_DATA backstop refused an allocation
            why = last_error.split(": ", 1)[-1].split(" for an array")[0]
            stopped = f"out of memory after {elapsed:.0f} s ({why})"
        else:
            stopped = f"failed after {elapsed:.0f} s ({last_error[:100]})"
        return {"stopped": stopped, "seconds": elapsed, "peak": peak}
    result = json.loads(result_path.read_text())
    result["peak"] = max(peak, result.pop("max_rss"))
    return result


def best_run(repeats: int, *run_args) -> dict:
    """The fastest of up to `repeats` guarded runs (the others measure the machine's other work);
    a run that was stopped or took over REPEAT_UNDER seconds is not repeated."""
    best = None
    for _ in range(repeats):
        run = guarded_run(*run_args)
        if best is None or ("stopped" not in run and run["seconds"] < best["seconds"]):
            best = run
        if "stopped" in run or run["seconds"] > REPEAT_UNDER:
            break
    return best


def table_row(n: int, mode: str, tool: str, run: dict, base: dict | None, truth: float) -> str:
    seconds = run["seconds"]
    if "stopped" in run:
        time_cell, att, matched, fit = run["stopped"], "—", "—", "—"
        bound = "> " if run["stopped"].startswith(("stopped", ">")) else ""
    else:
        time_cell, bound = f"{seconds:.2f} s", ""
        att, matched = f"{run['att']:.2f}", f"{run['matched']:,}"
        fit = "—" if run["fit_seconds"] is None else f"{run['fit_seconds']:.2f} s"
    if tool == "tf-eval":
        ratio = "1×"
    elif base is None or "stopped" in base or ("stopped" in run and not bound):
        ratio = "—"
    else:
        times = seconds / base["seconds"]
        ratio = f"{bound}{times:,.{1 if times < 10 else 0}f}×"
    return (
        f"| {n:,} | 1:1 {mode} replacement | {tool} | {time_cell} | {ratio} | {fit} | "
        f"{run['peak'] / GIB:.2f} GiB | {matched} | {att} | {truth:.2f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--treated", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--timeout", type=float, default=900, help="seconds per run")
    parser.add_argument("--memory-cap", type=float, default=12, help="GiB per run")
    parser.add_argument("--tools", nargs="+", choices=list(TOOLS), default=list(TOOLS))
    parser.add_argument(
        "--repeats", type=int, default=3, help=f"best of, for runs under {REPEAT_UNDER} s"
    )
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--worker", choices=list(TOOLS), help=argparse.SUPPRESS)
    parser.add_argument("--replace", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--versions", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.replace, args.data, args.result)
        return
    if args.versions:
        print(json.dumps(versions()))
        return
    if min(args.treated) < 10 or args.timeout <= 0 or args.memory_cap <= 0 or args.repeats < 1:
        parser.error("--treated must be >= 10, --repeats >= 1, --timeout and --memory-cap > 0")

    peers = [tool for tool in args.tools if tool != "tf-eval"]
    interpreter = {"tf-eval": Path(sys.executable)}
    if peers:
        interpreter.update(dict.fromkeys(peers, ensure_peers_venv()))
    found = {"tf-eval": _versions_in(sys.executable)}
    if peers:
        found["peers"] = _versions_in(interpreter[peers[0]])
    print(
        f"Machine: {os.cpu_count()} cores, {platform.machine()}, Python "
        f"{platform.python_version()}, load average at start "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}; thread settings: "
        f"{_thread_settings()}"
    )
    for name, libs in found.items():
        print(f"{name} venv: " + ", ".join(f"{k} {v}" for k, v in libs.items()))
    print(
        f"Guards: {args.timeout:g} s per run from data loaded, {args.memory_cap:g} GiB resident "
        f"(RLIMIT_DATA {DATA_LIMIT_FACTOR * args.memory_cap:g} GiB); best of {args.repeats} "
        f"for runs under {REPEAT_UNDER} s\n"
    )

    rows, notes = [], []
    with tempfile.TemporaryDirectory(prefix="bench-peers-") as tmp:
        work = Path(tmp)
        for n in args.treated:
            data = make_data(n, args.seed)
            data_path = work / f"data-{n}.npz"
            np.savez(data_path, **data)
            truth = float(data["truth"])
            notes.append(
                f"{n:,} treated: planted ATT {truth:.2f}, naive difference {data['naive']:.2f}"
            )
            for mode in ("without", "with"):
                base = None
                for tool in args.tools:
                    if mode not in TOOLS[tool]:
                        continue
                    run = best_run(
                        args.repeats, interpreter[tool], tool, mode == "with", data_path, work, args
                    )
                    if tool == "tf-eval":
                        base = run
                    rows.append(table_row(n, mode, tool, run, base, truth))
                    print(rows[-1], file=sys.stderr, flush=True)
    print(
        "| treated | matching | tool | time | vs tf-eval | of which propensity fit | "
        "peak memory | treated matched | ATT | planted ATT |"
    )
    print("|---:|---|---|---:|---:|---:|---:|---:|---:|---:|")
    print("\n".join(rows))
    print()
    print("\n".join(notes))
    print("dowhy matches with replacement only; tf-eval, causalml and psmpy do both.")


def _versions_in(python: Path | str) -> dict[str, str]:
    command = [str(python), __file__, "--versions"]
    return json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout)


def _thread_settings() -> str:
    names = ["OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_CORETYPE"]
    given = [f"{name}={os.environ[name]}" for name in names if name in os.environ]
    if given:
        return ", ".join(given)
    return "none of OMP/OPENBLAS/MKL set (tf-eval: 1 BLAS thread, its own; peers: defaults)"


if __name__ == "__main__":
    main()

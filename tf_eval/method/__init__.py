"""Method, the evaluation engine: from the store's records to matched comparisons and effects.

- `panel`: who is compared, from which index date, and each person's outcomes in the placebo,
  pre and follow-up windows.
- `propensity`, `matching`, `balance`: the propensity model, nearest-neighbour matching with
  MatchIt's semantics, and covariate balance before and after.
- `regression`, `estimate`: the family-clustered regression and the effects (matched
  difference-in-differences, the naive change, the placebo); `evaluate` runs it all.
- `matchfile`: the same engine on a flat analysis file.
- `specs`: analyses an evaluator saves by name (settings only).
- `unit_costs`, `value_model`: value for money's unit costs and model, from numbers only.

Imports: `tf_eval.config`, `tf_eval.governance` and `tf_eval.data`. Its results are raw (exact
counts, per-family weights): they reach a person only through `tf_eval.release`.
"""

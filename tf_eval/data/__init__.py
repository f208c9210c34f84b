"""Data, the first stage of the flow: agency extracts in, a pseudonymised DuckDB store out, and
records destroyed when their retention ends.

- `contracts`, `extracts`: what each agency extract must hold, and reading one with its checks.
- `pseudonymise`: keyed hashes in place of source identifiers.
- `ingest`: an all-or-nothing load of one extract into the store, and linkage counts.
- `store`: the schema, where the store lives, and every connection to it.
- `outcomes`: the outcome definitions (who counts, what is measured, which way is good).
- `synth`: the synthetic demo store with planted, known effects.
- `retention`: the seven-year rule and the purge that applies it.

Imports: `tf_eval.config` and `tf_eval.governance`. Nothing here shows or exports a figure: exact
counts leave this stage only through `tf_eval.release`.
"""

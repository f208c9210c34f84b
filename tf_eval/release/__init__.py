"""Release, the last stage: the disclosure-control gate and everything built from what passes it.

- `disclosure`: the gate. Raw aggregates in, safe objects out; nothing else can make one.
- `results`: an evaluation's safe results, and the JSON of the command line.
- `overview`, `trends`, `provenance`: the dashboard's summaries, monthly outcomes, and where the
  data came from and when it expires, as safe tables.
- `headlines`, `charts`: findings in words, and charts drawn from safe objects only.
- `report`: the board pack (PDF, charts, tables and manifest) from safe objects only.
- `value`, `value_charts`: value for money from gated estimates only, and its charts.

Imports: any lower stage (`tf_eval.config`, `governance`, `data`, `method`). Pages, the command
line and the board pack take only what this stage returns.
"""

"""Running an evaluation's independent computations on a few threads (numpy's and scipy's linear
algebra and DuckDB release the GIL), so that neither thread waits while the other has work and
memory stays bounded."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tf_eval import config


def run_shared(
    tasks: list[tuple[str, Callable[[], Any]]], first: tuple[str, ...], heavy: tuple[str, ...]
) -> list[Any]:
    """Each task's result, in the order given. config.ESTIMATE_THREADS threads take the tasks,
    the kinds in `first` before the rest (in that order), each thread the next one it may start
    as soon as it is free, so neither waits while the other has work; no two tasks of the
    kinds in `heavy` run at once. The first error stops both threads and is raised."""
    rank = {kind: i for i, kind in enumerate(first)}
    pending = sorted(range(len(tasks)), key=lambda i: (rank.get(tasks[i][0], len(first)), i))
    results: dict[int, Any] = {}
    state = {"heavy": False, "failed": False}
    turn = threading.Condition()

    def take() -> int | None:
        with turn:
            while pending and not state["failed"]:
                for i in pending:
                    if not (state["heavy"] and tasks[i][0] in heavy):
                        pending.remove(i)
                        state["heavy"] |= tasks[i][0] in heavy
                        return i
                turn.wait()
            return None

    def work() -> None:
        while (i := take()) is not None:
            try:
                results[i] = tasks[i][1]()
            except BaseException:
                state["failed"] = True
                raise
            finally:
                with turn:
                    state["heavy"] &= tasks[i][0] not in heavy
                    turn.notify_all()

    threads = max(1, min(config.ESTIMATE_THREADS, 2))
    with ThreadPoolExecutor(threads) as pool:
        for running in [pool.submit(work) for _ in range(threads)]:
            running.result()
    return [results[i] for i in range(len(tasks))]

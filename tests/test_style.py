"""House style: the code is ruff-formatted and passes ruff's checks (settings in pyproject.toml)."""

import subprocess
import sys

from tf_eval import config


def _ruff(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ruff", *args, "."],
        capture_output=True,
        text=True,
        cwd=config.PROJECT_ROOT,
    )


def test_code_passes_ruff_check() -> None:
    result = _ruff("check", "--output-format", "concise")
    assert result.returncode == 0, result.stdout + result.stderr


def test_code_is_ruff_formatted() -> None:
    result = _ruff("format", "--check")
    assert result.returncode == 0, result.stdout + result.stderr

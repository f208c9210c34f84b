"""House style: the code is ruff-formatted and passes ruff's checks (settings in pyproject.toml),
and no module of the product is longer than one idea needs."""

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


# One module per idea: past this many lines a module holds more than one (docs/development.md).
MAX_MODULE_LINES = 650


def test_no_module_of_the_product_is_over_the_limit() -> None:
    root = config.PROJECT_ROOT
    product = [root / "app.py", *root.glob("tf_eval/**/*.py"), *root.glob("dashboard/*.py")]
    product += root.glob("views/*.py")
    long = {
        str(path.relative_to(root)): n
        for path in product
        if (n := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert not long, long

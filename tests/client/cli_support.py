"""Running ``cairn`` commands in tests: the invoker's type and reading ``--json`` output."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from click.testing import CliRunner, Result

from cairn.client.cli import cli
from cairn.client.cli._context import CliState

Run = Callable[..., Result]


def as_json(result: Result) -> Any:
    return json.loads(result.stdout)


def invoker(state: Callable[[], CliState], *options: str) -> Run:
    """Invoke ``cairn OPTIONS ARGS`` on the in-process app; fails the test on an unexpected
    exit code or a traceback."""

    def invoke(*args: str, code: int = 0, input: str | None = None) -> Result:
        result = CliRunner().invoke(cli, [*options, *args], obj=state(), input=input)
        assert result.exit_code == code, (result.stdout, result.stderr, result.exception)
        assert "Traceback" not in result.output
        return result

    return invoke

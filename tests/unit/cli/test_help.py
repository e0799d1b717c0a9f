"""Every command explains itself with examples, and wrong usage is refused before anything is contacted."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from aquaflow_cli.main import app

COMMANDS = [
    [],
    ["upload"],
    ["status"],
    ["batch"],
    ["batch", "start"],
    ["batch", "status"],
    ["batch", "items"],
    ["batch", "list"],
    ["dlq"],
    ["dlq", "list"],
    ["dlq", "show"],
    ["dlq", "replay"],
    ["dlq", "purge"],
    ["results"],
    ["results", "list"],
    ["results", "show"],
    ["results", "crop"],
    ["results", "failures"],
    ["samples"],
    ["samples", "list"],
    ["samples", "show"],
    ["samples", "export"],
    ["samples", "close"],
    ["samples", "push"],
]
GROUPS = [[], ["batch"], ["dlq"], ["results"], ["samples"]]
# Groups and the two top-level commands carry the examples; their subcommands say what they do.
WITH_EXAMPLES = [[], ["upload"], ["status"], ["batch"], ["dlq"], ["results"], ["samples"]]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "aquaflow")
def test_every_command_has_help(command: list[str]) -> None:
    shown = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "200"})
    assert shown.exit_code == 0, shown.output
    assert "Usage: aquaflow" in shown.output
    if command in WITH_EXAMPLES:
        assert "Examples" in shown.output
        assert "aquaflow " + (command[0] if command else "") in shown.output.split("Examples", 1)[1]
    if command not in GROUPS:
        assert "--json" in shown.output, "every command has --json for scripts"


def test_an_address_is_read_as_the_start_of_a_batch() -> None:
    shown = CliRunner().invoke(app, ["batch", "s3://plankton-flowcam/2024/", "--help"])
    assert shown.exit_code == 0
    assert "aquaflow batch start" in shown.output


def test_usage_errors_exit_2_before_anything_is_contacted() -> None:
    runner = CliRunner()
    unreachable = {"AQUAFLOW_CLI_RESULTS_URL": "http://127.0.0.1:9", "AQUAFLOW_CLI_RESULTS_TOKEN": "t" * 20}
    assert runner.invoke(app, ["batch", "start", "plankton/2024"], env=unreachable).exit_code == 2
    assert runner.invoke(app, ["dlq", "purge"], env=unreachable).exit_code == 2
    assert runner.invoke(app, ["dlq", "list", "--older-than", "soon"], env=unreachable).exit_code == 2
    missing_token = runner.invoke(app, ["results", "list"], env=unreachable | {"AQUAFLOW_CLI_RESULTS_TOKEN": ""})
    assert missing_token.exit_code == 2
    assert "no results API token" in missing_token.stderr


def test_a_results_api_that_does_not_answer_exits_4_with_a_reason() -> None:
    shown = CliRunner().invoke(
        app,
        ["results", "list"],
        env={"AQUAFLOW_CLI_RESULTS_URL": "http://127.0.0.1:9", "AQUAFLOW_CLI_RESULTS_TOKEN": "t" * 20},
    )
    assert shown.exit_code == 4
    assert "cannot reach the results API at http://127.0.0.1:9" in shown.stderr

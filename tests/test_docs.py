"""The docs keep up with the code: every CLI command and every setting is documented."""

from pathlib import Path

import typer

from chengzhi.cli.main import app
from chengzhi.config import Settings

DOCS = Path(__file__).resolve().parents[1] / "docs"


def commands(group: typer.Typer, prefix: str = "chengzhi") -> list[str]:
    out = [
        f"{prefix} {c.name or c.callback.__name__.replace('_', '-')}"
        for c in group.registered_commands
    ]
    for sub in group.registered_groups:
        out += commands(sub.typer_instance, f"{prefix} {sub.name}")
    return out


def test_every_cli_command_is_in_the_cli_reference():
    text = (DOCS / "cli.md").read_text("utf-8")
    missing = [c for c in commands(app) if f"`{c}" not in text]
    assert missing == []


def test_every_setting_is_in_the_configuration_reference():
    text = (DOCS / "configuration.md").read_text("utf-8")
    missing = [
        f"CHENGZHI_{name.upper()}"
        for name in Settings.model_fields
        if f"CHENGZHI_{name.upper()}" not in text
    ]
    assert missing == []

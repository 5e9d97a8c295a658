"""The commands as a user runs them, against a database of their own (they commit)."""

import json

from sqlalchemy import text
from typer.testing import CliRunner

from chengzhi import db
from chengzhi.cases import service
from chengzhi.cli.main import app
from chengzhi.clock import SystemClock
from chengzhi.models import Channel, RequestType, Role
from chengzhi.orgs.queries import Actor
from tests.conftest import shared_file

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_init_import_stats_and_check_on_the_real_tianjin_file(cli_env):
    assert run("init").exit_code == 0
    result = run("regions", "import", str(shared_file("admin_divisions_tianjin_2021.csv")))
    assert result.exit_code == 0, result.output
    assert "5,573" in result.output
    stats = json.loads(run("regions", "stats", "--json").output)
    assert [stats[k]["count"] for k in ("city", "district", "street", "community")] == [
        1,
        16,
        297,
        5573,
    ]
    scaffold = run("orgs", "scaffold")
    assert scaffold.exit_code == 0 and "297" in scaffold.output
    check = run("structure", "check", "--json")
    assert check.exit_code == 1  # no boundaries yet
    assert json.loads(check.output)["regions_without_boundary"]["count"] == 5887


def test_a_refused_import_exits_1_names_lines_and_writes_a_report(cli_env, tmp_path):
    run("init")
    bad = tmp_path / "bad.csv"
    bad.write_text("code,name\n12,天津市\n120101,和平区\n120101,重复\n", "utf-8")
    result = run("regions", "import", str(bad))
    assert result.exit_code == 1
    assert "line 4" in result.output and "duplicate" in result.output
    assert json.loads(run("regions", "stats", "--json").output)["city"]["count"] == 0
    report = tmp_path / "rejected.csv"
    ok = run("regions", "import", str(bad), "--skip-bad", "--report", str(report))
    assert ok.exit_code == 0 and "line 4" in report.read_text("utf-8-sig")


def test_demo_city_grids_and_locate(cli_env):
    run("init")
    result = run("demo-city", "--scale", "small", "--seed", "2")
    assert result.exit_code == 0, result.output
    assert "演示账号" in result.output and "dispatcher" in result.output
    again = run("demo-city", "--scale", "small", "--seed", "2")
    assert again.exit_code == 1 and "--replace" in again.output
    stats = json.loads(run("regions", "stats", "--json").output)
    assert stats["grid"]["count"] > 100
    assert run("structure", "check").exit_code == 0
    grid = json.loads(run("regions", "locate", "0", "0", "--json").output)
    assert grid["status"] == "outside"


def test_every_command_has_help():
    for args in (
        ["--help"],
        ["regions", "--help"],
        ["grids", "generate", "--help"],
        ["demo-city", "--help"],
    ):
        assert run(*args).exit_code == 0


def test_catalogue_export_and_import_make_a_new_version(cli_env, tmp_path):
    assert "v1" in run("init").output
    path = tmp_path / "catalog.xlsx"
    assert run("catalog", "export", str(path)).exit_code == 0
    result = run("catalog", "import", str(path), "--note", "本地化")
    assert result.exit_code == 0 and "v2" in result.output
    history = run("catalog", "versions").output
    assert "v2" in history and "本地化" in history


def test_audit_verify_finds_a_tampered_timeline(cli_env):

    run("init")
    with db.transaction() as session:
        actor = Actor(None, Role.OPERATOR)
        new = service.NewCase("噪音扰民", "夜间施工噪音", RequestType.COMPLAINT, Channel.HOTLINE)
        service.register_case(session, SystemClock(), actor, new)
    assert run("audit", "verify").exit_code == 0
    with db.transaction() as session:
        session.execute(text("UPDATE case_events SET reason = 'edited'"))
    result = run("audit", "verify")
    assert result.exit_code == 1 and "event 1" in result.output


def test_demo_city_replaces_a_city_that_already_has_cases(cli_env):
    run("init")
    assert run("demo-city", "--scale", "small", "--seed", "2").exit_code == 0
    assert run("simulate", "--days", "1", "--seed", "2").exit_code == 0
    result = run("demo-city", "--scale", "small", "--seed", "3", "--replace")
    assert result.exit_code == 0, result.output
    assert run("audit", "verify").exit_code == 0

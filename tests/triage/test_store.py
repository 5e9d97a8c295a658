"""Classifier versions as a product: trained on a city's files or cases, stored, activated by the
administrator, used through `classify` with labels mapped to the catalogue; CLI and API."""

from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import event, select
from typer.testing import CliRunner

from chengzhi.cases import service as cases
from chengzhi.catalog import service as catalog
from chengzhi.cli.main import app
from chengzhi.deps import get_clock
from chengzhi.errors import InvalidInput, NotFound
from chengzhi.models import RequestType, Role, TriageModel
from chengzhi.orgs import service as orgs
from chengzhi.triage import classifier, store, training
from chengzhi.triage.classifier import Model, train
from tests.cases.conftest import appeal, city  # noqa: F401 (city is a fixture)
from tests.conftest import shared_file

SAMPLE = "appeals_sample_zh_495.csv"
MACRO_F1_FLOOR = 0.78  # as tests/triage/test_classifier.py: measured 0.84–0.87
PASSWORD = "triage-test-2026"
runner = CliRunner()

# Labels in every form a city's file may use: "kind:code", a category's name, or neither.
TOY = [
    (
        "matter:06010",
        ["小区门口垃圾堆积没人清运", "垃圾桶满了溢出来", "路边暴露垃圾发臭", "垃圾三天没人收"],
    ),
    ("交通运输", ["公交车站太远", "红绿灯时间太短", "出租车拒载", "路口经常堵车"]),
    ("卫生计生", ["医院看病排队太久", "医生态度差", "医保报销太慢", "疫苗接种预约不上"]),
]


def toy_texts() -> tuple[list[str], list[str]]:
    return [t for _, ts in TOY for t in ts], [label for label, ts in TOY for _ in ts]


@pytest.fixture(scope="module")
def toy_model() -> Model:
    return train(*toy_texts())


@pytest.fixture(scope="module")
def sample_path() -> Path:
    return shared_file(SAMPLE)


@pytest.fixture(scope="module")
def sample_rows(sample_path: Path) -> list[dict[str, str]]:
    with sample_path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def sample_trained(sample_path: Path) -> tuple[Model, dict]:
    return training.train_from_file(sample_path, ["title", "body"], "label")


def few_per_class(rows: list[dict[str, str]], labels: int, each: int) -> list[dict[str, str]]:
    """The first `each` rows of the first `labels` classes of the sample."""
    chosen = sorted({r["label"] for r in rows})[:labels]
    seen: Counter[str] = Counter()
    out = []
    for r in rows:
        if r["label"] in chosen and seen[r["label"]] < each:
            seen[r["label"]] += 1
            out.append(r)
    return out


# ---------------------------------------------------------------------------------------------
# Versions


def test_without_an_active_model_classify_answers_none(session, clock, toy_model):
    assert store.active(session) is None
    assert store.classify(session, "垃圾没人清运") is None
    store.save(session, clock, toy_model, "未启用 inactive", {})
    assert store.classify_many(session, ["垃圾没人清运", "公交太慢"]) is None


def test_versions_are_numbered_in_turn_and_exactly_one_is_active(session, clock, toy_model):
    first = store.save(session, clock, toy_model, "第一版", {"note": "a"})
    second = store.save(session, clock, toy_model, "第二版", {})
    assert second.version == first.version + 1 and not first.active and not second.active
    assert first.labels == ["matter:06010", "交通运输", "卫生计生"] and first.trained_rows == 12
    assert store.activate(session, first.version).active
    store.activate(session, second.version)
    listed = store.list_models(session)
    assert [m.version for m in listed] == [second.version, first.version]
    assert [m.active for m in listed] == [True, False]
    row, model = store.active(session)
    assert row.version == second.version and model.labels == toy_model.labels


def test_activating_an_unknown_version_is_not_found(session):
    with pytest.raises(NotFound, match="no model version 99"):
        store.activate(session, 99)


def test_a_name_is_required(session, clock, toy_model):
    with pytest.raises(InvalidInput, match="model name"):
        store.save(session, clock, toy_model, "  ", {})


def test_switching_versions_is_seen_by_the_next_classify_and_each_blob_is_unpickled_once(
    session, clock, engine, toy_model, sample_trained, monkeypatch
):
    catalog.install_defaults(session, clock)
    toy = store.save(session, clock, toy_model, "toy", {})
    real = store.save(session, clock, sample_trained[0], "sample", sample_trained[1])
    store.activate(session, toy.version)
    store.classify(session, "垃圾没人清运")  # warm: this process may have loaded it already

    loads = []
    original = Model.from_bytes.__func__

    def counted(cls, data):
        loads.append(len(data))
        return original(cls, data)

    monkeypatch.setattr(Model, "from_bytes", classmethod(counted))
    statements: list[str] = []

    def record(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        for _ in range(3):
            assert store.classify(session, "垃圾没人清运")[0].label == "matter:06010"
        assert loads == []
        store.activate(session, real.version)
        for _ in range(3):
            top = store.classify(session, "学校乱收补课费，孩子的老师暗示要交钱")
            assert {s.label for s in top} <= set(sample_trained[0].labels)
        assert loads == [len(sample_trained[0].to_bytes())]
    finally:
        event.remove(engine, "before_cursor_execute", record)
    reads = [s for s in statements if "FROM triage_models" in s]
    assert any("length(triage_models.blob)" in s for s in reads)
    whole_blob = [s for s in reads if re.search(r"(?<!length\()triage_models\.blob\b", s)]
    assert len(whole_blob) == 1  # the one load after the switch


# ---------------------------------------------------------------------------------------------
# Labels and the catalogue


def test_labels_map_to_the_current_catalogue_by_code_then_by_name(session, clock):
    version = catalog.install_defaults(session, clock)
    labels = [
        "matter:06010",
        "topic:F",
        "component:03001",
        "交通运输",  # a topic's name
        "暴露垃圾",  # only a matter has this name
        "露天烧烤",  # a matter and a topic: the topic wins
        "公共厕所",  # a component and a topic: components are not matched by name
        "卫生计生",  # not in this catalogue
        "matter:99999",
    ]
    found = store.label_categories(session, labels, version.id)
    assert found == {
        "matter:06010": ("matter", "06010", "暴露垃圾"),
        "topic:F": ("topic", "F", "交通运输"),
        "component:03001": ("component", "03001", "公共厕所"),
        "交通运输": ("topic", "F", "交通运输"),
        "暴露垃圾": ("matter", "06010", "暴露垃圾"),
        "露天烧烤": ("topic", "C0502", "露天烧烤"),
        "公共厕所": ("topic", "C0203", "公共厕所"),
        "卫生计生": None,
        "matter:99999": None,
    }


def test_classify_gives_top_k_with_confidences_and_categories(session, clock, toy_model):
    catalog.install_defaults(session, clock)
    store.activate(session, store.save(session, clock, toy_model, "toy", {}).version)
    top = store.classify(session, "小区门口的垃圾堆积了好几天，没人清运")
    assert [s.label for s in top][0] == "matter:06010"
    assert top[0].category == ("matter", "06010") and top[0].name == "暴露垃圾"
    assert len(top) == 3 and top[0].confidence >= top[1].confidence >= top[2].confidence
    assert abs(sum(s.confidence for s in top) - 1) < 0.01  # three labels: all of them
    by_label = {s.label: s for s in top}
    assert by_label["交通运输"].category == ("topic", "F")
    assert by_label["卫生计生"].category is None and by_label["卫生计生"].name is None
    many = store.classify_many(session, ["公交车站太远了", "医院排队太久", "垃圾桶满了"], k=1)
    assert [m[0].label for m in many] == ["交通运输", "卫生计生", "matter:06010"]
    with pytest.raises(InvalidInput):
        store.classify(session, "垃圾", k=0)


def test_a_new_catalogue_version_is_seen_by_the_label_map(session, clock, toy_model):
    store.activate(session, store.save(session, clock, toy_model, "toy", {}).version)
    assert store.classify(session, "垃圾没人清运")[0].category is None  # no catalogue yet
    catalog.install_defaults(session, clock)
    assert store.classify(session, "垃圾没人清运")[0].category == ("matter", "06010")


def test_suggest_adds_request_type_and_urgency(session, clock, toy_model):
    found = store.suggest(session, "燃气泄漏", "楼道里闻到很大的煤气味")
    assert found.model_version is None and found.suggestions == []
    assert found.urgency.level == "critical" and "gas_leak" in found.urgency.reasons
    row = store.save(session, clock, toy_model, "toy", {})
    store.activate(session, row.version)
    found = store.suggest(session, None, "请问医保报销需要哪些材料？")
    assert found.model_version == row.version and found.suggestions[0].label == "卫生计生"
    assert found.request_type == "inquiry" and found.urgency.level == "normal"


# ---------------------------------------------------------------------------------------------
# Training data


def test_training_on_the_real_sample_keeps_hold_out_figures(sample_trained, session, clock):
    model, metrics = sample_trained
    assert metrics["rows_read"] == metrics["rows"] == 495 and metrics["skipped"] == {}
    assert metrics["classes"] == 7 and model.meta["n_samples"] == 495  # refitted on every row
    held = metrics["holdout"]
    assert held["rows"] == sum(n // 5 for n in metrics["class_counts"].values())
    assert held["macro_f1"] >= MACRO_F1_FLOOR and held["top3_accuracy"] >= 0.9
    assert {c["label"] for c in held["per_class"]} == set(model.labels)
    assert held["predict_per_second"] > 100
    row = store.save(session, clock, model, "样本 sample", metrics)
    assert json.loads(json.dumps(row.metrics)) == metrics  # the JSON column keeps it whole


def test_an_excel_file_trains_on_joined_columns_and_counts_skipped_rows(tmp_path, sample_rows):
    rows = few_per_class(sample_rows, labels=3, each=12)
    book = Workbook()
    sheet = book.active
    sheet.append(["编号", "标题", "内容", "类别"])
    for i, r in enumerate(rows):
        sheet.append([i, r["title"], r["body"], r["label"]])
    sheet.append([900, "", None, "城乡建设"])  # no text
    sheet.append([901, "路灯不亮", "幸福路口路灯坏了", None])  # no label
    sheet.append([902, "  ", "   ", "  "])
    path = tmp_path / "appeals.xlsx"
    book.save(path)

    data = training.read_file(path, ["标题", "内容"], "类别")
    assert data.read == len(rows) + 3 and len(data.texts) == len(rows)
    assert data.skipped == {"empty_text": 2, "empty_label": 1}
    assert data.texts[0] == classifier.prepare(rows[0]["title"], rows[0]["body"])
    model, metrics = training.train_from_file(path, ["标题", "内容"], "类别")
    assert set(model.labels) == {r["label"] for r in rows} and metrics["rows"] == 36
    assert metrics["holdout"]["rows"] == 3 * 2 and metrics["skipped"]["empty_text"] == 2


def test_a_gb18030_csv_reads_like_its_utf8_original(tmp_path, sample_path, sample_rows):
    rows = few_per_class(sample_rows, labels=2, each=5)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["标题", "正文", "分类"])
    writer.writerows([r["title"], r["body"], r["label"]] for r in rows)
    path = tmp_path / "gbk.csv"
    path.write_bytes(out.getvalue().encode("gb18030"))
    data = training.read_file(path, ["标题", "正文"], "分类")
    assert data.labels == [r["label"] for r in rows]
    assert data.texts == [classifier.prepare(r["title"], r["body"]) for r in rows]


def test_one_text_column_and_rare_classes_left_out(tmp_path):
    path = tmp_path / "one.csv"
    lines = ["内容,类别"] + [f"{t},{label}" for t, label in zip(*toy_texts(), strict=True)]
    path.write_text("\n".join([*lines, "孤零零的一条,其他", ",交通运输", ""]), "utf-8")
    model, metrics = training.train_from_file(path, ["内容"], "类别", holdout=0)
    assert metrics["dropped_classes"] == {"其他": 1} and "其他" not in model.labels
    assert metrics["skipped"] == {"empty_text": 1} and metrics["holdout"] is None
    assert metrics["rows_read"] == 14 and metrics["rows"] == 12


def test_a_missing_column_is_named_with_the_header(sample_path):
    with pytest.raises(InvalidInput) as e:
        training.read_file(sample_path, ["title", "正文"], "label")
    assert "正文" in e.value.message
    assert "message_id, title, submitted_at, body, label" in e.value.message


def test_unreadable_files_are_refused_with_their_name(tmp_path):
    fake = tmp_path / "fake.xlsx"
    fake.write_text("不是表格", "utf-8")
    old = tmp_path / "old.xls"
    old.write_bytes(b"\xd0\xcf\x11\xe0")
    empty = tmp_path / "empty.csv"
    empty.write_text("\n\n", "utf-8")
    for path, reason in [
        (fake, "not a readable .xlsx file"),
        (old, "save old .xls files as .xlsx or .csv"),
        (empty, "empty file"),
        (tmp_path / "absent.csv", "no such file"),
    ]:
        with pytest.raises(InvalidInput, match=re.escape(reason)) as e:
            training.read_file(path, ["title"], "label")
        assert path.name in e.value.message


def test_too_little_data_is_refused_in_plain_words(tmp_path):
    path = tmp_path / "tiny.csv"
    path.write_text("title,body,label\n垃圾,没人收,环境\n", "utf-8")
    with pytest.raises(InvalidInput, match="no training data|at least two classes"):
        training.train_from_file(path, ["title", "body"], "label")
    with pytest.raises(InvalidInput, match="holdout"):
        training.train_from_file(path, ["title", "body"], "label", holdout=0.7)


def test_the_citys_own_cases_train_a_model_labelled_kind_code(session, clock, city):  # noqa: F811
    operator, dispatcher = city.actors["operator"], city.actors["dispatcher"]
    texts = {
        "06010": [("垃圾堆积", "小区门口垃圾三天没人清运"), ("垃圾满了", "垃圾桶满了溢出来发臭")],
        "06029": [("露天烧烤", "夜市路边烧烤油烟很大"), ("烧烤扰民", "楼下烧烤摊半夜冒烟")],
        "06001": [("违章搭建", "邻居在楼顶私搭乱建"), ("乱搭建", "院子里违规搭了铁皮房")],
    }
    for code, pairs in texts.items():
        for title, body in pairs:
            new = appeal(city, category=("matter", code), title=title, description=body)
            cases.register_case(session, clock, operator, new)
    early = clock.now()
    clock.advance(days=2)
    late = cases.register_case(session, clock, operator, appeal(city, category=("matter", "06010")))
    gone = cases.register_case(session, clock, operator, appeal(city, category=("matter", "06002")))
    cases.cancel_case(session, clock, dispatcher, gone.number, "重复来电")
    cases.register_case(session, clock, operator, appeal(city, category=None))

    data = training.read_cases(session)
    assert data.read == 7 and len(data.texts) == 7  # cancelled and uncategorised left out
    assert Counter(data.labels) == {"matter:06010": 3, "matter:06029": 2, "matter:06001": 2}
    assert data.texts[-1] == classifier.prepare(late.title, late.description)
    assert len(training.read_cases(session, since=early + timedelta(days=1)).texts) == 1

    model, metrics = training.train_from_cases(session, holdout=0)
    assert set(model.labels) == {"matter:06010", "matter:06029", "matter:06001"}
    assert metrics["source"] == "cases" and metrics["rows"] == 7
    store.activate(session, store.save(session, clock, model, "历史案件", metrics).version)
    top = store.classify(session, "楼下有人露天烧烤，油烟很大")[0]
    assert top.category == ("matter", "06029") and top.name == "露天烧烤"


# ---------------------------------------------------------------------------------------------
# CLI


def run(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def said(result) -> str:
    """The output with rich's line wrapping undone."""
    return " ".join(result.output.split())


def test_cli_trains_lists_activates_and_classifies(cli_env, tmp_path, sample_path, sample_rows):
    assert run("init").exit_code == 0
    assert run("triage", "classify", "垃圾没人收").exit_code == 1  # no active model yet
    trained = run("triage", "train", "--data", str(sample_path), "--activate")
    assert trained.exit_code == 0, trained.output
    assert "v1" in said(trained) and "495 条 rows, 7 类 classes" in said(trained)
    assert "macro-F1" in said(trained) and "已启用 activated v1" in said(trained)

    path = tmp_path / "gb.csv"
    out = io.StringIO()
    csv.writer(out).writerows(
        [["标题", "分类"], *([r["title"], r["label"]] for r in few_per_class(sample_rows, 2, 6))]
    )
    path.write_bytes(out.getvalue().encode("gb18030"))
    second = run("triage", "train", "--data", str(path), "--text", "标题", "--label", "分类")
    assert second.exit_code == 0, second.output
    assert "v2" in said(second) and "chengzhi triage activate 2" in said(second)

    table = run("triage", "models")
    assert table.exit_code == 0 and "v2" in table.output and "✓" in table.output
    listed = json.loads(run("triage", "models", "--json").output)
    assert [(m["version"], m["name"], m["active"], m["rows"]) for m in listed] == [
        (2, "gb.csv", False, 12),
        (1, SAMPLE, True, 495),
    ]
    assert listed[0]["classes"] == 2 and listed[1]["macro_f1"] >= MACRO_F1_FLOOR

    top = run("triage", "classify", "小区旁边工地违章建筑，占道施工，安全隐患很大")
    assert top.exit_code == 0 and "v1" in said(top) and "topic:A 城乡建设" in said(top)
    assert "诉求类型 request type" in said(top) and "紧急程度 urgency" in said(top)
    assert run("triage", "activate", "2").exit_code == 0
    assert "v2" in run("triage", "classify", "学校乱收费").output
    missing = run("triage", "activate", "7")
    assert missing.exit_code == 1 and "no model version 7" in said(missing)


def test_cli_evaluate_prints_scores_confusions_and_speed(cli_env, tmp_path, sample_rows):
    run("init")
    path = tmp_path / "three.csv"
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(sample_rows[0]))
        writer.writeheader()
        writer.writerows(few_per_class(sample_rows, labels=3, each=20))
    result = run("triage", "evaluate", "--data", str(path), "--folds", "5")
    assert result.exit_code == 0, result.output
    out = said(result)
    assert "60 条 rows, 3 类 classes, 5 折 folds" in out
    figures = json.loads(run("triage", "evaluate", "--data", str(path), "--json").output)
    assert f"macro-F1 {figures['macro_f1']:.3f}" in out
    assert f"accuracy {figures['accuracy']:.3f}" in out
    assert [c["support"] for c in figures["per_class"]] == [20, 20, 20]
    assert sum(map(sum, figures["confusion"])) == 60
    assert "劳动和社会保障" in out and "混淆矩阵 confusion matrix" in out
    assert re.search(r"predict [\d,]+ 条/秒 msgs/s", out)
    with db_session() as session:  # evaluate stores nothing
        assert session.scalar(select(TriageModel.id)) is None


def test_cli_refuses_bad_requests_in_plain_words(cli_env, sample_path):
    run("init")
    neither = run("triage", "train")
    assert neither.exit_code == 1 and "--from-cases" in said(neither)
    no_cases = run("triage", "train", "--from-cases")
    assert no_cases.exit_code == 1 and "no training data" in said(no_cases)
    wrong = run("triage", "train", "--data", str(sample_path), "--label", "类别")
    assert wrong.exit_code == 1 and "no column '类别'" in said(wrong)
    few = run("triage", "evaluate", "--data", str(sample_path), "--folds", "2")
    assert few.exit_code == 1 and "folds must be at least 3" in said(few)


def db_session():
    from chengzhi.db import transaction

    return transaction()


# ---------------------------------------------------------------------------------------------
# API


@pytest.fixture
def api(client, session, clock):
    for role in (Role.ADMIN, Role.SUPERVISOR, Role.DISPATCHER, Role.OPERATOR, Role.RESIDENT):
        orgs.create_person(session, clock, "测试", role, username=role.value, password=PASSWORD)
    catalog.install_defaults(session, clock)
    client.app.dependency_overrides[get_clock] = lambda: clock
    return client


def login(api, username: str) -> dict:
    body = api.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD}).json()
    api.cookies = {}
    return {"Authorization": f"Bearer {body['token']}"}


def test_only_an_admin_lists_and_activates_models(api, session, clock, toy_model):
    row = store.save(session, clock, toy_model, "toy", {"holdout": {"macro_f1": 0.9}})
    assert api.get("/api/v1/triage/models").status_code == 401
    for username in ("supervisor", "dispatcher", "operator", "resident"):
        headers = login(api, username)
        assert api.get("/api/v1/triage/models", headers=headers).status_code == 403
        activated = api.post(f"/api/v1/triage/models/{row.version}/activate", headers=headers)
        assert activated.status_code == 403
    admin = login(api, "admin")
    listed = api.get("/api/v1/triage/models", headers=admin).json()
    assert [(m["version"], m["active"], m["classes"], m["macro_f1"]) for m in listed] == [
        (row.version, False, 3, 0.9)
    ]
    done = api.post(f"/api/v1/triage/models/{row.version}/activate", headers=admin)
    assert done.status_code == 200 and done.json()["active"] is True
    assert api.post("/api/v1/triage/models/999/activate", headers=admin).status_code == 404


def test_staff_classify_an_appeal_over_http(api, session, clock, toy_model):
    body = {"title": "燃气泄漏", "text": "楼道里闻到很大的煤气味，垃圾也没人清运"}
    assert api.post("/api/v1/triage/classify", json=body).status_code == 401
    resident = login(api, "resident")
    assert api.post("/api/v1/triage/classify", json=body, headers=resident).status_code == 403
    operator = login(api, "operator")
    bare = api.post("/api/v1/triage/classify", json=body, headers=operator).json()
    assert bare["model_version"] is None and bare["suggestions"] == []
    assert bare["urgency"]["value"] == "critical" and bare["urgency"]["label"] == "特急"
    assert bare["urgency"]["reasons"][0]["value"] == "gas_leak"

    row = store.save(session, clock, toy_model, "toy", {})
    store.activate(session, row.version)
    for headers in (login(api, "dispatcher"), login(api, "supervisor"), login(api, "admin")):
        assert api.post("/api/v1/triage/classify", json=body, headers=headers).status_code == 200
    answer = api.post("/api/v1/triage/classify", json=body, headers=operator)
    assert answer.status_code == 200, answer.text
    found = answer.json()
    assert found["model_version"] == row.version and len(found["suggestions"]) == 3
    assert found["suggestions"][0] == {
        "label": "matter:06010",
        "confidence": found["suggestions"][0]["confidence"],
        "category": "matter:06010",
        "name": "暴露垃圾",
    }
    assert found["request_type"]["value"] in {t.value for t in RequestType}
    assert found["request_type"]["label"] == RequestType(found["request_type"]["value"]).zh
    empty = api.post("/api/v1/triage/classify", json={"text": ""}, headers=operator)
    assert empty.status_code == 422

"""`chengzhi triage …`: the appeal topic classifier (分类模型) trained on a city's own history —
a labelled file or the cases in the database —, evaluated by cross-validation, stored as
versions, one of which the administrator makes active for intake. Works offline: the classifier
needs only the installed packages."""

from __future__ import annotations

import time
from datetime import date, datetime
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from rich.table import Table

from chengzhi.cli.common import console, domain_errors, fail, print_json
from chengzhi.clock import SystemClock
from chengzhi.config import get_settings
from chengzhi.db import transaction
from chengzhi.models import RequestType, TriageModel, Urgency
from chengzhi.triage import classifier, store, training, urgency
from chengzhi.triage.classifier import Evaluation

triage_app = typer.Typer(
    help="分类模型 Triage classifier: train, evaluate, versions, activate, classify.",
    no_args_is_help=True,
)
FULL_MATRIX = 10  # classes up to which the whole confusion matrix is printed

DataFile = Annotated[
    Path, typer.Option("--data", help="CSV (UTF-8 or GB18030) or .xlsx with a header row.")
]
TextColumns = Annotated[
    str, typer.Option("--text", help="Text column(s), comma-separated; joined as title。body.")
]
LabelColumn = Annotated[str, typer.Option("--label", help="The label column.")]


@triage_app.command("train")
def train(
    data: Annotated[
        Path | None,
        typer.Option("--data", help="CSV (UTF-8 or GB18030) or .xlsx with a header row."),
    ] = None,
    text: TextColumns = "title,body",
    label: LabelColumn = "label",
    from_cases: Annotated[
        bool,
        typer.Option("--from-cases", help="Train on the cases in the database (label kind:code)."),
    ] = False,
    since: Annotated[
        str | None, typer.Option(help="With --from-cases: registered on or after YYYY-MM-DD.")
    ] = None,
    name: Annotated[str | None, typer.Option(help="The version's name (default: source).")] = None,
    activate: Annotated[
        bool, typer.Option("--activate", help="Make the new version the active one.")
    ] = False,
    holdout: Annotated[
        float, typer.Option(help="Share of each class held out to score the version (0: none).")
    ] = training.HOLDOUT,
    min_count: Annotated[
        int, typer.Option(help="Leave out classes with fewer examples than this.")
    ] = training.MIN_COUNT,
) -> None:
    """Train a model, store it as the next version and print its figures."""
    if (data is None) == (not from_cases):
        fail("请指定 --data FILE 或 --from-cases 之一 (give exactly one of --data, --from-cases)")
    started = time.perf_counter()
    with domain_errors():
        if data is not None:
            dataset = training.read_file(data, _columns(text), label)
        else:
            with transaction() as session:  # read, then train outside the transaction
                dataset = training.read_cases(session, _since(since))
        model, metrics = training.train_dataset(dataset, holdout=holdout, min_count=min_count)
        with transaction() as session:
            row = store.save(session, SystemClock(), model, name or _name(data, since), metrics)
            if activate:
                store.activate(session, row.version)
            version = row.version
    seconds = time.perf_counter() - started
    console.print(
        f"[green]已训练 trained[/] v{version}: {metrics['rows']:,} 条 rows, "
        f"{metrics['classes']} 类 classes, {seconds:.1f} s"
    )
    _print_left_out(metrics["skipped"], metrics["dropped_classes"])
    if held := metrics["holdout"]:
        console.print(
            f"留出集 hold-out ({held['rows']:,} 条 rows): accuracy {held['accuracy']:.3f} · "
            f"macro-F1 {held['macro_f1']:.3f} · top-3 {held['top3_accuracy']:.3f}"
        )
    if activate:
        console.print(f"[green]已启用 activated[/] v{version}")
    else:
        console.print(f"启用 to activate: chengzhi triage activate {version}")


@triage_app.command("evaluate")
def evaluate(
    data: DataFile,
    text: TextColumns = "title,body",
    label: LabelColumn = "label",
    folds: Annotated[int, typer.Option(help="Cross-validation folds (at least 3).")] = 5,
    min_count: Annotated[
        int, typer.Option(help="Leave out classes with fewer examples than this (default: none).")
    ] = 0,
    seed: Annotated[int, typer.Option(help="Seed of the fold split.")] = 0,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Cross-validate the classifier on a labelled file (stratified k-fold): accuracy, macro-F1,
    per-class scores, confusions and speed. Stores nothing."""
    with domain_errors():
        dataset = training.read_file(data, _columns(text), label).without_rare(min_count)
    try:
        found = classifier.evaluate(dataset.texts, dataset.labels, folds=folds, seed=seed)
    except ValueError as e:
        fail(f"{data.name}: {e}")
    if json_out:
        left_out = {"skipped": dataset.skipped, "dropped_classes": dataset.dropped}
        print_json(found.as_dict() | left_out)
        return
    console.print(
        f"{data.name}: {found.n_samples:,} 条 rows, {len(found.labels)} 类 classes, "
        f"{found.folds} 折 folds"
    )
    _print_left_out(dataset.skipped, dataset.dropped)
    console.print(
        f"accuracy {found.accuracy:.3f} · macro-F1 {found.macro_f1:.3f} · "
        f"top-3 {found.top3_accuracy:.3f}"
    )
    console.print(_per_class(found))
    console.print(_matrix(found) if len(found.labels) <= FULL_MATRIX else _confusions(found))
    console.print(
        f"预测 predict {found.predict_per_second:,.0f} 条/秒 msgs/s · "
        f"训练 train {found.train_seconds:.1f} s/折 per fold"
    )


@triage_app.command("models")
def list_models(
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The stored versions, newest first, with their hold-out macro-F1."""
    with transaction() as session:
        rows = store.list_models(session)
    if json_out:
        print_json([_model(row) for row in rows])
        return
    table = Table(
        "版本 version",
        "名称 name",
        "启用 active",
        "样本 rows",
        "类别 classes",
        "macro-F1",
        "时间 created",
    )
    for row in rows:
        held = _macro_f1(row)
        table.add_row(
            f"v{row.version}",
            row.name,
            "✓" if row.active else "",
            f"{row.trained_rows:,}",
            f"{len(row.labels):,}",
            "—" if held is None else f"{held:.3f}",
            f"{row.created_at:%Y-%m-%d %H:%M}",
        )
    console.print(table)


@triage_app.command("activate")
def activate_version(version: Annotated[int, typer.Argument(help="The version number.")]) -> None:
    """Make VERSION the model intake uses (the others stay for roll-back)."""
    with domain_errors(), transaction() as session:
        row = store.activate(session, version)
        name = row.name
    console.print(f"[green]已启用 activated[/] v{version} · {name}")


@triage_app.command("classify")
def classify(
    text: Annotated[str, typer.Argument(help="The appeal's text.")],
    title: Annotated[str | None, typer.Option(help="The appeal's title.")] = None,
) -> None:
    """The active model's top-3 labels for TEXT with their catalogue categories, and the
    request type and urgency the rules suggest."""
    with domain_errors(), transaction() as session:
        found = store.suggest(session, title, text)
    if found.model_version is None:
        fail("没有启用的分类模型 (no active model): chengzhi triage train … --activate")
    table = Table(
        "标签 label", "置信度 confidence", "事项 category", title=f"v{found.model_version}"
    )
    for s in found.suggestions:
        category = f"{s.category[0]}:{s.category[1]} {s.name}" if s.category else "—"
        table.add_row(s.label, f"{s.confidence:.1%}", category)
    console.print(table)
    kind = RequestType(found.request_type)
    console.print(f"诉求类型 request type: {kind.zh} {kind.en} ({found.request_confidence:.0%})")
    level, labels = Urgency(found.urgency.level), {g.name: g.label for g in urgency.groups()}
    reasons = "、".join(labels.get(r, r) for r in found.urgency.reasons)
    console.print(f"紧急程度 urgency: {level.zh} {level.en}" + (f" · {reasons}" if reasons else ""))


def _columns(text: str) -> list[str]:
    return [c.strip() for c in text.split(",") if c.strip()]


def _since(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        fail(f"日期格式应为 YYYY-MM-DD：{text} (a date is YYYY-MM-DD: {text})")
    return datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(get_settings().timezone))


def _name(data: Path | None, since: str | None) -> str:
    if data is not None:
        return data.name[:100]
    return f"历史案件 cases since {since}" if since else "历史案件 cases"


def _macro_f1(row: TriageModel) -> float | None:
    held = (row.metrics or {}).get("holdout") or {}
    return held.get("macro_f1")


def _model(row: TriageModel) -> dict[str, object]:
    return {
        "version": row.version,
        "name": row.name,
        "active": row.active,
        "rows": row.trained_rows,
        "classes": len(row.labels),
        "macro_f1": _macro_f1(row),
        "created_at": row.created_at.isoformat(),
    }


def _print_left_out(skipped: dict[str, int], dropped: dict[str, int]) -> None:
    if skipped.get("empty_text"):
        console.print(f"略过 skipped {skipped['empty_text']:,} 行无文本 (rows without text)")
    if skipped.get("empty_label"):
        console.print(f"略过 skipped {skipped['empty_label']:,} 行无标签 (rows without label)")
    if dropped:
        shown = "、".join(f"{label}={n}" for label, n in list(dropped.items())[:10])
        more = f" … +{len(dropped) - 10}" if len(dropped) > 10 else ""
        console.print(
            f"[yellow]样本过少的类别未参与 classes with too few examples left out[/] "
            f"({sum(dropped.values()):,} 行 rows): {shown}{more}"
        )


def _per_class(found: Evaluation) -> Table:
    table = Table("类别 label", "精确率 precision", "召回率 recall", "F1", "样本 support")
    for label, precision, recall, f1, support in found.rows():
        table.add_row(label, f"{precision:.3f}", f"{recall:.3f}", f"{f1:.3f}", f"{support:,}")
    return table


def _matrix(found: Evaluation) -> Table:
    """Rows: the true class; columns: the predicted one, numbered as the rows."""
    table = Table(
        "真实 \\ 预测 true \\ predicted",
        *(str(i + 1) for i in range(len(found.labels))),
        title="混淆矩阵 confusion matrix",
    )
    for i, (label, row) in enumerate(zip(found.labels, found.confusion, strict=True)):
        table.add_row(f"{i + 1} {label}", *(str(n) if n else "·" for n in row))
    return table


def _confusions(found: Evaluation) -> Table:
    table = Table("真实 true", "预测 predicted", "条数 count", title="最常见的混淆 top confusions")
    for true, predicted, count in training.confusions(found):
        table.add_row(true, predicted, f"{count:,}")
    return table

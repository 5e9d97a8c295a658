"""Benchmark knowledge-base suggestions (知识库匹配) against a brute-force difflib scan.

    python bench/bench_kb.py [--articles 5000] [--queries 2000] [--url sqlite:///…|postgresql+psycopg://…]

The knowledge base is the 28 demo articles plus synthetic ones made from the default matter
catalogue (one article per category and theme: "<name>办理流程", "<name>收费标准", …, asked in
the category's own keywords), so the demo articles must be found among thousands of articles that
share their vocabulary. Inquiries are paraphrases of the demo questions, with the article they
should find, plus synthetic ones. Figures:

- import: the whole file through the one import path (checked, then stored);
- build: the first suggestion after a change (read the active articles, fit, index);
- recheck: the fingerprint query that tells whether another process changed the articles, paid
  at most once a second per process (and after this process's own writes);
- suggest per request: a new transaction and the search, as a web request pays it (including
  the rechecks that fall due while it runs); search only: the in-memory index alone;
- baseline: difflib's SequenceMatcher ratio against every article (the obvious brute force);
- top-1: how often the paraphrase's own article comes first, for both.
"""

from __future__ import annotations

import argparse
import difflib
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from chengzhi import db
from chengzhi.catalog import service as catalog
from chengzhi.catalog.defaults import load_default_catalog
from chengzhi.clock import SystemClock
from chengzhi.kb import files, match, service

THEMES = ("办理流程", "收费标准", "投诉渠道", "政策咨询", "办理时限", "材料清单", "主管部门")
PARAPHRASES = [  # (inquiry, the demo article it should find)
    ("我的社保卡找不到了，想重新办一张", "社会保障卡挂失与补办"),
    ("想把公积金取出来交房租，可以吗", "住房公积金提取条件"),
    ("我是外地来打工的，办居住证要带什么东西", "居住证申领"),
    ("身份证掉了，人在外地能补吗", "居民身份证补领与异地办理"),
    ("小孩刚出生，怎么报户口", "新生儿落户"),
    ("孩子九月份上一年级，什么时候报名", "义务教育小学入学报名"),
    ("物业什么都不管，我能不交物业费吗", "物业服务不到位能否拒交物业费"),
    ("隔壁工地半夜十二点还在打桩", "建筑施工夜间作业规定"),
    ("奶茶杯是什么垃圾", "生活垃圾分类投放"),
    ("家里的旧沙发要扔，怎么处理", "装修垃圾和大件垃圾清运"),
    ("可以把电瓶车推到家里充电吗", "电动自行车停放与充电"),
    ("被公司辞退了，能领失业保险吗", "失业保险金申领"),
    ("回老家住院，医保怎么报销", "医保异地就医备案"),
    ("快递显示签收了但我没收到", "快递丢失与延误"),
    ("楼上装修周末一大早就砸墙", "住宅装修作业时间"),
    ("遛狗不拴绳有人管吗", "养犬登记与文明养犬"),
]


def synthetic_rows(n: int) -> list[tuple[str, dict[str, Any]]]:
    """n - 28 articles from the catalogue's categories and THEMES, after the demo's 28."""
    rows = [(w, fields) for w, fields in files.read(files.DEMO)]
    titles = {fields["title"] for _, fields in rows}
    for theme in THEMES:
        for c in load_default_catalog():
            if len(rows) >= n:
                return rows
            title = f"{c.name}{theme}"
            if title in titles:
                continue
            titles.add(title)
            words = [c.name, *c.keywords[:3]]
            question = "\n".join(
                [f"{words[0]}{theme}是什么", *(f"{w}的问题找哪个部门" for w in words[1:])]
            )
            answer = (
                f"关于{c.name}的{theme}：请以主管部门公布的办事指南为准，可通过政务服务网、"
                "政务服务App或线下窗口查询办理；需要转交属地处理的，请告知具体地址和情况。"
            )
            rows.append(
                (
                    f"row {len(rows)}",
                    {
                        "title": title,
                        "question": question,
                        "answer": answer,
                        "category_code": c.key,
                    },
                )
            )
    return rows


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def per_call_ms(fn: Callable[[str], object], texts: list[str]) -> tuple[float, float, float]:
    """Median and p90 wall time of one call, and the median CPU time of this thread (what the
    call costs a core when the machine is shared: waiting for a CPU or for a database server is
    not counted), in milliseconds."""
    wall, cpu = [], []
    for text in texts:
        started, started_cpu = time.perf_counter(), time.thread_time()
        fn(text)
        cpu.append(time.thread_time() - started_cpu)
        wall.append(time.perf_counter() - started)
    wall.sort()
    return (
        statistics.median(wall) * 1e3,
        wall[int(0.9 * len(wall))] * 1e3,
        statistics.median(cpu) * 1e3,
    )


def difflib_top(documents: list[tuple[str, str]], text: str, k: int = 3) -> list[str]:
    """The brute-force baseline: SequenceMatcher's ratio against every article's text."""
    matcher = difflib.SequenceMatcher(autojunk=False)
    matcher.set_seq2(text)
    scored = []
    for title, doc in documents:
        matcher.set_seq1(doc)
        scored.append((matcher.ratio(), title))
    scored.sort(key=lambda s: -s[0])
    return [title for _, title in scored[:k]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=5000)
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--baseline-queries", type=int, default=48)
    parser.add_argument("--url", help="Database URL (default: a temporary SQLite file)")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):  # the target is per core: measure on one
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    with tempfile.TemporaryDirectory() as tmp:
        url = args.url or f"sqlite:///{Path(tmp) / 'kb.db'}"
        db.migrate(url)
        engine = db.make_engine(url)
        try:
            run(engine, args)
        finally:
            engine.dispose()


def run(engine: Any, args: argparse.Namespace) -> None:
    clock, rows = SystemClock(), synthetic_rows(args.articles)
    with db.transaction(engine) as session:
        catalog.install_defaults(session, clock)
        if service.count(session):
            raise SystemExit("the database already has a knowledge base; give an empty one")
        imported = timed(lambda: service.import_rows(session, clock, "bench", rows))
    print(f"articles              {len(rows):>10,}   ({engine.url.get_backend_name()})")
    print(f"import                {imported:>10.2f} s")
    with db.transaction(engine) as session:
        started_cpu = time.thread_time()
        build = timed(lambda: match.index(session))
        build_cpu = time.thread_time() - started_cpu
        index = match.index(session)
        documents = [(t, match.document(t, q)) for _, t, q, _ in match.active_rows(session)]
        recheck = per_call_ms(lambda _: match.fingerprint(session), ["x"] * 200)
    print(f"build index           {build * 1e3:>10.0f} ms   CPU {build_cpu * 1e3:.0f} ms")
    print(
        f"recheck (fingerprint) {recheck[0]:>10.3f} ms median   p90 {recheck[1]:8.3f} ms   "
        f"CPU {recheck[2]:.3f} ms   (at most once a second per process)"
    )

    inquiries = [q for q, _ in PARAPHRASES]
    synthetic = [f"{fields['title']}怎么办" for _, fields in rows[28::97]]
    texts = (inquiries + synthetic) * (args.queries // (len(inquiries) + len(synthetic)) + 1)
    texts = texts[: args.queries]

    def request(text: str) -> object:
        with db.transaction(engine) as session:
            return match.suggest(session, text)

    request_ms = per_call_ms(request, texts)
    search_ms = per_call_ms(index.search, texts)
    sample = texts[: args.baseline_queries]
    base_ms = per_call_ms(lambda t: difflib_top(documents, t), sample)
    for name, (median, p90, cpu) in [
        ("suggest per request", request_ms),
        ("search only", search_ms),
        ("difflib baseline", base_ms),
    ]:
        print(f"{name:<21} {median:>10.3f} ms median   p90 {p90:8.3f} ms   CPU {cpu:.3f} ms")
    for name, ours_ms in [("request", request_ms), ("search", search_ms)]:
        print(
            f"speed-up ({name})".ljust(21)
            + f" {base_ms[0] / ours_ms[0]:>10.0f} x wall   {base_ms[2] / ours_ms[2]:.0f} x CPU"
        )
    ours = sum(index.search(q, 1, 0)[0].title == want for q, want in PARAPHRASES)
    theirs = sum(difflib_top(documents, q, 1) == [want] for q, want in PARAPHRASES)
    print(f"top-1 on paraphrases  {ours:>10} / {len(PARAPHRASES)}   (difflib {theirs})")
    print(
        f"\n({len(texts):,} inquiries, {len(sample)} for the baseline; pinned to one core; "
        "target ≤ 2 ms per suggestion)"
    )


if __name__ == "__main__":
    main()

"""The knowledge base of direct answers (知识库): articles kept through one write path, the
answers suggested for residents' own words, files in and out whole or not at all, the API
(staff read, administrators write, the answering roles ask) and the CLI."""

import json

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from chengzhi.catalog import service as catalog
from chengzhi.cli.main import app
from chengzhi.demo.build import DEMO_PASSWORD
from chengzhi.deps import get_clock
from chengzhi.errors import Conflict, ImportRejected, InvalidInput, NotFound
from chengzhi.kb import files, match, service
from chengzhi.models import KnowledgeArticle

SOCIAL_CARD = "社会保障卡挂失与补办"
SORTING = "生活垃圾分类投放"
DEMO_ROWS = list(files.read(files.DEMO))


@pytest.fixture
def catalogue(session, clock):
    catalog.install_defaults(session, clock)


@pytest.fixture
def demo(session, clock, catalogue) -> int:
    return files.install_demo(session, clock)


def article(session, clock, title="公积金提取条件", **extra) -> KnowledgeArticle:
    fields = dict(
        question="公积金什么时候能取出来\n租房能提取公积金吗",
        answer="购房、租房、退休等情形可以提取，具体以公积金中心规定为准。",
        category_code="topic:B0501",
        source="市住房公积金管理中心",
    )
    return service.create(session, clock, title, **{**fields, **extra})


def titles(answers: list[match.Answer]) -> list[str]:
    return [a.title for a in answers]


def stored(session) -> int:
    return session.scalar(select(func.count()).select_from(KnowledgeArticle))


# ---------------------------------------------------------------------------------------------
# Articles


def test_an_article_is_stored_trimmed_and_found_by_its_words(session, clock, catalogue):
    made = service.create(
        session,
        clock,
        "  居住证  申领 ",
        "\n 外地人怎么办居住证 \n\n  居住证在哪里办\n",
        "  向居住地派出所申请。\n  需带身份证和住址证明。 ",
        category_code=" topic:M0104 ",
        source="市公安局",
    )
    again = service.get(session, made.id)
    assert (again.title, again.question) == ("居住证 申领", "外地人怎么办居住证\n居住证在哪里办")
    assert again.answer == "向居住地派出所申请。\n需带身份证和住址证明。"
    assert (again.category_code, again.source, again.active) == ("topic:M0104", "市公安局", True)
    assert again.updated_at == clock.now()
    assert service.list_articles(session, q="住址证明") == (1, [made])
    assert service.list_articles(session, q="公积金") == (0, [])


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"title": "   "}, "标题 (title) 不能为空 (is required)"),
        ({"question": "\n \n"}, "问法 (question) 不能为空 (is required)"),
        ({"title": "长" * 201}, "不能超过 200 个字，现为 201 个 (is longer than 200 characters"),
        ({"answer": "答" * 4001}, "答复 (answer) 不能超过 4000 个字"),
        ({"source": "源" * 201}, "来源 (source) 不能超过 200 个字"),
        ({"category_code": "topic:Z9999"}, "topic:Z9999 不在现行事项清单中 (not in the current"),
        ({"category_code": "B0501"}, "应为 类别:代码，如 topic:B0501 (must be kind:code"),
        ({"answer": "带空字符\0的答复"}, "含有空字符 (contains a NUL character)"),
        ({"question": 12345}, "问法 (question) 须为文本 (must be text)"),
    ],
)
def test_empty_over_long_and_unknown_values_are_refused(session, clock, catalogue, fields, message):
    with pytest.raises(InvalidInput) as refused:
        article(session, clock, **fields)
    assert message in refused.value.message
    assert stored(session) == 0


def test_a_title_is_taken_once_even_by_a_deactivated_article(session, clock, catalogue):
    first = article(session, clock)
    with pytest.raises(Conflict, match="已有同名条目"):
        article(session, clock)
    service.deactivate(session, clock, first.id)
    with pytest.raises(Conflict, match="已停用 inactive"):
        article(session, clock, title=" 公积金提取条件")


def test_an_update_stamps_only_real_changes_and_deactivation_hides_the_article(
    session, clock, catalogue
):
    made = article(session, clock)
    created_at = made.updated_at
    clock.advance(hours=1)
    service.update(session, clock, made.id, answer=made.answer, source=" 市住房公积金管理中心")
    assert made.updated_at == created_at  # nothing differed
    service.update(session, clock, made.id, answer="离职满半年可申请提取。", category_code=None)
    assert (made.answer, made.category_code, made.updated_at) == (
        "离职满半年可申请提取。",
        None,
        clock.now(),
    )
    service.deactivate(session, clock, made.id)
    assert service.list_articles(session) == (0, [])
    assert service.list_articles(session, active=False) == (1, [made])
    assert service.list_articles(session, active=None) == (1, [made])
    service.update(session, clock, made.id, active=True)
    assert service.list_articles(session)[0] == 1
    with pytest.raises(InvalidInput, match="cannot be changed"):
        service.update(session, clock, made.id, updated_at=clock.now())
    with pytest.raises(InvalidInput, match="no field to change"):
        service.update(session, clock, made.id)
    with pytest.raises(NotFound, match="知识库条目 999999 不存在"):
        service.deactivate(session, clock, 999_999)


def test_stamps_keep_rising_while_the_clock_stands_still(session, clock, catalogue):
    first = article(session, clock)
    second = article(session, clock, title="公积金贷款额度")
    assert first.updated_at == clock.now() < second.updated_at
    service.update(session, clock, first.id, source="公积金中心")
    assert first.updated_at > second.updated_at


# ---------------------------------------------------------------------------------------------
# Suggestions


def test_the_demo_installs_once_with_its_categories(session, clock, demo):
    assert demo == 28
    assert files.install_demo(session, clock) == 0
    card = service.list_articles(session, q=SOCIAL_CARD)[1][0]
    assert card.category_code == "topic:G03" and card.source == "市人力资源和社会保障局"


def test_without_a_catalogue_the_demo_installs_without_categories(session, clock):
    assert files.install_demo(session, clock) == 28
    assert {a.category_code for a in service.all_articles(session)} == {None}


@pytest.mark.parametrize(
    ("inquiry", "expected"),
    [
        ("我的社保卡找不到了，想重新办一张", SOCIAL_CARD),
        ("想把公积金取出来交房租，可以吗？", "住房公积金提取条件"),
        ("我是外地来打工的，办居住证要带什么东西", "居住证申领"),
        ("身份证掉了，人在外地能补吗", "居民身份证补领与异地办理"),
        ("小孩刚出生，怎么报户口", "新生儿落户"),
        ("孩子九月份上一年级，什么时候报名", "义务教育小学入学报名"),
        ("物业什么都不管，我能不交物业费吗", "物业服务不到位能否拒交物业费"),
        ("隔壁工地半夜十二点还在打桩", "建筑施工夜间作业规定"),
        ("奶茶杯是什么垃圾", SORTING),
        ("家里的旧沙发要扔，怎么处理", "装修垃圾和大件垃圾清运"),
        ("可以把电瓶车推到家里充电吗", "电动自行车停放与充电"),
        ("被公司辞退了，能领失业保险吗", "失业保险金申领"),
        ("回老家住院，医保怎么报销", "医保异地就医备案"),
        ("快递显示签收了但我没收到", "快递丢失与延误"),
    ],
)
def test_a_paraphrased_inquiry_finds_its_article_first(session, demo, inquiry, expected):
    found = match.suggest(session, inquiry)
    assert found and found[0].title == expected
    assert found[0].answer.startswith(service.list_articles(session, q=expected)[1][0].answer)


@pytest.mark.parametrize(
    "inquiry",
    ["今天天气真好", "请帮我查一下明天去北京的火车票", "谢谢，再见", "   ", "13800138000"],
)
def test_unrelated_text_gets_no_answer(session, demo, inquiry):
    assert match.suggest(session, inquiry) == []


def test_answers_come_best_first_at_most_k_and_above_the_threshold(session, demo):
    five = match.suggest(session, "社保卡和医保卡丢了怎么办", k=5, min_score=0)
    assert len(five) == 5 and titles(five)[0] in (SOCIAL_CARD, "医保电子凭证与医保卡使用")
    scores = [a.score for a in five]
    assert scores == sorted(scores, reverse=True) and 0 < scores[-1] <= scores[0] <= 1
    strict = match.suggest(session, "社保卡和医保卡丢了怎么办", k=5, min_score=scores[1])
    assert titles(strict) == titles(five)[:2]


def test_phone_and_id_numbers_in_an_inquiry_change_nothing(session, demo):
    plain = match.suggest(session, "社保卡丢了怎么补办")
    noisy = match.suggest(session, "社保卡丢了怎么补办 13800138000 110101199003071234")
    assert plain == noisy


def test_the_inquiry_vector_is_the_vectorisers_own():
    rows = [(i, a["title"], a["question"], a["answer"]) for i, (_, a) in enumerate(DEMO_ROWS)]
    built = match.Index(rows)
    for text in ("社保卡丢了怎么补办", "楼上装修太吵 13800138000", "今天天气真好", "Ｗｉｆｉ"):
        cols, weights = built.query_vector(text)
        expected = built.vectoriser.transform([match.clean_query(text)])
        assert cols.tolist() == expected.indices.tolist()
        assert weights == pytest.approx(expected.data)
        cosine = (built.postings.T @ expected.T).toarray().ravel()
        assert built.scores(text) == pytest.approx(cosine)


def test_the_index_follows_edits_deactivation_and_new_articles(session, clock, demo):
    inquiry = "外卖奶茶杯属于什么垃圾"
    built = match.index(session)
    assert match.index(session) is built  # nothing changed: the same index
    assert titles(match.suggest(session, inquiry))[0] == SORTING
    sorting = service.list_articles(session, q=SORTING)[1][0]
    service.deactivate(session, clock, sorting.id)  # the clock stands still throughout
    assert SORTING not in titles(match.suggest(session, inquiry, k=20, min_score=0))
    cup = service.create(
        session,
        clock,
        "奶茶杯分类投放",
        "奶茶杯属于什么垃圾\n外卖奶茶杯怎么扔",
        "杯中剩余饮料倒入下水口，杯子投放到其他垃圾，吸管同理。",
    )
    assert titles(match.suggest(session, inquiry)) == ["奶茶杯分类投放"]
    service.update(session, clock, cup.id, title="旧衣物回收", question="旧衣服放到哪里回收")
    assert "旧衣物回收" not in titles(match.suggest(session, inquiry))
    service.update(session, clock, sorting.id, active=True)
    assert titles(match.suggest(session, inquiry))[0] == SORTING


def test_a_change_made_by_another_process_shows_at_the_next_check(
    session, clock, demo, monkeypatch
):
    def reader() -> Session:  # another request of this process, on the same database
        return Session(bind=session.connection(), join_transaction_mode="create_savepoint")

    inquiry = "社保卡丢了怎么补办"
    assert titles(match.suggest(reader(), inquiry))[0] == SOCIAL_CARD
    clock.advance(minutes=5)
    session.execute(  # as another server would, without this process's write path
        update(KnowledgeArticle)
        .where(KnowledgeArticle.title == SOCIAL_CARD)
        .values(active=False, updated_at=clock.now())
    )
    assert titles(match.suggest(reader(), inquiry))[0] == SOCIAL_CARD  # trusted for a second
    monkeypatch.setattr(match, "RECHECK_SECONDS", 0.0)  # …and that second has passed
    assert SOCIAL_CARD not in titles(match.suggest(reader(), inquiry))
    unchanged = match.index(reader())
    assert match.index(reader()) is unchanged  # the fingerprint matched: no rebuild


def test_a_writing_transaction_keeps_its_index_to_itself(session, clock, demo):
    card = service.list_articles(session, q=SOCIAL_CARD)[1][0]
    service.deactivate(session, clock, card.id)
    own = match.index(session)
    assert match.index(session) is own  # built once for the transaction
    assert SOCIAL_CARD not in titles(match.suggest(session, "社保卡丢了怎么补办"))
    reader = Session(bind=session.connection(), join_transaction_mode="create_savepoint")
    assert match.index(reader) is not own  # the writer's may yet roll back: never shared


def test_an_empty_knowledge_base_suggests_nothing(session):
    assert match.suggest(session, "社保卡丢了怎么补办") == []


# ---------------------------------------------------------------------------------------------
# Files

GOOD_YAML = """\
title: 测试知识库
articles:
  - title: 燃气开户
    question: |-
      新房子怎么开通燃气
      燃气开户需要什么材料
    answer: 携带房产证明和身份证到燃气企业营业厅办理。
    category_code: topic:D0305
"""

BAD_YAML = """\
articles:
  - title: 燃气开户
    question: 新房子怎么开通燃气
    answer: 携带房产证明和身份证到燃气企业营业厅办理。
  - title: 暖气报停
    question: 暖气不用了怎么报停
  - title: 燃气开户
    question: 重复的标题
    answer: 同上
  - title: 有线电视报修
    question: 电视没信号了
    answer: 联系有线电视运营商报修。
    category_code: topic:Z0101
    colour: 蓝色
"""


def test_a_good_file_lands_whole(session, clock, catalogue, tmp_path):
    path = tmp_path / "kb.yaml"
    path.write_text(GOOD_YAML, "utf-8")
    assert files.import_file(session, clock, path) == service.ImportResult(1, 0, 0)
    gas = service.list_articles(session, q="燃气开户")[1][0]
    assert gas.question == "新房子怎么开通燃气\n燃气开户需要什么材料"
    assert gas.category_code == "topic:D0305" and gas.source is None and gas.active


def test_a_bad_yaml_row_lands_nothing_and_every_problem_names_its_line(
    session, clock, catalogue, tmp_path
):
    path = tmp_path / "kb.yaml"
    path.write_text(BAD_YAML, "utf-8")
    with pytest.raises(ImportRejected) as refused:
        files.import_file(session, clock, path)
    problems = [(p.where, p.reason) for p in refused.value.problems]
    assert problems == [
        ("line 5", "答复 (answer) 缺失 (is missing)"),
        ("line 7", "标题与 line 2 重复 (the same title as line 2): 燃气开户"),
        ("line 10", "未知字段 (unknown fields): ['colour']"),
    ]
    assert "未导入任何条目" in refused.value.message and stored(session) == 0
    path.write_text(BAD_YAML.replace("    colour: 蓝色\n", ""), "utf-8")
    with pytest.raises(ImportRejected) as again:
        files.import_file(session, clock, path)
    assert (
        "line 10",
        "事项分类 topic:Z0101 不在现行事项清单中 (not in the current catalogue)",
    ) in [(p.where, p.reason) for p in again.value.problems]


def test_a_bad_excel_row_lands_nothing_and_names_its_row(session, clock, catalogue, tmp_path):
    book = Workbook()
    sheet = book.active
    sheet.append(["标题", "问法", "答复", "事项分类", "启用"])  # an official's Chinese headers
    sheet.append(["燃气开户", "新房子怎么开通燃气", "到燃气企业营业厅办理。", "topic:D0305", "是"])
    sheet.append([])
    sheet.append(["暖气报停", "暖气不用了怎么报停", None, None, "也许"])
    path = tmp_path / "kb.xlsx"
    book.save(path)
    with pytest.raises(ImportRejected) as refused:
        files.import_file(session, clock, path)
    assert [(p.source, p.where) for p in refused.value.problems] == [("kb.xlsx", "row 4")] * 2
    assert "答复 (answer) 缺失" in refused.value.problems[0].reason
    assert "启用 (active) 须为 true 或 false" in refused.value.problems[1].reason
    assert stored(session) == 0


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("kb.csv", "title,question\n", "只支持 .yaml/.yml/.xlsx"),
        ("kb.yaml", "articles: [\n", "无法读取 YAML"),
        ("kb.yaml", "title: 空\n", "需要 articles 列表"),
        ("kb.yaml", "articles: []\n", "文件中没有条目"),
        ("kb.xlsx", "not a workbook", "不是有效的 Excel 文件"),
    ],
)
def test_unreadable_files_are_refused(session, clock, tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content, "utf-8")
    with pytest.raises(InvalidInput, match=message):
        files.import_file(session, clock, path)


@pytest.mark.parametrize("suffix", ["yaml", "xlsx"])
def test_an_export_imports_back_to_the_same_articles(session, clock, demo, tmp_path, suffix):
    card = service.list_articles(session, q=SOCIAL_CARD)[1][0]
    service.deactivate(session, clock, card.id)
    before = [files.entry(a) for a in service.all_articles(session)]
    path = tmp_path / f"kb.{suffix}"
    assert files.export_file(session, path) == 28
    assert [fields for _, fields in files.read(path)] == before
    assert files.import_file(session, clock, path) == service.ImportResult(0, 0, 28)
    service.update(session, clock, card.id, answer="临时改动", active=True)
    assert files.import_file(session, clock, path) == service.ImportResult(0, 1, 27)
    assert [files.entry(a) for a in service.all_articles(session)] == before


def test_the_excel_export_is_laid_out_for_officials(session, clock, demo, tmp_path):
    article(session, clock, answer='=HYPERLINK("http://example.com") 不是公式')
    path = tmp_path / "kb.xlsx"
    files.export_file(session, path)
    book = load_workbook(path)
    sheet = book["知识库"]
    assert [c.value for c in sheet[1]] == list(files.COLUMNS)
    assert sheet.freeze_panes == "B2" and sheet.max_row == 30
    assert "一行一种问法" in book["说明"]["B4"].value
    assert sheet["C30"].data_type == "s" and sheet["C30"].value.startswith("=HYPERLINK")
    assert files.import_file(session, clock, path).unchanged == 29  # text, read back as text


# ---------------------------------------------------------------------------------------------
# API


@pytest.fixture
def api(client, city, clock, session):
    client.app.dependency_overrides[get_clock] = lambda: clock
    files.install_demo(session, clock)
    return client


@pytest.fixture
def as_(api):
    """`as_("operator")`: the persona's auth header, logged in once per test (argon2 is slow)."""
    tokens: dict[str, dict] = {}

    def headers(username: str) -> dict:
        if username not in tokens:
            body = {"username": username, "password": DEMO_PASSWORD}
            token = api.post("/api/v1/auth/login", json=body).json()["token"]
            tokens[username] = {"Authorization": f"Bearer {token}"}
        return tokens[username]

    return headers


def test_staff_read_the_knowledge_base_and_the_public_does_not(api, as_):
    assert api.get("/api/v1/kb/articles").status_code == 401
    assert api.get("/api/v1/kb/articles", headers=as_("resident")).status_code == 403
    for staff in ("operator", "department_staff", "grid_worker"):
        page = api.get("/api/v1/kb/articles", params={"q": "公积金"}, headers=as_(staff))
        assert page.status_code == 200 and page.json()["total"] == 2
    first = page.json()["items"][0]
    one = api.get(f"/api/v1/kb/articles/{first['id']}", headers=as_("operator"))
    assert one.json() == first and first["category_code"] == "topic:B0501"
    assert api.get("/api/v1/kb/articles/999999", headers=as_("operator")).status_code == 404


def test_only_an_administrator_writes_and_a_delete_deactivates(api, as_):
    url = "/api/v1/kb/articles"
    body = {
        "title": "燃气开户",
        "question": "新房子怎么开通燃气",
        "answer": "携带房产证明和身份证到燃气企业营业厅办理。",
        "category_code": "topic:D0305",
    }
    assert api.post(url, json=body).status_code == 401
    for role in ("operator", "supervisor", "resident"):
        assert api.post(url, json=body, headers=as_(role)).status_code == 403
    admin, op = as_("admin"), as_("operator")
    made = api.post(url, json=body, headers=admin)
    assert made.status_code == 201 and made.json()["active"] is True
    assert api.post(url, json=body, headers=admin).status_code == 409
    one = f"{url}/{made.json()['id']}"
    assert api.patch(one, json={"source": "燃气公司"}, headers=op).status_code == 403
    patched = api.patch(one, json={"source": "燃气公司", "category_code": None}, headers=admin)
    assert patched.status_code == 200
    assert (patched.json()["source"], patched.json()["category_code"]) == ("燃气公司", None)
    assert api.delete(one, headers=op).status_code == 403
    assert api.delete(one, headers=admin).status_code == 204
    assert api.get(one, headers=op).json()["active"] is False
    inactive = api.get(url, params={"active": False}, headers=op).json()
    assert [a["title"] for a in inactive["items"]] == ["燃气开户"]


def test_invalid_articles_are_refused_with_bilingual_messages(api, as_):
    url, admin = "/api/v1/kb/articles", as_("admin")
    for body, detail in [
        ({"title": " ", "question": "问", "answer": "答"}, "标题 (title) 不能为空 (is required)"),
        (
            {"title": "燃气", "question": "问", "answer": "答", "category_code": "topic:Z0000"},
            "不在现行事项清单中 (not in the current catalogue)",
        ),
    ]:
        response = api.post(url, json=body, headers=admin)
        assert response.status_code == 422 and detail in response.json()["detail"]
    card = api.get(url, params={"q": SOCIAL_CARD}, headers=admin).json()["items"][0]["id"]
    blank = api.patch(f"{url}/{card}", json={"answer": None}, headers=admin)
    assert blank.status_code == 422 and "答复 (answer) 不能为空" in blank.json()["detail"]
    typed = api.patch(f"{url}/{card}", json={"active": "yes"}, headers=admin)
    assert typed.status_code == 422  # strictly typed: "yes" is not read as true


def test_the_answering_roles_ask_for_suggestions(api, as_):
    url, params = "/api/v1/kb/suggest", {"q": "我的社保卡丢了，要去哪里补办"}
    for role in ("operator", "dispatcher", "supervisor", "admin"):
        found = api.get(url, params=params, headers=as_(role))
        assert found.status_code == 200 and found.json()[0]["title"] == SOCIAL_CARD
    assert set(found.json()[0]) == {"article_id", "title", "answer", "score"}
    for role in ("grid_worker", "department_staff", "resident"):
        assert api.get(url, params=params, headers=as_(role)).status_code == 403
    op = as_("operator")
    none = api.get(url, params={"q": "今天天气真好"}, headers=op)
    assert none.status_code == 200 and none.json() == []
    assert api.get(url, params={"q": ""}, headers=op).status_code == 422
    card = found.json()[0]["article_id"]
    api.delete(f"/api/v1/kb/articles/{card}", headers=as_("admin"))
    after = api.get(url, params=params, headers=op).json()
    assert card not in [a["article_id"] for a in after]


def test_the_list_costs_a_fixed_number_of_queries(api, as_, count_queries):
    op = as_("operator")
    with count_queries() as few:
        api.get("/api/v1/kb/articles", params={"limit": 1}, headers=op)
    with count_queries() as many:
        api.get("/api/v1/kb/articles", params={"limit": 28}, headers=op)
    assert many.count == few.count


# ---------------------------------------------------------------------------------------------
# CLI

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_the_cli_imports_lists_suggests_and_exports(cli_env, tmp_path):
    assert run("init").exit_code == 0
    imported = run("kb", "import", str(files.DEMO))
    assert imported.exit_code == 0 and "新增 created 28" in imported.output
    again = run("kb", "import", str(files.DEMO))
    assert "未变 unchanged 28" in again.output
    listed = json.loads(run("kb", "list", "--json", "--q", "公积金").output)
    assert listed["total"] == 2 and listed["items"][0]["category_code"] == "topic:B0501"
    suggested = run("kb", "suggest", "社保卡丢了怎么补办")
    assert suggested.exit_code == 0 and SOCIAL_CARD in suggested.output
    first = json.loads(run("kb", "suggest", "社保卡丢了怎么补办", "--json", "--k", "1").output)
    assert [a["title"] for a in first] == [SOCIAL_CARD]
    assert "没有匹配的答复" in run("kb", "suggest", "今天天气真好").output
    path = tmp_path / "kb.xlsx"
    assert run("kb", "export", str(path)).exit_code == 0
    assert load_workbook(path)["知识库"].max_row == 29
    assert "共 28 条" in run("kb", "list").output


def test_the_cli_refuses_a_bad_file_naming_the_line(cli_env, tmp_path):
    run("init")
    path = tmp_path / "bad.yaml"
    path.write_text(BAD_YAML, "utf-8")
    result = run("kb", "import", str(path))
    assert result.exit_code == 1
    assert "bad.yaml:line 5: 答复 (answer) 缺失" in result.output
    assert json.loads(run("kb", "list", "--json", "--all").output)["total"] == 0

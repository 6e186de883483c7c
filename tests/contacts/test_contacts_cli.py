"""`relaylane contacts import|list|show|delete`, run as a user runs them against a real
store: bad rows reported but not fatal, duplicates, mapping, re-import, JSON shapes."""

from __future__ import annotations

import time
from pathlib import Path

from relaylane.cli.app import app
from relaylane.cli.contacts import ROLE_WARNING
from tests.cli_run import as_json, one_relay_config, run, runner, words


def write_config(tmp_path: Path, store_url: str) -> str:
    return one_relay_config(tmp_path, store_url, "news", "marketing")


PEOPLE = (
    "Email,First,Last,Signed up\n"
    "ann@a.test,Ann,Ames,2024-05-01\n"  # line 2
    "not-an-address,Bad,Row,\n"  # line 3: bad
    "bob@b.test,Bob,,\n"  # line 4
    "ANN@a.test,Ann again,,\n"  # line 5: duplicate of line 2
    "info@c.test,,,\n"  # line 6: a role account
    "carl@c.test,Carl,Cole,yesterday\n"  # line 7: bad date
    "dora@d.test,Dora\n"  # line 8: too few columns
)
MAP = "email=Email,first_name=First,last_name=Last,subscribed_at=Signed up"


def test_import_reports_bad_rows_duplicates_and_roles_and_stores_the_good(
    tmp_path: Path, store_url: str
) -> None:
    cfg = write_config(tmp_path, store_url)
    csv_file = tmp_path / "people.csv"
    csv_file.write_text(PEOPLE, encoding="utf-8")

    code, out = run("contacts", "import", str(csv_file), "--list", "news", "--map", MAP, "-c", cfg)
    assert code == 0, out  # bad rows are reported, not fatal
    text = words(out)
    assert "line 3: invalid email" in text
    assert "line 7: subscribed_at 'yesterday' is not a date" in text
    assert "line 8: too few columns" in text
    assert "read 7 row(s): imported 3 (3 new, 0 updated), 3 bad, 1 duplicate(s)" in text
    assert "1 role account(s)" in text and ROLE_WARNING in text

    shown = as_json("contacts", "show", "ann@a.test", "-c", cfg)
    assert shown["attributes"] == {"first_name": "Ann", "last_name": "Ames"}
    assert [(m["list"], m["status"], m["subscribed_at"]) for m in shown["lists"]] == [
        ("news", "subscribed", "2024-05-01T00:00:00Z")
    ]


def test_import_json_shape(tmp_path: Path, store_url: str) -> None:
    cfg = write_config(tmp_path, store_url)
    csv_file = tmp_path / "people.csv"
    csv_file.write_text(PEOPLE, encoding="utf-8")
    report = as_json("contacts", "import", str(csv_file), "--list", "news", "--map", MAP, "-c", cfg)
    assert report == {
        "file": str(csv_file),
        "list": "news",
        "rows": 7,
        "imported": {"new": 3, "updated": 0},
        "bad": 3,
        "bad_rows": [
            {"line": 3, "reason": report["bad_rows"][0]["reason"]},
            {"line": 7, "reason": report["bad_rows"][1]["reason"]},
            {"line": 8, "reason": "too few columns: 2, the header has 4"},
        ],
        "duplicates": 1,
        "role_accounts": 1,
        "kept_unsubscribed": 0,
        "confirmations_queued": 0,
        "warnings": [ROLE_WARNING],
    }
    assert report["bad_rows"][0]["reason"].startswith("invalid email")


def test_reimport_updates_attributes_and_keeps_unsubscribed(tmp_path: Path, store_url: str) -> None:
    from relaylane.config import load_config
    from relaylane.store import open_store
    from relaylane.store.schema import list_members

    cfg = write_config(tmp_path, store_url)
    first = tmp_path / "first.csv"
    first.write_text("email,first_name,city\nann@a.test,Ann,Oslo\nbob@b.test,Bob,Rome\n")
    assert run("contacts", "import", str(first), "--list", "news", "-c", cfg)[0] == 0

    store = open_store(load_config(Path(cfg), {}).store.url)
    try:
        with store.engine.begin() as conn:
            conn.execute(list_members.update().values(status="unsubscribed"))  # both left
    finally:
        store.close()

    second = tmp_path / "second.csv"
    second.write_text("email,first_name,plan\nann@a.test,Annie,pro\ncid@c.test,Cid,\n")
    report = as_json("contacts", "import", str(second), "--list", "news", "-c", cfg)
    assert report["imported"] == {"new": 1, "updated": 1}
    assert report["kept_unsubscribed"] == 1
    code, out = run("contacts", "import", str(second), "--list", "news", "-c", cfg)
    assert code == 0 and "1 had unsubscribed from news and stay unsubscribed" in words(out)

    ann = as_json("contacts", "show", "ann@a.test", "-c", cfg)
    assert ann["attributes"] == {"first_name": "Annie", "city": "Oslo", "plan": "pro"}
    assert [m["status"] for m in ann["lists"]] == ["unsubscribed"]


def test_list_show_delete(tmp_path: Path, store_url: str) -> None:
    cfg = write_config(tmp_path, store_url)
    news = tmp_path / "news.csv"
    news.write_text("email,first_name,source\nann@a.test,Ann,fair\nbob@b.test,Bob,\n")
    other = tmp_path / "other.csv"
    other.write_text("email\nann@a.test\ncid@c.test\n")
    assert run("contacts", "import", str(news), "--list", "news", "-c", cfg)[0] == 0
    assert run("contacts", "import", str(other), "--list", "other", "-c", cfg)[0] == 0

    everyone = as_json("contacts", "list", "-c", cfg)
    assert [c["email"] for c in everyone] == ["ann@a.test", "bob@b.test", "cid@c.test"]
    assert set(everyone[0]) == {"id", "email", "attributes", "created_at", "updated_at"}
    on_other = as_json("contacts", "list", "--list", "other", "-c", cfg)
    assert [(c["email"], c["status"]) for c in on_other] == [
        ("ann@a.test", "subscribed"),
        ("cid@c.test", "subscribed"),
    ]
    assert len(as_json("contacts", "list", "--limit", "1", "-c", cfg)) == 1
    code, out = run("contacts", "list", "--list", "news", "-c", cfg)
    assert code == 0 and "ann@a.test" in out and "first_name=Ann" in out

    code, out = run("contacts", "show", "ann@a.test", "-c", cfg)
    assert code == 0 and "first_name: Ann" in out and "fair" in out
    shown = as_json("contacts", "show", "ann@a.test", "-c", cfg)
    assert set(shown) == {"id", "email", "attributes", "created_at", "updated_at", "lists"}
    assert [(m["list"], m["source"]) for m in shown["lists"]] == [("news", "fair"), ("other", None)]

    # asked, and declined: nothing erased
    result = runner.invoke(app, ["contacts", "delete", "ann@a.test", "-c", cfg], input="n\n")
    assert result.exit_code == 1 and "nothing erased" in result.output
    assert run("contacts", "show", "ann@a.test", "-c", cfg)[0] == 0

    code, out = run("contacts", "delete", "ann@a.test", "--yes", "-c", cfg)
    assert code == 0, out
    assert (
        "erased ann@a.test: the contact, 1 attribute(s) and 2 list membership(s) (news, other)"
        in words(out)
    )
    code, out = run("contacts", "show", "ann@a.test", "-c", cfg)
    assert code == 1 and "no contact ann@a.test" in out
    assert run("contacts", "delete", "ann@a.test", "--yes", "-c", cfg)[0] == 1


def test_usage_errors_exit_2(tmp_path: Path, store_url: str) -> None:
    cfg = write_config(tmp_path, store_url)
    csv_file = tmp_path / "people.csv"
    csv_file.write_text("Name,Address\nAnn,ann@a.test\n")

    code, out = run("contacts", "import", str(csv_file), "--list", "news", "-c", cfg)
    assert code == 2 and "no email column" in words(out)
    code, out = run(
        "contacts", "import", str(csv_file), "--list", "news", "--map", "first=Name", "-c", cfg
    )
    assert code == 2 and "no email field" in words(out)
    code, out = run(
        "contacts", "import", str(csv_file), "--list", "news", "--map", "email=Mail", "-c", cfg
    )
    assert code == 2 and "'Mail' (for email) is not in the header" in words(out)
    code, out = run("contacts", "import", str(csv_file), "--list", "Spring News", "-c", cfg)
    assert code == 2 and "is not a list name" in words(out)
    code, out = run("contacts", "import", str(tmp_path / "nope.csv"), "--list", "news", "-c", cfg)
    assert code == 2 and "is not a file" in words(out)
    assert as_json("contacts", "list", "-c", cfg) == []  # nothing stored

    # every row refused: nothing stored, exit 1
    all_bad = tmp_path / "bad.csv"
    all_bad.write_text("email\nnope\n")
    assert run("contacts", "import", str(all_bad), "--list", "news", "-c", cfg)[0] == 1


def test_twenty_thousand_rows(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, f"sqlite:///{tmp_path / 'relaylane.db'}")
    big = tmp_path / "big.csv"
    with big.open("w", encoding="utf-8", newline="") as out:
        out.write("\ufeffEmail,First Name,Plan\r\n")  # a BOM, as spreadsheets write it
        for i in range(20_000):
            if i % 1000 == 7:
                out.write(f"broken-{i},x,y\r\n")  # 20 bad rows
            elif i % 1000 == 8:
                out.write(f"person{i - 2}@big.test,dup,y\r\n")  # 20 duplicates
            else:
                out.write(f"person{i}@big.test,P{i},{'pro' if i % 2 else 'free'}\r\n")
    started = time.monotonic()
    report = as_json("contacts", "import", str(big), "--list", "big", "-c", cfg)
    took = time.monotonic() - started
    assert report["rows"] == 20_000
    assert report["imported"] == {"new": 19_960, "updated": 0}
    assert (report["bad"], report["duplicates"], len(report["bad_rows"])) == (20, 20, 20)
    assert report["bad_rows"][0]["line"] == 9  # header line 1, row i on line i + 2
    assert took < 10, took

    again = as_json("contacts", "import", str(big), "--list", "big", "-c", cfg)
    assert again["imported"] == {"new": 0, "updated": 19_960}
    page = as_json("contacts", "list", "--list", "big", "--limit", "2", "-c", cfg)
    assert [(c["email"], c["attributes"]) for c in page] == [
        ("person0@big.test", {"first_name": "P0", "plan": "free"}),
        ("person1@big.test", {"first_name": "P1", "plan": "pro"}),
    ]


def test_progress_bar_path_imports_the_same(tmp_path: Path) -> None:
    from relaylane.cli.contacts import _read_file
    from relaylane.store import open_store

    csv_file = tmp_path / "people.csv"
    csv_file.write_text("email,first_name\n" + "".join(f"p{i}@x.test,P\n" for i in range(2500)))
    store = open_store(f"sqlite:///{tmp_path / 'relaylane.db'}")
    try:
        list_id = store.contacts.ensure_list("news")
        tally = _read_file(csv_file, None, store, list_id, progress=True)
    finally:
        store.close()
    assert (tally.summary.rows, tally.new, tally.updated) == (2500, 2500, 0)


def test_a_file_that_is_not_utf8_is_a_usage_error(tmp_path: Path) -> None:
    cfg = write_config(tmp_path, f"sqlite:///{tmp_path / 'relaylane.db'}")
    latin = tmp_path / "latin1.csv"
    latin.write_bytes("email,city\nann@a.test,Zürich\n".encode("latin-1"))
    code, out = run("contacts", "import", str(latin), "--list", "news", "-c", cfg)
    assert code == 2 and "is not UTF-8" in words(out)

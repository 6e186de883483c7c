"""`relaylane template add|list|show|preview`, run as a user runs them against a real store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from relaylane.cli.app import app
from relaylane.store import open_store
from relaylane.store.schema import contacts, templates
from tests.cli_run import as_json, one_relay_config, run, runner, words

HTML = """<h1>Hello {{ first_name | default('there') }}</h1>
<p>Your plan: {{ plan }}.</p>
<p>Sent to {{ contact.email }}.</p>
"""


def write(tmp_path: Path, store_url: str) -> str:
    return one_relay_config(tmp_path, store_url, "tx", "transactional")


def add(
    tmp_path: Path, cfg: str, name: str, subject: str, html: str, text: str | None = None
) -> tuple[int, str]:
    html_file = tmp_path / f"{name}.html"
    html_file.write_text(html)
    args = ["template", "add", name, "--subject", subject, "--html-file", str(html_file)]
    if text is not None:
        text_file = tmp_path / f"{name}.txt"
        text_file.write_text(text)
        args += ["--text-file", str(text_file)]
    return run(*args, "-c", cfg)


def insert_contact(store_url: str, email: str, key: str, attributes: dict[str, Any]) -> None:
    store = open_store(store_url)
    try:
        with store.engine.begin() as conn:
            conn.execute(
                contacts.insert().values(
                    email=email,
                    email_key=key,
                    attributes=json.dumps(attributes),
                    created_at=1.0,
                    updated_at=1.0,
                )
            )
    finally:
        store.close()


def test_add_list_show_with_versions(tmp_path: Path, store_url: str) -> None:
    cfg = write(tmp_path, store_url)
    code, out = add(tmp_path, cfg, "welcome", "Hi {{ first_name }}", HTML)
    assert code == 0, out
    assert "added template welcome version 1" in words(out)
    html_file = tmp_path / "v2.html"
    html_file.write_text("<p>two</p>")
    text_file = tmp_path / "v2.txt"
    text_file.write_text("two")
    added = as_json(
        "template",
        "add",
        "welcome",
        "--subject",
        "Two",
        "--html-file",
        str(html_file),
        "--text-file",
        str(text_file),
        "-c",
        cfg,
    )
    assert added == {"name": "welcome", "version": 2}

    listed = as_json("template", "list", "-c", cfg)
    assert len(listed) == 1
    assert listed[0]["name"] == "welcome" and listed[0]["latest"] == 2
    assert listed[0]["versions"] == 2 and listed[0]["subject"] == "Two"
    assert set(listed[0]) == {"name", "latest", "versions", "subject", "updated_at"}
    code, out = run("template", "list", "-c", cfg)
    assert code == 0 and "welcome" in out and "1 template(s)" in out

    shown = as_json("template", "show", "welcome", "-c", cfg)
    assert (shown["version"], shown["subject"], shown["html"], shown["text"]) == (
        2,
        "Two",
        "<p>two</p>",
        "two",
    )
    assert [v["version"] for v in shown["versions"]] == [1, 2]
    assert set(shown) == {"name", "version", "subject", "html", "text", "created_at", "versions"}
    first = as_json("template", "show", "welcome", "--version", "1", "-c", cfg)
    assert first["html"] == HTML and first["text"] is None
    code, out = run("template", "show", "welcome", "--version", "1", "-c", cfg)
    assert code == 0, out
    assert "template welcome version 1 (of 2)" in out and "{{ plan }}" in out
    assert "generated from the HTML" in out


def test_a_bad_template_is_refused_with_its_line_and_nothing_stored(
    tmp_path: Path, store_url: str
) -> None:
    cfg = write(tmp_path, store_url)
    code, out = add(tmp_path, cfg, "welcome", "Hi", "<p>one</p>\n<p>{% if x %}</p>\n")
    assert code == 1
    assert 'template "welcome" v1, html line 2: syntax error' in words(out)
    code, out = add(tmp_path, cfg, "Bad Name", "Hi", "<p>x</p>")
    assert code == 2 and "not a valid template name" in words(out)
    code, out = run(
        "template",
        "add",
        "x",
        "--subject",
        "s",
        "--html-file",
        str(tmp_path / "missing.html"),
        "-c",
        cfg,
    )
    assert code == 2 and "cannot read" in words(out)
    assert as_json("template", "list", "-c", cfg) == []
    store = open_store(store_url)
    try:
        with store.engine.connect() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(templates)).scalar() == 0
    finally:
        store.close()


def test_show_and_preview_of_unknown_templates(tmp_path: Path, store_url: str) -> None:
    cfg = write(tmp_path, store_url)
    add(tmp_path, cfg, "welcome", "Hi", "<p>x</p>")
    code, out = run("template", "show", "welcom", "-c", cfg)
    assert code == 1 and 'no template "welcom"; known templates: welcome' in words(out)
    code, out = run(
        "template", "preview", "welcome", "--version", "4", "--contact", "a@b.test", "-c", cfg
    )
    assert code == 1 and "has no version 4; its versions: 1" in words(out)


def test_preview_with_a_stored_contact_and_field_overrides(tmp_path: Path, store_url: str) -> None:
    cfg = write(tmp_path, store_url)
    add(tmp_path, cfg, "welcome", "Hi {{ first_name }}", HTML)
    insert_contact(
        store_url, "Ada@Example.test", "ada@example.test", {"first_name": "Ada", "plan": "pro"}
    )

    shown = as_json("template", "preview", "welcome", "--contact", "ADA@example.test", "-c", cfg)
    assert shown["subject"] == "Hi Ada"
    assert shown["stored_contact"] is True and shown["contact"] == "Ada@Example.test"
    assert "<h1>Hello Ada</h1>" in shown["html"] and "Your plan: pro." in shown["html"]
    assert "Sent to Ada@Example.test." in shown["text"] and shown["text_generated"] is True
    assert shown["fields"] == {"email": "Ada@Example.test", "first_name": "Ada", "plan": "pro"}
    assert set(shown) == {
        "template",
        "version",
        "contact",
        "stored_contact",
        "fields",
        "subject",
        "text",
        "html",
        "text_generated",
    }

    overridden = as_json(
        "template",
        "preview",
        "welcome",
        "--contact",
        "ada@example.test",
        "--field",
        "plan=free",
        "--field",
        "first_name=A=B",
        "-c",
        cfg,
    )
    assert overridden["subject"] == "Hi A=B" and "Your plan: free." in overridden["html"]

    code, out = run("template", "preview", "welcome", "--contact", "ada@example.test", "-c", cfg)
    assert code == 0, out
    assert "template welcome version 1 for Ada@Example.test (stored contact)" in out
    assert "subject: Hi Ada" in out and "--- text (generated from the HTML) ---" in out
    assert "<h1>Hello Ada</h1>" in out


def test_preview_without_a_stored_contact_uses_the_email(tmp_path: Path, store_url: str) -> None:
    cfg = write(tmp_path, store_url)
    add(tmp_path, cfg, "welcome", "Hi {{ first_name | default('there') }}", HTML)
    shown = as_json(
        "template",
        "preview",
        "welcome",
        "--contact",
        "bob@example.test",
        "--field",
        "plan=basic",
        "-c",
        cfg,
    )
    assert shown["stored_contact"] is False
    assert shown["fields"] == {"email": "bob@example.test", "plan": "basic"}
    assert shown["subject"] == "Hi there" and "Sent to bob@example.test." in shown["html"]
    code, out = run("template", "preview", "welcome", "--contact", "not-an-address", "-c", cfg)
    assert code == 2 and "--contact" in out
    code, out = run(
        "template",
        "preview",
        "welcome",
        "--contact",
        "bob@example.test",
        "--field",
        "plan",
        "-c",
        cfg,
    )
    assert code == 2 and "is not key=value" in words(out)


def test_preview_of_an_undefined_variable_names_part_line_and_variable(
    tmp_path: Path, store_url: str
) -> None:
    cfg = write(tmp_path, store_url)
    add(tmp_path, cfg, "welcome", "Hi", HTML)  # uses {{ plan }} on line 2
    code, out = run("template", "preview", "welcome", "--contact", "bob@example.test", "-c", cfg)
    assert code == 1
    assert 'template "welcome" v1, html line 2: "plan" is undefined' in words(out)
    assert "variable plan" in words(out)
    result = runner.invoke(
        app,
        ["template", "preview", "welcome", "--contact", "bob@example.test", "-c", cfg, "--json"],
    )
    assert result.exit_code == 1
    error = json.loads(result.output)["error"]
    assert {k: error[k] for k in ("template", "version", "part", "line", "variable")} == {
        "template": "welcome",
        "version": 1,
        "part": "html",
        "line": 2,
        "variable": "plan",
    }
    assert error["problem"] == '"plan" is undefined' and error["fix"]


def test_preview_truncates_long_html_unless_full(tmp_path: Path, store_url: str) -> None:
    cfg = write(tmp_path, store_url)
    add(tmp_path, cfg, "long", "Hi", "<p>" + "x" * 5000 + "</p>END", text="short")
    code, out = run("template", "preview", "long", "--contact", "bob@example.test", "-c", cfg)
    assert code == 0, out
    assert "</p>END" not in out and "1,010 more characters; --full shows all" in out
    assert "--- text ---" in out
    code, out = run(
        "template", "preview", "long", "--contact", "bob@example.test", "--full", "-c", cfg
    )
    assert code == 0 and "</p>END" in out and "more characters" not in out
    shown = as_json("template", "preview", "long", "--contact", "bob@example.test", "-c", cfg)
    assert shown["html"].endswith("END") and shown["text"] == "short"

"""The template store (SQLite and PostgreSQL): versions, the latest by default, refusals."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from relaylane.campaigns.render import RenderError, Template, compile_template
from relaylane.errors import InputError, NotFoundError
from relaylane.store import Store
from relaylane.store.schema import templates
from relaylane.store.templates import TemplateNotFound


def count(store: Store) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(templates)).scalar_one())


def test_versions_increase_per_name_and_latest_is_the_default(store: Store) -> None:
    t = store.templates
    assert t.add("welcome", "Hi {{ first_name }}", "<p>v1</p>", None, 100.0) == 1
    assert t.add("welcome", "Hello {{ first_name }}", "<p>v2</p>", "v2 text", 200.0) == 2
    assert t.add("receipt", "Receipt", "<p>r</p>", None, 150.0) == 1
    assert t.get("welcome") == Template(
        "welcome", 2, "Hello {{ first_name }}", "<p>v2</p>", "v2 text"
    )
    assert t.get("welcome", 1) == Template("welcome", 1, "Hi {{ first_name }}", "<p>v1</p>", None)
    assert [(v.version, v.has_text, v.created_at) for v in t.versions("welcome")] == [
        (1, False, 100.0),
        (2, True, 200.0),
    ]
    listed = t.list()
    assert [(s.name, s.latest, s.versions, s.subject, s.updated_at) for s in listed] == [
        ("receipt", 1, 1, "Receipt", 150.0),
        ("welcome", 2, 2, "Hello {{ first_name }}", 200.0),
    ]


def test_an_old_version_stays_what_it_was(store: Store) -> None:
    """A running campaign keeps the version it started with."""
    store.templates.add("news", "One", "<p>1</p>", None, 1.0)
    started_with = store.templates.get("news")
    store.templates.add("news", "Two", "<p>2</p>", None, 2.0)
    assert store.templates.get("news", started_with.version) == started_with
    rendered = compile_template(store.templates.get("news", 1)).render({})
    assert rendered.subject == "One"


def test_a_syntax_error_is_refused_with_its_line_and_nothing_is_stored(store: Store) -> None:
    store.templates.add("welcome", "Hi", "<p>ok</p>", None, 1.0)
    html = "<p>line one</p>\n<p>line two</p>\n<p>{{ first_name }</p>\n"
    with pytest.raises(RenderError) as caught:
        store.templates.add("welcome", "Hi", html, None, 2.0)
    assert caught.value.part == "html" and caught.value.line == 3
    assert caught.value.version == 2
    assert "html line 3" in str(caught.value) and "syntax error" in str(caught.value)
    with pytest.raises(RenderError, match="include"):
        store.templates.add("other", "Hi", "{% include 'x.html' %}", None, 2.0)
    assert count(store) == 1
    assert store.templates.get("welcome").version == 1


@pytest.mark.parametrize("name", ["", "Welcome", "-x", "a b", "x" * 65, "été", "a/b"])
def test_bad_names_are_refused(store: Store, name: str) -> None:
    with pytest.raises(InputError, match="not a valid template name"):
        store.templates.add(name, "Hi", "<p>x</p>", None, 1.0)
    assert count(store) == 0


def test_good_names(store: Store) -> None:
    for name in ("a", "welcome-2026", "spring.news_v2", "0" + "x" * 63):
        assert store.templates.add(name, "Hi", "<p>x</p>", None, 1.0) == 1


def test_unknown_names_and_versions_say_what_exists(store: Store) -> None:
    with pytest.raises(TemplateNotFound, match="no templates yet"):
        store.templates.get("welcome")
    store.templates.add("welcome", "Hi", "<p>x</p>", None, 1.0)
    store.templates.add("receipt", "Hi", "<p>x</p>", None, 1.0)
    with pytest.raises(
        NotFoundError, match='no template "welcom"; known templates: receipt, welcome'
    ):
        store.templates.get("welcom")
    with pytest.raises(TemplateNotFound, match='"welcome" has no version 7; its versions: 1'):
        store.templates.get("welcome", 7)
    with pytest.raises(TemplateNotFound, match="known templates"):
        store.templates.versions("nope")
    assert store.templates.list()[0].name == "receipt"


def test_a_lost_race_retries_once_with_the_next_number(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another writer takes version 2 between our read and our insert (possible on
    PostgreSQL; SQLite's BEGIN IMMEDIATE serialises): the retry stores 3."""
    t = store.templates
    t.add("welcome", "Hi", "<p>1</p>", None, 1.0)
    real = t._add
    calls = 0

    def racing(name: str, subject: str, html: str, text: str | None, now: float) -> int:
        nonlocal calls
        calls += 1
        if calls == 1:
            row = {"name": name, "version": 2, "subject": "theirs", "html": "<p>t</p>"}
            with store.engine.begin() as conn:
                conn.execute(templates.insert().values(**row, created_at=now))
            raise sa.exc.IntegrityError("INSERT INTO templates", {}, Exception("unique"))
        return real(name, subject, html, text, now)

    monkeypatch.setattr(t, "_add", racing)
    assert t.add("welcome", "Mine", "<p>m</p>", None, 2.0) == 3
    assert calls == 2
    assert t.get("welcome").subject == "Mine"
    assert t.get("welcome", 2).subject == "theirs"


def test_a_second_collision_is_not_hidden(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    def always(name: str, subject: str, html: str, text: str | None, now: float) -> int:
        raise sa.exc.IntegrityError("INSERT INTO templates", {}, Exception("unique"))

    monkeypatch.setattr(store.templates, "_add", always)
    with pytest.raises(sa.exc.IntegrityError):
        store.templates.add("welcome", "Hi", "<p>x</p>", None, 1.0)

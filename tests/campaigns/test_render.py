"""Campaign template rendering: variables, defaults, escaping, text part, errors, sandbox."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from relaylane.campaigns.render import (
    CompiledTemplate,
    RenderError,
    Template,
    compile_template,
    html_to_text,
    validate_sample,
)
from relaylane.errors import RelaylaneError

ANA = {"first_name": "Ana", "email": "ana@example.test", "city": "Lyon"}


def compiled(
    html: str = "<p>x</p>", subject: str = "s", text: str | None = None, name: str = "t"
) -> CompiledTemplate:
    return compile_template(Template(name=name, version=1, subject=subject, html=html, text=text))


def render_error(t: CompiledTemplate, fields: Mapping[str, object] | None = None) -> RenderError:
    with pytest.raises(RenderError) as info:
        t.render(ANA if fields is None else fields)
    return info.value


# --- variables and defaults --------------------------------------------------------------


def test_fields_are_variables_at_top_level_and_under_contact() -> None:
    t = compiled(
        subject="Hi {{ first_name }}",
        html="<p>{{ first_name }} / {{ contact.email }} / {{ contact['city'] }}</p>",
        text="{{ contact.first_name }} {{ email }}",
    )
    out = t.render(ANA)
    assert out.subject == "Hi Ana"
    assert out.html == "<p>Ana / ana@example.test / Lyon</p>"
    assert out.text == "Ana ana@example.test"


def test_fields_that_look_like_mapping_methods_are_fields() -> None:
    out = compiled(html="{{ contact.items }} {{ contact.keys }}").render({"items": 3, "keys": "k"})
    assert out.html == "3 k"


def test_a_field_called_contact_does_not_hide_the_contact() -> None:
    out = compiled(html="{{ contact.email }} {{ contact.contact }}").render(
        {"email": "a@b.test", "contact": "Bob"}
    )
    assert out.html == "a@b.test Bob"


def test_default_covers_missing_and_null_fields() -> None:
    t = compiled(
        subject="Hi {{ first_name | default('there') }}",
        html="{{ contact.city | default('your city') }} {{ nick | d('-') }}",
        text="{{ first_name is defined }}",
    )
    assert t.render({}).subject == "Hi there"
    assert t.render({"first_name": None}).subject == "Hi there"
    assert t.render({"first_name": "Bo"}).subject == "Hi Bo"
    assert t.render({}).html == "your city -"
    assert t.render({}).text == "False"
    assert t.render({"first_name": ""}).subject == "Hi "  # empty is a value...
    empty = compiled(subject="Hi {{ first_name | default('there', true) }}")
    assert empty.render({"first_name": ""}).subject == "Hi there"  # ...unless asked


def test_filters_and_control_flow() -> None:
    t = compiled(
        html="{% if vip %}VIP {% endif %}{{ first_name | upper }} {{ tags | join(', ') }}"
        " {{ '%.2f' | format(balance) }} {% for t in tags %}[{{ loop.index }}]{% endfor %}"
    )
    out = t.render({"vip": True, "first_name": "ana", "tags": ["a", "b"], "balance": 3.5})
    assert out.html == "VIP ANA a, b 3.50 [1][2]"


# --- escaping ----------------------------------------------------------------------------


def test_html_is_autoescaped_subject_and_text_are_not() -> None:
    t = compiled(subject="{{ name }}", html="<p>{{ name }}</p>", text="{{ name }}")
    out = t.render({"name": "Tom & <Jerry>"})
    assert out.html == "<p>Tom &amp; &lt;Jerry&gt;</p>"
    assert out.subject == "Tom & <Jerry>"
    assert out.text == "Tom & <Jerry>"


def test_safe_marks_trusted_markup_in_html() -> None:
    out = compiled(html="{{ snippet | safe }}").render({"snippet": "<b>hi</b>"})
    assert out.html == "<b>hi</b>"


def test_generated_text_part_decodes_what_the_html_escaped() -> None:
    out = compiled(html="<p>{{ name }}</p>").render({"name": "Tom & <Jerry>"})
    assert out.text == "Tom & <Jerry>"


# --- subject -----------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["a\nb", "a\r\nb", "a\rb"])
def test_subject_with_line_break_is_refused(value: str) -> None:
    err = render_error(compiled(subject="Re: {{ topic }}"), {"topic": value})
    assert (err.part, err.line, err.variable) == ("subject", None, None)
    assert str(err).startswith('template "t" v1, subject: the rendered subject contains a line')


def test_subject_template_trailing_newline_is_dropped() -> None:
    assert compiled(subject="Hello {{ first_name }}\n").render(ANA).subject == "Hello Ana"


# --- the generated text part -------------------------------------------------------------

LONG = " ".join(["word"] * 40)
URL = "https://example.test/a/very/long/path/that/must/not/be/broken/anywhere/at/all/ok"

HTML_TO_TEXT = [
    ("<p>Hello</p><p>World</p>", "Hello\n\nWorld"),
    ("a<br>b<br/><br>c", "a\nb\n\nc"),
    ("<div>one</div><div>two</div>", "one\ntwo"),
    ("text   with \n\n  spaces <b>bold</b>", "text with spaces bold"),
    ("<h1>Title</h1>intro", "Title\n\nintro"),
    (
        "<p>See <a href='https://x.test/a?b=1&amp;c=2'>our site</a> now.</p>",
        "See our site (https://x.test/a?b=1&c=2) now.",
    ),
    ("<a href='https://x.test'>https://x.test</a>", "https://x.test"),
    ("<a href='mailto:a@b.test'>a@b.test</a>", "a@b.test"),
    ("<a href='mailto:a@b.test'>write</a>", "write (mailto:a@b.test)"),
    ("<a href='#top'>top</a> <a href='javascript:x()'>js</a>", "top js"),
    ("<a href='https://x.test/u'><img src='l.png' alt=''></a>", "https://x.test/u"),
    ("<img src='logo.png' alt='Acme'> news", "Acme news"),
    ("<ul><li>one</li><li>two</li></ul><p>after</p>", "- one\n- two\n\nafter"),
    ("<ol><li>a<ul><li>b</li></ul></li><li>c</li></ol>", "- a\n  - b\n- c"),
    ("<p>x</p><ul><li>a</li></ul>", "x\n\n- a"),
    (
        "<html><head><title>T</title><style>p {color: red}</style></head>"
        "<body><script>alert(1)</script><p>body</p></body></html>",
        "body",
    ),
    ("<p>x &amp; y &lt;z&gt; &eacute; &#8212; &quot;q&quot;</p>", 'x & y <z> é — "q"'),
    ("<p>a&nbsp;b</p>", "a b"),
    ("<table><tr><td>A</td><td>B</td></tr><tr><td>C</td><td>D</td></tr></table>", "A B\nC D"),
    ("<pre>  x = 1  \n  y = 2</pre><p>t</p>", "  x = 1\n  y = 2\n\nt"),
    (f"<p>{LONG}</p>", "\n".join([" ".join(["word"] * 15)] * 2 + [" ".join(["word"] * 10)])),
    (f"<p>Go to <a href='{URL}'>the page</a></p>", f"Go to the page\n({URL})"),
    (
        "<ul><li>" + " ".join(["item"] * 20) + "</li></ul>",
        "- " + " ".join(["item"] * 15) + "\n  " + " ".join(["item"] * 5),
    ),
    ("", ""),
    ("<p> </p><br><br>", ""),
]


@pytest.mark.parametrize(("html", "expected"), HTML_TO_TEXT)
def test_html_to_text(html: str, expected: str) -> None:
    text = html_to_text(html)
    assert text == expected
    for line in text.split("\n"):
        assert line == line.rstrip()
        assert len(line) <= 76 or " " not in line.strip()


def test_nbsp_does_not_break_a_line() -> None:
    text = html_to_text("<p>" + "x" * 72 + " 10&nbsp;km</p>")
    assert text == "x" * 72 + "\n10 km"


def test_text_part_is_generated_only_when_missing() -> None:
    html = "<p>Hi {{ first_name }}, see <a href='https://x.test'>this</a></p>"
    assert compiled(html=html).render(ANA).text == "Hi Ana, see this (https://x.test)"
    assert compiled(html=html, text="Plain {{ first_name }}").render(ANA).text == "Plain Ana"
    assert compiled(html=html, text="").render(ANA).text == ""


# --- errors ------------------------------------------------------------------------------


def test_undefined_variable_names_template_part_line_and_variable() -> None:
    t = compile_template(
        Template("welcome", 3, "Hi", "<p>\n{{ first_name }}\n</p>\n" * 3 + "{{ frist_name }}")
    )
    err = render_error(t)
    assert (err.template, err.version, err.part, err.line) == ("welcome", 3, "html", 10)
    assert err.variable == "frist_name"
    assert str(err) == (
        'template "welcome" v3, html line 10: "frist_name" is undefined; fix the template or '
        "give the contact that field (or use {{ frist_name | default(...) }})"
    )
    assert isinstance(err, ValueError)
    assert isinstance(err, RelaylaneError)


def test_undefined_field_under_contact() -> None:
    err = render_error(compiled(subject="x", text="line\n{{ contact.frist }}"))
    assert (err.part, err.line, err.variable) == ("text", 2, "contact.frist")
    assert "(or use {{ contact.frist | default(...) }})" in str(err)


def test_undefined_in_subject_and_in_expressions() -> None:
    err = render_error(compiled(subject="{{ nope | upper }}"))
    assert (err.part, err.line, err.variable) == ("subject", 1, "nope")
    err = render_error(compiled(html="{% if vip %}x{% endif %}"))
    assert (err.part, err.variable) == ("html", "vip")
    err = render_error(compiled(html="{% for t in tags %}{% endfor %}"))
    assert err.variable == "tags"


def test_missing_attribute_of_a_value() -> None:
    err = render_error(compiled(html="{{ first_name.nope }}"))
    assert err.variable == "nope"
    assert "'str object' has no attribute 'nope'" in err.problem


def test_other_runtime_errors_keep_their_line() -> None:
    err = render_error(compiled(html="a\nb\n{{ 1 / n }}"), {"n": 0})
    assert (err.part, err.line, err.variable) == ("html", 3, None)
    assert "ZeroDivisionError" in err.problem


@pytest.mark.parametrize(
    ("part", "source", "line"),
    [
        ("html", "<p>\n{% if x %}\nno end", 2),  # Jinja points at the unclosed block
        ("html", "{{ first_name }", 1),
        ("subject", "{{ }}", 1),
        ("text", "ok\n\n{% for %}", 3),
        ("html", "{% include 'other' %}{% endblock %}", 1),
    ],
)
def test_syntax_errors_are_render_errors_at_compile_time(part: str, source: str, line: int) -> None:
    parts = {"subject": "s", "html": "<p>x</p>", "text": "t", part: source}
    with pytest.raises(RenderError) as info:
        compile_template(Template("news", 2, parts["subject"], parts["html"], parts["text"]))
    err = info.value
    assert (err.template, err.version, err.part, err.line) == ("news", 2, part, line)
    assert err.variable is None
    assert str(err).startswith(f'template "news" v2, {part} line {line}: syntax error: ')
    assert ".;" not in str(err)


@pytest.mark.parametrize(
    ("source", "tag"),
    [
        ("{% include 'x.html' %}", "include"),
        ("{% extends 'base.html' %}", "extends"),
        ("{% import 'm.html' as m %}", "import"),
        ("{% from 'm.html' import f %}", "from ... import"),
    ],
)
def test_loading_other_templates_is_refused_at_compile_time(source: str, tag: str) -> None:
    with pytest.raises(RenderError) as info:
        compiled(html="<p>\n" + source)
    err = info.value
    assert (err.part, err.line, err.variable) == ("html", 2, None)
    assert f"{{% {tag} %}} is not available" in str(err)


def test_macros_are_available() -> None:
    t = compiled(html="{% macro b(x) %}<b>{{ x }}</b>{% endmacro %}{{ b(first_name) }}")
    assert t.render(ANA).html == "<b>Ana</b>"


# --- the sandbox -------------------------------------------------------------------------

ESCAPES = [
    ("{{ ''.__class__ }}", "__class__"),
    ("{{ ''.__class__.__mro__[1].__subclasses__() }}", "__class__"),
    ("{{ contact.__init__ }}", "__init__"),
    ("{{ contact.__class__ }}", "__class__"),
    ("{{ contact._fields }}", "_fields"),
    ("{{ cycler.__init__.__globals__ }}", "__init__"),
    ("{{ joiner.__init__.__globals__ }}", "__init__"),
    ("{{ lipsum.__globals__ }}", "__globals__"),
    ("{{ namespace.__init__ }}", "__init__"),
    ("{{ range.__self__ }}", "__self__"),
    ("{{ first_name.upper.__self__ }}", "__self__"),
    ("{{ first_name.upper.__globals__ }}", "__globals__"),
    ("{{ self.__init__ }}", "__init__"),
    ("{{ self._TemplateReference__context }}", "_TemplateReference__context"),
    ("{{ (1).__class__ }}", "__class__"),
    ("{{ contact['__class__'] }}", "__class__"),
    ("{{ ''['__class__'] }}", "__class__"),
    ("{{ tags.append(1) }}", "append"),
    ("{{ prefs.update({'a': 1}) }}", "update"),
    ("{{ prefs.pop('x') }}", "pop"),
    ("{{ ''.__class__ | attr('x') }}", "__class__"),
    ("{{ first_name | attr('__class__') }}", None),
]


@pytest.mark.parametrize(("source", "name"), ESCAPES)
@pytest.mark.parametrize("part", ["subject", "html", "text"])
def test_sandbox_refuses_python_internals(source: str, name: str | None, part: str) -> None:
    parts = {"subject": "s", "html": "h", "text": "t", part: source}
    t = compile_template(Template("evil", 1, parts["subject"], parts["html"], parts["text"]))
    fields = {**ANA, "tags": ["a"], "prefs": {"x": 1}}
    err = render_error(t, fields)
    assert err.part == part
    assert err.line == 1
    assert "refused by the sandbox" in err.problem or "is undefined" in err.problem
    if name is not None:
        assert err.variable == name
    for leak in ("<class", "<function", "<built-in", "<bound", "{'", "0x"):
        assert leak not in str(err)


def test_sandbox_refusal_message() -> None:
    err = render_error(compiled(html="ok\n{{ ''.__class__ }}"))
    assert str(err) == (
        'template "t" v1, html line 2: refused by the sandbox: access to attribute '
        "'__class__' of 'str' object is unsafe; templates may not use names starting with "
        "an underscore, Python internals or methods that modify data; remove that expression"
    )


def test_default_never_reveals_a_refused_value() -> None:
    out = compiled(html="{{ ''.__class__ | default('x') }}").render(ANA)
    assert out.html == "x"


def test_sandbox_caps_range() -> None:
    err = render_error(compiled(html="{{ range(10 ** 7) | list | length }}"))
    assert "Range too big" in err.problem


def test_rendering_does_not_change_the_contact() -> None:
    fields: dict[str, object] = {"tags": ["a"], "first_name": "Ana"}
    with pytest.raises(RenderError):
        compiled(html="{{ tags.append('b') }}").render(fields)
    assert fields == {"tags": ["a"], "first_name": "Ana"}


# --- validate_sample ---------------------------------------------------------------------


def test_validate_sample_passes_good_contacts() -> None:
    t = compiled(subject="Hi {{ first_name | default('there') }}", html="{{ email }}")
    assert validate_sample(t, [ANA, {"email": "b@example.test"}]) == []
    assert validate_sample(t, []) == []


def test_validate_sample_reports_each_distinct_error_once() -> None:
    t = compiled(subject="Hi {{ first_name }}", html="{{ email }}{{ contact.city }}")
    samples: list[Mapping[str, object]] = [
        ANA,
        {"email": "b@example.test", "city": "Oslo"},  # no first_name
        {"email": "c@example.test", "city": "Rome"},  # no first_name (same error)
        {"first_name": "Di", "email": "d@example.test"},  # no city
        {"first_name": "Ed", "city": "Riga", "email": "e@example.test", "x": 1},
        {"first_name": "Fa", "email": "f@example.test", "city": "Bonn"},
        {"first_name": "Gu", "city": "Nice", "email": None},  # null email
    ]
    errors = validate_sample(t, samples)
    assert [(e.part, e.variable) for e in errors] == [
        ("subject", "first_name"),
        ("html", "contact.city"),
        ("html", "email"),
    ]


def test_compiled_template_renders_many_contacts_independently() -> None:
    t = compiled(subject="Hi {{ first_name | default('there') }}")
    subjects = [t.render({"first_name": n}).subject for n in ("A", "B")] + [t.render({}).subject]
    assert subjects == ["Hi A", "Hi B", "Hi there"]

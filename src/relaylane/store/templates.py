"""Campaign templates at rest: every version is kept, and a version never changes.

`add` stores the next version of a name (1 for a new name) after compiling it, so a
template with a syntax error is never stored. A campaign records the version it started
with and reads exactly that one back (`get(name, version)`); adding a new version later
does not change what a running campaign sends.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sqlalchemy as sa

from relaylane.campaigns.render import Template, compile_template
from relaylane.errors import InputError, NotFoundError
from relaylane.store.engine import reading
from relaylane.store.schema import templates

T = templates.c

NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
NAME_RULE = (
    "1 to 64 characters: lower-case letters, digits, '.', '_' and '-', "
    "starting with a letter or digit (e.g. welcome-2026)"
)


class TemplateNotFound(NotFoundError):
    """No template `name` (or not that `version` of it); `known` lists what exists."""

    def __init__(self, name: str, version: int | None, known: list[str]) -> None:
        self.name = name
        self.version = version
        self.known = known
        if version is None:
            what = f'no template "{name}"'
            where = (
                "known templates: " + ", ".join(known)
                if known
                else "there are no templates yet; add one with `relaylane template add`"
            )
        else:
            what = f'template "{name}" has no version {version}'
            where = "its versions: " + ", ".join(known)
        super().__init__(f"{what}; {where}")


@dataclass(frozen=True, slots=True)
class TemplateVersion:
    """One stored version, without its source."""

    name: str
    version: int
    subject: str
    has_text: bool  # False: the text part is generated from the HTML
    created_at: float


@dataclass(frozen=True, slots=True)
class TemplateSummary:
    """A template's latest version and how many versions it has."""

    name: str
    latest: int
    versions: int
    subject: str  # of the latest version
    updated_at: float  # when the latest version was added


def check_name(name: str) -> str:
    if not NAME.fullmatch(name):
        raise InputError("NAME", f"{name!r} is not a valid template name", NAME_RULE)
    return name


class SqlTemplates:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def add(self, name: str, subject: str, html: str, text: str | None, now: float) -> int:
        """Store the next version of `name`; returns its number.

        Compiles it first: a template that does not compile raises RenderError (with the
        part and line) and nothing is stored. Two writers adding the same name at once
        collide on the unique (name, version); the loser retries once with the next number.
        """
        check_name(name)
        try:
            return self._add(name, subject, html, text, now)
        except sa.exc.IntegrityError:
            return self._add(name, subject, html, text, now)

    def _add(self, name: str, subject: str, html: str, text: str | None, now: float) -> int:
        with self.engine.begin() as conn:
            newest = conn.execute(sa.select(sa.func.max(T.version)).where(T.name == name))
            version = int(newest.scalar() or 0) + 1
            compile_template(Template(name, version, subject, html, text))
            conn.execute(
                templates.insert().values(
                    name=name,
                    version=version,
                    subject=subject,
                    html=html,
                    text=text,
                    created_at=now,
                )
            )
        return version

    def get(self, name: str, version: int | None = None) -> Template:
        """That version of `name`, or its latest when `version` is None."""
        stmt = sa.select(T.name, T.version, T.subject, T.html, T.text).where(T.name == name)
        if version is None:
            stmt = stmt.order_by(T.version.desc()).limit(1)
        else:
            stmt = stmt.where(T.version == version)
        with reading(self.engine) as conn:
            row = conn.execute(stmt).first()
            if row is not None:
                return Template(row.name, row.version, row.subject, row.html, row.text)
            if version is not None:
                numbers = conn.execute(
                    sa.select(T.version).where(T.name == name).order_by(T.version)
                ).scalars()
                known = [str(n) for n in numbers]
                if known:
                    raise TemplateNotFound(name, version, known)
            names = conn.execute(sa.select(T.name).distinct().order_by(T.name)).scalars()
            raise TemplateNotFound(name, None, list(names))

    def versions(self, name: str) -> list[TemplateVersion]:
        """Every version of `name`, oldest first; TemplateNotFound when there is none."""
        stmt = (
            sa.select(T.name, T.version, T.subject, T.text.is_not(None), T.created_at)
            .where(T.name == name)
            .order_by(T.version)
        )
        with reading(self.engine) as conn:
            rows = [TemplateVersion(r[0], r[1], r[2], bool(r[3]), r[4]) for r in conn.execute(stmt)]
            if not rows:
                names = conn.execute(sa.select(T.name).distinct().order_by(T.name)).scalars()
                raise TemplateNotFound(name, None, list(names))
        return rows

    def list(self) -> list[TemplateSummary]:
        """The latest version of each template with its number of versions, by name."""
        latest = (
            sa.select(
                T.name.label("name"),
                sa.func.max(T.version).label("latest"),
                sa.func.count().label("versions"),
            )
            .group_by(T.name)
            .subquery()
        )
        stmt = (
            sa.select(latest.c.name, latest.c.latest, latest.c.versions, T.subject, T.created_at)
            .select_from(
                latest.join(
                    templates, sa.and_(T.name == latest.c.name, T.version == latest.c.latest)
                )
            )
            .order_by(latest.c.name)
        )
        with reading(self.engine) as conn:
            return [TemplateSummary(*r) for r in conn.execute(stmt)]


__all__ = [
    "NAME_RULE",
    "SqlTemplates",
    "TemplateNotFound",
    "TemplateSummary",
    "TemplateVersion",
    "check_name",
]

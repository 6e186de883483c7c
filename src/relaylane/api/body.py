"""Reading a request body: JSON parsing that never fails with a 500, and pydantic
validation errors as named fields.

`json.loads` raises RecursionError on absurd nesting (e.g. 100,000 `[`): that is a
400 like any other malformed body. Strings must be valid Unicode (a lone surrogate
escape such as "\\ud800" could not be stored), NaN and Infinity are not JSON.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import re
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request

from relaylane.api.errors import FieldProblem, malformed

_SURROGATE_ESCAPE = re.compile(rb"\\[uU][dD][89a-fA-F]")
OFFLOAD_BYTES = 256 * 1024  # parse bigger bodies off the event loop
MAX_PROBLEMS = 50  # field problems reported per answer

_FIXES = {
    "missing": "add it",
    "extra_forbidden": "remove it; the accepted fields are listed in /openapi.json",
    "string_type": "give a JSON string",
    "list_type": "give a JSON array",
    "dict_type": "give a JSON object",
    "model_type": "give a JSON object",
    "model_attributes_type": "give a JSON object",
    "too_long": "send fewer or shorter values",
    "string_too_long": "shorten it",
    "string_too_short": "give a non-empty value",
    "too_short": "give at least one",
    "string_pattern_mismatch": "leave out control characters (CR, LF, TAB, ...)",
}


class Parsed:
    """A parsed JSON body, its size, and its canonical form (sorted keys, no blanks,
    UTF-8), which is made only when asked for (an Idempotency-Key needs it)."""

    def __init__(self, data: Any, size: int) -> None:
        self.data = data
        self.size = size  # bytes as received

    @functools.cached_property
    def canonical(self) -> bytes:
        return _canonical(self.data)

    def request_hash(self, path: str) -> str:
        return hashlib.sha256(path.encode() + b"\n" + self.canonical).hexdigest()


async def read_json(request: Request) -> Parsed:
    raw = await request.body()
    if len(raw) > OFFLOAD_BYTES:
        return await asyncio.to_thread(parse_json, raw)
    return parse_json(raw)


def parse_json(raw: bytes) -> Parsed:
    try:
        text = raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError:
        raise malformed("it is not valid UTF-8") from None
    if not text.strip():
        raise malformed("the body is empty")
    try:
        data = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise malformed("it is nested too deeply") from None
    except ValueError as exc:  # json.JSONDecodeError, and _refuse_constant
        raise malformed(str(exc)) from None
    parsed = Parsed(data, len(raw))
    # Valid UTF-8 holds no surrogate, so only a \\uD8xx-\\uDFxx escape can make one; such
    # a body is checked whole now (json.loads accepts a lone one, a UTF-8 store cannot).
    if _SURROGATE_ESCAPE.search(raw):
        _ = parsed.canonical
    return parsed


def _canonical(data: Any) -> bytes:
    try:
        dumped = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return dumped.encode("utf-8")
    except RecursionError:
        raise malformed("it is nested too deeply") from None
    except UnicodeEncodeError:
        raise malformed("a string holds a lone surrogate escape (\\ud800-\\udfff)") from None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def problems(exc: ValidationError, prefix: str = "") -> list[FieldProblem]:
    """pydantic's errors as API fields: `to[1]`, `attachments[0].content`, ... (the first
    MAX_PROBLEMS of them)."""
    out = []
    for error in exc.errors(include_url=False)[:MAX_PROBLEMS]:
        field = field_name(error["loc"], prefix)
        fix = _FIXES.get(error["type"], "see the request schema in /openapi.json")
        out.append(FieldProblem(field, error["msg"], fix))
    return out


def field_name(loc: Sequence[int | str], prefix: str = "") -> str:
    name = prefix
    for part in loc:
        if isinstance(part, int):
            name += f"[{part}]"
        else:
            name += f".{part}" if name else str(part)
    return name or "body"

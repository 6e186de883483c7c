"""What every configuration model shares: strictness and a few small checks."""

from __future__ import annotations

import ipaddress
from typing import Any, NoReturn

import idna
from pydantic import BaseModel, ConfigDict
from pydantic_core import PydanticCustomError


class Model(BaseModel):
    """A configuration table: unknown keys are errors, values never change after loading."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def is_loopback_host(host: str) -> bool:
    """True for localhost, 127.0.0.0/8 and ::1: traffic that never leaves the machine."""
    name = host.strip().strip("[]").rstrip(".").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def problem(msg: str) -> PydanticCustomError:
    """A complete problem sentence that names its key and says how to fix it."""
    return PydanticCustomError("relaylane", "{msg}", {"msg": msg})


def bad_value(msg: str) -> PydanticCustomError:
    """A problem rendered after `key = value`, e.g. 'is not a duration; use ...'."""
    return PydanticCustomError("relaylane_value", "{msg}", {"msg": msg})


def domain_name(value: str) -> str:
    """A domain name as stored: ASCII (IDNA punycode), lower-case, no trailing dot."""
    name = value.strip().rstrip(".").lower()
    try:
        ascii_name = idna.encode(name, uts46=True).decode("ascii") if name else ""
    except idna.IDNAError:
        ascii_name = ""
    if not ascii_name or "." not in ascii_name:
        raise bad_value(
            f"lists {value!r}, which is not a domain name; write it like tx.example.com"
        )
    return ascii_name


class FrozenDict(dict[str, Any]):
    """A read-only, hashable dict for configuration tables keyed by name (so frozen models
    stay hashable)."""

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(tuple(sorted(self.items())))

    def _refuse(self, *_args: Any, **_kwargs: Any) -> NoReturn:
        raise TypeError("configuration tables are read-only")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = _refuse

    def __reduce__(self) -> tuple[type[FrozenDict], tuple[dict[str, Any]]]:
        return (FrozenDict, (dict(self),))

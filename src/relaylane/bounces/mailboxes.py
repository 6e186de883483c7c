"""Messages out of files users already have: single .eml files, mbox files and Maildirs."""

from __future__ import annotations

import mailbox
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Found:
    where: str  # "FILE", "FILE#3" (mbox), "DIR/cur/NAME" (Maildir)
    raw: bytes


class UnreadableInput(ValueError):
    """A path that is neither a message, an mbox nor a Maildir."""


def messages_in(path: Path) -> Iterator[Found]:
    """Every message in `path`: a Maildir directory, an mbox file, or one message."""
    if path.is_dir():
        yield from _maildir(path)
    elif path.is_file():
        with path.open("rb") as handle:
            head = handle.read(5)
        if head == b"From ":
            yield from _mbox(path)
        else:
            yield Found(str(path), path.read_bytes())
    else:
        raise UnreadableInput(f"{path}: no such file or directory")


def _maildir(path: Path) -> Iterator[Found]:
    if not all((path / sub).is_dir() for sub in ("cur", "new")):
        raise UnreadableInput(
            f"{path} is a directory but not a Maildir (it has no cur/ and new/); "
            "give a Maildir, an mbox file or .eml files"
        )
    box = mailbox.Maildir(path, factory=None, create=False)
    for key in sorted(box.iterkeys()):
        raw = box.get_bytes(key)
        yield Found(f"{path}/{key}", raw)


def _mbox(path: Path) -> Iterator[Found]:
    box = mailbox.mbox(path, factory=None, create=False)
    try:
        for index, key in enumerate(box.iterkeys(), start=1):
            yield Found(f"{path}#{index}", box.get_bytes(key))
    finally:
        box.close()

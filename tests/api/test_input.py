"""Bad input: 422 naming the field (with the fix), 400 for bad JSON, never a 500."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import httpx
import pytest

from tests.api.conftest import Api, bearer, delivery_count, message

FORBIDDEN = ["Return-Path", "DKIM-Signature", "Received", "X-Relaylane-Lane", "x-relaylane-foo"]


def fields(response: httpx.Response) -> dict[str, dict[str, str]]:
    error = response.json()["error"]
    assert error["message"]
    for f in error["fields"]:
        assert f["problem"] and f["fix"]
    return {f["field"]: f for f in error["fields"]}


async def assert_invalid(api: Api, body: Any, field: str) -> dict[str, str]:
    response = await api.send(body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid_input"
    found = fields(response)
    assert field in found, found
    assert delivery_count(api.store) == 0
    return found[field]


@pytest.mark.parametrize("name", FORBIDDEN)
async def test_forbidden_header_is_named(api: Api, name: str) -> None:
    got = await assert_invalid(api, message(headers={name: "x"}), f"headers.{name}")
    assert name in got["problem"]


@pytest.mark.parametrize("name", FORBIDDEN)
async def test_forbidden_header_inside_raw_is_named(api: Api, name: str) -> None:
    raw = f"From: no-reply@tx.acme.test\r\n{name}: x\r\nSubject: s\r\n\r\nbody\r\n"
    envelope = {"from": "no-reply@tx.acme.test", "to": ["bob@example.test"]}
    got = await assert_invalid(api, {"raw": raw, "envelope": envelope}, "raw")
    assert name in got["problem"]


@pytest.mark.parametrize("header", ["To", "Bcc", "Message-ID", "Content-Type"])
async def test_headers_relaylane_writes_cannot_be_set(api: Api, header: str) -> None:
    await assert_invalid(api, message(headers={header: "x@example.test"}), f"headers.{header}")


@pytest.mark.parametrize("subject", ["Hi\r\nBcc: eve@example.test", "Hi\nX: y", "Hi\rthere"])
async def test_line_break_in_subject(api: Api, subject: str) -> None:
    got = await assert_invalid(api, message(subject=subject), "subject")
    assert "line break" in got["problem"]


async def test_line_break_in_a_header_value(api: Api) -> None:
    await assert_invalid(api, message(headers={"X-A": "1\r\nBcc: e@x.test"}), "headers.X-A")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (message(to=["bob@example.test", "not an address"]), "to[1]"),
        (message(to=["bob@example.test\r\nBcc: e@x.test"]), "to[0]"),
        (message(cc=["@example.test"]), "cc[0]"),
        (message(bcc=["bob@"]), "bcc[0]"),
        (message(**{"from": "nobody"}), "from"),
        (message(reply_to="a b@x.test"), "reply_to"),
        (message(to=[], cc=[], bcc=[]), "to"),
        (message(to=[123]), "to[0]"),
        (message(text=None), "text"),
        (message(attachments=[{"filename": "a", "content": "!!!"}]), "attachments[0].content"),
        (message(attachments=[{"filename": "a", "content": ""}], extra=1), "extra"),
        (
            message(attachments=[{"filename": "a", "content": "", "content_type": "x"}]),
            "attachments",
        ),
        (message(tags=["a\nb"]), "tags[0]"),
        (message(**{"from": None}), "from"),
        ({"raw": "From: a@tx.acme.test\r\n\r\nx\r\n"}, "envelope"),
        (message(raw="From: a@tx.acme.test\r\n\r\nx\r\n"), "from"),
        (
            {
                "raw": "Subject: no from\r\n\r\nx\r\n",
                "envelope": {"from": "a@x.test", "to": ["b@x.test"]},
            },
            "raw",
        ),
        (
            {
                "raw": "From: a@tx.acme.test\r\n\r\nx\r\n",
                "envelope": {"from": "A <a@x.test>", "to": ["b@x.test"]},
            },
            "envelope.from",
        ),
        ({"raw_base64": "%%%", "envelope": {"from": "a@x.test", "to": ["b@x.test"]}}, "raw_base64"),
        ([message()], "body"),
    ],
)
async def test_bad_input_names_the_field(api: Api, body: Any, field: str) -> None:
    await assert_invalid(api, body, field)


async def test_unknown_lane(api: Api) -> None:
    got = await assert_invalid(api, message(lane="nope"), "lane")
    assert "transactional" in got["fix"]


async def test_from_domain_the_lane_may_not_use_is_invalid_input(api: Api) -> None:
    got = await assert_invalid(api, message(**{"from": "x@other.test"}), "from")
    assert "tx.acme.test" in got["problem"]


async def test_a_raw_from_domain_the_lane_may_not_use_is_invalid_input(api: Api) -> None:
    raw = "From: x@other.test\r\nSubject: s\r\n\r\nbody\r\n"
    envelope = {"from": "bounces@tx.acme.test", "to": ["bob@example.test"]}
    got = await assert_invalid(api, {"raw": raw, "envelope": envelope}, "raw")
    assert "other.test" in got["problem"]


async def test_unknown_paths_and_methods_use_the_error_shape(api: Api) -> None:
    response = await api.get("/v1/nothing")
    assert (response.status_code, response.json()["error"]["code"]) == (404, "not_found")
    response = await api.client.delete("/v1/messages", headers=bearer(api.token))
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


async def test_too_many_recipients(start_api: Any) -> None:
    api = await start_api(submission={"max_recipients": 2})
    to = ["a@example.test", "b@example.test", "c@example.test"]
    await assert_invalid(api, message(to=to), "to")


@pytest.mark.parametrize(
    ("part", "field"),
    [
        ({"text": "x" * 70_000}, "text"),
        ({"html": "<p>" + "y" * 70_000}, "html"),
        (
            {
                "attachments": [
                    {"filename": "big", "content": base64.b64encode(b"z" * 60_000).decode()}
                ]
            },
            "attachments",
        ),
        (
            {
                "raw": "From: a@tx.acme.test\r\n\r\n" + "r" * 70_000,
                "text": None,
                "from": None,
                "to": [],
                "subject": None,
                "envelope": {"from": "a@tx.acme.test", "to": ["b@x.test"]},
            },
            "raw",
        ),
    ],
)
async def test_message_over_max_message_size(
    start_api: Any, part: dict[str, Any], field: str
) -> None:
    api = await start_api(submission={"max_message_size": "64KB"})
    body = {**message(), **part}
    body = {k: v for k, v in body.items() if v is not None and v != []}
    got = await assert_invalid(api, body, field)
    assert "64000" in got["problem"]


async def test_composed_size_counts_the_encoding(start_api: Any) -> None:
    """50 kB of attachment is under 64 kB, but not once base64-encoded."""
    api = await start_api(submission={"max_message_size": "64KB"})
    content = base64.b64encode(b"z" * 50_000).decode()
    body = message(attachments=[{"filename": "f", "content": content}])
    await assert_invalid(api, body, "attachments")


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (b"{", "Expecting"),
        (b'{"to": ["a@x.test"],}', "Expecting"),
        (b"", "empty"),
        (b"\xff\xfe{}", "UTF-8"),
        (b'{"subject": NaN}', "NaN"),
        (b'{"subject": "\\ud800"}', "surrogate"),
        (b"[" * 100_000, "nested too deeply"),
        (b'{"a":' * 50_000 + b"1" + b"}" * 50_000, "nested too deeply"),
    ],
)
async def test_malformed_json_is_400(api: Api, raw: bytes, problem: str) -> None:
    for path in ("/v1/messages", "/v1/messages/batch"):
        response = await api.client.post(
            path, content=raw, headers={**bearer(api.token), "content-type": "application/json"}
        )
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert error["code"] == "malformed_json"
        assert problem in error["message"]


async def test_nesting_that_parses_is_still_refused_cleanly(api: Api) -> None:
    body = message(metadata={"deep": [[[[[[[["x"]]]]]]]]})
    await assert_invalid(api, body, "metadata.deep")


async def exchange(api: Api, head: str, body: bytes) -> tuple[int, dict[str, Any]]:
    """Send a request head and part of a body on a raw connection, then read the answer
    without sending the rest: the server must answer before the body is complete."""
    reader, writer = await asyncio.open_connection("127.0.0.1", api.http.port)
    try:
        writer.write(head.encode() + body)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 10)  # until the server closes
    finally:
        writer.close()
    status_line, _, rest = answer.partition(b"\r\n")
    payload = rest.partition(b"\r\n\r\n")[2]
    return int(status_line.split()[1]), json.loads(payload)


async def test_declared_length_over_max_request_size_is_413_before_any_body(
    start_api: Any,
) -> None:
    api = await start_api(http={"max_request_size": "64KB"})
    head = (
        "POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {api.token}\r\nContent-Length: 1000000000\r\n\r\n"
    )
    status, body = await exchange(api, head, b"")
    assert status == 413
    assert body["error"]["code"] == "too_large"
    assert "1000000000" in body["error"]["message"]


async def test_chunked_body_over_max_request_size_is_413_before_its_end(start_api: Any) -> None:
    api = await start_api(http={"max_request_size": "64KB"})
    head = (
        "POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {api.token}\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    chunk = b"x" * 8192
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(10))  # 80 kB
    status, body = await exchange(api, head, chunks)  # and no final 0-chunk
    assert status == 413
    assert body["error"]["code"] == "too_large"
    assert (await api.send(message())).status_code == 202  # the server is fine afterwards


async def test_body_within_max_request_size_passes(start_api: Any) -> None:
    api = await start_api(http={"max_request_size": "64KB"})
    assert (await api.send(message(text="x" * 60_000))).status_code == 202

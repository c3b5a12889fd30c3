"""`read_body`: a whole answer up to a limit, however the server splits it, and no more."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, cast

import pytest

from afflux.controllers.notification._sender import BodyTooLarge, read_body


@dataclass
class Content:
    parts: list[bytes]
    asked: list[int] = field(default_factory=list)

    async def read(self, n: int) -> bytes:
        """Like aiohttp's: at most `n` bytes, possibly fewer (one network chunk)."""
        self.asked.append(n)
        if not self.parts:
            return b""
        part = self.parts.pop(0)
        if len(part) > n:
            self.parts.insert(0, part[n:])
            part = part[:n]
        return part


@dataclass
class Response:
    content: Content
    content_length: int | None = None


def read(parts: list[bytes], limit: int, declared: int | None = None) -> bytes:
    response = cast(Any, Response(Content(parts), declared))
    return asyncio.run(read_body(response, limit, chunk=4))


@pytest.mark.parametrize(("parts", "limit", "declared", "body"), [
    ([b'{"keys"', b": [1, 2", b"]}"], 100, None, b'{"keys": [1, 2]}'),
    ([b"0123456789"], 10, 10, b"0123456789"),
    ([], 10, 0, b""),
], ids=["split-over-chunks", "exactly-the-limit", "empty"])
def test_the_whole_body(parts: list[bytes], limit: int, declared: int | None,
                        body: bytes) -> None:
    assert read(parts, limit, declared) == body


@pytest.mark.parametrize(("parts", "declared"), [
    ([b"x" * 11], None),
    ([b"x" * 4] * 1000, None),
    ([b"{}"], 50 * 1024 * 1024),
], ids=["one-over", "streamed-past-the-limit", "declared-too-large"])
def test_too_large(parts: list[bytes], declared: int | None) -> None:
    content = Content(list(parts))
    with pytest.raises(BodyTooLarge):
        asyncio.run(read_body(cast(Any, Response(content, declared)), 10, chunk=4))
    assert sum(content.asked) <= 12  # stopped at the limit, not at the end of the stream

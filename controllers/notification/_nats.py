"""The nats Provider: the event's JSON published on a NATS subject (spec.channel) of the
server at the address (`nats://host[:4222]`, `tls://` for TLS; a `user:password@` in the
address authenticates too). A small client of NATS's text protocol, enough to publish
once: read the server's `INFO`, upgrade to TLS when asked (`tls://` or `tls_required`),
send `CONNECT` (with the credentials), `PUB`, then `PING` and wait for `PONG`, so an
authorization or permission error (`-ERR`) is seen before the delivery counts as done.

Credentials from the Provider's Secret, in Flux's order: `creds` (a user JWT and its NKey
seed, the `.creds` file), else `nkey` (a user NKey seed), else `username` + `password`.
An NKey signs the server's nonce with Ed25519. `parse_seed`, `parse_creds` and
`connect_options` are pure; `publish` does the I/O (bounded reads, a timeout).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import re
import ssl
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from cryptography.hazmat.primitives.asymmetric import ed25519

__all__ = ["NatsAuth", "NatsError", "connect_options", "parse_creds", "parse_seed", "publish"]

DEFAULT_PORT = 4222
#: the longest protocol line read from the server (INFO carries the server's options)
MAX_LINE = 64 * 1024
_SEED_PREFIX = 18 << 3  # 'S'
_USER_PREFIX = 20 << 3  # 'U'


class NatsError(Exception):
    """The publish failed (the message never carries a credential)."""


@dataclass(frozen=True)
class NatsAuth:
    username: str = ""
    password: str = ""
    nkey_seed: str = ""
    jwt: str = ""


def _crc16(data: bytes) -> int:
    """CRC-16/XMODEM, NKeys' checksum."""
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def _b32(text: str) -> bytes:
    try:
        return base64.b32decode(text + "=" * (-len(text) % 8))
    except (binascii.Error, ValueError):
        raise NatsError("the NKey seed is not base32") from None


def parse_seed(seed: str) -> tuple[ed25519.Ed25519PrivateKey, str]:
    """The signing key of a user NKey seed (`SU...`) and its public key (`U...`)."""
    raw = _b32(seed.strip())
    if len(raw) != 36 or _crc16(raw[:-2]) != int.from_bytes(raw[-2:], "little"):
        raise NatsError("the NKey seed is malformed (length or checksum)")
    if raw[0] & 0xF8 != _SEED_PREFIX:
        raise NatsError("the NKey seed does not start with S")
    kind = ((raw[0] & 0x07) << 5) | ((raw[1] & 0xF8) >> 3)
    if kind != _USER_PREFIX:
        raise NatsError("the NKey seed is not a user seed (SU...)")
    key = ed25519.Ed25519PrivateKey.from_private_bytes(raw[2:34])
    public = bytes([_USER_PREFIX]) + key.public_key().public_bytes_raw()
    encoded = public + _crc16(public).to_bytes(2, "little")
    return key, base64.b32encode(encoded).decode().rstrip("=")


_BLOCK = re.compile(r"-{3,}BEGIN ([A-Z ]+)-{3,}\s*\n(.*?)\n\s*-{3,}END \1-{3,}", re.S)


def parse_creds(text: str) -> tuple[str, str]:
    """(user JWT, NKey seed) of a `.creds` file."""
    blocks = {name: body.strip() for name, body in _BLOCK.findall(text)}
    jwt, seed = blocks.get("NATS USER JWT", ""), blocks.get("USER NKEY SEED", "")
    if not jwt or not seed:
        raise NatsError("the 'creds' key must hold a NATS user JWT and its NKey seed "
                        "(a .creds file)")
    return jwt, seed


def connect_options(auth: NatsAuth, nonce: str | None) -> dict[str, Any]:
    """The CONNECT options: what the client is, and its credentials (the nonce signed by
    the NKey, for `creds` and `nkey`)."""
    options: dict[str, Any] = {"verbose": False, "pedantic": False, "lang": "python",
                               "version": "afflux", "protocol": 1,
                               "name": "notification-controller"}
    seed = auth.nkey_seed
    if auth.jwt:
        options["jwt"] = auth.jwt
    if seed:
        key, public = parse_seed(seed)
        if nonce is None:
            raise NatsError("the server sent no nonce to sign (is NKey auth enabled there?)")
        signature = key.sign(nonce.encode())
        options["sig"] = base64.urlsafe_b64encode(signature).decode().rstrip("=")
        if not auth.jwt:
            options["nkey"] = public
    elif auth.username:
        options["user"], options["pass"] = auth.username, auth.password
    return options


async def _line(reader: asyncio.StreamReader) -> str:
    try:
        raw = await reader.readuntil(b"\r\n")
    except asyncio.LimitOverrunError:
        raise NatsError("the server sent a line longer than allowed") from None
    except asyncio.IncompleteReadError:
        raise NatsError("the server closed the connection") from None
    return raw.decode(errors="replace").rstrip("\r\n")


async def _exchange(address: str, subject: str, payload: bytes, auth: NatsAuth,
                    tls: ssl.SSLContext | None) -> None:
    parts = urlsplit(address)
    host, port = parts.hostname or "", parts.port or DEFAULT_PORT
    if parts.username and not auth.username and not auth.nkey_seed:
        auth = NatsAuth(unquote(parts.username), unquote(parts.password or ""))
    reader, writer = await asyncio.open_connection(host, port, limit=MAX_LINE)
    try:
        info_line = await _line(reader)
        if not info_line.startswith("INFO "):
            raise NatsError("the server did not start with INFO: not a NATS server?")
        info = json.loads(info_line[5:])
        if parts.scheme == "tls" or info.get("tls_required"):
            await writer.start_tls(tls or ssl.create_default_context(), server_hostname=host)
        connect = json.dumps(connect_options(auth, info.get("nonce")))
        writer.write(f"CONNECT {connect}\r\nPUB {subject} {len(payload)}\r\n".encode()
                     + payload + b"\r\nPING\r\n")
        await writer.drain()
        while True:
            line = await _line(reader)
            if line == "PONG":
                return
            if line.startswith("-ERR"):
                raise NatsError(f"the server answered {line[5:].strip()[:200]}")
            if line == "PING":
                writer.write(b"PONG\r\n")
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except (OSError, ssl.SSLError):
            pass


async def publish(address: str, subject: str, payload: bytes, auth: NatsAuth, *,
                  tls: ssl.SSLContext | None = None, timeout: float = 15.0) -> None:
    """Publish `payload` on `subject`; `NatsError` when the server refuses or cannot be
    reached."""
    try:
        await asyncio.wait_for(_exchange(address, subject, payload, auth, tls), timeout)
    except TimeoutError:
        raise NatsError(f"no answer from the NATS server within {timeout:g}s") from None
    except (OSError, ssl.SSLError, ValueError) as err:
        raise NatsError(f"{type(err).__name__}: {err}") from None

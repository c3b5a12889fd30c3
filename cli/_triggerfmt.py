"""The request of `afflux trigger receiver`, as flux's `trigger receiver` sends it. Pure.

The webhook URL is `--url` (trailing `/` dropped) + the Receiver's webhook path
(`/hook/` + sha256(token + name + namespace); for `generic-oidc`, which has no secret, an
empty token). `generic` sends the payload as it is, `generic-hmac` signs it
(`X-Signature: sha256=<hex HMAC-SHA256 of the payload with the token>`), `generic-oidc`
sends `Authorization: Bearer <OIDC token>`. 404, 408, 429 and 5xx answers and connection
errors are retried (`--retries`, `--retry-delay`): a new Receiver's path may not be served
yet.
"""

from __future__ import annotations

import hashlib
import hmac

from afflux.api import receiver_webhook_path

__all__ = [
    "GENERIC_OIDC",
    "OIDC_PROVIDERS",
    "TRIGGER_TYPES",
    "is_retryable",
    "trigger_request",
    "validate_trigger",
]

GENERIC_OIDC = "generic-oidc"
TRIGGER_TYPES = ("generic", "generic-hmac", GENERIC_OIDC)
OIDC_PROVIDERS = ("github", "forgejo")
_RETRYABLE = frozenset({404, 408, 429, 500, 502, 503, 504})


def validate_trigger(type_: str, token: str | None, oidc_provider: str | None,
                     oidc_token: str | None, oidc_audience: str | None) -> None:
    """flux's checks of the flag combination; ValueError with its message."""
    if type_ not in TRIGGER_TYPES:
        raise ValueError(f'invalid --type "{type_}", must be one of: '
                         f"{', '.join(TRIGGER_TYPES)}")
    if type_ != GENERIC_OIDC:
        if not token:
            raise ValueError(f"--token is required for --type={type_}")
        if oidc_provider or oidc_token or oidc_audience:
            raise ValueError("--oidc-provider, --oidc-token and --oidc-audience can only be "
                             f"set for --type={GENERIC_OIDC}")
        return
    if token:
        raise ValueError(f"--token must not be set for --type={GENERIC_OIDC}, the Receiver of "
                         "this type has no secret")
    if oidc_provider and oidc_token:
        raise ValueError("--oidc-provider and --oidc-token are mutually exclusive")
    if oidc_provider and oidc_provider not in OIDC_PROVIDERS:
        raise ValueError(f'invalid --oidc-provider "{oidc_provider}", must be one of: '
                         f"{', '.join(OIDC_PROVIDERS)}")
    if oidc_audience and not oidc_provider:
        raise ValueError("--oidc-audience can only be set together with --oidc-provider")


def trigger_request(name: str, namespace: str, base_url: str, type_: str, token: str | None,
                    payload: bytes, oidc_token: str | None = None,
                    user_agent: str = "afflux") -> tuple[str, dict[str, str]]:
    """(webhook URL, headers) of the POST (see the module docstring)."""
    path_token = "" if type_ == GENERIC_OIDC else (token or "")
    url = base_url.rstrip("/") + receiver_webhook_path(path_token, name, namespace)
    headers = {"Content-Type": "application/json", "User-Agent": user_agent}
    if type_ == "generic-hmac":
        digest = hmac.new((token or "").encode(), payload, hashlib.sha256).hexdigest()
        headers["X-Signature"] = f"sha256={digest}"
    elif type_ == GENERIC_OIDC:
        headers["Authorization"] = f"Bearer {oidc_token}"
    return url, headers


def is_retryable(status: int) -> bool:
    """Whether an answer's status is worth another attempt."""
    return status in _RETRYABLE

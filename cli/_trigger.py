"""`afflux trigger receiver <name> --url <base> --token <token>`: send a Receiver's webhook
request, as `flux trigger receiver` does (`_triggerfmt`); no cluster access is needed.

For `--type generic-oidc` the OIDC token comes from `--oidc-token`, from the GitHub/Forgejo
Actions token endpoint (`--oidc-provider`: $ACTIONS_ID_TOKEN_REQUEST_URL with
$ACTIONS_ID_TOKEN_REQUEST_TOKEN, audience `--oidc-audience`, default
`notification-controller`), or from $FLUX_TRIGGER_RECEIVER_OIDC_TOKEN.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence

from ._context import Context, duration_arg
from ._errors import CLIError
from ._format import human_duration
from ._triggerfmt import (
    GENERIC_OIDC,
    TRIGGER_TYPES,
    is_retryable,
    trigger_request,
    validate_trigger,
)
from ._version import version

__all__ = ["register", "run"]

OIDC_TOKEN_ENV = "FLUX_TRIGGER_RECEIVER_OIDC_TOKEN"
DEFAULT_OIDC_AUDIENCE = "notification-controller"


def register(sub: argparse._SubParsersAction, parents: Sequence[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("trigger", parents=list(parents), help="trigger Flux webhooks",
                       description="Trigger Flux webhooks.")
    kinds = p.add_subparsers(dest="trigger_what", metavar="<kind>")
    kinds.required = True
    r = kinds.add_parser("receiver", parents=list(parents),
                         help="send the webhook request of a Receiver",
                         description="Send a request to the incoming webhook of a Receiver "
                         "(its path computed from the name, namespace and token).")
    r.add_argument("name", help="the name of the Receiver")
    r.add_argument("--url", help="the base URL of the notification-controller webhook "
                   "receiver, may contain a base path")
    r.add_argument("--type", dest="receiver_type", default="generic",
                   help=f"the Receiver type, one of: {', '.join(TRIGGER_TYPES)}")
    r.add_argument("--oidc-provider", help="fetch the OIDC token from: github, forgejo")
    r.add_argument("--oidc-token", help=f"the OIDC token (default ${OIDC_TOKEN_ENV})")
    r.add_argument("--oidc-audience", help="the audience of the OIDC token to fetch "
                   f"(default {DEFAULT_OIDC_AUDIENCE})")
    r.add_argument("--payload", default="{}", help="the JSON body of the request (default {})")
    r.add_argument("--retries", type=int, default=10,
                   help="retries on connection errors and 404/408/429/5xx (0: none)")
    r.add_argument("--retry-delay", type=duration_arg, default=10.0,
                   help="the delay between retries (default 10s)")
    # `--token` is the Receiver's token here (the global flag's name, as in flux)
    r.set_defaults(func=run, token_is_local=True)


def _oidc_token(args: argparse.Namespace, timeout: float) -> str:
    if args.oidc_token:
        return str(args.oidc_token)
    if args.oidc_provider:
        url = os.environ.get("ACTIONS_ID_TOKEN_REQUEST_URL")
        bearer = os.environ.get("ACTIONS_ID_TOKEN_REQUEST_TOKEN")
        if not url or not bearer:
            raise CLIError("ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN are "
                           "not set", "run in an Actions job with `permissions: id-token: "
                           "write`")
        audience = args.oidc_audience or DEFAULT_OIDC_AUDIENCE
        sep = "&" if "?" in url else "?"
        request = urllib.request.Request(
            f"{url}{sep}audience={urllib.parse.quote(audience)}",
            headers={"Authorization": f"Bearer {bearer}"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as resp:  # noqa: S310
                return str(json.loads(resp.read())["value"])
        except (urllib.error.URLError, OSError, ValueError, KeyError) as err:
            raise CLIError(f"cannot fetch the OIDC token: {err}") from None
    token = os.environ.get(OIDC_TOKEN_ENV, "")
    if not token:
        raise CLIError("no OIDC token provided: set --oidc-provider, --oidc-token or the "
                       f"{OIDC_TOKEN_ENV} environment variable")
    return token


def _send(url: str, headers: dict[str, str], payload: bytes, timeout: float
          ) -> tuple[bool, str | None]:
    """One attempt: (retryable, error or None)."""
    request = urllib.request.Request(url, data=payload, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout):  # noqa: S310
            return False, None
    except urllib.error.HTTPError as err:
        body = err.read().decode(errors="replace").strip()
        text = f"request to {url} failed with status {err.code} {err.reason}"
        return is_retryable(err.code), f"{text}: {body}" if body else text
    except (urllib.error.URLError, OSError) as err:
        return True, f"request to {url} failed: {getattr(err, 'reason', err)}"


def run(args: argparse.Namespace) -> int:
    ctx = Context.from_args(args)
    if not args.url:
        raise CLIError("--url is required", "e.g. --url=https://flux-webhook.example.com")
    try:
        validate_trigger(args.receiver_type, args.token, args.oidc_provider, args.oidc_token,
                         args.oidc_audience)
    except ValueError as err:
        raise CLIError(str(err)) from None
    deadline = time.monotonic() + ctx.timeout
    oidc = _oidc_token(args, ctx.timeout) if args.receiver_type == GENERIC_OIDC else None
    payload = str(args.payload).encode()
    url, headers = trigger_request(args.name, ctx.namespace, args.url, args.receiver_type,
                                   args.token, payload, oidc, f"afflux/v{version()}")
    ctx.printer.action(f"triggering Receiver {ctx.namespace}/{args.name}")
    attempt = 0
    while True:
        retryable, error = _send(url, headers, payload,
                                 max(1.0, min(30.0, deadline - time.monotonic())))
        if error is None:
            ctx.printer.success(f"Receiver {ctx.namespace}/{args.name} triggered")
            return 0
        if not retryable or attempt >= args.retries or \
                time.monotonic() + args.retry_delay > deadline:
            raise CLIError(error, "check --url, --token and --type against the Receiver "
                           "(`afflux get receivers` shows its webhook path)")
        attempt += 1
        ctx.printer.waiting(f"{error}; retrying in {human_duration(args.retry_delay)} "
                            f"({attempt}/{args.retries})")
        time.sleep(args.retry_delay)

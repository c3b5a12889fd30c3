"""`afflux logs`: the operators' logs, filtered by the object they are about.

Two places to read from: the local dev setup, where each operator runs as a process that
writes JSON lines to `<log dir>/<controller>.log` (`.local/logs` by default), and a cluster,
where the operators are pods in `--flux-namespace` (read through the API). `--source auto`
(the default) reads local files when there are any, else the pods.
"""

from __future__ import annotations

import argparse
import os
import queue
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ._context import Context, duration_arg
from ._errors import CLIError, NotFoundError
from ._kinds import CONTROLLERS, resolve_kind
from ._kube import PODS
from ._logfmt import (
    LEVELS,
    LogFilter,
    format_record,
    merge_by_time,
    parse_line,
    parse_since_time,
)

__all__ = ["default_log_dir", "register", "run"]



def default_log_dir() -> Path:
    """$AFFLUX_LOG_DIR, else `.local/logs` in the current directory, else in the checkout
    afflux runs from."""
    env = os.environ.get("AFFLUX_LOG_DIR")
    if env:
        return Path(env)
    here = Path.cwd() / ".local" / "logs"
    if here.is_dir():
        return here
    return Path(__file__).resolve().parents[1] / ".local" / "logs"


def register(sub: argparse._SubParsersAction, parents: Sequence[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("logs", parents=list(parents), help="show the operators' logs",
                       description="Show the logs of the afflux operators, filtered.")
    p.add_argument("--kind", help="only lines about objects of this kind (any name for it)")
    p.add_argument("--name", help="only lines about objects with this name")
    p.add_argument("--level", choices=sorted(set(LEVELS) - {"warn"}),
                   help="the lowest level to show (e.g. info hides debug)")
    p.add_argument("--since", type=duration_arg, help="only lines newer than this, e.g. 10m")
    p.add_argument("--since-time", metavar="RFC3339",
                   help="only lines after this time, e.g. 2024-05-01T12:00:00Z (not with "
                   "--since)")
    p.add_argument("--tail", type=int, default=-1, help="only the last N lines (per source)")
    p.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")
    p.add_argument("-A", "--all-namespaces", action="store_true",
                   help="lines about objects in any namespace (default: -n's)")
    p.add_argument("--controller", action="append", choices=CONTROLLERS,
                   help="only these operators' logs (repeat; default all)")
    p.add_argument("--source", choices=("auto", "local", "cluster"), default="auto",
                   help="read local log files or the operators' pods (default auto)")
    p.add_argument("--log-dir", type=Path, help="where the local log files are "
                   "(default $AFFLUX_LOG_DIR or .local/logs)")
    p.add_argument("--flux-namespace", default="flux-system",
                   help="the namespace of the operators' pods (default flux-system)")
    p.set_defaults(func=run)


def _since_time(args: argparse.Namespace) -> datetime:
    if args.since:
        raise CLIError("at most one of `sinceTime` or `sinceDuration` may be specified",
                       "give --since or --since-time, not both")
    try:
        return parse_since_time(args.since_time)
    except ValueError as err:
        raise CLIError(str(err), "e.g. --since-time 2024-05-01T12:00:00Z") from None


def _filter(ctx: Context, args: argparse.Namespace) -> LogFilter:
    kind = None
    if args.kind:
        try:
            kind = resolve_kind(args.kind).KIND
        except KeyError:
            kind = args.kind
    since = datetime.now(UTC) - timedelta(seconds=args.since) if args.since else None
    if args.since_time:
        since = _since_time(args)
    return LogFilter(kind=kind, name=args.name, level=args.level, since=since,
                     namespace=None if ctx.all_namespaces else ctx.namespace)


def run(args: argparse.Namespace) -> int:
    ctx = Context.from_args(args)
    controllers = tuple(args.controller or CONTROLLERS)
    log_dir = args.log_dir or default_log_dir()
    # each controller's log, then its shards' (`<controller>-shard<i>.log`, the local launcher's)
    files = [f for c in controllers
             for f in [log_dir / f"{c}.log", *sorted(log_dir.glob(f"{c}-shard*.log"))]
             if f.is_file()]
    source = args.source
    if source == "auto":
        source = "local" if files else "cluster"
    flt = _filter(ctx, args)
    if source == "local":
        if not files:
            raise NotFoundError(f"no operator log files in {log_dir}",
                                "start the operators locally, or pass --log-dir / "
                                "--source cluster")
        return _local(ctx, args, files, flt)
    return _cluster(ctx, args, controllers, flt)


def _print(ctx: Context, records: list[Any], flt: LogFilter) -> None:
    for record in records:
        if flt.matches(record):
            ctx.printer.result(format_record(record))


# --- local files ------------------------------------------------------------------------------


def _read_records(path: Path, controller: str, tail: int) -> list[dict[str, Any]]:
    lines = path.read_text(errors="replace").splitlines()
    if tail >= 0:
        lines = lines[-tail:] if tail else []
    return [r for r in (parse_line(line, controller) for line in lines) if r is not None]


def _local(ctx: Context, args: argparse.Namespace, files: list[Path], flt: LogFilter) -> int:
    streams = [_read_records(f, f.stem, args.tail) for f in files]
    _print(ctx, merge_by_time(streams), flt)
    if not args.follow:
        return 0
    offsets = {f: f.stat().st_size for f in files}
    deadline = time.monotonic() + ctx.timeout if args.timeout_given else None
    while deadline is None or time.monotonic() < deadline:
        for f in files:
            size = f.stat().st_size if f.exists() else 0
            if size < offsets[f]:  # truncated or rotated: start over
                offsets[f] = 0
            if size > offsets[f]:
                with f.open("rb") as fh:
                    fh.seek(offsets[f])
                    chunk = fh.read(size - offsets[f])
                consumed = chunk.rfind(b"\n") + 1  # whole lines only
                offsets[f] += consumed
                for line in chunk[:consumed].decode(errors="replace").splitlines():
                    record = parse_line(line, f.stem)
                    if record is not None and flt.matches(record):
                        ctx.printer.result(format_record(record))
        time.sleep(0.5)  # a tail -f: polling the files is what it does
    return 0


# --- pods ----------------------------------------------------------------------------------------


def _pods(ctx: Context, namespace: str, controllers: tuple[str, ...]) -> list[tuple[str, str]]:
    """(pod name, controller) of the running operator pods."""
    selector = f"app in ({','.join(controllers)})"
    pods = ctx.kube.list(PODS, namespace, label_selector=selector)
    out = []
    for pod in pods:
        labels = pod["metadata"].get("labels") or {}
        out.append((pod["metadata"]["name"], labels.get("app", "")))
    return sorted(out)


def _pod_lines(ctx: Context, namespace: str, pod: str, args: argparse.Namespace,
               follow: bool) -> Iterator[str]:
    query = [("container", "manager")]
    if args.since:
        query.append(("sinceSeconds", str(max(1, int(args.since)))))
    elif args.since_time:
        when = _since_time(args).astimezone(UTC)
        query.append(("sinceTime", when.strftime("%Y-%m-%dT%H:%M:%SZ")))
    if args.tail >= 0:
        query.append(("tailLines", str(args.tail)))
    if follow:
        query.append(("follow", "true"))
    yield from ctx.kube.stream_lines(f"{PODS.collection_path(namespace)}/{pod}/log", query,
                                     read_timeout=ctx.timeout if follow and args.timeout_given
                                     else (3600 * 24 if follow else 60))


def _cluster(ctx: Context, args: argparse.Namespace, controllers: tuple[str, ...],
             flt: LogFilter) -> int:
    pods = _pods(ctx, args.flux_namespace, controllers)
    if not pods:
        raise NotFoundError(
            f"no operator pods in the {args.flux_namespace} namespace",
            "is afflux installed there (`afflux check`)? for operators running locally, "
            "use --source local",
        )
    if not args.follow:
        streams = []
        for pod, controller in pods:
            lines = _pod_lines(ctx, args.flux_namespace, pod, args, follow=False)
            streams.append([r for r in (parse_line(x, controller) for x in lines) if r])
        _print(ctx, merge_by_time(streams), flt)
        return 0
    lines: queue.Queue[tuple[str, str] | None] = queue.Queue()

    def pump(pod: str, controller: str) -> None:
        try:
            for line in _pod_lines(ctx, args.flux_namespace, pod, args, follow=True):
                lines.put((line, controller))
        except CLIError as err:
            lines.put((f"{pod}: {err.message}", controller))
        finally:
            lines.put(None)

    for pod, controller in pods:
        threading.Thread(target=pump, args=(pod, controller), daemon=True).start()
    open_streams = len(pods)
    while open_streams:
        item = lines.get()
        if item is None:
            open_streams -= 1
            continue
        record = parse_line(*item)
        if record is not None and flt.matches(record):
            ctx.printer.result(format_record(record))
    return 0

"""The `modelgate` command: log in, list, register, download, resolve and search."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from collections.abc import Iterable, Sequence
from typing import Any

import requests

from modelgate_client.client import Client, ModelgateError
from modelgate_client.config import save_config, server_and_token


class UsageError(Exception):
    """Wrong arguments: exit status 2."""


def _model_ref(ref: str) -> tuple[str, str]:
    team, sep, model = ref.partition("/")
    if not sep or not team or not model or "/" in model:
        raise UsageError(f"expected TEAM/MODEL, got {ref!r}")
    return team, model


def _json_arg(text: str | None, name: str) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise UsageError(f"{name} is not valid JSON: {exc}") from None


def _tags(pairs: Iterable[str] | None) -> dict[str, str] | None:
    tags: dict[str, str] = {}
    for pair in pairs or ():
        key, _, value = pair.partition("=")
        if not key:
            raise UsageError(f"--tag expects KEY=VALUE, got {pair!r}")
        tags[key] = value
    return tags or None


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    """Rows as left-aligned columns under upper-case headers."""
    cells = [[str(h).upper() for h in headers]] + [
        ["" if c is None else str(c) for c in row] for row in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    )


def _date(value: str | None) -> str:
    return (value or "")[:19].replace("T", " ")


def _print(args: argparse.Namespace, data: Any, rows: Any, headers: Sequence[str]) -> None:
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        print(table(rows, headers))


def _versions_table(items: list[dict[str, Any]]) -> list[list[Any]]:
    return [
        [v["version"], v["stage"], _date(v["created_at"]), v.get("created_by") or "", v["url"]]
        for v in items
    ]


VERSION_HEADERS = ("version", "stage", "created", "by", "url")


def _version_detail(args: argparse.Namespace, detail: dict[str, Any]) -> None:
    if args.json:
        print(json.dumps(detail, indent=2))
        return
    print(f"{detail['model']} {detail['version']} ({detail['stage']})")
    code = detail.get("code") or {}
    if code.get("commit"):
        print(f"commit {code['commit'][:12]} {code.get('branch') or ''}".rstrip())
    if detail.get("source"):
        print(f"source {detail['source']}")
    if detail["artifacts"]:
        rows = [[a["path"], a["size"], a["sha256"][:12]] for a in detail["artifacts"]]
        print(table(rows, ("path", "size", "sha256")))


# --- commands -------------------------------------------------------------------------


def cmd_login(args: argparse.Namespace, client: Client | None) -> int:
    url = (args.url or "").strip() or input("Modelgate URL: ").strip()
    token = (args.token or "").strip() or getpass.getpass("API token: ").strip()
    if not url or not token:
        raise UsageError("a URL and a token are needed")
    teams = Client(url, token).teams()
    path = save_config({"url": url, "token": token})
    if args.json:
        print(json.dumps({"url": url, "config": str(path), "teams": teams}, indent=2))
    else:
        names = ", ".join(t["slug"] for t in teams) or "none"
        print(f"Logged in to {url} (teams: {names}); saved to {path}")
    return 0


def cmd_models_list(args: argparse.Namespace, client: Client) -> int:
    items = list(
        client.models(team=args.team, framework=args.framework, stage=args.stage, tag=args.tag)
    )
    rows = [
        [
            f"{m['team']}/{m['name']}",
            m["framework"],
            m["task_type"],
            (m["latest_version"] or {}).get("version", ""),
            (m["latest_version"] or {}).get("stage", ""),
            m["version_count"],
        ]
        for m in items
    ]
    _print(args, items, rows, ("model", "framework", "task", "latest", "stage", "versions"))
    return 0


def cmd_versions_list(args: argparse.Namespace, client: Client) -> int:
    items = list(client.versions(*_model_ref(args.model), stage=args.stage))
    _print(args, items, _versions_table(items), VERSION_HEADERS)
    return 0


def cmd_register(args: argparse.Namespace, client: Client) -> int:
    team, model = _model_ref(args.model)
    detail = client.register_version(
        team,
        model,
        args.paths,
        version=args.version,
        metrics=_json_arg(args.metrics, "--metrics"),
        params=_json_arg(args.params, "--params"),
        description=args.description,
        tags=_tags(args.tag),
        datasets=args.dataset,
        parents=args.parent,
        source=args.source,
        capture=not args.no_capture,
        dvc=not args.no_dvc,
    )
    if args.json:
        print(json.dumps(detail, indent=2))
    else:
        print(
            f"Registered {detail['model']} {detail['version']}: "
            f"{len(detail['artifacts'])} files, {client.last_uploaded} uploaded"
        )
    return 0


def cmd_download(args: argparse.Namespace, client: Client) -> int:
    team, model = _model_ref(args.model)
    paths = client.download(
        team, model, args.dest, version=args.version, stage=args.stage, alias=args.alias
    )
    if args.json:
        print(json.dumps([str(p) for p in paths], indent=2))
    else:
        for path in paths:
            print(path)
    return 0


def cmd_versions_show(args: argparse.Namespace, client: Client) -> int:
    _version_detail(args, client.get_version(*_model_ref(args.model), args.version))
    return 0


def cmd_resolve(args: argparse.Namespace, client: Client) -> int:
    _version_detail(args, client.resolve(*_model_ref(args.model), args.stage, alias=args.alias))
    return 0


def cmd_promote(args: argparse.Namespace, client: Client) -> int:
    team, model = _model_ref(args.model)
    request = client.request_promotion(
        team, model, args.version, args.to, args.why, rollback=args.rollback
    )
    if args.json:
        print(json.dumps(request, indent=2))
        return 0
    print(
        f"Request #{request['id']}: {request['model']} {request['version']} -> "
        f"{request['to_stage']}: {request['state']} "
        f"({request['approvals']} of {request['required_approvals']} approvals)"
    )
    for gate in request["gates"]:
        print(f"  [{'pass' if gate['passed'] else 'FAIL'}] {gate['gate']}: {gate['detail']}")
    print(request["url"])
    return 0


DEPLOYMENT_HEADERS = ("id", "model", "version", "environment", "status", "deployed", "until")


def _deployment_row(d: dict[str, Any]) -> list[Any]:
    where = f"{d['environment']} {d['target']}".strip()
    return [d["id"], d["model"], d["version"], where, d["status"], _date(d["deployed_at"]),
            _date(d["ended_at"]) or "now"]  # fmt: skip


def cmd_deploy(args: argparse.Namespace, client: Client) -> int:
    team, model = _model_ref(args.model)
    d = client.deploy(team, model, args.version, args.env, args.target, args.at, args.comment)
    _print(args, d, [_deployment_row(d)], DEPLOYMENT_HEADERS)
    return 0


def cmd_deployments(args: argparse.Namespace, client: Client) -> int:
    team, model = _model_ref(args.model) if args.model else (None, None)
    items = list(client.deployments(team, model, args.env, args.at))
    _print(args, items, [_deployment_row(d) for d in items], DEPLOYMENT_HEADERS)
    return 0


def cmd_search(args: argparse.Namespace, client: Client) -> int:
    if args.models:
        items = list(client.search(args.query, kind="models"))
        rows = [
            [f"{m['team']}/{m['name']}", m["framework"], m["task_type"], m["version_count"]]
            for m in items
        ]
        _print(args, items, rows, ("model", "framework", "task", "versions"))
    else:
        items = list(client.search(args.query))
        rows = [
            [v.get("model", ""), *row[:-1]]
            for v, row in zip(items, _versions_table(items), strict=True)
        ]
        _print(args, items, rows, ("model", *VERSION_HEADERS[:-1]))
    return 0


def _global_options(
    top: bool = False,
    url: str = "server URL (env MODELGATE_URL, or `modelgate login`)",
    token: str = "API token (env MODELGATE_TOKEN, or `modelgate login`)",
) -> argparse.ArgumentParser:
    """--url, --token and --json, which every command takes before or after its name.
    After it they default to SUPPRESS, so that a value given before it is kept."""
    parser = argparse.ArgumentParser(add_help=False)
    default = {} if top else {"default": argparse.SUPPRESS}
    parser.add_argument("--url", help=url, **default)
    parser.add_argument("--token", help=token, **default)
    parser.add_argument("--json", action="store_true", help="print JSON for scripts", **default)
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="modelgate", description=__doc__, parents=[_global_options(top=True)]
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = _global_options()

    def command(
        group: Any, name: str, text: str, options: argparse.ArgumentParser = common
    ) -> argparse.ArgumentParser:
        return group.add_parser(name, help=text, parents=[options])

    login_options = _global_options(url="no prompt for the URL", token="no prompt for the token")
    login = command(commands, "login", "check and save the URL and token", login_options)
    login.set_defaults(func=cmd_login, needs_client=False)

    models = command(commands, "models", "models").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    models_list = command(models, "list", "list the models you may read")
    models_list.add_argument("--team", help="a team's slug")
    models_list.add_argument("--framework", help="e.g. xgboost")
    models_list.add_argument("--stage", help="with a version in this stage")
    models_list.add_argument("--tag", metavar="KEY[=VALUE]", help="with this tag")
    models_list.set_defaults(func=cmd_models_list)

    versions = command(commands, "versions", "versions").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    versions_list = command(versions, "list", "list a model's versions")
    versions_list.add_argument("model", metavar="TEAM/MODEL")
    versions_list.add_argument("--stage", help="only versions in this stage")
    versions_list.set_defaults(func=cmd_versions_list)
    versions_show = command(versions, "show", "one version, with its files")
    versions_show.add_argument("model", metavar="TEAM/MODEL")
    versions_show.add_argument("version", metavar="VERSION")
    versions_show.set_defaults(func=cmd_versions_show)

    register = command(commands, "register", "register a version with files")
    register.add_argument("model", metavar="TEAM/MODEL")
    register.add_argument("paths", metavar="PATH", nargs="+", help="files or directories")
    register.add_argument("--version", help="e.g. 1.4.0 (default: chosen by the model's scheme)")
    register.add_argument("--metrics", help='JSON, e.g. {"test": {"auc": 0.93}}')
    register.add_argument("--params", help="JSON object")
    register.add_argument("--tag", action="append", metavar="KEY=VALUE", help="repeat for more")
    register.add_argument("--description", help="Markdown")
    register.add_argument("--dataset", action="append", metavar="DATASET",
                          help="a dataset it was trained on: a URI or [TEAM/]NAME[@VERSION]; "
                               "repeat for more")  # fmt: skip
    register.add_argument("--parent", action="append", metavar="TEAM/MODEL@VERSION",
                          help="a version it was derived from; repeat for more")  # fmt: skip
    register.add_argument(
        "--source", help="where the model came from, e.g. s3://bucket/model/ (text only)"
    )
    register.add_argument("--no-capture", action="store_true",
                          help="skip environment, git and DVC datasets")  # fmt: skip
    register.add_argument("--no-dvc", action="store_true", help="skip DVC datasets")
    register.set_defaults(func=cmd_register)

    download = command(commands, "download", "download a version's files")
    download.add_argument("model", metavar="TEAM/MODEL")
    download.add_argument("dest", metavar="DEST", help="a directory, created if missing")
    which = download.add_mutually_exclusive_group()
    which.add_argument("--version", help="this version (default: the latest)")
    which.add_argument("--stage", help="the version in this stage, e.g. production")
    which.add_argument("--alias", help="the version this alias names, e.g. champion")
    download.set_defaults(func=cmd_download)

    resolve = command(commands, "resolve", "the version in a stage or named by an alias")
    resolve.add_argument("model", metavar="TEAM/MODEL")
    by = resolve.add_mutually_exclusive_group(required=True)
    by.add_argument("--stage", help="e.g. production")
    by.add_argument("--alias", help="e.g. champion")
    resolve.set_defaults(func=cmd_resolve)

    promote = command(commands, "promote", "request a promotion (or a rollback)")
    promote.add_argument("model", metavar="TEAM/MODEL")
    promote.add_argument("version", metavar="VERSION")
    promote.add_argument("--to", required=True, choices=["staging", "production"])
    promote.add_argument("--why", required=True, help="the justification reviewers read")
    promote.add_argument("--rollback", action="store_true", help="re-promote an earlier version")
    promote.set_defaults(func=cmd_promote)

    deploy = command(commands, "deploy", "record that a version now serves somewhere")
    deploy.add_argument("model", metavar="TEAM/MODEL")
    deploy.add_argument("version", metavar="VERSION")
    deploy.add_argument("--env", required=True, help="environment, e.g. prod-eu")
    deploy.add_argument("--target", default="", help="endpoint or service")
    deploy.add_argument("--at", help="ISO 8601 time (default: now)")
    deploy.add_argument("--comment", default="", help="shown in the deployment history")
    deploy.set_defaults(func=cmd_deploy)

    history = command(
        commands, "deployments", "deployment history; with --env and --at, what served then"
    )
    history.add_argument("model", metavar="TEAM/MODEL", nargs="?")
    history.add_argument("--env", help="only this environment")
    history.add_argument("--at", help="ISO 8601 time, with --env")
    history.set_defaults(func=cmd_deployments)

    search = command(commands, "search", "search versions (or models)")
    search.add_argument("query", metavar="QUERY")
    search.add_argument("--models", action="store_true", help="search models")
    search.set_defaults(func=cmd_search)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; 0 on success, 1 on an error, 2 on wrong usage."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    url, token = server_and_token(args.url, args.token)
    try:
        client = None
        if getattr(args, "needs_client", True):
            if not url:
                raise UsageError("no server: pass --url, set MODELGATE_URL or run modelgate login")
            client = Client(url, token)
        status = int(args.func(args, client))
        sys.stdout.flush()  # here, where a closed pipe is caught, not at exit
        return status
    except BrokenPipeError:
        # The reader went away (`modelgate versions list … | head`): stop quietly, as
        # other tools do, without Python's "Exception ignored" when stdout is flushed.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except UsageError as exc:
        parser.print_usage(sys.stderr)
        _print_error(args, "usage", str(exc))
        return 2
    except ModelgateError as exc:
        _print_error(args, exc.code, exc.message, exc.field, exc.status)
        return 1
    except requests.RequestException as exc:
        _print_error(args, "connection", _unreachable(url, exc))
        return 1
    except (OSError, ValueError) as exc:
        _print_error(args, "error", str(exc))
        return 1
    except KeyboardInterrupt:
        _print_error(args, "interrupted", "interrupted")
        return 130


def _print_error(
    args: argparse.Namespace,
    code: str,
    message: str,
    field: str | None = None,
    status: int | None = None,
) -> None:
    """`error: …` on stderr; with --json, the server's error shape there instead."""
    if args.json:
        error = {"code": code, "message": message, "field": field, "status": status}
        print(json.dumps({"error": error}), file=sys.stderr)
    else:
        print(f"error: {message}", file=sys.stderr)


def _unreachable(url: str | None, exc: requests.RequestException) -> str:
    """What went wrong reaching the server, in words rather than urllib3's repr."""
    text = str(exc)
    if isinstance(exc, requests.Timeout):
        reason = "no answer in time"
    elif "refused" in text.lower():
        reason = "connection refused (is the server running, and the port right?)"
    elif any(s in text for s in ("Name or service not known", "Failed to resolve", "nodename")):
        reason = "unknown host"
    elif isinstance(exc, requests.exceptions.SSLError):
        reason = "TLS failed (certificate?)"
    else:
        reason = text[:200]
    return f"cannot reach {url}: {reason}"


if __name__ == "__main__":
    sys.exit(main())

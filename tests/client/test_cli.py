"""The `modelgate` command against a live server, through main([...])."""

from __future__ import annotations

import json
import stat
from typing import Any

import pytest

from registry import services
from registry.models import ModelVersion

pytest.importorskip("modelgate_client", reason="install the client: pip install -e ./client")
from modelgate_client.cli import main, table  # noqa: E402

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """No real config file or environment leaks in."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("MODELGATE_URL", raising=False)
    monkeypatch.delenv("MODELGATE_TOKEN", raising=False)


@pytest.fixture
def run(server: str, token: str, capsys: pytest.CaptureFixture[str]) -> Any:
    """run(*args, json=False) → (exit status, stdout, stderr), authenticated by flags."""

    def run(*args: str, as_json: bool = False) -> tuple[int, str, str]:
        argv = ["--url", server, "--token", token, *(["--json"] if as_json else []), *args]
        status = main(argv)
        out, err = capsys.readouterr()
        return status, out, err

    return run


def test_login_checks_and_saves_the_token(server, token, tmp_path, capsys):
    assert main(["login", "--url", server, "--token", token]) == 0
    assert "teams: fraud" in capsys.readouterr().out
    path = tmp_path / "config" / "modelgate" / "config.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text()) == {"url": server, "token": token}
    # Later commands need no flags.
    assert main(["--json", "models", "list"]) == 0
    assert [m["name"] for m in json.loads(capsys.readouterr().out)] == ["churn"]


def test_login_prompts_for_the_url_and_token(server, token, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("builtins.input", lambda prompt: server)
    monkeypatch.setattr("getpass.getpass", lambda prompt: token)
    assert main(["login"]) == 0
    assert (tmp_path / "config" / "modelgate" / "config.json").exists()


def test_login_with_a_bad_token_saves_nothing(server, tmp_path, capsys):
    assert main(["login", "--url", server, "--token", "mg_wrong"]) == 1
    assert capsys.readouterr().err.startswith("error: ")
    assert not (tmp_path / "config" / "modelgate" / "config.json").exists()


def test_register_list_resolve_download(run, model_dir, maintainer, tmp_path):
    status, out, _ = run(
        "register", "fraud/churn", str(model_dir), "--version", "1.0.0",
        "--metrics", '{"test": {"auc": 0.95}}', "--params", '{"depth": 6}',
        "--tag", "owner=fraud", "--description", "From the CLI.", "--no-capture",
    )  # fmt: skip
    assert status == 0
    assert out.strip() == "Registered fraud/churn 1.0.0: 3 files, 3 uploaded"
    status, out, _ = run("register", "fraud/churn", str(model_dir), "--version", "1.0.1",
                         as_json=True)  # fmt: skip
    created = json.loads(out)
    assert created["version"] == "1.0.1" and created["environment"]["python"]
    status, out, _ = run("register", "fraud/churn", str(model_dir), "--version", "1.1.0",
                         "--dataset", "s3://data/churn/2026-11", "--dataset", "fraud/events@7",
                         "--parent", "fraud/churn@1.0.1", "--no-capture", as_json=True)  # fmt: skip
    lineage = json.loads(out)["lineage"]
    assert status == 0 and sorted(lineage["datasets"]) == [
        "events@7",
        "s3://data/churn/2026-11",
    ]
    assert lineage["parents"] == ["fraud/churn@1.0.1"]

    status, out, _ = run("versions", "list", "fraud/churn")
    lines = out.splitlines()
    assert lines[0].split() == ["VERSION", "STAGE", "CREATED", "BY", "URL"]
    assert [line.split()[0] for line in lines[1:]] == ["1.1.0", "1.0.1", "1.0.0"]
    assert lines[1].index("development") == lines[0].index("STAGE")  # aligned columns
    status, out, _ = run("versions", "show", "fraud/churn", "1.0.1")
    assert status == 0 and out.startswith("fraud/churn 1.0.1 (development)")
    assert "config/params.json" in out
    status, _out, err = run("versions", "show", "fraud/churn", "9.9.9")
    assert status == 1 and "9.9.9" in err

    services.apply_transition(
        version=ModelVersion.objects.get(version="1.0.0"), to_stage="production", actor=maintainer
    )
    status, out, _ = run("resolve", "fraud/churn", "--stage", "production")
    assert status == 0 and out.startswith("fraud/churn 1.0.0 (production)")
    assert "config/params.json" in out
    status, out, _ = run("resolve", "fraud/churn", "--stage", "production", as_json=True)
    assert json.loads(out)["version"] == "1.0.0"

    dest = tmp_path / "deploy"
    status, out, _ = run("download", "fraud/churn", str(dest), "--stage", "production")
    assert status == 0 and len(out.splitlines()) == 3
    assert (dest / "config" / "params.json").read_bytes() == (
        model_dir / "config" / "params.json"
    ).read_bytes()
    status, out, _ = run("download", "fraud/churn", str(dest / "v"), "--version", "1.0.1",
                         as_json=True)  # fmt: skip
    assert len(json.loads(out)) == 3

    status, out, _ = run("versions", "list", "fraud/churn", "--stage", "production", as_json=True)
    assert [v["version"] for v in json.loads(out)] == ["1.0.0"]


def test_search_and_models_list(run, model_dir):
    run("register", "fraud/churn", str(model_dir), "--version", "2.0.0",
        "--metrics", '{"test": {"auc": 0.97}}', "--no-capture")  # fmt: skip
    status, out, _ = run("search", "metrics.test.auc > 0.9", as_json=True)
    found = json.loads(out)
    assert status == 0 and [(v["model"], v["version"]) for v in found] == [("fraud/churn", "2.0.0")]
    status, out, _ = run("search", "metrics.test.auc > 0.9")
    header, row = out.splitlines()
    assert header.split() == ["MODEL", "VERSION", "STAGE", "CREATED", "BY"]
    assert row.split()[:3] == ["fraud/churn", "2.0.0", "development"]
    status, out, _ = run("search", "metrics.test.auc > 0.99")
    assert out.splitlines() == ["MODEL  VERSION  STAGE  CREATED  BY"]
    status, out, _ = run("search", "framework = xgboost", "--models")
    assert "fraud/churn" in out
    status, out, _ = run("models", "list", "--framework", "xgboost")
    assert out.splitlines()[1].split()[:4] == ["fraud/churn", "xgboost", "classification", "2.0.0"]
    status, out, _ = run("models", "list", "--framework", "onnx", as_json=True)
    assert json.loads(out) == []


def test_the_environment_supplies_url_and_token(server, token, monkeypatch, capsys):
    monkeypatch.setenv("MODELGATE_URL", server)
    monkeypatch.setenv("MODELGATE_TOKEN", token)
    assert main(["models", "list"]) == 0
    assert "fraud/churn" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "status", "message"),
    [
        (["versions", "list", "fraud/nope"], 1, "error: No model fraud/nope that you may read."),
        (["resolve", "fraud/churn", "--stage", "production"], 1, "has no version in Production"),
        (["search", "metrics.test.auc >="], 1, "error: "),
        (["register", "fraud/churn", "/nonexistent/file"], 1, "error: not a file"),
        (["versions", "list", "churn"], 2, "error: expected TEAM/MODEL"),
        (["register", "fraud/churn", ".", "--metrics", "{nope"], 2, "error: --metrics"),
        (["download", "fraud/churn", "d", "--version", "1", "--stage", "x"], 2, "not allowed"),
        (["frobnicate"], 2, "invalid choice"),
    ],
)
def test_errors_go_to_stderr_with_an_exit_status(run, args, status, message):
    code, out, err = run(*args)
    assert (code, out) == (status, "")
    assert message in err


def test_with_json_errors_are_json_on_stderr(run):
    code, out, err = run("versions", "list", "fraud/nope", as_json=True)
    assert (code, out) == (1, "")
    assert json.loads(err) == {
        "error": {
            "code": "not_found",
            "message": "No model fraud/nope that you may read.",
            "field": None,
            "status": 404,
        }
    }


def test_a_server_it_cannot_reach_is_said_in_words(capsys, monkeypatch):
    from modelgate_client.client import Client

    monkeypatch.setattr(Client, "_sleep", lambda self, attempt: None)  # retries, no waiting
    assert main(["--url", "http://127.0.0.1:9", "--token", "t", "models", "list"]) == 1
    err = capsys.readouterr().err
    assert err == (
        "error: cannot reach http://127.0.0.1:9: connection refused "
        "(is the server running, and the port right?)\n"
    )


def test_a_url_that_is_not_the_api_is_said_so(server, token, capsys):
    assert main(["--url", server + "/accounts", "--token", token, "models", "list"]) == 1
    err = capsys.readouterr().err
    assert "a web page, not an answer of Modelgate's API (is the server URL right?)" in err
    assert "<html" not in err.lower()


def test_a_reader_that_stops_early_gets_no_error(server, token, tmp_path):
    """`modelgate models list | head -1`: the pipe closes, the command stops quietly."""
    import subprocess
    import sys

    script = "import sys; from modelgate_client.cli import main; sys.exit(main(sys.argv[1:]))"
    env = {"PATH": "/usr/bin:/bin", "XDG_CONFIG_HOME": str(tmp_path / "config")}
    proc = subprocess.Popen(
        [sys.executable, "-c", script, "--url", server, "--token", token, "models", "list"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    proc.stdout.close()  # the reader is gone before the command writes anything
    stderr = proc.stderr.read()
    assert proc.wait(timeout=60) == 141
    assert stderr == b""


def test_without_a_url_it_is_a_usage_error(capsys):
    assert main(["models", "list"]) == 2
    assert "error: no server" in capsys.readouterr().err


def test_table_aligns_columns():
    assert table([["a", 1], ["long", None]], ["x", "y"]).splitlines() == [
        "X     Y",
        "a     1",
        "long",
    ]


def test_it_resolves_by_alias_from_the_command_line(run, client, model_dir, contributor):
    from registry import aliases
    from registry.models import ModelVersion

    client.register_version("fraud", "churn", model_dir, version="1.0.0", capture=False)
    version = ModelVersion.objects.get(version="1.0.0")
    aliases.set_alias(version.model, "champion", version, contributor)
    code, out, _err = run("resolve", "fraud/churn", "--alias", "champion", as_json=True)
    assert code == 0 and json.loads(out)["version"] == "1.0.0"


def test_promote_opens_a_request_and_a_reviewer_approves_it_with_the_client(
    run, server, model_dir, reviewer, maintainer
):
    from modelgate_client import Client

    from accounts import tokens

    for version in ("1.0.0", "1.1.0"):
        assert run("register", "fraud/churn", str(model_dir), "--version", version,
                   "--no-capture")[0] == 0  # fmt: skip
    services.apply_transition(
        version=ModelVersion.objects.get(version="1.1.0"), to_stage="staging", actor=None
    )
    status, out, _ = run("promote", "fraud/churn", "1.1.0", "--to", "production",
                         "--why", "better AUC")  # fmt: skip
    assert status == 0, out
    assert "-> production: open (0 of 2 approvals)" in out and "/reviews/" in out

    _token, secret = tokens.create(reviewer, name="review", scopes=["read", "review"])
    mg = Client(server, secret, backoff=0, progress=False)
    [waiting] = list(mg.promotion_requests(to_review=True))
    assert mg.review(waiting["id"], "approve")["approvals"] == 1

    status, out, err = run("promote", "fraud/churn", "1.0.0", "--to", "production", "--why", "x")
    assert status == 1 and "cannot move to Production" in err


def test_deploy_and_ask_what_served_when(run, client, model_dir):
    client.register_version("fraud", "churn", model_dir, "1.0.0", capture=False,
                            features=["customer@v3"], run={"external_id": "train-1"})  # fmt: skip
    client.register_version("fraud", "churn", model_dir, "1.1.0", capture=False)
    status, out, _ = run("deploy", "fraud/churn", "1.0.0", "--env", "prod-eu", "--target", "svc")
    assert status == 0 and "prod-eu svc" in out and "active" in out
    status, out, _ = run("deploy", "fraud/churn", "1.1.0", "--env", "prod-eu", "--target", "svc",
                         as_json=True)  # fmt: skip
    second = json.loads(out)
    assert second["status"] == "active" and second["version"] == "1.1.0"

    status, out, _ = run("deployments", "fraud/churn")
    rows = out.splitlines()[1:]
    assert [r.split()[2] for r in rows] == ["1.1.0", "1.0.0"] and "replaced" in rows[1]
    status, out, _ = run("deployments", "--env", "prod-eu", "--at", second["deployed_at"],
                         as_json=True)  # fmt: skip
    assert [d["version"] for d in json.loads(out)] == ["1.1.0"]
    assert client.end_deployment(second["id"])["status"] == "retired"
    status, _out, err = run("deploy", "fraud/churn", "1.0.0", "--env", "Prod EU")
    assert status == 1 and "environment" in err
    lineage = client.request("GET", "/models/fraud/churn/versions/1.0.0/lineage")
    assert {n["type"] for n in lineage["upstream"]} == {"features", "run"}
    assert [n["type"] for n in lineage["downstream"]] == ["deployment"]


def test_register_records_a_source(run, model_dir):
    status, out, _ = run("register", "fraud/churn", str(model_dir), "--version", "1.0.0",
                         "--source", "runs:/0a1b/model", "--no-capture", as_json=True)  # fmt: skip
    assert status == 0 and json.loads(out)["source"] == "runs:/0a1b/model"
    status, out, _ = run("resolve", "fraud/churn", "--stage", "development")
    assert status == 0 and "source runs:/0a1b/model" in out
    status, _out, err = run("register", "fraud/churn", str(model_dir), "--version", "1.0.1",
                            "--source", "bad\nsource", "--no-capture")  # fmt: skip
    assert status == 1 and "source" in err


def test_json_url_and_token_go_before_or_after_the_command(server, token, client, model_dir,
                                                            maintainer, capsys):  # fmt: skip
    client.register_version("fraud", "churn", model_dir, version="1.0.0", capture=False)
    services.apply_transition(
        version=ModelVersion.objects.get(version="1.0.0"), to_stage="production", actor=maintainer
    )
    resolve = ["resolve", "fraud/churn", "--stage", "production"]
    for argv in (
        ["--url", server, "--token", token, *resolve, "--json"],
        [*resolve, "--json", "--url", server, "--token", token],
        ["--json", "--url", server, *resolve, "--token", token],
    ):
        assert main(argv) == 0, argv
        assert json.loads(capsys.readouterr().out)["version"] == "1.0.0"
    # Without --json anywhere, a table; an error after the command is JSON too.
    assert main(["--url", server, "--token", token, *resolve]) == 0
    assert capsys.readouterr().out.startswith("fraud/churn 1.0.0 (production)")
    assert main(["versions", "list", "fraud/nope", "--url", server, "--token", token,
                 "--json"]) == 1  # fmt: skip
    assert json.loads(capsys.readouterr().err)["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    "argv",
    [
        ["login"],
        ["models", "list"],
        ["versions", "list", "t/m"],
        ["versions", "show", "t/m", "1"],
        ["register", "t/m", "p"],
        ["download", "t/m", "d"],
        ["resolve", "t/m", "--stage", "production"],
        ["promote", "t/m", "1", "--to", "staging", "--why", "w"],
        ["deploy", "t/m", "1", "--env", "e"],
        ["deployments"],
        ["search", "q"],
    ],
)
def test_every_command_takes_the_global_options_after_its_name(argv):
    from modelgate_client.cli import build_parser

    parser = build_parser()
    plain = parser.parse_args(argv)
    assert (plain.json, plain.url, plain.token) == (False, None, None)
    for args in (
        parser.parse_args(["--json", "--url", "U", "--token", "T", *argv]),
        parser.parse_args([*argv, "--json", "--url", "U", "--token", "T"]),
    ):
        assert (args.json, args.url, args.token) == (True, "U", "T")


def test_login_strips_a_trailing_newline(server, token, tmp_path, capsys):
    assert main(["login", "--url", f" {server}/\n", "--token", token + "\n"]) == 0
    saved = json.loads((tmp_path / "config" / "modelgate" / "config.json").read_text())
    assert saved == {"url": f"{server}/", "token": token}


def test_a_token_from_a_mounted_secret_works(server, token, monkeypatch, capsys):
    monkeypatch.setenv("MODELGATE_URL", server + "\n")
    monkeypatch.setenv("MODELGATE_TOKEN", token + "\n")
    assert main(["models", "list"]) == 0
    assert "fraud/churn" in capsys.readouterr().out

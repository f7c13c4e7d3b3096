"""The Python client against a live server: register → search → resolve → download."""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from accounts import tokens
from registry import services
from registry.models import ModelVersion, RegisteredModel, UploadSession

mg = pytest.importorskip("modelgate_client", reason="install the client: pip install -e ./client")
requests = pytest.importorskip("requests")
from modelgate_client import capture  # noqa: E402
from modelgate_client.client import ChecksumMismatch, ModelgateError  # noqa: E402

pytestmark = pytest.mark.django_db(transaction=True)
REPO = Path(__file__).resolve().parents[2]


def _head(where: Path) -> str | None:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return done.stdout.strip()


def _count_uploads(client: Any, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    real = client.upload

    def upload(local: Any, sha256: str, bar: Any = None) -> None:
        calls.append(sha256)
        real(local, sha256, bar)

    monkeypatch.setattr(client, "upload", upload)
    return calls


def test_round_trip(client, model_dir, maintainer, tmp_path, monkeypatch, make_model, make_version):
    monkeypatch.chdir(REPO)
    _run_as_script(monkeypatch, REPO / "bench" / "train.py")
    make_version(make_model("base"), "0.1.0")
    created = client.register_version(
        "fraud",
        "churn",
        model_dir,
        version="1.0.0",
        metrics={"test": {"auc": 0.93}},
        params={"depth": 6},
        description="First cut.",
        tags={"owner": "fraud"},
        datasets=["s3://data/churn/2025-01"],
        parents=["fraud/base@0.1.0"],
    )
    assert created["version"] == "1.0.0"
    assert sorted(a["path"] for a in created["artifacts"]) == [
        "README.md",
        "config/params.json",
        "model.bin",
    ]
    assert created["lineage"] == {
        "datasets": ["s3://data/churn/2025-01"],
        "parents": ["fraud/base@0.1.0"],
    }
    env = created["environment"]
    assert env["python"] and env["os"] and env["hardware"]["cpu_count"]
    assert any(p["name"] == "requests" for p in env["packages"])
    head = _head(REPO)
    assert created["code"]["entry_point"] == ("bench/train.py" if head else "train.py")
    if head:  # the suite runs inside the repository's checkout
        assert created["code"]["commit"] == head
        assert isinstance(created["code"]["dirty"], bool)

    found = list(client.search('metrics.test.auc >= 0.9 and tags.owner = "fraud"'))
    assert [v["version"] for v in found] == ["1.0.0"]
    assert [m["name"] for m in client.search("framework = xgboost", kind="models")] == ["churn"]

    services.apply_transition(
        version=ModelVersion.objects.get(version="1.0.0"), to_stage="production", actor=maintainer
    )
    resolved = client.resolve("fraud", "churn", "production")
    assert resolved["version"] == "1.0.0"
    assert [v["version"] for v in client.versions("fraud", "churn", stage="production")] == [
        "1.0.0"
    ]

    out = tmp_path / "out"
    paths = client.download("fraud", "churn", out, stage="production")
    assert sorted(p.relative_to(out).as_posix() for p in paths) == [
        "README.md",
        "config/params.json",
        "model.bin",
    ]
    for path in paths:
        assert path.read_bytes() == (model_dir / path.relative_to(out)).read_bytes()
    assert not list(out.rglob("*.part"))
    # Downloading again finds the files in place and verified.
    assert client.download("fraud", "churn", out, version="1.0.0") == paths


def test_a_second_registration_uploads_nothing(client, model_dir, monkeypatch):
    calls = _count_uploads(client, monkeypatch)
    client.register_version("fraud", "churn", model_dir, version="1.0.0", capture=False)
    assert len(calls) == 3 and client.last_uploaded == 3
    second = client.register_version("fraud", "churn", model_dir, version="1.0.1", capture=False)
    assert len(calls) == 3 and client.last_uploaded == 0
    assert len(second["artifacts"]) == 3
    assert UploadSession.objects.count() == 0


def test_identical_files_upload_once(client, tmp_path, monkeypatch):
    calls = _count_uploads(client, monkeypatch)
    (tmp_path / "a.bin").write_bytes(b"same")
    (tmp_path / "b.bin").write_bytes(b"same")
    (tmp_path / "empty").write_bytes(b"")
    files = {"a.bin": tmp_path / "a.bin", "copy/b.bin": tmp_path / "b.bin", "e": tmp_path / "empty"}
    created = client.register_version("fraud", "churn", files, version="1.0.0", capture=False)
    assert len(calls) == 2
    assert {a["path"]: a["size"] for a in created["artifacts"]} == {
        "a.bin": 4,
        "copy/b.bin": 4,
        "e": 0,
    }


@pytest.mark.parametrize("lost", ["request", "response"])
def test_an_upload_resumes_after_a_broken_connection(client, tmp_path, monkeypatch, lost):
    data = bytes(range(256)) * 4  # 1 KiB in 100-byte chunks
    (tmp_path / "weights.bin").write_bytes(data)
    client.chunk_size = 100
    real_put = client.session.put
    puts: list[str] = []

    def flaky_put(url: str, **kwargs: Any) -> requests.Response:
        puts.append(kwargs["headers"]["Content-Range"])
        if len(puts) == 3:
            if lost == "response":  # the server stored the chunk; its answer never came
                real_put(url, **kwargs)
            raise requests.ConnectionError("connection reset")
        return real_put(url, **kwargs)

    monkeypatch.setattr(client.session, "put", flaky_put)
    created = client.register_version(
        "fraud", "churn", [tmp_path / "weights.bin"], version="1.0.0", capture=False
    )
    assert created["artifacts"][0]["sha256"] == hashlib.sha256(data).hexdigest()
    expected = 12 if lost == "request" else 11  # a lost chunk is sent again, a stored one not
    assert len(puts) == expected
    assert puts[2] == "bytes 200-299/1024"
    assert puts[3] == ("bytes 200-299/1024" if lost == "request" else "bytes 300-399/1024")


def test_a_failed_registration_run_again_resumes_its_upload(client, tmp_path, monkeypatch):
    """The server answers the upload session left for the same file: the second run
    sends only the bytes the first did not, and its progress starts where it stands."""

    data = bytes(range(256)) * 4
    (tmp_path / "weights.bin").write_bytes(data)
    client.chunk_size, client.retries = 100, 0
    real_put = client.session.put
    puts: list[str] = []
    broken = [True]

    def put(url: str, **kwargs: Any) -> requests.Response:
        puts.append(kwargs["headers"]["Content-Range"])
        if len(puts) == 4 and broken:
            broken.pop()
            raise requests.ConnectionError("the network is gone")
        return real_put(url, **kwargs)

    monkeypatch.setattr(client.session, "put", put)
    files = [tmp_path / "weights.bin"]
    with pytest.raises(ModelgateError):
        client.register_version("fraud", "churn", files, version="1.0.0", capture=False)
    puts.clear()
    updates: list[int] = []
    monkeypatch.setattr(client, "_bar", lambda *a, **kw: _Bar(updates))
    created = client.register_version("fraud", "churn", files, version="1.0.0", capture=False)
    assert created["artifacts"][0]["sha256"] == hashlib.sha256(data).hexdigest()
    assert puts[0] == "bytes 300-399/1024" and len(puts) == 8
    assert sum(updates) == len(data)
    assert not UploadSession.objects.exists()  # consumed by the version


class _Bar:
    def __init__(self, updates: list[int]) -> None:
        self.updates = updates

    def __enter__(self) -> _Bar:
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

    def update(self, n: int) -> None:
        self.updates.append(n)


def test_a_tag_value_that_is_not_text_fails_before_any_upload(client, model_dir, monkeypatch):
    monkeypatch.setattr(client, "upload", lambda *a, **kw: pytest.fail("uploaded"))
    with pytest.raises(TypeError, match="tags.seed"):
        client.register_version("fraud", "churn", model_dir, tags={"seed": 7}, capture=False)


def test_a_stale_offset_resumes_from_the_server(client, tmp_path, monkeypatch):
    """A 409 (the server is elsewhere) makes the client ask where to go on."""
    data = b"x" * 300
    (tmp_path / "w.bin").write_bytes(data)
    client.chunk_size = 100
    real_put = client.session.put
    sent = {"n": 0}

    def replaying_put(url: str, **kwargs: Any) -> requests.Response:
        sent["n"] += 1
        if sent["n"] == 2:  # send the first chunk twice: the second time answers 409
            first = {**kwargs, "data": data[:100], "headers": {
                **kwargs["headers"], "Content-Range": "bytes 0-99/300"}}  # fmt: skip
            response = real_put(url, **first)
            assert response.status_code == 409
            return response
        return real_put(url, **kwargs)

    monkeypatch.setattr(client.session, "put", replaying_put)
    created = client.register_version("fraud", "churn", {"w.bin": tmp_path / "w.bin"},
                                      version="1.0.0", capture=False)  # fmt: skip
    assert created["artifacts"][0]["size"] == 300


def test_a_download_resumes_a_partial_file(client, model_dir, tmp_path, monkeypatch):
    client.register_version("fraud", "churn", model_dir, version="1.0.0", capture=False)
    out = tmp_path / "out"
    out.mkdir()
    full = (model_dir / "model.bin").read_bytes()
    partial = out / ".modelgate-partial"  # where an interrupted download left its bytes
    partial.mkdir()
    (partial / hashlib.sha256(full).hexdigest()).write_bytes(full[:300])
    ranges: list[str | None] = []
    real = client.session.request

    def recording(method: str, url: str, **kwargs: Any) -> requests.Response:
        if "model.bin" in url:
            ranges.append((kwargs.get("headers") or {}).get("Range"))
        return real(method, url, **kwargs)

    monkeypatch.setattr(client.session, "request", recording)
    client.download("fraud", "churn", out, version="1.0.0")
    assert ranges == ["bytes=300-"]
    assert (out / "model.bin").read_bytes() == full
    assert not partial.exists()  # cleaned up once nothing is partial


def test_downloads_go_through_the_api_and_never_to_another_host(
    client, model_dir, tmp_path, monkeypatch
):
    client.register_version("fraud", "churn", model_dir, version="1.0.0", capture=False)
    urls: list[str] = []
    real = client.session.request

    def recording(method: str, url: str, **kwargs: Any) -> requests.Response:
        urls.append(url)
        return real(method, url, **kwargs)

    monkeypatch.setattr(client.session, "request", recording)
    client.download("fraud", "churn", tmp_path / "out", version="1.0.0")
    assert f"{client.api}/models/fraud/churn/versions/1.0.0/artifacts/model.bin" in urls
    real_version = client.get_version

    def foreign(*args: Any) -> dict[str, Any]:
        detail = real_version(*args)
        detail["artifacts"][0]["download_url"] = "http://evil.example:9/model.bin"
        return detail

    monkeypatch.setattr(client, "get_version", foreign)
    with pytest.raises(ModelgateError, match="refusing to send the token"):
        client.download("fraud", "churn", tmp_path / "elsewhere", version="1.0.0")


def test_a_partial_download_never_touches_an_artifact_named_like_it(client, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "m").write_bytes(b"model")
    (src / "m.part").write_bytes(b"a real artifact called m.part")
    client.register_version("fraud", "churn", src, version="1.0.0", capture=False)
    out = tmp_path / "out"
    client.download("fraud", "churn", out, version="1.0.0")
    (out / "m").unlink()  # re-sync after the model file was removed locally
    client.download("fraud", "churn", out, version="1.0.0")
    assert (out / "m").read_bytes() == b"model"
    assert (out / "m.part").read_bytes() == b"a real artifact called m.part"


def test_it_never_sends_the_token_to_another_host(client) -> None:
    with pytest.raises(mg.ModelgateError, match="refusing to send the token"):
        client.request("GET", "http://evil.example:9/steal")


def test_a_checksum_mismatch_deletes_the_file_and_raises(client, model_dir, tmp_path, monkeypatch):
    client.register_version("fraud", "churn", model_dir, version="1.0.0", capture=False)
    real = client.get_version

    def tampered(*args: Any) -> dict[str, Any]:
        detail = real(*args)
        detail["artifacts"][0]["sha256"] = "0" * 64
        return detail

    monkeypatch.setattr(client, "get_version", tampered)
    out = tmp_path / "out"
    with pytest.raises(ChecksumMismatch) as caught:
        client.download("fraud", "churn", out, version="1.0.0")
    assert caught.value.code == "checksum_mismatch"
    assert not [p for p in out.rglob("*") if p.is_file() and p.name.startswith("README")]
    assert not list(out.rglob(".modelgate-partial"))  # no partial-download folder left behind


def test_download_refuses_paths_outside_dest(client, model_dir, tmp_path, monkeypatch):
    client.register_version("fraud", "churn", model_dir, version="1.0.0", capture=False)
    real = client.get_version

    def escaping(*args: Any) -> dict[str, Any]:
        detail = real(*args)
        detail["artifacts"][0]["path"] = "../escaped.bin"
        return detail

    monkeypatch.setattr(client, "get_version", escaping)
    with pytest.raises(ModelgateError, match="refusing"):
        client.download("fraud", "churn", tmp_path / "out", version="1.0.0")
    assert not (tmp_path / "escaped.bin").exists()


def test_errors_carry_the_servers_code_and_field(client):
    with pytest.raises(ModelgateError) as caught:
        client.get_version("fraud", "churn", "9.9.9")
    assert (caught.value.status, caught.value.code) == (404, "not_found")
    with pytest.raises(ModelgateError) as caught:
        client.register_version("fraud", "churn", version="1.0.0", capture=False, colour="red")
    assert (caught.value.status, caught.value.code, caught.value.field) == (
        422,
        "unknown_field",
        "colour",
    )
    with pytest.raises(ModelgateError) as caught:
        list(client.search("metrics.test.auc >="))
    assert caught.value.code == "invalid_query" and caught.value.field == "q"


def test_connection_errors_and_502_are_retried_but_not_4xx(client, monkeypatch):
    real = client.session.request
    calls: list[str] = []
    failures = [requests.ConnectionError("refused"), 502]

    def flaky(method: str, url: str, **kwargs: Any) -> requests.Response:
        calls.append(url)
        failure = failures.pop(0) if failures else None
        if isinstance(failure, Exception):
            raise failure
        if failure == 502:
            response = requests.Response()
            response.status_code = 502
            response.raw = io.BytesIO(b"Bad Gateway")
            return response
        return real(method, url, **kwargs)

    monkeypatch.setattr(client.session, "request", flaky)
    assert [t["slug"] for t in client.teams()] == ["fraud"]
    assert len(calls) == 3
    calls.clear()
    with pytest.raises(ModelgateError):
        client.get_model("fraud", "nope")
    assert len(calls) == 1


def test_retries_give_up(client, monkeypatch):
    def down(*args: Any, **kwargs: Any) -> requests.Response:
        raise requests.ConnectionError("refused")

    monkeypatch.setattr(client.session, "request", down)
    with pytest.raises(requests.ConnectionError):
        client.teams()


def test_a_bad_token_answers_401(server):
    with pytest.raises(ModelgateError) as caught:
        mg.Client(server, "mg_not-a-token", progress=False).teams()
    assert caught.value.status == 401


# --- capture (no server) --------------------------------------------------------------


def test_credentials_are_stripped_from_remotes():
    strip = capture.strip_credentials
    assert strip("https://user:secret@github.com/o/r.git") == "https://github.com/o/r.git"
    assert strip("git@github.com:o/r.git") == "git@github.com:o/r.git"


def test_git_capture_is_skipped_outside_a_repository(tmp_path):
    assert capture.git(tmp_path) == {}


def test_git_capture_reads_a_repository(tmp_path):
    run = {"cwd": tmp_path, "check": True, "capture_output": True}
    try:
        subprocess.run(["git", "init", "-q", "-b", "main"], **run)
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("git is not available")
    subprocess.run(["git", "remote", "add", "origin", "https://bob:pw@example.com/r.git"], **run)
    (tmp_path / "f").write_text("1")
    subprocess.run(["git", "add", "f"], **run)
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@e", "commit", "-qm", "c"], **run
    )
    code = capture.git(tmp_path / "f")
    assert code["code_branch"] == "main" and len(code["code_commit"]) == 40
    assert code["code_repository"] == "https://example.com/r.git"
    assert code["code_dirty"] is False
    (tmp_path / "f").write_text("2")
    assert capture.git(tmp_path)["code_dirty"] is True


def _run_as_script(monkeypatch: pytest.MonkeyPatch, argv0: Any, module: str | None = None) -> None:
    """As if `python <argv0>` (or `python -m <module>`) were running."""
    spec = None if module is None else type("Spec", (), {"name": module})()
    monkeypatch.setattr(sys.modules["__main__"], "__spec__", spec, raising=False)
    monkeypatch.setattr(sys, "argv", [str(argv0)])


def test_entry_point_is_the_training_program(tmp_path, monkeypatch):
    _run_as_script(monkeypatch, tmp_path / "jobs" / "train.py")
    assert capture.entry_point() == "train.py"  # outside a git work tree: its name
    try:
        subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("git is not available")
    (tmp_path / "jobs").mkdir()
    assert capture.entry_point() == "jobs/train.py"  # in one: its path there
    _run_as_script(monkeypatch, tmp_path / "x", module="pipelines.train")
    assert capture.entry_point() == "python -m pipelines.train"


@pytest.mark.parametrize(
    ("argv0", "module"),
    [
        ("/venv/bin/modelgate", None),  # the CLI registers, but is not the training code
        ("/venv/lib/ipykernel_launcher.py", None),  # a notebook
        ("-m", "ipykernel_launcher"),
        ("-c", None),
    ],
)
def test_entry_point_is_left_empty_when_unknown(monkeypatch, argv0, module):
    _run_as_script(monkeypatch, argv0, module)
    assert capture.entry_point() == ""


def test_gpu_capture_never_fails_without_nvidia_smi(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    assert capture.gpus() == []


def test_collect_files_rejects_duplicates_and_missing(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "x").write_text("1")
    (tmp_path / "b" / "x").write_text("2")
    with pytest.raises(ValueError, match="'x'"):
        mg.client.collect_files([tmp_path / "a", tmp_path / "b"])
    with pytest.raises(FileNotFoundError):
        mg.client.collect_files([tmp_path / "missing"])
    with pytest.raises(ValueError, match="unsafe"):
        mg.client.collect_files({"../x": tmp_path / "a" / "x"})


def test_it_does_not_repeat_a_registration_that_timed_out(client, model_dir, monkeypatch):
    calls: list[str] = []
    real = client.session.request

    def timing_out(method: str, url: str, **kwargs: Any) -> requests.Response:
        if method == "POST" and url.endswith("/versions"):
            calls.append(url)
            real(method, url, **kwargs)  # the server applies it; the answer is lost
            raise requests.ReadTimeout("read timed out")
        return real(method, url, **kwargs)

    monkeypatch.setattr(client.session, "request", timing_out)
    with pytest.raises(requests.ReadTimeout):
        client.register_version("fraud", "churn", model_dir, version="1.0.0", capture=False)
    assert len(calls) == 1  # not retried: the version exists once
    assert [v["version"] for v in client.versions("fraud", "churn")] == ["1.0.0"]


@pytest.mark.parametrize(
    ("version", "line"),
    [
        ("1.26.4", "numpy==1.26.4"),
        ("2.0.0rc1", "numpy==2.0.0rc1"),
        ("1.1build1", "numpy===1.1build1"),
        ("weird version", "numpy"),
    ],
)
def test_it_pins_every_installed_package_in_a_form_the_server_accepts(version, line, monkeypatch):
    from modelgate_client import capture
    from packaging.requirements import Requirement

    class Dist:
        metadata = {"Name": "NumPy"}

    dist = Dist()
    dist.version = version
    monkeypatch.setattr(capture.importlib.metadata, "distributions", lambda: [dist])
    assert capture.packages() == [line]
    Requirement(line)  # what the server parses it with


def test_it_resolves_and_downloads_by_alias(client, model_dir, contributor, tmp_path):
    from registry import aliases
    from registry.models import ModelVersion

    client.register_version("fraud", "churn", model_dir, version="1.0.0", capture=False)
    client.register_version("fraud", "churn", model_dir, version="2.0.0", capture=False)
    old = ModelVersion.objects.get(version="1.0.0")
    aliases.set_alias(old.model, "champion", old, contributor)

    assert client.resolve("fraud", "churn", alias="champion")["version"] == "1.0.0"
    paths = client.download("fraud", "churn", tmp_path / "out", alias="champion")
    assert sorted(p.name for p in paths) == ["README.md", "model.bin", "params.json"]
    with pytest.raises(ValueError, match="stage or an alias"):
        client.resolve("fraud", "churn")


def test_a_maintainer_deletes_a_version_and_an_empty_model(server, maintainer, make_version):
    _token, secret = tokens.create(maintainer, name="admin-job", scopes=["read", "write"])
    api = mg.Client(server, secret, backoff=0, progress=False)
    make_version(RegisteredModel.objects.get(name="churn"), "1.0.0")
    with pytest.raises(ModelgateError) as caught:
        api.delete_model("fraud", "churn")  # it has a version
    assert (caught.value.status, caught.value.code) == (409, "conflict")
    assert api.delete_version("fraud", "churn", "1.0.0") is None
    assert [v["version"] for v in api.versions("fraud", "churn")] == []
    assert api.delete_model("fraud", "churn") is None
    with pytest.raises(ModelgateError) as caught:
        api.get_model("fraud", "churn")
    assert caught.value.status == 404


def test_a_contributor_may_not_delete(client):
    with pytest.raises(ModelgateError) as caught:
        client.delete_model("fraud", "churn")
    assert (caught.value.status, caught.value.code) == (403, "permission_denied")


def test_it_records_a_source_and_a_captured_commit(client, model_dir, tmp_path, monkeypatch):
    run = {"cwd": tmp_path, "check": True, "capture_output": True}
    try:
        subprocess.run(["git", "init", "-q", "-b", "main"], **run)
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("git is not available")
    (tmp_path / "f").write_text("1")
    subprocess.run(["git", "add", "f"], **run)
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@e", "commit", "-qm", "c"], **run
    )
    monkeypatch.chdir(tmp_path)
    detail = client.register_version(
        "fraud", "churn", model_dir, version="1.0.0", source="s3://bucket/churn/1/", dvc=False
    )
    assert detail["source"] == "s3://bucket/churn/1/"
    # The commit git reports is one the server's rule takes (7-40 or 64 hex digits).
    assert len(detail["code"]["commit"]) == 40
    assert ModelVersion.objects.get(version="1.0.0").source == "s3://bucket/churn/1/"


def test_the_servers_own_urls_are_its_origin_in_any_case(server, token, model_dir, tmp_path):
    """download_url comes back with the host as the server writes it (lower case)."""
    parts = urlsplit(server)
    shouting = f"{parts.scheme.upper()}://{parts.netloc.upper()}"
    api = mg.Client(shouting, token, backoff=0, progress=False)
    api.register_version("fraud", "churn", model_dir, version="1.0.0", capture=False)
    paths = api.download("fraud", "churn", tmp_path / "out", version="1.0.0")
    assert len(paths) == 3


@pytest.mark.parametrize(
    ("base", "url", "sent"),
    [
        ("http://example.com", "http://EXAMPLE.com:80/api/v1/teams", True),
        ("HTTPS://Example.com:443", "https://example.com/api/v1/teams", True),
        ("http://[::1]:8000", "http://[::1]:8000/x", True),
        ("http://example.com", "http://example.com:8080/x", False),
        ("http://example.com", "https://example.com/x", False),
        ("https://example.com", "https://example.com:80/x", False),
        ("http://example.com", "http://example.com.evil.test/x", False),
        ("http://example.com", "http://evil.test/?http://example.com", False),
        ("http://example.com", "http://user@evil.test/x", False),
        ("http://example.com", "http://example.com:port/x", False),
    ],
)
def test_the_token_goes_only_to_the_same_origin(monkeypatch, base, url, sent):
    calls: list[str] = []

    def answer(method: str, url: str, **kwargs: Any) -> requests.Response:
        calls.append(url)
        response = requests.Response()
        response.status_code = 200
        response.raw = io.BytesIO(b"{}")
        return response

    api = mg.Client(base, "mg_secret", backoff=0, progress=False)
    monkeypatch.setattr(api.session, "request", answer)
    if sent:
        assert api.request("GET", url) == {} and calls == [url]
    else:
        with pytest.raises(ModelgateError, match="refusing to send the token"):
            api.request("GET", url)
        assert calls == []


def test_new_tags_replace_all_and_a_none_value_is_a_label(client, model_dir):
    client.register_version("fraud", "churn", model_dir, version="1.0.0", capture=False,
                            tags={"owner": "fraud", "data": "2025-01"})  # fmt: skip
    updated = client.update_version(
        "fraud", "churn", "1.0.0", tags={"owner": "ml", "reviewed": None}
    )
    assert updated["tags"] == {"owner": "ml", "reviewed": ""}  # "data" is gone
    kept = client.update_version("fraud", "churn", "1.0.0", description="Checked.")
    assert kept["tags"] == {"owner": "ml", "reviewed": ""} and kept["description"] == "Checked."

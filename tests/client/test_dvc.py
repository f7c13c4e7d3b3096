"""The client records the DVC-tracked datasets of the training repository as lineage."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from modelgate_client import dvc

from lineage.models import DatasetVersion

pytestmark = pytest.mark.django_db(transaction=True)

MD5_TRAIN = "a304afb96060aad90176268345e10355"
MD5_IMAGES = "b5a3d7f1c2e4f60718293a4b5c6d7e8f"
MD5_RAW = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def dvc_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "training"
    (repo / ".dvc").mkdir(parents=True)
    (repo / ".git").mkdir()
    (repo / ".dvc" / "config").write_text(textwrap.dedent("""\
        [core]
            remote = storage
        ['remote "storage"']
            url = s3://user:secret@ml-data/dvcstore
    """))  # fmt: skip
    (repo / "dvc.lock").write_text(textwrap.dedent(f"""\
        schema: '2.0'
        stages:
          train:
            cmd: python train.py
            deps:
            - path: data/train.csv
              hash: md5
              md5: {MD5_TRAIN}
              size: 2048
            - path: data/images
              hash: md5
              md5: {MD5_IMAGES}.dir
              size: 90000
              nfiles: 12
            - path: train.py
              hash: md5
              md5: ffffffffffffffffffffffffffffffff
              size: 100
            outs:
            - path: model.pkl
              hash: md5
              md5: eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee
    """))  # fmt: skip
    (repo / "data").mkdir()
    (repo / "data" / "raw.parquet.dvc").write_text(textwrap.dedent(f"""\
        outs:
        - md5: {MD5_RAW}
          size: 512
          path: raw.parquet
    """))  # fmt: skip
    (repo / "external.csv.dvc").write_text(textwrap.dedent("""\
        deps:
        - path: s3://public/external.csv
        outs:
        - etag: '"9f8e7d"'
          size: 10
          path: external.csv
    """))  # fmt: skip
    (repo / "src").mkdir()
    return repo


def test_it_reads_dvc_lock_and_dvc_files(dvc_repo: Path) -> None:
    found = {ref["name"]: ref for ref in dvc.datasets(dvc_repo / "src")}
    assert sorted(found) == ["data/images", "data/raw.parquet", "data/train.csv", "external.csv"]
    assert found["data/train.csv"] == {
        "name": "data/train.csv",
        "version": MD5_TRAIN,
        "digest": f"md5:{MD5_TRAIN}",
        "uri": f"s3://ml-data/dvcstore/files/md5/{MD5_TRAIN[:2]}/{MD5_TRAIN[2:]}",
        "size_bytes": 2048,
    }
    assert found["data/images"]["uri"].endswith(f"{MD5_IMAGES[2:]}.dir")
    assert found["data/raw.parquet"]["uri"] == f"s3://ml-data/dvcstore/{MD5_RAW[:2]}/{MD5_RAW[2:]}"
    assert found["external.csv"]["digest"] == "etag:9f8e7d"
    assert "secret" not in repr(found)  # remote credentials never leave the machine


def test_it_finds_nothing_outside_a_dvc_repository(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    assert dvc.datasets(tmp_path) == []


def test_register_version_records_dvc_datasets_in_lineage(
    client, dvc_repo, model_dir, monkeypatch
) -> None:
    monkeypatch.chdir(dvc_repo)
    created = client.register_version(
        "fraud", "churn", model_dir, version="1.0.0", datasets=["s3://data/extra"]
    )
    assert sorted(created["lineage"]["datasets"]) == sorted([
        "s3://data/extra",
        f"data/images@{MD5_IMAGES}",
        f"data/raw.parquet@{MD5_RAW}",
        f"data/train.csv@{MD5_TRAIN}",
        "external.csv@9f8e7d",
    ])  # fmt: skip
    stored = DatasetVersion.objects.get(dataset__name="data/train.csv")
    assert (stored.version, stored.digest, stored.size_bytes) == (
        MD5_TRAIN,
        f"md5:{MD5_TRAIN}",
        2048,
    )
    assert stored.uri.startswith("s3://ml-data/dvcstore/files/md5/")
    # Without DVC capture nothing is added.
    again = client.register_version("fraud", "churn", model_dir, version="1.0.1", dvc=False)
    assert again["lineage"]["datasets"] == []


@pytest.fixture
def no_yaml_reader(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Neither PyYAML nor ruamel.yaml can be imported (the client installed without extras)."""
    for name in ("yaml", "ruamel", "ruamel.yaml"):
        monkeypatch.setitem(sys.modules, name, None)
    dvc._yaml.cache_clear()
    yield
    dvc._yaml.cache_clear()


@pytest.mark.usefixtures("no_yaml_reader")
def test_without_a_yaml_reader_the_version_is_registered_and_the_user_warned(
    client, dvc_repo, model_dir, monkeypatch
) -> None:
    with pytest.raises(dvc.YAMLUnavailable):
        dvc.datasets(dvc_repo)
    assert dvc.datasets(dvc_repo.parent) == []  # outside a DVC repository: nothing to read
    monkeypatch.chdir(dvc_repo)
    with pytest.warns(UserWarning, match=r"pip install 'modelgate-client\[dvc\]'"):
        created = client.register_version(
            "fraud", "churn", model_dir, version="1.0.0", datasets=["s3://data/extra"]
        )
    assert created["lineage"]["datasets"] == ["s3://data/extra"]

"""The bundle contract: what loads, and the one-line error for what does not."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from fyr.errors import BadBundle
from fyr.models.bundle import RolloutBundle, dump_bundle, load_bundle, parse_bundle

CORPUS = Path(__file__).resolve().parents[2] / "corpus"

MINIMAL: dict[str, Any] = {
    "apiVersion": "fyr/v1", "kind": "RolloutBundle", "cluster": "prod-eu-1",
    "collected_at": "2026-11-27T10:00:00Z",
    "deployment": {"metadata": {"name": "api", "namespace": "shop"},
                   "spec": {"template": {"spec": {"containers": [{"name": "app", "image": "x:1"}]}}}},
    "replicasets": [], "pods": [], "events": [],
    "logs": [{"pod": "api-7d9f-abcde", "container": "app", "previous": True, "text": "raw log"}],
}


def _write(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "b.json"
    path.write_text(json.dumps(data) if not isinstance(data, str) else data, encoding="utf-8")
    return path


def test_minimal_bundle_loads_with_optional_git_absent(tmp_path: Path) -> None:
    b = load_bundle(_write(tmp_path, MINIMAL))
    assert (b.cluster, b.namespace, b.name, b.git) == ("prod-eu-1", "shop", "api", None)
    assert b.logs[0].previous is True and b.collected_at.tzinfo is not None


def test_lists_may_be_missing_and_git_is_kept(tmp_path: Path) -> None:
    data = {k: v for k, v in MINIMAL.items() if k not in ("replicasets", "pods", "events", "logs")}
    data["git"] = {"project": "acme/shop-api", "commit": "abc1234", "team": "shop"}
    b = load_bundle(_write(tmp_path, data))
    assert b.pods == [] and b.git is not None and b.git.project == "acme/shop-api"


def test_dump_then_load_round_trips_the_contract_shape(tmp_path: Path) -> None:
    b = load_bundle(CORPUS / "python_keyerror_env.json")
    out = tmp_path / "again.json"
    dump_bundle(b, out)
    raw = json.loads(out.read_text(encoding="utf-8"))
    assert list(raw)[:2] == ["apiVersion", "kind"] and raw["apiVersion"] == "fyr/v1"
    assert raw["collected_at"].endswith("Z")
    assert load_bundle(out) == b


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda d: d.update(apiVersion="fyr/v2"), "apiVersion must be 'fyr/v1', got 'fyr/v2'"),
    (lambda d: d.update(kind="Bundle"), "kind must be 'RolloutBundle', got 'Bundle'"),
    (lambda d: d.pop("cluster"), "cluster: Field required"),
    (lambda d: d.update(collected_at="2026-11-27T10:00:00"), "collected_at: must carry a timezone"),
    (lambda d: d.update(collected_at="yesterday"), "collected_at: Input should be a valid datetime"),
    (lambda d: d["deployment"].pop("metadata"), "deployment.metadata must be an object"),
    (lambda d: d["deployment"]["metadata"].pop("name"), "deployment.metadata.name must be a non-empty string"),
    (lambda d: d["deployment"]["spec"].pop("template"), "deployment.spec.template must be an object"),
    (lambda d: d["deployment"]["spec"]["template"]["spec"].update(containers=[]),
     "deployment.spec.template.spec.containers must be a non-empty list"),
    (lambda d: d.update(pods=[{"metadata": {}}]), "pods[0].metadata.name must be a non-empty string"),
    (lambda d: d.update(replicasets=["rs"]), "replicasets"),
    (lambda d: d.update(logs=[{"pod": "p", "text": "x"}]), "logs.0.container: Field required"),
    (lambda d: d.update(logs=[{"pod": "p", "container": "c", "previous": "maybe"}]), "logs.0.previous"),
    (lambda d: d.update(events="none"), "events: Input should be a valid list"),
])
def test_invalid_bundle_is_one_line_naming_the_problem(tmp_path: Path, mutate: Any, message: str) -> None:
    data = copy.deepcopy(MINIMAL)
    mutate(data)
    path = _write(tmp_path, data)
    with pytest.raises(BadBundle) as info:
        load_bundle(path)
    text = str(info.value)
    assert "\n" not in text
    assert text.startswith(str(path))
    assert message in text


@pytest.mark.parametrize(("content", "message"), [
    ("{not json", "not valid JSON: Expecting property name enclosed in double quotes at line 1 column 2"),
    ("[1, 2]", "top level must be a JSON object"),
    ("", "not valid JSON"),
])
def test_unreadable_file_is_one_line(tmp_path: Path, content: str, message: str) -> None:
    with pytest.raises(BadBundle, match=message):
        load_bundle(_write(tmp_path, content))


def test_missing_file_and_directory_are_named(tmp_path: Path) -> None:
    with pytest.raises(BadBundle, match="no such file"):
        load_bundle(tmp_path / "absent.json")
    with pytest.raises(BadBundle, match="is a directory"):
        load_bundle(tmp_path)


def test_binary_file_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    path.write_bytes(b"{\x80\x81 garbage}")
    with pytest.raises(BadBundle, match="not UTF-8"):
        load_bundle(path)


def test_parse_accepts_the_model_alias_and_rejects_non_objects() -> None:
    assert isinstance(parse_bundle(copy.deepcopy(MINIMAL)), RolloutBundle)
    with pytest.raises(BadBundle, match="top level must be a JSON object"):
        parse_bundle("nope")


def test_every_corpus_bundle_loads() -> None:
    for path in CORPUS.glob("*.json"):
        assert load_bundle(path).kind == "RolloutBundle"

"""Where the Kubernetes credentials come from."""

from __future__ import annotations

from pathlib import Path

import certifi
import pytest

from fyr.core.kubeclient import make_api_client
from fyr.errors import ConfigError


async def test_explicit_kubeconfig_file_is_used(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: k, cluster: {server: 'https://10.1.2.3:6443'}}]\n"
        "users: [{name: u, user: {token: abc}}]\n"
        "contexts: [{name: c, context: {cluster: k, user: u}}]\n"
    )
    api = await make_api_client(kubeconfig=path)
    async with api:
        assert api.configuration.host == "https://10.1.2.3:6443"
        assert api.configuration.api_key["BearerToken"] in ("Bearer abc", "abc")


async def test_in_cluster_service_account_when_no_kubeconfig(tmp_path: Path, monkeypatch) -> None:
    token = tmp_path / "token"
    token.write_text("sa-token")
    ca = certifi.where()  # any valid PEM bundle stands in for the cluster CA
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    monkeypatch.setattr("kubernetes_asyncio.config.incluster_config.SERVICE_TOKEN_FILENAME", str(token))
    monkeypatch.setattr("kubernetes_asyncio.config.incluster_config.SERVICE_CERT_FILENAME", ca)
    api = await make_api_client(kubeconfig=None)
    async with api:
        assert api.configuration.host == "https://10.96.0.1:443"
        assert api.configuration.api_key["BearerToken"] == "Bearer sa-token"


async def test_missing_kubeconfig_is_a_one_line_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"kubeconfig .*nope does not exist: pass --kubeconfig PATH") as err:
        await make_api_client(kubeconfig=tmp_path / "nope")
    assert "\n" not in str(err.value)


async def test_no_kubeconfig_anywhere_names_the_default_file_and_the_options(tmp_path: Path, monkeypatch) -> None:
    # Before: "Invalid kube-config file. Expected key current-context" for a file that does not exist.
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(ConfigError) as err:
        await make_api_client(kubeconfig=None)
    message = str(err.value)
    assert str(tmp_path / ".kube" / "config") in message and "does not exist" in message
    assert "--kubeconfig" in message and "--context" in message
    assert "current-context" not in message


def _two_contexts(path: Path) -> Path:
    path.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: a\n"
        "clusters: [{name: ka, cluster: {server: 'https://10.0.0.1:6443'}},"
        " {name: kb, cluster: {server: 'https://10.0.0.2:6443'}}]\n"
        "users: [{name: u, user: {token: abc}}]\n"
        "contexts: [{name: a, context: {cluster: ka, user: u}}, {name: b, context: {cluster: kb, user: u}}]\n"
    )
    return path


async def test_context_picks_another_cluster_of_the_kubeconfig(tmp_path: Path) -> None:
    path = _two_contexts(tmp_path / "config")
    api = await make_api_client(kubeconfig=path, context="b")
    async with api:
        assert api.configuration.host == "https://10.0.0.2:6443"


async def test_unknown_context_lists_the_contexts_there_are(tmp_path: Path) -> None:
    path = _two_contexts(tmp_path / "config")
    with pytest.raises(ConfigError, match="has no context 'prod'; its contexts: a, b"):
        await make_api_client(kubeconfig=path, context="prod")

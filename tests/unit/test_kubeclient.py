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
    with pytest.raises(ConfigError, match="cannot load Kubernetes credentials"):
        await make_api_client(kubeconfig=tmp_path / "nope")

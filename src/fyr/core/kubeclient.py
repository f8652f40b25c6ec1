"""The one place a Kubernetes API client is configured (watcher and analyzer collector share it).

Why it exists: both services need the same rule for where credentials come from — an explicit
kubeconfig file first, else the pod's service account when running in a cluster, else the user's
default kubeconfig — and neither should mutate kubernetes_asyncio's global default configuration.
"""

from __future__ import annotations

import os
from pathlib import Path

from kubernetes_asyncio import client, config

from fyr.errors import ConfigError


async def make_api_client(*, kubeconfig: Path | None) -> client.ApiClient:
    """A fresh ApiClient; the caller closes it (`async with` or `await api.close()`).

    `kubeconfig` given: that file. Otherwise, inside a pod (KUBERNETES_SERVICE_HOST set): the
    mounted service-account token and CA. Otherwise: `$KUBECONFIG` or `~/.kube/config`.
    """
    try:
        if kubeconfig is not None:
            return await config.new_client_from_config(config_file=str(kubeconfig), persist_config=False)
        if os.environ.get("KUBERNETES_SERVICE_HOST"):
            configuration = client.Configuration()
            config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
            return client.ApiClient(configuration=configuration)
        # None: the library's default, $KUBECONFIG (colon-separated lists merged) or ~/.kube/config.
        return await config.new_client_from_config(config_file=None, persist_config=False)
    except (config.ConfigException, OSError) as exc:
        where = str(kubeconfig) if kubeconfig else "in-cluster/default kubeconfig"
        raise ConfigError(f"cannot load Kubernetes credentials ({where}): {exc}") from exc

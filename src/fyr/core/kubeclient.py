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

HOW = ("pass --kubeconfig PATH (or set KUBECONFIG) and --context NAME to choose a context; "
       "inside a cluster Fyr uses its service account")


async def make_api_client(*, kubeconfig: Path | None, context: str | None = None) -> client.ApiClient:
    """A fresh ApiClient; the caller closes it (`async with` or `await api.close()`).

    `kubeconfig` given: that file. Otherwise, inside a pod (KUBERNETES_SERVICE_HOST set): the
    mounted service-account token and CA. Otherwise: `$KUBECONFIG` or `~/.kube/config`. `context`
    picks a context of the file (default: its current-context).
    """
    if kubeconfig is None and os.environ.get("KUBERNETES_SERVICE_HOST") and context is None:
        try:
            configuration = client.Configuration()
            config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
            return client.ApiClient(configuration=configuration)
        except (config.ConfigException, OSError) as exc:
            raise ConfigError(f"cannot load the in-cluster service account: {exc}") from exc
    check_credentials(kubeconfig=kubeconfig, context=context)
    file = _kubeconfig_file(kubeconfig)
    try:
        return await config.new_client_from_config(config_file=file, context=context, persist_config=False)
    except (config.ConfigException, OSError) as exc:
        first = (str(exc).splitlines() or [""])[0]
        raise ConfigError(f"cannot load Kubernetes credentials from {file or '$KUBECONFIG'}: {first}; {HOW}") from exc


def check_credentials(*, kubeconfig: Path | None, context: str | None = None) -> None:
    """Fail before anything starts when the kubeconfig file or context named cannot be there."""
    if kubeconfig is None and os.environ.get("KUBERNETES_SERVICE_HOST") and context is None:
        return
    file = _kubeconfig_file(kubeconfig)
    if context is None:
        return
    try:
        names = [str(c.get("name")) for c in config.list_kube_config_contexts(config_file=file)[0]]
    except (config.ConfigException, OSError) as exc:
        first = (str(exc).splitlines() or [""])[0]
        raise ConfigError(f"cannot read kubeconfig {file or '$KUBECONFIG'}: {first}; {HOW}") from exc
    if context not in names:
        raise ConfigError(f"kubeconfig {file or '$KUBECONFIG'} has no context {context!r}; "
                          f"its contexts: {', '.join(names) or 'none'}")


def _kubeconfig_file(kubeconfig: Path | None) -> str | None:
    """The file to read, checked to exist; None: let the library merge a `$KUBECONFIG` list."""
    raw = str(kubeconfig) if kubeconfig is not None else os.environ.get("KUBECONFIG", "")
    if os.pathsep in raw:
        return None
    path = Path(raw).expanduser() if raw else Path.home() / ".kube" / "config"
    if not path.is_file():
        named = "the kubeconfig" if raw else "no KUBECONFIG set and the default kubeconfig"
        raise ConfigError(f"{named} {path} does not exist: {HOW}")
    return str(path)

"""Corpus cases rebuilt from real public material: GitHub threads where users pasted `kubectl describe`,
events and logs. Each case cites its thread in `source`; the Kubernetes and application messages are
kept verbatim from it (image names, hosts and objects included); the objects around them — Deployment,
ReplicaSets, pods, counts, the noise in the logs — are written here.

They cover the shapes the synthetic cases missed: chained runtime errors whose cause is at the end of a
long line, old events where only the back-off is left, a generic timeout counted more often than the
specific "not found", a liveness kill followed by a clean exit, a start failure told only by the
kubelet's `Error: …` event, decisive application lines in noise, and causes no category names
(sandbox/CNI, evictions, a node going NotReady) which must come out as `unknown` naming the signal.
"""

from __future__ import annotations

from typing import Any

from builders import Rollout, running, template, terminated, waiting
from corpus_common import base_app, case, expect, noise

Case = tuple[dict[str, Any], dict[str, Any]]
FP = "spec.containers{app}"


def _src(exp: dict[str, Any], url: str) -> dict[str, Any]:
    exp["source"] = url
    return exp


def _rollout(name: str, ns: str, img: str, old_img: str, *, deadline: bool = False, replicas: int = 3,
             **extra: Any) -> Rollout:
    new = template(name, [base_app("app", img, **extra)])
    old = template(name, [base_app("app", old_img, **extra)])
    return Rollout(name, ns, new, old, deadline_exceeded=deadline, replicas=replicas)


# --- image pulls: chained containerd/Docker errors, old events ---------------------------------------

def _pull_case(name: str, img: str, failed_msg: str, *, waiting_reason: str = "ErrImagePull",
               waiting_msg: str | None = None, pods: int = 2, backoff_event: bool = True,
               failed_event: bool = True) -> Rollout:
    r = _rollout(name, "apps", img, img.rsplit(":", 1)[0] + ":previous", deadline=True)
    for i in range(pods):
        msg = waiting_msg if waiting_msg is not None else ""
        pod = r.pod(i, phase="Pending", statuses=[waiting("app", img, waiting_reason, msg)])
        r.event(pod, "Pulling", f'Pulling image "{img}"', type_="Normal", count=4, field_path=FP)
        if failed_event:
            r.event(pod, "Failed", failed_msg, count=4, field_path=FP)
            r.event(pod, "Failed", "Error: ErrImagePull", count=4, field_path=FP)
        if backoff_event:
            r.event(pod, "BackOff", f'Back-off pulling image "{img}"', type_="Normal", count=7, field_path=FP)
            r.event(pod, "Failed", "Error: ImagePullBackOff", count=6, field_path=FP)
    return r


@case
def case_real_pull_containerd_dns_no_such_host() -> Case:
    img = "registry.k8s.io/pause:3.10"
    msg = (f'Failed to pull image "{img}": failed to pull and unpack image "registry.k8s.io/pause:3.10": failed to '
           'resolve reference "registry.k8s.io/pause:3.10": failed to do request: Head '
           '"https://registry.k8s.io/v2/pause/manifests/3.10": dial tcp: lookup registry.k8s.io on '
           "192.168.98.2:53: no such host")
    r = _pull_case("pause-probe", img, msg)
    return r.bundle(), _src(expect("image_pull", ["lookup registry.k8s.io on 192.168.98.2:53: no such host"]),
                            "https://github.com/kelseyhightower/kubernetes-the-hard-way/issues/889")


@case
def case_real_pull_containerd_dns_new_kubelet_waiting_message() -> Case:
    img = "docker.io/rancher/pause:3.1"
    err = ('failed to pull and unpack image "docker.io/rancher/pause:3.1": failed to resolve reference '
           '"docker.io/rancher/pause:3.1": failed to do request: Head '
           "https://registry-1.docker.io/v2/rancher/pause/manifests/3.1: dial tcp: lookup registry-1.docker.io: "
           "Try again")
    r = _pull_case("upgrade-controller", img, f'Failed to pull image "{img}": {err}',
                   waiting_reason="ImagePullBackOff",
                   waiting_msg=f'Back-off pulling image "{img}": ErrImagePull: {err}')
    return r.bundle(), _src(expect("image_pull", ["lookup registry-1.docker.io: Try again"]),
                            "https://github.com/rancher/k3os/issues/431")


@case
def case_real_pull_containerd_connect_timeout() -> Case:
    img = "registry.k8s.io/kube-proxy:v1.28.2"
    msg = (f'Failed to pull image "{img}": rpc error: code = Unknown desc = failed to pull and unpack image '
           '"registry.k8s.io/kube-proxy:v1.28.2": failed to resolve reference "registry.k8s.io/kube-proxy:v1.28.2": '
           'failed to do request: Head "https://registry.k8s.io/v2/kube-proxy/manifests/v1.28.2": dial tcp '
           "34.96.108.209:443: connect: connection timed out")
    r = _pull_case("proxy-sidecar", img, msg, pods=3)
    return r.bundle(), _src(expect("image_pull", ["dial tcp 34.96.108.209:443: connect: connection timed out"]),
                            "https://github.com/kubernetes/kubeadm/issues/2936")


@case
def case_real_pull_containerd_no_route_to_host() -> Case:
    img = "registry.cn-hangzhou.aliyuncs.com/google_containers/etcd:3.5.12-0"
    msg = (f'Failed to pull image "{img}": rpc error: code = Unknown desc = failed to pull and unpack image '
           '"registry.cn-hangzhou.aliyuncs.com/google_containers/etcd:3.5.12-0": failed to resolve reference '
           '"registry.cn-hangzhou.aliyuncs.com/google_containers/etcd:3.5.12-0": failed to do request: Head '
           '"https://registry.cn-hangzhou.aliyuncs.com/v2/google_containers/etcd/manifests/3.5.12-0": dial tcp '
           "120.55.105.209:443: connect: no route to host")
    r = _pull_case("etcd-mirror", img, msg, waiting_reason="ImagePullBackOff",
                   waiting_msg=f'Back-off pulling image "{img}"')
    return r.bundle(), _src(expect("image_pull", ["connect: no route to host"]),
                            "https://github.com/kubernetes/kubernetes/issues/91402")


@case
def case_real_pull_docker_daemon_no_such_host() -> Case:
    img = "k.harbor.siat.ac.cn/ms/memcached"
    msg = (f'Failed to pull image "{img}": rpc error: code = Unknown desc = Error response from daemon: Get '
           '"https://k.harbor.siat.ac.cn/v2/": dial tcp: lookup k.harbor.siat.ac.cn on 192.168.65.2:53: no such host')
    r = _pull_case("memcached-profile", img, msg)
    return r.bundle(), _src(expect("image_pull", ["lookup k.harbor.siat.ac.cn on 192.168.65.2:53: no such host"]),
                            "https://github.com/Cloud-and-Distributed-Systems/Erms/issues/1")


@case
def case_real_pull_docker_dns_server_misbehaving() -> Case:
    img = "hjacobs/kube-ops-view:0.8.1"
    msg = (f'Failed to pull image "{img}": rpc error: code = Unknown desc = Error response from daemon: Get '
           "https://registry-1.docker.io/v2/: dial tcp: lookup registry-1.docker.io on 127.0.0.53:53: server "
           "misbehaving")
    r = _pull_case("kube-ops-view", img, msg, waiting_reason="ImagePullBackOff",
                   waiting_msg=f'Back-off pulling image "{img}"')
    return r.bundle(), _src(expect("image_pull", ["server misbehaving"]),
                            "https://github.com/hjacobs/kube-ops-view/issues/176")


@case
def case_real_pull_docker_manifest_unknown() -> Case:
    img = "lachlanevenson/k8s-kubectl:v1.18.20"
    msg = (f'Failed to pull image "{img}": rpc error: code = Unknown desc = Error response from daemon: manifest '
           "for lachlanevenson/k8s-kubectl:v1.18.20 not found: manifest unknown: manifest unknown")
    r = _pull_case("kubectl-runner", img, msg)
    return r.bundle(), _src(expect("image_pull", ["manifest for lachlanevenson/k8s-kubectl:v1.18.20 not found"]),
                            "https://github.com/lachie83/k8s-kubectl/issues/157")


@case
def case_real_pull_docker_access_denied() -> Case:
    img = "aero016/plateformservice:latest"
    msg = (f'Failed to pull image "{img}": rpc error: code = Unknown desc = Error response from daemon: pull access '
           "denied for aero016/plateformservice, repository does not exist or may require 'docker login': denied: "
           "requested access to the resource is denied")
    r = _pull_case("platforms", img, msg, waiting_reason="ImagePullBackOff",
                   waiting_msg=f'Back-off pulling image "{img}"')
    return r.bundle(), _src(expect("image_pull", ["pull access denied for aero016/plateformservice"]),
                            "https://github.com/binarythistle/S04E03---.NET-Microservices-Course-/issues/1")


@case
def case_real_pull_old_events_backoff_only_new_kubelet() -> Case:
    # The Failed events aged out; kubectl 1.33+ prefixes the container's field path to the message.
    img = "gcr.io/google-samples/kubernetes-bootcamp:v10"
    r = _rollout("kubernetes-bootcamp", "default", img, "docker.io/jocatalin/kubernetes-bootcamp:v2", deadline=True)
    for i in range(2):
        pod = r.pod(i, phase="Pending", statuses=[
            waiting("app", img, "ImagePullBackOff", f'Back-off pulling image "{img}"')])
        r.event(pod, "BackOff", f'spec.containers{{kubernetes-bootcamp}}: Back-off pulling image "{img}"',
                type_="Normal", count=20, field_path=FP)
        r.event(pod, "Failed", "spec.containers{kubernetes-bootcamp}: Error: ImagePullBackOff", count=20,
                field_path=FP)
    return r.bundle(), _src(expect("image_pull", ["gcr.io/google-samples/kubernetes-bootcamp:v10"]),
                            "https://github.com/kubernetes/website/issues/56173")


@case
def case_real_pull_old_events_backoff_only_no_waiting_message() -> Case:
    img = "k.harbor.siat.ac.cn/ms/memcached"
    r = _rollout("memcached-rate", "hotel-reserv", img, "memcached:1.6", deadline=True)
    for i in range(2):
        pod = r.pod(i, phase="Pending", statuses=[waiting("app", img, "ImagePullBackOff")])
        r.event(pod, "BackOff", "Back-off pulling image \"k.harbor.siat.ac.cn/ms/memcached\"", type_="Normal",
                count=7, field_path=FP)
        r.event(pod, "Failed", "Error: ImagePullBackOff", count=6, field_path=FP)
    return r.bundle(), _src(expect("image_pull", ["k.harbor.siat.ac.cn/ms/memcached"]),
                            "https://github.com/Cloud-and-Distributed-Systems/Erms/issues/1")


# --- mounts and volumes: the specific "not found" against the generic timeout -------------------------

def _mount_case(name: str, ns: str, specific: str, generic: str, *, generic_count: int = 14,
                specific_count: int = 3, volume: dict[str, Any] | None = None) -> Rollout:
    img = f"registry.example.com/{name}:1.4.0"
    vols = [volume or {"name": "config", "configMap": {"name": name}}]
    new = template(name, [base_app("app", img)], volumes=vols)
    old = template(name, [base_app("app", img.replace("1.4.0", "1.3.9"))], volumes=vols)
    r = Rollout(name, ns, new, old, deadline_exceeded=True)
    for i in range(2):
        pod = r.pod(i, phase="Pending", statuses=[waiting("app", img, "ContainerCreating")])
        r.event(pod, "FailedMount", generic, count=generic_count, ago=30)
        r.event(pod, "FailedMount", specific, count=specific_count, ago=60)
    return r


@case
def case_real_mount_configmap_not_found_behind_timeout() -> Case:
    r = _mount_case(
        "kube-apiserver", "hosted",
        'MountVolume.SetUp failed for volume "config" : configmap "kube-apiserver" not found',
        "Unable to attach or mount volumes: unmounted volumes=[config], unattached volumes=[config oauth "
        "kube-api-access-9k4zm]: timed out waiting for the condition")
    return r.bundle(), _src(expect("mount_failure", ['configmap "kube-apiserver" not found']),
                            "https://github.com/kubernetes/kubernetes/issues/90725")


@case
def case_real_mount_configmap_not_found_old_timeout_text() -> Case:
    r = _mount_case(
        "grafana", "monitoring",
        'MountVolume.SetUp failed for volume "config-volume" : configmap "grafana-import-dashboards" not found',
        'Unable to mount volumes for pod "grafana-6d8f9b7c5d-x2kqp_monitoring(8e9b74b2-697b-11e6-abb6-42010a800160)": '
        'timeout expired waiting for volumes to attach/mount for pod "grafana-6d8f9b7c5d-x2kqp"/"monitoring". list of '
        "unattached/unmounted volumes=[config-volume]", generic_count=30)
    return r.bundle(), _src(expect("mount_failure", ['configmap "grafana-import-dashboards" not found']),
                            "https://github.com/cuishuaigit/k8s-monitor/issues/2")


@case
def case_real_mount_secret_not_found_behind_timeout() -> Case:
    r = _mount_case(
        "eirini", "scf",
        'MountVolume.SetUp failed for volume "cf-secrets" : secrets "secrets-2.16.4-1" not found',
        "Unable to attach or mount volumes: unmounted volumes=[cf-secrets], unattached volumes=[cf-secrets "
        "default-token-7bqrn]: timed out waiting for the condition",
        volume={"name": "cf-secrets", "secret": {"secretName": "secrets-2.16.4-1"}})
    return r.bundle(), _src(expect("mount_failure", ['secrets "secrets-2.16.4-1" not found']),
                            "https://github.com/cloudfoundry/eirini-release/issues/111")


@case
def case_real_pvc_storageclass_not_found() -> Case:
    img = "prom/prometheus:v2.11.1"
    vols = [{"name": "prometheus-data", "persistentVolumeClaim": {"claimName": "prometheus-data-prometheus-0"}}]
    new = template("prometheus", [base_app("app", img)], volumes=vols)
    old = template("prometheus", [base_app("app", "prom/prometheus:v2.10.0")], volumes=vols)
    r = Rollout("prometheus", "kube-system", new, old, deadline_exceeded=True, replicas=1)
    pod = r.pod(0, phase="Pending", node=None, conditions=[
        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
         "message": "pod has unbound immediate PersistentVolumeClaims", "lastTransitionTime": "2026-11-27T09:55:00Z"}])
    r.event(pod, "FailedScheduling", "pod has unbound immediate PersistentVolumeClaims", count=279,
            source="default-scheduler")
    pvc = {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
           "metadata": {"name": "prometheus-data-prometheus-0", "uid": "5f0c0d1e-2a3b-4c5d-8e9f-0a1b2c3d4e5f"}}
    r.event(pvc, "ProvisioningFailed", 'storageclass.storage.k8s.io "standard" not found', count=1681,
            source="persistentvolume-controller")
    return r.bundle(), _src(expect("scheduling", ['storageclass.storage.k8s.io "standard" not found']),
                            "https://github.com/kubernetes/kubernetes/issues/81714")


# --- probes -----------------------------------------------------------------------------------------

def _probe_kill_case(name: str, ns: str, unhealthy: str, *, exit_code: int, reason: str,
                     logs: list[str]) -> Rollout:
    img = f"registry.example.com/{name}:2.0.0"
    probe = {"httpGet": {"path": "/health", "port": 80}, "initialDelaySeconds": 5, "periodSeconds": 5,
             "failureThreshold": 3}
    r = _rollout(name, ns, img, img.replace("2.0.0", "1.9.0"), livenessProbe=probe)
    for i in range(2):
        st = waiting("app", img, "CrashLoopBackOff",
                     "back-off 1m20s restarting failed container=app pod=__POD_____NS__(__UID__)", restarts=4 + i,
                     last=terminated(reason, exit_code))
        pod = r.pod(i, statuses=[st])
        r.event(pod, "Unhealthy", unhealthy, count=12, field_path=FP)
        r.event(pod, "Killing", "Container app failed liveness probe, will be restarted", type_="Normal", count=4,
                field_path=FP)
        r.event(pod, "BackOff", f"Back-off restarting failed container app in pod {pod['metadata']['name']}_{ns}"
                f"({pod['metadata']['uid']})", count=9, field_path=FP)
        r.log(pod, "app", "\n".join(logs) + "\n", previous=True)
    return r


@case
def case_real_liveness_kill_then_clean_exit() -> Case:
    logs = ["AH00558: httpd: Could not reliably determine the server's fully qualified domain name, using "
            "10.244.0.23. Set the 'ServerName' directive globally to suppress this message",
            "[Tue Apr 19 08:12:11.000000 2022] [mpm_event:notice] [pid 1:tid 140] AH00489: Apache/2.4.53 (Unix) "
            "configured -- resuming normal operations",
            '10.244.0.1 - - [19/Apr/2022:08:12:16 +0000] "GET /health HTTP/1.1" 404 196',
            '10.244.0.1 - - [19/Apr/2022:08:12:21 +0000] "GET /health HTTP/1.1" 404 196',
            "[Tue Apr 19 08:12:26.000000 2022] [mpm_event:notice] [pid 1:tid 140] AH00492: caught SIGWINCH, "
            "shutting down gracefully"]
    r = _probe_kill_case("liveness", "default", "Liveness probe failed: HTTP probe failed with statuscode: 404",
                         exit_code=0, reason="Completed", logs=logs)
    return r.bundle(), _src(expect("probe_failure", ["Liveness probe failed: HTTP probe failed with statuscode: 404"]),
                            "https://github.com/kubernetes/kubernetes/issues/109537")


@case
def case_real_liveness_kill_then_clean_exit_old_kubelet() -> Case:
    logs = ["2018/03/15 10:01:02 [ INFO] Gogs 0.11.34.0122", "2018/03/15 10:01:02 [ INFO] Listen: http://0.0.0.0:3000",
            "2018/03/15 10:01:40 [ INFO] Received SIGTERM, shutting down"]
    r = _probe_kill_case("gogs", "gogs",
                         "Liveness probe failed: Get http://172.17.0.7:3000/: dial tcp 172.17.0.7:3000: getsockopt: "
                         "connection refused", exit_code=0, reason="Completed", logs=logs)
    return r.bundle(), _src(expect("probe_failure", ["dial tcp 172.17.0.7:3000: getsockopt: connection refused"]),
                            "https://github.com/OpenShiftDemos/gogs-openshift-docker/issues/22")


@case
def case_real_readiness_wrong_port_app_listens_elsewhere() -> Case:
    img = "grafana/pyroscope:1.4.0"
    probe = {"httpGet": {"path": "/ready", "port": 4040}, "periodSeconds": 10}
    r = _rollout("pyroscope", "observability", img, "grafana/pyroscope:1.3.0", deadline=True, readinessProbe=probe)
    app_log = [*noise(40, 7), 'level=info ts=2024-02-14T10:00:01.1Z caller=server.go:322 http=[::]:4100 '
               'grpc=[::]:9095 msg="server listening on addresses"', *noise(60, 8)]
    for i in range(3):
        pod = r.pod(i, statuses=[running("app", img)])
        ip = f"10.2.9.{133 + i}"
        r.event(pod, "Unhealthy", f'Readiness probe failed: Get "http://{ip}:4040/ready": dial tcp {ip}:4040: '
                "connect: connection refused", count=40, field_path=FP)
        r.log(pod, "app", "\n".join(app_log) + "\n")
    return r.bundle(), _src(expect("probe_failure", ["connect: connection refused", "server listening on addresses"]),
                            "https://github.com/grafana/pyroscope/issues/3005")


@case
def case_real_readiness_tcp_wrong_port_node_app() -> Case:
    img = "gitea/gitea:1.9.3"
    probe = {"tcpSocket": {"port": 3000}, "periodSeconds": 10}
    r = _rollout("gitea", "default", img, "gitea/gitea:1.9.2", deadline=True, readinessProbe=probe)
    app_log = ["2020/04/09 18:01:02 cmd/web.go:151:runWeb() [I] Starting Gitea on PID: 1",
               "2020/04/09 18:01:02 routers/init.go:108:GlobalInit() [I] Log Mode: Console(Console:Info)",
               "2020/04/09 18:01:02 cmd/web.go:208:runWeb() [I] Listen: http://0.0.0.0:8080"]
    for i in range(2):
        pod = r.pod(i, statuses=[running("app", img)])
        ip = f"10.244.1.{57 + i}"
        r.event(pod, "Unhealthy", f"Readiness probe failed: dial tcp {ip}:3000: connect: connection refused", count=25,
                field_path=FP)
        r.log(pod, "app", "\n".join(app_log) + "\n")
    return r.bundle(), _src(expect("probe_failure", ["connect: connection refused", "Listen: http://0.0.0.0:8080"]),
                            "https://github.com/jfelten/gitea-helm-chart/issues/46")


# --- start failures told only by the kubelet's `Error: …` event ---------------------------------------

def _start_error_case(name: str, ns: str, event_msg: str, *, init: bool = False,
                      waiting_msg: str = "") -> Rollout:
    img = f"registry.example.com/{name}:3.1.0"
    r = _rollout(name, ns, img, img.replace("3.1.0", "3.0.0"))
    for i in range(2):
        st = waiting("app", img, "CreateContainerConfigError", waiting_msg)
        if init:
            pod = r.pod(i, phase="Pending", init_statuses=[st], statuses=[waiting("main", img, "PodInitializing")])
            fp = "spec.initContainers{app}"
        else:
            pod = r.pod(i, phase="Pending", statuses=[st])
            fp = FP
        r.event(pod, "Pulled", f'Container image "{img}" already present on machine', type_="Normal", count=5,
                field_path=fp)
        r.event(pod, "Failed", event_msg, count=5, field_path=fp)
    return r


@case
def case_real_start_error_secret_only_in_event() -> Case:
    r = _start_error_case("smtp-server", "monitoring", 'Error: secret "smtp-account" not found')
    return r.bundle(), _src(expect("config_error", ['secret "smtp-account" not found']),
                            "https://github.com/carlosedp/cluster-monitoring/issues/21")


@case
def case_real_start_error_missing_key_only_in_event() -> Case:
    r = _start_error_case("aegis-workload-demo", "default",
                          "Error: couldn't find key VALUE in Secret default/aegis-secret-aegis-workload-demo")
    return r.bundle(), _src(expect("config_error", ["couldn't find key VALUE in Secret"]),
                            "https://github.com/shieldworks/aegis/issues/293")


@case
def case_real_start_error_init_container_secrets_plural() -> Case:
    r = _start_error_case("sample-mychart", "default", 'Error: secrets "my-password" not found', init=True)
    return r.bundle(), _src(expect("config_error", ['secrets "my-password" not found']),
                            "https://github.com/ibm-cloud-labs/iks-handson/issues/7")


@case
def case_real_start_error_key_missing_with_waiting_message() -> Case:
    msg = "couldn't find key network in Secret kube-system/hcloud"
    r = _start_error_case("hcloud-cloud-controller-manager", "kube-system", f"Error: {msg}", waiting_msg=msg)
    return r.bundle(), _src(expect("config_error", ["couldn't find key network in Secret kube-system/hcloud"]),
                            "https://github.com/hetznercloud/csi-driver/issues/1389")


# --- decisive application lines in noise --------------------------------------------------------------

def _crash_with_logs(name: str, ns: str, lines: list[str], *, exit_code: int = 1) -> Rollout:
    img = f"registry.example.com/{name}:5.0.0"
    r = _rollout(name, ns, img, img.replace("5.0.0", "4.9.0"))
    for i in range(2):
        st = waiting("app", img, "CrashLoopBackOff",
                     "back-off 2m40s restarting failed container=app pod=__POD_____NS__(__UID__)", restarts=5 + i,
                     last=terminated("Error", exit_code))
        pod = r.pod(i, statuses=[st])
        r.event(pod, "BackOff", f"Back-off restarting failed container app in pod {pod['metadata']['name']}_{ns}"
                f"({pod['metadata']['uid']})", count=20, field_path=FP)
        r.log(pod, "app", "\n".join(lines) + "\n", previous=True)
    return r


@case
def case_real_rails_missing_secret_key_base_timestamped() -> Case:
    lines = [*noise(200, 31),
        "2025-02-03 18:59:59 bin/rails aborted!",
        "2025-02-03 18:59:59 ArgumentError: Missing `secret_key_base` for 'production' environment, set this string "
        "with `bin/rails credentials:edit` (ArgumentError)",
        "2025-02-03 18:59:59 ",
        "2025-02-03 18:59:59           raise ArgumentError, \"Missing `secret_key_base` for '#{Rails.env}' "
        "environment, set this string with `bin/rails credentials:edit`\"",
        "2025-02-03 18:59:59 /rails/config/environment.rb:5:in `<main>'",
        "2025-02-03 18:59:59 Tasks: TOP => db:prepare => db:load_config => environment",
        "2025-02-03 18:59:59 (See full trace by running task with --trace)",
    ]
    r = _crash_with_logs("geneac", "family", lines)
    return r.bundle(), _src(expect("crash_loop", ["Missing `secret_key_base` for 'production' environment"]),
                            "https://github.com/mrysav/geneac/issues/705")


@case
def case_real_rails_missing_secret_key_base_ruby_frame() -> Case:
    lines = [
        "=> Booting Puma", "=> Rails 7.1.3.2 application starting in production",
        "/usr/local/bundle/ruby/3.2.0/gems/railties-7.1.3.2/lib/rails/application.rb:658:in "
        "`validate_secret_key_base': Missing `secret_key_base` for 'production' environment, set this string "
        "with `bin/rails credentials:edit` "
        "(ArgumentError)",
        "",
        "        raise ArgumentError, \"Missing `secret_key_base` for '#{Rails.env}' environment, set this string with "
        "`bin/rails credentials:edit`\"",
        "        ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^",
        "\tfrom /usr/local/bundle/ruby/3.2.0/gems/railties-7.1.3.2/lib/rails/application.rb:497:in `secret_key_base'",
        "\tfrom /usr/local/bundle/ruby/3.2.0/gems/railties-7.1.3.2/lib/rails/application.rb:200:in `key_generator'",
        *noise(30, 32),
    ]
    r = _crash_with_logs("kamal-web", "web", lines)
    return r.bundle(), _src(expect("crash_loop", ["Missing `secret_key_base` for 'production' environment"]),
                            "https://github.com/basecamp/kamal/issues/1273")


@case
def case_real_python_keyerror_env_lowercase_in_noise() -> Case:
    lines = [*noise(300, 41),
        "Traceback (most recent call last):",
        '  File "app.py", line 21, in <module>',
        "    DATABASE_USER = os.environ['face_recog']",
        '  File "/home/anaconda3/lib/python3.7/os.py", line 678, in __getitem__',
        "    raise KeyError(key) from None",
        "KeyError: 'face-recog'",
        *noise(3, 42),
    ]
    r = _crash_with_logs("face-recognition", "ml", lines)
    return r.bundle(), _src(expect("crash_loop", ["KeyError: 'face-recog'"]),
                            "https://github.com/GraphtyLove/Face-recognition-project/issues/21")


@case
def case_real_python_keyerror_env_chained_django_environ() -> Case:
    lines = [*noise(120, 43),
        "Traceback (most recent call last):",
        '  File "/var/lib/ipmetadataretention/env3/lib/python3.4/site-packages/environ/environ.py", line 265, in '
        "get_value",
        "    value = self.ENVIRON[var]",
        "KeyError: 'DATABASE_URL'",
        "",
        "During handling of the above exception, another exception occurred:",
        "",
        "Traceback (most recent call last):",
        '  File "/var/lib/ipmetadataretention/env3/lib/python3.4/site-packages/django/core/management/base.py", '
        "line 305, in run_from_argv",
        "    self.execute(*args, **cmd_options)",
        *noise(150, 44),
    ]
    r = _crash_with_logs("ipmetadataretention", "web", lines)
    return r.bundle(), _src(expect("crash_loop", ["KeyError: 'DATABASE_URL'"]),
                            "https://github.com/joke2k/django-environ/issues/117")


@case
def case_real_shell_unbound_variable() -> Case:
    lines = ["Added 'admin' to '/opt/jboss/keycloak/standalone/configuration/keycloak-add-user.json', restart server "
             "to load user", "-b 0.0.0.0", "/opt/jboss/tools/docker-entrypoint.sh: line 165: DB_ADDR: unbound variable"]
    r = _crash_with_logs("keycloak", "keycloak", lines)
    return r.bundle(), _src(expect("crash_loop", ["DB_ADDR: unbound variable"]),
                            "https://github.com/PacktPublishing/Machine-Learning-on-Kubernetes/issues/3")


# --- causes no category names: sandbox/CNI, evictions, node NotReady ----------------------------------

def _sandbox_case(name: str, ns: str, msg: str, *, count: int = 158) -> Rollout:
    img = f"registry.example.com/{name}:1.0.1"
    r = _rollout(name, ns, img, img.replace("1.0.1", "1.0.0"), deadline=True)
    for i in range(2):
        pod = r.pod(i, phase="Pending", statuses=[waiting("app", img, "ContainerCreating")])
        r.event(pod, "SandboxChanged", "Pod sandbox changed, it will be killed and re-created.", type_="Normal",
                count=11)
        r.event(pod, "FailedCreatePodSandBox", msg.replace("__POD__", pod["metadata"]["name"]), count=count)
    return r


@case
def case_real_sandbox_calico_nodename_dockershim() -> Case:
    msg = ('Failed create pod sandbox: rpc error: code = Unknown desc = NetworkPlugin cni failed to set up pod '
           '"kube-dns-86f4d74b45-kgjbk_kube-system" network: stat /var/lib/calico/nodename: no such file or directory: '
           "check that the calico/node container is running and has mounted /var/lib/calico/")
    r = _sandbox_case("kube-dns", "kube-system", msg)
    return r.bundle(), _src(expect("unknown", ["NetworkPlugin cni failed to set up pod"]),
                            "https://github.com/kubernetes/kubernetes/issues/62451")


@case
def case_real_sandbox_calico_unauthorized_containerd() -> Case:
    msg = ('Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network for sandbox '
           '"20d3feb0e9ed29a754fb921b8ae728d4b2d6035d2add28d7e1d4b1f7ce08be10": plugin type="calico" failed (add): '
           "Unauthorized")
    r = _sandbox_case("web-frontend", "shop", msg, count=40)
    return r.bundle(), _src(expect("unknown", ['plugin type="calico" failed (add): Unauthorized']),
                            "https://github.com/easzlab/kubeasz/issues/1332")


@case
def case_real_sandbox_calico_clusterinformation_timeout() -> Case:
    msg = ('Failed to create pod sandbox: rpc error: code = Unknown desc = failed to set up sandbox container '
           '"5d8c43f3b8179b87e01a6740a92bf485fe95cb16ca310e0c853ef731197f302b" network for pod "restic-2jsjf": '
           'networkPlugin cni failed to set up pod "restic-2jsjf_psc-velero" network: error getting '
           'ClusterInformation: Get "https://[10.43.0.1]:443/apis/crd.projectcalico.org/v1/clusterinformations/'
           'default": dial tcp '
           "10.43.0.1:443: i/o timeout")
    r = _sandbox_case("restic", "psc-velero", msg, count=183)
    return r.bundle(), _src(expect("unknown", ["error getting ClusterInformation"]),
                            "https://github.com/projectcalico/calico/issues/6716")


def _evicted_case(name: str, ns: str, msg: str, *, as_event: bool) -> Rollout:
    img = f"registry.example.com/{name}:2.2.0"
    r = _rollout(name, ns, img, img.replace("2.2.0", "2.1.0"), deadline=True)
    for i in range(2):
        st = {"name": "app", "image": img, "imageID": "", "ready": False, "started": False, "restartCount": 0,
              "state": {"terminated": terminated("ContainerStatusUnknown", 137,
                                                 "The container could not be located when the pod was terminated")},
              "lastState": {}}
        pod = r.pod(i, phase="Failed", statuses=[st])
        pod["status"]["reason"] = "Evicted"
        pod["status"]["message"] = msg
        if as_event:
            r.event(pod, "Evicted", msg, count=1)
            r.event(pod, "Killing", "Stopping container app", type_="Normal")
    return r


@case
def case_real_evicted_ephemeral_storage_old_text() -> Case:
    msg = ("The node was low on resource: ephemeral-storage. Container hush-house-worker was using 73712Ki, which "
           "exceeds its request of 0. ")
    r = _evicted_case("hush-house-worker", "hush-house", msg, as_event=False)
    return r.bundle(), _src(expect("unknown", ["The node was low on resource: ephemeral-storage"]),
                            "https://github.com/concourse/hush-house/issues/8")


@case
def case_real_evicted_ephemeral_storage_threshold_text() -> Case:
    msg = ("The node was low on resource: ephemeral-storage. Threshold quantity: 2146223340, available: 1883424Ki. "
           "Container helmer was using 10304Ki, request is 10Mi, has larger consumption of ephemeral-storage. "
           "Container consumerui was using 52676Ki, request is 10Mi, has larger consumption of ephemeral-storage.")
    r = _evicted_case("kubeplus", "kubeplus", msg, as_event=True)
    return r.bundle(), _src(expect("unknown", ["The node was low on resource: ephemeral-storage"]),
                            "https://github.com/cloud-ark/kubeplus/issues/1382")


@case
def case_real_evicted_memory_pressure() -> Case:
    msg = ("The node was low on resource: memory. Threshold quantity: 100Mi, available: 87608Ki. \nContainer "
           "dptp-controller-manager was using 48458972Ki, request is 15Gi, has larger consumption of memory. ")
    r = _evicted_case("dptp-controller-manager", "ci", msg, as_event=True)
    return r.bundle(), _src(expect("unknown", ["The node was low on resource: memory"]),
                            "https://github.com/openshift/release/pull/76967")


@case
def case_real_evicted_node_memory_pressure_condition() -> Case:
    r = _evicted_case("egg", "fate-10000", "The node had condition: [MemoryPressure]. ", as_event=True)
    return r.bundle(), _src(expect("unknown", ["The node had condition: [MemoryPressure]"]),
                            "https://github.com/FederatedAI/KubeFATE/issues/64")


@case
def case_real_node_not_ready_under_rollout() -> Case:
    img = "registry.example.com/coredns:1.8.6"
    r = _rollout("coredns", "kube-system", img, "registry.example.com/coredns:1.8.4", deadline=True, replicas=2)
    conds = [{"type": "PodScheduled", "status": "True", "lastTransitionTime": "2026-11-27T09:55:00Z"},
             {"type": "Ready", "status": "False", "lastTransitionTime": "2026-11-27T09:57:00Z"}]
    for i in range(2):
        pod = r.pod(i, statuses=[running("app", img)], conditions=conds, node="minikube")
        r.event(pod, "NodeNotReady", "Node is not ready", source="node-controller", count=1)
    return r.bundle(), _src(expect("unknown", ["NodeNotReady", "Node is not ready"]),
                            "https://github.com/bsycorp/kind/issues/46")


# --- the rest of the categories from real messages -------------------------------------------------------

@case
def case_real_quota_exceeded_rolling_update() -> Case:
    img = "registry.example.com/allocation-manager:7.0.0"
    r = _rollout("allocation-manager", "offender-management-staging", img,
                 "registry.example.com/allocation-manager:6.9.0", deadline=True)
    r.new_rs["status"].update({"replicas": 1, "readyReplicas": 0, "availableReplicas": 0})
    r.new_rs["status"]["conditions"] = [{
        "type": "ReplicaFailure", "status": "True", "reason": "FailedCreate",
        "message": 'pods "allocation-manager-6597bc46dc-2wm8j" is forbidden: exceeded quota: namespace-quota, '
                   "requested: limits.cpu=1,limits.memory=2Gi, used: limits.cpu=6,limits.memory=12Gi, limited: "
                   "limits.cpu=6,limits.memory=12Gi"}]
    r.event(r.new_rs, "FailedCreate", '(combined from similar events): Error creating: pods '
            '"allocation-manager-6597bc46dc-2wm8j" is forbidden: exceeded quota: namespace-quota, requested: '
            "limits.cpu=1,limits.memory=2Gi, used: limits.cpu=6,limits.memory=12Gi, limited: "
            "limits.cpu=6,limits.memory=12Gi", count=124, source="replicaset-controller")
    return r.bundle(), _src(expect("create_failed", ["exceeded quota: namespace-quota"]),
                            "https://github.com/ministryofjustice/cloud-platform/issues/590")


@case
def case_real_oom_killed_exit_137() -> Case:
    img = "registry.example.com/treetracker-pgpool:4.2.2"
    r = _rollout("treetracker-pgpool", "pgpool", img, "registry.example.com/treetracker-pgpool:4.2.1")
    for i in range(2):
        st = waiting("app", img, "CrashLoopBackOff",
                     "back-off 5m0s restarting failed container=app pod=__POD_____NS__(__UID__)", restarts=6 + i,
                     last=terminated("OOMKilled", 137))
        pod = r.pod(i, statuses=[st])
        r.log(pod, "app", "\n".join(noise(50, 60 + i)) + "\n", previous=True)
    return r.bundle(), _src(expect("oom_killed", ["OOMKilled"]),
                            "https://github.com/Greenstand/treetracker-infrastructure/issues/49")


@case
def case_real_scheduling_pvc_unbound_new_scheduler_text() -> Case:
    img = "registry.example.com/invenio-worker-beat:12.0.0"
    r = _rollout("worker-beat", "invenio", img, "registry.example.com/invenio-worker-beat:11.0.0", deadline=True,
                 replicas=1)
    pod = r.pod(0, phase="Pending", node=None, conditions=[
        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
         "message": "0/6 nodes are available: pod has unbound immediate PersistentVolumeClaims. preemption: 0/6 nodes "
                    "are available: 6 No preemption victims found for incoming pod..",
         "lastTransitionTime": "2026-11-27T09:55:00Z"}])
    r.event(pod, "FailedScheduling", "0/6 nodes are available: pod has unbound immediate PersistentVolumeClaims. "
            "preemption: 0/6 nodes are available: 6 No preemption victims found for incoming pod..", count=2,
            source="default-scheduler", scheduler_style=True)
    return r.bundle(), _src(expect("scheduling", ["pod has unbound immediate PersistentVolumeClaims"]),
                            "https://github.com/inveniosoftware/helm-invenio/issues/95")


# --- more variants: rate limits, TLS, runAsNonRoot, CNI not ready, evictions behind a pressure taint -------

@case
def case_real_pull_rate_limited_containerd_429() -> Case:
    img = "centos"
    msg = ('Failed to pull image "centos": rpc error: code = Unknown desc = failed to pull and unpack image '
           '"docker.io/library/centos:latest": failed to copy: httpReaderSeeker: failed open: unexpected status code '
           "https://registry-1.docker.io/v2/library/centos/manifests/"
           "sha256:dbbacecc49b088458781c16f3775f2a2ec7521079034a7ba499c8b0bb7f86875: 429 Too Many Requests - Server "
           "message: toomanyrequests: You have reached your pull rate limit. You may increase the limit by "
           "authenticating and upgrading: https://www.docker.com/increase-rate-limit")
    r = _pull_case("pvc-tester", img, msg)
    return r.bundle(), _src(expect("image_pull", ["You have reached your pull rate limit"]),
                            "https://github.com/dell/csi-baremetal/issues/391")


@case
def case_real_pull_rate_limited_crio_manifest() -> Case:
    img = "obsidiandynamics/kafdrop:latest"
    msg = ('Failed to pull image "obsidiandynamics/kafdrop:latest": rpc error: code = Unknown desc = Error reading '
           "manifest latest in docker.io/obsidiandynamics/kafdrop: toomanyrequests: You have reached your pull rate "
           "limit. You may increase the limit by authenticating and upgrading: https://www.docker.com/increase-rate-limit")
    r = _pull_case("kafdrop", img, msg, waiting_reason="ImagePullBackOff",
                   waiting_msg=f'Back-off pulling image "{img}"')
    return r.bundle(), _src(expect("image_pull", ["toomanyrequests: You have reached your pull rate limit"]),
                            "https://github.com/red-hat-storage/ocs-ci/issues/4494")


@case
def case_real_pull_untrusted_registry_certificate() -> Case:
    img = "selenium/hub"
    msg = ('Failed to pull image "selenium/hub": rpc error: code = Unknown desc = Error response from daemon: Get '
           '"https://registry-1.docker.io/v2/": x509: certificate signed by unknown authority')
    r = _pull_case("selenium-hub", img, msg)
    return r.bundle(), _src(expect("image_pull", ["x509: certificate signed by unknown authority"]),
                            "https://github.com/kubernetes/minikube/issues/12944")


@case
def case_real_start_error_run_as_non_root_event_only() -> Case:
    r = _start_error_case("unleash-edge", "runai-backend",
                          'Error: container has runAsNonRoot and image will run as root (pod: '
                          '"runai-backend-unleash-edge-747fc6ccbd-vx9d4_runai-backend(f03e42ed-3150-4c34-96f6-'
                          '485c1ebbe7b2)", container: unleash-edge)')
    return r.bundle(), _src(expect("config_error", ["container has runAsNonRoot and image will run as root"]),
                            "https://github.com/Unleash/unleash-edge/issues/483")


@case
def case_real_start_error_run_as_non_root_old_text() -> Case:
    msg = "container has runAsNonRoot and image will run as root"
    r = _start_error_case("helloworld", "giantswarm", f"Error: {msg}", waiting_msg=msg)
    return r.bundle(), _src(expect("config_error", ["container has runAsNonRoot and image will run as root"]),
                            "https://github.com/giantswarm/helloworld/pull/20")


@case
def case_real_cni_not_initialized_network_not_ready() -> Case:
    msg = ("network is not ready: container runtime network not ready: NetworkReady=false "
           "reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized")
    img = "registry.example.com/coredns:1.11.1"
    r = _rollout("coredns", "kube-system", img, "registry.example.com/coredns:1.10.1", deadline=True, replicas=2)
    for i in range(2):
        pod = r.pod(i, phase="Pending", statuses=[waiting("app", img, "ContainerCreating")])
        r.event(pod, "NetworkNotReady", msg, count=40)
    return r.bundle(), _src(expect("unknown", ["cni plugin not initialized"]),
                            "https://github.com/rancher/rke2/issues/4476")


@case
def case_real_evicted_disk_pressure_then_untolerated_taint() -> Case:
    img = "registry.example.com/kubeflow-dashboard:1.9.0"
    r = _rollout("centraldashboard", "kubeflow", img, "registry.example.com/kubeflow-dashboard:1.8.0", deadline=True,
                 replicas=2)
    evicted = r.pod(0, phase="Failed", statuses=[])
    evicted["status"].update({"reason": "Evicted", "message": "The node had condition: [DiskPressure]. "})
    r.event(evicted, "Evicted", "The node had condition: [DiskPressure]. ")
    sched = ("0/1 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/disk-pressure: }. "
             "preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.")
    pending = r.pod(1, phase="Pending", node=None, conditions=[
        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": sched,
         "lastTransitionTime": "2026-11-27T09:58:00Z"}])
    r.event(pending, "FailedScheduling", sched, count=12, source="default-scheduler", scheduler_style=True)
    return r.bundle(), _src(expect("unknown", ["The node had condition: [DiskPressure]"]),
                            "https://github.com/canonical/k8s-snap/issues/1456")


@case
def case_real_liveness_probe_on_undeclared_port_nginx_exits_0() -> Case:
    img = "nginx:alpine"
    liveness = {"httpGet": {"path": "/healthz", "port": 8080}, "initialDelaySeconds": 10, "periodSeconds": 5,
                "failureThreshold": 3}
    readiness = {"httpGet": {"path": "/", "port": 80}, "initialDelaySeconds": 5, "periodSeconds": 5}
    c = {"name": "app", "image": img, "imagePullPolicy": "IfNotPresent", "ports": [{"containerPort": 80}],
         "livenessProbe": liveness, "readinessProbe": readiness,
         "resources": {"requests": {"memory": "64Mi", "cpu": "10m"}, "limits": {"memory": "64Mi"}}}
    new = template("web-app", [c])
    old = template("web-app", [{**c, "image": "nginx:1.25-alpine"}])
    r = Rollout("web-app", "namespace-77", new, old, replicas=1)
    logs = ["/docker-entrypoint.sh: Configuration complete; ready for start up",
            "2026/11/27 09:58:01 [notice] 1#1: nginx/1.27.3",
            "2026/11/27 09:58:01 [notice] 1#1: start worker processes",
            "2026/11/27 09:58:26 [notice] 1#1: signal 3 (SIGQUIT) received, shutting down",
            "2026/11/27 09:58:26 [notice] 1#1: exit"]
    st = waiting("app", img, "CrashLoopBackOff",
                 "back-off 40s restarting failed container=app pod=__POD_____NS__(__UID__)", restarts=3,
                 last=terminated("Completed", 0))
    pod = r.pod(0, statuses=[st])
    ip = "10.244.0.12"
    r.event(pod, "Unhealthy", f'Liveness probe failed: Get "http://{ip}:8080/healthz": dial tcp {ip}:8080: connect: '
            "connection refused", count=9, field_path=FP)
    r.event(pod, "Killing", "Container app failed liveness probe, will be restarted", type_="Normal", count=3,
            field_path=FP)
    r.log(pod, "app", "\n".join(logs) + "\n", previous=True)
    return r.bundle(), _src(expect("probe_failure", ["Liveness probe failed", "connect: connection refused"]),
                            "https://github.com/robusta-dev/holmesgpt/tree/master/tests/llm/fixtures/test_ask_holmes/"
                            "77_liveness_probe_misconfiguration")


HOLMES = "https://github.com/robusta-dev/holmesgpt/tree/master/tests/llm/fixtures/test_ask_holmes/"


@case
def case_real_holmes_pvc_storageclass_missing_redis() -> Case:
    img = "redis:6.2.6"
    vols = [{"name": "redis-storage", "persistentVolumeClaim": {"claimName": "redis-standard-pvc"}}]
    c = {"name": "redis", "image": img, "imagePullPolicy": "IfNotPresent", "ports": [{"containerPort": 6379}],
         "command": ["redis-server", "--save", "60", "1", "--stop-writes-on-bgsave-error", "no", "--dir", "/data"]}
    new = template("redis", [c], volumes=vols)
    old = template("redis", [{**c, "image": "redis:6.2.5"}], volumes=vols)
    r = Rollout("redis", "default", new, old, deadline_exceeded=True, replicas=1)
    sched = ("0/2 nodes are available: pod has unbound immediate PersistentVolumeClaims. preemption: 0/2 nodes are "
             "available: 2 Preemption is not helpful for scheduling.")
    pod = r.pod(0, phase="Pending", node=None, conditions=[
        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": sched,
         "lastTransitionTime": "2026-11-27T09:53:00Z"}])
    r.event(pod, "FailedScheduling", sched, count=2, source="default-scheduler", scheduler_style=True)
    pvc = {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
           "metadata": {"name": "redis-standard-pvc", "uid": "7d1f3b2a-4c5e-4f60-8a9b-0c1d2e3f4a5b"}}
    r.event(pvc, "ProvisioningFailed", 'storageclass.storage.k8s.io "standard-v2" not found', count=42,
            source="persistentvolume-controller")
    return r.bundle(), _src(expect("scheduling", ['storageclass.storage.k8s.io "standard-v2" not found']),
                            HOLMES + "24_misconfigured_pvc")


@case
def case_real_holmes_readiness_exec_probe_fails_silently() -> Case:
    img = "busybox"
    c = {"name": "get-details", "image": img, "imagePullPolicy": "Always",
         "command": ["sh", "-c", "while true; do echo 'Running...'; sleep 5; done"],
         "readinessProbe": {"exec": {"command": ["sh", "-c", "exit 1"]}, "initialDelaySeconds": 5,
                            "periodSeconds": 5}}
    new = template("search-engine-service", [c])
    old = template("search-engine-service", [{**c, "image": "busybox:1.36"}])
    r = Rollout("search-engine-service", "default", new, old, deadline_exceeded=True, replicas=1)
    pod = r.pod(0, statuses=[running("get-details", img)])
    r.event(pod, "Unhealthy", "Readiness probe failed: ", count=6, field_path="spec.containers{get-details}")
    r.log(pod, "get-details", "Running...\n" * 40)
    return r.bundle(), _src(expect("probe_failure", ["Readiness probe failed"]), HOLMES + "15_failed_readiness_probe")


@case
def case_real_readiness_wrong_port_spring_among_error_lines() -> Case:
    img = "registry.example.com/kubeapps-api:2.5.1"
    probe = {"httpGet": {"path": "/", "port": 8080}, "periodSeconds": 10}
    r = _rollout("kubeapps", "kubeapps", img, "registry.example.com/kubeapps-api:2.5.0", deadline=True,
                 readinessProbe=probe)
    app_log = [
        "2022-09-20 08:01:02.101  INFO 1 --- [           main] c.k.api.Application : Starting Application v2.5.1",
        "2022-09-20 08:01:05.311 ERROR 1 --- [           main] o.h.engine.jdbc.spi.SqlExceptionHelper : "
        "Connection is not available, request timed out after 30000ms.",
        "2022-09-20 08:01:07.902  INFO 1 --- [           main] o.s.b.w.embedded.tomcat.TomcatWebServer : "
        "Tomcat started on port(s): 8081 (http) with context path ''",
        *[f"2022-09-20 08:02:{i:02d}.000  WARN 1 --- [   scheduling-1] c.k.api.Sync : sync failed, retrying" for i in
          range(40)],
    ]
    for i in range(2):
        pod = r.pod(i, statuses=[running("app", img)])
        ip = f"10.244.83.{115 + i}"
        r.event(pod, "Unhealthy", f'Readiness probe failed: Get "http://{ip}:8080/": dial tcp {ip}:8080: connect: '
                "connection refused", count=30, field_path=FP)
        r.log(pod, "app", "\n".join(app_log) + "\n")
    return r.bundle(), _src(expect("probe_failure", ["connect: connection refused", "Tomcat started on port(s): 8081"]),
                            "https://github.com/vmware-tanzu/kubeapps/issues/5360")

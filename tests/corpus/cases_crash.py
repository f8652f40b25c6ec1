"""Corpus cases where containers start and die: crash loops, OOM kills, liveness kills, bad commands."""

from __future__ import annotations

import json
from typing import Any

from builders import Rollout, container, crashloop, running, template, terminated, waiting
from corpus_common import (
    ARG_PASS,
    ARG_TOKEN,
    AWS_KEY,
    AWS_SECRET,
    BEARER,
    ENV_PASS,
    ENV_SALT,
    GIT,
    GITLAB,
    JWT,
    MSSQL_PASS,
    OPENAI,
    PEM,
    PEM_BODY,
    PG_PASS,
    REDIS_PASS,
    SLACK,
    base_app,
    case,
    expect,
    noise,
    py_keyerror,
    secret_env,
    simple_crash,
)

Case = tuple[dict[str, Any], dict[str, Any]]


@case
def case_python_keyerror_env() -> Case:
    lines = ["Starting shop-api 2.4.0", f"loaded salt {ENV_SALT} from env", *py_keyerror("DATABASE_URL")]
    r, _ = simple_crash("api", "registry.acme.io/shop/api:2.3.9", "registry.acme.io/shop/api:2.4.0", lines,
                        env=secret_env())
    return r.bundle(GIT), expect("crash_loop", ["KeyError: 'DATABASE_URL'", "exit code 1"], [ENV_PASS, ENV_SALT])


@case
def case_java_spring_caused_by() -> Case:
    lines = [
        *noise(40, 1, lang="java"),
        "2026-11-27 09:59:58.101 ERROR 1 --- [main] o.s.boot.SpringApplication : Application run failed",
        "org.springframework.beans.factory.BeanCreationException: Error creating bean with name 'dataSource' "
        "defined in class path resource [DataSourceConfig.class]: Failed to instantiate [javax.sql.DataSource]",
        "\tat org.springframework.beans.factory.support.ConstructorResolver.instantiate(ConstructorResolver.java:648)",
        "\tat org.springframework.boot.SpringApplication.run(SpringApplication.java:1300)",
        "Caused by: org.postgresql.util.PSQLException: FATAL: password authentication failed for user \"shop\"",
        "\tat org.postgresql.core.v3.ConnectionFactoryImpl.doAuthentication(ConnectionFactoryImpl.java:693)",
        "\t... 42 common frames omitted",
        f"jdbc url was postgres://shop:{PG_PASS}@pg.internal:5432/shop",
    ]
    r, _ = simple_crash("orders", "registry.acme.io/orders:1.8.2", "registry.acme.io/orders:1.9.0", lines,
                        restarts=4)
    return r.bundle(GIT), expect(
        "crash_loop", ["password authentication failed for user", "Caused by: org.postgresql"], [PG_PASS])


@case
def case_go_panic_nil_pointer() -> Case:
    lines = [
        '{"level":"info","msg":"starting payments","version":"3.1.0"}',
        "panic: runtime error: invalid memory address or nil pointer dereference",
        "[signal SIGSEGV: segmentation violation code=0x1 addr=0x18 pc=0x8f2a31]",
        "",
        "goroutine 1 [running]:",
        "main.(*Server).routes(0x0)",
        "\t/src/cmd/payments/server.go:88 +0x31",
        "main.main()",
        "\t/src/cmd/payments/main.go:41 +0x1c5",
    ]
    r, _ = simple_crash("payments", "ghcr.io/acme/payments:3.0.9", "ghcr.io/acme/payments:3.1.0", lines,
                        exit_code=2)
    return r.bundle(), expect("crash_loop", ["panic: runtime error: invalid memory address", "exit code 2"])


@case
def case_node_cannot_find_module() -> Case:
    lines = [
        "> web@5.2.0 start",
        "> node dist/server.js",
        "node:internal/modules/cjs/loader:1228",
        "  throw err;",
        "  ^",
        "",
        "Error: Cannot find module 'express'",
        "Require stack:",
        "- /app/dist/server.js",
        "    at Module._resolveFilename (node:internal/modules/cjs/loader:1225:15)",
        "    at Module._load (node:internal/modules/cjs/loader:1051:27) {",
        "  code: 'MODULE_NOT_FOUND',",
        "  requireStack: [ '/app/dist/server.js' ]",
        "}",
        "",
        "Node.js v20.11.1",
    ]
    r, _ = simple_crash("web", "node-web:5.1.3", "node-web:5.2.0", lines, pods=3)
    return r.bundle(), expect("crash_loop", ["Cannot find module 'express'"])


@case
def case_ruby_name_error() -> Case:
    lines = [
        "=> Booting Puma",
        "=> Rails 7.1.3 application starting in production",
        f"redis url: redis://:{REDIS_PASS}@redis.internal:6379/0",
        "/app/config/initializers/stripe.rb:3:in `<main>': uninitialized constant Stripe::Clientt (NameError)",
        "\tfrom /usr/local/bundle/gems/railties-7.1.3/lib/rails/engine.rb:689:in `load'",
        "\tfrom /usr/local/bundle/gems/railties-7.1.3/lib/rails/engine.rb:689:in `block in load_config_initializer'",
        "Exiting",
    ]
    r, _ = simple_crash("storefront", "acme/storefront:7.0.1", "acme/storefront:7.0.2", lines)
    return r.bundle(), expect("crash_loop", ["uninitialized constant Stripe::Clientt"], [REDIS_PASS])


@case
def case_dotnet_unhandled() -> Case:
    lines = [
        "info: Microsoft.Hosting.Lifetime[0]",
        "      Application is shutting down...",
        "Unhandled exception. System.InvalidOperationException: Unable to resolve service for type "
        "'Acme.Billing.IInvoiceStore' while attempting to activate 'Acme.Billing.InvoiceController'.",
        "   at Microsoft.Extensions.DependencyInjection.ActivatorUtilities.GetService(IServiceProvider sp)",
        "   at Program.<Main>$(String[] args) in /src/Program.cs:line 31",
        f"ConnectionStrings__Default=Server=sql1;Database=billing;User Id=sa;Password={MSSQL_PASS};",
    ]
    r, _ = simple_crash("billing", "acme/billing:4.4.0", "acme/billing:4.5.0", lines, exit_code=134)
    return r.bundle(), expect("crash_loop", ["Unable to resolve service for type", "exit code 134"], [MSSQL_PASS])


@case
def case_buried_in_noise() -> Case:
    lines = noise(6000, 7)
    lines[4100:4100] = [
        "2026-11-27T09:59:01.000Z INFO  warming cache",
        "2026-11-27T09:59:01.200Z CRITICAL unrecoverable: schema migration 0042_add_sku_index failed: "
        "relation \"sku\" does not exist",
    ]
    r, _ = simple_crash("catalog", "acme/catalog:9.0.0", "acme/catalog:9.1.0", lines, restarts=3)
    return r.bundle(), expect("crash_loop", ['relation "sku" does not exist'])


@case
def case_repeated_thousands() -> Case:
    lines = ["starting worker pool size=8"]
    lines += [f"2026-11-27T09:59:{i % 60:02d}Z ERROR failed to connect to amqp://rabbit:5672: "
              "dial tcp 10.0.4.12:5672: connect: connection refused (attempt "
              f"{i})" for i in range(4000)]
    lines += ["FATAL: giving up after 4000 attempts: broker unreachable at amqp://rabbit:5672"]
    r, _ = simple_crash("worker", "acme/worker:2.0.0", "acme/worker:2.1.0", lines, restarts=6)
    return r.bundle(), expect("crash_loop", ["giving up after 4000 attempts"])


@case
def case_misleading_errors_first() -> Case:
    lines = [
        "2026-11-27T09:59:00Z ERROR metrics exporter: could not reach statsd at 127.0.0.1:8125 (ignored)",
        "2026-11-27T09:59:00Z ERROR feature flags: using defaults, flagd not configured",
        "2026-11-27T09:59:01Z WARN  deprecated config key 'cache.ttl' used",
        *noise(200, 3),
        "2026-11-27T09:59:02Z INFO  opening connection pool",
        "Traceback (most recent call last):",
        '  File "/app/app.py", line 12, in <module>',
        "    pool = create_pool(cfg.db)",
        '  File "/app/db.py", line 30, in create_pool',
        "    raise ConfigurationError(f\"invalid pool size {size}\")",
        "app.errors.ConfigurationError: invalid pool size -1 (DB_POOL_SIZE)",
    ]
    env = [{"name": "DB_POOL_SIZE", "value": "-1"}, {"name": "OPENAI_API_KEY", "value": OPENAI}]
    r, _ = simple_crash("recs", "acme/recs:1.2.0", "acme/recs:1.3.0", lines, env=env)
    return r.bundle(), expect("crash_loop", ["ConfigurationError: invalid pool size -1"], [OPENAI])


@case
def case_multi_container_sidecar_ok() -> Case:
    img = "acme/search:6.0.0"
    new = template("search", [base_app("app", img, env=[{"name": "SLACK_TOKEN", "value": SLACK}]),
                              container("envoy", "envoyproxy/envoy:v1.31.0")])
    old = template("search", [base_app("app", "acme/search:5.9.0", env=[{"name": "SLACK_TOKEN", "value": SLACK}]),
                              container("envoy", "envoyproxy/envoy:v1.31.0")])
    r = Rollout("search", "shop", new, old)
    for i in range(2):
        pod = r.pod(i, statuses=[crashloop("app", img, restarts=4), running("envoy", "envoyproxy/envoy:v1.31.0",
                                                                              ready=True)])
        r.log(pod, "envoy", "\n".join(f"[2026-11-27 09:59:{j:02d}.000][1][info][main] cds: added 3 clusters"
                                      for j in range(50)) + "\n")
        r.log(pod, "app", "\n".join([
            "Exception in thread \"main\" java.lang.IllegalStateException: index mapping 'products_v7' missing; "
            "run the reindex job first",
            "\tat com.acme.search.IndexGuard.check(IndexGuard.java:27)",
            "\tat com.acme.search.Main.main(Main.java:14)"]) + "\n", previous=True)
        r.log(pod, "app", "", previous=False)
    return r.bundle(), expect("crash_loop", ["index mapping 'products_v7' missing", "/app (previous)"], [SLACK])


@case
def case_init_container_migration_fails() -> Case:
    img = "acme/ledger:8.2.0"
    migrate = container("migrate", img, command=["/app/migrate"],
                        args=["--db-password", ARG_PASS, f"--dsn=postgres://ledger:{PG_PASS}@pg:5432/ledger"])
    new = template("ledger", [base_app("app", img)], init=[migrate])
    old = template("ledger", [base_app("app", "acme/ledger:8.1.0")],
                   init=[container("migrate", "acme/ledger:8.1.0", command=["/app/migrate"])])
    r = Rollout("ledger", "finance", new, old)
    for i in range(2):
        pod = r.pod(i, phase="Pending",
                    init_statuses=[crashloop("migrate", img, restarts=3)],
                    statuses=[waiting("app", img, "PodInitializing")])
        r.event(pod, "BackOff", "Back-off restarting failed container migrate in pod "
                f"{pod['metadata']['name']}_finance({pod['metadata']['uid']})", count=12,
                field_path="spec.initContainers{migrate}")
        r.log(pod, "migrate", "\n".join([
            "applying migration 20261127_add_ledger_partition",
            "ERROR:  duplicate key value violates unique constraint \"ledger_partitions_pkey\"",
            "DETAIL:  Key (id)=(2026-11) already exists.",
            "migration failed: exit status 1"]) + "\n", previous=True)
    return r.bundle(), expect("crash_loop", ["duplicate key value violates unique constraint", "migrate (init)"],
                              [ARG_PASS, PG_PASS])


@case
def case_previous_only_logs() -> Case:
    lines = ["boot: reading /etc/app/config.yaml",
             f"Authorization: Bearer {BEARER}",
             "FATAL: config: field 'listen' is required (config.yaml line 3)"]
    r, pods = simple_crash("gateway", "acme/gateway:1.0.0", "acme/gateway:1.1.0", lines, pods=1,
                           previous_only=True)
    r.log(pods[0], "app", "", previous=False)
    return r.bundle(), expect("crash_loop", ["field 'listen' is required"], [BEARER])


@case
def case_secrets_everywhere_crash() -> Case:
    annotations = {"fyr.dev/notes": f"rotated {GITLAB} yesterday",
                   "kubectl.kubernetes.io/last-applied-configuration":
                       '{"spec":{"template":{"spec":{"containers":[{"env":[{"name":"DB_PASSWORD","value":"'
                       + ENV_PASS + '"}]}]}}}}'}
    lines = [
        f"aws_access_key_id={AWS_KEY}",
        f"aws_secret_access_key={AWS_SECRET}",
        f"using token {JWT}",
        "loaded TLS key:",
        *PEM.splitlines(),
        f"slack notifier token {SLACK}",
        f"db password is {ENV_PASS}",
        "Traceback (most recent call last):",
        '  File "/app/boot.py", line 9, in <module>',
        "    boto3.client('s3').head_bucket(Bucket='acme-exports')",
        "botocore.exceptions.ClientError: An error occurred (403) when calling the HeadBucket operation: Forbidden",
    ]
    env = [{"name": "DB_PASSWORD", "value": ENV_PASS}, {"name": "GITLAB_TOKEN", "value": GITLAB},
           {"name": "AWS_SECRET_ACCESS_KEY", "value": AWS_SECRET}]
    r, _ = simple_crash("exporter", "acme/exporter:0.9.0", "acme/exporter:1.0.0", lines, env=env,
                        args=["--api-token", ARG_TOKEN, f"--password={ARG_PASS}"], annotations=annotations)
    return r.bundle(GIT), expect(
        "crash_loop", ["HeadBucket operation: Forbidden"],
        [AWS_KEY, AWS_SECRET, JWT, PEM_BODY, SLACK, ENV_PASS, GITLAB, ARG_TOKEN, ARG_PASS])


@case
def case_oom_java_heap() -> Case:
    img = "acme/reports:3.3.0"
    new = template("reports", [base_app("app", img, resources={"limits": {"memory": "512Mi"}})])
    old = template("reports", [base_app("app", "acme/reports:3.2.0", resources={"limits": {"memory": "1Gi"}})])
    r = Rollout("reports", "analytics", new, old)
    for i in range(3):
        pod = r.pod(i, statuses=[crashloop("app", img, restarts=3, exit_code=137, reason="OOMKilled")])
        r.log(pod, "app", "\n".join(noise(300, i, lang="java")) + "\n", previous=True)
    return r.bundle(), expect("oom_killed", ["OOMKilled", "137"])


@case
def case_oom_node_running_now() -> Case:
    img = "acme/ssr:2.0.0"
    new = template("ssr", [base_app("app", img, resources={"limits": {"memory": "128Mi"}})])
    old = template("ssr", [base_app("app", "acme/ssr:1.9.0")])
    r = Rollout("ssr", "web", new, old)
    for i in range(2):
        pod = r.pod(i, statuses=[running("app", img, restarts=2, last=terminated("OOMKilled", 137))])
        r.log(pod, "app", "\n".join(["<--- Last few GCs --->",
                                     "[1:0x5d1e0c0]    41230 ms: Mark-Compact 120.1 (128.5) -> 119.8 (129.2) MB",
                                     "FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of "
                                     "memory"]) + "\n", previous=True)
    return r.bundle(), expect("oom_killed", ["OOMKilled", "heap out of memory"])


@case
def case_liveness_probe_kills() -> Case:
    img = "acme/inventory:5.5.0"
    probe = {"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 5, "failureThreshold": 3}
    new = template("inventory", [base_app("app", img, livenessProbe={**probe, "initialDelaySeconds": 1})])
    old = template("inventory", [base_app("app", "acme/inventory:5.4.0", livenessProbe={**probe,
                                                                                        "initialDelaySeconds": 60})])
    r = Rollout("inventory", "shop", new, old)
    for i in range(2):
        pod = r.pod(i, statuses=[crashloop("app", img, restarts=4, exit_code=137, reason="Error")])
        fp = "spec.containers{app}"
        r.event(pod, "Unhealthy", 'Liveness probe failed: Get "http://10.0.3.7:8080/healthz": dial tcp '
                "10.0.3.7:8080: connect: connection refused", count=12, field_path=fp)
        r.event(pod, "Killing", "Container app failed liveness probe, will be restarted", type_="Normal",
                count=4, field_path=fp)
        r.log(pod, "app", "\n".join(["loading 2.1M SKUs into memory...", "still loading (38%)",
                                     "still loading (71%)"]) + "\n", previous=True)
    return r.bundle(), expect("probe_failure", ["Liveness probe failed", "failed liveness probe"])


@case
def case_startup_probe_kills() -> Case:
    img = "acme/ml-serving:1.4.0"
    probe = {"httpGet": {"path": "/ready", "port": 8080}, "periodSeconds": 10, "failureThreshold": 3}
    new = template("ml-serving", [base_app("app", img, startupProbe=probe)])
    old = template("ml-serving", [base_app("app", "acme/ml-serving:1.3.0",
                                           startupProbe={**probe, "failureThreshold": 30})])
    r = Rollout("ml-serving", "ml", new, old)
    pod = r.pod(0, statuses=[crashloop("app", img, restarts=3, exit_code=143, reason="Error")])
    r.event(pod, "Unhealthy", "Startup probe failed: HTTP probe failed with statuscode: 503", count=9,
            field_path="spec.containers{app}")
    r.event(pod, "Killing", "Container app failed startup probe, will be restarted", type_="Normal",
            count=3, field_path="spec.containers{app}")
    r.log(pod, "app", "loading model weights (4.2 GB)...\n", previous=True)
    return r.bundle(), expect("probe_failure", ["Startup probe failed"])


@case
def case_bad_command_no_such_file() -> Case:
    img = "acme/notifier:2.2.0"
    new = template("notifier", [base_app("app", img, command=["/app/server"])])
    old = template("notifier", [base_app("app", "acme/notifier:2.1.0", command=["/app/notifier"])])
    r = Rollout("notifier", "shop", new, old)
    msg = ('failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create '
           'failed: unable to start container process: exec: "/app/server": stat /app/server: no such file or '
           "directory: unknown")
    for i in range(2):
        st = waiting("app", img, "CrashLoopBackOff", "back-off 1m20s restarting failed container=app "
                     "pod=__POD_____NS__(__UID__)", restarts=3, last=terminated("StartError", 128, msg))
        pod = r.pod(i, statuses=[st])
        r.event(pod, "Failed", "Error: " + msg, count=4, field_path="spec.containers{app}")
    return r.bundle(), expect("config_error", ['exec: "/app/server": stat /app/server: no such file',
                                               "StartError (exit code 128)"])


@case
def case_exec_format_error() -> Case:
    r, _ = simple_crash("thumbs", "acme/thumbs:1.0.0", "acme/thumbs:1.1.0-arm64",
                        ["exec /usr/local/bin/thumbs: exec format error"], restarts=5)
    return r.bundle(), expect("config_error", ["exec format error"])


@case
def case_python_chained_cause() -> Case:
    lines = [
        "INFO  starting scheduler",
        "Traceback (most recent call last):",
        '  File "/usr/local/lib/python3.12/site-packages/psycopg/connection.py", line 119, in connect',
        "    raise last_ex.with_traceback(None)",
        'psycopg.OperationalError: connection failed: could not translate host name "pg-primary.db.svc" to '
        "address: Name or service not known",
        "",
        "The above exception was the direct cause of the following exception:",
        "",
        "Traceback (most recent call last):",
        '  File "/app/scheduler.py", line 20, in <module>',
        "    engine.connect()",
        "sqlalchemy.exc.OperationalError: (psycopg.OperationalError) connection failed: could not translate "
        'host name "pg-primary.db.svc" to address: Name or service not known',
    ]
    env = [{"name": "DATABASE_URL", "value": f"postgresql://sched:{PG_PASS}@pg-primary.db.svc/sched"}]
    r, _ = simple_crash("scheduler", "acme/scheduler:3.0.0", "acme/scheduler:3.1.0", lines, env=env)
    return r.bundle(), expect("crash_loop", ["Name or service not known", "exit code 1"], [PG_PASS])


@case
def case_json_structured_fatal() -> Case:
    lines = [json.dumps({"level": "info", "ts": 1795000000.1 + i, "msg": "loading routes", "count": i})
             for i in range(300)]
    lines.append("\x1b[31m" + json.dumps({"level": "fatal", "ts": 1795000400.5, "caller": "cmd/main.go:77",
                                          "msg": "cannot bind listener", "error": "listen tcp :80: bind: "
                                          "permission denied"}) + "\x1b[0m")
    r, _ = simple_crash("edge-proxy", "acme/edge-proxy:0.8.0", "acme/edge-proxy:0.9.0", lines, exit_code=1)
    return r.bundle(), expect("crash_loop", ["bind: permission denied", "exit code 1"])


@case
def case_old_replicaset_crashing_new_healthy() -> Case:
    img = "acme/cartsvc:4.1.0"
    new = template("cartsvc", [base_app("app", img)])
    old = template("cartsvc", [base_app("app", "acme/cartsvc:4.0.0")])
    r = Rollout("cartsvc", "shop", new, old, ready=1, replicas=2, started_ago=30)
    pod = r.pod(0, statuses=[running("app", img, ready=True)], conditions=[
        {"type": "PodScheduled", "status": "True"}, {"type": "Ready", "status": "True"}])
    r.log(pod, "app", "\n".join(noise(20, 5)) + "\n")
    # a pod of the OLD ReplicaSet is crash looping: it must not fail or explain the new rollout
    old_rs = r.old_rs
    assert old_rs is not None
    old_pod = {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": old_rs["metadata"]["name"] + "-zz9qq", "namespace": "shop", "uid": "old-pod-uid",
                     "labels": dict(old_rs["spec"]["template"]["metadata"]["labels"]),
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "controller": True,
                                          "name": old_rs["metadata"]["name"], "uid": old_rs["metadata"]["uid"]}]},
        "spec": old_rs["spec"]["template"]["spec"],
        "status": {"phase": "Running", "containerStatuses": [crashloop("app", "acme/cartsvc:4.0.0", restarts=9)]},
    }
    r.pods.append(old_pod)
    r.log(old_pod, "app", "panic: old version bug\n", previous=True)
    return r.bundle(), expect("unknown", [], [], status="ROLLING_OUT")

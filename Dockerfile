# syntax=docker/dockerfile:1
# One image for all four services (watcher, ingestor, analyzer, notifier) and the migration Job:
# the Deployment's `args` pick the service (`fyr watcher --host 0.0.0.0 --port 8080`, ...).
# One wheel, one vulnerability scan, one version to roll out and roll back.
#
# Base: python:3.11.14-slim-bookworm pinned by tag AND by the digest of its multi-arch index, so a
# rebuild gets the same OS layer; bump both together (Renovate/Dependabot understand this form).
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm@sha256:65a93d69fa75478d554f4ad27c85c1e69fa184956261b4301ebaf6dbb0a3543d

# ---- build: make the wheel and a self-contained virtualenv in /opt/fyr --------------------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
# Every dependency ships a manylinux wheel for CPython 3.11, so no compiler is installed here either.
RUN python -m venv /opt/fyr
COPY pyproject.toml README.md ./
COPY src ./src
RUN python -m pip wheel --no-deps --wheel-dir /wheels . \
 && /opt/fyr/bin/pip install --no-cache-dir /wheels/fyr-*.whl \
 && /opt/fyr/bin/python -m compileall -q /opt/fyr/lib

# ---- runtime: the venv only; no pip cache, no sources, no build tools ----------------------------
FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="fyr" \
      org.opencontainers.image.description="Turns a failed Kubernetes rollout into an owner-addressed Slack message" \
      org.opencontainers.image.licenses="Apache-2.0"
# A fixed numeric user, so Kubernetes can check runAsNonRoot without resolving names.
RUN groupadd --system --gid 10001 fyr \
 && useradd --system --uid 10001 --gid 10001 --no-log-init --no-create-home --shell /usr/sbin/nologin fyr
COPY --from=build /opt/fyr /opt/fyr
# HOME=/tmp: the root filesystem is read-only in Kubernetes; /tmp is an emptyDir there.
ENV PATH=/opt/fyr/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp
WORKDIR /tmp
USER 10001:10001
EXPOSE 8080
ENTRYPOINT ["fyr"]
CMD ["--help"]

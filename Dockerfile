# syntax=docker/dockerfile:1
# The modeldeploy operator image. Build from the repository root:
#   docker build -t modeldeploy:0.1.0 .
# The install recipe lives in tools/install-operator.sh so that a test can run the very same steps in a
# fresh virtualenv (no Docker engine is needed to check that TensorFlow stays out of the image).
ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS builder
ENV PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY requirements.txt requirements-tfserving.txt pyproject.toml README.md ./
COPY tools/install-operator.sh tools/
COPY operator/ operator/
RUN tools/install-operator.sh /opt/venv /src

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="modeldeploy" \
      org.opencontainers.image.description="Kubernetes operator for TensorFlow Serving" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp
COPY --from=builder /opt/venv /opt/venv
# A numeric non-root user, so Kubernetes can verify runAsNonRoot without a passwd entry.
USER 65532:65532
# 8080: Prometheus metrics; 8081: Kopf liveness endpoint (/healthz).
EXPOSE 8080 8081
ENTRYPOINT ["modeldeploy", "run"]

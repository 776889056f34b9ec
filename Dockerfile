# syntax=docker/dockerfile:1

# One base for both stages, pinned to a patch release: a rebuild gets the same Python. Bump it
# (and deploy/constraints.txt) on purpose, then rerun `make check`.
ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

# ---- builder: install the package and its dependencies into a self-contained venv ----
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/venv
ENV PATH="/opt/venv/bin:$PATH"

WORKDIR /src
COPY pyproject.toml README.md deploy/constraints.txt ./
COPY app ./app
# Exact versions from deploy/constraints.txt (the ones the tests ran with); every dependency
# ships binary wheels for amd64/arm64, so no compiler is needed and none reaches the image.
RUN pip install --no-cache-dir --constraint constraints.txt .

# ---- runtime: the venv only, as a non-root user ----
FROM ${PYTHON_IMAGE} AS runtime

# MALLOC_ARENA_MAX: glibc's malloc keeps an arena per thread; two keep a process's memory
# closer to what it uses (deploy/README.md, "Memory").
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MALLOC_ARENA_MAX=2 \
    PATH="/opt/venv/bin:$PATH"

RUN groupadd --system --gid 10001 rivya \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin rivya

COPY --from=builder /opt/venv /opt/venv

WORKDIR /app
USER 10001:10001

EXPOSE 8080

# urllib raises on connection errors and non-2xx answers, so the exit status is the verdict.
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=3)"]

# One uvicorn worker per container, by design: all state (budgets, limits, idempotency, tasks)
# lives in Redis, so capacity scales by adding containers/replicas, and the orchestrator, not a
# process manager inside the container, restarts, health-checks and load-balances each process.
ENTRYPOINT ["rivya-gateway"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8080"]

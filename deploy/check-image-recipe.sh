#!/usr/bin/env bash
# Proves the Dockerfile's recipe where no container engine runs: replays its install steps
# (a venv, the lock file hash-checked, the project from the build context) in a clean
# directory, then runs the image's commands from its WORKDIR: `incident-bot --version`,
# `incident-bot check` against a Slack stand-in, `incident-bot serve` until /health and /ready
# answer, the HEALTHCHECK command itself, and a SIGTERM that must stop it cleanly.
#
#   deploy/check-image-recipe.sh               the default image (core, requirements.lock)
#   EXTRAS=drift deploy/check-image-recipe.sh  the drift image (requirements-drift.lock)
#
# Needs python3.11 and PyPI (a few minutes); too slow for every test run, so it is not part
# of `make test` (tests/deploy/test_container.py checks that it and the Dockerfile agree).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$PWD"
PYTHON="${PYTHON:-python3.11}"
EXTRAS="${EXTRAS:-}"
LOCK=requirements.lock
[ "$EXTRAS" = "drift" ] && LOCK=requirements-drift.lock

work="$(mktemp -d)"
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
step() { printf '\n== %s\n' "$*"; }

step "build stage: venv, $LOCK (--require-hashes), the project from the build context"
"$PYTHON" -m venv "$work/opt/incident-bot"
venv="$work/opt/incident-bot"
"$venv/bin/pip" install -q --disable-pip-version-check --require-hashes --no-deps -r "$LOCK"
mkdir "$work/src"
# what .dockerignore lets in and the Dockerfile COPYs into /src
cp -r pyproject.toml README.md bot domain handlers scheduler storage runbooks "$work/src/"
find "$work/src" -name __pycache__ -prune -exec rm -rf {} +
"$venv/bin/pip" install -q --disable-pip-version-check --no-deps "$work/src"
"$venv/bin/pip" check --disable-pip-version-check

step "runtime stage: WORKDIR /app, policies, the image's environment"
mkdir -p "$work/app/data"
cp -r policies "$work/app/"
cd "$work/app"
export PATH="$venv/bin:/usr/local/bin:/usr/bin:/bin" PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
export PORT="${RECIPE_PORT:-38123}" MPLCONFIGDIR="$work/tmp/matplotlib"
export DATABASE_URL="sqlite+aiosqlite:///$work/app/data/incidents.db"
unset SLACK_APP_TOKEN PAGERDUTY_API_TOKEN POLICY_FILE MODELS_FILE RUNBOOKS_DIR VIRTUAL_ENV || true
python -c "import bot, sys; assert bot.__file__.startswith('$venv'), bot.__file__; print('bot from', bot.__file__)"
echo "site-packages: $(du -sm "$venv/lib/python3.11/site-packages" | cut -f1) MB"

step "incident-bot --version"
incident-bot --version

if [ "$EXTRAS" != "drift" ]; then
  step "core image: no drift packages, and drift says how to get them"
  python -c "import importlib.util as u; m=[n for n in ('numpy','scipy','pyarrow','matplotlib') if u.find_spec(n)]; assert not m, m"
  if incident-bot drift check --reference a.csv --current b.csv 2>"$work/drift.err"; then exit 1; fi
  grep -F "install incident-bot[drift]" "$work/drift.err"
else
  step "drift image: incident-bot drift check on two small CSV windows"
  python -c "
import random
random.seed(1)
for name, shift in (('ref.csv', 0.0), ('cur.csv', 0.8)):
    with open(name, 'w') as f:
        f.write('income,score\\n')
        f.writelines(f'{random.gauss(shift, 1):.4f},{random.random():.4f}\\n' for _ in range(2000))
"
  incident-bot drift check --reference ref.csv --current cur.csv --prediction-column score
fi

step "a Slack stand-in (the package's own bot.local.slack_standin)"
python - >"$work/slack.url" <<'PY' &
import asyncio, sys
from bot.local.slack_standin import SlackStandIn

async def main() -> None:
    async with SlackStandIn(bot_token="xoxb-recipe") as slack:
        print(slack.url, flush=True)
        await asyncio.Event().wait()

asyncio.run(main())
PY
pids+=($!)
for _ in $(seq 50); do [ -s "$work/slack.url" ] && break; sleep 0.2; done
export SLACK_API_URL="$(cat "$work/slack.url")" SLACK_BOT_TOKEN=xoxb-recipe SLACK_SIGNING_SECRET=recipe-secret
echo "$SLACK_API_URL"

step "incident-bot db upgrade, then incident-bot check"
incident-bot db upgrade
incident-bot check

step "incident-bot serve: /health, /ready, the HEALTHCHECK command, SIGTERM"
incident-bot serve >"$work/serve.log" 2>&1 &
serve=$!
pids+=($serve)
ready=""
for _ in $(seq 100); do
  if python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$PORT/ready', timeout=2)" 2>/dev/null; then
    ready=yes; break
  fi
  sleep 0.2
done
[ -n "$ready" ] || { cat "$work/serve.log"; echo "serve never became ready" >&2; exit 1; }
python -c "import urllib.request; print('/health', urllib.request.urlopen('http://127.0.0.1:$PORT/health').read().decode())"
python -c "import urllib.request; print('/ready ', urllib.request.urlopen('http://127.0.0.1:$PORT/ready').read().decode())"
# the Dockerfile's HEALTHCHECK, exactly as written there
healthcheck="$(python - "$REPO/Dockerfile" <<'PY'
import json, re, sys
text = open(sys.argv[1]).read().replace("\\\n", " ")
print(json.dumps(json.loads(re.search(r"^HEALTHCHECK .*?CMD (\[.*\])$", text, re.M).group(1))))
PY
)"
python -c "import json, subprocess, sys; sys.exit(subprocess.run(json.loads(sys.argv[1])).returncode)" "$healthcheck"
echo "HEALTHCHECK: healthy"
python -c "import urllib.request; print(len(urllib.request.urlopen('http://127.0.0.1:$PORT/metrics').read()), 'bytes of /metrics')"
kill -TERM "$serve"
for _ in $(seq 75); do kill -0 "$serve" 2>/dev/null || break; sleep 0.2; done
if kill -0 "$serve" 2>/dev/null; then echo "serve did not stop within 15 s of SIGTERM" >&2; exit 1; fi
wait "$serve" && code=0 || code=$?
echo "serve exited $code after SIGTERM"
[ "$code" = 0 ] || { tail -20 "$work/serve.log"; exit 1; }

step "image recipe OK ($LOCK${EXTRAS:+, EXTRAS=$EXTRAS})"

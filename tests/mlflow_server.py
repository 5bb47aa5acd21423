"""A real ``mlflow server`` (SQLite backend, loopback) for the registry tests, one per test session.

Full MLflow conflicts with the project's pins, so it lives in its own venv (``make .venv-mlflow``).
Without it the tests skip with the reason, except under ``CI=true`` where they fail. The server
starts once and is shared; each test uses model names of its own. Its start (about 10 s, then as
long again for the registry's own schema at the first registry call) runs in a thread from the
moment a registry test module is collected, so it overlaps the tests that run before them.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MLFLOW = ROOT / ".venv-mlflow" / "bin" / "mlflow"
_server: dict[str, object] = {}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start() -> str:
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # the test client's, too
    workdir = Path(tempfile.mkdtemp(prefix="mlflow-test-"))
    port = _free_port()
    log = (workdir / "server.log").open("wb")
    proc = subprocess.Popen(  # noqa: S603 - our own venv's binary, fixed arguments
        [str(MLFLOW), "server", "--backend-store-uri", f"sqlite:///{workdir / 'mlflow.db'}",
         "--default-artifact-root", str(workdir / "artifacts"), "--host", "127.0.0.1",
         "--port", str(port), "--workers", "1"],
        cwd=workdir, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        env={**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true",
             "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"})  # no job runner: the registry is enough

    def stop() -> None:
        """The server and its uvicorn and job-runner children: the whole process group."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)

    atexit.register(stop)  # at once: a session that ends while it starts must not leave it running
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"mlflow server exited: {(workdir / 'server.log').read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=1) as resp:  # noqa: S310 - loopback
                if resp.status == 200:
                    break
        except OSError:
            time.sleep(0.2)
    else:
        proc.kill()
        raise RuntimeError("mlflow server did not answer /health within 90 s")
    # the registry store creates its schema at its first call: done here, not in a test
    with urllib.request.urlopen(f"{url}/api/2.0/mlflow/registered-models/search",  # noqa: S310
                                timeout=120) as resp:
        resp.read()
    return url


def _start_in_background() -> None:
    def run() -> None:
        try:
            _server["url"] = _start()
        except Exception as exc:  # said by the fixture, in the test that needs the server
            _server["error"] = exc

    thread = threading.Thread(target=run, name="mlflow-server", daemon=True)
    _server["thread"] = thread
    thread.start()


# Under pytest-xdist every worker collects every module: the server is started by the first
# test that needs it instead (with `--dist loadfile`, one per worker that runs a registry module).
if MLFLOW.exists() and not os.environ.get("PYTEST_XDIST_WORKER"):
    _start_in_background()


@pytest.fixture(scope="session")
def mlflow_server() -> Iterator[str]:
    """The tracking URI of a running MLflow server."""
    if not MLFLOW.exists():
        reason = f"no MLflow server venv at {MLFLOW.parent.parent} (run `make .venv-mlflow`)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"MLflow must be available in CI: {reason}")
        pytest.skip(reason)
    if "thread" not in _server:
        _start_in_background()
    thread = _server.get("thread")
    if isinstance(thread, threading.Thread):
        thread.join(180)
    if "error" in _server:
        raise RuntimeError(f"the MLflow server did not start: {_server['error']}")
    if "url" not in _server:
        raise RuntimeError("the MLflow server did not start within 180 s")
    yield str(_server["url"])

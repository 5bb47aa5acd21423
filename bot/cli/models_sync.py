"""``incident-bot models sync``: read the model registry now (MLflow when MLFLOW_TRACKING_URI is
set, else the manual one) and record what moved since the last sync, as the scheduled sync does."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any


def register(models_sub: Any) -> None:
    """Added under ``incident-bot models`` (bot/cli/core.py)."""
    sync = models_sub.add_parser("sync", help="sync models, versions, aliases and tags from the registry")
    sync.set_defaults(func=_sync)


def _sync(_args: argparse.Namespace) -> int:
    from bot.app import build
    from bot.settings import Settings
    from domain.model_actions.registry import RegistryRefused, RegistryUnavailable

    async def run() -> int:
        container = build(Settings())
        await container.start(serving=False)
        try:
            feature = container.features.model_actions
            assert feature is not None, "the model actions feature is installed by build()"
            counts = await feature.sync()
            await container.dispatcher.drain_once()
        except (RegistryUnavailable, RegistryRefused) as exc:
            print(f"models sync: {exc}", file=sys.stderr)
            return 1
        finally:
            await container.stop()
        print(f"{feature.registry.kind} registry: {counts['models']} models, "
              f"{counts['moves']} alias moves, {counts['new_versions']} new versions")
        return 0

    return asyncio.run(run())

"""Core commands: serve, demo, db upgrade, models add / load / list."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from typing import Any

from bot.cli import models_sync
from bot.policy_loader import ModelsFile, PolicyFileError, load_models_file
from bot.settings import Settings
from domain.model import Actor, ModelStage

CLI_ACTOR = Actor("cli", "incident-bot cli")


def register(subparsers: Any) -> None:
    serve = subparsers.add_parser("serve", help="run the bot (HTTP mode or Socket Mode)")
    serve.add_argument("--host", default=None)
    serve.add_argument("--port", type=int, default=None)
    serve.add_argument("--socket-mode", action="store_true",
                       help="connect to Slack over Socket Mode (needs SLACK_APP_TOKEN)")
    serve.set_defaults(func=_serve)

    demo = subparsers.add_parser("demo", help="play a short incident against a local Slack stand-in")
    demo.add_argument("--database-url", default=None,
                      help="default: a fresh SQLite file under the system temp dir")
    demo.set_defaults(func=_demo)

    db = subparsers.add_parser("db", help="database migrations")
    db_sub = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    upgrade = db_sub.add_parser("upgrade", help="apply migrations up to head")
    upgrade.add_argument("--revision", default="head")
    upgrade.set_defaults(func=_db_upgrade)
    current = db_sub.add_parser("current", help="show the revision in force")
    current.set_defaults(func=_db_current)

    models = subparsers.add_parser("models", help="the model registry")
    models_sub = models.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    add = models_sub.add_parser("add", help="register (or update) a model")
    add.add_argument("name")
    add.add_argument("--version", required=True)
    add.add_argument("--stage", choices=[s.value for s in ModelStage], default="production")
    add.add_argument("--team", required=True)
    add.add_argument("--labels", default="", help="comma separated, e.g. revenue-critical")
    add.add_argument("--feature-store-ref")
    add.add_argument("--model-card-url")
    add.set_defaults(func=_models_add)
    load = models_sub.add_parser("load", help="register models from a YAML file")
    load.add_argument("file")
    load.set_defaults(func=_models_load)
    lst = models_sub.add_parser("list", help="list registered models")
    lst.set_defaults(func=_models_list)
    models_sync.register(models_sub)  # issue 18: from MLflow, or the manual registry


def _settings() -> Settings:
    return Settings()


def _serve(args: argparse.Namespace) -> int:
    from bot.logging_config import configure

    settings = _settings()
    configure(settings.log_level, settings.log_format)
    if args.socket_mode and not settings.slack_app_token:
        print("Socket Mode needs SLACK_APP_TOKEN (an xapp-... app-level token with "
              "connections:write).", file=sys.stderr)
        return 2
    if not settings.slack_bot_token or not (settings.slack_signing_secret or args.socket_mode):
        print("serve needs SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET (or --socket-mode with "
              "SLACK_APP_TOKEN). Without Slack credentials, try `incident-bot demo`.",
              file=sys.stderr)
        return 2
    if settings.models_file:  # a typo must not switch drift monitoring off silently
        try:
            load_models_file(settings.models_file)
        except PolicyFileError as exc:
            print(f"incident-bot: MODELS_FILE is malformed; not starting.\n{exc}", file=sys.stderr)
            return 2
    try:
        return asyncio.run(_serve_async(settings, args))
    except PolicyFileError as exc:
        print(f"incident-bot: the policy file is malformed; not starting.\n{exc}", file=sys.stderr)
        return 2


async def _serve_async(settings: Settings, args: argparse.Namespace) -> int:
    from bot.app import build
    from bot.web import connect_socket_mode, serve_http

    if args.port:  # the instance id (bot.app.instance_id) names the port actually served
        settings = settings.model_copy(update={"port": args.port})
    container = build(settings)
    await container.start()
    host = args.host or settings.host
    port = args.port or settings.port
    runner = await serve_http(container, host, port)
    socket_handler = None
    if args.socket_mode:
        socket_handler = await connect_socket_mode(container)
    container.freeze_heap()
    print(f"incident-bot listening on http://{host}:{port} "
          f"({'Socket Mode' if args.socket_mode else 'HTTP mode: /slack/events'})", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    if socket_handler is not None:
        await socket_handler.close_async()
    await runner.cleanup()
    await container.stop()
    return 0


def _demo(args: argparse.Namespace) -> int:
    from bot.local.demo import run_demo

    return asyncio.run(run_demo(database_url=args.database_url))


def _db_upgrade(args: argparse.Namespace) -> int:
    from storage import migrate
    from storage.db import create_engine

    async def run() -> str | None:
        engine = create_engine(_settings().database_url)
        try:
            return await migrate.upgrade(engine, args.revision)
        finally:
            await engine.dispose()

    print(f"database at revision {asyncio.run(run())}")
    return 0


def _db_current(_: argparse.Namespace) -> int:
    from storage import migrate
    from storage.db import create_engine

    async def run() -> str | None:
        engine = create_engine(_settings().database_url)
        try:
            return await migrate.current_revision(engine)
        finally:
            await engine.dispose()

    print(asyncio.run(run()) or "empty database (run `incident-bot db upgrade`)")
    return 0


async def _with_service(work: Any) -> Any:
    from bot.app import build

    container = build(_settings())
    try:
        from storage import migrate

        await migrate.upgrade(container.engine)
        return await work(container.service)
    finally:
        await container.engine.dispose()


def _models_add(args: argparse.Namespace) -> int:
    labels = [x.strip() for x in args.labels.split(",") if x.strip()]

    async def work(service: Any) -> Any:
        return await service.register_model(
            args.name, args.version, ModelStage(args.stage), args.team, CLI_ACTOR, labels=labels,
            feature_store_ref=args.feature_store_ref, model_card_url=args.model_card_url)

    model, created = asyncio.run(_with_service(work))
    print(f"{'registered' if created else 'updated'} {model.name} v{model.version} "
          f"({model.stage.value}, team {model.team})")
    return 0


def read_models_file(path: str) -> ModelsFile:
    """Parse and validate ``models.yml``; raises ValueError (``file:line: key: problem`` lines)."""
    return load_models_file(path)


def _models_load(args: argparse.Namespace) -> int:
    try:
        entries = read_models_file(args.file).models
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2

    async def work(service: Any) -> list[tuple[Any, bool]]:
        return [await service.register_model(e.name, e.version, e.stage, e.team, CLI_ACTOR,
                                             labels=e.labels,
                                             feature_store_ref=e.feature_store_ref,
                                             model_card_url=e.model_card_url) for e in entries]

    for model, created in asyncio.run(_with_service(work)):
        print(f"{'registered' if created else 'updated'} {model.name} v{model.version}")
    return 0


def _models_list(_: argparse.Namespace) -> int:
    async def work(service: Any) -> Any:
        return await service.list_models()

    models = asyncio.run(_with_service(work))
    if not models:
        print("no models registered")
    for m in models:
        print(f"{m.name}\tv{m.version}\t{m.stage.value}\tteam={m.team}\t{','.join(m.labels)}")
    return 0

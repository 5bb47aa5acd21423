"""What one Slack request costs the bot, counted rather than timed: a probe that load on the
machine cannot blur.

benchmarks/ack_latency.py times acks in wall-clock milliseconds, which only means something on
a quiet machine. This probe drives the real bot (LocalStack: Bolt over HTTP on loopback, the
Slack stand-in, SQLite) in one process and counts, per request and per part of the bot, what
does not depend on how busy the machine is:

- CPU time of the event-loop thread (``time.thread_time``) for each event-loop step, charged
  to the part whose task ran it: ``ack`` (the bot's HTTP handler and the intake group commit:
  everything before the 200), ``work`` (the use case ``AckFirst`` runs after the ack),
  ``delivery`` (the outbox dispatcher and its Slack calls), ``bg`` (intake settling and
  leases), ``slack`` (the stand-in and the driver, i.e. Slack itself: not the bot) and ``io``
  (selector callbacks: socket reads, timers); plus the CPU of the other threads (aiosqlite
  runs every statement on a thread of its own) from ``time.process_time``;
- event-loop steps, SQL statements and commits (SQLAlchemy event listeners on both engines),
  Slack Web API calls, ``response_url`` posts, intake transactions and log lines, per part.

The figures are sums over the scenario divided by its requests; requests go in bursts
(``--burst``, as the latency benchmark's concurrency) and each burst's work and deliveries are
let finish before the next, so each row holds exactly what its requests caused. The rows:
a bare Bolt app acking inline (the floor), the bot's declare, status and the benchmark's
Acknowledge click (on one incident: a no-op after the first), then Acknowledge and Mitigate on
each declared incident (real changes). ``>1ms st`` and ``max st``: the bot's steps over 1 ms
and the longest (an ack in flight waits for any step the loop runs meanwhile).

A second table runs the benchmark's three rows back to back, each burst meeting the work and
deliveries of the ones before it, and counts the CPU of the steps of work, deliveries and
upkeep that ran while acks were in flight, the longest of them, and the garbage collector's
passes (by generation) and the longest.

Diagnoses: ``--profile ack|bare|work|delivery`` (cProfile of that part's steps, function calls
per request, a .prof file in the temp dir), ``--statements`` (SQL per request by text),
``--long-steps`` (where the steps over 1 ms resumed), ``--gc-threshold 700,10,10``.

    .venv/bin/python benchmarks/ack_cost.py [--requests 200] [--burst 50] [--profile ack]
"""

from __future__ import annotations

import argparse
import asyncio
import asyncio.events
import cProfile
import gc
import io
import os
import pstats
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import event

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ack_latency import bare_bolt_app, serve

from bot.local.slack_driver import SlackDriver
from bot.local.stack import ADMIN, SIGNING_SECRET, LocalStack
from bot.logging_config import configure
from domain.model import Severity
from domain.services import DeclareIncident

PARTS = ("ack", "work", "delivery", "bg", "io", "slack", "bare")
# tasks whose coroutine says which part they are; any other task is its creator's part
BY_COROUTINE = {
    "AckFirst._run": "work",
    "OutboxDispatcher.run_forever": "delivery",
    "OutboxDispatcher._run_one": "delivery",
    "OutboxDispatcher._heartbeat": "delivery",
    "Intake._flush": "ack",  # the group commit the ack waits for
    "Intake._settle_soon": "bg",
    "Intake._keep": "bg",
}


@dataclass
class Tally:
    cpu_ns: Counter[str] = field(default_factory=Counter)  # loop thread, per part
    steps: Counter[str] = field(default_factory=Counter)
    sql: Counter[str] = field(default_factory=Counter)
    commits: Counter[str] = field(default_factory=Counter)
    slack_calls: Counter[str] = field(default_factory=Counter)
    responses: Counter[str] = field(default_factory=Counter)
    intake_tx: Counter[str] = field(default_factory=Counter)
    logs: Counter[str] = field(default_factory=Counter)
    long_steps: Counter[str] = field(default_factory=Counter)  # steps over 1 ms, per part
    # steps of the bot's work, deliveries and upkeep that ran while acks were in flight: the
    # time those acks waited for them (the latency benchmark's question, counted in CPU)
    in_the_way_ns: int = 0
    in_the_way_steps: int = 0
    in_the_way_max_ns: int = 0
    gc_ns: Counter[int] = field(default_factory=Counter)  # garbage collections, by generation
    gc_runs: Counter[int] = field(default_factory=Counter)
    gc_max_ns: int = 0
    max_step_ns: Counter[str] = field(default_factory=Counter)
    process_ns: int = 0
    thread_ns: int = 0


class Probe:
    """Charges every event-loop step, SQL statement, Slack call and log line to a part."""

    def __init__(self) -> None:
        self.parts: WeakKeyDictionary[asyncio.Task[Any], str] = WeakKeyDictionary()
        self.servers: dict[int, str] = {}  # id(aiohttp Server) -> part
        self.tally = Tally()
        self.profile_parts: set[str] = set()
        self.profiler: cProfile.Profile | None = None
        self._original_run = asyncio.events.Handle._run
        self.acks_in_flight: Callable[[], int] = lambda: 0
        self.statements: Counter[str] | None = None  # --statements: SQL by part and text
        self.long_sites: Counter[str] | None = None  # --long-steps: CPU of steps over 1 ms by site
        self.worst_sites: Counter[str] = Counter()  # --long-steps: the longest step by site

    @staticmethod
    def site_of(handle: Any) -> str:
        """Where the task the step resumes is suspended: its innermost frames of our code."""
        owner = getattr(handle._callback, "__self__", None)
        if not isinstance(owner, asyncio.Task):
            # never repr(): a callback's owner may cache what its repr reads (aiohttp does)
            return str(getattr(handle._callback, "__qualname__", type(handle._callback).__name__))
        coro: Any = owner.get_coro()
        ours: list[str] = []
        while coro is not None:
            code = getattr(coro, "cr_code", None) or getattr(coro, "gi_code", None)
            if code is not None and "site-packages" not in code.co_filename:
                ours.append(f"{Path(code.co_filename).stem}.{code.co_name}")
            coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
        return " > ".join(ours[-3:])

    # -- which part a task is -------------------------------------------------------------------

    def task_factory(self, loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Task[Any]:
        task = asyncio.Task(coro, loop=loop, **kwargs)
        part = BY_COROUTINE.get(getattr(coro, "__qualname__", ""))
        if part is None and getattr(coro, "__qualname__", "") == "RequestHandler.start":
            manager = coro.cr_frame.f_locals["self"]._manager
            part = self.servers.get(id(manager), "slack")
        if part is None:
            creator = asyncio.current_task(loop)
            part = self.parts.get(creator, "slack") if creator is not None else "io"
        self.parts[task] = part
        return task

    def part_now(self) -> str:
        task = asyncio.current_task()
        return self.parts.get(task, "io") if task is not None else "io"

    def _part_of(self, handle: Any) -> str:
        owner = getattr(handle._callback, "__self__", None)  # a task's step or wakeup
        if isinstance(owner, asyncio.Task):
            return self.parts.get(owner, "slack")
        return "io"

    def install(self) -> None:
        probe = self

        def run(handle: Any) -> None:
            part = probe._part_of(handle)
            acks_waiting = probe.acks_in_flight() if part in ("work", "delivery", "bg") else 0
            try:
                site = probe.site_of(handle) if probe.long_sites is not None else ""
            except Exception as exc:  # a diagnosis must never break the loop
                site = f"? {exc!r}"[:80]
            profiler = probe.profiler if part in probe.profile_parts else None
            started = time.thread_time_ns()
            if profiler is not None:
                profiler.enable()
            try:
                probe._original_run(handle)
            finally:
                if profiler is not None:
                    profiler.disable()
                spent = time.thread_time_ns() - started
                tally = probe.tally
                tally.cpu_ns[part] += spent
                tally.steps[part] += 1
                if acks_waiting:
                    tally.in_the_way_ns += spent
                    tally.in_the_way_steps += 1
                    tally.in_the_way_max_ns = max(tally.in_the_way_max_ns, spent)
                if spent > 1_000_000:
                    if probe.long_sites is not None:
                        probe.long_sites[f"{part:8} {site}"] += spent
                        key = f"{'*' if acks_waiting else ' '} {part:8} {site}"
                        probe.worst_sites[key] = max(probe.worst_sites[key], spent)
                    tally.long_steps[part] += 1
                    tally.max_step_ns[part] = max(tally.max_step_ns[part], spent)

        setattr(asyncio.events.Handle, "_run", run)  # noqa: B010 (a patch, in the probe only)
        asyncio.get_running_loop().set_task_factory(self.task_factory)

    def watch_gc(self) -> None:
        started = [0]

        def collection(phase: str, info: dict[str, int]) -> None:
            if phase == "start":
                started[0] = time.thread_time_ns()
                return
            spent = time.thread_time_ns() - started[0]
            generation = info.get("generation", 0)
            self.tally.gc_ns[generation] += spent
            self.tally.gc_runs[generation] += 1
            self.tally.gc_max_ns = max(self.tally.gc_max_ns, spent)

        gc.callbacks.append(collection)

    def uninstall(self) -> None:
        setattr(asyncio.events.Handle, "_run", self._original_run)  # noqa: B010

    def watch_engine(self, engine: Any) -> None:
        sync = engine.sync_engine

        @event.listens_for(sync, "before_cursor_execute")
        def _sql(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            part = self.part_now()
            self.tally.sql[part] += 1
            if self.statements is not None:
                self.statements[f"{part:8} {' '.join(statement.split())[:110]}"] += 1

        @event.listens_for(sync, "commit")
        def _commit(*_: Any) -> None:
            self.tally.commits[self.part_now()] += 1

    def count(self, counter: str) -> None:
        getattr(self.tally, counter)[self.part_now()] += 1

    def log_counter(self, _logger: Any, _name: str, event_dict: Any) -> Any:
        self.tally.logs[self.part_now()] += 1
        return event_dict

    @contextmanager
    def measuring(self) -> Iterator[Tally]:
        self.tally = Tally()
        process, thread = time.process_time_ns(), time.thread_time_ns()
        yield self.tally
        self.tally.process_ns = time.process_time_ns() - process
        self.tally.thread_ns = time.thread_time_ns() - thread


def counted(probe: Probe, counter: str,
            method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        probe.count(counter)
        return await method(*args, **kwargs)
    return wrapper


async def settle(stack: LocalStack) -> None:
    """Every acked piece of work done, every outbox row delivered, the intake settled."""
    container = stack.container
    deadline = time.monotonic() + 120
    quiet_checks = 0
    while time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        busy = (container.ack_first.pending or container.dispatcher._inflight
                or container.intake.backlog)
        if busy:
            quiet_checks = 0
            continue
        if await container.outbox_store.pending_count() == 0:
            quiet_checks += 1
            if quiet_checks >= 2:
                return
    raise SystemExit("the bot did not settle in 120 s")


Send = Callable[[int], Awaitable[Any]]


async def drive(stack: LocalStack, send: Send, requests: int, burst: int,
                wait: bool = True) -> None:
    """Bursts of ``burst`` requests; ``wait``: each burst's work and deliveries done before
    the next (else the next burst meets them, as in the latency benchmark)."""
    for start in range(0, requests, burst):
        results = await asyncio.gather(*(send(i) for i in range(start, min(requests, start + burst))))
        bad = [status for status, _ in results if status != 200]
        if bad:
            raise SystemExit(f"non-200 answers: {bad[:5]}")
        if wait:
            await settle(stack)


async def scenarios(stack: LocalStack, anchor_id: str, requests: int) -> list[tuple[str, Send]]:
    driver, channel = stack.driver, stack.slack.channel_id("ml-incidents")
    fresh: list[tuple[str, str | None, str | None]] = []  # (incident id, announcement channel, ts)

    async def declare(i: int) -> Any:
        return await driver.slash_command(f"declare P3 fraud-detector probe incident {i}",
                                          user_id="U0DECLARER")

    async def status(i: int) -> Any:
        return await driver.slash_command("status 1", user_id="U0RESPOND")

    async def ack_anchor(i: int) -> Any:  # the latency benchmark's click: a no-op after the first
        return await driver.block_action("incident_ack", value=anchor_id,
                                         message_ts="1700000000.000100", channel_id=channel,
                                         user_id="U0RESPOND")

    def click(action_id: str) -> Send:
        async def send(i: int) -> Any:
            incident_id, where, ts = fresh[i % len(fresh)]
            return await driver.block_action(action_id, value=incident_id, message_ts=ts,
                                             channel_id=where, user_id="U0RESPOND")
        return send

    async def load_fresh(_: int) -> Any:
        views = await stack.container.service.list_incidents(limit=requests + 10, with_links=True)
        fresh[:] = [(str(v.incident.id), v.link.announcement_channel, v.link.announcement_ts)
                    for v in views if v.link and v.incident.title.startswith("probe incident")]
        return 200, None

    bare = SlackDriver(getattr(stack, "bare_url"), SIGNING_SECRET, slack=stack.slack)  # noqa: B009

    async def bare_status(i: int) -> Any:
        return await bare.slash_command("status 1", user_id="U0RESPOND")

    async def bare_click(i: int) -> Any:
        return await bare.block_action("incident_ack", value=anchor_id,
                                       message_ts="1700000000.000100", channel_id=channel,
                                       user_id="U0RESPOND")

    return [("bare inline: status", bare_status), ("bare inline: click", bare_click),
            ("slash: declare", declare), ("slash: status", status),
            ("button: ack (benchmark's)", ack_anchor), ("", load_fresh),
            ("button: acknowledge", click("incident_ack")),
            ("button: mitigate", click("incident_mitigate"))]


async def warm_up(stack: LocalStack, anchor_id: str) -> None:
    """First requests pay for imports and caches: a few of each kind before measuring."""
    for name, send in await scenarios(stack, anchor_id, 5):
        if name in ("slash: declare", "slash: status", "button: ack (benchmark's)") or (
                name.startswith("bare")):
            await drive(stack, send, 5, 5)
    await drive(stack, lambda _: stack.driver.block_action(
        "incident_mitigate", value=anchor_id, message_ts="1700000000.000100",
        channel_id=stack.slack.channel_id("ml-incidents"), user_id="U0RESPOND"), 1, 1)


def row(name: str, tally: Tally, n: int) -> list[str]:
    ms = {part: tally.cpu_ns[part] / n / 1e6 for part in PARTS}
    threads = (tally.process_ns - tally.thread_ns) / n / 1e6
    bot = sum(ms[p] for p in ("ack", "bare", "work", "delivery", "bg", "io")) + threads

    def per(counter: Counter[str], *parts: str) -> str:
        return f"{sum(counter[p] for p in parts) / n:.2f}"

    ack = ms["bare"] if tally.steps["bare"] > tally.steps["ack"] else ms["ack"]
    behind = ("work", "delivery", "bg")
    longest = max(tally.max_step_ns[p] for p in ("ack", "bare", *behind)) / 1e6
    return [name, f"{ack:.2f}", f"{ms['work']:.2f}", f"{ms['delivery']:.2f}",
            f"{ms['bg'] + ms['io']:.2f}", f"{threads:.2f}", f"{bot:.2f}", f"{ms['slack']:.2f}",
            f"{max(tally.steps['ack'], tally.steps['bare']) / n:.1f}", f"{tally.steps['work'] / n:.1f}",
            per(tally.long_steps, "ack", "bare", *behind), f"{longest:.1f}",
            per(tally.sql, "ack"), per(tally.sql, "work"), per(tally.sql, "delivery", "bg"),
            per(tally.commits, *PARTS), per(tally.intake_tx, *PARTS),
            per(tally.slack_calls, *PARTS), per(tally.responses, *PARTS),
            per(tally.logs, "ack"), per(tally.logs, "work", "delivery", "bg")]


HEADER = ["request", "ack ms", "work ms", "deliv ms", "bg+io ms", "thr ms", "BOT ms", "slack ms",
          "ack st", "work st", ">1ms st", "max st", "ack sql", "work sql", "deliv sql", "commits",
          "intake tx", "web api", "resp_url", "ack log", "work log"]


def table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [HEADER, *rows]) for i in range(len(HEADER))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in
                       enumerate(zip(r, widths, strict=True))) for r in [HEADER, *rows]]
    return "\n".join(lines)


async def run(requests: int, burst: int, profile: str | None, out: Any,
              long_steps: bool = False, statements: bool = False, overlap: bool = True,
              gc_threshold: tuple[int, ...] = ()) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        probe = Probe()
        probe.install()
        stack = LocalStack(f"sqlite+aiosqlite:///{tmp}/probe.db", settings_overrides={
            "intake_max_backlog": 1_000_000,  # as the latency benchmark: no busy answers
            "tick_seconds": 0})  # no SLO tick: each row holds only what its requests caused
        async with stack:
            container = stack.container
            container.dispatcher.poll_seconds = 1.0  # the default (LocalStack polls at 50 ms)
            probe.servers[id(stack.runner.server)] = "ack"
            probe.acks_in_flight = lambda: container.ack_first._inflight
            # the floor: a Bolt app that only acks, inline (process_before_response=True)
            bare_runner, bare_url = await serve(
                bare_bolt_app(stack.slack.url, inline=True).web_app(path="/slack/events"))
            setattr(stack, "bare_url", bare_url)  # noqa: B010
            probe.servers[id(bare_runner.server)] = "bare"
            probe.watch_engine(container.engine)
            if container.intake.store.engine is not container.engine:
                probe.watch_engine(container.intake.store.engine)
            client = container.slack_client
            setattr(client, "api_call", counted(probe, "slack_calls", client.api_call))  # noqa: B010
            store = container.intake.store
            setattr(store, "admit", counted(probe, "intake_tx", store.admit))  # noqa: B010
            from slack_sdk.webhook.async_client import AsyncWebhookClient
            send_dict = AsyncWebhookClient.send_dict
            setattr(AsyncWebhookClient, "send_dict",  # noqa: B010
                    lambda self, *a, **k: counted(probe, "responses", send_dict)(self, *a, **k))
            import structlog
            config = structlog.get_config()
            structlog.configure(processors=[probe.log_counter, *config["processors"]])
            incident = await container.service.declare(
                DeclareIncident("probe anchor", Severity.P2, "credit-risk-v3"), ADMIN)
            await settle(stack)
            container.freeze_heap()  # as `incident-bot serve` does once it is up
            if gc_threshold:  # diagnosis: another setting than freeze_heap's
                gc.set_threshold(*gc_threshold)
            probe.watch_gc()
            rows = []
            by_text: dict[str, Counter[str]] = {}
            await warm_up(stack, str(incident.id))
            for name, send in await scenarios(stack, str(incident.id), requests):
                if not name:
                    await send(0)
                    continue
                gc.collect()
                if statements:  # diagnosis: costs a little CPU per statement
                    by_text[name] = probe.statements = Counter()
                with probe.measuring() as tally:
                    await drive(stack, send, requests, burst)
                rows.append(row(name, tally, requests))
                print(f"  {name}: done", file=out, flush=True)
            print(f"per request, mean of {requests} requests in bursts of {burst} (CPU ms of the "
                  "event-loop thread by part; thr: other threads, i.e. aiosqlite; BOT: the bot's "
                  "total; slack: the stand-in and driver, not the bot; st: event-loop steps)",
                  file=out)
            print(table(rows), file=out, flush=True)
            print(f"garbage collector: threshold {gc.get_threshold()}", file=out)
            print("long steps:", long_steps, file=out, flush=True)
            for name, counts in by_text.items():
                print(f"\nSQL statements per request, {name}:", file=out)
                for text, count in counts.most_common(30):
                    print(f"{count / requests:6.2f}  {text}", file=out, flush=True)
            if overlap:
                if long_steps:
                    probe.long_sites, probe.worst_sites = Counter(), Counter()
                await back_to_back(stack, probe, str(incident.id), requests, burst, out)
                if long_steps:
                    print("\nback to back: the longest steps, by part and where the task resumed "
                          "(ms; * ran while acks were in flight)", file=out)
                    for site, ns in probe.worst_sites.most_common(25):
                        print(f"{ns / 1e6:9.1f}  {site}", file=out, flush=True)
            if long_steps:
                probe.long_sites = Counter()
                for name, send in await scenarios(stack, str(incident.id), requests):
                    if name in ("slash: declare", "slash: status", "button: ack (benchmark's)", ""):
                        await drive(stack, send, requests, burst) if name else await send(0)
                sites = probe.long_sites
                probe.long_sites = None
                print("\nCPU ms of steps over 1 ms, by part and where the task resumed "
                      "(declare, status, benchmark's ack):", file=out, flush=True)
                for site, ns in sites.most_common(40):
                    print(f"{ns / 1e6:9.1f}  {site}", file=out, flush=True)
            if profile:
                await profile_run(stack, probe, str(incident.id), requests, burst, profile, out)
        probe.uninstall()


async def back_to_back(stack: LocalStack, probe: Probe, anchor_id: str, requests: int,
                       burst: int, out: Any) -> None:
    """The latency benchmark's pattern: rows back to back (2 s apart), each burst sent as the
    last one is answered, so acks meet the work and deliveries of the requests before them.
    What counts is the CPU of those steps run while acks were waiting."""
    print("\nback to back, as benchmarks/ack_latency.py runs (per request: the CPU ms of "
          "work, delivery and upkeep steps that ran while acks were in flight, how many such "
          "steps, and the longest)", file=out)
    print(f"{'request':28} {'ack ms':>7} {'in the way ms':>13} {'steps':>6} {'longest ms':>10} "
          f"{'gc runs (gen 0/1/2)':>20} {'longest gc ms':>13}", file=out)
    for name, send in await scenarios(stack, anchor_id, requests):
        if name not in ("slash: declare", "slash: status", "button: ack (benchmark's)"):
            continue  # the benchmark's three rows
        with probe.measuring() as tally:
            await drive(stack, send, requests, burst, wait=False)
            await asyncio.sleep(2)  # as the benchmark between rows
        print(f"{name:28} {tally.cpu_ns['ack'] / requests / 1e6:7.2f} "
              f"{tally.in_the_way_ns / requests / 1e6:13.2f} "
              f"{tally.in_the_way_steps / requests:6.1f} {tally.in_the_way_max_ns / 1e6:10.1f} "
              f"{'/'.join(str(tally.gc_runs[g]) for g in range(3)):>20} "
              f"{tally.gc_max_ns / 1e6:13.1f}", file=out, flush=True)
    await settle(stack)


async def profile_run(stack: LocalStack, probe: Probe, anchor_id: str, requests: int,
                      burst: int, part: str, out: Any) -> None:
    for name, send in await scenarios(stack, anchor_id, requests):
        if name not in ("slash: declare", "slash: status", "button: ack (benchmark's)",
                        "button: acknowledge", "", "bare inline: status", "bare inline: click"):
            continue
        if not name:
            await send(0)
            continue
        probe.profiler = cProfile.Profile()
        probe.profile_parts = {part}
        await drive(stack, send, requests, burst)
        probe.profile_parts = set()
        if not probe.profiler.getstats():
            continue  # nothing of that part ran in this scenario
        dump = Path(tempfile.gettempdir()) / f"ack_cost.{part}.{name.split(':')[-1].strip().split()[0]}.prof"
        probe.profiler.dump_stats(dump)  # for a closer look: python -m pstats <file>
        text = io.StringIO()
        stats = pstats.Stats(probe.profiler, stream=text)
        calls = stats.total_calls  # type: ignore[attr-defined]
        stats.sort_stats("cumulative").print_stats(45)
        stats.sort_stats("ncalls").print_stats(30)
        print(f"\n=== cProfile of the '{part}' steps, {name}, {requests} requests: "
              f"{calls / requests:.0f} function calls per request ===", file=out)
        print(text.getvalue(), file=out, flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--burst", type=int, default=50)
    parser.add_argument("--profile", choices=("ack", "bare", "work", "delivery"))
    parser.add_argument("--statements", action="store_true",
                        help="also count the SQL statements by text (costs some CPU)")
    parser.add_argument("--gc-threshold", default="",
                        help="gc.set_threshold after freeze_heap, e.g. 700,10,10 (a diagnosis)")
    parser.add_argument("--long-steps", action="store_true",
                        help="also list where the steps over 1 ms resumed (a second run)")
    args = parser.parse_args()
    # logs are rendered as in production (JSON) and thrown away, as the benchmark does
    out = os.fdopen(os.dup(1), "w")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    configure("INFO", "json")
    try:
        asyncio.run(run(args.requests, args.burst, args.profile, out, args.long_steps,
                        args.statements, gc_threshold=tuple(
                            int(x) for x in args.gc_threshold.split(",") if x)))
    except BaseException:
        import traceback
        traceback.print_exc(file=out)
        out.flush()
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

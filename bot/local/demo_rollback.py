"""The demo's second scene (issue 18): a deploy, a drift incident, "What changed?" in its thread,
and a rollback under GOV-001's RACI: the SRE asks from the Roll back button, approving their own
request is refused (SEV-2, no break-glass), the Incident Commander approves, the registry's
``champion`` alias moves back, and the result lands in the thread.

The registry is the bot's manual one (``models add`` is the deploy), so the demo needs no MLflow;
with ``MLFLOW_TRACKING_URI`` the same buttons move the MLflow alias.
"""

from __future__ import annotations

import textwrap
from typing import Protocol

from bot.cli.output import bold
from bot.local.stack import LocalStack
from domain.drift_runs import DRIFT_JOB
from domain.model import Actor, ModelStage, Severity, TriggerSource
from domain.services import DeclareIncident

ALICE, BOB = "U0DECLARER", "U0RESPOND"  # alice commands the incident, bob is the ML Platform SRE


class Clock(Protocol):
    def at(self, hhmm: str) -> None: ...


class Transcript(Protocol):
    seen: int

    def say(self, who: str, what: str) -> None: ...
    def flush(self) -> None: ...


def _said(stack: LocalStack, since: int) -> list[str]:
    """What the bot said since call ``since``: top-level posts clipped, thread posts and
    ephemeral answers whole (the point of the scene)."""
    out = []
    incidents = ("ml-incidents", stack.slack.channel_id("ml-incidents"))
    for call in stack.slack.calls[since:]:
        text = str(call.params.get("text", ""))
        if not call.ok:
            continue
        if call.method == "chat.postEphemeral":
            out.append(f"(only you can see this) {text}")
        elif call.method == "chat.postMessage" and call.params.get("thread_ts"):
            out.append(f"bot -> #ml-incidents (thread): {text}")
        elif call.method == "chat.postMessage" and call.params.get("channel") in incidents:
            out.append(f"bot -> #ml-incidents: {text.splitlines()[0][:100]}")
    return out


class Steps:
    def __init__(self, stack: LocalStack, t: Transcript) -> None:
        self.stack, self.t = stack, t
        self.seen = len(stack.slack.calls)
        self.answers = len(stack.driver.responses)

    def step(self, who: str, what: str) -> None:
        self.t.say(who, what)

    def dump(self) -> None:
        lines = _said(self.stack, self.seen)
        lines += [f"(only you can see this) {r['body'].get('text', '')}"
                  for r in self.stack.driver.responses[self.answers:]]
        for line in lines:
            print(textwrap.indent(line, "    "))
        self.seen, self.answers = len(self.stack.slack.calls), len(self.stack.driver.responses)


async def play_rollback(stack: LocalStack, clock: Clock, t: Transcript) -> None:
    """Plays the scene on a running demo stack; prints the Slack transcript of the rollback."""
    feature = stack.container.features.model_actions
    assert feature is not None, "build() installs the model actions feature"
    incidents = stack.slack.channel_id("ml-incidents")
    service = stack.container.service
    s = Steps(stack, t)
    kind = feature.registry.kind
    print("\n" + bold(f"Scene 2: a deploy, a drift incident and a rollback ({kind} registry)"))
    clock.at("15:30")
    await feature.sync()  # the registry as it stands: champion serves v1.0.0
    clock.at("15:32")
    s.step("[15:32] ci-deploy:", "deploys credit-risk-v3 v1.1.0; the registry sync records "
                                 "champion v1.0.0 → v1.1.0")
    await service.register_model("credit-risk-v3", "1.1.0", ModelStage.PRODUCTION, "risk-ml",
                                 Actor("U0DEPLOY", "ci-deploy"), labels=["revenue-critical"])
    await feature.sync()

    clock.at("16:02")
    s.step("[16:02] drift job:", "PSI 0.34 on credit-risk-v3: opens a SEV-2 drift incident")
    incident = await service.declare(DeclareIncident(
        title="Drift on credit-risk-v3: PSI 0.34", severity=Severity.P2, model_name="credit-risk-v3",
        trigger_source=TriggerSource.AUTOMATED_DRIFT, labels=["drift"]), DRIFT_JOB)
    await stack.settle()
    s.dump()

    clock.at("16:05")
    s.step("[16:05] bob (ML Platform SRE):",
           f"clicks [Roll back] under What changed? in {incident.key}'s thread")
    thread = _latest_with(stack, incidents, "model_rollback")
    await stack.driver.block_action("model_rollback", message_ts=thread, channel_id=incidents, user_id=BOB)
    await stack.slack.wait_until(lambda: stack.slack.latest_view("model_rollback_submit"), 5)
    await stack.settle()
    modal = stack.slack.latest_view("model_rollback_submit") or {}
    default = modal["blocks"][1]["element"].get("initial_option", {}).get("value")
    print(textwrap.indent(f"bot opens the form: return to v{default} (what champion held before), "
                          "reason", "    "))
    clock.at("16:06")
    s.step("[16:06] bob:", "submits the form: \"v1.1.0 drifts on income\"")
    await stack.driver.view_submission("model_rollback_submit",
                                       {"version": default, "reason": "v1.1.0 drifts on income"},
                                       user_id=BOB)
    await stack.settle()
    s.dump()

    request = _latest_with(stack, incidents, "model_rollback_approve")
    clock.at("16:07")
    s.step("[16:07] bob:", "clicks [Approve rollback] on his own request")
    await _approve(stack, incidents, request, BOB)
    s.dump()
    clock.at("16:09")
    s.step("[16:09] alice (Incident Commander):", "clicks [Approve rollback]")
    await _approve(stack, incidents, request, ALICE)
    s.dump()
    models = {m.name: m for m in await service.list_models()}
    print(textwrap.indent(f"registry: credit-risk-v3 champion = v{models['credit-risk-v3'].version}", "    "))
    t.seen = len(stack.slack.calls)  # all shown above


async def _approve(stack: LocalStack, channel: str, ts: str, user: str) -> None:
    await stack.driver.block_action("model_rollback_approve", message_ts=ts, channel_id=channel,
                                    user_id=user)
    await stack.slack.wait_until(lambda: stack.container.ack_first.pending == 0, 5)
    await stack.settle()


def _latest_with(stack: LocalStack, channel: str, action_id: str) -> str:
    for message in reversed(stack.slack.messages(channel)):
        for block in message.get("blocks") or []:
            if any(e.get("action_id") == action_id for e in block.get("elements") or []):
                return str(message["ts"])
    raise RuntimeError(f"no message with {action_id}")

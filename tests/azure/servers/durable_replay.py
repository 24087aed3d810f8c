"""A tiny stand-in for the Durable Functions host: replays an orchestrator with the real SDK.

The Functions host cannot run here, so this does its part of the protocol: it hands the
orchestrator's `handle` the growing history (OrchestratorStarted, ExecutionStarted,
TaskScheduled, TaskCompleted/TaskFailed, ...), runs each activity the orchestrator asks for
with the given Python callables, and repeats until the orchestration completes or fails — the
way the Durable extension replays it, one episode per batch of scheduled tasks.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

OUT_OF_PROC = "$OutOfProcData$:"
ORCHESTRATOR_STARTED, EXECUTION_STARTED, ORCHESTRATOR_COMPLETED = 12, 0, 13
TASK_SCHEDULED, TASK_COMPLETED, TASK_FAILED = 4, 5, 6


@dataclass
class Outcome:
    runtime_status: str  # Completed | Failed
    output: Any = None
    error: str | None = None
    custom_status: Any = None
    activity_calls: list[tuple[str, Any]] = field(default_factory=list)
    episodes: int = 0


def run(
    handle: Callable[[str], str],
    orchestration_input: Any,
    activities: Mapping[str, Callable[[Any], Any]],
    instance_id: str = "instance-0001",
) -> Outcome:
    history: list[dict[str, Any]] = [
        _event(ORCHESTRATOR_STARTED),
        _event(
            EXECUTION_STARTED,
            Name="orchestrator",
            Version="",
            Input=json.dumps(orchestration_input),
        ),
    ]
    outcome = Outcome("Running")
    scheduled = 0
    for outcome.episodes in range(1, 100):
        state = episode(handle, history, orchestration_input, instance_id, outcome)
        if state is None:
            return outcome
        actions = [a for group in state["actions"] for a in group][scheduled:]
        if not actions:
            raise AssertionError("the orchestrator is waiting but scheduled nothing new")
        history.append(_event(ORCHESTRATOR_COMPLETED))
        results = []
        for offset, action in enumerate(actions):
            task_id = scheduled + offset
            name, task_input = action["functionName"], json.loads(action["input"])
            history.append(_event(TASK_SCHEDULED, EventId=task_id, Name=name))
            outcome.activity_calls.append((name, task_input))
            results.append(_complete(task_id, activities[name], task_input))
        scheduled += len(actions)
        history += [_event(ORCHESTRATOR_STARTED), *results]
    raise AssertionError("the orchestration did not finish in 100 episodes")


def episode(
    handle: Callable[[str], str],
    history: list[dict[str, Any]],
    orchestration_input: Any,
    instance_id: str,
    outcome: Outcome,
) -> dict[str, Any] | None:
    """One replay of the orchestrator over `history`: its state (the actions it scheduled), or
    None once the orchestration ended, recorded in `outcome`."""
    body = json.dumps(
        {
            "history": history,
            "instanceId": instance_id,
            "isReplaying": False,
            "parentInstanceId": None,
            "input": json.dumps(orchestration_input),
            "upperSchemaVersion": 0,
        }
    )
    try:
        state = json.loads(handle(body))
    except Exception as exc:  # how the SDK reports an orchestrator that raised
        if OUT_OF_PROC not in str(exc):
            raise
        state = json.loads(str(exc).split(OUT_OF_PROC, 1)[1])
        outcome.runtime_status, outcome.error = "Failed", state.get("error")
        outcome.custom_status = state.get("customStatus")
        return None
    outcome.custom_status = state.get("customStatus")
    if state.get("isDone"):
        outcome.runtime_status, outcome.output = "Completed", state.get("output")
        return None
    return state


def _complete(task_id: int, activity: Callable[[Any], Any], task_input: Any) -> dict[str, Any]:
    try:
        result = activity(task_input)
    except Exception as exc:
        return _event(TASK_FAILED, TaskScheduledId=task_id, Reason=str(exc), Details="")
    return _event(TASK_COMPLETED, TaskScheduledId=task_id, Result=json.dumps(result))


def _event(event_type: int, EventId: int = -1, **fields: Any) -> dict[str, Any]:
    stamp = datetime.now(UTC).isoformat()
    return {
        "EventType": event_type,
        "EventId": EventId,
        "IsPlayed": False,
        "Timestamp": stamp,
        **fields,
    }

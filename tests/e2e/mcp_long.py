"""Long-running MCP calls against cordon, with the official MCP Python SDK (`mcp` 2.3.0).

Run as `<venv>/bin/python tests/e2e/mcp_long.py` with a JSON plan on stdin:
  {"url": "http://127.0.0.1:PORT/mcp", "api_key": "cordon_...", "mode": "auto" | "legacy"}
It prints one JSON report on stdout (logging goes to stderr):
  {"protocol_version", "extensions": {...},            # what the server advertised
   "declared": {"prompts", "resources", "tools": bool}, "listed": {"prompts", "resources"},
   "unknown_resource", "unknown_prompt": {"code", "message", "data"},
   "annotations": {tool: {readOnlyHint, openWorldHint}},
   "progress": {"result": ..., "seen": [[progress, total, message], ...]},
   "cancelled_after_s": float,                          # when the client gave up on a call
   "tasks": {...}}                                      # modern mode only (see run_tasks)

The SDK has no client helper for the tasks extension (`io.modelcontextprotocol/tasks`): the
extension is declared through its generic extension machinery, the task handle taken with a
result claim, and `tasks/get` / `tasks/update` / `tasks/cancel` sent as raw requests.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import time
from typing import Any, Literal

import anyio
import httpx2
import mcp_types as types
from mcp import Client
from mcp.client.extension import ClaimContext, ClientExtension, ResultClaim
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError
from pydantic import ConfigDict, TypeAdapter

TIMEOUT = 20.0
TASKS = "io.modelcontextprotocol/tasks"
RAW = TypeAdapter(dict[str, Any])


class CreateTaskResult(types.Result):
    """The task handle a `tools/call` may answer with (`resultType: "task"`)."""

    model_config = ConfigDict(extra="allow")
    result_type: Literal["task"] = "task"
    task_id: str
    status: str


async def _resolve(result: CreateTaskResult, ctx: ClaimContext) -> types.CallToolResult:
    raise RuntimeError("the tests read the task handle itself")


class TasksExtension(ClientExtension):
    identifier = TASKS

    def settings(self) -> dict[str, Any]:
        return {}

    def claims(self) -> list[ResultClaim]:
        return [ResultClaim(result_type="task", model=CreateTaskResult, resolve=_resolve)]


class RawRequest(types.Request[dict[str, Any] | None, str]):
    method: str
    params: dict[str, Any] | None = None


class TaskRequest(RawRequest):
    name_param = "taskId"  # the extension's routing header, Mcp-Name


def http_client(api_key: str) -> httpx2.AsyncClient:
    return create_mcp_http_client(
        headers={"Authorization": f"Bearer {api_key}"}, timeout=httpx2.Timeout(TIMEOUT)
    )


async def _no_elicitation(context: Any, params: Any) -> Any:
    # Declares the capability; a task's requests are read from tasks/get, never pushed.
    raise RuntimeError("the server pushed an elicitation instead of putting it in the task")


def client(
    plan: dict[str, Any], http: httpx2.AsyncClient, tasks: bool = False, elicitation: bool = False
) -> Client:
    extensions = [TasksExtension()] if tasks else []
    more: dict[str, Any] = {"elicitation_callback": _no_elicitation} if elicitation else {}
    return Client(
        streamable_http_client(plan["url"], http_client=http),
        mode=plan.get("mode", "auto"),
        read_timeout_seconds=TIMEOUT,
        cache=None,
        extensions=extensions,
        **more,
    )


def result_entry(result: types.CallToolResult) -> dict[str, Any]:
    return {
        "isError": result.is_error,
        "structuredContent": result.structured_content,
        "text": [b.text for b in result.content if b.type == "text"],
        "meta": result.meta,
    }


async def run_common(plan: dict[str, Any], http: httpx2.AsyncClient) -> dict[str, Any]:
    async with client(plan, http) as c:
        tools = (await c.list_tools()).tools
        annotations = {
            t.name: (t.annotations.model_dump(by_alias=True, exclude_none=True) if t.annotations else None)
            for t in tools
        }
        seen: list[list[Any]] = []

        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            seen.append([progress, total, message])

        result = await c.call_tool(
            "steps", {"steps": 5, "step_ms": 120}, progress_callback=on_progress
        )
        await anyio.sleep(0.2)  # progress callbacks run as spawned tasks
        # A call given up after a second: the SDK cancels it (legacy: notifications/cancelled;
        # 2026-07-28: it closes the request's connection).
        started = time.monotonic()
        with anyio.move_on_after(1.0):
            await c.call_tool("steps", {"steps": 50, "step_ms": 100, "message": "cancel me"})
        cancelled_after = time.monotonic() - started
        await anyio.sleep(1.0)  # the cancellation reaches the wire before the client closes
        caps = c.server_capabilities
        # What the server declares it answers, and an unknown prompt and resource.
        declared = {
            name: getattr(caps, name, None) is not None for name in ("prompts", "resources", "tools")
        }
        listed = {
            "prompts": [p.name for p in (await c.list_prompts()).prompts],
            "resources": [r.uri for r in (await c.list_resources()).resources],
        }
        unknown_resource = await error_of(c.read_resource("test://nonexistent-resource"))
        unknown_prompt = await error_of(c.get_prompt("no-such-prompt"))
        return {
            "protocol_version": c.protocol_version,
            "declared": declared,
            "listed": listed,
            "unknown_resource": unknown_resource,
            "unknown_prompt": unknown_prompt,
            "extensions": (caps.extensions or {}) if caps is not None else None,
            "annotations": annotations,
            "progress": {"result": result_entry(result), "seen": seen},
            "cancelled_after_s": cancelled_after,
        }


async def error_of(request: Any) -> dict[str, Any]:
    """The JSON-RPC error an awaited request ends with (or what it answered instead)."""
    try:
        return {"answered": str(await request)}
    except MCPError as e:
        return {"code": e.code, "message": e.message, "data": e.data}


async def raw(session: Any, method: str, task_id: str, more: dict[str, Any] | None = None) -> dict[str, Any]:
    try:
        params = {"taskId": task_id, **(more or {})}
        return {"ok": await session.send_request(TaskRequest(method=method, params=params), RAW)}
    except MCPError as e:
        return {"error": {"code": e.code, "message": e.message}}


async def run_tasks(plan: dict[str, Any], http: httpx2.AsyncClient) -> dict[str, Any]:
    """A long call becomes a task, polled to its result; another is cancelled; a quick call is
    answered directly; an unknown task is an error; without the extension a long call is
    answered directly."""
    out: dict[str, Any] = {}
    async with client(plan, http, tasks=True) as c:
        s = c.session
        handle = await s.call_tool("steps", {"steps": 15, "step_ms": 150}, allow_claimed=True)
        assert isinstance(handle, CreateTaskResult), handle
        out["handle"] = {"taskId": handle.task_id, "status": handle.status, **(handle.model_extra or {})}
        polls = []
        for _ in range(200):
            got = await raw(s, "tasks/get", handle.task_id)
            polls.append(got)
            if "error" in got or got["ok"].get("status") != "working":
                break
            await anyio.sleep(0.2)
        out["polls"] = polls
        # tasks/update: acknowledged (nothing is outstanding), as the extension defines it and
        # without its inputResponses; an unknown task is "not found".
        out["update"] = await raw(s, "tasks/update", handle.task_id, {"inputResponses": {}})
        out["update_bare"] = await raw(s, "tasks/update", handle.task_id)
        out["update_unknown"] = await raw(
            s, "tasks/update", "ex_000000000000000000000000", {"inputResponses": {}}
        )
        # Cancelled through tasks/cancel.
        other = await s.call_tool("steps", {"steps": 50, "step_ms": 100}, allow_claimed=True)
        assert isinstance(other, CreateTaskResult), other
        await anyio.sleep(0.5)
        out["cancel_ack"] = await raw(s, "tasks/cancel", other.task_id)
        after = {}
        for _ in range(100):
            after = await raw(s, "tasks/get", other.task_id)
            if "error" in after or after["ok"].get("status") != "working":
                break
            await anyio.sleep(0.1)
        out["cancelled"] = after
        out["cancelled_task_id"] = other.task_id
        # Quick: answered directly.
        quick = await s.call_tool("steps", {"steps": 1, "step_ms": 1}, allow_claimed=True)
        out["quick"] = (
            result_entry(quick) if isinstance(quick, types.CallToolResult) else {"task": True}
        )
        out["unknown"] = await raw(s, "tasks/get", "ex_000000000000000000000000")
        out["task_id"] = handle.task_id
    async with client(plan, http) as c:
        long = await c.call_tool("steps", {"steps": 10, "step_ms": 150})
        out["without_extension"] = result_entry(long)
    return out


async def poll(s: Any, task_id: str, until: set[str]) -> dict[str, Any]:
    """tasks/get until the task's status is one of `until` (or an error)."""
    got: dict[str, Any] = {}
    for _ in range(150):
        got = await raw(s, "tasks/get", task_id)
        if "error" in got or got["ok"].get("status") in until:
            break
        await anyio.sleep(0.1)
    return got


def accept(keys: list[str], content: dict[str, Any]) -> dict[str, Any]:
    return {"inputResponses": {k: {"action": "accept", "content": content} for k in keys}}


async def run_task_input(plan: dict[str, Any], http: httpx2.AsyncClient) -> dict[str, Any]:
    """Tasks that ask for input (the conformance toolbox's confirm_delete and multi_input),
    answered through tasks/update, one request at a time or after a cancel; a tool that
    crashes in a task; a tool that needs tasks, for a client that takes none."""
    out: dict[str, Any] = {}
    ended = {"completed", "failed", "cancelled"}
    async with client(plan, http, tasks=True, elicitation=True) as c:
        s = c.session
        handle = await s.call_tool("confirm_delete", {"filename": "report.txt"}, allow_claimed=True)
        assert isinstance(handle, CreateTaskResult), handle
        task = handle.task_id
        out["confirm_task"] = task
        out["waiting"] = await poll(s, task, {"input_required"} | ended)
        keys = list(out["waiting"].get("ok", {}).get("inputRequests", {}))
        # An answer to nothing asked changes nothing.
        out["stray_ack"] = await raw(s, "tasks/update", task, accept(["nope"], {"confirm": True}))
        out["after_stray"] = await raw(s, "tasks/get", task)
        out["answer_ack"] = await raw(s, "tasks/update", task, accept(keys, {"confirm": True}))
        out["done"] = await poll(s, task, ended)
        # Two questions, answered one at a time.
        two = await s.call_tool("multi_input", {}, allow_claimed=True)
        assert isinstance(two, CreateTaskResult), two
        out["multi_waiting"] = await poll(s, two.task_id, {"input_required"} | ended)
        out["multi_partial_ack"] = await raw(
            s, "tasks/update", two.task_id, accept(["name"], {"name": "Ada"})
        )
        out["multi_partial"] = await raw(s, "tasks/get", two.task_id)
        await raw(s, "tasks/update", two.task_id, accept(["confirm"], {"confirm": True}))
        out["multi_done"] = await poll(s, two.task_id, ended)
        # Cancelled while it waits: a later answer runs nothing.
        kept = await s.call_tool("confirm_delete", {"filename": "keep.txt"}, allow_claimed=True)
        assert isinstance(kept, CreateTaskResult), kept
        await poll(s, kept.task_id, {"input_required"} | ended)
        out["cancel_ack"] = await raw(s, "tasks/cancel", kept.task_id)
        out["cancelled"] = await raw(s, "tasks/get", kept.task_id)
        await raw(s, "tasks/update", kept.task_id, accept(["confirm"], {"confirm": True}))
        await anyio.sleep(0.5)
        out["after_late_answer"] = await raw(s, "tasks/get", kept.task_id)
        # A tool that crashes: a failed task with a JSON-RPC error, not a result.
        crash = await s.call_tool("protocol_error_job", {}, allow_claimed=True)
        assert isinstance(crash, CreateTaskResult), crash
        out["crashed"] = await poll(s, crash.task_id, ended)
    # A task's tool asking what the client did not declare: the round ends, the task says why.
    async with client(plan, http, tasks=True) as c:
        s = c.session
        mute = await s.call_tool("confirm_delete", {"filename": "x.txt"}, allow_claimed=True)
        assert isinstance(mute, CreateTaskResult), mute
        out["undeclared"] = await poll(s, mute.task_id, {"input_required"} | ended)
    async with client(plan, http) as c:
        out["required_without_tasks"] = await error_of(c.call_tool("failing_job", {}))
        greeting = await c.call_tool("greet", {"name": "Ada"})
        out["greet"] = result_entry(greeting)
        listed = {t.name: t for t in (await c.list_tools()).tools}
        out["listed"] = {
            name: listed[name].model_dump(by_alias=True, exclude_none=True, mode="json")
            for name in ("confirm_delete", "greet")
        }
    return out


async def main() -> None:
    plan = json.load(sys.stdin)
    async with http_client(plan["api_key"]) as http:
        if plan.get("task_input"):
            report = {"task_input": await run_task_input(plan, http)}
        else:
            report = await run_common(plan, http)
        if plan.get("tasks"):
            report["tasks"] = await run_tasks(plan, http)
    sys.stdout.write(json.dumps(report) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    logging.basicConfig(stream=sys.stderr, level=os.environ.get("MCP_CLIENT_LOG", "WARNING"))
    asyncio.run(main())

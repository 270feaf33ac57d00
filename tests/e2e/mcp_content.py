"""Contract 0.2.0 over MCP, with the official MCP Python SDK (`mcp` 2.3.0): what an agent
receives from a cordon toolbox (images, audio, embedded resources, tool errors) and the log
messages of a call that asked for them.

Run as `<venv>/bin/python tests/e2e/mcp_content.py` with a JSON plan on stdin:
  {"url": "http://127.0.0.1:PORT/mcp", "api_key": "cordon_...", "mode": "auto" | "legacy"}
It prints one JSON report on stdout (logging goes to stderr):
  {"protocol_version", "tools": [names], "calls": {tool: {"isError", "content": [blocks as
   JSON], "structuredContent", "meta"}}, "logs": [{"level", "logger", "data"}], "quiet_logs": n}
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from typing import Any

import httpx2
import mcp_types as types
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp.shared._httpx_utils import create_mcp_http_client

TIMEOUT = 20.0
CALLS = [
    "test_image_content",
    "test_audio_content",
    "test_embedded_resource",
    "test_multiple_content_types",
    "test_error_handling",
]


def connect(plan: dict[str, Any], http: httpx2.AsyncClient, **options: Any) -> Client:
    return Client(
        streamable_http_client(plan["url"], http_client=http),
        mode=plan.get("mode", "auto"),
        read_timeout_seconds=TIMEOUT,
        cache=None,
        **options,
    )


def entry(result: types.CallToolResult) -> dict[str, Any]:
    return {
        "isError": result.is_error,
        "content": [b.model_dump(mode="json", by_alias=True, exclude_none=True) for b in result.content],
        "structuredContent": result.structured_content,
        "meta": result.meta,
    }


def answering(asked: list[str], name: str, color: str, model: str, root: str) -> dict[str, Any]:
    """Callbacks that answer every question (noting each in `asked`): a name, a color, what
    the model says, one root."""

    async def on_elicit(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        asked.append(params.message)
        if "color" in params.message:
            return types.ElicitResult(action="accept", content={"color": color})
        return types.ElicitResult(action="accept", content={"name": name})

    async def on_sample(context: Any, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
        asked.append("sampling")
        return types.CreateMessageResult(
            role="assistant",
            content=types.TextContent(type="text", text=model),
            model="test-model",
            stop_reason="endTurn",
        )

    async def on_roots(context: Any) -> types.ListRootsResult:
        asked.append("roots")
        return types.ListRootsResult(roots=[types.Root(uri=root, name=root.rsplit("/", 1)[-1])])

    return {
        "elicitation_callback": on_elicit,
        "sampling_callback": on_sample,
        "list_roots_callback": on_roots,
    }


async def legacy(plan: dict[str, Any], http: httpx2.AsyncClient) -> dict[str, Any]:
    """A client of 2025-11-25 that declares elicitation, sampling and roots: cordon asks it on
    the call's stream and runs the tool again with its answers; its logging/setLevel holds for
    its session. One that declares nothing gets a tool error instead."""
    report: dict[str, Any] = {"calls": {}}
    asked: list[str] = []
    seen: list[dict[str, Any]] = []

    async def on_log(params: types.LoggingMessageNotificationParams) -> None:
        seen.append({"level": params.level, "data": params.data})

    async with connect(
        plan,
        http,
        **answering(asked, name="Lee", color="blue", model="Rome", root="file:///legacy"),
        logging_callback=on_log,
    ) as c:
        report["protocol_version"] = str(c.protocol_version)
        # Older revisions: the session's level, set once.
        await c.set_logging_level("info")
        for name in [
            "test_input_required_result_elicitation",
            "test_input_required_result_multi_round",
            "test_input_required_result_sampling",
            "test_input_required_result_list_roots",
            "test_logging_tool",
        ]:
            report["calls"][name] = entry(await c.call_tool(name, {}))
        await asyncio.sleep(0.3)  # notification callbacks run as spawned tasks
    report["asked"] = asked
    report["logs"] = seen
    async with connect(plan, http) as c:
        report["calls"]["unasked"] = entry(
            await c.call_tool("test_input_required_result_elicitation", {})
        )
    return report


async def main() -> None:
    plan = json.load(sys.stdin)
    report: dict[str, Any] = {"calls": {}}
    headers = {"Authorization": f"Bearer {plan['api_key']}"}
    if plan.get("mode") == "legacy":
        async with create_mcp_http_client(headers=headers, timeout=httpx2.Timeout(TIMEOUT)) as http:
            report = await legacy(plan, http)
        sys.stdout.write(json.dumps(report) + "\n")
        sys.stdout.flush()
        return
    async with create_mcp_http_client(headers=headers, timeout=httpx2.Timeout(TIMEOUT)) as http:
        seen: list[dict[str, Any]] = []

        async def on_log(params: types.LoggingMessageNotificationParams) -> None:
            seen.append({"level": params.level, "logger": params.logger, "data": params.data})

        async with connect(plan, http, logging_callback=on_log, log_level="info") as c:
            report["protocol_version"] = str(c.session.protocol_version) if hasattr(c, "session") else None
            listed = await c.list_tools()
            report["tools"] = sorted(t.name for t in listed.tools)
            for name in CALLS:
                report["calls"][name] = entry(await c.call_tool(name, {}))
            await c.call_tool("test_logging_tool", {})
            await asyncio.sleep(0.3)  # notification callbacks run as spawned tasks
        report["logs"] = seen
        # A client that did not opt in gets no log messages.
        quiet: list[Any] = []

        async def on_quiet(params: types.LoggingMessageNotificationParams) -> None:
            quiet.append(params.data)

        async with connect(plan, http, logging_callback=on_quiet) as c:
            await c.call_tool("test_logging_tool", {})
        report["quiet_logs"] = len(quiet)

        # Asking (SEP-2322): the SDK answers each InputRequiredResult with these callbacks and
        # calls again with the answers and the sealed requestState, round after round.
        asked: list[str] = []
        async with connect(
            plan,
            http,
            **answering(asked, name="Alice", color="green", model="Paris", root="file:///work"),
        ) as c:
            for name in [
                "test_input_required_result_elicitation",
                "test_input_required_result_multi_round",
                "test_input_required_result_multiple_inputs",
                "test_input_required_result_sampling",
            ]:
                report["calls"][name] = entry(await c.call_tool(name, {}))
        report["asked"] = asked
        # A client that declared nothing to answer with: the question is a -32021 error
        # naming the capability it needs.
        async with connect(plan, http) as c:
            try:
                await c.call_tool("test_input_required_result_elicitation", {})
                report["unanswerable"] = {"code": None}
            except MCPError as e:
                report["unanswerable"] = {"code": e.error.code, "data": e.error.data}
    sys.stdout.write(json.dumps(report) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    logging.basicConfig(stream=sys.stderr, level=os.environ.get("MCP_CLIENT_LOG", "WARNING"))
    asyncio.run(main())

"""MCP test client for cordon's end-to-end tests, built on the official MCP Python SDK (`mcp` 2.3.0).

Run as `<venv>/bin/python tests/e2e/mcp_client.py` with a JSON plan on stdin; it prints exactly one
JSON report on stdout (all logging goes to stderr). Exit code 0 whenever a report was produced,
even if calls failed: errors are data. Non-zero only on a bug or crash (e.g. cannot connect).

Plan:
  {"transport": "http" | "stdio",
   "url": "http://127.0.0.1:PORT/mcp",            # http: the MCP endpoint
   "command": ["/path/cordon", "mcp", "--stdio", "--server", "http://127.0.0.1:PORT"],  # stdio
   "api_key": "cordon_...",       # http: `Authorization: Bearer <key>`; stdio: env CORDON_API_KEY
   "calls": [{"name": "echo", "arguments": {"message": "hi"}}, ...],
   "probe_unauthenticated": true, # http only, optional
   "ca_file": "/path/ca.pem",     # http, optional: trust this CA (an https:// url)
   "mode": "auto"}                # optional SDK connect mode: "auto" (default: server/discover,
                                  # falling back to initialize) or "legacy" (initialize only)

Report:
  {"protocol_version": "<negotiated version>", "server_name": "<serverInfo.name or null>",
   "tools": [{"name", "description", "inputSchema", "outputSchema"}, ...],   # server order, all pages
   "calls": [{"name", "ok": true, "isError", "structuredContent", "text": [...], "meta": {...}}
             | {"name", "ok": false, "error": {"code": <int or null>, "message"}}, ...],
   "unauthenticated": {"status", "www_authenticate", "sdk_error"}}           # only when probed

`error.code` is the JSON-RPC error code (e.g. -32602 for an unknown tool); it is null when the
SDK rejected the result client-side (e.g. structured content not matching the output schema).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from typing import Any

import httpx2  # the HTTP client mcp 2.3.0 is built on (the httpx fork it depends on)
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError
from mcp_types.version import LATEST_HANDSHAKE_VERSION
from pydantic import ValidationError

TIMEOUT = 10.0  # seconds, for every HTTP request and every MCP request
SDK_CONNECT_DEADLINE = 15.0  # the unauthenticated SDK attempt must not hang
MAX_PAGES = 100  # a tools/list cursor chain longer than this is a server bug

log = logging.getLogger("mcp_client")


def http_client(api_key: str | None, ca_file: str | None = None) -> httpx2.AsyncClient:
    """The SDK's HTTP client factory, with our timeout and (optionally) the bearer key; with
    `ca_file`, a client that trusts that CA (an https:// server with a test certificate)."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else None
    if ca_file:
        import ssl

        return httpx2.AsyncClient(
            headers=headers,
            timeout=httpx2.Timeout(TIMEOUT),
            verify=ssl.create_default_context(cafile=ca_file),
        )
    return create_mcp_http_client(headers=headers, timeout=httpx2.Timeout(TIMEOUT))


def describe(exc: BaseException) -> str:
    """`Type: message`, looking through (single-member) exception groups from task groups."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def tool_entry(tool: Any) -> dict[str, Any]:
    return {
        "name": tool.name,
        "description": tool.description,
        "inputSchema": tool.input_schema,
        "outputSchema": tool.output_schema,
    }


async def call_entry(client: Client, call: dict[str, Any]) -> dict[str, Any]:
    name = call["name"]
    try:
        result = await client.call_tool(name, call.get("arguments"))
    except MCPError as e:  # a JSON-RPC error response (or a transport failure mapped to one)
        return {"name": name, "ok": False, "error": {"code": e.code, "message": e.message}}
    except (RuntimeError, ValidationError) as e:  # the SDK rejected the result client-side
        return {"name": name, "ok": False, "error": {"code": None, "message": describe(e)}}
    return {
        "name": name,
        "ok": True,
        "isError": result.is_error,
        "structuredContent": result.structured_content,
        "text": [block.text for block in result.content if block.type == "text"],
        "meta": result.meta,
    }


async def session_report(client: Client, plan: dict[str, Any]) -> dict[str, Any]:
    """List every tool (following cursors) and make the plan's calls, in order."""
    tools: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(MAX_PAGES):
        page = await client.list_tools(cursor=cursor)
        tools.extend(tool_entry(t) for t in page.tools)
        cursor = page.next_cursor
        if cursor is None:
            break
    else:
        raise RuntimeError(f"tools/list still paginating after {MAX_PAGES} pages")
    info = client.server_info
    return {
        "protocol_version": client.protocol_version,
        "server_name": info.name if info is not None else None,
        "tools": tools,
        "calls": [await call_entry(client, c) for c in plan.get("calls", [])],
    }


def make_client(server: Any, mode: str) -> Client:
    # cache=None: every list_tools really goes to the server.
    return Client(server, mode=mode, read_timeout_seconds=TIMEOUT, cache=None)


async def run_http(plan: dict[str, Any], mode: str) -> dict[str, Any]:
    async with http_client(plan["api_key"], plan.get("ca_file")) as http:
        async with make_client(streamable_http_client(plan["url"], http_client=http), mode) as client:
            return await session_report(client, plan)


async def run_stdio(plan: dict[str, Any], mode: str) -> dict[str, Any]:
    command = plan["command"]
    # The SDK passes only a safe subset of the environment unless told: give the child all of ours.
    env = {**os.environ, "CORDON_API_KEY": plan["api_key"]}
    params = StdioServerParameters(command=command[0], args=command[1:], env=env)
    async with make_client(params, mode) as client:
        return await session_report(client, plan)


async def probe_unauthenticated(url: str, mode: str) -> dict[str, Any]:
    """A raw initialize POST without credentials, then the SDK's own attempt to connect."""
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": LATEST_HANDSHAKE_VERSION,
            "capabilities": {},
            "clientInfo": {"name": "cordon-e2e-probe", "version": "0"},
        },
    }
    headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    async with httpx2.AsyncClient(timeout=TIMEOUT) as raw:
        response = await raw.post(url, content=json.dumps(body), headers=headers)

    async def sdk_connect() -> None:
        async with http_client(None) as http:
            async with make_client(streamable_http_client(url, http_client=http), mode):
                pass

    sdk_error: str | None = None
    try:
        await asyncio.wait_for(sdk_connect(), SDK_CONNECT_DEADLINE)
    except Exception as e:  # noqa: BLE001 - whatever it raised is the finding
        sdk_error = describe(e)
    return {
        "status": response.status_code,
        "www_authenticate": response.headers.get("www-authenticate"),
        "sdk_error": sdk_error,
    }


async def main() -> None:
    plan = json.load(sys.stdin)
    mode = plan.get("mode", "auto")
    transport = plan["transport"]
    if transport == "http":
        report = await run_http(plan, mode)
        if plan.get("probe_unauthenticated"):
            report["unauthenticated"] = await probe_unauthenticated(plan["url"], mode)
    elif transport == "stdio":
        report = await run_stdio(plan, mode)
    else:
        raise ValueError(f"unknown transport {transport!r}")
    sys.stdout.write(json.dumps(report) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    logging.basicConfig(stream=sys.stderr, level=os.environ.get("MCP_CLIENT_LOG", "WARNING"))
    asyncio.run(main())

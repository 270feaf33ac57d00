//! The input document of one decision, built from the request: who calls (`Caller`), which tool
//! (its record and the policy it runs under), the arguments, and where and when
//! (`cordon_decide::document`, whose schema `cordon decisions schema` prints).

use crate::callers::caller::{Caller, Via};
use crate::calls::live::LiveTool;
use cordon_core::{Policy, ToolInfo};
use cordon_decide::document::{self as doc, Document, Request};

/// The caller as decisions see it. A token caller's claims are given whole: they were signed by
/// its issuer, and a rule over a department or a tenant needs them.
pub fn caller(caller: &Caller) -> doc::Caller {
    let (issuer, subject, claims, certificate) = match &caller.via {
        Via::Key => (None, None, None, None),
        Via::Token {
            issuer,
            subject,
            claims,
            ..
        } => (
            Some(issuer.clone()),
            Some(subject.clone()),
            Some((**claims).clone()),
            None,
        ),
        Via::Certificate {
            fingerprint,
            subject,
            dns,
            uris,
            ..
        } => (
            None,
            Some(subject.clone()),
            None,
            Some(doc::Certificate {
                fingerprint: fingerprint.clone(),
                dns: dns.clone(),
                uris: uris.clone(),
            }),
        ),
    };
    doc::Caller {
        id: caller.id.clone(),
        name: caller.name.clone(),
        kind: caller.via_name(),
        roles: caller.roles.iter().map(|r| r.as_str().to_owned()).collect(),
        issuer,
        subject,
        claims,
        certificate,
    }
}

/// The tool as decisions see it: its record and what its policy opens (the hosts it may reach,
/// the mounts it sees), and whether it can change anything outside its sandbox.
pub fn tool(tool: &LiveTool) -> doc::Tool {
    let r = &tool.record;
    tool_under(
        (&r.name, &r.version, &r.publisher, &r.digest),
        r.source.clone(),
        &tool.policy,
        &tool.info,
    )
}

/// What a tool says of itself, as decisions see it (MCP's annotation names); none when it says
/// nothing.
fn annotations(info: &ToolInfo) -> Option<doc::Annotations> {
    let hints = info.hints.unwrap_or_default();
    let a = doc::Annotations {
        title: info.title.clone(),
        read_only_hint: hints.read_only,
        destructive_hint: hints.destructive,
        idempotent_hint: hints.idempotent,
        open_world_hint: hints.open_world,
    };
    let any = a.title.is_some()
        || [
            a.read_only_hint,
            a.destructive_hint,
            a.idempotent_hint,
            a.open_world_hint,
        ]
        .iter()
        .any(Option::is_some);
    any.then_some(a)
}

/// The tool named `name, version, publisher, digest` as it is (or would be) under `policy`: a
/// version being published, or a tool whose policy is being changed. `info` is what it says
/// of itself.
pub fn tool_under(
    (name, version, publisher, digest): (&str, &str, &str, &str),
    source: Option<String>,
    policy: &Policy,
    info: &ToolInfo,
) -> doc::Tool {
    doc::Tool {
        name: name.to_owned(),
        version: version.to_owned(),
        publisher: publisher.to_owned(),
        digest: digest.to_owned(),
        read_only: !crate::calls::live::acts_outside(policy),
        open_world: !policy.network.allow.is_empty(),
        hosts: policy.network.allow.iter().map(|h| h.to_string()).collect(),
        mounts: policy
            .mounts
            .iter()
            .map(|m| doc::Mount {
                path: m.guest.clone(),
                writable: m.writable,
            })
            .collect(),
        source,
        annotations: annotations(info),
    }
}

/// `rest` or `mcp`, from the transport a record names.
pub fn protocol(transport: &str) -> &'static str {
    if transport == "mcp" { "mcp" } else { "rest" }
}

/// Where and when: the caller's address (`client_ip.rs`; `unknown` when the request did not
/// come over the network) and the time now.
pub fn request(caller: &Caller, transport: &str, mcp_method: Option<&str>) -> Request {
    let address = caller
        .address
        .map_or_else(|| "unknown".to_owned(), |a| a.to_string());
    let mut request = Request::at(crate::clock::now_ms(), address, protocol(transport));
    if request.protocol == "mcp" {
        request.mcp_method = mcp_method.map(str::to_owned);
    }
    request
}

/// The document of a call of `tool` with `body` (its input as sent).
pub fn invoke(caller_: &Caller, tool_: &LiveTool, body: &[u8], transport: &str) -> Document {
    Document {
        action: "invoke",
        caller: caller(caller_),
        tool: Some(tool(tool_)),
        // Not JSON: the input check refuses it after; the decision sees `null`.
        arguments: Some(serde_json::from_slice(body).unwrap_or(serde_json::Value::Null)),
        request: request(caller_, transport, Some("tools/call")),
    }
}

/// The document asking whether `tool_` is shown to `caller_` in a listing.
pub fn list(caller_: &Caller, tool_: &LiveTool, transport: &str) -> Document {
    Document {
        action: "list",
        caller: caller(caller_),
        tool: Some(tool(tool_)),
        arguments: None,
        request: request(caller_, transport, Some("tools/list")),
    }
}

/// The document of an operator's change (`publish`, `policy_change`, `key_change`): the tool it
/// concerns, if one, as it would be after the change, and what is asked (`arguments`).
pub fn change(
    action: &'static str,
    caller_: &Caller,
    tool_: Option<doc::Tool>,
    arguments: serde_json::Value,
) -> Document {
    Document {
        action,
        caller: caller(caller_),
        tool: tool_,
        arguments: Some(arguments),
        request: request(caller_, "rest", None),
    }
}

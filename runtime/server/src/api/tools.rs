//! `/v1/tools`: publish, list, show, delete, quarantine and release tools.
//!
//! Publishing takes the signed component as the raw request body (`application/wasm`). Its
//! policy is the server's `<policies dir>/<name>.toml` at publish time (the closed default when
//! there is none), where `name` is the name the signature carries. The signature is checked
//! before anything else, and the compile runs on a blocking thread, never on the async workers.

use crate::callers::caller::Caller;
use crate::clock::{now_ms, sha256_hex};
use crate::error::{ApiError, ErrorBody};
use crate::registry::oci_pull::PublishFrom;
use crate::state::AppState;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use cordon_core::Action;
use cordon_storage::ToolRecord;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// A tool version as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ToolView {
    pub name: String,
    pub version: String,
    pub digest: String,
    pub publisher: String,
    pub signer: String,
    pub description: String,
    /// JSON Schema of the input, from the tool's `describe()`.
    pub input_schema: serde_json::Value,
    /// JSON Schema of the output, when the tool declares one.
    pub output_schema: Option<serde_json::Value>,
    pub policy_hash: String,
    /// True when the tool runs under the closed default policy (the server had no policy file
    /// for it): no files, no network, no environment, default limits.
    pub default_policy: bool,
    pub published_at_ms: i64,
    /// Where the component was pulled from, when it was not uploaded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<ToolSource>,
    /// Present when the tool is quarantined: why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quarantined: Option<String>,
    /// What the review at publish found (docs/detection.md): imports its policy does not
    /// grant, and (published with `--publish-review warn`) hidden instructions or characters in
    /// what it says of itself. Absent when nothing was found.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub review: Vec<cordon_core::Finding>,
}

impl ToolView {
    fn of(r: &ToolRecord, quarantined: Option<String>) -> Self {
        ToolView {
            name: r.name.clone(),
            version: r.version.clone(),
            digest: r.digest.clone(),
            publisher: r.publisher.clone(),
            signer: r.signer.clone(),
            description: r.description.clone(),
            input_schema: r.input_schema.clone(),
            output_schema: r.output_schema.clone(),
            policy_hash: r.policy_hash.clone(),
            default_policy: r.policy.trim().is_empty(),
            published_at_ms: r.published_at_ms,
            source: r.source.as_deref().map(ToolSource::of),
            quarantined,
            review: r.review.clone(),
        }
    }
}

/// The registry artifact a tool version was published from.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ToolSource {
    /// The reference, pinned by the manifest digest the tag resolved to at publish:
    /// `oci://HOST/REPOSITORY:TAG@sha256:...`. The tool never follows the tag afterwards.
    pub oci: String,
    /// The manifest digest (`sha256:...`) of the artifact the component came from.
    pub manifest_digest: String,
}

impl ToolSource {
    fn of(stored: &str) -> Self {
        ToolSource {
            oci: stored.to_owned(),
            manifest_digest: stored
                .rsplit_once('@')
                .map(|(_, d)| d.to_owned())
                .unwrap_or_default(),
        }
    }
}

/// A tool in the list: its newest version, and every version published.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ToolSummary {
    #[serde(flatten)]
    pub newest: ToolView,
    /// Oldest first.
    pub versions: Vec<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ToolList {
    pub tools: Vec<ToolSummary>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ToolVersions {
    pub name: String,
    /// Newest first.
    pub versions: Vec<ToolView>,
}

/// Tool names are usable as MCP tool names: `[A-Za-z0-9_.-]`, 1 to 128 characters; and as a
/// path segment: not made of dots only (`.` and `..` are collapsed by every HTTP client, so
/// `/v1/tools/../quarantine` could never reach such a tool).
pub fn valid_name(name: &str) -> bool {
    (1..=128).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
        && !name.bytes().all(|b| b == b'.')
}

#[cfg(test)]
mod name_tests {
    use super::valid_name;

    #[test]
    fn names_are_mcp_names_and_path_segments() {
        for ok in [
            "echo",
            "word-count",
            "a.b_c-1",
            ".hidden",
            "v1..2",
            &"x".repeat(128),
        ] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in ["", ".", "..", "...", "a b", "a/b", "é", &"x".repeat(129)] {
            assert!(!valid_name(bad), "{bad}");
        }
    }
}

/// Publishes a signed component: uploaded as the body (`application/wasm`), or pulled from an
/// OCI registry (`application/json`, `{"oci": "oci://HOST/REPO:TAG"}`, the tag resolved once,
/// now). Either way the signature is verified before anything is compiled; the policy is the
/// server's `<policies>/<name>.toml` (the closed default when there is none).
#[utoipa::path(
    post,
    path = "/v1/tools",
    tag = "tools",
    request_body(
        description = "the signed component, or where to pull it from",
        content(
            (Vec<u8> = "application/wasm"),
            (PublishFrom = "application/json"),
        )
    ),
    responses(
        (status = 201, description = "published: the component's first tool, and the names of all it carries", body = Published),
        (status = 401, description = "missing or unknown API key", body = ErrorBody),
        (status = 403, description = "not a publisher; or the operator's decisions refuse it (`denied_by_policy`, with the reasons); or the signature is missing, malformed, bad, revoked, unknown or from a publisher not allowed; or the registry is at an address pulls may not reach", body = ErrorBody),
        (status = 409, description = "this name and version are already published", body = ErrorBody),
        (status = 413, description = "over the upload limit (max_upload_bytes, for pulls too)", body = ErrorBody),
        (status = 422, description = "not a valid tool component, or its describe() failed or disagrees with the signature; or what it says of itself carries instructions or hidden characters (`tool_poisoned`, unless the server runs with --publish-review warn); or not an OCI reference, not in the registry, not a component artifact", body = ErrorBody),
        (status = 502, description = "the registry refused the server's credentials, failed, or served content that does not match its digest", body = ErrorBody),
        (status = 504, description = "the registry did not answer in time", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn publish(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<Published>), ApiError> {
    caller.require(Action::Publish)?;
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !json {
        return admit(&state, &caller, body, None).await;
    }
    let from: PublishFrom = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
            format!("expected {{\"oci\": \"oci://HOST/REPOSITORY:TAG\"}}: {e}"),
        )
    })?;
    let pulled = crate::registry::oci_pull::pull(
        &state.settings.registries,
        state.secrets.as_ref(),
        state.settings.max_upload_bytes as u64,
        &from.oci,
    )
    .await?;
    admit(
        &state,
        &caller,
        Bytes::from(pulled.component),
        Some(pulled.source),
    )
    .await
}

/// The one way a component becomes a published tool, whichever way it arrived: signature,
/// name, policy, compile and describe (on a blocking thread), then the blob, the record with
/// its one event, and the live registry. `source` is where it was pulled from, if it was.
async fn admit(
    state: &Arc<AppState>,
    caller: &Caller,
    body: Bytes,
    source: Option<String>,
) -> Result<(StatusCode, Json<Published>), ApiError> {
    // The name decides the policy; read it from the signature section without compiling.
    let section = cordon_trust::find_signature(&body)
        .map_err(|e| ApiError::new(StatusCode::FORBIDDEN, "malformed_signature", e))?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::FORBIDDEN,
                "unsigned",
                "the component is not signed (no cordon-signature section)",
            )
        })?;
    let name = section.statement.name.clone();
    if !valid_name(&name) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_name",
            "tool names are 1-128 characters of [A-Za-z0-9_.-], not dots only",
        ));
    }
    let (policy_text, policy_path) = state.policy_text(&name)?;
    let admitting = state.clone();
    let bytes = body.clone();
    // The record stores exactly the policy text the tool was admitted under.
    let admitted_policy = policy_text.clone();
    let runtime = tokio::runtime::Handle::current();
    let (admitted, policy, limits) = tokio::task::spawn_blocking(move || {
        runtime.block_on(admitting.admit(&bytes, &policy_text, &policy_path))
    })
    .await
    .map_err(ApiError::internal)??;
    let verified = admitted
        .verified
        .clone()
        .ok_or_else(|| ApiError::internal("admitted without a signature"))?;
    // A component may carry several tools (contract 0.2.0): each is published as a version of
    // its own name, under the component's policy, with its own record and event.
    for info in &admitted.toolbox.tools {
        if !valid_name(&info.name) {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_name",
                format!(
                    "tool name {:?}: tool names are 1-128 characters of [A-Za-z0-9_.-], not dots only",
                    info.name
                ),
            ));
        }
        if state.find(&info.name, Some(&info.version)).is_some() {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "already_published",
                format!("{} {} is already published", info.name, info.version),
            ));
        }
    }
    // The operator's decisions, if any, over each tool as it would be published.
    let component_sha256 = sha256_hex(&body);
    for info in &admitted.toolbox.tools {
        let tool = crate::decisions::document::tool_under(
            (
                &info.name,
                &info.version,
                &verified.publisher,
                admitted.tool.digest(),
            ),
            source.clone(),
            &policy,
            info,
        );
        let change = crate::decisions::changes::Change {
            action: "publish",
            what: format!("publishing {} {}", info.name, info.version),
            tool: Some(tool),
            arguments: serde_json::json!({
                "signer": verified.statement.key.to_string(),
                "description": info.description,
            }),
            input_sha256: component_sha256.clone(),
        };
        state.decide_change(caller, change).await?;
    }
    // What the component says of itself and imports, before it becomes callable.
    let review =
        crate::registry::review::review(&admitted.toolbox.tools, &admitted.tool.imports(), &policy);
    if crate::registry::review::poisoned(&review) && state.settings.publish_review_refuses {
        let said = crate::registry::review::described(&review);
        tracing::warn!(target: "cordon::security", tool = name, by = caller.id, findings = said, "publish refused: the component's description or schemas carry instructions or hidden characters");
        let mut e = ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "tool_poisoned",
            format!(
                "{name} is not published: what it says of itself would reach every caller's model with {said}. Remove it and sign the component again (an operator who has read it may publish it with --publish-review warn)"
            ),
        );
        e.reasons = review
            .iter()
            .map(|f| format!("{} {} at {}", f.detector, f.kind, f.path))
            .collect();
        return Err(e);
    }
    if !review.is_empty() {
        tracing::warn!(target: "cordon::admin", tool = name, findings = crate::registry::review::described(&review), "published with review findings");
    }
    let policy_text = admitted_policy;
    let stored_body = body.clone();
    let blob = state.db(move |s| s.put_blob(&stored_body)).await?;
    let records: Vec<ToolRecord> = admitted
        .toolbox
        .tools
        .iter()
        .map(|info| ToolRecord {
            name: info.name.clone(),
            version: info.version.clone(),
            digest: admitted.tool.digest().to_owned(),
            blob: blob.clone(),
            publisher: verified.publisher.clone(),
            signer: verified.statement.key.to_string(),
            description: info.description.clone(),
            input_schema: info.input_schema.clone(),
            output_schema: info.output_schema.clone(),
            policy_hash: sha256_hex(policy_text.as_bytes()),
            policy: policy_text.clone(),
            published_at_ms: now_ms(),
            source: source.clone(),
            // The component's imports, and what this tool says of itself.
            review: {
                let own = format!("$.tools[{}]", serde_json::Value::String(info.name.clone()));
                review
                    .iter()
                    .filter(|f| f.detector == "imports" || f.path.starts_with(&own))
                    .cloned()
                    .collect()
            },
        })
        .collect();
    let (inserting, by) = (records.clone(), caller.actor());
    let _changing = state.registry_lock.lock().await;
    // The policy's text is kept by its hash too, so its history can be read back and compared
    // (`GET /v1/tools/{name}/policy/{hash}`) after it is replaced.
    state
        .db(move |s| {
            s.put_blob(policy_text.as_bytes())?;
            for record in &inserting {
                s.insert_tool(record, &by)?;
            }
            Ok(())
        })
        .await?;
    for record in &records {
        tracing::info!(
            target: "cordon::admin",
            tool = record.name,
            version = record.version,
            digest = record.digest,
            publisher = record.publisher,
            source = record.source.as_deref().unwrap_or("upload"),
            by = caller.id,
            "tool published"
        );
    }
    let published = Published {
        view: ToolView::of(&records[0], None),
        tools: records.iter().map(|r| r.name.clone()).collect(),
    };
    for record in records {
        let Some((tool, info)) = admitted.tool_named(&record.name) else {
            continue;
        };
        state.go_live(record, (tool, info.clone()), policy.clone(), limits.clone());
    }
    Ok((StatusCode::CREATED, Json(published)))
}

/// A published component: its first tool, and the names of all it carries (one, or several
/// for a toolbox of contract 0.2.0).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Published {
    #[serde(flatten)]
    pub view: ToolView,
    /// Every tool the component carries, each published as a version of its own name.
    pub tools: Vec<String>,
}

/// Every tool: its newest version, and the list of versions. A caller that does not manage
/// tools sees only those it may call (their `[access]` and the operator's decisions).
#[utoipa::path(
    get,
    path = "/v1/tools",
    tag = "tools",
    responses(
        (status = 200, body = ToolList),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn list(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> Result<Json<ToolList>, ApiError> {
    caller.require(Action::ListTools)?;
    let tools = state.tools_read();
    let tools = tools
        .iter()
        .filter_map(|(name, versions)| {
            let newest = versions.last()?;
            if !shown(&state, &caller, newest) {
                return None;
            }
            Some(ToolSummary {
                newest: ToolView::of(&newest.record, state.quarantine_reason(name)),
                versions: versions.iter().map(|t| t.record.version.clone()).collect(),
            })
        })
        .collect();
    Ok(Json(ToolList { tools }))
}

/// Whether the registry's listings show `tool` to `caller`: everything to whoever manages tools
/// (publishers and admins); to anyone else only the tools it may call, by the tool's `[access]`
/// and the operator's decisions (`action: list`). A hidden tool is `not_found`, as MCP's list
/// leaves it out.
fn shown(state: &AppState, caller: &Caller, tool: &crate::calls::live::LiveTool) -> bool {
    caller.permits(Action::ManageTools)
        || (crate::api::execute::may_invoke(caller, tool) && state.may_list(caller, tool, "http"))
}

/// Every version of one tool, newest first.
#[utoipa::path(
    get,
    path = "/v1/tools/{name}",
    tag = "tools",
    params(("name" = String, Path)),
    responses(
        (status = 200, body = ToolVersions),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn show(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<ToolVersions>, ApiError> {
    caller.require(Action::ListTools)?;
    let tools = state.tools_read();
    let versions = tools
        .get(&name)
        .filter(|v| v.last().is_some_and(|t| shown(&state, &caller, t)))
        .ok_or_else(|| ApiError::not_found(format!("no tool named {name}")))?;
    let quarantined = state.quarantine_reason(&name);
    let views: Vec<ToolView> = versions
        .iter()
        .rev()
        .map(|t| ToolView::of(&t.record, quarantined.clone()))
        .collect();
    Ok(Json(ToolVersions {
        name,
        versions: views,
    }))
}

/// Deletes every version of a tool (the execution log keeps its records).
#[utoipa::path(
    delete,
    path = "/v1/tools/{name}",
    tag = "tools",
    params(("name" = String, Path)),
    responses(
        (status = 204, description = "deleted"),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn delete(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(Action::ManageTools)?;
    let (deleting, by) = (name.clone(), caller.actor());
    let _changing = state.registry_lock.lock().await;
    let removed = state.db(move |s| s.delete_tool(&deleting, &by)).await?;
    state.tools_write().remove(&name);
    state.quarantined_write().remove(&name);
    crate::metrics::forget_tool(&name);
    if removed == 0 {
        return Err(ApiError::not_found(format!("no tool named {name}")));
    }
    tracing::info!(
        target: "cordon::admin",
        tool = name,
        versions = removed,
        by = caller.id,
        "tool deleted"
    );
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuarantineBody {
    /// Recorded, and shown to anyone who tries to invoke the tool.
    pub reason: String,
}

/// Stops every version of a tool from being invoked until it is released.
#[utoipa::path(
    post,
    path = "/v1/tools/{name}/quarantine",
    tag = "tools",
    params(("name" = String, Path)),
    request_body = QuarantineBody,
    responses(
        (status = 204, description = "quarantined"),
        (status = 400, description = "the body is not `{\"reason\": \"...\"}`", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn quarantine(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    caller.require(Action::ManageTools)?;
    let body: QuarantineBody =
        crate::extract::json_body(&body, r#"{"reason": "why it is stopped"}"#)?;
    state
        .quarantine_tool(&name, &body.reason, &caller.actor())
        .await?;
    tracing::warn!(target: "cordon::security", tool = name, reason = body.reason, by = caller.id, "tool quarantined");
    Ok(StatusCode::NO_CONTENT)
}

impl AppState {
    /// The one way a tool is quarantined (by an admin, or by a detection rule): stored with its
    /// `tool.quarantine` event, in force here at once and on the other nodes within a second.
    pub async fn quarantine_tool(
        self: &Arc<Self>,
        name: &str,
        reason: &str,
        by: &cordon_storage::Actor,
    ) -> Result<(), ApiError> {
        if self.find(name, None).is_none() {
            return Err(ApiError::not_found(format!("no tool named {name}")));
        }
        let (tool, why, who) = (name.to_owned(), reason.to_owned(), by.clone());
        let _changing = self.registry_lock.lock().await;
        self.db(move |s| s.quarantine(&tool, &why, now_ms(), &who))
            .await?;
        self.quarantined_write()
            .insert(name.to_owned(), reason.to_owned());
        Ok(())
    }
}

/// Lifts a quarantine.
#[utoipa::path(
    post,
    path = "/v1/tools/{name}/release",
    tag = "tools",
    params(("name" = String, Path)),
    responses(
        (status = 204, description = "released"),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, description = "the tool is not quarantined", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn release(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(Action::ManageTools)?;
    let (tool, by) = (name.clone(), caller.actor());
    let _changing = state.registry_lock.lock().await;
    if !state.db(move |s| s.release(&tool, now_ms(), &by)).await? {
        return Err(ApiError::not_found(format!("{name} is not quarantined")));
    }
    state.quarantined_write().remove(&name);
    tracing::info!(target: "cordon::admin", tool = name, by = caller.id, "tool released");
    Ok(StatusCode::NO_CONTENT)
}

//! `GET /v1/openapi.json`: the API described as OpenAPI 3.1, generated from the handlers'
//! annotations and the response types themselves, so it cannot drift from what is served (the
//! end-to-end tests validate real responses against it).

use crate::api::alerts::{self, AlertList};
use crate::api::approvals::{self, ApprovalDecision, ApprovalList};
use crate::api::audit::{self, EventKind, EventPage, LogKeyView};
use crate::api::decisions::{
    self, BundleBody, DecisionsChange, DecisionsSet, DecisionsView, ModuleBody,
};
use crate::api::executions::{self, ExecutionPage};
use crate::api::invoke::{self, InvokeResponse};
use crate::api::keys::{self, CreatedKey, KeyList, KeyView, NewKeyBody};
use crate::api::policies::{self, PolicyChange, PolicySetView, PolicyText, PolicyView};
use crate::api::quotas::{self, QuotaView, ScopeView};
use crate::api::resource;
use crate::api::stats::{self, MinuteStats, RefusalMinute, Stats, ToolStats};
use crate::api::status::{self, NodeSeen, NodeStatus};
use crate::api::suspensions::{self, SuspendRequest, SuspensionList};
use crate::api::tools::{
    self, QuarantineBody, ToolList, ToolSource, ToolSummary, ToolVersions, ToolView,
};
use crate::api::whoami::{self, WhoAmI};
use crate::beat::NodeBeat;
use crate::callers::resource::ResourceMetadata;
use crate::error::{ErrorBody, ErrorDetail};
use crate::record::audit_log::SignedView;
use crate::registry::oci_pull::PublishFrom;
use axum::Json;
use cordon_core::{Denial, DenialKind, Outcome, Usage};
use cordon_storage::{
    Actor, AdminAction, AdminEvent, ChainReport, Event, ExecutionRecord, NewExecution,
    QuotaRefusal, QuotaUse,
};
use std::sync::OnceLock;
use utoipa::OpenApi;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "cordon",
        description = "Publish signed WebAssembly tools and invoke them under their policies. \
                       Every execution and every administrative change is recorded in a hash-chained audit log (the answer waits for the record), checkpointed with the server's log key. \
                       Authenticate with `Authorization: Bearer <API key or token>`: a cordon API key, or a JWT from an identity provider the server is configured to accept (where to get one: `/.well-known/oauth-protected-resource`).",
    ),
    paths(
        tools::publish,
        tools::list,
        tools::show,
        tools::delete,
        tools::quarantine,
        tools::release,
        policies::get,
        policies::put,
        policies::text,
        decisions::get,
        decisions::put,
        decisions::remove,
        decisions::by_hash,
        approvals::list,
        approvals::show,
        approvals::decide,
        alerts::list,
        alerts::test,
        suspensions::list,
        suspensions::suspend,
        suspensions::lift,
        invoke::invoke,
        crate::api::resume::resume,
        keys::create,
        keys::list,
        keys::revoke,
        executions::list,
        executions::show,
        executions::cancel,
        executions::events,
        crate::api::receipt::receipt,
        executions::verify,
        audit::events,
        audit::key,
        audit::checkpoint,
        quotas::show,
        whoami::whoami,
        stats::stats,
        status::status,
        resource::metadata,
        resource::metadata_mcp,
    ),
    components(schemas(
        WhoAmI,
        Stats,
        MinuteStats,
        ToolStats,
        RefusalMinute,
        NodeStatus,
        NodeSeen,
        NodeBeat,
        ErrorBody,
        ErrorDetail,
        ToolView,
        ToolSource,
        PublishFrom,
        ToolSummary,
        ToolList,
        ToolVersions,
        QuarantineBody,
        PolicyView,
        PolicySetView,
        PolicyChange,
        PolicyText,
        BundleBody,
        ModuleBody,
        DecisionsView,
        DecisionsChange,
        DecisionsSet,
        ApprovalList,
        ApprovalDecision,
        AlertList,
        cordon_storage::Alert,
        cordon_storage::AlertView,
        cordon_storage::Delivery,
        cordon_storage::DeliveryState,
        SuspensionList,
        SuspendRequest,
        cordon_storage::Suspension,
        crate::decisions::view::ApprovalView,
        InvokeResponse,
        NewKeyBody,
        KeyView,
        CreatedKey,
        KeyList,
        Outcome,
        Usage,
        Denial,
        DenialKind,
        ExecutionPage,
        ExecutionRecord,
        crate::calls::tasks::ExecutionView,
        crate::calls::tasks::ExecutionAnswer,
        crate::calls::tasks::TaskStatus,
        cordon_core::Progress,
        NewExecution,
        ChainReport,
        Event,
        EventKind,
        EventPage,
        Actor,
        AdminEvent,
        AdminAction,
        LogKeyView,
        SignedView,
        QuotaView,
        ScopeView,
        QuotaUse,
        QuotaRefusal,
        ResourceMetadata,
    )),
    modifiers(&BearerKey, &RefusalsOfEveryCall),
    tags(
        (name = "tools", description = "publish and manage tools"),
        (name = "policies", description = "each tool's policy, in force on every node, and its history"),
        (name = "decisions", description = "the operator's decisions as code (Rego), in force on every node beside each tool's `[access]`, and their history"),
        (name = "approvals", description = "calls the operator's decisions hold for a person's approval, and the approvers' decisions"),
        (name = "alerts", description = "alerts raised by the detection rules or the server, and their delivery to webhooks"),
        (name = "suspensions", description = "callers suspended for a while by a detection rule or an admin"),
        (name = "invoke", description = "run a tool"),
        (name = "keys", description = "API keys (admin only); a secret is shown once, at creation"),
        (name = "executions", description = "the execution log and its verification"),
        (name = "audit", description = "the audit log of executions and administrative events: following it, its key and signed checkpoints"),
        (name = "quotas", description = "each caller's use of its quotas today"),
        (name = "auth", description = "where an OAuth client gets a token for this server (RFC 9728)"),
    )
)]
struct ApiDoc;

/// Declares the `api_key` security scheme the paths refer to.
struct BearerKey;

impl utoipa::Modify for BearerKey {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// Every authenticated operation can be refused before its handler runs: 400 with more than one
/// credential, 401 without a credential that verifies, 429 when the caller's or the address's budget is spent (with
/// `Retry-After`). Added here, in one place, so no operation's annotation can forget them.
struct RefusalsOfEveryCall;

impl utoipa::Modify for RefusalsOfEveryCall {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::header::HeaderBuilder;
        use utoipa::openapi::{
            Content, ObjectBuilder, Ref, RefOr, ResponseBuilder, Type, path::Operation,
        };
        let error = || Content::new(Some(Ref::from_schema_name("ErrorBody")));
        let retry_after = HeaderBuilder::new()
            .schema(
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .minimum(Some(1)),
            )
            .description(Some("seconds until a retry can succeed"))
            .build();
        let add = |op: &mut Operation| {
            // `security(())` (a public endpoint) is one empty requirement: nothing to present.
            let public = op.security.as_ref().is_none_or(|requirements| {
                requirements.iter().all(|r| {
                    serde_json::to_value(r)
                        .ok()
                        .and_then(|v| v.as_object().map(serde_json::Map::is_empty))
                        .unwrap_or(true)
                })
            });
            if public {
                return;
            }
            let responses = &mut op.responses.responses;
            // Added to the operation's own 400, when it has one.
            let ambiguous = "more than one credential (`ambiguous_credentials`): two `Authorization` headers, or a list in one";
            match responses.entry("400".into()) {
                std::collections::btree_map::Entry::Occupied(mut own) => {
                    if let RefOr::T(response) = own.get_mut() {
                        response.description = format!("{}; or {ambiguous}", response.description);
                    }
                }
                std::collections::btree_map::Entry::Vacant(none) => {
                    none.insert(RefOr::T(
                        ResponseBuilder::new()
                            .description(ambiguous)
                            .content("application/json", error())
                            .build(),
                    ));
                }
            }
            responses.entry("401".into()).or_insert_with(|| {
                RefOr::T(
                    ResponseBuilder::new()
                        .description("no credentials, or an API key or token that does not verify")
                        .content("application/json", error())
                        .build(),
                )
            });
            let limited = responses.entry("429".into()).or_insert_with(|| {
                RefOr::T(
                    ResponseBuilder::new()
                        .description("rate limited (`rate_limited`): this caller's or this address's request budget is spent, or wrong secrets for this key id spent its failure budget")
                        .content("application/json", error())
                        .build(),
                )
            });
            if let RefOr::T(response) = limited {
                response
                    .headers
                    .entry("Retry-After".into())
                    .or_insert_with(|| retry_after.clone());
            }
        };
        for item in doc.paths.paths.values_mut() {
            for op in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                add(op);
            }
        }
    }
}

/// The document, built once.
pub fn document() -> &'static utoipa::openapi::OpenApi {
    static DOC: OnceLock<utoipa::openapi::OpenApi> = OnceLock::new();
    DOC.get_or_init(|| {
        let mut doc = ApiDoc::openapi();
        doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
        doc
    })
}

pub async fn serve() -> Json<&'static utoipa::openapi::OpenApi> {
    Json(document())
}

#[cfg(test)]
mod tests {
    use super::document;

    #[test]
    fn every_authenticated_operation_documents_400_401_and_429_with_retry_after() {
        let doc = serde_json::to_value(document()).unwrap();
        let (mut secured, mut public) = (0, 0);
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let responses = &op["responses"];
                let requirements = op["security"].as_array().cloned().unwrap_or_default();
                if requirements
                    .iter()
                    .all(|r| r.as_object().is_some_and(|o| o.is_empty()))
                {
                    // The public metadata: nothing refuses it before its handler.
                    assert!(responses["401"].is_null(), "{method} {path}");
                    assert!(responses["400"].is_null(), "{method} {path}");
                    assert!(responses["429"].is_null(), "{method} {path}");
                    public += 1;
                    continue;
                }
                assert!(responses["401"].is_object(), "{method} {path}");
                assert!(
                    responses["400"]["description"]
                        .as_str()
                        .is_some_and(|d| d.contains("ambiguous_credentials")),
                    "{method} {path}: {}",
                    responses["400"]
                );
                assert!(
                    responses["429"]["headers"]["Retry-After"].is_object(),
                    "{method} {path}: {}",
                    responses["429"]
                );
                secured += 1;
            }
        }
        // Every /v1 operation; the two metadata documents are public.
        assert_eq!((secured, public), (39, 2));
    }
}

//! Span names that stay few: a request's route with its names and ids left out.

/// The route of `path` for a span's name: the literal segments of cordon's routes kept, every
/// other segment (a tool's name, an execution id) `{}`, so that names stay few.
pub fn route(path: &str) -> String {
    const LITERALS: [&str; 28] = [
        "v1",
        "tools",
        "invoke",
        "resume",
        "policy",
        "quarantine",
        "release",
        "executions",
        "events",
        "receipt",
        "keys",
        "audit",
        "verify",
        "checkpoint",
        "key",
        "decisions",
        "approvals",
        "alerts",
        "test",
        "suspensions",
        "quotas",
        "whoami",
        "stats",
        "status",
        "openapi.json",
        "mcp",
        "healthz",
        "readyz",
    ];
    let mut out = String::with_capacity(path.len());
    for segment in path.split('/').filter(|s| !s.is_empty()) {
        out.push('/');
        if LITERALS.contains(&segment) {
            out.push_str(segment);
        } else {
            out.push_str("{}");
        }
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn routes_keep_their_literals_and_hide_names_and_ids() {
        assert_eq!(super::route("/v1/tools/echo/invoke"), "/v1/tools/{}/invoke");
        assert_eq!(
            super::route("/v1/executions/ex_0123/events"),
            "/v1/executions/{}/events"
        );
        assert_eq!(super::route("/mcp"), "/mcp");
        assert_eq!(super::route("/"), "/");
    }
}

//! The input document, as the server builds it for each decision (`input.rs` has its schema).

use serde::Serialize;

/// What a decision is asked about.
#[derive(Debug, Clone, Serialize)]
pub struct Document {
    /// `invoke`, `list`, `publish`, `policy_change` or `key_change`.
    pub action: &'static str,
    pub caller: Caller,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool: Option<Tool>,
    /// The call's input as sent (`invoke`), or what an operator's change asks
    /// (`docs/decisions.md`); none for `list`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arguments: Option<serde_json::Value>,
    pub request: Request,
}

#[derive(Debug, Clone, Serialize)]
pub struct Caller {
    pub id: String,
    pub name: String,
    /// `key`, `token` or `certificate`.
    pub kind: &'static str,
    pub roles: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// A token's `sub`, or a client certificate's subject (RFC 4514).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub claims: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate: Option<Certificate>,
}

/// What a certificate caller's verified client certificate says besides its subject.
#[derive(Debug, Clone, Serialize)]
pub struct Certificate {
    pub fingerprint: String,
    pub dns: Vec<String>,
    pub uris: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Tool {
    pub name: String,
    pub version: String,
    pub publisher: String,
    pub digest: String,
    pub read_only: bool,
    pub open_world: bool,
    pub hosts: Vec<String>,
    pub mounts: Vec<Mount>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// What the tool says of itself (MCP's tool annotations): its author's claims, never
    /// checked; `read_only` and `open_world` are what its policy grants.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotations: Option<Annotations>,
}

/// A tool's own annotations, under MCP's names; only those it gives.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Annotations {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_only_hint: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destructive_hint: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idempotent_hint: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub open_world_hint: Option<bool>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Mount {
    pub path: String,
    pub writable: bool,
}

/// Where and when the request came from.
#[derive(Debug, Clone, Serialize)]
pub struct Request {
    pub address: String,
    /// UTC, RFC 3339 with milliseconds.
    pub time: String,
    pub weekday: &'static str,
    pub hour: u32,
    pub minute: u32,
    /// `rest` or `mcp`.
    pub protocol: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mcp_method: Option<String>,
}

impl Request {
    /// The request's time fields at `now_ms` (milliseconds since the Unix epoch, UTC).
    pub fn at(now_ms: i64, address: String, protocol: &'static str) -> Request {
        let ms = now_ms.max(0);
        let days = ms.div_euclid(86_400_000);
        let of_day = ms.rem_euclid(86_400_000);
        let (hour, minute) = ((of_day / 3_600_000) as u32, ((of_day / 60_000) % 60) as u32);
        // 1970-01-01 was a Thursday.
        const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
        let weekday = WEEKDAYS[days.rem_euclid(7) as usize];
        let (y, m, d) = civil(days);
        let second = (of_day / 1_000) % 60;
        let millis = of_day % 1_000;
        Request {
            address,
            time: format!("{y:04}-{m:02}-{d:02}T{hour:02}:{minute:02}:{second:02}.{millis:03}Z"),
            weekday,
            hour,
            minute,
            protocol,
            mcp_method: None,
        }
    }
}

/// A decision's `input`, built straight from the document: what JSON would give, without
/// writing and reading JSON (which took a third of a decision).
pub(crate) fn input_of(d: &Document) -> regorus::Value {
    use regorus::Value;
    use std::collections::BTreeMap;
    fn object(fields: Vec<(&str, Value)>) -> Value {
        Value::from(
            fields
                .into_iter()
                .map(|(k, v)| (Value::from(k), v))
                .collect::<BTreeMap<Value, Value>>(),
        )
    }
    fn strings(items: &[String]) -> Value {
        Value::from(
            items
                .iter()
                .map(|s| Value::from(s.as_str()))
                .collect::<Vec<_>>(),
        )
    }
    let c = &d.caller;
    let mut caller = vec![
        ("id", Value::from(c.id.as_str())),
        ("name", Value::from(c.name.as_str())),
        ("kind", Value::from(c.kind)),
        ("roles", strings(&c.roles)),
    ];
    if let Some(issuer) = &c.issuer {
        caller.push(("issuer", Value::from(issuer.as_str())));
    }
    if let Some(subject) = &c.subject {
        caller.push(("subject", Value::from(subject.as_str())));
    }
    if let Some(claims) = &c.claims {
        caller.push((
            "claims",
            Value::from(serde_json::Value::Object(claims.clone())),
        ));
    }
    if let Some(cert) = &c.certificate {
        caller.push((
            "certificate",
            object(vec![
                ("fingerprint", Value::from(cert.fingerprint.as_str())),
                ("dns", strings(&cert.dns)),
                ("uris", strings(&cert.uris)),
            ]),
        ));
    }
    let r = &d.request;
    let mut request = vec![
        ("address", Value::from(r.address.as_str())),
        ("time", Value::from(r.time.as_str())),
        ("weekday", Value::from(r.weekday)),
        ("hour", Value::from(r.hour)),
        ("minute", Value::from(r.minute)),
        ("protocol", Value::from(r.protocol)),
    ];
    if let Some(method) = &r.mcp_method {
        request.push(("mcp_method", Value::from(method.as_str())));
    }
    let mut fields = vec![
        ("action", Value::from(d.action)),
        ("caller", object(caller)),
        ("request", object(request)),
    ];
    if let Some(t) = &d.tool {
        let mut tool = vec![
            ("name", Value::from(t.name.as_str())),
            ("version", Value::from(t.version.as_str())),
            ("publisher", Value::from(t.publisher.as_str())),
            ("digest", Value::from(t.digest.as_str())),
            ("read_only", Value::from(t.read_only)),
            ("open_world", Value::from(t.open_world)),
            ("hosts", strings(&t.hosts)),
            (
                "mounts",
                Value::from(
                    t.mounts
                        .iter()
                        .map(|m| {
                            object(vec![
                                ("path", Value::from(m.path.as_str())),
                                ("writable", Value::from(m.writable)),
                            ])
                        })
                        .collect::<Vec<_>>(),
                ),
            ),
        ];
        if let Some(source) = &t.source {
            tool.push(("source", Value::from(source.as_str())));
        }
        if let Some(a) = &t.annotations {
            let mut annotations = Vec::new();
            if let Some(title) = &a.title {
                annotations.push(("title", Value::from(title.as_str())));
            }
            for (name, hint) in [
                ("readOnlyHint", a.read_only_hint),
                ("destructiveHint", a.destructive_hint),
                ("idempotentHint", a.idempotent_hint),
                ("openWorldHint", a.open_world_hint),
            ] {
                if let Some(hint) = hint {
                    annotations.push((name, Value::from(hint)));
                }
            }
            tool.push(("annotations", object(annotations)));
        }
        fields.push(("tool", object(tool)));
    }
    if let Some(arguments) = &d.arguments {
        fields.push(("arguments", Value::from(arguments.clone())));
    }
    object(fields)
}

/// The civil date of a day count since 1970-01-01 (proleptic Gregorian; H. Hinnant's
/// days-to-civil).
fn civil(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The input built straight from a document is exactly what its JSON gives, with every
    /// optional field there or not.
    #[test]
    fn the_input_is_the_documents_json() {
        let mut request = Request::at(1_796_565_909_123, "10.0.0.7".into(), "mcp");
        let plain = Document {
            action: "list",
            caller: Caller {
                id: "k1".into(),
                name: "ada".into(),
                kind: "key",
                roles: vec!["invoker".into(), "auditor".into()],
                issuer: None,
                subject: None,
                claims: None,
                certificate: None,
            },
            tool: None,
            arguments: None,
            request: request.clone(),
        };
        request.mcp_method = Some("tools/call".into());
        let full = Document {
            action: "invoke",
            caller: Caller {
                id: "https://id#ada".into(),
                name: "ada".into(),
                kind: "token",
                roles: vec![],
                issuer: Some("https://id".into()),
                subject: Some("ada".into()),
                claims: Some(
                    serde_json::json!({"tenant": "acme", "exp": 1_900_000_000u64, "groups": ["a"]})
                        .as_object()
                        .cloned()
                        .unwrap_or_default(),
                ),
                certificate: None,
            },
            tool: Some(Tool {
                name: "notes".into(),
                version: "1.0.0".into(),
                publisher: "dev".into(),
                digest: "ab".repeat(32),
                read_only: false,
                open_world: true,
                hosts: vec!["https://api.example.com".into()],
                mounts: vec![Mount {
                    path: "/data".into(),
                    writable: true,
                }],
                source: Some("oci://r/x:1@sha256:00".into()),
                annotations: Some(Annotations {
                    title: Some("Notes".into()),
                    destructive_hint: Some(true),
                    open_world_hint: Some(false),
                    ..Annotations::default()
                }),
            }),
            arguments: Some(serde_json::json!({"paths": ["/tmp/a"], "n": -3, "x": 1.5, "z": null})),
            request,
        };
        let held = Document {
            caller: certificate_caller(),
            ..plain.clone()
        };
        for d in [plain, full, held] {
            let via_json = regorus::Value::from(serde_json::to_value(&d).unwrap());
            assert_eq!(
                input_of(&d),
                via_json,
                "{}",
                serde_json::to_string(&d).unwrap()
            );
        }
    }

    fn certificate_caller() -> Caller {
        Caller {
            id: "cert:uri:spiffe://acme.example/agents/a".into(),
            name: "agents".into(),
            kind: "certificate",
            roles: vec!["invoker".into()],
            issuer: None,
            subject: Some("CN=agent-1,O=Acme".into()),
            claims: None,
            certificate: Some(Certificate {
                fingerprint: format!("sha256:{}", "ab".repeat(32)),
                dns: vec![],
                uris: vec!["spiffe://acme.example/agents/a".into()],
            }),
        }
    }

    #[test]
    fn the_request_time_is_utc_with_its_weekday_and_hour() {
        // 2026-12-06T14:05:09.123Z, a Sunday.
        let r = Request::at(1_796_565_909_123, "10.0.0.7".into(), "rest");
        assert_eq!(r.time, "2026-12-06T14:05:09.123Z");
        assert_eq!((r.weekday, r.hour, r.minute), ("Sun", 14, 5));
        let epoch = Request::at(0, String::new(), "mcp");
        assert_eq!(
            (epoch.time.as_str(), epoch.weekday),
            ("1970-01-01T00:00:00.000Z", "Thu")
        );
        // A leap day.
        assert_eq!(
            Request::at(951_782_400_000, String::new(), "rest").time,
            "2000-02-29T00:00:00.000Z"
        );
    }

    #[test]
    fn a_document_the_server_builds_fits_the_schema_the_bundles_are_checked_against() {
        let document = Document {
            action: "invoke",
            caller: Caller {
                id: "https://idp.example#ada".into(),
                name: "ada".into(),
                kind: "token",
                roles: vec!["invoker".into()],
                issuer: Some("https://idp.example".into()),
                subject: Some("ada".into()),
                claims: Some(
                    serde_json::json!({"groups": ["ops"]})
                        .as_object()
                        .unwrap()
                        .clone(),
                ),
                certificate: None,
            },
            tool: Some(Tool {
                name: "notes".into(),
                version: "1.0.0".into(),
                publisher: "acme".into(),
                digest: "ab".repeat(32),
                read_only: false,
                open_world: false,
                hosts: vec![],
                mounts: vec![Mount {
                    path: "/notes".into(),
                    writable: true,
                }],
                source: None,
                annotations: None,
            }),
            arguments: Some(serde_json::json!({"paths": ["/notes/a.md"]})),
            request: Request {
                mcp_method: Some("tools/call".into()),
                ..Request::at(1_796_565_909_123, "10.0.0.7".into(), "mcp")
            },
        };
        let value = serde_json::to_value(&document).unwrap();
        let validator = jsonschema::validator_for(&crate::schema()).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&value)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{errors:?}");
        // A certificate holder's caller too.
        let held = Document {
            caller: certificate_caller(),
            ..document.clone()
        };
        let held = serde_json::to_value(&held).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&held)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{errors:?}");
        // And the schema does refuse what it does not list.
        let mut stray = value.clone();
        stray["caller"]["role"] = serde_json::json!("admin");
        assert!(!validator.is_valid(&stray));
    }
}

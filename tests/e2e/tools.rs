//! The example tools do their job, refuse bad input cleanly, and the ones that need a capability
//! fail cleanly under the closed default policy.

use crate::common::{call, limits};
use cordon_core::{Limits, Outcome};
use cordon_test_artifacts as guests;
use serde_json::json;

#[tokio::test]
async fn word_count_counts_and_reports_usage() {
    let exec = call(
        guests::WORD_COUNT,
        r#"{"text":"one two  three\nfour"}"#,
        &Limits::default(),
    )
    .await;
    assert_eq!(exec.outcome, Outcome::Ok, "{exec:?}");
    assert_eq!(
        exec.output,
        Some(json!({"words": 4, "lines": 2, "chars": 19}))
    );
    let u = &exec.usage;
    assert!(u.fuel_consumed > 0 && u.fuel_consumed < Limits::default().fuel);
    assert!(
        u.peak_memory_bytes >= 64 * 1024 && u.peak_memory_bytes <= Limits::default().memory_bytes
    );
    assert_eq!(u.input_bytes, 31);
    assert_eq!(
        u.output_bytes,
        r#"{"words":4,"lines":2,"chars":19}"#.len() as u64
    );
    assert!(u.wall_time_us > 0);
}

#[tokio::test]
async fn sha256_matches_a_known_digest() {
    let exec = call(guests::SHA256, r#"{"text":"abc"}"#, &Limits::default()).await;
    assert_eq!(
        exec.output,
        Some(json!({
            "sha256": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            "bytes": 3
        }))
    );
}

#[tokio::test]
async fn schema_mismatch_is_invalid_input_with_serdes_message() {
    let exec = call(guests::WORD_COUNT, r#"{"txt":"x"}"#, &Limits::default()).await;
    assert_eq!(exec.outcome, Outcome::InvalidInput);
    assert!(exec.error.unwrap().starts_with("unknown field `txt`"));
}

#[tokio::test]
async fn input_that_is_not_json_or_too_large_never_runs() {
    let exec = call(guests::ECHO, "{not json", &Limits::default()).await;
    assert_eq!(exec.outcome, Outcome::InvalidInput);
    assert!(exec.error.unwrap().starts_with("input is not valid JSON"));
    assert_eq!(exec.usage.fuel_consumed, 0);

    let l = limits(|l| l.max_input_bytes = 10);
    let exec = call(guests::ECHO, r#"{"a":"0123456789"}"#, &l).await;
    assert_eq!(exec.outcome, Outcome::InvalidInput);
    assert_eq!(
        exec.error.as_deref(),
        Some("input is 18 bytes, over the limit of 10")
    );
    assert_eq!(exec.usage.fuel_consumed, 0);
    assert_eq!(exec.usage.input_bytes, 18);
}

#[tokio::test]
async fn read_file_sees_no_files_under_the_default_policy() {
    for path in ["/etc/passwd", "/proc/self/environ", "secret.txt", "../x"] {
        let input = json!({ "path": path }).to_string();
        let exec = call(guests::READ_FILE, &input, &Limits::default()).await;
        assert_eq!(exec.outcome, Outcome::ToolError, "{path}: {exec:?}");
        assert!(
            exec.error
                .unwrap()
                .starts_with(&format!("cannot read {path}"))
        );
    }
}

#[tokio::test]
async fn http_get_is_denied_under_the_default_policy() {
    let exec = call(
        guests::HTTP_GET,
        r#"{"url":"http://127.0.0.1:9/"}"#,
        &Limits::default(),
    )
    .await;
    assert_eq!(exec.outcome, Outcome::ToolError, "{exec:?}");
    let error = exec.error.unwrap();
    assert_eq!(
        error,
        "request to http://127.0.0.1:9/ failed: denied by the host's network policy (HTTP-request-denied)"
    );
}

/// The SDK writes standard JSON Schema only: no schemars-specific formats (`uint`, `int32`,
/// `double`...), which MCP clients' validators warn about. word-count's output has unsigned
/// integers, where schemars writes `"format": "uint"`.
#[tokio::test]
async fn sdk_schemas_use_only_standard_formats() {
    const STANDARD: &[&str] = &[
        "date-time",
        "date",
        "time",
        "duration",
        "email",
        "idn-email",
        "hostname",
        "idn-hostname",
        "ipv4",
        "ipv6",
        "uri",
        "uri-reference",
        "iri",
        "iri-reference",
        "uuid",
        "uri-template",
        "json-pointer",
        "relative-json-pointer",
        "regex",
    ];
    fn formats(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(m) => {
                if let Some(f) = m.get("format").and_then(|f| f.as_str()) {
                    out.push(f.to_owned());
                }
                m.values().for_each(|x| formats(x, out));
            }
            serde_json::Value::Array(a) => a.iter().for_each(|x| formats(x, out)),
            _ => {}
        }
    }
    for (name, path) in guests::TOOLS {
        let toolbox = crate::common::SANDBOX
            .describe(&crate::common::tool(path), &Limits::default())
            .await
            .unwrap();
        let info = &toolbox.tools[0];
        let mut found = Vec::new();
        formats(&info.input_schema, &mut found);
        if let Some(out) = &info.output_schema {
            formats(out, &mut found);
        }
        let odd: Vec<_> = found
            .iter()
            .filter(|f| !STANDARD.contains(&f.as_str()))
            .collect();
        assert!(odd.is_empty(), "{name}: non-standard formats {odd:?}");
        if *name == "word-count" || *name == "word_count" {
            let words = &info.output_schema.as_ref().unwrap()["properties"]["words"];
            assert_eq!(words["minimum"], 0, "{words}");
        }
    }
}

#[tokio::test]
async fn primes_counts_and_reports_its_progress() {
    use cordon_core::{Grants, Progress};
    use std::sync::{Arc, Mutex};
    let seen = Arc::new(Mutex::new(Vec::<Progress>::new()));
    let sink = seen.clone();
    let control =
        cordon_sandbox::CallControl::new().with_progress(Arc::new(move |p: &Progress| {
            sink.lock().unwrap().push(p.clone())
        }));
    let grants = Grants::with_limits(limits(|l| l.progress_per_sec = 100));
    let exec = crate::common::SANDBOX
        .call_with(
            &crate::common::tool(guests::PRIMES),
            r#"{"below":100000}"#,
            &grants,
            &control,
        )
        .await;
    assert_eq!(exec.outcome, Outcome::Ok, "{exec:?}");
    // pi(100000) = 9592, the largest below it 99991.
    assert_eq!(
        exec.output,
        Some(json!({"below": 100000, "primes": 9592, "largest": 99991}))
    );
    assert_eq!(exec.usage.progress_reports, 100);
    {
        let seen = seen.lock().unwrap();
        assert!(!seen.is_empty());
        assert!(seen.windows(2).all(|w| w[0].done < w[1].done), "in order");
        assert!(seen.iter().all(|p| p.total == Some(100000)));
        assert_eq!(seen[0].done, 1000);
        assert_eq!(seen[0].message, "168 primes below 1000");
    }
    // Over the bound: refused by the tool, nothing counted.
    let exec = call(
        guests::PRIMES,
        r#"{"below":1000000001}"#,
        &Limits::default(),
    )
    .await;
    assert_eq!(exec.outcome, Outcome::InvalidInput, "{exec:?}");
    assert_eq!(exec.usage.progress_reports, 0);
}

#[tokio::test]
async fn qr_returns_an_svg_image_of_its_text() {
    let exec = call(
        guests::QR,
        r#"{"text":"https://example.com"}"#,
        &Limits::default(),
    )
    .await;
    assert_eq!(exec.outcome, Outcome::Ok, "{exec:?}");
    let [
        cordon_core::Content::Text { text },
        cordon_core::Content::Image { data, mime_type },
    ] = exec.content.as_slice()
    else {
        panic!("{:?}", exec.content);
    };
    assert!(text.contains("https://example.com"));
    assert_eq!(mime_type, "image/svg+xml");
    use base64::Engine as _;
    let svg = base64::engine::general_purpose::STANDARD
        .decode(data)
        .unwrap();
    let svg = String::from_utf8(svg).unwrap();
    assert!(svg.contains("<svg") && svg.contains("<path"), "{svg}");
    let empty = call(guests::QR, r#"{"text":""}"#, &Limits::default()).await;
    assert_eq!(empty.outcome, Outcome::InvalidInput);
}

#[tokio::test]
async fn confirm_delete_deletes_only_what_the_user_confirmed() {
    let dir = crate::common::temp_dir("confirm-delete");
    for f in ["a.txt", "b.txt"] {
        std::fs::write(dir.join(f), "x").unwrap();
    }
    let grants = |resume: Option<cordon_core::Resume>| cordon_core::Grants {
        mounts: vec![cordon_core::Mount {
            host: dir.canonicalize().unwrap(),
            guest: "/scratch".into(),
            writable: true,
        }],
        ask: toml::from_str("elicit = [\"form\"]").unwrap(),
        client_asking: cordon_core::Asking::ALL,
        resume,
        ..cordon_core::Grants::default()
    };
    let tool = crate::common::tool(guests::CONFIRM_DELETE);
    let input = r#"{"names":["a.txt","missing.txt"]}"#;
    let asked = crate::common::SANDBOX
        .call(&tool, input, &grants(None))
        .await;
    assert_eq!(asked.outcome, Outcome::InputRequired, "{asked:?}");
    let question = asked.input_required.unwrap();
    let message = question.requests[0].1.to_mcp()["params"]["message"].clone();
    assert_eq!(
        message,
        "Delete 1 file(s) from the scratch directory: a.txt?"
    );
    assert!(
        dir.join("a.txt").exists(),
        "nothing deleted before the answer"
    );
    let answer = |delete: bool| {
        Some(cordon_core::Resume {
            responses: vec![(
                "confirm".into(),
                json!({"action": "accept", "content": {"delete": delete}}),
            )],
            state: question.state.clone(),
            sampled_tokens: 0,
        })
    };
    let declined = crate::common::SANDBOX
        .call(&tool, input, &grants(answer(false)))
        .await;
    assert_eq!(declined.outcome, Outcome::Ok, "{declined:?}");
    assert!(dir.join("a.txt").exists());
    let done = crate::common::SANDBOX
        .call(&tool, input, &grants(answer(true)))
        .await;
    assert_eq!(done.outcome, Outcome::Ok, "{done:?}");
    assert!(!dir.join("a.txt").exists() && dir.join("b.txt").exists());
}

//! Contract 0.2.0 in the sandbox: a component of several tools, content blocks, tool errors,
//! log messages; and a component built for 0.1.0 that still runs beside them.

use crate::common::{SANDBOX, tool};
use base64::Engine as _;
use cordon_core::{Content, Embedded, Grants, Limits, LogLevel, LogMessage, Outcome};
use cordon_sandbox::{CallControl, LogSink};
use cordon_test_artifacts as guests;
use std::sync::{Arc, Mutex};

/// The conformance toolbox, described, and its tool `name` ready to call.
async fn fixture(name: &str) -> cordon_sandbox::Tool {
    let component = tool(guests::CONFORMANCE);
    let toolbox = SANDBOX
        .describe(&component, &Limits::default())
        .await
        .unwrap();
    assert!(toolbox.tool(name).is_some(), "{name} not in {toolbox:?}");
    component.named(name)
}

#[tokio::test]
async fn a_component_built_for_0_1_0_still_runs() {
    let old = tool(guests::ECHO_0_1_0);
    assert_eq!(old.contract(), "0.1.0");
    let toolbox = SANDBOX.describe(&old, &Limits::default()).await.unwrap();
    assert_eq!((toolbox.name.as_str(), toolbox.tools.len()), ("echo", 1));
    let exec = SANDBOX
        .call(&old, r#"{"kept":[1,"two"]}"#, &Grants::default())
        .await;
    assert_eq!(exec.outcome, Outcome::Ok, "{exec:?}");
    assert_eq!(exec.output, Some(serde_json::json!({"kept": [1, "two"]})));
    assert!(exec.content.is_empty());
    // Today's echo, rebuilt by the SDK, is a 0.2.0 component answering the same.
    let new = tool(guests::ECHO);
    assert_eq!(new.contract(), "0.2.0");
    let exec = SANDBOX
        .call(&new, r#"{"kept":1}"#, &Grants::default())
        .await;
    assert_eq!(exec.output, Some(serde_json::json!({"kept": 1})));
}

#[tokio::test]
async fn a_toolbox_describes_each_tool_with_its_own_schema() {
    let toolbox = SANDBOX
        .describe(&tool(guests::CONFORMANCE), &Limits::default())
        .await
        .unwrap();
    assert_eq!(toolbox.name, "conformance");
    let names: Vec<&str> = toolbox.tools.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names.len(), 27, "{names:?}");
    assert!(names.contains(&"test_image_content") && names.contains(&"test_logging_tool"));
    // What each says of how it runs: its task support, title and hints.
    let info = |name: &str| toolbox.tools.iter().find(|t| t.name == name).unwrap();
    assert_eq!(
        info("greet").task_support,
        cordon_core::TaskSupport::Forbidden
    );
    assert_eq!(info("greet").title.as_deref(), Some("Greeting"));
    assert_eq!(
        info("failing_job").task_support,
        cordon_core::TaskSupport::Required
    );
    assert_eq!(
        info("slow_compute").task_support,
        cordon_core::TaskSupport::Optional
    );
    assert_eq!(
        info("confirm_delete").hints.and_then(|h| h.destructive),
        Some(true)
    );
    assert_eq!(info("test_simple_text").hints, None);
    assert!(toolbox.tools.iter().all(|t| t.version == toolbox.version));
    // A schema written out is kept keyword for keyword.
    let schema = &toolbox
        .tool("json_schema_2020_12_tool")
        .unwrap()
        .input_schema;
    assert_eq!(schema["$defs"]["address"]["$anchor"], "addressDef");
    assert_eq!(schema["else"]["required"], serde_json::json!(["email"]));
    // Content-only tools declare no output schema.
    assert_eq!(
        toolbox.tool("test_simple_text").unwrap().output_schema,
        None
    );
}

#[tokio::test]
async fn content_blocks_come_back_as_mcp_gives_them_and_count_as_output() {
    let exec = SANDBOX
        .call(
            &fixture("test_multiple_content_types").await,
            "{}",
            &Grants::default(),
        )
        .await;
    assert_eq!(exec.outcome, Outcome::Ok, "{exec:?}");
    assert_eq!(exec.output, None);
    let [
        Content::Text { text },
        Content::Image { data, mime_type },
        Content::Resource { resource },
    ] = exec.content.as_slice()
    else {
        panic!("{:?}", exec.content);
    };
    assert_eq!(text, "Multiple content types test:");
    assert_eq!(mime_type, "image/png");
    let png = base64::engine::general_purpose::STANDARD
        .decode(data)
        .unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert_eq!(png.len(), 70);
    assert!(
        matches!(resource, Embedded::Text { uri, text, .. } if uri == "test://mixed-content-resource" && text.contains("123"))
    );
    // What the caller receives is what counts: the blocks as JSON, base64 included.
    let shown = serde_json::to_string(&exec.content).unwrap();
    assert_eq!(exec.usage.output_bytes, shown.len() as u64);

    // The same blocks over a limit just below their size: refused, nothing returned.
    let tight = Limits {
        max_output_bytes: exec.usage.output_bytes - 1,
        ..Limits::default()
    };
    let refused = SANDBOX
        .call(
            &fixture("test_multiple_content_types").await,
            "{}",
            &Grants::with_limits(tight),
        )
        .await;
    assert_eq!(refused.outcome, Outcome::OutputTooLarge, "{refused:?}");
    assert!(refused.content.is_empty() && refused.output.is_none());
}

#[tokio::test]
async fn audio_and_embedded_resources_carry_their_types() {
    let audio = SANDBOX
        .call(
            &fixture("test_audio_content").await,
            "{}",
            &Grants::default(),
        )
        .await;
    let [Content::Audio { data, mime_type }] = audio.content.as_slice() else {
        panic!("{audio:?}");
    };
    assert_eq!(mime_type, "audio/wav");
    let wav = base64::engine::general_purpose::STANDARD
        .decode(data)
        .unwrap();
    assert_eq!(
        (&wav[..4], &wav[8..12], wav.len()),
        (&b"RIFF"[..], &b"WAVE"[..], 52)
    );
    let embedded = SANDBOX
        .call(
            &fixture("test_embedded_resource").await,
            "{}",
            &Grants::default(),
        )
        .await;
    assert_eq!(
        serde_json::to_value(&embedded.content).unwrap(),
        serde_json::json!([{"type": "resource", "resource": {
            "uri": "test://embedded-resource",
            "mimeType": "text/plain",
            "text": "This is an embedded resource content."
        }}])
    );
}

#[tokio::test]
async fn a_tool_error_is_the_tools_own_and_a_wrong_name_is_refused() {
    let exec = SANDBOX
        .call(
            &fixture("test_error_handling").await,
            "{}",
            &Grants::default(),
        )
        .await;
    assert_eq!(exec.outcome, Outcome::ToolError, "{exec:?}");
    assert_eq!(
        exec.error.as_deref(),
        Some("This tool intentionally returns an error for testing")
    );
    // A name the toolbox does not have (and no name, which only a one-tool component takes).
    for name in ["no_such_tool", ""] {
        let exec = SANDBOX
            .call(
                &tool(guests::CONFORMANCE).named(name),
                "{}",
                &Grants::default(),
            )
            .await;
        assert_eq!(exec.outcome, Outcome::ToolError, "{exec:?}");
        assert!(exec.error.unwrap().contains("no tool named"));
    }
}

fn collecting(least: LogLevel) -> (CallControl, Arc<Mutex<Vec<LogMessage>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let into = seen.clone();
    let sink: LogSink = Arc::new(move |m: &LogMessage| into.lock().unwrap().push(m.clone()));
    (CallControl::new().with_logs(least, sink), seen)
}

#[tokio::test]
async fn log_messages_reach_a_client_that_asked_and_are_counted_either_way() {
    let logging = fixture("test_logging_tool").await;
    let (control, seen) = collecting(LogLevel::Info);
    let exec = SANDBOX
        .call_with(&logging, "{}", &Grants::default(), &control)
        .await;
    assert_eq!(exec.outcome, Outcome::Ok, "{exec:?}");
    assert_eq!(exec.usage.log_messages, 3);
    let seen = seen.lock().unwrap().clone();
    let texts: Vec<&str> = seen.iter().filter_map(|m| m.data.as_str()).collect();
    assert_eq!(
        texts,
        [
            "Tool execution started",
            "Tool processing data",
            "Tool execution completed"
        ]
    );
    assert!(seen.iter().all(|m| m.level == LogLevel::Info));

    // A client that wants warnings and worse gets none of these; one that asked for nothing
    // gets nothing; both counted.
    let (control, seen) = collecting(LogLevel::Warning);
    let exec = SANDBOX
        .call_with(&logging, "{}", &Grants::default(), &control)
        .await;
    assert_eq!(
        (exec.usage.log_messages, seen.lock().unwrap().len()),
        (3, 0)
    );
    let exec = SANDBOX.call(&logging, "{}", &Grants::default()).await;
    assert_eq!(exec.usage.log_messages, 3);
}

/// Grants whose policy lets a tool ask for forms, completions and roots.
fn asking(resume: Option<cordon_core::Resume>) -> Grants {
    Grants {
        ask: toml::from_str("elicit = [\"form\"]\nsample_max_tokens = 200\nroots = true").unwrap(),
        client_asking: cordon_core::Asking::ALL,
        resume,
        ..Grants::default()
    }
}

fn accepted(key: &str, content: serde_json::Value) -> (String, serde_json::Value) {
    (
        key.to_owned(),
        serde_json::json!({"action": "accept", "content": content}),
    )
}

#[tokio::test]
async fn a_tool_asks_then_finishes_with_the_answers_over_rounds() {
    let tool = fixture("test_input_required_result_multi_round").await;
    let first = SANDBOX.call(&tool, "{}", &asking(None)).await;
    assert_eq!(first.outcome, Outcome::InputRequired, "{first:?}");
    let asked = first.input_required.clone().unwrap();
    assert_eq!(asked.requests.len(), 1);
    let (key, ask) = &asked.requests[0];
    assert_eq!(key, "step1");
    let mcp = ask.to_mcp();
    assert_eq!(mcp["method"], "elicitation/create");
    assert_eq!(mcp["params"]["message"], "Step 1: What is your name?");
    assert_eq!(
        mcp["params"]["requestedSchema"]["required"],
        serde_json::json!(["name"])
    );
    assert!(first.output.is_none() && first.content.is_empty());

    // Round 2: the name answered; the tool asks its second question, carrying the first answer
    // in its state.
    let second = SANDBOX
        .call(
            &tool,
            "{}",
            &asking(Some(cordon_core::Resume {
                responses: vec![accepted("step1", serde_json::json!({"name": "Ada"}))],
                state: asked.state.clone(),
                sampled_tokens: 0,
            })),
        )
        .await;
    assert_eq!(second.outcome, Outcome::InputRequired, "{second:?}");
    let again = second.input_required.unwrap();
    assert_eq!(again.requests[0].0, "step2");
    // Round 3: only the second answer comes back; the first travels in the state.
    let third = SANDBOX
        .call(
            &tool,
            "{}",
            &asking(Some(cordon_core::Resume {
                responses: vec![accepted("step2", serde_json::json!({"color": "green"}))],
                state: again.state,
                sampled_tokens: 0,
            })),
        )
        .await;
    assert_eq!(third.outcome, Outcome::Ok, "{third:?}");
    assert_eq!(
        third.content,
        [Content::Text {
            text: "Ada likes green".into()
        }]
    );
}

#[tokio::test]
async fn asking_for_what_the_policy_does_not_allow_is_a_denial() {
    let tool = fixture("test_input_required_result_sampling").await;
    // The default policy allows no asking at all.
    let exec = SANDBOX
        .call(
            &tool,
            "{}",
            &Grants {
                client_asking: cordon_core::Asking::ALL,
                ..Grants::default()
            },
        )
        .await;
    assert_eq!(exec.outcome, Outcome::ToolError, "{exec:?}");
    assert!(exec.input_required.is_none());
    let denial = &exec.usage.denials[0];
    assert_eq!(denial.kind, cordon_core::DenialKind::Ask);
    assert_eq!(denial.target, "sampling/createMessage");
    assert!(exec.error.unwrap().contains("sample_max_tokens"));
    // A budget below what it asks for (100 tokens) is refused too.
    let small = Grants {
        ask: toml::from_str("sample_max_tokens = 99").unwrap(),
        client_asking: cordon_core::Asking::ALL,
        ..Grants::default()
    };
    let exec = SANDBOX.call(&tool, "{}", &small).await;
    assert_eq!(exec.outcome, Outcome::ToolError, "{exec:?}");
    assert!(exec.error.unwrap().contains("100 tokens"));
    // The budget is per call: a later round of a call whose earlier rounds asked for 150 of
    // its 200 tokens may ask for 50 more, not 100.
    let later = |sampled_tokens| {
        asking(Some(cordon_core::Resume {
            responses: Vec::new(),
            state: Vec::new(),
            sampled_tokens,
        }))
    };
    let exec = SANDBOX.call(&tool, "{}", &later(150)).await;
    assert_eq!(exec.outcome, Outcome::ToolError, "{exec:?}");
    assert!(
        exec.error
            .unwrap()
            .contains("250 tokens of sampling in this call")
    );
    let exec = SANDBOX.call(&tool, "{}", &later(100)).await;
    assert_eq!(exec.outcome, Outcome::InputRequired, "{exec:?}");
}

#[tokio::test]
async fn a_tool_is_told_what_this_call_may_ask() {
    let tool = fixture("test_input_required_result_capabilities").await;
    // The policy allows forms and sampling; the client answers sampling only.
    let grants = Grants {
        client_asking: cordon_core::Asking {
            sample: true,
            ..cordon_core::Asking::default()
        },
        ..asking(None)
    };
    let exec = SANDBOX.call(&tool, "{}", &grants).await;
    assert_eq!(exec.outcome, Outcome::InputRequired, "{exec:?}");
    let methods: Vec<String> = exec
        .input_required
        .unwrap()
        .requests
        .iter()
        .map(|(_, a)| a.to_mcp()["method"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(methods, ["sampling/createMessage"]);
    // A client that answers nothing: the tool asks nothing.
    let grants = Grants {
        client_asking: cordon_core::Asking::default(),
        ..asking(None)
    };
    let exec = SANDBOX.call(&tool, "{}", &grants).await;
    assert_eq!(exec.outcome, Outcome::Ok, "{exec:?}");
}

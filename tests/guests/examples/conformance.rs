//! The official MCP conformance suite's fixture tools (`@modelcontextprotocol/conformance`,
//! `server` scenarios), as one toolbox of contract 0.2.0. `scripts/conformance.sh` publishes
//! it under `policies/conformance.toml` and runs the suite against it; the e2e tests call it
//! over REST and MCP. Each tool answers what its scenario checks, nothing more.

use cordon_sdk::{Error, JsonSchema, Level, Reply, Request, ask, resumed};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::time::Duration;

type NoInput = Map<String, Value>;

/// A 1x1 red pixel, as a PNG file.
const RED_PIXEL_PNG: [u8; 70] = [
    137, 80, 78, 71, 13, 10, 26, 10, 0, 0, 0, 13, 73, 72, 68, 82, 0, 0, 0, 1, 0, 0, 0, 1, 8, 6, 0,
    0, 0, 31, 21, 196, 137, 0, 0, 0, 13, 73, 68, 65, 84, 120, 218, 99, 252, 207, 192, 80, 15, 0, 4,
    133, 1, 128, 132, 169, 140, 33, 0, 0, 0, 0, 73, 69, 78, 68, 174, 66, 96, 130,
];

/// A WAV file of eight silent 8-bit mono samples at 8 kHz.
fn silent_wav() -> Vec<u8> {
    let samples = [128u8; 8];
    let mut wav = Vec::with_capacity(44 + samples.len());
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36 + samples.len() as u32).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&16u32.to_le_bytes()); // fmt chunk size
    wav.extend_from_slice(&1u16.to_le_bytes()); // PCM
    wav.extend_from_slice(&1u16.to_le_bytes()); // mono
    wav.extend_from_slice(&8000u32.to_le_bytes()); // sample rate
    wav.extend_from_slice(&8000u32.to_le_bytes()); // byte rate
    wav.extend_from_slice(&1u16.to_le_bytes()); // block align
    wav.extend_from_slice(&8u16.to_le_bytes()); // bits per sample
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&(samples.len() as u32).to_le_bytes());
    wav.extend_from_slice(&samples);
    wav
}

#[cordon_sdk::tool(toolbox, description = "Returns simple text content")]
fn test_simple_text(_: NoInput) -> Result<Reply, Error> {
    Ok(Reply::new().text("This is a simple text response for testing."))
}

#[cordon_sdk::tool(toolbox, description = "Returns an image (a 1x1 red PNG)")]
fn test_image_content(_: NoInput) -> Result<Reply, Error> {
    Ok(Reply::new().image(RED_PIXEL_PNG, "image/png"))
}

#[cordon_sdk::tool(toolbox, description = "Returns audio (a short silent WAV)")]
fn test_audio_content(_: NoInput) -> Result<Reply, Error> {
    Ok(Reply::new().audio(silent_wav(), "audio/wav"))
}

#[cordon_sdk::tool(toolbox, description = "Returns an embedded text resource")]
fn test_embedded_resource(_: NoInput) -> Result<Reply, Error> {
    Ok(Reply::new().embedded_text(
        "test://embedded-resource",
        Some("text/plain"),
        "This is an embedded resource content.",
    ))
}

#[cordon_sdk::tool(
    toolbox,
    description = "Returns text, an image and an embedded resource"
)]
fn test_multiple_content_types(_: NoInput) -> Result<Reply, Error> {
    Ok(Reply::new()
        .text("Multiple content types test:")
        .image(RED_PIXEL_PNG, "image/png")
        .embedded_text(
            "test://mixed-content-resource",
            Some("application/json"),
            r#"{"test":"data","value":123}"#,
        ))
}

#[cordon_sdk::tool(toolbox, description = "Always fails, with a message for the model")]
fn test_error_handling(_: NoInput) -> Result<Reply, Error> {
    Err(Error::failed(
        "This tool intentionally returns an error for testing",
    ))
}

#[cordon_sdk::tool(toolbox, description = "Reports progress three times, then answers")]
fn test_tool_with_progress(_: NoInput) -> Result<Reply, Error> {
    for done in [0, 50, 100] {
        cordon_sdk::progress(done, Some(100), &format!("{done} of 100"));
        // Apart by more than the default shortest interval between forwarded reports (100 ms).
        std::thread::sleep(Duration::from_millis(110));
    }
    Ok(Reply::new().text("Progress test completed"))
}

#[cordon_sdk::tool(toolbox, description = "Writes three log messages, then answers")]
fn test_logging_tool(_: NoInput) -> Result<Reply, Error> {
    cordon_sdk::log!(Level::Info, "Tool execution started");
    std::thread::sleep(Duration::from_millis(110));
    cordon_sdk::log!(Level::Info, "Tool processing data");
    std::thread::sleep(Duration::from_millis(110));
    cordon_sdk::log!(Level::Info, "Tool execution completed");
    Ok(Reply::new().text("Logging test completed"))
}

#[cordon_sdk::tool(
    toolbox,
    description = "Declares an input schema with JSON Schema 2020-12 keywords",
    input_schema = r##"{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object","$defs":{"address":{"$anchor":"addressDef","type":"object","properties":{"street":{"type":"string"},"city":{"type":"string"}}}},"properties":{"name":{"type":"string"},"address":{"$ref":"#/$defs/address"},"contactMethod":{"type":"string","enum":["phone","email"]},"phone":{"type":"string"},"email":{"type":"string"}},"allOf":[{"anyOf":[{"required":["phone"]},{"required":["email"]}]}],"if":{"properties":{"contactMethod":{"const":"phone"}},"required":["contactMethod"]},"then":{"required":["phone"]},"else":{"required":["email"]},"additionalProperties":false}"##
)]
fn json_schema_2020_12_tool(_: NoInput) -> Result<Reply, Error> {
    Ok(Reply::new().text("ok"))
}

/// A one-field form: `{field: string}`, required.
fn form(key: &str, message: &str, field: &str, kind: &str) -> Request {
    Request::form(
        key,
        message,
        json!({"type": "object", "properties": {field: {"type": kind}}, "required": [field]}),
    )
}

#[cordon_sdk::tool(toolbox, description = "Asks the user's name, then greets them")]
fn test_input_required_result_elicitation(_: NoInput) -> Result<Reply, Error> {
    let answers = ask([form("user_name", "What is your name?", "name", "string")])?;
    let name = answers
        .accepted("user_name")
        .and_then(|c| c["name"].as_str())
        .unwrap_or("stranger");
    Ok(Reply::new().text(format!("Hello, {name}!")))
}

#[cordon_sdk::tool(toolbox, description = "Asks the client's model a question")]
fn test_input_required_result_sampling(_: NoInput) -> Result<Reply, Error> {
    let answers = ask([Request::prompt(
        "capital_question",
        "What is the capital of France?",
        100,
    )])?;
    let text = answers.text("capital_question").unwrap_or("(no text)");
    Ok(Reply::new().text(format!("The model said: {text}")))
}

#[cordon_sdk::tool(toolbox, description = "Asks for the client's roots")]
fn test_input_required_result_list_roots(_: NoInput) -> Result<Reply, Error> {
    let answers = ask([Request::roots("client_roots")])?;
    let roots: Vec<String> = answers
        .get("client_roots")
        .and_then(|r| r["roots"].as_array())
        .map(|roots| {
            roots
                .iter()
                .filter_map(|r| r["uri"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    Ok(Reply::new().text(format!("Roots: {}", roots.join(", "))))
}

#[cordon_sdk::tool(toolbox, description = "Asks for a confirmation; says whether its state came back")]
fn test_input_required_result_request_state(_: NoInput) -> Result<Reply, Error> {
    ask([form("confirm", "Please confirm", "ok", "boolean")])?;
    // Only a call that came back with the host-sealed state gets this far.
    let said = if cordon_sdk::resumed() { "state-ok" } else { "no state" };
    Ok(Reply::new().text(said))
}

#[cordon_sdk::tool(toolbox, description = "Asks for a form, a completion and the roots at once")]
fn test_input_required_result_multiple_inputs(_: NoInput) -> Result<Reply, Error> {
    let answers = ask([
        form("user_name", "What is your name?", "name", "string"),
        Request::prompt("greeting", "Generate a greeting", 50),
        Request::roots("client_roots"),
    ])?;
    let name = answers
        .accepted("user_name")
        .and_then(|c| c["name"].as_str())
        .unwrap_or("stranger");
    let greeting = answers.text("greeting").unwrap_or("Hello");
    Ok(Reply::new().text(format!("{greeting}, {name}!")))
}

#[cordon_sdk::tool(toolbox, description = "Asks in two rounds, then answers")]
fn test_input_required_result_multi_round(_: NoInput) -> Result<Reply, Error> {
    let first = ask([form("step1", "Step 1: What is your name?", "name", "string")])?;
    let second = ask([form(
        "step2",
        "Step 2: What is your favorite color?",
        "color",
        "string",
    )])?;
    let name = first.accepted("step1").and_then(|c| c["name"].as_str());
    let color = second.accepted("step2").and_then(|c| c["color"].as_str());
    Ok(Reply::new().text(format!(
        "{} likes {}",
        name.unwrap_or("someone"),
        color.unwrap_or("some color")
    )))
}

#[cordon_sdk::tool(toolbox, description = "Asks for a confirmation (its state is sealed)")]
fn test_input_required_result_tampered_state(_: NoInput) -> Result<Reply, Error> {
    ask([form("confirm", "Please confirm", "ok", "boolean")])?;
    Ok(Reply::new().text("confirmed"))
}

#[cordon_sdk::tool(toolbox, description = "Asks only for what this call may ask")]
fn test_input_required_result_capabilities(_: NoInput) -> Result<Reply, Error> {
    let may = cordon_sdk::may_ask();
    let mut asking = Vec::new();
    if may.sample {
        asking.push(Request::prompt("summary", "Summarize the weather", 20));
    }
    if may.elicit_form {
        asking.push(form("user_name", "What is your name?", "name", "string"));
    }
    if asking.is_empty() {
        return Ok(Reply::new().text("nothing this call may ask"));
    }
    ask(asking)?;
    Ok(Reply::new().text("answered"))
}

#[cordon_sdk::tool(toolbox, description = "Needs the client's model (sampling)")]
fn test_missing_capability(_: NoInput) -> Result<Reply, Error> {
    let answers = ask([Request::prompt("needed", "Say hello", 10)])?;
    Ok(Reply::new().text(answers.text("needed").unwrap_or("")))
}

#[cordon_sdk::tool(toolbox, description = "Asks the user for a value")]
fn test_streaming_elicitation(_: NoInput) -> Result<Reply, Error> {
    let answers = ask([form("value", "Enter a value", "value", "string")])?;
    let value = answers.accepted("value").and_then(|c| c["value"].as_str());
    Ok(Reply::new().text(format!("Got {}", value.unwrap_or("nothing"))))
}

#[cordon_sdk::tool(
    toolbox,
    description = "Takes a region, which clients also send as the Mcp-Param-Region header",
    input_schema = r#"{"type":"object","properties":{"region":{"type":"string","x-mcp-header":"Region"}},"required":["region"]}"#
)]
fn test_custom_header(input: NoInput) -> Result<Reply, Error> {
    let region = input.get("region").and_then(Value::as_str).unwrap_or("");
    Ok(Reply::new().text(format!("region {region}")))
}

// The tasks extension's fixtures (`tasks-*` scenarios). cordon answers whatever a tool replies
// within half a second in the request (an input request as an `InputRequiredResult`); a call
// still running then becomes a task, which waits for input as `input_required`. The fixtures
// that stand for long work therefore work for a second before they answer or ask, as a real
// task would.

/// Stands for a second of work, reported as progress.
fn work(what: &str) {
    cordon_sdk::progress(0, Some(1), what);
    std::thread::sleep(Duration::from_secs(1));
}

#[derive(Deserialize, JsonSchema)]
struct Named {
    name: String,
}

#[cordon_sdk::tool(
    toolbox,
    task = "forbidden",
    title = "Greeting",
    description = "Greets someone (never a task)"
)]
fn greet(input: Named) -> Result<Reply, Error> {
    Ok(Reply::new().text(format!("Hello, {}!", input.name)))
}

#[derive(Deserialize, JsonSchema)]
struct Compute {
    /// How long the computation takes.
    seconds: f64,
    /// A name for it, repeated in the answer.
    #[serde(default)]
    label: Option<String>,
}

#[cordon_sdk::tool(
    toolbox,
    task = "optional",
    description = "Computes for `seconds` seconds (0 answers at once), reporting progress"
)]
fn slow_compute(input: Compute) -> Result<Reply, Error> {
    if !(0.0..=600.0).contains(&input.seconds) {
        return Err(Error::invalid_input("seconds is 0 to 600"));
    }
    let total = (input.seconds * 10.0).round() as u64;
    for tenth in 0..total {
        if tenth % 10 == 0 {
            cordon_sdk::progress(tenth / 10, Some(total.div_ceil(10)), "computing");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let label = input.label.as_deref().unwrap_or("computation");
    Ok(Reply::new().text(format!("{label} done after {} s", input.seconds)))
}

#[cordon_sdk::tool(
    toolbox,
    task = "required",
    description = "Works a second, then fails (a tool error); clients must take tasks"
)]
fn failing_job(_: NoInput) -> Result<Reply, Error> {
    work("working");
    Err(Error::failed("the job failed, as it always does"))
}

#[cordon_sdk::tool(
    toolbox,
    task = "optional",
    description = "Works a second, then crashes (a protocol error, not a tool error)"
)]
fn protocol_error_job(_: NoInput) -> Result<Reply, Error> {
    work("working");
    panic!("protocol_error_job crashes, as it always does");
}

#[derive(Deserialize, JsonSchema)]
struct Deletion {
    filename: String,
}

#[cordon_sdk::tool(
    toolbox,
    task = "optional",
    destructive = true,
    description = "Looks for a file, then asks the user to confirm deleting it"
)]
fn confirm_delete(input: Deletion) -> Result<Reply, Error> {
    if !resumed() {
        work("looking for the file");
    }
    let answers = ask([form(
        "confirm",
        &format!("Delete {}?", input.filename),
        "confirm",
        "boolean",
    )])?;
    let confirmed = answers
        .accepted("confirm")
        .and_then(|c| c["confirm"].as_bool())
        .unwrap_or(false);
    Ok(Reply::new().text(if confirmed {
        format!("Deleted {}", input.filename)
    } else {
        format!("Kept {}", input.filename)
    }))
}

#[cordon_sdk::tool(
    toolbox,
    task = "optional",
    description = "Works a second, then asks two questions at once"
)]
fn multi_input(_: NoInput) -> Result<Reply, Error> {
    if !resumed() {
        work("preparing");
    }
    let answers = ask([
        form("name", "What is your name?", "name", "string"),
        form("confirm", "Go ahead?", "confirm", "boolean"),
    ])?;
    let name = answers.accepted("name").and_then(|c| c["name"].as_str());
    let go = answers
        .accepted("confirm")
        .and_then(|c| c["confirm"].as_bool());
    Ok(Reply::new().text(format!(
        "{} said {}",
        name.unwrap_or("someone"),
        if go == Some(true) { "go" } else { "stop" }
    )))
}

#[cordon_sdk::tool(
    toolbox,
    task = "required",
    description = "Asks the user's name at once, then works a second as a task and greets them"
)]
fn test_tool_with_task(_: NoInput) -> Result<Reply, Error> {
    let answers = ask([form("user_name", "What is your name?", "name", "string")])?;
    let name = answers
        .accepted("user_name")
        .and_then(|c| c["name"].as_str())
        .unwrap_or("stranger")
        .to_owned();
    work("greeting");
    Ok(Reply::new().text(format!("Hello, {name}! (from a task)")))
}

cordon_sdk::toolbox!(
    name = "conformance";
    description = "The MCP conformance suite's fixture tools";
    test_simple_text,
    test_image_content,
    test_audio_content,
    test_embedded_resource,
    test_multiple_content_types,
    test_error_handling,
    test_tool_with_progress,
    test_logging_tool,
    json_schema_2020_12_tool,
    test_input_required_result_elicitation,
    test_input_required_result_sampling,
    test_input_required_result_list_roots,
    test_input_required_result_request_state,
    test_input_required_result_multiple_inputs,
    test_input_required_result_multi_round,
    test_input_required_result_tampered_state,
    test_input_required_result_capabilities,
    test_missing_capability,
    test_streaming_elicitation,
    test_custom_header,
    greet,
    slow_compute,
    failing_job,
    protocol_error_job,
    confirm_delete,
    multi_input,
    test_tool_with_task
);

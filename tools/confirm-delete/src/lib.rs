//! `confirm-delete`: deletes files from `/scratch` (the directory its policy mounts writable),
//! but only once the user has confirmed, through their client, the list it is about to delete
//! (contract 0.2.0: asking for input). Declined: nothing is deleted.

use cordon_sdk::{Error, JsonSchema, Reply, Request, ask};
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize, JsonSchema)]
struct Input {
    /// Files to delete, by name, in `/scratch`.
    names: Vec<String>,
}

#[cordon_sdk::tool]
fn confirm_delete(input: Input) -> Result<Reply, Error> {
    if input.names.is_empty() {
        return Err(Error::invalid_input("name at least one file"));
    }
    // A name, not a path: nothing outside the directory (the mount allows nothing else
    // anyway), and no hidden file (the directory's own `.keep`).
    if let Some(bad) = input
        .names
        .iter()
        .find(|n| n.is_empty() || n.contains('/') || n.starts_with('.'))
    {
        return Err(Error::invalid_input(format!("{bad:?} is not a file name")));
    }
    let present: Vec<&String> = input
        .names
        .iter()
        .filter(|n| std::fs::metadata(format!("/scratch/{n}")).is_ok_and(|m| m.is_file()))
        .collect();
    if present.is_empty() {
        return Ok(Reply::new().text("none of these files exist; nothing to delete"));
    }
    let answers = ask([Request::form(
        "confirm",
        format!(
            "Delete {} file(s) from the scratch directory: {}?",
            present.len(),
            present
                .iter()
                .map(|n| n.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        json!({
            "type": "object",
            "properties": {"delete": {"type": "boolean", "title": "Delete them"}},
            "required": ["delete"],
        }),
    )])?;
    let confirmed = answers
        .accepted("confirm")
        .and_then(|c| c["delete"].as_bool())
        == Some(true);
    if !confirmed {
        return Ok(Reply::new().text("not confirmed; nothing deleted"));
    }
    for name in &present {
        std::fs::remove_file(format!("/scratch/{name}"))?;
    }
    Ok(Reply::new().text(format!("deleted {} file(s)", present.len())))
}

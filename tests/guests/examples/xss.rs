//! A tool whose every string is markup: its description, its input schema's title and field
//! description, its output and its error. The console's browser test publishes it and checks
//! that each shows as text and none of it runs (each payload would set `window.__xss`).

use cordon_sdk::Error;
use serde::Deserialize;

#[derive(Deserialize, schemars::JsonSchema)]
#[schemars(title = "<img src=x onerror=\"window.__xss='schema title'\">")]
struct Input {
    /// <img src=x onerror="window.__xss='field description'"> Fail with this message when set.
    #[serde(default)]
    fail: Option<String>,
}

#[cordon_sdk::tool(
    name = "xss-probe",
    description = "<img src=x onerror=\"window.__xss='description'\"><script>window.__xss='description script'</script>"
)]
fn xss(input: Input) -> Result<String, Error> {
    match input.fail {
        Some(message) => Err(Error::failed(format!(
            "<img src=x onerror=\"window.__xss='error'\">{message}"
        ))),
        None => Ok("<script>window.__xss='output'</script><b>bold?</b>".to_owned()),
    }
}

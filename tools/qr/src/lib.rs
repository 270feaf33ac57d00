//! `qr`: encodes a text as a QR code and returns it as an SVG image (contract 0.2.0 content),
//! with the text it encodes beside it.

use cordon_sdk::{Error, JsonSchema, Reply};
use qrcode::QrCode;
use qrcode::render::svg;
use serde::Deserialize;

#[derive(Deserialize, JsonSchema)]
struct Input {
    /// What the code encodes: a URL, a short text (at most 1,000 bytes).
    text: String,
}

#[cordon_sdk::tool]
fn qr(input: Input) -> Result<Reply, Error> {
    if input.text.is_empty() || input.text.len() > 1000 {
        return Err(Error::invalid_input("text must be 1 to 1000 bytes"));
    }
    let code = QrCode::new(input.text.as_bytes()).map_err(|e| Error::invalid_input(e))?;
    let image = code
        .render::<svg::Color<'_>>()
        .min_dimensions(200, 200)
        .build();
    Ok(Reply::new()
        .text(format!("a QR code of {:?}", input.text))
        .image(image.into_bytes(), "image/svg+xml"))
}

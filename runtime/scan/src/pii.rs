//! `pii`: e-mail addresses, phone numbers, payment card numbers and IBANs.
//!
//! Each shape is narrowed by what real ones satisfy, so that code and identifiers are not
//! taken for personal data: a card number passes the Luhn check and starts as a card network's
//! do; an IBAN has its country's length and its checksum; a phone number is written as one
//! (`+` and a country code, or the North American `(555) 555-0100` shapes) with 8 to 15
//! digits; an e-mail address ends in a top-level domain that is not a file extension
//! (`icon@2x.png` is a file) and is not a git remote (`git@github.com:org/repo`).

use crate::pattern::Pattern;

/// Last labels of would-be e-mail domains that are file extensions in code, not domains.
const FILE_EXTENSIONS: [&str; 30] = [
    "png", "jpg", "jpeg", "gif", "svg", "webp", "ico", "js", "mjs", "ts", "tsx", "jsx", "css",
    "scss", "json", "yaml", "yml", "toml", "lock", "rs", "py", "go", "java", "rb", "php", "html",
    "htm", "md", "txt", "wasm",
];

fn email(text: &str, start: usize, end: usize) -> bool {
    let found = &text[start..end];
    let tld = found
        .rsplit('.')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    if FILE_EXTENSIONS.contains(&tld.as_str()) {
        return false;
    }
    // An SSH remote, `git@host:owner/repo`.
    !(found.starts_with("git@") && text[end..].starts_with(':'))
}

fn digits(s: &str) -> Vec<u8> {
    s.bytes().filter(u8::is_ascii_digit).collect()
}

fn card(text: &str, start: usize, end: usize) -> bool {
    let d = digits(&text[start..end]);
    (13..=19).contains(&d.len()) && crate::checks::luhn(&d) && crate::checks::card_network(&d)
}

fn phone(text: &str, start: usize, end: usize) -> bool {
    (8..=15).contains(&digits(&text[start..end]).len())
}

fn iban(text: &str, start: usize, end: usize) -> bool {
    let compact: Vec<u8> = text[start..end].bytes().filter(|b| *b != b' ').collect();
    crate::checks::iban(&compact)
}

pub(crate) fn patterns() -> Vec<Pattern> {
    vec![
        Pattern::new(
            "email",
            r"\b[A-Za-z0-9._%+-]{1,64}@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}\b",
            0.3,
        )
        .checked(email),
        Pattern::new("card_number", r"\b(?:\d[ -]?){12,18}\d\b", 0.9).checked(card),
        Pattern::new(
            "iban",
            r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b",
            0.7,
        )
        .checked(iban),
        Pattern::new(
            "phone",
            r"(?:\+[1-9]\d{0,2}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{1,4}(?:[ .-]?\d{2,4}){1,4}|\(\d{3}\) ?\d{3}[ .-]\d{4}|\b\d{3}[.-]\d{3}[.-]\d{4})\b",
            0.4,
        )
        .checked(phone),
    ]
}

//! The arithmetic that tells a real number or secret from something that only looks like one:
//! the Luhn check of payment cards, the ISO 13616 checksum of IBANs, and the Shannon entropy
//! of a would-be secret.

/// Whether `digits` (ASCII digits only) pass the Luhn check.
pub(crate) fn luhn(digits: &[u8]) -> bool {
    let mut sum = 0u32;
    for (i, d) in digits.iter().rev().enumerate() {
        let mut n = u32::from(d - b'0');
        if i % 2 == 1 {
            n *= 2;
            if n > 9 {
                n -= 9;
            }
        }
        sum += n;
    }
    !digits.is_empty() && sum.is_multiple_of(10)
}

/// Whether a card number (13-19 digits) starts as a card network's numbers do: Visa, Mastercard,
/// American Express, Discover, JCB, Diners Club, UnionPay, Maestro. A Luhn-valid number with
/// another start (an order number, an id) is not taken for a card.
pub(crate) fn card_network(digits: &[u8]) -> bool {
    let prefix = |n: usize| -> u32 {
        digits[..n.min(digits.len())]
            .iter()
            .fold(0, |acc, d| acc * 10 + u32::from(d - b'0'))
    };
    let len = digits.len();
    match digits.first() {
        Some(b'4') => matches!(len, 13 | 16 | 19),
        Some(b'5') => {
            ((51..=55).contains(&prefix(2)) && len == 16)
                || prefix(2) == 50
                || (56..=58).contains(&prefix(2))
        }
        Some(b'2') => (2221..=2720).contains(&prefix(4)) && len == 16,
        Some(b'3') => {
            (matches!(prefix(2), 34 | 37) && len == 15)
                || (3528..=3589).contains(&prefix(4))
                || matches!(prefix(2), 36 | 38 | 39)
                || (300..=305).contains(&prefix(3))
        }
        Some(b'6') => {
            prefix(4) == 6011
                || prefix(2) == 65
                || (644..=649).contains(&prefix(3))
                || prefix(2) == 62
                || matches!(prefix(2), 63 | 67)
        }
        _ => false,
    }
}

/// IBAN lengths of the countries that use them most; another country code is accepted at any
/// length IBANs have (15-34) when its checksum holds.
const IBAN_LENGTHS: [(&str, usize); 24] = [
    ("AT", 20),
    ("BE", 16),
    ("BG", 22),
    ("CH", 21),
    ("CZ", 24),
    ("DE", 22),
    ("DK", 18),
    ("ES", 24),
    ("FI", 18),
    ("FR", 27),
    ("GB", 22),
    ("GR", 27),
    ("HR", 21),
    ("HU", 28),
    ("IE", 22),
    ("IT", 27),
    ("LU", 20),
    ("NL", 18),
    ("NO", 15),
    ("PL", 28),
    ("PT", 25),
    ("RO", 24),
    ("SE", 24),
    ("SK", 24),
];

/// Whether `iban` (letters and digits, no spaces) is an IBAN: its country's length, and the
/// remainder 1 of ISO 7064 mod 97-10 over the rearranged number.
pub(crate) fn iban(iban: &[u8]) -> bool {
    if !(15..=34).contains(&iban.len()) {
        return false;
    }
    let country = std::str::from_utf8(&iban[..2]).unwrap_or_default();
    if let Some((_, len)) = IBAN_LENGTHS.iter().find(|(c, _)| *c == country)
        && *len != iban.len()
    {
        return false;
    }
    let mut rem = 0u32;
    for &c in iban[4..].iter().chain(&iban[..4]) {
        let v = match c {
            b'0'..=b'9' => u32::from(c - b'0'),
            b'A'..=b'Z' => u32::from(c - b'A') + 10,
            _ => return false,
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem == 1
}

/// Shannon entropy in bits per character.
pub(crate) fn entropy(s: &str) -> f64 {
    let mut counts = [0u32; 256];
    let bytes = s.as_bytes();
    for &b in bytes {
        counts[usize::from(b)] += 1;
    }
    let n = bytes.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum()
}

/// Whether `value` looks like a generated secret rather than a word, a placeholder or a
/// setting: at least 12 characters, no spaces, letters and digits mixed, and spread out
/// (entropy of at least 3 bits per character).
pub(crate) fn secret_like(value: &str) -> bool {
    let v = value.trim();
    if v.len() < 12 || v.len() > 512 || v.contains(char::is_whitespace) {
        return false;
    }
    let lower = v.to_ascii_lowercase();
    const PLACEHOLDERS: [&str; 8] = [
        "your", "example", "changeme", "xxxx", "****", "redacted", "${", "<",
    ];
    if PLACEHOLDERS.iter().any(|p| lower.contains(p)) {
        return false;
    }
    let letters = v.bytes().any(|b| b.is_ascii_alphabetic());
    let digits = v.bytes().any(|b| b.is_ascii_digit());
    letters && digits && entropy(v) >= 3.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_and_the_card_networks() {
        assert!(luhn(b"4111111111111111"));
        assert!(!luhn(b"4111111111111112"));
        assert!(card_network(b"4111111111111111"));
        assert!(card_network(b"5500005555555559"));
        assert!(card_network(b"378282246310005"));
        // Luhn-valid, but no network's numbers start so.
        assert!(luhn(b"1234567812345670"));
        assert!(!card_network(b"1234567812345670"));
    }

    #[test]
    fn iban_checksums_and_lengths() {
        assert!(iban(b"DE89370400440532013000"));
        assert!(iban(b"GB82WEST12345698765432"));
        assert!(!iban(b"DE89370400440532013001"));
        // Right checksum arithmetic is not enough: Germany's IBANs have 22 characters.
        assert!(!iban(b"DE8937040044053201300"));
    }

    #[test]
    fn secrets_are_mixed_and_spread_out_words_and_placeholders_are_not() {
        assert!(secret_like("q8Zr2LxV9pW4mT7s"));
        assert!(!secret_like("correcthorsebatterystaple"));
        assert!(!secret_like("YOUR_API_KEY_HERE"));
        assert!(!secret_like("<your-token-1234>"));
        assert!(!secret_like("aaaaaaaaaaaa1111"));
        assert!(!secret_like("short1"));
    }
}

//! Output for people and for scripts: a table with aligned columns when stdout is a terminal
//! (or when asked), JSON otherwise or with `--json`; times as RFC 3339 in UTC.

use std::io::IsTerminal;

/// Whether to print JSON: asked for, or stdout is not a terminal (a pipe, a file, a script).
pub fn wants_json(json_flag: bool) -> bool {
    json_flag || !std::io::stdout().is_terminal()
}

/// Milliseconds since the Unix epoch as RFC 3339 (UTC, seconds); `-` for none.
pub fn time(ms: Option<i64>) -> String {
    let Some(ms) = ms.filter(|ms| *ms >= 0) else {
        return "-".to_owned();
    };
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms as u64);
    humantime::format_rfc3339_seconds(at).to_string()
}

/// Rows under a header, each column as wide as its widest cell.
pub fn render(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == cells.len() {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<w$}  "));
            }
        }
        out.trim_end().to_owned()
    };
    let mut text = line(header.to_vec());
    text.push('\n');
    for row in rows {
        text.push_str(&line(row.iter().map(String::as_str).collect()));
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_and_times_read_as_dates() {
        let t = render(
            &["ID", "TOOL"],
            &[
                vec!["a".into(), "echo".into()],
                vec!["longer".into(), "x".into()],
            ],
        );
        assert_eq!(t, "ID      TOOL\na       echo\nlonger  x\n");
        assert_eq!(time(Some(0)), "1970-01-01T00:00:00Z");
        assert_eq!(time(None), "-");
    }
}

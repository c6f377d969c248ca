//! Escaping text for the two output languages: HTML and typst markup.

/// Escapes prose so that typst shows it as written, and never breaks a line
/// between a number and its percent sign.
pub fn escape_typst(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        // `;` too: right after a call such as `#strong[...]`, typst would take it as the call's end.
        if "\\#$*_`<>@[]~/=+;".contains(c) {
            out.push('\\');
        }
        match (c, chars.peek()) {
            (' ', Some('%')) => out.push('\u{a0}'),
            _ => out.push(c),
        }
    }
    out
}

/// A typst string literal holding `text`.
pub fn typst_string(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

pub fn escape_html(text: &str) -> String {
    let mut out = String::new();
    pulldown_cmark_escape::escape_html(&mut out, text).expect("writing to a string");
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn typst_text_keeps_a_percent_sign_on_its_numbers_line() {
        assert_eq!(super::escape_typst("97.35 % of #1"), "97.35\u{a0}% of \\#1");
    }
}

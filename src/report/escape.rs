//! Escaping text for the two output languages: HTML and typst markup.

/// Escapes prose so that typst shows it as written.
pub fn escape_typst(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        // `;` too: right after a call such as `#strong[...]`, typst would take it as the call's end.
        if "\\#$*_`<>@[]~/=+;".contains(c) {
            out.push('\\');
        }
        out.push(c);
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

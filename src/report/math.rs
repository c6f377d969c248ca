//! LaTeX-style maths from the answers, as MathML for the HTML report
//! (pulldown-latex) and as typst maths for the PDF (mitex).

use pulldown_latex::config::DisplayMode;
use pulldown_latex::{Parser, RenderConfig, Storage};

/// MathML for `latex`; an error names what the parser could not read.
pub fn to_mathml(latex: &str, display: bool) -> Result<String, String> {
    let storage = Storage::new();
    let events: Vec<_> = Parser::new(latex, &storage).collect();
    if let Some(Err(e)) = events.iter().find(|e| e.is_err()) {
        return Err(format!("cannot read the maths `{latex}`: {e}"));
    }
    let config = RenderConfig {
        display_mode: if display { DisplayMode::Block } else { DisplayMode::Inline },
        annotation: Some(latex),
        ..RenderConfig::default()
    };
    let mut mathml = String::new();
    pulldown_latex::push_mathml(&mut mathml, events.into_iter(), config).map_err(|e| e.to_string())?;
    Ok(mathml)
}

/// Typst maths markup (without the enclosing dollars) for `latex`.
pub fn to_typst(latex: &str) -> Result<String, String> {
    mitex::convert_math(latex, None).map_err(|e| format!("cannot read the maths `{latex}`: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_a_fraction_both_ways() {
        let mathml = to_mathml(r"\frac{a}{b}", true).unwrap();
        assert!(mathml.starts_with("<math") && mathml.contains("<mfrac>"), "{mathml}");
        assert!(mathml.contains(r#"display="block""#), "{mathml}");
        let typst = to_typst(r"\frac{a}{b}").unwrap();
        assert!(typst.contains("frac("), "{typst}");
    }

    #[test]
    fn reports_unreadable_maths() {
        assert!(to_mathml(r"\frac{a}", false).unwrap_err().contains(r"\frac{a}"));
    }
}

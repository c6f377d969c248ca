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
    // pulldown-latex writes the annotation as it is given: escaped here, or
    // `<img onerror=…>` in the source would be markup in the report.
    let mut annotation = String::new();
    pulldown_cmark_escape::escape_html(&mut annotation, latex).expect("writing to a string");
    let config = RenderConfig {
        display_mode: if display { DisplayMode::Block } else { DisplayMode::Inline },
        annotation: Some(&annotation),
        ..RenderConfig::default()
    };
    let mut mathml = String::new();
    pulldown_latex::push_mathml(&mut mathml, events.into_iter(), config).map_err(|e| e.to_string())?;
    Ok(as_mathml_core_reads_it(&mathml))
}

/// The accents that pulldown-latex writes as an identifier over its base.
const ACCENTS: &str = "´‾˘ˇ˙¨`^~→˚";

/// Three fixes to pulldown-latex's MathML, so that a browser lays it out as
/// TeX would: an accent (`\hat z`) is an `<mo>` over its base in a `<mover
/// accent="true">`, not an identifier beside it; `\mu` is the Greek letter,
/// not the micro sign; and a minus that opens a group (`10^{-3}`) is a
/// prefix operator, not an identifier.
fn as_mathml_core_reads_it(mathml: &str) -> String {
    let mut out = mathml.replace('\u{b5}', "\u{3bc}").replace("<mi>\u{2212}</mi>", "<mo form=\"prefix\">\u{2212}</mo>");
    for accent in ACCENTS.chars() {
        let closing = format!("<mi>{accent}</mi></mover>");
        let mut from = 0;
        while let Some(at) = out[from..].find(&closing).map(|i| from + i) {
            let Some(open) = matching_mover(&out[..at]) else { break };
            out.replace_range(at..at + closing.len(), &format!("<mo stretchy=\"false\">{accent}</mo></mover>"));
            out.replace_range(open..open + "<mover>".len(), "<mover accent=\"true\">");
            from = at + closing.len();
        }
    }
    out
}

/// Where the `<mover>` opens whose content `before` ends inside.
fn matching_mover(before: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut end = before.len();
    loop {
        let open = before[..end].rfind("<mover");
        let close = before[..end].rfind("</mover>");
        match (open, close) {
            (Some(o), Some(c)) if c > o => {
                depth += 1;
                end = c;
            }
            (Some(o), _) if depth == 0 => return before[o..].starts_with("<mover>").then_some(o),
            (Some(o), _) => {
                depth -= 1;
                end = o;
            }
            (None, _) => return None,
        }
    }
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
    fn accents_sit_over_their_base_and_greek_and_minus_read_as_tex_means_them() {
        let hat = to_mathml(r"\hat z = \hat{x_1}", false).unwrap();
        assert_eq!(hat.matches("<mover accent=\"true\">").count(), 2, "{hat}");
        assert!(hat.contains("<mi>z</mi><mo stretchy=\"false\">^</mo></mover>"), "{hat}");
        assert!(!hat.contains("<mi>^</mi>"), "{hat}");
        let nested = as_mathml_core_reads_it("<mover><mover><mi>a</mi><mi>b</mi></mover><mi>~</mi></mover>");
        assert_eq!(nested, "<mover accent=\"true\"><mover><mi>a</mi><mi>b</mi></mover><mo stretchy=\"false\">~</mo></mover>");
        let mu = to_mathml(r"\mu_B", false).unwrap();
        assert!(mu.contains("<mi>\u{3bc}</mi>") && !mu.contains('\u{b5}'), "{mu}");
        let minus = to_mathml(r"10^{-3}", false).unwrap();
        assert!(minus.contains("<mo form=\"prefix\">\u{2212}</mo><mn>3</mn>"), "{minus}");
        assert!(to_mathml("a - b", false).unwrap().contains("<mo>\u{2212}</mo>"));
    }

    #[test]
    fn markup_in_the_source_stays_text_in_the_annotation() {
        let mathml = to_mathml("x <img src=x onerror=alert(1)> y", false).unwrap();
        assert!(!mathml.contains("<img"), "{mathml}");
        assert!(mathml.contains("&lt;img src=x onerror=alert(1)&gt;"), "{mathml}");
    }

    #[test]
    fn reports_unreadable_maths() {
        assert!(to_mathml(r"\frac{a}", false).unwrap_err().contains(r"\frac{a}"));
    }
}

//! The answers: one Markdown + minijinja file per question under `answers/`,
//! rendered with the run's results, so that every number in the prose comes
//! from the run. Errors name the file and line.

use std::path::{Path, PathBuf};

use minijinja::value::Value;
use minijinja::{Environment, Error, ErrorKind, UndefinedBehavior};

/// One rendered answer: its source file and the Markdown it produced.
#[derive(Debug, Clone)]
pub struct Answer {
    pub file: PathBuf,
    pub markdown: String,
}

/// The answer files in `dir`, in name order (`q1.md`, `q2.md`, ...).
pub fn files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| anyhow::anyhow!("{}: cannot read the answers directory: {e}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    files.sort();
    if files.is_empty() {
        anyhow::bail!("{}: no answer files (*.md) to render", dir.display());
    }
    Ok(files)
}

/// Renders every answer file with `context`.
pub fn render(files: &[PathBuf], context: &serde_json::Value) -> anyhow::Result<Vec<Answer>> {
    let mut env = environment();
    let sources: Vec<(String, String)> = files
        .iter()
        .map(|f| {
            let text = std::fs::read_to_string(f).map_err(|e| anyhow::anyhow!("{}: cannot be read: {e}", f.display()))?;
            Ok((f.display().to_string(), text))
        })
        .collect::<anyhow::Result<_>>()?;
    for (name, text) in &sources {
        env.add_template_owned(name.clone(), text.clone()).map_err(|e| describe(&e, text))?;
    }
    let context = Value::from_serialize(context);
    files
        .iter()
        .zip(&sources)
        .map(|(file, (name, text))| {
            let markdown = env.get_template(name).and_then(|t| t.render(&context)).map_err(|e| describe(&e, text))?;
            Ok(Answer { file: file.clone(), markdown })
        })
        .collect()
}

/// `FILE:LINE: what went wrong, in `the expression``, as an editor
/// understands it; `source` is the template's text.
fn describe(e: &Error, source: &str) -> anyhow::Error {
    let place = match (e.name(), e.line()) {
        (Some(name), Some(line)) => format!("{name}:{line}: "),
        (Some(name), None) => format!("{name}: "),
        _ => String::new(),
    };
    let detail = e.detail().map(|d| format!(": {d}")).unwrap_or_default();
    let expression = e.range().and_then(|r| source.get(r)).map(|x| format!(", in `{x}`")).unwrap_or_default();
    anyhow::anyhow!("{place}template error: {}{detail}{expression}", e.kind())
}

/// The template environment: strict about undefined values (a typo in a
/// result's name must fail, not print nothing) and with number formatting.
pub fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env.add_filter("pct", pct);
    env.add_filter("num", num);
    env.add_filter("int", int);
    env.add_filter("shape", shape);
    env.add_filter("signed", signed);
    env.add_filter("sci", sci);
    env.add_filter("count", count);
    env
}

fn number(v: &Value, filter: &str) -> Result<f64, Error> {
    f64::try_from(v.clone()).map_err(|_| Error::new(ErrorKind::InvalidOperation, format!("`{filter}` needs a number, got {v}")))
}

/// 0.97345 -> "97.35 %" (`digits` decimals, default 2); a missing value -> "n/a".
fn pct(v: &Value, digits: Option<usize>) -> Result<String, Error> {
    if v.is_none() {
        return Ok("n/a".into());
    }
    Ok(format!("{:.*} %", digits.unwrap_or(2), number(v, "pct")? * 100.0))
}

/// A number with `digits` decimals (default 3); a missing value -> "n/a".
fn num(v: &Value, digits: Option<usize>) -> Result<String, Error> {
    if v.is_none() {
        return Ok("n/a".into());
    }
    Ok(format!("{:.*}", digits.unwrap_or(3), number(v, "num")?))
}

/// A difference with its sign: 0.0042 -> "+0.42" percentage points when `pp`.
fn signed(v: &Value, digits: Option<usize>) -> Result<String, Error> {
    Ok(format!("{:+.*}", digits.unwrap_or(2), number(v, "signed")?))
}

/// 3.1623e-5 -> "$3.16 \times 10^{-5}$" (`digits` decimals, default 2), as maths.
fn sci(v: &Value, digits: Option<usize>) -> Result<String, Error> {
    let x = number(v, "sci")?;
    if x == 0.0 {
        return Ok("$0$".into());
    }
    let exponent = x.abs().log10().floor() as i32;
    let mantissa = x / 10f64.powi(exponent);
    let mantissa = format!("{mantissa:.*}", digits.unwrap_or(2));
    Ok(match mantissa.trim_end_matches('0').trim_end_matches('.') {
        "1" => format!("$10^{{{exponent}}}$"),
        m => format!("${m} \\times 10^{{{exponent}}}$"),
    })
}

/// 55050 -> "55,050".
fn int(v: &Value) -> Result<String, Error> {
    let n = number(v, "int")?.round() as i64;
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    Ok(if n < 0 { format!("-{out}") } else { out })
}

/// 1 | count("thread") -> "1 thread"; 2 -> "2 threads".
fn count(v: &Value, noun: String) -> Result<String, Error> {
    let n = number(v, "count")?;
    Ok(format!("{} {noun}{}", int(v)?, if n == 1.0 { "" } else { "s" }))
}

/// [60000, 28, 28] -> "(60000, 28, 28)".
fn shape(v: &Value) -> Result<String, Error> {
    let dims: Vec<String> =
        v.try_iter().map_err(|_| Error::new(ErrorKind::InvalidOperation, "`shape` needs a list"))?.map(|d| d.to_string()).collect();
    Ok(format!("({})", dims.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render_str(template: &str, ctx: serde_json::Value) -> Result<String, String> {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("q9.md");
        std::fs::write(&file, template).unwrap();
        render(&[file], &ctx).map(|a| a[0].markdown.clone()).map_err(|e| e.to_string())
    }

    #[test]
    fn formats_numbers_from_the_context() {
        let ctx = serde_json::json!({"acc": 0.97346, "n": 55050, "s": [60000, 28, 28], "x": null, "d": 0.0042, "f": 3.1623e-5, "g": 1e-3});
        let out =
            render_str("{{ acc | pct }} {{ acc | num(2) }} {{ n | int }} {{ s | shape }} {{ x | pct }} {{ d | signed(4) }}", ctx.clone());
        assert_eq!(out.unwrap(), "97.35 % 0.97 55,050 (60000, 28, 28) n/a +0.0042");
        let out = render_str("{{ f | sci }} {{ g | sci }} {{ 0 | sci }}", ctx);
        assert_eq!(out.unwrap(), r"$3.16 \times 10^{-5}$ $10^{-3}$ $0$");
        let out = render_str(
            r#"{{ 1 | count("thread") }}, {{ 2 | count("CPU thread") }}, {{ n | count("image") }}"#,
            serde_json::json!({"n": 55050}),
        );
        assert_eq!(out.unwrap(), "1 thread, 2 CPU threads, 55,050 images");
    }

    #[test]
    fn an_undefined_value_names_file_and_line() {
        let err = render_str("line one\n\n{{ results.typo }}\n", serde_json::json!({})).unwrap_err();
        assert!(err.contains("q9.md:3: template error"), "{err}");
        assert!(err.contains("results.typo"), "names the value: {err}");
    }

    #[test]
    fn a_syntax_error_names_file_and_line() {
        let err = render_str("ok\n{% for x in %}\n", serde_json::json!({})).unwrap_err();
        assert!(err.contains("q9.md:2: template error: syntax error"), "{err}");
    }
}

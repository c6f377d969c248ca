//! The answers: one Markdown + minijinja file per question under `answers/`,
//! rendered with the run's results, so that every number in the prose comes
//! from the run. Errors name the file and line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use minijinja::value::Value;
use minijinja::{Environment, Error, ErrorKind, UndefinedBehavior};

use super::trace::{self, Traced};

/// One rendered answer: its source file and the Markdown it produced,
/// each printed value marked with where it came from (`trace`).
#[derive(Debug, Clone)]
pub struct Answer {
    pub file: PathBuf,
    pub markdown: String,
}

impl Answer {
    /// The Markdown as the reader sees it, without the marks.
    pub fn plain(&self) -> String {
        trace::strip(&self.markdown)
    }
}

/// The answers, and every value they print with the field it came from.
#[derive(Debug)]
pub struct Rendered {
    pub answers: Vec<Answer>,
    pub traced: Vec<Traced>,
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

/// Renders every answer file with `context`; the `*.jinja` files beside
/// them are partials that an answer imports by file name (`{% from
/// "ablation.jinja" import ... %}`); `code(file, region)` in a template quotes that region of a source file of the project (the
/// answers directory's parent), `table(caption, name)` numbers a table and
/// `table_ref(name)` refers to it by its number, before or after it.
pub fn render(files: &[PathBuf], context: &serde_json::Value) -> anyhow::Result<Rendered> {
    let sources: Vec<(String, String)> = files
        .iter()
        .map(|f| {
            let text = std::fs::read_to_string(f).map_err(|e| anyhow::anyhow!("{}: cannot be read: {e}", f.display()))?;
            Ok((f.display().to_string(), text))
        })
        .collect::<anyhow::Result<_>>()?;
    let partials = partials(files.first().and_then(|f| f.parent()))?;
    let traced = |recorder| {
        // The first pass learns every table's number, so that the second can
        // refer to a table that comes later.
        let (_, numbers) = render_pass(files, &sources, &partials, context, None, Some(&trace::Recorder::default()))?;
        render_pass(files, &sources, &partials, context, Some(numbers), Some(recorder))
    };
    let recorder = trace::Recorder::default();
    match traced(&recorder) {
        Ok((answers, _)) => Ok(Rendered { answers, traced: recorder.take() }),
        // An error is told where it is in the file as written, not as traced.
        Err(traced_error) => match render_pass(files, &sources, &partials, context, None, None) {
            Err(e) => Err(e),
            Ok(_) => Err(traced_error),
        },
    }
}

/// The `*.jinja` partials in `dir`, each by its file name, with its text.
fn partials(dir: Option<&Path>) -> anyhow::Result<Vec<(String, String)>> {
    let Some(dir) = dir else { return Ok(Vec::new()) };
    let mut partials = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| anyhow::anyhow!("{}: cannot read the answers directory: {e}", dir.display()))? {
        let path = entry?.path();
        if path.extension().is_some_and(|x| x == "jinja") {
            let text = std::fs::read_to_string(&path).map_err(|e| anyhow::anyhow!("{}: cannot be read: {e}", path.display()))?;
            partials.push((path.file_name().unwrap_or_default().to_string_lossy().into_owned(), text));
        }
    }
    partials.sort();
    Ok(partials)
}

/// Tables are numbered in the order the answers render them, once for both outputs.
#[derive(Default)]
struct Tables {
    count: usize,
    by_name: BTreeMap<String, usize>,
}

fn render_pass(
    files: &[PathBuf],
    sources: &[(String, String)],
    partials: &[(String, String)],
    context: &serde_json::Value,
    known: Option<BTreeMap<String, usize>>,
    recorder: Option<&trace::Recorder>,
) -> anyhow::Result<(Vec<Answer>, BTreeMap<String, usize>)> {
    let mut env = environment();
    if let Some(recorder) = recorder {
        recorder.install(&mut env, context);
    }
    let project_dir = files.first().and_then(|f| f.parent()?.parent()).map(Path::to_path_buf).unwrap_or_default();
    env.add_function("code", move |file: String, region: String| code_excerpt(&project_dir, &file, &region));
    let tables = Arc::new(Mutex::new(Tables::default()));
    let numbering = Arc::clone(&tables);
    env.add_function("table", move |caption: String, name: Option<String>| -> Result<String, Error> {
        let mut tables = numbering.lock().expect("not poisoned");
        tables.count += 1;
        let n = tables.count;
        if let Some(name) = name
            && tables.by_name.insert(name.clone(), n).is_some()
        {
            return Err(Error::new(ErrorKind::InvalidOperation, format!("two tables are named `{name}`")));
        }
        Ok(format!("*Table {n}.* {caption}\n"))
    });
    env.add_function("table_ref", move |name: String| -> Result<String, Error> {
        let Some(known) = &known else { return Ok("Table ?".into()) };
        known.get(&name).map(|n| format!("Table {n}")).ok_or_else(|| {
            let names: Vec<&str> = known.keys().map(String::as_str).collect();
            Error::new(ErrorKind::InvalidOperation, format!("no table is named `{name}`; the named tables are: {}", names.join(", ")))
        })
    });
    let sources: Vec<(String, String)> = sources
        .iter()
        .chain(partials)
        .map(|(name, text)| (name.clone(), if recorder.is_some() { trace::instrument(text) } else { text.clone() }))
        .collect();
    for (name, text) in &sources {
        env.add_template_owned(name.clone(), text.clone()).map_err(|e| describe(&e, text))?;
    }
    let context = Value::from_serialize(context);
    let answers = files
        .iter()
        .zip(&sources)
        .map(|(file, (name, text))| {
            let markdown = env.get_template(name).and_then(|t| t.render(&context)).map_err(|e| describe(&e, text))?;
            Ok(Answer { file: file.clone(), markdown })
        })
        .collect::<anyhow::Result<_>>()?;
    let numbers = std::mem::take(&mut tables.lock().expect("not poisoned").by_name);
    Ok((answers, numbers))
}

/// `FILE:LINE:COLUMN: what went wrong, in `the expression``, as an editor
/// understands it; `source` is the template's text.
fn describe(e: &Error, source: &str) -> anyhow::Error {
    let column = e.range().and_then(|r| source.get(..r.start)).map(|before| before.rsplit('\n').next().unwrap_or("").chars().count() + 1);
    let place = match (e.name(), e.line(), column) {
        (Some(name), Some(line), Some(column)) => format!("{name}:{line}:{column}: "),
        (Some(name), Some(line), None) => format!("{name}:{line}: "),
        (Some(name), None, _) => format!("{name}: "),
        _ => String::new(),
    };
    let detail = e.detail().map(|d| format!(": {d}")).unwrap_or_default();
    let expression = e.range().and_then(|r| source.get(r)).map(|x| format!(", in `{x}`")).unwrap_or_default();
    let quoted = match (e.line(), e.range()) {
        (Some(line), Some(range)) => {
            let text = source.lines().nth(line - 1).unwrap_or("");
            let start = column.unwrap_or(1) - 1;
            let width = source.get(range).map_or(1, |x| x.lines().next().unwrap_or("").chars().count().max(1));
            format!("\n{line:>5} | {text}\n      | {}{}", " ".repeat(start), "^".repeat(width))
        }
        _ => String::new(),
    };
    anyhow::anyhow!("{place}template error: {}{detail}{expression}{quoted}", e.kind())
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
    env.add_filter("one_or_many", one_or_many);
    env.add_filter("duration", duration);
    env.add_filter("numbered", numbered);
    env
}

fn number(v: &Value, filter: &str) -> Result<f64, Error> {
    f64::try_from(v.clone()).map_err(|_| {
        Error::new(
            ErrorKind::InvalidOperation,
            match v.is_undefined() {
                true => format!("`{filter}` needs a number, got an undefined value (a misspelt field?)"),
                false => format!("`{filter}` needs a number, got {v}"),
            },
        )
    })
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
    Ok(true_minus(format!("{:.*}", digits.unwrap_or(3), number(v, "num")?)))
}

/// A number as typeset: a leading hyphen-minus becomes the minus sign (U+2212),
/// in tables as in prose.
fn true_minus(s: String) -> String {
    match s.strip_prefix('-') {
        Some(rest) => format!("\u{2212}{rest}"),
        None => s,
    }
}

/// Seconds as a reader takes them in: "0.04 s", "8.6 s", "11.3 minutes", "1.2 hours".
fn duration(v: &Value) -> Result<String, Error> {
    let seconds = number(v, "duration")?;
    Ok(match seconds {
        s if s < 1.0 => format!("{s:.2} s"),
        s if s < 60.0 => format!("{s:.1} s"),
        s if s < 3600.0 => format!("{:.1} minutes", s / 60.0),
        s => format!("{:.1} hours", s / 3600.0),
    })
}

/// A difference with its sign: 0.0042 -> "+0.42" percentage points when `pp`.
fn signed(v: &Value, digits: Option<usize>) -> Result<String, Error> {
    Ok(true_minus(format!("{:+.*}", digits.unwrap_or(2), number(v, "signed")?)))
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
    Ok(crate::figures::thousands(number(v, "int")?.round() as i64))
}

/// 1 | count("thread") -> "1 thread"; 2 -> "2 threads".
fn count(v: &Value, noun: String) -> Result<String, Error> {
    let n = number(v, "count")?;
    Ok(format!("{} {noun}{}", int(v)?, if n == 1.0 { "" } else { "s" }))
}

/// `items | one_or_many("level", "levels")`: the wording for at most one
/// item, or for more.
fn one_or_many(items: &Value, one: String, many: String) -> Result<String, Error> {
    let n = items.len().ok_or_else(|| Error::new(ErrorKind::InvalidOperation, format!("`one_or_many` needs a list, got {items}")))?;
    Ok(if n > 1 { many } else { one })
}

/// ["Trouser", "Bag"] | numbered -> "0 Trouser, 1 Bag": class names by label.
fn numbered(names: Vec<String>) -> String {
    names.iter().enumerate().map(|(i, name)| format!("{i} {name}")).collect::<Vec<_>>().join(", ")
}

/// The lines of `file` between `// region: NAME` and `// endregion: NAME`,
/// without their common indent, as a fenced Rust block headed by where they
/// come from: the code in the report is the code that ran.
fn code_excerpt(project_dir: &Path, file: &str, region: &str) -> Result<String, Error> {
    let fail = |why: String| Error::new(ErrorKind::InvalidOperation, format!("code(\"{file}\", \"{region}\"): {why}"));
    let text = std::fs::read_to_string(project_dir.join(file)).map_err(|e| fail(format!("cannot read {file}: {e}")))?;
    let lines: Vec<&str> = text.lines().collect();
    let marker = |kind: &str| lines.iter().position(|l| l.trim() == format!("// {kind}: {region}"));
    let (Some(start), Some(end)) = (marker("region"), marker("endregion")) else {
        return Err(fail(format!("{file} has no region marked `// region: {region}` ... `// endregion: {region}`")));
    };
    if end <= start + 1 {
        return Err(fail(format!("the region in {file} is empty")));
    }
    let body = &lines[start + 1..end];
    let indent = body.iter().filter(|l| !l.trim().is_empty()).map(|l| l.len() - l.trim_start().len()).min().unwrap_or(0);
    let code: Vec<&str> = body.iter().map(|l| l.get(indent..).unwrap_or("")).collect();
    Ok(format!("*From `{file}`, lines {}–{}:*\n\n```rust\n{}\n```\n", start + 2, end, code.join("\n")))
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
        render(&[file], &ctx).map(|r| r.answers[0].plain()).map_err(|e| e.to_string())
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
        let out = render_str(
            r#"{{ [] | one_or_many("one", "many") }} {{ [1] | one_or_many("level", "levels") }} {{ [1, 2] | one_or_many("level", "levels") }}"#,
            serde_json::json!({}),
        );
        assert_eq!(out.unwrap(), "one level levels");
        assert!(render_str(r#"{{ 3 | one_or_many("a", "b") }}"#, serde_json::json!({})).unwrap_err().contains("needs a list"));
        let out = render_str(
            "{{ -0.5 | signed }} {{ -3 | num(1) }} {{ -1234 | int }} {{ 0.042 | duration }} {{ 8.64 | duration }} {{ 678 | duration }} {{ 4320 | duration }}",
            serde_json::json!({}),
        );
        assert_eq!(out.unwrap(), "\u{2212}0.50 \u{2212}3.0 \u{2212}1,234 0.04 s 8.6 s 11.3 minutes 1.2 hours");
    }

    #[test]
    fn code_quotes_a_marked_region_of_a_source_file_and_names_a_missing_one() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("answers")).unwrap();
        std::fs::create_dir_all(dir.path().join("src")).unwrap();
        std::fs::write(
            dir.path().join("src/a.rs"),
            "fn f() {\n    // region: body\n    let x = 1;\n        x + 1\n    // endregion: body\n}\n",
        )
        .unwrap();
        let answer = dir.path().join("answers/q9.md");
        std::fs::write(&answer, "{{ code(\"src/a.rs\", \"body\") }}").unwrap();
        let out = render(std::slice::from_ref(&answer), &serde_json::json!({})).unwrap().answers;
        assert_eq!(out[0].plain(), "*From `src/a.rs`, lines 3–4:*\n\n```rust\nlet x = 1;\n    x + 1\n```\n");
        std::fs::write(&answer, "text\n{{ code(\"src/a.rs\", \"missing\") }}").unwrap();
        let err = render(&[answer], &serde_json::json!({})).unwrap_err().to_string();
        assert!(err.contains("q9.md:2") && err.contains("src/a.rs has no region marked `// region: missing`"), "{err}");
    }

    #[test]
    fn tables_are_numbered_in_the_order_the_answers_render() {
        let dir = tempfile::tempdir().unwrap();
        let (first, second) = (dir.path().join("q1.md"), dir.path().join("q2.md"));
        std::fs::write(&first, "{{ table(\"A\") }}\n| a |\n|---|\n").unwrap();
        std::fs::write(&second, "{{ table(\"B\") }}\n{{ table(\"C\") }}").unwrap();
        let out = render(&[first, second], &serde_json::json!({})).unwrap().answers;
        assert_eq!(out[0].plain(), "*Table 1.* A\n\n| a |\n|---|");
        assert_eq!(out[1].plain(), "*Table 2.* B\n\n*Table 3.* C\n");
    }

    #[test]
    fn a_table_is_referred_to_by_its_number_before_and_after_it_and_a_wrong_name_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let (first, second) = (dir.path().join("q1.md"), dir.path().join("q2.md"));
        std::fs::write(&first, "As {{ table_ref(\"costs\") }} shows.\n{{ table(\"A\", \"first\") }}").unwrap();
        std::fs::write(&second, "{{ table(\"B\", \"costs\") }}\nSee {{ table_ref(\"first\") }}.").unwrap();
        let out = render(&[first.clone(), second.clone()], &serde_json::json!({})).unwrap().answers;
        assert_eq!(out[0].plain(), "As Table 2 shows.\n*Table 1.* A\n");
        assert_eq!(out[1].plain(), "*Table 2.* B\n\nSee Table 1.");
        std::fs::write(&second, "{{ table(\"B\", \"costs\") }}\nSee {{ table_ref(\"cost\") }}.").unwrap();
        let err = render(&[first.clone(), second.clone()], &serde_json::json!({})).unwrap_err().to_string();
        assert!(err.contains("q2.md:2") && err.contains("no table is named `cost`; the named tables are: costs, first"), "{err}");
        std::fs::write(&second, "{{ table(\"B\", \"first\") }}").unwrap();
        let err = render(&[first, second], &serde_json::json!({})).unwrap_err().to_string();
        assert!(err.contains("two tables are named `first`"), "{err}");
    }

    #[test]
    fn an_undefined_value_names_file_and_line() {
        let err = render_str("line one\n\n{{ results.typo }}\n", serde_json::json!({})).unwrap_err();
        assert!(err.contains("q9.md:3:4: template error"), "{err}");
        assert!(err.contains("results.typo"), "names the value: {err}");
        let err = render_str("line one\n{{ results.typo | pct }}\n", serde_json::json!({"results": {}})).unwrap_err();
        assert!(err.contains("got an undefined value"), "{err}");
        assert!(
            err.ends_with("    2 | {{ results.typo | pct }}\n      |                   ^^^"),
            "quotes the line and points at it: {err}"
        );
    }

    #[test]
    fn a_syntax_error_names_file_and_line() {
        let err = render_str("ok\n{% for x in %}\n", serde_json::json!({})).unwrap_err();
        assert!(err.contains("q9.md:2:13: template error: syntax error"), "{err}");
    }
}

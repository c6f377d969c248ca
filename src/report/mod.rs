//! The report: answers rendered with the results, then one HTML file and
//! one PDF from the same rendered Markdown, with the figures drawn here from
//! the results (`crate::figures`).

pub mod answers;
pub mod escape;
pub mod markdown;
pub mod math;
pub mod pdf;
pub mod trace;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};
use typst::foundations::Datetime;

use crate::cache::write_atomic;
use crate::figures::Figure;
use crate::manifest::RunInfo;
use crate::runner::Computed;
use markdown::Figures;

/// The front page's facts that are not the run's: `report.toml`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportConfig {
    pub title: String,
    pub course: String,
    pub group: String,
    pub members: Vec<Member>,
    /// The noise level from which the group finds the noisy images of
    /// question 4 B hard to identify, judged from the examples' figure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub q4_noisy_hard_from: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Member {
    pub name: String,
    pub hours: f64,
}

impl ReportConfig {
    pub fn load(path: &Path) -> anyhow::Result<ReportConfig> {
        let text = std::fs::read_to_string(path).with_context(|| format!("{}: cannot be read", path.display()))?;
        toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
    }

    /// What the group has still to fill in: the template's placeholders
    /// ("fill in"), members without hours, and its own reading of question
    /// 4 B's examples.
    pub fn placeholders(&self) -> Vec<String> {
        let mut left = Vec::new();
        let placeholder = |s: &str| s.to_lowercase().contains("fill in") || s.trim().is_empty();
        if placeholder(&self.group) {
            left.push(format!("group = {:?}", self.group));
        }
        if self.members.is_empty() {
            left.push("members: none listed".into());
        }
        for m in &self.members {
            if placeholder(&m.name) {
                left.push(format!("a member named {:?}", m.name));
            } else if m.hours <= 0.0 {
                left.push(format!("{}'s hours ({})", m.name, m.hours));
            }
        }
        if self.q4_noisy_hard_from.is_none() {
            left.push("q4_noisy_hard_from (your own reading of question 4 B's examples)".into());
        }
        left
    }
}

pub struct Inputs<'a> {
    /// Every experiment's result, in the report's order.
    pub results: &'a [Computed],
    pub run: &'a RunInfo,
    pub report: &'a ReportConfig,
    /// Holds `answers/` and `templates/`.
    pub project_dir: &'a Path,
    pub out_dir: &'a Path,
    /// Each experiment whose result is not the current code's, and why
    /// (a preview renders what it has; a built report has none).
    pub stale: &'a BTreeMap<String, String>,
}

/// The rendered report, in memory until every part of it has rendered.
pub struct Outputs {
    pub pdf: Vec<u8>,
    pub html: String,
    pub pages: usize,
    /// Each figure's file name and SVG.
    pub figures: BTreeMap<String, String>,
    /// The values printed without a field of the results behind them:
    /// `answers/q2.md: \`a - b\``.
    pub untraced: Vec<String>,
}

impl Outputs {
    /// Writes the figures, the HTML and the PDF under `out`, and returns
    /// their paths. Nothing is written before everything has rendered, so a
    /// failed render leaves the previous outputs as they were.
    pub fn write(&self, out: &Path) -> anyhow::Result<Vec<PathBuf>> {
        let mut paths = Vec::new();
        for (file, bytes) in self.files() {
            let path = out.join(file);
            write_atomic(&path, bytes)?;
            paths.push(path);
        }
        Ok(paths)
    }

    /// Each output file's path under the output directory, and its bytes.
    pub fn files(&self) -> Vec<(String, &[u8])> {
        let figures = self.figures.iter().map(|(file, svg)| (format!("figures/{file}"), svg.as_bytes()));
        figures.chain([("report.html".to_owned(), self.html.as_bytes()), ("report.pdf".to_owned(), &self.pdf[..])]).collect()
    }
}

/// The SHA-256 of every file the report's words and layout come from (the
/// answers, the templates and `report.toml`), by path under `project_dir`:
/// the report's counterpart of the code fingerprint.
pub fn sources(project_dir: &Path) -> anyhow::Result<BTreeMap<String, String>> {
    let mut hashes = BTreeMap::new();
    for dir in ["answers", "templates"] {
        let listed =
            std::fs::read_dir(project_dir.join(dir)).with_context(|| format!("{}: cannot be read", project_dir.join(dir).display()))?;
        for entry in listed {
            let path = entry?.path();
            if path.is_file() {
                let name = format!("{dir}/{}", path.file_name().unwrap_or_default().to_string_lossy());
                hashes.insert(name, crate::data::sha256_hex(&std::fs::read(&path)?));
            }
        }
    }
    let toml = project_dir.join("report.toml");
    hashes.insert(
        "report.toml".into(),
        crate::data::sha256_hex(&std::fs::read(&toml).with_context(|| format!("{}: cannot be read", toml.display()))?),
    );
    Ok(hashes)
}

/// Draws the figures, renders the answers and lays out both outputs.
pub fn build(inputs: &Inputs) -> anyhow::Result<Outputs> {
    let prepared = prepare(inputs)?;
    let html = build_html(inputs, &prepared)?;
    let (pdf, pages) = build_pdf(inputs, &prepared)?;
    Ok(Outputs { pdf, html, pages, untraced: prepared.untraced(), figures: prepared.figures.svgs })
}

/// The HTML report alone (what a preview shows), and its untraced values.
pub fn html(inputs: &Inputs) -> anyhow::Result<(String, Vec<String>)> {
    let prepared = prepare(inputs)?;
    Ok((build_html(inputs, &prepared)?, prepared.untraced()))
}

/// What both outputs are laid out from.
struct Prepared {
    answers: Vec<answers::Answer>,
    figures: Figures,
    context: serde_json::Value,
    sources: trace::Sources,
}

impl Prepared {
    /// `answers/q2.md: \`a - b\``: each value printed without a field of the results behind it.
    fn untraced(&self) -> Vec<String> {
        let mut untraced: Vec<String> = Vec::new();
        for value in self.sources.untraced().map(|s| format!("{}: `{}`", s.template, s.expression)) {
            if !untraced.contains(&value) {
                untraced.push(value);
            }
        }
        untraced
    }
}

fn prepare(inputs: &Inputs) -> anyhow::Result<Prepared> {
    let data = &inputs.run.data;
    let classes = crate::figures::Classes((!data.digits).then(|| data.class_names.clone()));
    let drawn: Vec<(&Computed, Vec<Figure>)> = inputs
        .results
        .iter()
        .map(|c| {
            let figures = crate::figures::of(c.id, &c.entry.inputs.config, &c.entry.result, &classes)
                .with_context(|| format!("{}: drawing its figures", c.id))?;
            Ok((c, figures))
        })
        .collect::<anyhow::Result<_>>()?;
    let context = template_context(inputs)?;
    let answer_files = answers::files(&inputs.project_dir.join("answers"))?;
    let answers::Rendered { answers: rendered, traced } = answers::render(&answer_files, &context)?;
    let sources = trace::Sources::new(&traced, &context, inputs.stale);
    let svgs = drawn.iter().flat_map(|(_, figures)| figures).map(|f| (format!("{}.svg", f.name), f.svg.clone())).collect();
    // A figure's note links to its experiment's row of the sources.
    let provenance = drawn
        .iter()
        .flat_map(|(c, figures)| {
            figures.iter().map(move |f| {
                (format!("{}.svg", f.name), (format!("{}, key {}", c.id, &c.entry.key[..12]), format!("experiment-{}", c.id)))
            })
        })
        .collect();
    let mut figures = Figures::new(svgs).with_provenance(provenance);
    let plain: Vec<String> = rendered.iter().map(answers::Answer::plain).collect();
    figures.number_in_order(plain.iter().map(String::as_str));
    Ok(Prepared { answers: rendered, figures, context, sources })
}

/// The title of the section that lists where each number comes from.
const SOURCES_TITLE: &str = "Where each number comes from";

/// The experiments, each a row that figures link to: id, title, key,
/// whether its result is current, and the file that defines it.
fn experiments_html(inputs: &Inputs) -> String {
    let mut rows = String::new();
    for c in inputs.results {
        let state = inputs.stale.get(c.id).map_or("current".to_owned(), |why| format!("stale: {why}"));
        rows.push_str(&format!(
            "<tr id=\"experiment-{id}\"><td><code>{id}</code></td><td>{}</td><td><code>{}</code></td><td>{}</td><td><code>{}</code></td></tr>\n",
            escape::escape_html(c.title),
            &c.entry.key[..12],
            escape::escape_html(&state),
            c.source_file,
            id = c.id,
        ));
    }
    format!(
        "<div class=\"table-scroll\" tabindex=\"0\" role=\"group\" aria-label=\"experiments\"><table>\n\
         <thead><tr><th>Experiment</th><th>Title</th><th>Key</th><th>Result</th><th>Code</th></tr></thead>\n<tbody>\n{rows}</tbody></table></div>\n"
    )
}

/// What the answers' templates see: `run`, `report`, `experiments` (the
/// list, with wall times), each experiment's result under its id (with
/// `<id>_run` holding its config, seed, wall time, device and threads), and
/// `findings`: what the report concludes from them, by question.
fn template_context(inputs: &Inputs) -> anyhow::Result<serde_json::Value> {
    let mut context = serde_json::Map::new();
    context.insert("run".into(), serde_json::to_value(inputs.run).expect("serialisable"));
    context.insert("report".into(), serde_json::to_value(inputs.report).expect("serialisable"));
    let experiments: Vec<serde_json::Value> = inputs
        .results
        .iter()
        .map(|c| {
            let entry = &c.entry;
            serde_json::json!({
                "id": c.id, "title": c.title, "source_file": c.source_file, "seed": entry.inputs.seed, "key": entry.key,
                "wall_seconds": entry.wall_seconds, "training_images": c.training_images,
                "images_per_second": (c.training_images > 0).then(|| c.training_images as f64 / entry.wall_seconds),
                "device": entry.device, "threads": entry.threads, "precision": entry.inputs.precision,
            })
        })
        .collect();
    context.insert("experiments".into(), experiments.into());
    for Computed { id, entry, .. } in inputs.results {
        context.insert(id.to_string(), entry.result.clone());
        context.insert(
            format!("{id}_run"),
            serde_json::json!({
                "seed": entry.inputs.seed, "wall_seconds": entry.wall_seconds, "key": entry.key, "config": entry.inputs.config,
                "device": entry.device, "threads": entry.threads, "precision": entry.inputs.precision,
            }),
        );
    }
    let mut context = serde_json::Value::Object(context);
    context["findings"] = crate::findings::of_context(&context)?;
    Ok(context)
}

fn template(inputs: &Inputs, name: &str) -> anyhow::Result<(PathBuf, String)> {
    let path = inputs.project_dir.join("templates").join(name);
    let text = std::fs::read_to_string(&path).with_context(|| format!("{}: cannot be read", path.display()))?;
    Ok((path, text))
}

fn build_html(inputs: &Inputs, prepared: &Prepared) -> anyhow::Result<String> {
    let Prepared { answers: rendered, figures, context, sources } = prepared;
    let mut body = String::new();
    let mut toc = Vec::new();
    for answer in rendered {
        let (html, headings) =
            markdown::to_html(&answer.markdown, figures).map_err(|e| anyhow::anyhow!("{} (as rendered), {e}", answer.file.display()))?;
        body.push_str(&html);
        toc.extend(headings.into_iter().filter(|h| h.level <= 2));
    }
    let mut body = sources.link(&body);
    body.push_str(&format!(
        "<h1 id=\"sources\">{SOURCES_TITLE}</h1>\n<p>Every number the answers print is a link to its row below: the field that \
         holds it (in an experiment's result; in its run record, <code>ID_run</code>; in <code>experiments[i]</code>, the \
         experiments table just below, in its order; or in the findings computed from the results), its value there, and the experiment \
         and cache key it comes from. Each figure's note links to its experiment.</p>\n{}\n{}",
        experiments_html(inputs),
        sources.html_table()
    ));
    toc.push(markdown::Heading { level: 1, text: SOURCES_TITLE.into(), id: "sources".into() });
    let (path, shell) = template(inputs, "report.html")?;
    let mut env = answers::environment();
    env.add_template_owned(path.display().to_string(), shell)?;
    let mut ctx = context.clone();
    ctx["body"] = body.into();
    ctx["toc"] = serde_json::to_value(toc)?;
    let tmpl = env.get_template(&path.display().to_string())?;
    tmpl.render(minijinja::Value::from_serialize(&ctx)).map_err(|e| anyhow::anyhow!("{}:{}: {e}", path.display(), e.line().unwrap_or(0)))
}

fn build_pdf(inputs: &Inputs, prepared: &Prepared) -> anyhow::Result<(Vec<u8>, usize)> {
    let Prepared { answers: rendered, figures, context, sources: traced } = prepared;
    let mut sources = BTreeMap::new();
    let mut main = String::from("#import \"template.typ\": report\n#show: report.with(json(\"meta.json\"))\n");
    for answer in rendered {
        let stem = answer.file.file_stem().unwrap_or_default().to_string_lossy();
        let typst =
            markdown::to_typst(&answer.plain(), figures).map_err(|e| anyhow::anyhow!("{} (as rendered), {e}", answer.file.display()))?;
        let name = format!("answers/{stem}.typ");
        main.push_str(&format!("#include \"{name}\"\n"));
        sources.insert(name, format!("#import \"/maths.typ\": *\n{typst}"));
    }
    main.push_str("#include \"sources.typ\"\n");
    sources.insert(
        "sources.typ".into(),
        format!(
            "= {SOURCES_TITLE}\n\nEach number the answers print, by the experiment and cache key it comes from, under the field that \
             holds it: in the experiment's result, in its run record (`config`: its settings; `threads`, `wall_seconds`), in \
             `experiments[i]` (the table of Appendix B, in its order), or in the findings computed from the results; then the number \
             as printed (several printings set apart by a dot). The HTML report links each number to its field.\n\n{}",
            traced.typst_list()
        ),
    );
    sources.insert("main.typ".into(), main);
    sources.insert("template.typ".into(), template(inputs, "report.typ")?.1);
    sources.insert("maths.typ".into(), template(inputs, "maths.typ")?.1);
    // The sources as compiled, for reading typst's errors against.
    for (name, text) in &sources {
        write_atomic(&inputs.out_dir.join("typst").join(name), text.as_bytes())?;
    }
    let meta = serde_json::json!({"run": context["run"], "report": context["report"]});
    let mut files: BTreeMap<String, Vec<u8>> =
        figures.svgs.iter().map(|(name, svg)| (format!("figures/{name}"), svg.clone().into_bytes())).collect();
    files.insert("meta.json".into(), serde_json::to_vec(&meta)?);
    let date = report_date(&inputs.run.date);
    let world = pdf::ReportWorld::new(&sources, &files, date);
    world
        .pdf(date)
        .map_err(|e| anyhow::anyhow!("typst could not compile the report (sources in {}):\n{e}", inputs.out_dir.join("typst").display()))
}

fn report_date(date: &str) -> Datetime {
    let mut parts = date.split('-').map(|p| p.parse::<i64>().unwrap_or(1));
    let (y, m, d) = (parts.next().unwrap_or(1970), parts.next().unwrap_or(1), parts.next().unwrap_or(1));
    Datetime::from_ymd(y as i32, m as u8, d as u8).unwrap_or_else(|| Datetime::from_ymd(1970, 1, 1).unwrap())
}

#[cfg(test)]
mod prose_tests;

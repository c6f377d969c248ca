//! The report: figures from the results, answers rendered with the results,
//! then one HTML file and one PDF from the same rendered Markdown.

pub mod answers;
pub mod markdown;
pub mod math;
pub mod pdf;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};
use typst::foundations::Datetime;

use crate::cache::{Entry, write_atomic};
use crate::runner::Plan;
use markdown::Figures;

/// The front page's facts that are not the run's: `report.toml`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportConfig {
    pub title: String,
    pub course: String,
    pub group: String,
    pub members: Vec<Member>,
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
}

/// What the report says about the run that made it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunInfo {
    pub profile: String,
    /// True when made with the assignment's exact settings.
    pub full: bool,
    pub seed: u64,
    pub commit: String,
    pub dirty: bool,
    /// The report's date (the commit's), as YYYY-MM-DD.
    pub date: String,
    /// The devices the experiments ran on, e.g. "cpu".
    pub device: String,
    /// The thread counts that computed the numbers, e.g. "2 threads", or
    /// "1 and 2 threads" where experiments differ.
    pub threads: String,
    /// What the networks computed in, e.g. "float32", or one precision per
    /// group of experiments where they differ.
    pub precision: String,
    /// Why the run chose that precision.
    pub precision_reason: String,
    pub cpu_class: String,
    pub data_official: bool,
    pub data_fingerprint: String,
    pub program_version: String,
}

pub struct Inputs<'a> {
    pub plan: &'a Plan,
    pub entries: &'a BTreeMap<String, Entry>,
    pub run: &'a RunInfo,
    pub report: &'a ReportConfig,
    /// Holds `answers/` and `templates/`.
    pub project_dir: &'a Path,
    pub out_dir: &'a Path,
}

/// The rendered report, in memory until every part of it has rendered.
pub struct Outputs {
    pub pdf: Vec<u8>,
    pub html: String,
    pub pages: usize,
    /// Each figure's file name and SVG.
    pub figures: BTreeMap<String, String>,
}

impl Outputs {
    /// Writes the figures, the HTML and the PDF under `out`, and returns
    /// their paths. Nothing is written before everything has rendered, so a
    /// failed render leaves the previous outputs as they were.
    pub fn write(&self, out: &Path) -> anyhow::Result<Vec<PathBuf>> {
        let mut paths = Vec::new();
        for (file, svg) in &self.figures {
            let path = out.join("figures").join(file);
            write_atomic(&path, svg.as_bytes())?;
            paths.push(path);
        }
        for (name, bytes) in [("report.html", self.html.as_bytes()), ("report.pdf", &self.pdf[..])] {
            let path = out.join(name);
            write_atomic(&path, bytes)?;
            paths.push(path);
        }
        Ok(paths)
    }
}

/// Draws the figures, renders the answers and lays out both outputs.
pub fn build(inputs: &Inputs) -> anyhow::Result<Outputs> {
    let context = template_context(inputs);
    let answer_files = answers::files(&inputs.project_dir.join("answers"))?;
    let rendered = answers::render(&answer_files, &context)?;
    let mut figures = Figures::new(draw_figures(inputs)?);
    figures.number_in_order(rendered.iter().map(|a| a.markdown.as_str()));
    let html = build_html(inputs, &rendered, &figures, &context)?;
    let (pdf, pages) = build_pdf(inputs, &rendered, &figures, &context)?;
    Ok(Outputs { pdf, html, pages, figures: figures.svgs })
}

fn draw_figures(inputs: &Inputs) -> anyhow::Result<BTreeMap<String, String>> {
    let mut svgs = BTreeMap::new();
    for e in &inputs.plan.experiments {
        let Some(entry) = inputs.entries.get(e.id()) else { continue };
        for figure in e.figures(&entry.result).with_context(|| format!("{}: drawing its figures", e.id()))? {
            svgs.insert(format!("{}.svg", figure.name), figure.svg);
        }
    }
    Ok(svgs)
}

/// What the answers' templates see: `run`, `report`, `experiments` (the
/// list, with wall times), and each experiment's
/// result under its id (with `<id>_run` holding its config, seed, wall time,
/// device and threads).
fn template_context(inputs: &Inputs) -> serde_json::Value {
    let mut context = serde_json::Map::new();
    context.insert("run".into(), serde_json::to_value(inputs.run).expect("serialisable"));
    context.insert("report".into(), serde_json::to_value(inputs.report).expect("serialisable"));
    let experiments: Vec<serde_json::Value> = inputs
        .plan
        .experiments
        .iter()
        .filter_map(|e| {
            let entry = inputs.entries.get(e.id())?;
            Some(serde_json::json!({
                "id": e.id(), "title": e.title(), "seed": entry.inputs.seed, "key": entry.key,
                "wall_seconds": entry.wall_seconds, "training_images": e.training_images(),
                "device": entry.device, "threads": entry.threads, "precision": entry.inputs.precision,
            }))
        })
        .collect();
    context.insert("experiments".into(), experiments.into());
    for (id, entry) in inputs.entries {
        context.insert(id.clone(), entry.result.clone());
        context.insert(
            format!("{id}_run"),
            serde_json::json!({
                "seed": entry.inputs.seed, "wall_seconds": entry.wall_seconds, "key": entry.key, "config": entry.inputs.config,
                "device": entry.device, "threads": entry.threads, "precision": entry.inputs.precision,
            }),
        );
    }
    serde_json::Value::Object(context)
}

fn template(inputs: &Inputs, name: &str) -> anyhow::Result<(PathBuf, String)> {
    let path = inputs.project_dir.join("templates").join(name);
    let text = std::fs::read_to_string(&path).with_context(|| format!("{}: cannot be read", path.display()))?;
    Ok((path, text))
}

fn build_html(
    inputs: &Inputs,
    rendered: &[answers::Answer],
    figures: &Figures,
    context: &serde_json::Value,
) -> anyhow::Result<String> {
    let mut body = String::new();
    let mut toc = Vec::new();
    for answer in rendered {
        let (html, headings) = markdown::to_html(&answer.markdown, figures)
            .map_err(|e| anyhow::anyhow!("{} (as rendered), {e}", answer.file.display()))?;
        body.push_str(&html);
        toc.extend(headings.into_iter().filter(|h| h.level <= 2));
    }
    let (path, shell) = template(inputs, "report.html")?;
    let mut env = answers::environment();
    env.add_template_owned(path.display().to_string(), shell)?;
    let mut ctx = context.clone();
    ctx["body"] = body.into();
    ctx["toc"] = serde_json::to_value(toc)?;
    let tmpl = env.get_template(&path.display().to_string())?;
    tmpl.render(minijinja::Value::from_serialize(&ctx))
        .map_err(|e| anyhow::anyhow!("{}:{}: {e}", path.display(), e.line().unwrap_or(0)))
}

fn build_pdf(
    inputs: &Inputs,
    rendered: &[answers::Answer],
    figures: &Figures,
    context: &serde_json::Value,
) -> anyhow::Result<(Vec<u8>, usize)> {
    let mut sources = BTreeMap::new();
    let mut main = String::from("#import \"template.typ\": report\n#show: report.with(json(\"meta.json\"))\n");
    for answer in rendered {
        let stem = answer.file.file_stem().unwrap_or_default().to_string_lossy();
        let typst = markdown::to_typst(&answer.markdown, figures)
            .map_err(|e| anyhow::anyhow!("{} (as rendered), {e}", answer.file.display()))?;
        let name = format!("answers/{stem}.typ");
        main.push_str(&format!("#include \"{name}\"\n"));
        sources.insert(name, format!("#import \"/maths.typ\": *\n{typst}"));
    }
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
    world.pdf(date).map_err(|e| anyhow::anyhow!("typst could not compile the report (sources in {}):\n{e}", inputs.out_dir.join("typst").display()))
}

fn report_date(date: &str) -> Datetime {
    let mut parts = date.split('-').map(|p| p.parse::<i64>().unwrap_or(1));
    let (y, m, d) = (parts.next().unwrap_or(1970), parts.next().unwrap_or(1), parts.next().unwrap_or(1));
    Datetime::from_ymd(y as i32, m as u8, d as u8).unwrap_or_else(|| Datetime::from_ymd(1970, 1, 1).unwrap())
}

//! The rendered answers (Markdown with `$...$` maths) turned into typst
//! markup for the PDF and into HTML for the web report.
//!
//! Figures are Markdown images whose path is `figures/NAME.svg`; each gets
//! the label `fig-NAME` (underscores as dashes), and prose refers to it as
//! `@fig-NAME`, which becomes a typst reference or an HTML link.

use std::collections::BTreeMap;
use std::fmt::Write;

use pulldown_cmark::{Alignment, CodeBlockKind, CowStr, Event, HeadingLevel, Options, Parser, Tag, TagEnd};

use super::escape::{escape_html, escape_typst, typst_string};
use super::{math, trace};

/// The figures of a report, by file name, numbered in order of appearance.
#[derive(Debug, Default)]
pub struct Figures {
    pub svgs: BTreeMap<String, String>,
    numbers: BTreeMap<String, usize>,
    /// By file name: what the figure was drawn from ("q3_cnn, key 63751e90c8e2"),
    /// closing its caption, and the HTML anchor that note links to.
    provenance: BTreeMap<String, (String, String)>,
}

impl Figures {
    pub fn new(svgs: BTreeMap<String, String>) -> Figures {
        Figures { svgs, numbers: BTreeMap::new(), provenance: BTreeMap::new() }
    }

    /// Closes each figure's caption with what it was drawn from, linked in
    /// the HTML to the anchor given with it.
    pub fn with_provenance(self, provenance: BTreeMap<String, (String, String)>) -> Figures {
        Figures { provenance, ..self }
    }

    fn provenance_of(&self, path: &str) -> Option<&(String, String)> {
        self.provenance.get(path.strip_prefix("figures/").unwrap_or(path))
    }

    /// Numbers the figures in the order the documents show them.
    pub fn number_in_order<'a>(&mut self, documents: impl IntoIterator<Item = &'a str>) {
        for md in documents {
            for event in Parser::new_ext(md, options()) {
                if let Event::Start(Tag::Image { dest_url, .. }) = event {
                    let next = self.numbers.len() + 1;
                    self.numbers.entry(label_of(&dest_url)).or_insert(next);
                }
            }
        }
    }

    fn svg_of(&self, path: &str) -> Result<&str, String> {
        let file = path.strip_prefix("figures/").unwrap_or(path);
        self.svgs.get(file).map(String::as_str).ok_or_else(|| {
            let known: Vec<_> = self.svgs.keys().map(|k| format!("figures/{k}")).collect();
            format!("image `{path}` is not a figure of this run; the figures are: {}", known.join(", "))
        })
    }
}

/// `figures/q2_accuracy.svg` -> `fig-q2-accuracy`.
pub fn label_of(path: &str) -> String {
    let stem = path.rsplit('/').next().unwrap_or(path);
    let stem = stem.rsplit_once('.').map_or(stem, |(s, _)| s);
    format!("fig-{}", stem.replace('_', "-"))
}

fn options() -> Options {
    Options::ENABLE_TABLES | Options::ENABLE_MATH | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_SMART_PUNCTUATION
}

/// Splits prose at `@fig-...` references: `(text, None)` and `(_, Some(label))`.
fn split_refs(text: &str) -> Vec<(&str, Option<&str>)> {
    let mut parts = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("@fig-") {
        let end = rest[at + 1..].find(|c: char| !(c.is_ascii_alphanumeric() || c == '-')).map_or(rest.len(), |i| at + 1 + i);
        let end = at + 1 + rest[at + 1..end].trim_end_matches('-').len();
        parts.push((&rest[..at], None));
        parts.push(("", Some(&rest[at + 1..end])));
        rest = &rest[end..];
    }
    parts.push((rest, None));
    parts
}

/// Line (1-based) of byte `offset` in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

// ---------------------------------------------------------------- typst

/// Escapes what typst would read as a list or enumeration marker at the
/// start of a line or of content: `-` and `1.`.
fn escape_markers(text: &str) -> String {
    let digits = text.len() - text.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let after = &text[digits..];
    if digits > 0 && after.starts_with('.') && after[1..].chars().next().is_none_or(char::is_whitespace) {
        format!("{}\\.{}", &text[..digits], &text[digits + 1..])
    } else if text.starts_with('-') {
        format!("\\{text}")
    } else {
        text.to_owned()
    }
}

#[derive(Default)]
struct TableState {
    aligns: Vec<Alignment>,
    cells: Vec<String>,
    header_cells: usize,
    in_head: bool,
}

struct TypstWriter<'a> {
    figures: &'a Figures,
    /// Output buffers: the document, and on top of it a table cell or an
    /// image caption being collected.
    bufs: Vec<String>,
    lists: Vec<Option<u64>>,
    table: Option<TableState>,
    code: Option<(String, String)>,
    /// Path and label of the figure whose caption is being collected.
    pending_image: Option<(String, String)>,
    /// That caption as plain text: the figure's alternative text.
    alt: String,
}

impl TypstWriter<'_> {
    fn w(&mut self, s: &str) {
        self.bufs.last_mut().expect("a buffer").push_str(s);
    }

    fn event(&mut self, event: Event) -> Result<(), String> {
        if let Some((_, code)) = &mut self.code {
            match event {
                Event::Text(t) => code.push_str(&t),
                Event::End(TagEnd::CodeBlock) => {
                    let (lang, code) = self.code.take().unwrap();
                    let fence = "`".repeat(3.max(longest_run(&code, '`') + 1));
                    self.w(&format!("{fence}{lang}\n{}\n{fence}\n\n", code.trim_end()));
                }
                _ => {}
            }
            return Ok(());
        }
        match event {
            Event::Start(tag) => self.start(tag)?,
            Event::End(tag) => self.end(tag),
            Event::Text(t) => {
                if self.pending_image.is_some() {
                    self.alt.push_str(&t);
                }
                for (text, label) in split_refs(&t) {
                    let at_start = self.bufs.last().is_none_or(|b| b.is_empty() || b.ends_with(['\n', '[']));
                    let mut text = escape_typst(text);
                    if at_start {
                        text = escape_markers(&text);
                    }
                    self.w(&text);
                    if let Some(label) = label {
                        self.w(&format!("@{label}"));
                    }
                }
            }
            Event::Code(c) => self.w(&format!("#raw({})", typst_string(&c))),
            // PDF/UA: every formula carries its source as alternative text.
            Event::InlineMath(m) => {
                if self.pending_image.is_some() {
                    self.alt.push_str(&m);
                }
                let typst = math::to_typst(&m)?;
                self.w(&format!("#[#set math.equation(alt: {});${typst}$]", typst_string(m.trim())));
            }
            Event::DisplayMath(m) => {
                let typst = math::to_typst(&m)?;
                self.w(&format!("\n#[#set math.equation(alt: {});$ {typst} $]\n", typst_string(m.trim())));
            }
            Event::SoftBreak => self.w(" "),
            Event::HardBreak => self.w("\\\n"),
            Event::Rule => self.w("#line(length: 100%)\n\n"),
            Event::Html(h) | Event::InlineHtml(h) => {
                return Err(format!("raw HTML `{}` has no PDF form; write it in Markdown", h.trim()));
            }
            Event::FootnoteReference(_) | Event::TaskListMarker(_) => {}
        }
        Ok(())
    }

    fn start(&mut self, tag: Tag) -> Result<(), String> {
        match tag {
            Tag::Heading { level, .. } => {
                let depth = heading_depth(level);
                self.w(&format!("\n{} ", "=".repeat(depth)));
            }
            Tag::Paragraph => {}
            Tag::Emphasis => self.w("#emph["),
            Tag::Strong => self.w("#strong["),
            Tag::Strikethrough => self.w("#strike["),
            Tag::Link { dest_url, .. } => {
                safe_link(&dest_url)?;
                self.w(&format!("#link({})[", typst_string(&dest_url)));
            }
            Tag::BlockQuote(_) => self.w("#quote(block: true)["),
            Tag::CodeBlock(kind) => {
                let lang = match kind {
                    CodeBlockKind::Fenced(lang) => lang.split_whitespace().next().unwrap_or("").to_owned(),
                    CodeBlockKind::Indented => String::new(),
                };
                self.code = Some((lang, String::new()));
            }
            Tag::List(start) => {
                if self.lists.is_empty() {
                    self.w("\n");
                }
                self.lists.push(start);
            }
            Tag::Item => {
                let depth = self.lists.len().saturating_sub(1);
                let marker = match self.lists.last_mut() {
                    Some(Some(n)) => {
                        *n += 1;
                        format!("{}.", *n - 1)
                    }
                    _ => "-".into(),
                };
                self.w(&format!("\n{}{marker} ", "  ".repeat(depth)));
            }
            Tag::Table(aligns) => self.table = Some(TableState { aligns, ..Default::default() }),
            Tag::TableHead => self.table.as_mut().expect("in a table").in_head = true,
            Tag::TableRow => {}
            Tag::TableCell => self.bufs.push(String::new()),
            Tag::Image { dest_url, .. } => {
                self.figures.svg_of(&dest_url)?;
                self.pending_image = Some((dest_url.to_string(), label_of(&dest_url)));
                self.bufs.push(String::new());
            }
            other => return Err(format!("Markdown element {other:?} has no PDF form")),
        }
        Ok(())
    }

    fn end(&mut self, tag: TagEnd) {
        match tag {
            TagEnd::Heading(_) => self.w("\n\n"),
            TagEnd::Paragraph => self.w(if self.lists.is_empty() { "\n\n" } else { " " }),
            TagEnd::Emphasis | TagEnd::Strong | TagEnd::Strikethrough | TagEnd::Link => self.w("]"),
            TagEnd::BlockQuote(_) => self.w("]\n\n"),
            TagEnd::List(_) => {
                self.lists.pop();
                if self.lists.is_empty() {
                    self.w("\n\n");
                }
            }
            TagEnd::TableHead => {
                let table = self.table.as_mut().expect("in a table");
                table.in_head = false;
                table.header_cells = table.cells.len();
            }
            TagEnd::TableCell => {
                let cell = self.bufs.pop().expect("a cell buffer");
                self.table.as_mut().expect("in a table").cells.push(cell.trim().to_owned());
            }
            TagEnd::Table => {
                let table = self.table.take().expect("in a table");
                self.w(&typst_table(&table));
            }
            TagEnd::Image => {
                let caption = self.bufs.pop().expect("a caption buffer");
                let (path, label) = self.pending_image.take().expect("an image");
                let provenance = self
                    .figures
                    .provenance_of(&path)
                    .map_or(String::new(), |(p, _)| format!(" #text(size: 0.8em, fill: luma(90))[({})]", escape_typst(p)));
                let alt = std::mem::take(&mut self.alt);
                self.w(&format!(
                    "\n#figure(image({}, width: 100%, alt: {}), caption: [{}{provenance}]) <{label}>\n\n",
                    typst_string(&format!("/{}", path.trim_start_matches('/'))),
                    typst_string(&format!("Figure: {}", alt.split_whitespace().collect::<Vec<_>>().join(" "))),
                    caption.trim()
                ));
            }
            _ => {}
        }
    }
}

fn heading_depth(level: HeadingLevel) -> usize {
    level as usize
}

fn longest_run(text: &str, c: char) -> usize {
    text.split(|x| x != c).map(str::len).max().unwrap_or(0)
}

fn typst_table(table: &TableState) -> String {
    let columns = table.aligns.len();
    let align: Vec<&str> = table
        .aligns
        .iter()
        .map(|a| match a {
            Alignment::Right => "right",
            Alignment::Center => "center",
            Alignment::Left | Alignment::None => "left",
        })
        .collect();
    let mut out = format!("\n#align(center, table(columns: {columns}, align: ({},),\n", align.join(", "));
    let (head, body) = table.cells.split_at(table.header_cells);
    if !head.is_empty() {
        let cells: Vec<String> = head.iter().map(|c| format!("[*{c}*]")).collect();
        let _ = writeln!(out, "  table.header({}),", cells.join(", "));
    }
    for row in body.chunks(columns.max(1)) {
        let cells: Vec<String> = row.iter().map(|c| format!("[{c}]")).collect();
        let _ = writeln!(out, "  {},", cells.join(", "));
    }
    out.push_str("))\n\n");
    out
}

/// Typst markup for the Markdown `md`; an error names the line of `md`.
pub fn to_typst(md: &str, figures: &Figures) -> Result<String, String> {
    let mut writer = TypstWriter {
        figures,
        bufs: vec![String::new()],
        lists: Vec::new(),
        table: None,
        code: None,
        pending_image: None,
        alt: String::new(),
    };
    for (event, range) in Parser::new_ext(md, options()).into_offset_iter() {
        writer.event(event).map_err(|e| format!("line {}: {e}", line_of(md, range.start)))?;
    }
    Ok(writer.bufs.swap_remove(0))
}

// ---------------------------------------------------------------- HTML

/// A heading of the report, for the table of contents.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Heading {
    pub level: usize,
    pub text: String,
    pub id: String,
}

fn slug(text: &str) -> String {
    let mut slug = String::new();
    for c in text.chars() {
        if c.is_alphanumeric() {
            slug.extend(c.to_lowercase());
        } else if !slug.ends_with('-') {
            slug.push('-');
        }
    }
    slug.trim_matches('-').to_owned()
}

/// A link a reader can follow without running anything: within the report,
/// to a file beside it, or to the web or a mail address.
fn safe_link(url: &str) -> Result<(), String> {
    let scheme = url.split_once(':').map(|(scheme, _)| scheme).filter(|s| !s.contains(['/', '#', '?']));
    match scheme {
        None => Ok(()),
        Some(s) if ["http", "https", "mailto"].contains(&s.to_ascii_lowercase().as_str()) => Ok(()),
        Some(s) => Err(format!("the link `{url}` uses `{s}:`; a report links only to http(s), mailto or its own sections")),
    }
}

/// HTML for the Markdown `md`, with its headings for a table of contents;
/// figures are inlined as SVG. An error names the line of `md`.
pub fn to_html(md: &str, figures: &Figures) -> Result<(String, Vec<Heading>), String> {
    let mut events: Vec<Event> = Vec::new();
    let mut headings = Vec::new();
    let mut heading: Option<(usize, String, usize)> = None;
    let mut caption: Option<(String, Vec<Event>)> = None;
    for (event, range) in Parser::new_ext(md, options()).into_offset_iter() {
        let at = |e: String| format!("line {}: {e}", line_of(md, range.start));
        let converted = match event {
            Event::InlineMath(m) => Event::InlineHtml(math::to_mathml(&trace::strip(&m), false).map_err(at)?.into()),
            Event::DisplayMath(m) => Event::InlineHtml(math::to_mathml(&trace::strip(&m), true).map_err(at)?.into()),
            Event::Text(t) if t.contains("@fig-") => {
                let mut html = String::new();
                for (text, label) in split_refs(&t) {
                    html.push_str(&escape_html(text));
                    if let Some(label) = label {
                        let n = figures.numbers.get(label).ok_or_else(|| at(format!("@{label} refers to no figure")))?;
                        let _ = write!(html, "<a href=\"#{label}\">Figure {n}</a>");
                    }
                }
                Event::InlineHtml(html.into())
            }
            Event::Html(h) | Event::InlineHtml(h) => {
                return Err(at(format!(
                    "raw HTML `{}` has no PDF form, and a report must be safe to open; write it in Markdown",
                    h.trim()
                )));
            }
            Event::Start(Tag::Link { ref dest_url, .. }) => {
                safe_link(dest_url).map_err(at)?;
                event
            }
            Event::Start(Tag::Heading { level, .. }) => {
                heading = Some((heading_depth(level), String::new(), events.len()));
                event
            }
            Event::End(TagEnd::Heading(_)) => {
                let (level, text, start) = heading.take().expect("in a heading");
                let text = trace::strip(&text);
                let id = slug(&text);
                if let Event::Start(Tag::Heading { id: slot, .. }) = &mut events[start] {
                    *slot = Some(CowStr::from(id.clone()));
                }
                headings.push(Heading { level, text, id });
                event
            }
            Event::Start(Tag::Image { dest_url, .. }) => {
                figures.svg_of(&dest_url).map_err(at)?;
                caption = Some((dest_url.to_string(), Vec::new()));
                continue;
            }
            Event::End(TagEnd::Image) => {
                let (path, caption_events) = caption.take().expect("in an image");
                let label = label_of(&path);
                let svg = figures.svg_of(&path).map_err(at)?;
                let mut caption_html = String::new();
                pulldown_cmark::html::push_html(&mut caption_html, caption_events.into_iter());
                if let Some((p, anchor)) = figures.provenance_of(&path) {
                    let note = format!("<a href=\"#{anchor}\">{}</a>", escape_html(p));
                    caption_html = format!("{} <span class=\"provenance\">({note})</span>", caption_html.trim());
                }
                // The picture is named by its caption, for a screen reader.
                let svg = svg.replacen("<svg ", &format!("<svg role=\"img\" aria-labelledby=\"{label}-caption\" "), 1);
                let html = format!(
                    "<figure id=\"{label}\">{svg}<figcaption id=\"{label}-caption\">Figure {}: {}</figcaption></figure>",
                    figures.numbers.get(&label).copied().unwrap_or(0),
                    caption_html.trim()
                );
                Event::Html(html.into())
            }
            other => other,
        };
        if let (Some((_, text, _)), Event::Text(t) | Event::Code(t)) = (&mut heading, &converted) {
            text.push_str(t);
        }
        match &mut caption {
            Some((_, caption_events)) => caption_events.push(converted),
            None => events.push(converted),
        }
    }
    let mut html = String::new();
    pulldown_cmark::html::push_html(&mut html, events.into_iter());
    // A table wider than a phone scrolls inside its own box, not the page,
    // which the keyboard reaches as it reaches code and displayed maths.
    let html = html
        .replace("<p><figure", "<figure")
        .replace("</figure></p>", "</figure>")
        .replace("</table>", "</table></div>")
        .replace("<pre>", "<pre tabindex=\"0\">")
        .replace("<math display=\"block\"", "<math tabindex=\"0\" display=\"block\"");
    let mut tables = html.split("<table>");
    let mut numbered = tables.next().unwrap_or_default().to_owned();
    for (i, rest) in tables.enumerate() {
        // Named as its caption numbers it ("Table 7."), where one stands before it.
        let since_the_last_table = numbered.rsplit("</table>").next().unwrap_or_default();
        let caption = since_the_last_table.rsplit_once("<em>Table ").and_then(|(_, after)| after.split_once(".</em>")).map(|(n, _)| n);
        let label = match caption {
            Some(n) if n.chars().all(|c| c.is_ascii_digit()) => format!("Table {n}"),
            _ => format!("table {}", i + 1),
        };
        let _ = write!(numbered, "<div class=\"table-scroll\" tabindex=\"0\" role=\"group\" aria-label=\"{label}\"><table>{rest}");
    }
    Ok((no_empty_headers(&numbered), headings))
}

/// A header cell with no text is a plain cell: a screen reader has nothing
/// to announce for its column.
fn no_empty_headers(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(at) = rest.find("<th") {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        let open_end = tail.find('>').map_or(tail.len(), |e| e + 1);
        if tail[open_end..].starts_with("</th>") && (tail.starts_with("<th>") || tail.starts_with("<th ")) {
            out.push_str("<td");
            out.push_str(&tail[3..open_end]);
            out.push_str("</td>");
            rest = &tail[open_end + 5..];
        } else {
            out.push_str(&tail[..open_end]);
            rest = &tail[open_end..];
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures() -> Figures {
        let mut figures = Figures::new(BTreeMap::from([("q2_acc.svg".to_owned(), "<svg viewBox=\"0 0 1 1\">curve</svg>".to_owned())]));
        figures.number_in_order(["![Accuracy per epoch](figures/q2_acc.svg)"]);
        figures
    }

    const SAMPLE: &str = r#"# Question 2

## Part A

Text with *emphasis*, **strength**, `code`, $\alpha_i$ and 50 # signs [a link](https://example.org).
As @fig-q2-acc shows:

$$L = -\sum_{k} y_k \log \hat y_k$$

| layer | parameters |
|:------|-----------:|
| dense | 50,240 |

- one
- two
  1. nested

```rust
fn main() {}
```

![Accuracy per epoch](figures/q2_acc.svg)
"#;

    #[test]
    fn converts_every_element_to_typst() {
        let typst = to_typst(SAMPLE, &figures()).unwrap();
        for expected in [
            "\n= Question 2\n",
            "\n== Part A\n",
            "#emph[emphasis]",
            "#strong[strength]",
            "#raw(\"code\")",
            "50 \\# signs",
            "#link(\"https://example.org\")[a link]",
            "As @fig-q2-acc shows:",
            "table(columns: 2, align: (left, right,)",
            "table.header([*layer*], [*parameters*])",
            "[dense], [50,240]",
            "\n- one",
            "\n  1. nested",
            "```rust\nfn main() {}\n```",
            "#figure(image(\"/figures/q2_acc.svg\", width: 100%, alt: \"Figure: Accuracy per epoch\"), caption: [Accuracy per epoch]) <fig-q2-acc>",
        ] {
            assert!(typst.contains(expected), "missing {expected:?} in\n{typst}");
        }
        // Every formula carries its source as alternative text (PDF/UA).
        assert!(typst.contains("#[#set math.equation(alt: \"\\\\alpha_i\");$alpha _(i )$]"), "inline maths: {typst}");
        assert!(
            typst.contains("\n#[#set math.equation(alt: \"L = -\\\\sum_{k} y_k \\\\log \\\\hat y_k\");$ L  =  - sum _(k ) y _(k ) log  hat(y )_(k ) $]\n"),
            "display maths: {typst}"
        );
    }

    #[test]
    fn converts_every_element_to_html() {
        let (html, headings) = to_html(SAMPLE, &figures()).unwrap();
        for expected in [
            "<h1 id=\"question-2\">Question 2</h1>",
            "<em>emphasis</em>",
            "<math",
            "<munder><mo movablelimits=\"false\">∑</mo>",
            "<a href=\"#fig-q2-acc\">Figure 1</a>",
            "<td style=\"text-align: right\">50,240</td>",
            "<div class=\"table-scroll\" tabindex=\"0\" role=\"group\" aria-label=\"table 1\"><table>",
            "<figure id=\"fig-q2-acc\"><svg role=\"img\" aria-labelledby=\"fig-q2-acc-caption\" viewBox=\"0 0 1 1\">curve</svg>\
             <figcaption id=\"fig-q2-acc-caption\">Figure 1: Accuracy per epoch</figcaption></figure>",
            "<pre tabindex=\"0\"><code class=\"language-rust\">",
        ] {
            assert!(html.contains(expected), "missing {expected:?} in\n{html}");
        }
        // A header cell without text is a plain cell, for a screen reader.
        let (table, _) = to_html("| | a |\n|---|---|\n| x | 1 |\n", &figures()).unwrap();
        assert!(table.contains("<thead><tr><td></td><th>a</th></tr></thead>"), "{table}");
        // A table is named as its caption numbers it; one without a caption by its place.
        let (tables, _) = to_html(
            "*Table 7.* Costs

| a |
|---|
| 1 |

| b |
|---|
| 2 |
",
            &figures(),
        )
        .unwrap();
        assert!(tables.contains("aria-label=\"Table 7\"><table>") && tables.contains("aria-label=\"table 2\"><table>"), "{tables}");
        assert!(!html.contains("<p><figure"));
        assert_eq!(headings.iter().map(|h| (h.level, h.id.as_str())).collect::<Vec<_>>(), [(1, "question-2"), (2, "part-a")]);
    }

    #[test]
    fn names_the_line_of_an_unknown_figure() {
        let md = "# T\n\ntext\n\n![x](figures/missing.svg)\n";
        let err = to_typst(md, &figures()).unwrap_err();
        assert!(err.starts_with("line 5: image `figures/missing.svg` is not a figure of this run"), "{err}");
        assert!(err.contains("figures/q2_acc.svg"), "{err}");
        assert!(to_html(md, &figures()).unwrap_err().starts_with("line 5:"));
    }

    #[test]
    fn a_report_runs_nothing_when_opened() {
        for md in [
            "[x](javascript:alert(1))",
            "[x](JavaScript:alert(1))",
            "[x](java&#x73;cript:alert(1))",
            "<javascript:alert(1)>",
            "[x](data:text/html,hi)",
        ] {
            let html = to_html(&format!("# T\n\n{md}\n"), &figures()).unwrap_err();
            assert!(html.starts_with("line 3: the link `") && html.contains("only to http(s), mailto or its own sections"), "{md}: {html}");
            assert!(to_typst(md, &figures()).is_err(), "{md}");
        }
        for md in ["<script>alert(1)</script>", "text <img src=x onerror=alert(1)> text"] {
            let err = to_html(md, &figures()).unwrap_err();
            assert!(err.contains("raw HTML") && err.contains("write it in Markdown"), "{md}: {err}");
        }
        let (html, _) = to_html("[a](https://example.org) [b](#part-a) [c](code.zip) [d](mailto:a@b.c)", &figures()).unwrap();
        assert_eq!(html.matches("<a href=").count(), 4, "{html}");
    }

    #[test]
    fn escapes_typst_markup_in_prose() {
        assert_eq!(escape_typst("a*b_c #x $y @z <w> // =+"), "a\\*b\\_c \\#x \\$y \\@z \\<w\\> \\/\\/ \\=\\+");
        assert!(to_typst("**55,050 parameters**; 784 inputs", &figures()).unwrap().contains("#strong[55,050 parameters]\\; 784 inputs"));
        let typst = to_typst("**1. Reshape** then\n\n*- not a list*", &figures()).unwrap();
        assert!(typst.contains("#strong[1\\. Reshape]"), "{typst}");
        assert!(typst.contains("#emph[\\- not a list]"), "{typst}");
        assert!(to_typst("*0.7 s*", &figures()).unwrap().contains("#emph[0.7 s]"));
        assert_eq!(split_refs("see @fig-a-b."), vec![("see ", None), ("", Some("fig-a-b")), (".", None)]);
    }
}

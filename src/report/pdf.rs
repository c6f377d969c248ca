//! The PDF: typst compiled in process. The report's typst sources and figures
//! live in memory behind the one narrow boundary typst asks for, a `World`;
//! fonts are typst-assets' embedded ones, so no system font and no network.

use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

use typst::diag::{FileError, FileResult, Severity, SourceDiagnostic};
use typst::foundations::{Bytes, Datetime, Duration, Smart};
use typst::syntax::{FileId, RootedPath, Source, VirtualPath, VirtualRoot};
use typst::text::{Font, FontBook};
use typst::utils::LazyHash;
use typst::{Library, LibraryExt, World, WorldExt};
use typst_layout::PagedDocument;

/// Fonts, loaded once per process.
struct Fonts {
    book: LazyHash<FontBook>,
    fonts: Vec<Font>,
}

fn fonts() -> &'static Fonts {
    static FONTS: OnceLock<Fonts> = OnceLock::new();
    FONTS.get_or_init(|| {
        let fonts: Vec<Font> = typst_assets::fonts().flat_map(|data| Font::iter(Bytes::new(data))).collect();
        Fonts { book: LazyHash::new(FontBook::from_fonts(&fonts)), fonts }
    })
}

fn library() -> &'static LazyHash<Library> {
    static LIBRARY: OnceLock<LazyHash<Library>> = OnceLock::new();
    LIBRARY.get_or_init(|| LazyHash::new(Library::default()))
}

/// A set of in-memory files, `main.typ` among them.
pub struct ReportWorld {
    main: FileId,
    sources: HashMap<FileId, Source>,
    files: HashMap<FileId, Bytes>,
    today: Datetime,
}

fn file_id(path: &str) -> FileId {
    RootedPath::new(VirtualRoot::Project, VirtualPath::new(path).expect("a valid virtual path")).intern()
}

impl ReportWorld {
    /// `sources` are typst files by path (one must be `main.typ`), `files`
    /// any other file they read (figures); `today` is the report's date.
    pub fn new(sources: &BTreeMap<String, String>, files: &BTreeMap<String, Vec<u8>>, today: Datetime) -> ReportWorld {
        ReportWorld {
            main: file_id("main.typ"),
            sources: sources.iter().map(|(p, text)| (file_id(p), Source::new(file_id(p), text.clone()))).collect(),
            files: files.iter().map(|(p, bytes)| (file_id(p), Bytes::new(bytes.clone()))).collect(),
            today,
        }
    }

    /// Compiles the document and exports it as PDF, with `timestamp` as its
    /// creation date (so that equal inputs give equal bytes).
    pub fn pdf(&self, timestamp: Datetime) -> Result<(Vec<u8>, usize), String> {
        let warned = typst::compile::<PagedDocument>(self);
        let document = warned.output.map_err(|errors| self.describe(&errors[..]))?;
        // PDF/UA-1: typst refuses to write the file where a figure or
        // formula lacks its alternative text, or the title or language is unset.
        let standards = typst_pdf::PdfStandards::new(&[typst_pdf::PdfStandard::Ua_1]).expect("PDF/UA-1 alone is consistent");
        let options = typst_pdf::PdfOptions {
            ident: Smart::Custom("mnist-writeup report".into()),
            timestamp: Some(typst_pdf::Timestamp::new_utc(timestamp)),
            standards,
            ..Default::default()
        };
        let pages = document.pages().len();
        let bytes = typst_pdf::pdf(&document, &options).map_err(|errors| self.describe(&errors[..]))?;
        Ok((bytes, pages))
    }

    /// `path:line: error: message` for each diagnostic, with typst's hints.
    fn describe(&self, diagnostics: &[SourceDiagnostic]) -> String {
        let mut out = Vec::new();
        for d in diagnostics {
            let place = d
                .span
                .id()
                .and_then(|id| {
                    let source = self.sources.get(&id)?;
                    let range = self.range(d.span)?;
                    let line = source.lines().byte_to_line(range.start)? + 1;
                    Some(format!("{}:{line}: ", id.vpath().get_without_slash()))
                })
                .unwrap_or_default();
            let severity = if d.severity == Severity::Error { "error" } else { "warning" };
            let mut text = format!("{place}{severity}: {}", d.message);
            for hint in &d.hints {
                text.push_str(&format!("\n  hint: {}", hint.v));
            }
            out.push(text);
        }
        out.join("\n")
    }
}

impl World for ReportWorld {
    fn library(&self) -> &LazyHash<Library> {
        library()
    }

    fn book(&self) -> &LazyHash<FontBook> {
        &fonts().book
    }

    fn main(&self) -> FileId {
        self.main
    }

    fn source(&self, id: FileId) -> FileResult<Source> {
        self.sources.get(&id).cloned().ok_or_else(|| not_found(id))
    }

    fn file(&self, id: FileId) -> FileResult<Bytes> {
        if let Some(source) = self.sources.get(&id) {
            return Ok(Bytes::from_string(source.text().to_owned()));
        }
        self.files.get(&id).cloned().ok_or_else(|| not_found(id))
    }

    fn font(&self, index: usize) -> Option<Font> {
        fonts().fonts.get(index).cloned()
    }

    fn today(&self, _offset: Option<Duration>) -> Option<Datetime> {
        Some(self.today)
    }
}

fn not_found(id: FileId) -> FileError {
    FileError::NotFound(id.vpath().get_without_slash().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn world(main: &str) -> ReportWorld {
        let svg = r#"<svg xmlns="http://www.w3.org/2000/svg" width="40" height="20"><rect width="40" height="20" fill="red"/></svg>"#;
        ReportWorld::new(
            &BTreeMap::from([("main.typ".to_owned(), main.to_owned())]),
            &BTreeMap::from([("figures/f.svg".to_owned(), svg.as_bytes().to_vec())]),
            Datetime::from_ymd(2026, 11, 21).unwrap(),
        )
    }

    const ACCESSIBLE: &str = "#set document(title: \"T\")\n#set text(lang: \"en\")\n#outline()\n= Results\nAs @fig-f shows, \
        #[#set math.equation(alt: \"sum of x\");$sum_(i=1)^n x_i$].\n#figure(image(\"figures/f.svg\", alt: \"A red box\"), caption: [A box]) <fig-f>\n#pagebreak()\n= More\n";

    #[test]
    fn compiles_maths_a_figure_an_outline_and_a_reference_as_pdf_ua_1() {
        let (pdf, pages) = world(ACCESSIBLE).pdf(Datetime::from_ymd(2026, 11, 21).unwrap()).unwrap();
        assert!(pdf.starts_with(b"%PDF-"));
        assert!(pdf.windows(b"pdfuaid:part".len()).any(|w| w == b"pdfuaid:part"), "declares PDF/UA");
        assert_eq!(pages, 2);
    }

    #[test]
    fn a_figure_or_formula_without_alternative_text_is_refused() {
        let date = Datetime::from_ymd(2026, 11, 21).unwrap();
        let no_figure_alt = ACCESSIBLE.replace(", alt: \"A red box\"", "");
        assert!(world(&no_figure_alt).pdf(date).unwrap_err().contains("alt"), "a figure");
        let no_formula_alt = ACCESSIBLE.replace("#set math.equation(alt: \"sum of x\");", "");
        assert!(world(&no_formula_alt).pdf(date).unwrap_err().contains("alt"), "a formula");
        let no_title = ACCESSIBLE.replace("#set document(title: \"T\")\n", "");
        assert!(world(&no_title).pdf(date).unwrap_err().contains("title"), "a title");
    }

    #[test]
    fn an_error_names_the_file_and_line() {
        let err = world("ok\n\n#unknown-function()\n").pdf(Datetime::from_ymd(2026, 1, 1).unwrap()).unwrap_err();
        assert!(err.starts_with("main.typ:3: error: unknown variable: unknown-function"), "{err}");
    }
}

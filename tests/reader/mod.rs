//! The report as a reader sees it: the HTML opened in headless Chromium with
//! networking off, the PDF read through poppler (`pdftotext -bbox`,
//! `pdftoppm`). Each check returns `None`, after saying why, where its tool
//! is not installed; `.ci/run` installs both.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;

/// The report's own typst world, to lay out a table that overflows on purpose.
#[path = "../../src/report/pdf.rs"]
#[allow(dead_code)]
mod pdf;

/// What a reader of one page width would notice (see `page_check.js`).
#[derive(Debug, Deserialize)]
pub struct Page {
    pub width: u32,
    pub images: usize,
    pub broken: Vec<String>,
    pub maths: usize,
    pub raw_tex: Vec<String>,
    pub wide: Vec<String>,
    pub requests: Vec<String>,
}

fn installed(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?.to_str()?.split(':').map(|dir| Path::new(dir).join(program)).find(|p| p.is_file())
}

fn chromium() -> Option<PathBuf> {
    let found = ["chromium", "chromium-browser", "google-chrome"].into_iter().find_map(installed);
    if found.is_none() {
        eprintln!("skipping the browser check: no chromium on PATH (Debian: apt-get install chromium)");
    }
    found
}

fn headless(chromium: &Path, profile: &Path) -> Command {
    let mut command = Command::new(chromium);
    command
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", "--hide-scrollbars"])
        // Networking off: every host name fails to resolve.
        .arg("--host-resolver-rules=MAP * ~NOTFOUND")
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--virtual-time-budget=30000");
    command
}

/// `page` with `script` let in by a nonce (the report's own policy forbids
/// every other script), opened in frames of each of `widths` CSS pixels
/// (narrower than a headless window can be); what the script in each frame
/// posted to its parent, as one JSON array.
fn posted_by_frames(chromium: &Path, page: &str, script: &str, widths: &[u32], dir: &Path) -> String {
    let page = page.replace("default-src 'none';", "default-src 'none'; script-src 'nonce-reader';");
    let at = page.rfind("</body>").expect("the page has a body");
    let script = script.replace("</script", "<\\/script");
    let checked = format!("{}<script nonce=\"reader\">{script}</script>{}", &page[..at], &page[at..]);
    std::fs::write(dir.join("page.html"), checked).unwrap();
    let frames: String = widths.iter().map(|w| format!("<iframe src=\"page.html\" style=\"width:{w}px;height:800px\"></iframe>")).collect();
    let shell = format!(
        "<!DOCTYPE html><html><body><pre id=\"found\"></pre>{frames}<script>const got = []; \
         addEventListener('message', e => {{ got.push(JSON.parse(e.data)); document.getElementById('found').textContent = JSON.stringify(got); }});\
         </script></body></html>"
    );
    std::fs::write(dir.join("frames.html"), shell).unwrap();
    let dumped = headless(chromium, &dir.join("profile"))
        .arg("--dump-dom")
        .arg(format!("file://{}", dir.join("frames.html").display()))
        .output()
        .expect("chromium runs");
    let dom = String::from_utf8_lossy(&dumped.stdout);
    dom.split_once("<pre id=\"found\">")
        .and_then(|(_, rest)| rest.split_once("</pre>"))
        .map(|(json, _)| json.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&"))
        .unwrap_or_else(|| panic!("the page reported nothing; chromium said: {}", String::from_utf8_lossy(&dumped.stderr)))
}

/// Opens `html` in headless Chromium at each of `widths` (CSS pixels) and
/// returns what `page_check.js` found there; also saves a screenshot of the
/// page at desktop width as `screenshot`.
pub fn browse(html: &Path, widths: &[u32], screenshot: &Path) -> Option<Vec<Page>> {
    let chromium = chromium()?;
    let dir = tempfile::tempdir().unwrap();
    let page = std::fs::read_to_string(html).unwrap();
    let found = posted_by_frames(&chromium, &page, include_str!("page_check.js"), widths, dir.path());
    let mut pages: Vec<Page> = serde_json::from_str(&found).unwrap_or_else(|e| panic!("{e}: {found}"));
    pages.sort_by_key(|p| p.width);
    assert_eq!(pages.iter().map(|p| p.width).collect::<Vec<_>>(), widths, "one report per width");

    let shot = headless(&chromium, &dir.path().join("profile"))
        .arg("--window-size=1280,2400")
        .arg(format!("--screenshot={}", screenshot.display()))
        .arg(format!("file://{}", html.canonicalize().unwrap().display()))
        .output()
        .expect("chromium runs");
    assert!(screenshot.is_file(), "no screenshot: {}", String::from_utf8_lossy(&shot.stderr));
    Some(pages)
}

/// One rule of axe-core that a page breaks.
#[derive(Debug, Deserialize)]
pub struct Violation {
    pub id: String,
    pub impact: Option<String>,
    pub help: String,
    pub nodes: usize,
    pub targets: Vec<String>,
}

/// axe-core's script: `MNIST_WRITEUP_AXE`, else where `scripts/test.sh`
/// installs it from npm.
fn axe_core() -> Option<String> {
    let path = std::env::var_os("MNIST_WRITEUP_AXE").map(PathBuf::from).unwrap_or_else(|| {
        let cache = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(&std::env::var_os("HOME").unwrap_or_default()).join(".cache"));
        cache.join("mnist-writeup/axe-core-4.14.1/node_modules/axe-core/axe.min.js")
    });
    match std::fs::read_to_string(&path) {
        Ok(script) => Some(script),
        Err(_) => {
            eprintln!("skipping the accessibility check: no axe-core at {} (scripts/test.sh installs it from npm)", path.display());
            None
        }
    }
}

/// The rules of axe-core (WCAG 2.x A and AA, and best practice) that `html`
/// breaks in headless Chromium at each of `widths`, by width; `None`
/// without Chromium or axe-core.
pub fn accessibility(html: &Path, widths: &[u32]) -> Option<Vec<(u32, Vec<Violation>)>> {
    let chromium = chromium()?;
    let axe = axe_core()?;
    let dir = tempfile::tempdir().unwrap();
    let page = std::fs::read_to_string(html).unwrap();
    let run = "\n;axe.run(document, { resultTypes: ['violations'] }).then(r => parent.postMessage(JSON.stringify({ width: innerWidth, \
               violations: r.violations.map(v => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.length, \
               targets: v.nodes.slice(0, 5).map(n => String(n.target)) })) }), '*'));";
    let found = posted_by_frames(&chromium, &page, &format!("{axe}{run}"), widths, dir.path());
    #[derive(Deserialize)]
    struct Found {
        width: u32,
        violations: Vec<Violation>,
    }
    let mut found: Vec<Found> = serde_json::from_str(&found).unwrap_or_else(|e| panic!("{e}: {found}"));
    found.sort_by_key(|f| f.width);
    assert_eq!(found.iter().map(|f| f.width).collect::<Vec<_>>(), widths, "one axe report per width");
    Some(found.into_iter().map(|f| (f.width, f.violations)).collect())
}

/// Whether a script added to `html` (inline, and as an event handler) runs
/// when headless Chromium opens it; `None` without Chromium.
pub fn scripts_run(html: &Path) -> Option<bool> {
    let chromium = chromium()?;
    let dir = tempfile::tempdir().unwrap();
    let page = std::fs::read_to_string(html).unwrap();
    let at = page.rfind("</body>").expect("the page has a body");
    let hostile = "<script>document.body.dataset.ran = 'script';</script>\
                   <img src=\"data:,\" onerror=\"document.body.dataset.handler = 'ran'\">";
    std::fs::write(dir.path().join("page.html"), format!("{}{hostile}{}", &page[..at], &page[at..])).unwrap();
    let dumped = headless(&chromium, &dir.path().join("profile"))
        .arg("--dump-dom")
        .arg(format!("file://{}", dir.path().join("page.html").display()))
        .output()
        .expect("chromium runs");
    let dom = String::from_utf8_lossy(&dumped.stdout);
    assert!(dom.contains("<body"), "chromium showed no page: {}", String::from_utf8_lossy(&dumped.stderr));
    Some(dom.contains("data-ran=") || dom.contains("data-handler="))
}

/// A word of a PDF page and its box, in points from the top left.
#[derive(Debug, Clone, PartialEq)]
pub struct Word {
    pub text: String,
    pub x: (f64, f64),
    pub y: (f64, f64),
}

/// The words of every page of `pdf`, as `pdftotext -bbox` places them.
pub fn words(pdf: &Path) -> Option<Vec<Vec<Word>>> {
    if installed("pdftotext").is_none() {
        eprintln!("skipping the PDF layout check: no pdftotext on PATH (Debian: apt-get install poppler-utils)");
        return None;
    }
    let output = Command::new("pdftotext").arg("-bbox").arg(pdf).arg("-").output().expect("pdftotext runs");
    assert!(output.status.success(), "pdftotext: {}", String::from_utf8_lossy(&output.stderr));
    let xhtml = String::from_utf8(output.stdout).unwrap();
    let attribute = |tag: &str, name: &str| -> f64 {
        let at = tag.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
        tag[at..].split('"').next().unwrap().parse().unwrap()
    };
    let pages = xhtml
        .split("<page ")
        .skip(1)
        .map(|page| {
            page.split("<word ")
                .skip(1)
                .map(|word| {
                    let (tag, rest) = word.split_once('>').unwrap();
                    let text = rest.split("</word>").next().unwrap().replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&");
                    Word { text, x: (attribute(tag, "xMin"), attribute(tag, "xMax")), y: (attribute(tag, "yMin"), attribute(tag, "yMax")) }
                })
                .collect()
        })
        .collect();
    Some(pages)
}

/// Typeset maths stacks glyphs on purpose (accents, limits, scripts).
fn is_maths(word: &Word) -> bool {
    word.text.chars().any(|c| matches!(c as u32, 0x1D400..=0x1D7FF | 0x0300..=0x036F | 0x20D0..=0x20FF))
}

/// "page N: `a` overlaps `b`" for every two words of a page whose boxes
/// share more than half a line's height and more than half a point of
/// width: text that ran into its neighbour, as a too-narrow table cell does.
pub fn overlapping_words(pages: &[Vec<Word>]) -> Vec<String> {
    let mut found = Vec::new();
    for (n, words) in pages.iter().enumerate() {
        let words: Vec<&Word> = words.iter().filter(|w| !is_maths(w)).collect();
        for (i, a) in words.iter().enumerate() {
            for b in &words[i + 1..] {
                let wide = a.x.1.min(b.x.1) - a.x.0.max(b.x.0);
                let high = a.y.1.min(b.y.1) - a.y.0.max(b.y.0);
                let line = (a.y.1 - a.y.0).min(b.y.1 - b.y.0);
                if wide > 0.5 && high > 0.5 * line {
                    found.push(format!("page {}: `{}` overlaps `{}`", n + 1, a.text, b.text));
                }
            }
        }
    }
    found
}

/// Renders every page of `pdf` to a PNG in `dir`; their paths, in page order.
pub fn page_images(pdf: &Path, dir: &Path) -> Option<Vec<PathBuf>> {
    if installed("pdftoppm").is_none() {
        eprintln!("skipping the page rendering: no pdftoppm on PATH (Debian: apt-get install poppler-utils)");
        return None;
    }
    let output = Command::new("pdftoppm").args(["-r", "30", "-png"]).arg(pdf).arg(dir.join("page")).output().expect("pdftoppm runs");
    assert!(output.status.success(), "pdftoppm: {}", String::from_utf8_lossy(&output.stderr));
    let mut pages: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("page") && p.extension().is_some_and(|x| x == "png"))
        .collect();
    pages.sort();
    Some(pages)
}

/// The checks must fail on what they guard against: a broken image, a
/// table wider than a phone, a request to the network and maths left as
/// TeX; and text run into the next table cell.
mod they_catch_what_they_guard_against {
    use super::*;

    #[test]
    fn a_broken_image_a_wide_table_a_request_and_raw_tex() {
        let dir = tempfile::tempdir().unwrap();
        let html = dir.path().join("bad.html");
        let cells: String = (0..12).map(|i| format!("<td>column_{i}_value</td>")).collect();
        std::fs::write(
            &html,
            format!(
                "<!DOCTYPE html><html><body><p>fine</p><img src=\"data:image/png;base64,iVBORw0KGgo=\">\
                 <img src=\"https://example.org/digit.png\"><table><tr>{cells}</tr></table><p>left as \\frac{{a}}{{b}}</p></body></html>"
            ),
        )
        .unwrap();
        let Some(pages) = browse(&html, &[360], &dir.path().join("bad.png")) else { return };
        let page = &pages[0];
        assert_eq!(page.images, 2, "{page:?}");
        assert_eq!(page.broken.len(), 2, "{page:?}");
        assert!(page.wide.iter().any(|w| w.starts_with("table")), "{page:?}");
        assert!(page.requests.iter().any(|r| r.contains("example.org")), "{page:?}");
        assert_eq!(page.raw_tex, ["\\frac{"], "{page:?}");
        assert_eq!(page.maths, 0);
    }

    #[test]
    fn a_script_in_a_page_without_a_policy() {
        let dir = tempfile::tempdir().unwrap();
        let html = dir.path().join("open.html");
        std::fs::write(&html, "<!DOCTYPE html><html><head><meta charset=\"utf-8\"></head><body><p>open</p></body></html>").unwrap();
        if let Some(ran) = scripts_run(&html) {
            assert!(ran, "the check sees a script run where nothing forbids it");
        }
    }

    #[test]
    fn text_run_into_the_next_table_cell() {
        let today = typst::foundations::Datetime::from_ymd(2026, 11, 23).unwrap();
        let table = |width: &str| {
            let main = format!(
                "#set document(title: [cells])\n#set text(hyphenate: false)\n#table(columns: ({width}, 1.5cm), [q4_denoising_autoencoder], [405], [q1_preprocessing], [406])\n"
            );
            pdf::ReportWorld::new(&std::collections::BTreeMap::from([("main.typ".to_owned(), main)]), &Default::default(), today)
                .pdf(today)
                .unwrap()
                .0
        };
        let dir = tempfile::tempdir().unwrap();
        let (narrow, wide) = (dir.path().join("narrow.pdf"), dir.path().join("wide.pdf"));
        std::fs::write(&narrow, table("1.5cm")).unwrap();
        std::fs::write(&wide, table("auto")).unwrap();
        let Some(narrow) = words(&narrow) else { return };
        assert_eq!(
            overlapping_words(&narrow),
            ["page 1: `q4_denoising_autoencoder` overlaps `405`", "page 1: `q1_preprocessing` overlaps `406`"]
        );
        let wide = words(&wide).unwrap();
        assert!(wide[0].iter().any(|w| w.text == "q4_denoising_autoencoder"), "{wide:?}");
        assert_eq!(overlapping_words(&wide), Vec::<String>::new());
    }
}

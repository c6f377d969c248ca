//! `preview`: serves the HTML report on 127.0.0.1 while the group writes,
//! renders it again on every save of the answers, the templates,
//! `report.toml` or a result arriving in the cache, and reloads the open
//! page in place. It never trains: a result computed from other inputs is
//! shown with a banner that says why and which command refreshes it, and a
//! template error shows in the page and the terminal with file, line and
//! column until the next good save.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use notify::Watcher;

use crate::cache::Cache;
use crate::data::Mnist;
use crate::manifest::{Machine, RunInfo};
use crate::report::{self, ReportConfig};
use crate::runner::{Cached, Plan};

pub struct Options<'a> {
    pub port: u16,
    /// Holds `answers/`, `templates/` and `report.toml`.
    pub project_dir: &'a Path,
    pub out_dir: &'a Path,
    /// The flags that make `build-report` refresh what this preview shows.
    pub refresh: String,
}

/// One rendering of the page: the report, or what stopped it.
struct Page {
    html: String,
    version: u64,
}

impl Page {
    /// `html` as the `version`-th rendering, which its script compares with the server's.
    fn new(html: &str, version: u64) -> Page {
        Page { html: html.replacen("data-version=\"VERSION\"", &format!("data-version=\"{version}\""), 1), version }
    }
}

pub fn run(plan: &Plan, data: &Mnist, options: &Options) -> anyhow::Result<()> {
    let server = tiny_http::Server::http(("127.0.0.1", options.port))
        .map_err(|e| anyhow::anyhow!("--port {}: cannot listen on 127.0.0.1: {e}; give another port, or 0 for a free one", options.port))?;
    let address = server.server_addr().to_ip().context("a loopback address")?;
    let stop = Arc::new(AtomicBool::new(false));
    let stopping = Arc::clone(&stop);
    ctrlc::set_handler(move || stopping.store(true, Ordering::SeqCst)).context("handling Ctrl-C")?;

    let (changed, changes) = mpsc::channel();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event
            && !matches!(event.kind, notify::EventKind::Access(_))
        {
            let _ = changed.send(event.paths);
        }
    })
    .context("watching the answers")?;
    let watched = watched_paths(options.project_dir, options.out_dir);
    for (path, mode) in &watched {
        watcher.watch(path, *mode).with_context(|| format!("{}: cannot be watched", path.display()))?;
    }

    let mut page = Page::new(&render(plan, data, options), 1);
    println!("preview: http://{address}/ (Ctrl-C stops it)");
    eprintln!("preview: watching {}", watched.iter().map(|(p, _)| p.display().to_string()).collect::<Vec<_>>().join(", "));
    let mut pending: Option<Instant> = None;
    while !stop.load(Ordering::SeqCst) {
        if let Ok(Some(request)) = server.recv_timeout(Duration::from_millis(100)) {
            respond(request, &page);
        }
        for paths in changes.try_iter() {
            if paths.iter().any(|p| relevant(p, options.project_dir, options.out_dir)) {
                pending = Some(Instant::now());
            }
        }
        // Editors write a file in several steps: render once they are done.
        if pending.is_some_and(|at| at.elapsed() > Duration::from_millis(150)) {
            pending = None;
            page = Page::new(&render(plan, data, options), page.version + 1);
        }
    }
    eprintln!("preview: stopped");
    Ok(())
}

/// The folders a preview watches: the answers, templates, the project
/// folder (for `report.toml`) and the cache, where a finished run's
/// results land.
fn watched_paths(project_dir: &Path, out_dir: &Path) -> Vec<(PathBuf, notify::RecursiveMode)> {
    let mut paths = vec![
        (project_dir.join("answers"), notify::RecursiveMode::Recursive),
        (project_dir.join("templates"), notify::RecursiveMode::Recursive),
        (project_dir.to_path_buf(), notify::RecursiveMode::NonRecursive),
    ];
    let cache = out_dir.join("cache");
    if cache.is_dir() {
        paths.push((cache, notify::RecursiveMode::NonRecursive));
    }
    paths
}

/// Whether a change at `path` can change the page.
fn relevant(path: &Path, project_dir: &Path, out_dir: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if name.starts_with('.') || name.ends_with('~') || name.ends_with(".swp") || name.contains(".tmp") {
        return false;
    }
    let under = |dir: PathBuf| path.starts_with(dir);
    under(project_dir.join("answers"))
        || under(project_dir.join("templates"))
        || path == project_dir.join("report.toml")
        || (under(out_dir.join("cache")) && name.ends_with(".json"))
}

fn respond(request: tiny_http::Request, page: &Page) {
    let header = |value: &str| tiny_http::Header::from_bytes("Content-Type", value).expect("a valid header");
    let no_store = tiny_http::Header::from_bytes("Cache-Control", "no-store").expect("a valid header");
    let response = match (request.method(), request.url()) {
        (tiny_http::Method::Get, "/" | "/index.html") => {
            tiny_http::Response::from_string(page.html.clone()).with_header(header("text/html; charset=utf-8"))
        }
        (tiny_http::Method::Get, "/__preview/version") => {
            tiny_http::Response::from_string(page.version.to_string()).with_header(header("text/plain"))
        }
        (tiny_http::Method::Get, "/__preview/live.js") => {
            tiny_http::Response::from_string(LIVE_JS).with_header(header("text/javascript; charset=utf-8"))
        }
        _ => tiny_http::Response::from_string("not found").with_status_code(404),
    };
    let _ = request.respond(response.with_header(no_store));
}

/// Asks for the page's version every 400 ms and reloads it when it
/// changes, at the same scroll position.
const LIVE_JS: &str = r#"(() => {
  const key = "mnist-writeup-preview-scroll";
  const saved = sessionStorage.getItem(key);
  if (saved !== null) { sessionStorage.removeItem(key); window.scrollTo(0, Number(saved)); }
  const shown = document.currentScript.dataset.version;
  async function poll() {
    try {
      const version = await (await fetch("/__preview/version", { cache: "no-store" })).text();
      if (version !== shown) { sessionStorage.setItem(key, String(window.scrollY)); location.reload(); return; }
    } catch (e) { /* the preview stopped; try again */ }
    setTimeout(poll, 400);
  }
  setTimeout(poll, 400);
})();
"#;

/// The page for what the cache holds now: the report with a banner naming
/// each result that is stale or missing, or the error that stopped it.
fn render(plan: &Plan, data: &Mnist, options: &Options) -> String {
    let start = Instant::now();
    let cache = Cache::new(options.out_dir.join("cache"));
    let mut entries = BTreeMap::new();
    let mut stale = BTreeMap::new();
    let mut missing = Vec::new();
    for e in &plan.experiments {
        match plan.state_of(e.as_ref(), &data.provenance.fingerprint, &cache) {
            Cached::Current(entry) => {
                entries.insert(e.id().to_owned(), *entry);
            }
            Cached::Stale { earlier: Some(entry), why } => {
                entries.insert(e.id().to_owned(), *entry);
                stale.insert(e.id().to_owned(), why);
            }
            Cached::Stale { earlier: None, why } | Cached::Broken(why) => missing.push((e.id(), why)),
            Cached::Missing => missing.push((e.id(), "not run yet".to_owned())),
        }
    }
    let banner = banner(&stale, &missing, &options.refresh);
    let rendered = (|| -> anyhow::Result<(String, Vec<String>)> {
        if !missing.is_empty() {
            anyhow::bail!("nothing to show until every experiment has a result");
        }
        let results = plan.computed(entries)?;
        let config = ReportConfig::load(&options.project_dir.join("report.toml"))?;
        let machine = Machine::current(&plan.precision);
        let run = RunInfo::new(plan, &results, &machine, &data.provenance, options.project_dir);
        report::html(&report::Inputs {
            results: &results,
            run: &run,
            report: &config,
            project_dir: options.project_dir,
            out_dir: options.out_dir,
            stale: &stale,
        })
    })();
    match rendered {
        Ok((html, untraced)) => {
            for value in &untraced {
                eprintln!("preview: warning: {value} prints a number that is not traced to one field of the results");
            }
            eprintln!(
                "preview: rendered in {:.2} s{}",
                start.elapsed().as_secs_f64(),
                if stale.is_empty() { "" } else { ", with stale results" }
            );
            with_preview(&html, &banner)
        }
        Err(e) => {
            let error = format!("{e:#}");
            eprintln!("preview: error: {error}");
            error_page(&error, &banner)
        }
    }
}

/// What the preview says above the report: each stale or missing result,
/// why, and the command that refreshes it.
fn banner(stale: &BTreeMap<String, String>, missing: &[(&str, String)], refresh: &str) -> String {
    if stale.is_empty() && missing.is_empty() {
        return String::new();
    }
    let escape = report::escape::escape_html;
    let mut items = String::new();
    for (id, why) in stale {
        items.push_str(&format!("<li><code>{id}</code>: shown from an earlier run, computed from other inputs ({})</li>", escape(why)));
    }
    for (id, why) in missing {
        items.push_str(&format!("<li><code>{id}</code>: no result ({})</li>", escape(why)));
    }
    format!(
        "<div class=\"preview-banner\" role=\"status\"><strong>Preview: not the current results.</strong> The preview never trains.<ul>{items}</ul>\
         Refresh them with <code>{}</code>; this page reloads when they land.</div>",
        escape(refresh)
    )
}

const BANNER_STYLE: &str = ".preview-banner { background: #fff4d6; border: 1px solid #b58900; padding: 0.6rem 0.9rem; margin: 1rem 0; \
    border-radius: 4px; font-family: system-ui, sans-serif; font-size: 0.9rem; } .preview-error { white-space: pre-wrap; background: #fdecea; \
    border: 1px solid #c0392b; padding: 0.6rem; }";

/// The report with the banner, and the script that reloads it: its
/// Content-Security-Policy lets that script, and only it, run.
fn with_preview(html: &str, banner: &str) -> String {
    let policy = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'";
    let html = match (html.find("http-equiv=\"Content-Security-Policy\" content=\""), html.find("<body>")) {
        (Some(at), _) => {
            let start = at + "http-equiv=\"Content-Security-Policy\" content=\"".len();
            let end = html[start..].find('"').map_or(start, |e| start + e);
            format!("{}{policy}{}", &html[..start], &html[end..])
        }
        _ => html.to_owned(),
    };
    let body = format!("<body>\n<style>{BANNER_STYLE}</style>{banner}");
    let script = "<script src=\"/__preview/live.js\" data-version=\"VERSION\" defer></script>\n</body>";
    html.replacen("<body>", &body, 1).replacen("</body>", script, 1)
}

/// A page that shows the error where the report would be.
fn error_page(error: &str, banner: &str) -> String {
    let escaped = report::escape::escape_html(error);
    with_preview(
        &format!(
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta http-equiv=\"Content-Security-Policy\" content=\"\">\n\
             <title>Preview: the report did not render</title>\n</head>\n<body>\n<main>\n<h1>The report did not render</h1>\n\
             <pre class=\"preview-error\" tabindex=\"0\">{escaped}</pre>\n<p>Fix it and save: this page renders again.</p>\n</main>\n</body>\n</html>\n"
        ),
        banner,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_lets_only_its_own_reload_script_run_and_shows_the_banner_first() {
        let report =
            "<html><head><meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'\"></head><body><p>x</p></body></html>";
        let page = with_preview(report, "<div class=\"preview-banner\">stale</div>");
        assert!(page.contains("script-src 'self'; connect-src 'self'"), "{page}");
        assert!(!page.contains("content=\"default-src 'none'\""), "{page}");
        let banner = page.find("preview-banner\">stale").unwrap();
        assert!(banner < page.find("<p>x</p>").unwrap());
        assert!(page.contains("<script src=\"/__preview/live.js\""));
    }

    #[test]
    fn the_banner_names_each_stale_and_missing_result_and_the_command() {
        let stale = BTreeMap::from([("q3_cnn".to_owned(), "precision changed: float32 → bfloat16".to_owned())]);
        let banner = banner(&stale, &[("q4_autoencoder", "not run yet".into())], "cargo run --release -- build-report --profile smoke");
        assert!(
            banner.contains("<code>q3_cnn</code>: shown from an earlier run") && banner.contains("precision changed: float32 → bfloat16")
        );
        assert!(banner.contains("<code>q4_autoencoder</code>: no result (not run yet)"));
        assert!(banner.contains("build-report --profile smoke"));
        assert_eq!(super::banner(&BTreeMap::new(), &[], "x"), "");
    }

    #[test]
    fn only_changes_that_can_change_the_page_count() {
        let (project, out) = (Path::new("/p"), Path::new("/p/out"));
        assert!(relevant(Path::new("/p/answers/q1.md"), project, out));
        assert!(relevant(Path::new("/p/report.toml"), project, out));
        assert!(relevant(Path::new("/p/out/cache/q1-abc.json"), project, out));
        assert!(!relevant(Path::new("/p/answers/.q1.md.swp"), project, out));
        assert!(!relevant(Path::new("/p/Cargo.toml"), project, out));
        assert!(!relevant(Path::new("/p/out/cache/q1-abc.json.tmp123"), project, out));
    }
}

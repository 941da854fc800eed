//! The matrix rendered for people: one self-contained HTML page (`report html`, `run
//! --html`) and a Markdown summary (`report markdown`), both from templates under
//! `templates/report/`.

use std::path::{Path, PathBuf};

use minijinja::{AutoEscape, Environment, Value, context};

use super::matrix::Matrix;

const HTML_TEMPLATE: &str = include_str!("../../templates/report/matrix.html.j2");
const MARKDOWN_TEMPLATE: &str = include_str!("../../templates/report/summary.md.j2");

/// The page's file name inside the output directory.
pub const PAGE: &str = "index.html";

/// How many changed and failing cases the Markdown lists before "… and N more": a pull
/// request comment stays readable, and under GitHub's 64 KiB job-summary limit.
pub const MARKDOWN_LIMIT: usize = 25;

fn environment() -> Result<Environment<'static>, minijinja::Error> {
    let mut env = Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    // Every text in a report may come from a server or a spec: escaped, always, in the page.
    env.set_auto_escape_callback(|name| {
        if name.ends_with(".html") {
            AutoEscape::Html
        } else {
            AutoEscape::None
        }
    });
    env.add_filter("md", markdown_text);
    env.add_template("report/matrix.html", HTML_TEMPLATE)?;
    env.add_template("report/summary.md", MARKDOWN_TEMPLATE)?;
    Ok(env)
}

/// Text in a Markdown table or list: one line, with table pipes, backticks and HTML
/// tags unable to break out.
fn markdown_text(text: &str) -> String {
    text.replace(['\n', '\r'], " ")
        .replace('|', "\\|")
        .replace('`', "'")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// What the page says it was made from: the reports' file names.
fn names(paths: &[PathBuf]) -> Vec<String> {
    paths
        .iter()
        .map(|p| {
            p.file_name().map_or_else(
                || p.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            )
        })
        .collect()
}

/// The HTML page of `matrix`, made from `inputs` (and compared with `baseline`).
pub fn html(
    matrix: &Matrix,
    inputs: &[PathBuf],
    baseline: Option<&Path>,
) -> Result<String, String> {
    let env = environment().map_err(|e| e.to_string())?;
    let template = env
        .get_template("report/matrix.html")
        .map_err(|e| e.to_string())?;
    template
        .render(context! {
            m => Value::from(minijinja::value::Serde(matrix)),
            inputs => names(inputs),
            baseline => baseline.map(|b| names(&[b.to_path_buf()]).remove(0)),
        })
        .map_err(|e| e.to_string())
}

/// The Markdown summary of `matrix`.
pub fn markdown(matrix: &Matrix) -> Result<String, String> {
    let env = environment().map_err(|e| e.to_string())?;
    let template = env
        .get_template("report/summary.md")
        .map_err(|e| e.to_string())?;
    template
        .render(
            context! { m => Value::from(minijinja::value::Serde(matrix)), limit => MARKDOWN_LIMIT },
        )
        .map_err(|e| e.to_string())
}

/// Writes the page as `dir/index.html` (creating `dir`); the path written.
pub fn write_html(dir: &Path, page: &str) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(PAGE);
    crate::files::write_atomically(&path, page.as_bytes())?;
    Ok(path)
}

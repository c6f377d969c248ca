//! Where each number of the report comes from. The answers' `{{ ... }}`
//! expressions are instrumented before rendering, so that every value they
//! print carries the field of the template context it was read from
//! (`q3_cnn.test_accuracy_mean`, `findings.q2.recipe_gain`); the rendered
//! Markdown marks each such value, and the HTML turns the marks into links
//! to a table of sources, the PDF into that table alone.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use minijinja::value::Value;
use minijinja::{Error, ErrorKind, State};
use serde::Serialize;

use super::escape::escape_html;

/// Opens a traced value: `START id MIDDLE text END`. Private-use
/// characters, which no answer writes, and which never reach the PDF.
const START: char = '\u{E000}';
const MIDDLE: char = '\u{E001}';
const END: char = '\u{E002}';

/// The filter the instrumented expressions call.
pub const FILTER: &str = "traced";

/// One printed value and where it was read from.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Traced {
    /// The text the reader sees.
    pub text: String,
    /// The template expression that printed it.
    pub expression: String,
    /// The template (answer file) it is in.
    pub template: String,
    /// The context field that holds the value (`None`: computed in the
    /// template from several fields, or from none).
    pub path: Option<String>,
    /// The value as the field holds it.
    pub value: serde_json::Value,
}

impl Traced {
    /// The text, and where it is not the field's value as such, what it is:
    /// "1 (computed from it)" for `replicates - 1`.
    fn printed_as(&self) -> String {
        let head = top_level_split(&self.expression, '|')[0];
        match head.contains(" - ") || head.contains(" + ") {
            true => format!("{} (computed from it)", self.text),
            false => self.text.clone(),
        }
    }

    /// The experiment whose result holds the field, where one does.
    pub fn experiment<'a>(&self, context: &'a serde_json::Value) -> Option<&'a str> {
        let path = self.path.as_deref()?;
        let root = path.split(['.', '[']).next()?;
        let id = root.strip_suffix("_run").unwrap_or(root);
        let listed = context["experiments"].as_array()?;
        if root == "experiments" {
            let index: usize = path.strip_prefix("experiments[")?.split(']').next()?.parse().ok()?;
            return listed.get(index)?["id"].as_str();
        }
        listed.iter().filter_map(|e| e["id"].as_str()).find(|e| *e == id)
    }
}

// ------------------------------------------------------------ instrumenting

/// What a name given by `{% set %}` or `{% for %}` stands for.
#[derive(Clone, Debug, PartialEq)]
enum Alias {
    /// A field known from the text alone (`{% set f = findings.q3 %}`).
    Static(String),
    /// A field known only when the template runs (a loop's element): the
    /// template variable that the instrumented template sets to its path.
    Runtime(String),
}

/// The names in scope, and the scopes that loops and macros open.
#[derive(Default)]
struct Aliases {
    names: BTreeMap<String, Alias>,
    /// The macros defined or imported so far.
    macros: std::collections::BTreeSet<String>,
    /// Each open scope's names as they were before it, to restore at its end.
    scopes: Vec<Vec<(String, Option<Alias>)>>,
}

impl Aliases {
    fn get(&self, name: &str) -> Option<&Alias> {
        self.names.get(name)
    }

    fn define(&mut self, name: &str, alias: Option<Alias>) {
        let before = match alias {
            Some(alias) => self.names.insert(name.to_owned(), alias),
            None => self.names.remove(name),
        };
        if let Some(scope) = self.scopes.last_mut() {
            scope.push((name.to_owned(), before));
        }
    }

    fn open(&mut self) {
        self.scopes.push(Vec::new());
    }

    fn close(&mut self) {
        for (name, before) in self.scopes.pop().unwrap_or_default().into_iter().rev() {
            match before {
                Some(alias) => self.names.insert(name, alias),
                None => self.names.remove(&name),
            };
        }
    }
}

/// The template function that names a key or an index as a path does.
pub const KEY: &str = "traced_key";
/// The template function that lists the paths of a list's elements.
pub const ELEMENTS: &str = "traced_elements";
/// How a path names the number of items of the list it ends with.
pub const LENGTH: &str = "| length";

/// The whole number a text starts with ("2 seeds", "1,000 images").
fn leading_count(text: &str) -> Option<usize> {
    let digits: String = text.chars().take_while(|c| c.is_ascii_digit() || *c == ',').filter(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// The template function that a macro call's instrumented statement calls
/// first, with the paths of the call's arguments.
pub const CALL: &str = "traced_call";
/// The template function that a macro's instrumented body calls first, for
/// the paths of its parameters.
pub const PARAMETERS: &str = "traced_parameters";

/// `template` with every `{{ EXPR }}` that prints a value read from the
/// context rewritten as `{{ (EXPR) | traced(FIELD, ["EXPR", "FIELD"], PATH) }}`, FIELD
/// the one field EXPR reads (its whole head where it reads several), given
/// as its value and as its text, so that the filter resolves the field this
/// rewrite chose, and PATH an expression for that field's path in the context: a string where
/// the text alone tells it, and where the field is a loop's element
/// (`r.acc` in a loop over `q2.sweep`), a variable that the instrumented
/// loop sets to its element's path (`q2.sweep[3]`) on each turn.
/// Expressions that call a function (`table(...)`, `code(...)`, a macro) or
/// read only loop counters are left as they are: what they print is not a
/// result.
pub fn instrument(template: &str) -> String {
    let mut out = String::with_capacity(template.len() + template.len() / 4);
    let mut aliases = Aliases::default();
    let mut rest = template;
    loop {
        let next = [rest.find("{{"), rest.find("{%")].into_iter().flatten().min();
        let Some(open) = next else { break };
        out.push_str(&rest[..open]);
        let after = &rest[open + 2..];
        let Some(close) = closing(after, if rest[open..].starts_with("{{") { b'}' } else { b'%' }) else {
            out.push_str(&rest[open..]);
            return out;
        };
        let inner = &after[..close];
        if rest[open..].starts_with("{%") {
            out.push_str(&rest[open..open + 2 + close + 2]);
            let trim = if inner.ends_with('-') { "-" } else { "" };
            for set_path in statement(inner, &mut aliases) {
                out.push_str(&format!("{{%{trim} {set_path} {trim}%}}"));
            }
        } else {
            out.push_str(&rewrite(inner, &aliases).unwrap_or_else(|| format!("{{{{{inner}}}}}")));
        }
        rest = &after[close + 2..];
    }
    out.push_str(rest);
    out
}

/// Follows a `{% ... %}` statement's effect on the names in scope; returns
/// the `set` statements (without their delimiters) that record, at run
/// time, the paths of what the names it gives stand for.
fn statement(statement: &str, aliases: &mut Aliases) -> Vec<String> {
    let statement = statement.trim_matches(|c: char| c == '-' || c.is_whitespace());
    let keyword = statement.split_whitespace().next().unwrap_or("");
    match keyword {
        "endfor" | "endmacro" => aliases.close(),
        "macro" => {
            // A macro runs where it is called, outside the loops around its
            // definition; its parameters stand for what the call passed,
            // whose paths the call recorded.
            aliases.open();
            let runtime: Vec<String> =
                aliases.names.iter().filter(|(_, a)| matches!(a, Alias::Runtime(_))).map(|(n, _)| n.clone()).collect();
            for name in runtime {
                aliases.define(&name, None);
            }
            let Some((name, parameters)) = statement["macro".len()..].split_once('(') else { return Vec::new() };
            let name = name.trim();
            let parameters: Vec<String> =
                parameters.trim_end_matches(')').split(',').map(|p| p.split('=').next().unwrap_or("").trim().to_owned()).collect();
            aliases.macros.insert(name.to_owned());
            if !is_name(name) || parameters.iter().any(|p| !is_name(p)) {
                for parameter in &parameters {
                    aliases.define(parameter, None);
                }
                return Vec::new();
            }
            let all = format!("traced_parameters_{name}");
            let mut sets = vec![format!("set {all} = {PARAMETERS}({}, {})", quoted(name), parameters.len())];
            for (i, parameter) in parameters.iter().enumerate() {
                let variable = format!("traced_path_{parameter}");
                aliases.define(parameter, Some(Alias::Runtime(variable.clone())));
                sets.push(format!("set {variable} = {all}[{i}]"));
            }
            return sets;
        }
        "from" => {
            // `{% from "file" import a, b as c %}`: macros, by their names here.
            if let Some((_, names)) = statement.split_once(" import ") {
                for name in names.split(',') {
                    let local = name.rsplit(" as ").next().unwrap_or(name).trim();
                    aliases.macros.insert(local.to_owned());
                }
            }
        }
        "set" => {
            let Some((name, source)) = statement.strip_prefix("set ").and_then(|s| s.split_once('=')) else { return Vec::new() };
            let name = name.trim();
            if !is_name(name) {
                return Vec::new();
            }
            let head = top_level_split(source, '|');
            let plain = !calls_a_function(source) && !source.contains(['+', '*', '-', '/']);
            let path = match (paths_of(head[0].trim()).as_slice(), head.len()) {
                ([one], 1) if plain && one == source.trim() => one.clone(),
                _ => {
                    aliases.define(name, None);
                    return Vec::new();
                }
            };
            match path_expression(&path, aliases) {
                PathExpression::Literal(path) => aliases.define(name, Some(Alias::Static(path))),
                PathExpression::Runtime(expression) => {
                    let variable = format!("traced_path_{name}");
                    aliases.define(name, Some(Alias::Runtime(variable.clone())));
                    return vec![format!("set {variable} = {expression}")];
                }
            }
        }
        "for" => {
            aliases.open();
            let Some((names, source)) = statement.strip_prefix("for ").and_then(|s| s.split_once(" in ")) else { return Vec::new() };
            let names: Vec<&str> = names.split(',').map(str::trim).collect();
            let elements = element_paths(&names, source, aliases);
            let mut sets = Vec::new();
            for (name, element) in names.iter().zip(elements) {
                match element.filter(|_| is_name(name)) {
                    Some(expression) => {
                        let variable = format!("traced_path_{name}");
                        aliases.define(name, Some(Alias::Runtime(variable.clone())));
                        sets.push(format!("set {variable} = {expression}"));
                    }
                    None => aliases.define(name, None),
                }
            }
            return sets;
        }
        _ => {}
    }
    Vec::new()
}

fn is_name(text: &str) -> bool {
    !text.is_empty() && text.chars().all(|c| c.is_alphanumeric() || c == '_')
}

/// For each of the `names` a loop over `source` gives, an expression for
/// the path of what it stands for; `None` for a map's key, and for every
/// name where the loop filters or reorders what it walks.
fn element_paths(names: &[&str], source: &str, aliases: &Aliases) -> Vec<Option<String>> {
    let mut paths = vec![None; names.len()];
    match element_path(names, source, aliases) {
        Some((path, true)) => *paths.last_mut().expect("a name") = Some(path),
        Some((path, false)) if names.len() == 1 => paths[0] = Some(path),
        Some((path, false)) => {
            for (i, slot) in paths.iter_mut().enumerate() {
                *slot = Some(format!("{path} ~ \"[{i}]\""));
            }
        }
        None => {}
    }
    paths
}

/// The path of a loop's element (`true`: the value of a map's entry, whose
/// key the loop's first name holds).
fn element_path(names: &[&str], source: &str, aliases: &Aliases) -> Option<(String, bool)> {
    if source.contains(" if ") || source.trim_end().ends_with("recursive") {
        return None;
    }
    let parts = top_level_split(source, '|');
    let head = parts[0].trim();
    let filters: Vec<&str> = parts[1..].iter().map(|f| f.trim()).collect();
    let of_a_map = head.ends_with(".items()") || matches!(filters.as_slice(), ["items"] | ["dictsort"]);
    if of_a_map {
        // `for key, value in PATH.items()`: the value's path is PATH[key].
        let [key, _] = names else { return None };
        let map = head.strip_suffix(".items()").unwrap_or(head);
        let paths = paths_of(map);
        let [path] = paths.as_slice() else { return None };
        return (path == map).then(|| (format!("{} ~ {KEY}({key})", path_expression(path, aliases).expression()), true));
    }
    if !filters.is_empty() {
        return None;
    }
    // A list, or lists joined: `[a.x, a.y]`, `[s.baseline] + s.decayed`.
    let mut lists = Vec::new();
    for segment in top_level_split(head, '+').iter().map(|s| s.trim()) {
        if let Some(items) = segment.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            let mut paths = Vec::new();
            for item in top_level_split(items, ',').iter().map(|i| i.trim()) {
                match paths_of(item).as_slice() {
                    [path] if path == item => paths.push(path_expression(path, aliases).expression()),
                    _ => return None,
                }
            }
            lists.push(format!("[{}]", paths.join(", ")));
        } else {
            match paths_of(segment).as_slice() {
                [path] if path == segment => lists.push(format!("{ELEMENTS}({}, {path})", path_expression(path, aliases).expression())),
                _ => return None,
            }
        }
    }
    Some((format!("({})[loop.index0]", lists.join(" + ")), false))
}

/// A field's path: known from the text, or computed as the template runs.
enum PathExpression {
    Literal(String),
    Runtime(String),
}

impl PathExpression {
    /// As a template expression.
    fn expression(&self) -> String {
        match self {
            PathExpression::Literal(path) => quoted(path),
            PathExpression::Runtime(expression) => expression.clone(),
        }
    }
}

fn quoted(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n"))
}

/// The path of `path` (as the template writes it) in the context: its
/// first name replaced by what it stands for, and each index that is not a
/// literal computed as the template runs.
fn path_expression(path: &str, aliases: &Aliases) -> PathExpression {
    let end = path.find(['.', '[']).unwrap_or(path.len());
    let (first, rest) = path.split_at(end);
    let mut pieces: Vec<String> = Vec::new();
    let mut literal = match aliases.get(first) {
        Some(Alias::Static(path)) => path.clone(),
        Some(Alias::Runtime(variable)) => {
            pieces.push(format!("({variable} | default(\"\"))"));
            String::new()
        }
        None => first.to_owned(),
    };
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '[' {
            literal.push(c);
            continue;
        }
        let mut index = String::new();
        let mut depth = 1;
        for c in chars.by_ref() {
            depth += match c {
                '[' => 1,
                ']' => -1,
                _ => 0,
            };
            if depth == 0 {
                break;
            }
            index.push(c);
        }
        let is_literal = index.parse::<usize>().is_ok() || (index.starts_with('"') && index.ends_with('"') && index.len() > 1);
        if is_literal {
            literal.push_str(&format!("[{index}]"));
        } else if index.contains(':') {
            // A slice is no field.
            literal.push_str("[*]");
        } else {
            if !literal.is_empty() {
                pieces.push(quoted(&std::mem::take(&mut literal)));
            }
            pieces.push(format!("{KEY}({index})"));
        }
    }
    match pieces.is_empty() {
        true => PathExpression::Literal(literal),
        false => {
            if !literal.is_empty() {
                pieces.push(quoted(&literal));
            }
            PathExpression::Runtime(pieces.join(" ~ "))
        }
    }
}

/// Where the `}}` (or `%}`, after `{%`) that closes a tag is, string
/// literals skipped.
fn closing(text: &str, first: u8) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut quote = None;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match quote {
            Some(_) if b == b'\\' => i += 1,
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None if b == b'"' || b == b'\'' => quote = Some(b),
            None if b == first && bytes.get(i + 1) == Some(&b'}') => return Some(i),
            None => {}
        }
        i += 1;
    }
    None
}

fn rewrite(inner: &str, aliases: &Aliases) -> Option<String> {
    let (left, body) = match inner.strip_prefix('-') {
        Some(b) => ("-", b),
        None => ("", inner),
    };
    let (body, right) = match body.strip_suffix('-') {
        Some(b) => (b, "-"),
        None => (body, ""),
    };
    let expression = body.trim();
    if expression.is_empty() {
        return None;
    }
    let head = top_level_split(expression, '|')[0].trim();
    if let Some(record) = macro_call(head, aliases) {
        return Some(format!("{{{{{left} {record} }}}}{{{{{inner}}}}}"));
    }
    if calls_a_function(head) {
        return None;
    }
    let paths = paths_of(head);
    let filters: Vec<&str> = top_level_split(expression, '|')[1..].iter().map(|f| f.trim()).collect();
    let (read, path) = match (end_element(head), paths.as_slice()) {
        // `(rows | last).acc`: the last row's field.
        (Some((list, end, rest)), _) => {
            (head.to_owned(), format!("{} ~ {} ~ {}", path_expression(list, aliases).expression(), end_key(list, end), quoted(rest)))
        }
        (None, []) => return None,
        // `rows | last`: the last item.
        (None, [one]) if one == head && matches!(filters.first(), Some(&("first" | "last"))) => {
            let end = filters[0];
            (format!("({one} | {end})"), format!("{} ~ {}", path_expression(one, aliases).expression(), end_key(one, end)))
        }
        (None, [one]) => (one.clone(), path_expression(one, aliases).expression()),
        (None, _) => (head.to_owned(), quoted("")),
    };
    Some(format!("{{{{{left} ({expression}) | {FILTER}({read}, [{}, {}], {path}) {right}}}}}", quoted(expression), quoted(&read)))
}

/// For a call of a macro, `traced_call(NAME, [PATH, ...])`: the call that
/// records the paths of its arguments for the macro's parameters ("" where
/// an argument is not one field).
fn macro_call(head: &str, aliases: &Aliases) -> Option<String> {
    let (name, arguments) = head.split_once('(')?;
    let name = name.trim();
    if !aliases.macros.contains(name) || !arguments.ends_with(')') {
        return None;
    }
    let arguments = &arguments[..arguments.len() - 1];
    let paths: Vec<String> = top_level_split(arguments, ',')
        .iter()
        .map(|a| a.trim())
        .filter(|a| !a.is_empty())
        .map(|argument| match paths_of(argument).as_slice() {
            [path] if path == argument => path_expression(path, aliases).expression(),
            _ => quoted(""),
        })
        .collect();
    Some(format!("{CALL}({}, [{}])", quoted(name), paths.join(", ")))
}

/// `(PATH | first)REST` or `(PATH | last)REST` as (PATH, "first" or
/// "last", REST), REST a field path such as `.acc`.
fn end_element(head: &str) -> Option<(&str, &str, &str)> {
    let inner = head.strip_prefix('(')?;
    let close = inner.find(')')?;
    let (list, end) = inner[..close].split_once('|')?;
    let (list, end, rest) = (list.trim(), end.trim(), &inner[close + 1..]);
    let single = matches!(paths_of(list).as_slice(), [one] if one == list);
    let field = rest.starts_with('.') && paths_of(&format!("x{rest}")).len() == 1 && !rest.contains(['(', ' ', '|']);
    (single && field && matches!(end, "first" | "last")).then_some((list, end, rest))
}

/// The key of a list's first or last item, as the template computes it.
fn end_key(list: &str, end: &str) -> String {
    match end {
        "first" => format!("{KEY}(0)"),
        _ => format!("{KEY}(({list} | length) - 1)"),
    }
}

/// `text` split at `sep` outside brackets and string literals.
fn top_level_split(text: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut quote, mut start, mut escaped) = (0i32, None, 0, false);
    for (i, c) in text.char_indices() {
        match quote {
            Some(_) if escaped => escaped = false,
            Some(_) if c == '\\' => escaped = true,
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None => match c {
                '"' | '\'' => quote = Some(c),
                '(' | '[' | '{' => depth += 1,
                ')' | ']' | '}' => depth -= 1,
                c if c == sep && depth == 0 => {
                    parts.push(&text[start..i]);
                    start = i + c.len_utf8();
                }
                _ => {}
            },
        }
    }
    parts.push(&text[start..]);
    parts
}

/// Words of the expression language that are not fields.
const KEYWORDS: &[&str] = &["and", "or", "not", "in", "is", "if", "else", "true", "false", "none", "True", "False", "None", "loop"];

/// Whether `head` calls a function or a macro: a name followed by `(`.
fn calls_a_function(head: &str) -> bool {
    let mut previous: Option<char> = None;
    let mut quote = None;
    for c in head.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '"' || c == '\'' => quote = Some(c),
            None if c == '(' && previous.is_some_and(|p| p.is_alphanumeric() || p == '_') => return true,
            None => {}
        }
        if !c.is_whitespace() {
            previous = Some(c);
        }
    }
    false
}

/// The distinct field paths `head` reads (`a.b[0].c`), loop variables and
/// keywords left out; an index inside brackets belongs to its path.
fn paths_of(head: &str) -> Vec<String> {
    let chars: Vec<char> = head.chars().collect();
    let mut paths: Vec<String> = Vec::new();
    let mut i = 0;
    let mut after_is = false;
    while i < chars.len() {
        let c = chars[i];
        if c == '"' || c == '\'' {
            i += 1;
            while i < chars.len() && chars[i] != c {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            continue;
        }
        let starts_name = (c.is_alphabetic() || c == '_') && (i == 0 || !(chars[i - 1].is_alphanumeric() || chars[i - 1] == '.'));
        if !starts_name {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
            i += 1;
        }
        let first: String = chars[start..i].iter().collect();
        loop {
            if i + 1 < chars.len() && chars[i] == '.' && (chars[i + 1].is_alphabetic() || chars[i + 1] == '_') {
                i += 1;
                while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
            } else if i < chars.len() && chars[i] == '[' {
                let mut depth = 0;
                while i < chars.len() {
                    depth += match chars[i] {
                        '[' => 1,
                        ']' => -1,
                        _ => 0,
                    };
                    i += 1;
                    if depth == 0 {
                        break;
                    }
                }
            } else {
                break;
            }
        }
        let path: String = chars[start..i].iter().collect();
        let test_name = std::mem::replace(&mut after_is, first == "is");
        if !KEYWORDS.contains(&first.as_str()) && !test_name && !paths.contains(&path) {
            paths.push(path);
        }
    }
    paths
}

// ------------------------------------------------------------ resolving

/// Every leaf of the template context by (field name, value), and by value
/// alone, for finding the field an expression read through a loop variable
/// or an alias (`{% set tf = findings.q3 %}`).
struct Index {
    /// `None` where two fields hold the value: neither is claimed.
    by_field: BTreeMap<(String, String), Option<String>>,
    by_value: BTreeMap<String, Option<String>>,
}

/// A value as the index compares it: numbers by their f64 bits.
fn canonical(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Number(n) => format!("n{:x}", n.as_f64().unwrap_or(f64::NAN).to_bits()),
        serde_json::Value::Array(items) => format!("[{}]", items.iter().map(canonical).collect::<Vec<_>>().join(",")),
        other => other.to_string(),
    }
}

impl Index {
    fn new(context: &serde_json::Value) -> Index {
        let mut index = Index { by_field: BTreeMap::new(), by_value: BTreeMap::new() };
        index.walk(context, String::new(), "");
        index
    }

    fn walk(&mut self, value: &serde_json::Value, path: String, field: &str) {
        match value {
            serde_json::Value::Object(map) => {
                for (key, v) in map {
                    let child = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
                    self.walk(v, child, key);
                }
                return;
            }
            serde_json::Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    self.walk(v, format!("{path}[{i}]"), field);
                }
            }
            _ => {}
        }
        let key = canonical(value);
        let only = |found: &mut Option<String>| *found = None;
        self.by_field.entry((field.to_owned(), key.clone())).and_modify(only).or_insert_with(|| Some(path.clone()));
        self.by_value.entry(key).and_modify(only).or_insert(Some(path));
    }

    /// The field `pattern` names, where the context holds `value` there;
    /// else the one field of `read`'s name holding `value`; else, for a
    /// value too particular to match by chance (a fraction, a text), the one
    /// field holding it. Where two fields could be meant, none is claimed.
    fn resolve(&self, context: &serde_json::Value, read: &str, pattern: &str, value: &serde_json::Value) -> Option<String> {
        if let Some(found) = matching(context, pattern, value) {
            return Some(found);
        }
        if let Some(found) = lookup(context, read)
            && canonical(found) == canonical(value)
        {
            return Some(read.to_owned());
        }
        let key = canonical(value);
        let field = last_field(read);
        if let Some(found) = field.and_then(|f| self.by_field.get(&(f.to_owned(), key.clone()))) {
            return found.clone();
        }
        let particular = match value {
            serde_json::Value::Number(n) => n.as_f64().is_some_and(|x| x.fract() != 0.0),
            serde_json::Value::String(s) => s.len() > 3,
            _ => false,
        };
        if particular { self.by_value.get(&key).cloned().flatten() } else { None }
    }
}

/// The first path that `pattern` (`a.rows[*].acc`, `[*]` any index or
/// key) matches in `context` where the value is `value`.
fn matching(context: &serde_json::Value, pattern: &str, value: &serde_json::Value) -> Option<String> {
    fn walk(at: &serde_json::Value, parts: &[&str], path: String, wanted: &str) -> Option<String> {
        let Some((part, rest)) = parts.split_first() else {
            return (canonical(at) == wanted).then_some(path);
        };
        match *part {
            "*" => match at {
                serde_json::Value::Array(items) => {
                    items.iter().enumerate().find_map(|(i, v)| walk(v, rest, format!("{path}[{i}]"), wanted))
                }
                serde_json::Value::Object(map) => map.iter().find_map(|(k, v)| walk(v, rest, format!("{path}[\"{k}\"]"), wanted)),
                _ => None,
            },
            index if index.parse::<usize>().is_ok() && at.is_array() => {
                walk(at.get(index.parse::<usize>().ok()?)?, rest, format!("{path}[{index}]"), wanted)
            }
            key if key.starts_with('"') => {
                let key = key.trim_matches('"');
                walk(at.get(key)?, rest, format!("{path}[\"{key}\"]"), wanted)
            }
            name => {
                let joined = if path.is_empty() { name.to_owned() } else { format!("{path}.{name}") };
                walk(at.get(name)?, rest, joined, wanted)
            }
        }
    }
    if pattern.is_empty() {
        return None;
    }
    let parts: Vec<&str> = pattern.split(['.', '[']).map(|p| p.trim_end_matches(']')).filter(|p| !p.is_empty()).collect();
    walk(context, &parts, String::new(), &canonical(value))
}

/// `a.b[2].c` -> `c`; `rows[3]` -> `rows`.
fn last_field(path: &str) -> Option<&str> {
    let trimmed = path.trim_end_matches(|c: char| c != ']' && !c.is_alphanumeric() && c != '_');
    let without_index = match trimmed.ends_with(']') {
        true => trimmed.rsplit_once('[').map_or(trimmed, |(before, _)| before),
        false => trimmed,
    };
    without_index.rsplit('.').next().filter(|f| !f.is_empty() && f.chars().all(|c| c.is_alphanumeric() || c == '_'))
}

/// The value at `path` (`a.b[2].c`, literal indices only) in `context`.
pub fn lookup<'a>(context: &'a serde_json::Value, path: &str) -> Option<&'a serde_json::Value> {
    let mut value = context;
    for part in path.split('.') {
        let (name, indices) = part.split_once('[').map_or((part, ""), |(n, i)| (n, i));
        if !name.is_empty() {
            value = value.get(name)?;
        }
        for index in indices.split('[').filter(|i| !i.is_empty()) {
            let index = index.strip_suffix(']')?;
            value = match index.parse::<usize>() {
                Ok(i) => value.get(i)?,
                Err(_) => value.get(index.trim_matches(['"', '\'']))?,
            };
        }
    }
    Some(value)
}

// ------------------------------------------------------------ recording

/// What one render recorded: every traced value, by its id.
#[derive(Clone, Default)]
pub struct Recorder {
    traced: Arc<Mutex<Vec<Traced>>>,
    calls: Arc<Mutex<Vec<MacroCall>>>,
}

/// A macro call under way: the macro, and the paths of its arguments.
type MacroCall = (String, Vec<String>);

impl Recorder {
    /// Adds the `traced` filter to `env`, resolving against `context`.
    pub fn install(&self, env: &mut minijinja::Environment<'static>, context: &serde_json::Value) {
        env.add_function(KEY, |key: Value| match key.as_str() {
            Some(name) => format!("[\"{name}\"]"),
            None => format!("[{key}]"),
        });
        env.add_function(ELEMENTS, |path: String, list: Value| -> Result<Vec<String>, Error> {
            let keys: Vec<Value> = list.try_iter()?.collect();
            Ok(match list.kind() {
                minijinja::value::ValueKind::Map => keys.iter().map(|k| format!("{path}[\"{k}\"]")).collect(),
                _ => (0..keys.len()).map(|i| format!("{path}[{i}]")).collect(),
            })
        });
        let calls = Arc::clone(&self.calls);
        env.add_function(CALL, move |name: String, paths: Vec<String>| {
            calls.lock().expect("not poisoned").push((name, paths));
            String::new()
        });
        let calls = Arc::clone(&self.calls);
        env.add_function(PARAMETERS, move |name: String, count: usize| {
            let mut calls = calls.lock().expect("not poisoned");
            let mut paths = match calls.last() {
                Some((called, _)) if *called == name => calls.pop().map(|(_, paths)| paths).unwrap_or_default(),
                _ => Vec::new(),
            };
            paths.resize(count, String::new());
            paths
        });
        let index = Arc::new(Index::new(context));
        let context = Arc::new(context.clone());
        let traced = Arc::clone(&self.traced);
        env.add_filter(
            FILTER,
            move |state: &State, printed: Value, read: Value, texts: Vec<String>, pattern: String| -> Result<Value, Error> {
                let [expression, read_text]: [String; 2] =
                    texts.try_into().map_err(|_| Error::new(ErrorKind::InvalidOperation, "traced: the expression and the field read"))?;
                let text = printed.to_string();
                let value = serde_json::to_value(&read).unwrap_or(serde_json::Value::Null);
                let numeric = |v: &serde_json::Value| {
                    v.is_number() || v.as_array().is_some_and(|items| !items.is_empty() && items.iter().all(serde_json::Value::is_number))
                };
                // How many items a list holds ("2 seeds"): the field `LIST | length`.
                let filters = top_level_split(&expression, '|');
                let counted = filters[1..].iter().any(|f| matches!(f.trim().split('(').next(), Some("length" | "count")));
                let count = value.as_array().map(Vec::len).filter(|n| counted && leading_count(&text) == Some(*n));
                // Words, names and keys are not numbers, even with digits in them.
                if !(numeric(&value) || count.is_some()) || !text.chars().any(|c| c.is_ascii_digit()) {
                    return Ok(printed);
                }
                let path = index.resolve(&context, &read_text, &pattern, &value);
                let (path, value) = match count {
                    Some(n) => (path.map(|p| format!("{p} {LENGTH}")), serde_json::json!(n)),
                    None => (path, value),
                };
                let mut traced = traced.lock().expect("not poisoned");
                let name = state.name();
                let template = name.rfind("answers/").map_or(name, |at| &name[at..]).to_owned();
                traced.push(Traced { text: text.clone(), expression, template, path, value });
                Ok(Value::from(format!("{START}{}{MIDDLE}{text}{END}", traced.len() - 1)))
            },
        );
    }

    pub fn take(&self) -> Vec<Traced> {
        std::mem::take(&mut self.traced.lock().expect("not poisoned"))
    }
}

// ------------------------------------------------------------ output

/// `text` without the marks: what the reader sees, for the PDF, headings
/// and anything that needs plain text.
pub fn strip(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_id = false;
    for c in text.chars() {
        match c {
            START => in_id = true,
            MIDDLE => in_id = false,
            END => {}
            c if !in_id => out.push(c),
            _ => {}
        }
    }
    out
}

/// HTML with each mark turned into what `open(id, inside_a_link)` gives
/// before the value and `close(inside_a_link)` after it; marks inside a
/// tag (an attribute) are dropped.
pub fn replace_marks(html: &str, open: impl Fn(usize, bool) -> String, close: impl Fn(bool) -> String) -> String {
    let mut out = String::with_capacity(html.len() * 2);
    let (mut in_tag, mut links, mut id, mut in_id) = (false, 0usize, String::new(), false);
    let mut chars = html.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            START => {
                in_id = true;
                id.clear();
            }
            MIDDLE => {
                in_id = false;
                if !in_tag {
                    out.push_str(&open(id.parse().unwrap_or(usize::MAX), links > 0));
                }
            }
            END if !in_tag => out.push_str(&close(links > 0)),
            END => {}
            c if in_id => id.push(c),
            '<' => {
                in_tag = true;
                let rest = &html[i..];
                if rest.starts_with("<a ") || rest.starts_with("<a>") {
                    links += 1;
                } else if rest.starts_with("</a>") {
                    links = links.saturating_sub(1);
                }
                out.push(c);
            }
            '>' => {
                in_tag = false;
                out.push(c);
            }
            c => out.push(c),
        }
        let _ = chars.peek();
    }
    out
}

// ------------------------------------------------------------ sources

/// `path` as the PDF's list names it under its group: less the experiment's
/// name where the group is that experiment (`q3_cnn.seeds[0]` -> `seeds[0]`),
/// less the root where the group is named by it (`findings.q1.pixels` ->
/// `q1.pixels`), and whole where it is read from elsewhere
/// (`experiments[6].seed`).
fn field_in_group<'a>(path: &'a str, experiment: Option<&str>) -> &'a str {
    let root = path.split(['.', '[']).next().unwrap_or("");
    let rest = &path[root.len()..];
    let named_by_root = match experiment {
        Some(id) => root == id || root.strip_suffix("_run") == Some(id),
        None => true,
    };
    match (named_by_root, rest.strip_prefix('.')) {
        (true, Some(field)) => field,
        _ => path,
    }
}

/// How each printing of a value reads outside maths: `sci`'s
/// `$5.62 \times 10^{-6}$` as "5.62 × 10⁻⁶", for the sources' plain cells.
fn plain_printed(printed: &[String]) -> Vec<String> {
    let superscript = |c: char| "0123456789-".find(c).and_then(|i| "⁰¹²³⁴⁵⁶⁷⁸⁹⁻".chars().nth(i)).unwrap_or(c);
    let word = |text: &str| -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find('$') {
            let Some(len) = rest[start + 1..].find('$') else { break };
            out.push_str(&rest[..start]);
            let maths = rest[start + 1..start + 1 + len].replace(r"\times", "×");
            let mut pieces = maths.split("^{");
            out.push_str(pieces.next().unwrap_or("").trim_end());
            for piece in pieces {
                let (exponent, after) = piece.split_once('}').unwrap_or((piece, ""));
                out.extend(exponent.chars().map(superscript));
                out.push_str(after);
            }
            rest = &rest[start + 2 + len..];
        }
        out.push_str(rest);
        // Kept on one line: "5.62 × 10⁻⁶", "13.15 %", "2.2 s".
        let words: Vec<&str> = out.split_whitespace().collect();
        match words.len() <= 3 {
            true => words.join("\u{a0}"),
            false => words.join(" "),
        }
    };
    printed.iter().map(|p| word(p)).collect()
}

/// One field the report prints, with every way it is printed.
#[derive(Debug, Clone, Serialize)]
pub struct Source {
    /// `None`: not traced to one field (computed in the template, or read
    /// where the field behind a name is unknown).
    pub path: Option<String>,
    pub value: serde_json::Value,
    pub printed: Vec<String>,
    pub expression: String,
    pub template: String,
    pub experiment: Option<String>,
    /// The experiment's cache key.
    pub key: Option<String>,
    /// Current, stale (and why), or what else the field is.
    pub state: String,
}

/// The report's sources, and which one each traced value links to.
pub struct Sources {
    pub entries: Vec<Source>,
    of_traced: Vec<usize>,
}

impl Sources {
    /// Groups `traced` by field; `stale` holds each experiment whose result
    /// is not the current code's, with the reason (a preview's; empty in a
    /// built report).
    pub fn new(traced: &[Traced], context: &serde_json::Value, stale: &BTreeMap<String, String>) -> Sources {
        let mut entries: Vec<Source> = Vec::new();
        let mut by_path: BTreeMap<String, usize> = BTreeMap::new();
        let mut of_traced = Vec::with_capacity(traced.len());
        for t in traced {
            let existing = t.path.as_ref().and_then(|p| by_path.get(p)).copied();
            let index = match existing {
                Some(i) => i,
                None => {
                    let experiment = t.experiment(context).map(str::to_owned);
                    let key = experiment.as_ref().and_then(|id| context[format!("{id}_run")]["key"].as_str()).map(str::to_owned);
                    let root = t.path.as_deref().map(|p| p.split(['.', '[']).next().unwrap_or(""));
                    let state = match (&experiment, root) {
                        (Some(id), _) => match stale.get(id) {
                            Some(why) => format!("stale: {why}"),
                            None => "current: computed by this code".to_owned(),
                        },
                        (None, Some("findings")) => "a finding, computed from the results (src/findings/)".to_owned(),
                        (None, Some("run")) => "the run's record".to_owned(),
                        (None, Some("report")) => "report.toml".to_owned(),
                        (None, Some(_)) => "the template context".to_owned(),
                        (None, None) => format!(
                            "not traced to one field: computed in {}, or read through a macro, an include or a filtered loop",
                            t.template
                        ),
                    };
                    entries.push(Source {
                        path: t.path.clone(),
                        value: t.value.clone(),
                        printed: Vec::new(),
                        expression: t.expression.clone(),
                        template: t.template.clone(),
                        experiment,
                        key,
                        state,
                    });
                    if let Some(p) = &t.path {
                        by_path.insert(p.clone(), entries.len() - 1);
                    }
                    entries.len() - 1
                }
            };
            let printed = t.printed_as();
            if !entries[index].printed.contains(&printed) {
                entries[index].printed.push(printed);
            }
            of_traced.push(index);
        }
        Sources { entries, of_traced }
    }

    /// The values computed in a template rather than read from a field.
    pub fn untraced(&self) -> impl Iterator<Item = &Source> {
        self.entries.iter().filter(|s| s.path.is_none())
    }

    /// One line of what `source` is, for a tooltip.
    fn describe(source: &Source) -> String {
        let field = match &source.path {
            Some(path) => format!("{path} = {}", source.value),
            None => format!("`{}` in {}", source.expression, source.template),
        };
        let experiment = match (&source.experiment, &source.key) {
            (Some(id), Some(key)) => format!(" · experiment {id}, key {}", &key[..key.len().min(12)]),
            (Some(id), None) => format!(" · experiment {id}"),
            _ => String::new(),
        };
        format!("{field}{experiment} · {}", source.state)
    }

    /// `body` (HTML) with each traced value a link to its source's row.
    pub fn link(&self, body: &str) -> String {
        let open = |id: usize, in_link: bool| {
            let Some(&index) = self.of_traced.get(id) else { return String::new() };
            let source = &self.entries[index];
            let class = if source.path.is_some() { "n" } else { "n untraced" };
            let title = escape_html(&Self::describe(source));
            let data = match &source.path {
                Some(path) => format!(" data-path=\"{}\" data-value=\"{}\"", escape_html(path), escape_html(&source.value.to_string())),
                None => String::new(),
            };
            match in_link {
                true => format!("<span class=\"{class}\" title=\"{title}\"{data}>"),
                false => format!("<a class=\"{class}\" href=\"#source-{index}\" title=\"{title}\"{data}>"),
            }
        };
        replace_marks(body, open, |in_link| if in_link { "</span>".into() } else { "</a>".into() })
    }

    /// The HTML appendix: each source a row that the values link to.
    pub fn html_table(&self) -> String {
        let mut rows = String::new();
        for (i, s) in self.entries.iter().enumerate() {
            let field = match &s.path {
                Some(path) => format!("<code>{}</code>", escape_html(path)),
                None => format!("computed in {}: <code>{}</code>", escape_html(&s.template), escape_html(&s.expression)),
            };
            let experiment = match &s.experiment {
                Some(id) => format!("<a href=\"#experiment-{id}\">{id}</a>"),
                None => String::new(),
            };
            let key = s.key.as_deref().map_or(String::new(), |k| format!("<code>{}</code>", &k[..k.len().min(12)]));
            rows.push_str(&format!(
                "<tr id=\"source-{i}\"><td>{field}</td><td>{}</td><td>{}</td><td>{experiment}</td><td>{key}</td><td>{}</td></tr>\n",
                escape_html(&s.value.to_string()),
                escape_html(&plain_printed(&s.printed).join(" · ")),
                escape_html(&s.state)
            ));
        }
        format!(
            "<div class=\"table-scroll\" tabindex=\"0\" role=\"region\" aria-label=\"Where each number comes from\"><table class=\"sources\">\n\
             <thead><tr><th>Field</th><th>Value</th><th>Printed as</th><th>Experiment</th><th>Key</th><th>State</th></tr></thead>\n<tbody>\n{rows}</tbody></table></div>\n"
        )
    }

    /// The PDF appendix, as typst markup: by experiment (or findings, run,
    /// template), each field the answers print and how they print it, in two
    /// columns of small type.
    pub fn typst_list(&self) -> String {
        let escape = super::escape::escape_typst;
        let mut groups: BTreeMap<String, Vec<&Source>> = BTreeMap::new();
        for s in &self.entries {
            let group = match (&s.experiment, &s.key, &s.path) {
                (Some(id), Some(key), _) => format!("{id} (key {}; {})", &key[..key.len().min(12)], s.state),
                (_, _, Some(path)) => path.split(['.', '[']).next().unwrap_or("").to_owned(),
                (_, _, None) => "not traced to one field".to_owned(),
            };
            groups.entry(group).or_default().push(s);
        }
        let mut out = String::from("#[#set text(size: 7pt)\n#set par(justify: false)\n#columns(2)[\n");
        for (group, sources) in &groups {
            out.push_str(&format!("\n*{}*: ", escape(group)));
            let fields: Vec<String> = sources
                .iter()
                .map(|s| {
                    let field = s.path.as_deref().map_or(s.expression.as_str(), |path| field_in_group(path, s.experiment.as_deref()));
                    format!("#raw({}) {}", super::escape::typst_string(field), escape(&plain_printed(&s.printed).join(" · ")))
                })
                .collect();
            out.push_str(&fields.join("; "));
            out.push_str(".\n");
        }
        out.push_str("]]\n");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pdf_list_names_a_field_under_its_group_and_whole_when_read_from_elsewhere() {
        assert_eq!(field_in_group("q3_cnn.seeds[0].accuracy", Some("q3_cnn")), "seeds[0].accuracy");
        assert_eq!(field_in_group("q3_cnn_run.config.epochs", Some("q3_cnn")), "config.epochs");
        assert_eq!(field_in_group("experiments[6].seed", Some("appendix_earlier_edition")), "experiments[6].seed");
        assert_eq!(field_in_group("findings.q1.pixels", None), "q1.pixels");
        assert_eq!(field_in_group("run.seed", None), "seed");
    }

    #[test]
    fn a_count_names_its_list_and_a_sum_says_it_is_computed() {
        let context = serde_json::json!({"a": {"seeds": [{"acc": 0.5}, {"acc": 0.6}], "rates": [0.1, 0.2, 0.3], "n": 2, "acc": 0.9735}});
        let template = "{{ a.seeds | length | count(\"seed\") }}, {{ a.rates | length }}, {{ (a.n - 1) | count(\"degree\") }}, {{ a.acc | pct }}, {{ a.seeds | length }}{{ a.rates[0] }}";
        let (out, traced) = render(template, context);
        assert_eq!(strip(&out), "2 seeds, 3, 1 degree, 97.35 %, 20.1");
        assert_eq!(
            paths(&traced),
            [Some("a.seeds | length"), Some("a.rates | length"), Some("a.n"), Some("a.acc"), Some("a.seeds | length"), Some("a.rates[0]")]
        );
        assert_eq!(traced[1].value, serde_json::json!(3));
        let printed: Vec<String> = traced.iter().map(Traced::printed_as).collect();
        assert_eq!(printed[..4], ["2 seeds", "3", "1 degree (computed from it)", "97.35 %"]);
    }

    #[test]
    fn sci_maths_reads_as_plain_text_in_the_sources() {
        let printed = [r"$5.62 \times 10^{-6}$", r"$10^{-3}$", "0.25", r"$0$ s"].map(String::from);
        assert_eq!(plain_printed(&printed), ["5.62\u{a0}×\u{a0}10⁻⁶", "10⁻³", "0.25", "0\u{a0}s"]);
    }

    #[test]
    fn instruments_what_reads_a_field_and_leaves_calls_alone() {
        assert_eq!(instrument("a {{ x.y | pct }} b"), "a {{ (x.y | pct) | traced(x.y, [\"x.y | pct\", \"x.y\"], \"x.y\") }} b");
        assert_eq!(
            instrument("{{- (e.gap * 100) | num(2) -}}"),
            "{{- ((e.gap * 100) | num(2)) | traced(e.gap, [\"(e.gap * 100) | num(2)\", \"e.gap\"], \"e.gap\") -}}"
        );
        assert_eq!(instrument("{{ a - b }}"), "{{ (a - b) | traced(a - b, [\"a - b\", \"a - b\"], \"\") }}");
        // Through the names `set` and `for` give, to the field itself.
        assert_eq!(
            instrument("{% set tf = findings.q3 %}{% for r in tf.rows %}{{ r.d | signed }}{% endfor %}{{ tf.rows[loop.index0].e }}"),
            "{% set tf = findings.q3 %}{% for r in tf.rows %}{% set traced_path_r = (traced_elements(\"findings.q3.rows\", tf.rows))[loop.index0] %}{{ (r.d | signed) | traced(r.d, [\"r.d | signed\", \"r.d\"], (traced_path_r | default(\"\")) ~ \".d\") }}{% endfor %}\
             {{ (tf.rows[loop.index0].e) | traced(tf.rows[loop.index0].e, [\"tf.rows[loop.index0].e\", \"tf.rows[loop.index0].e\"], \"findings.q3.rows\" ~ traced_key(loop.index0) ~ \".e\") }}"
        );
        assert_eq!(
            instrument("{% for label, n in q1.counts.items() %}{{ n }}{% endfor %}"),
            "{% for label, n in q1.counts.items() %}{% set traced_path_n = \"q1.counts\" ~ traced_key(label) %}{{ (n) | traced(n, [\"n\", \"n\"], (traced_path_n | default(\"\"))) }}{% endfor %}"
        );
        for untouched in [
            "{{ table(\"A \\\"b\\\"\", \"n\") }}",
            "{{ code(\"src/a.rs\", \"r\") }}",
            "{{ m.macro(1) | safe }}",
            "{{ loop.index0 }}",
            "{{ \"}}\" }}",
            "no end {{ x",
        ] {
            assert_eq!(instrument(untouched), untouched);
        }
    }

    fn paths(traced: &[Traced]) -> Vec<Option<&str>> {
        traced.iter().map(|t| t.path.as_deref()).collect()
    }

    fn render(template: &str, context: serde_json::Value) -> (String, Vec<Traced>) {
        let mut env = crate::report::answers::environment();
        let recorder = Recorder::default();
        recorder.install(&mut env, &context);
        env.add_template_owned("q9.md", instrument(template)).unwrap();
        let out = env.get_template("q9.md").unwrap().render(&context).unwrap();
        (out, recorder.take())
    }

    #[test]
    fn a_printed_number_names_the_field_that_holds_it_through_aliases_loops_and_scaling() {
        let context = serde_json::json!({
            "q3_cnn": {"acc": 0.9954, "seeds": [{"acc": 0.9951}, {"acc": 0.9957}], "counts": {"0": 7, "1": 7}},
            "findings": {"q3": {"gain": 0.0012}},
            "n": 10, "m": 10, "name": "net",
        });
        let template = "{{ q3_cnn.acc | pct }} {% set f = findings.q3 %}{{ (f.gain * 100) | signed }} \
            {% for s in q3_cnn.seeds %}{{ s.acc | num(4) }} {% endfor %}{{ name }} {{ n + m }} \
            {% for label, count in q3_cnn.counts | items %}{{ count }}{% endfor %}";
        let (out, traced) = render(template, context);
        assert_eq!(strip(&out), "99.54 % +0.12 0.9951 0.9957 net 20 77");
        assert_eq!(
            paths(&traced),
            [
                Some("q3_cnn.acc"),
                Some("findings.q3.gain"),
                Some("q3_cnn.seeds[0].acc"),
                Some("q3_cnn.seeds[1].acc"),
                None,
                Some("q3_cnn.counts[\"0\"]"),
                Some("q3_cnn.counts[\"1\"]")
            ]
        );
        assert_eq!(traced[1].value, serde_json::json!(0.0012));
        assert_eq!(traced[4].expression, "n + m");
    }

    #[test]
    fn equal_values_in_rows_lists_and_joined_lists_each_name_their_own_field() {
        let context = serde_json::json!({
            "s": {"baseline": {"d": 0}, "decayed": [{"d": 0}, {"d": 0}]},
            "t": {"a": {"mean": [0.5, 0.5]}, "b": {"mean": [0.5]}},
            "p": {"pairs": [["x", 3], ["y", 3]]},
            "other": {"d": 0},
        });
        let template = "{% for f in [s.baseline] + s.decayed %}{{ f.d }}{% endfor %} \
            {% for m in [t.a, t.b] %}{% for acc in m.mean %}{{ acc }}{% endfor %}{% endfor %} \
            {% for label, n in p.pairs %}{{ n }}{% endfor %} \
            {% macro show(v) %}{{ v.d }}{% endmacro %}{{ show(other) }}";
        let (out, traced) = render(template, context);
        assert_eq!(strip(&out), "000 0.50.50.5 33 0");
        assert_eq!(
            paths(&traced),
            [
                Some("s.baseline.d"),
                Some("s.decayed[0].d"),
                Some("s.decayed[1].d"),
                Some("t.a.mean[0]"),
                Some("t.a.mean[1]"),
                Some("t.b.mean[0]"),
                Some("p.pairs[0][1]"),
                Some("p.pairs[1][1]"),
                // Through a macro's parameter.
                Some("other.d"),
            ]
        );
    }

    #[test]
    fn a_loops_names_end_with_it() {
        let out = instrument("{% for r in a.rows %}{{ r.x }}{{ r.k[:3] }}{% endfor %}{{ r.x }}");
        assert!(out.contains("(traced_path_r | default(\"\")) ~ \".k[*]\""), "a slice is no index: {out}");
        assert!(out.ends_with("{{ (r.x) | traced(r.x, [\"r.x\", \"r.x\"], \"r.x\") }}"), "{out}");
        let out = instrument("{% set r = b.c %}{% for r in a.rows %}{% endfor %}{% macro m(r) %}{{ r.x }}{% endmacro %}{{ r.x }}");
        assert!(
            out.contains("{% set traced_path_r = traced_parameters_m[0] %}{{ (r.x) | traced(r.x, [\"r.x\", \"r.x\"], (traced_path_r"),
            "{out}"
        );
        assert!(out.ends_with("{{ (r.x) | traced(r.x, [\"r.x\", \"r.x\"], \"b.c.x\") }}"), "{out}");
    }

    #[test]
    fn a_first_or_last_item_and_every_name_of_a_pair_name_their_fields() {
        let context = serde_json::json!({"h": {"epochs": [{"acc": 0.5}, {"acc": 0.5}], "means": [0.25, 0.25]}, "p": [[7, 0.5]]});
        let template =
            "{{ (h.epochs | last).acc }} {{ h.means | first }} {{ h.means | last }} {% for label, v in p %}{{ label }} {{ v }}{% endfor %}";
        let (out, traced) = render(template, context);
        assert_eq!(strip(&out), "0.5 0.25 0.25 7 0.5");
        assert_eq!(paths(&traced), [Some("h.epochs[1].acc"), Some("h.means[0]"), Some("h.means[1]"), Some("p[0][0]"), Some("p[0][1]")]);
    }

    #[test]
    fn a_value_matched_by_chance_is_not_claimed() {
        // Passed a sum, a macro's parameter is no field: `k` holds 10 as
        // `a.n` does, and a whole number is too common to be matched by value
        // alone; a fraction is not.
        let context = serde_json::json!({"a": {"n": 10}, "k": 10, "x": {"ratio": 0.123}});
        let (_, traced) = render("{% macro show(v) %}{{ v }}{% endmacro %}{{ show(k + 0) }} {{ show(x.ratio + 0) }}", context);
        assert_eq!(traced[0].path, None);
        assert_eq!(traced[1].path.as_deref(), Some("x.ratio"));
    }

    #[test]
    fn marks_become_links_outside_tags_and_vanish_inside_them() {
        let html = format!("<p>{START}0{MIDDLE}97 %{END}</p><img alt=\"{START}1{MIDDLE}3{END}\"><a href=\"#x\">{START}2{MIDDLE}4{END}</a>");
        let out = replace_marks(
            &html,
            |id, in_link| format!("<{}{id}>", if in_link { "s" } else { "a" }),
            |in_link| if in_link { "</s>".into() } else { "</a>".into() },
        );
        assert_eq!(out, "<p><a0>97 %</a></p><img alt=\"3\"><a href=\"#x\"><s2>4</s></a>");
        assert_eq!(strip(&html), "<p>97 %</p><img alt=\"3\"><a href=\"#x\">4</a>");
    }

    #[test]
    fn finds_the_experiment_of_a_field() {
        let context = serde_json::json!({"experiments": [{"id": "q1"}, {"id": "q3_cnn"}]});
        let of = |path: &str| Traced {
            text: String::new(),
            expression: String::new(),
            template: String::new(),
            path: Some(path.into()),
            value: serde_json::Value::Null,
        };
        assert_eq!(of("q3_cnn.acc").experiment(&context), Some("q3_cnn"));
        assert_eq!(of("q3_cnn_run.wall_seconds").experiment(&context), Some("q3_cnn"));
        assert_eq!(of("experiments[0].wall_seconds").experiment(&context), Some("q1"));
        assert_eq!(of("findings.q3.gain").experiment(&context), None);
    }
}

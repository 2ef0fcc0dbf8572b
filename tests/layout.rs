//! The shape of `src/`, checked from the files themselves: modules import each other
//! without a cycle, no file is over 500 lines, no function outside tests over 80 lines.
//! (Reads rustfmt-formatted source; no model needed.)

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const MAX_FILE_LINES: usize = 500;
const MAX_FN_LINES: usize = 80;

/// Every `.rs` file under `src/`, with its module path ("engine::llama::live").
fn modules() -> BTreeMap<String, PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    walk(&src, &mut files);
    files
        .into_iter()
        .map(|p| {
            let rel = p.strip_prefix(&src).unwrap().with_extension("");
            let mut parts: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if parts
                .last()
                .is_some_and(|l| l == "mod" || l == "lib" || l == "main")
            {
                parts.pop();
            }
            // A `#[path]` twin is the module it stands in for.
            if let Some(l) = parts.last_mut() {
                if let Some(base) = l.strip_suffix("_off") {
                    *l = base.to_string();
                }
            }
            (parts.join("::"), p)
        })
        .collect()
}

/// The source without its `#[cfg(test)]` module.
fn non_test(text: &str) -> &str {
    text.find("#[cfg(test)]\nmod tests")
        .map_or(text, |i| &text[..i])
}

/// Paths named after `crate::`, `super::` and `self::`, use-trees expanded, resolved to
/// module paths of `module`'s crate.
fn referenced_paths(module: &str, is_mod_file: bool, text: &str) -> Vec<String> {
    let own: Vec<&str> = module.split("::").filter(|s| !s.is_empty()).collect();
    // `super` of a file module is its parent; of a mod.rs, the parent's parent.
    let parent = if is_mod_file || own.is_empty() {
        own[..own.len().saturating_sub(1)].to_vec()
    } else {
        own[..own.len() - 1].to_vec()
    };
    let base_of = |head: &str| -> Option<Vec<&str>> {
        match head {
            "crate" => Some(Vec::new()),
            "super" => Some(parent.clone()),
            "self" => Some(own.clone()),
            _ => None,
        }
    };
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    for head in ["crate::", "super::", "self::"] {
        let mut from = 0;
        while let Some(at) = text[from..].find(head) {
            let start = from + at;
            from = start + head.len();
            let before = start.checked_sub(1).map(|i| bytes[i] as char);
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            let base = base_of(head.trim_end_matches(':')).unwrap();
            expand(
                &text[start + head.len()..],
                base.iter().map(|s| s.to_string()).collect(),
                &mut out,
            );
        }
    }
    out
}

/// Expands the use-tree at the start of `rest` under `prefix` into full paths.
fn expand(rest: &str, prefix: Vec<String>, out: &mut Vec<String>) {
    let ident: String = rest
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    if ident.is_empty() {
        if let Some(inner) = rest.strip_prefix('{') {
            // Split the group at top-level commas.
            let (mut depth, mut item_start) = (0, 0);
            for (i, c) in inner.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        expand(inner[item_start..i].trim_start(), prefix.clone(), out);
                        return;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        expand(inner[item_start..i].trim_start(), prefix.clone(), out);
                        item_start = i + 1;
                    }
                    _ => {}
                }
            }
        }
        out.push(prefix.join("::"));
        return;
    }
    let mut path = prefix;
    if ident != "self" {
        path.push(ident.clone());
    }
    match rest[ident.len()..].strip_prefix("::") {
        Some(next) => expand(next, path, out),
        None => out.push(path.join("::")),
    }
}

/// The longest known module that `path` lies in.
fn owner<'a>(path: &str, known: &'a BTreeMap<String, PathBuf>) -> Option<&'a str> {
    let parts: Vec<&str> = path.split("::").collect();
    (1..=parts.len())
        .rev()
        .map(|n| parts[..n].join("::"))
        .find_map(|p| known.get_key_value(&p).map(|(k, _)| k.as_str()))
}

#[test]
fn modules_import_each_other_without_a_cycle() {
    let known = modules();
    let mut edges: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (module, path) in &known {
        let text = std::fs::read_to_string(path).unwrap();
        let is_mod = path.file_name().is_some_and(|f| f == "mod.rs");
        for p in referenced_paths(module, is_mod, non_test(&text)) {
            if let Some(to) = owner(&p, &known) {
                if to != module && !to.is_empty() {
                    edges.entry(module).or_default().insert(to);
                }
            }
        }
    }
    // Depth-first search; a grey node met again closes a cycle.
    fn visit<'a>(
        n: &'a str,
        edges: &BTreeMap<&'a str, BTreeSet<&'a str>>,
        state: &mut BTreeMap<&'a str, u8>,
        stack: &mut Vec<&'a str>,
    ) -> Option<Vec<&'a str>> {
        match state.get(n) {
            Some(2) => return None,
            Some(1) => {
                let at = stack.iter().position(|s| *s == n).unwrap();
                let mut cycle = stack[at..].to_vec();
                cycle.push(n);
                return Some(cycle);
            }
            _ => {}
        }
        state.insert(n, 1);
        stack.push(n);
        for &m in edges.get(n).into_iter().flatten() {
            if let Some(c) = visit(m, edges, state, stack) {
                return Some(c);
            }
        }
        stack.pop();
        state.insert(n, 2);
        None
    }
    let mut state = BTreeMap::new();
    for module in known.keys() {
        let cycle = visit(module, &edges, &mut state, &mut Vec::new());
        assert!(
            cycle.is_none(),
            "import cycle: {}",
            cycle.unwrap().join(" -> ")
        );
    }
    assert!(
        edges
            .get("report::timing")
            .is_some_and(|e| e.contains("engine::measures")),
        "the check sees imports: {edges:?}"
    );
}

#[test]
fn files_and_functions_stay_short() {
    let mut long = Vec::new();
    for path in modules().values() {
        let text = std::fs::read_to_string(path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        if lines.len() > MAX_FILE_LINES {
            long.push(format!("{}: {} lines", path.display(), lines.len()));
        }
        let code: Vec<&str> = non_test(&text).lines().collect();
        for (i, line) in code.iter().enumerate() {
            let trimmed = line.trim_start();
            let is_fn = [
                "fn ",
                "pub fn ",
                "pub(crate) fn ",
                "pub(super) fn ",
                "async fn ",
                "pub async fn ",
                "const fn ",
                "pub const fn ",
            ]
            .iter()
            .any(|p| trimmed.starts_with(p));
            if !is_fn || trimmed.ends_with(';') {
                continue;
            }
            let indent = &line[..line.len() - trimmed.len()];
            let close = format!("{indent}}}");
            let Some(end) = code[i..].iter().position(|l| *l == close) else {
                continue;
            };
            if end + 1 > MAX_FN_LINES {
                long.push(format!(
                    "{}:{}: fn of {} lines",
                    path.display(),
                    i + 1,
                    end + 1
                ));
            }
        }
    }
    assert!(long.is_empty(), "too long:\n{}", long.join("\n"));
}

/// Most parameters a function takes (`self` not counted).
const MAX_PARAMS: usize = 6;

/// The top-level parts of `list`, split at commas outside brackets.
fn top_level_parts(list: &str) -> Vec<String> {
    let (mut depth, mut part, mut parts) = (0i32, String::new(), Vec::new());
    for c in list.chars() {
        match c {
            '(' | '<' | '[' | '{' => depth += 1,
            ')' | '>' | ']' | '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(std::mem::take(&mut part));
                continue;
            }
            _ => {}
        }
        part.push(c);
    }
    parts.push(part);
    parts
        .into_iter()
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

/// The parameter list of the function whose signature starts at `code[i]`.
fn parameters(code: &[&str], i: usize) -> Option<String> {
    let sig: String = code[i..]
        .iter()
        .take(30)
        .copied()
        .collect::<Vec<_>>()
        .join(" ");
    let open = sig.find('(')?;
    let mut depth = 0;
    for (k, c) in sig[open..].char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return Some(sig[open + 1..open + k].to_string());
                }
            }
            _ => {}
        }
    }
    None
}

/// Why a parameter list is too wide: too many parameters, or one that is an anonymous
/// tuple (its parts deserve names of their own, or a struct).
fn too_wide(params: &str) -> Option<String> {
    let parts: Vec<String> = top_level_parts(params)
        .into_iter()
        .filter(|p| !matches!(p.as_str(), "self" | "&self" | "&mut self" | "mut self"))
        .collect();
    if parts.len() > MAX_PARAMS {
        return Some(format!("{} parameters", parts.len()));
    }
    for p in &parts {
        let Some((_, ty)) = p.split_once(':') else {
            continue;
        };
        let ty = ty.trim().trim_start_matches('&').trim_start_matches("mut ");
        if ty.starts_with('(') && ty != "()" {
            return Some(format!("a tuple parameter ({})", p.trim()));
        }
    }
    None
}

#[test]
fn functions_take_few_parameters_and_no_tuple() {
    let mut wide = Vec::new();
    for path in modules().values() {
        let text = std::fs::read_to_string(path).unwrap();
        let code: Vec<&str> = non_test(&text).lines().collect();
        for (i, line) in code.iter().enumerate() {
            let t = line.trim_start();
            let is_fn = t.starts_with("fn ") || (t.contains(" fn ") && !t.starts_with("//"));
            if !is_fn || t.contains("Fn(") || t.contains("FnMut(") || t.contains("fn(") {
                continue;
            }
            if let Some(why) = parameters(&code, i).as_deref().and_then(too_wide) {
                wide.push(format!("{}:{}: {why}", path.display(), i + 1));
            }
        }
    }
    assert!(wide.is_empty(), "too wide:\n{}", wide.join("\n"));
    assert_eq!(
        too_wide("a: u8, b: u8, c: u8, d: u8, e: u8, f: u8, g: u8").as_deref(),
        Some("7 parameters")
    );
    assert!(too_wide("&self, (a, b): (&u8, u32)").is_some());
    assert!(too_wide("key: (u64, Format)").is_some());
    assert!(too_wide("&self, a: &u8, pairs: Vec<(u8, u8)>, f: impl Fn() -> ()").is_none());
}

#[test]
fn the_course_fields_are_declared_once_as_asked_and_once_as_checked() {
    const FIELDS: [&str; 6] = ["topic", "modules", "audience", "level", "weeks", "language"];
    let mut shapes = BTreeSet::new();
    for path in modules().values() {
        let text = std::fs::read_to_string(path).unwrap();
        let mut current: Option<(String, usize)> = None;
        for line in non_test(&text).lines() {
            let t = line.trim_start();
            if let Some(rest) = t
                .strip_prefix("pub struct ")
                .or_else(|| t.strip_prefix("struct "))
            {
                let name = rest
                    .split(|c: char| !c.is_alphanumeric() && c != '_')
                    .next()
                    .unwrap();
                current = Some((name.to_string(), 0));
                continue;
            }
            let field = t.trim_start_matches("pub ").split(':').next().unwrap_or("");
            if let Some((name, n)) = current.as_mut() {
                if FIELDS.contains(&field) && t.contains(':') {
                    *n += 1;
                    if *n == FIELDS.len() {
                        shapes.insert(name.clone());
                    }
                }
            }
            if t == "}" {
                current = None;
            }
        }
    }
    // The course as people ask for it (flags, file rows, API bodies), as checked (the
    // pipeline's request, kept in provenance), and the syllabus as written.
    let expected = BTreeSet::from([
        "CourseFields".into(),
        "CourseRequest".into(),
        "Syllabus".into(),
    ]);
    assert_eq!(shapes, expected);
}

//! What a `syllabus` binary writes, checked over a set of topics: validity, regenerations,
//! schema debris, text copied from prompts or the old worked example, strings cut
//! mid-sentence or mid-word, fragments glued to words, items repeated across modules, the
//! language of titles and lists, parts marked for review, prompt sizes, and time; and what
//! small models write instead of text: stutters, file names, the prompt's length guidance,
//! the module template restated, objectives as questions, English objectives not led by a
//! common verb (a list of its own), near-duplicate items in one list,
//! items left hanging mid-sentence. The checks here are independent of the
//! binary's own validation, so a binary from before a change is measured the same way.
//!
//! `cargo bench --bench content`; `CONTENT_BIN` (default: this checkout's release binary),
//! `BENCH_MODEL` (default: the dev model `models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf`
//! from `../shared/fetch-dev-model.sh`), `CONTENT_MODULES` (default `4,8`),
//! `CONTENT_TOPICS` (`;`-separated) or `CONTENT_SET=wide` (30 topics and one of 300
//! characters) or `CONTENT_SET=languages` (Spanish, German, French and Chinese topics),
//! `CONTENT_SEED` (default 42), `CONTENT_ARGS` (more arguments for every run, e.g. `--dry 0`),
//! `CONTENT_KEEP` (a folder where each run's syllabus is kept).

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

const TOPICS: [&str; 8] = [
    "Introduction to Marine Biology",
    "History of Jazz",
    "Personal Finance for Teenagers",
    "Introduction to Python Programming",
    "Climate Science",
    "Urban Gardening",
    "Historia de la música latinoamericana",
    "Einführung in die Astronomie",
];

/// Thirty varied topics (`CONTENT_SET=wide`), for the test model.
const WIDE: [&str; 30] = [
    "Introduction to Marine Biology",
    "History of Jazz",
    "Personal Finance for Teenagers",
    "Introduction to Python Programming",
    "Climate Science",
    "Urban Gardening",
    "World War I",
    "Basic Chemistry",
    "Public Speaking",
    "Introduction to Psychology",
    "Renaissance Art",
    "Nutrition and Health",
    "Digital Photography",
    "Astronomy for Beginners",
    "Creative Writing",
    "Introduction to Economics",
    "Human Anatomy",
    "Web Design Basics",
    "Ancient Egypt",
    "Statistics for Social Sciences",
    "Music Theory",
    "Environmental Ethics",
    "First Aid",
    "Introduction to Philosophy",
    "Geology of Volcanoes",
    "Spanish for Travelers",
    "Robotics for Kids",
    "Cybersecurity Awareness",
    "Film History",
    "Sustainable Farming",
];

/// A topic as long as the page and the command line accept (300 characters).
const LONG_TOPIC: &str = "A practical introduction to the history, science and everyday uses of \
renewable energy for secondary school students, with field trips to local solar and wind \
installations, hands-on experiments with small generators, and a final project in which \
each group designs an energy plan for its own school";

/// Topics in the languages a teacher is most likely to write besides English.
const LANGUAGES: [&str; 8] = [
    "Introducción a la Economía",
    "Historia de la música latinoamericana",
    "Einführung in die Astronomie",
    "Grundlagen der Chemie",
    "Introduction à la philosophie",
    "Histoire de l'art moderne",
    "海洋生物学入门",
    "中国古代历史",
];

/// Names of languages a title must not carry unless its topic does.
const LANGUAGE_NAMES: [&str; 10] = [
    "english",
    "spanish",
    "german",
    "french",
    "afrikaans",
    "bokmal",
    "bokmål",
    "norwegian",
    "danish",
    "italian",
];

/// Words and phrases of the photography example the prompts carried until 2026-11.
const EXAMPLE_PHRASES: [&str; 9] = [
    "photo",
    "aperture",
    "shutter",
    "camera",
    "depth of field",
    "exposure triangle",
    "portfolio of six",
    "short note on each choice",
    "rule of thirds",
];

/// Schema keys a reply must never carry as text.
const KEYS: [&str; 12] = [
    "title",
    "description",
    "audience",
    "prerequisites",
    "learning_outcomes",
    "modules",
    "focus",
    "summary",
    "learning_objectives",
    "topics",
    "activities",
    "assessment",
];

/// A field's character bound (the schema's since 2026-11-26): a string exactly that long
/// and ending in a letter was cut mid-word by the grammar.
fn bound(field: &str) -> usize {
    match field {
        "title" | "topics" => 70,
        "focus" => 100,
        "description" | "summary" => 420,
        "assessment" => 300,
        _ => 150,
    }
}

#[derive(Default)]
struct Tally {
    runs: usize,
    valid: usize,
    outline_retries: usize,
    module_retries: usize,
    strings: usize,
    debris: Vec<String>,
    leaks: Vec<String>,
    copies: Vec<String>,
    cut_sentences: Vec<String>,
    cut_words: Vec<String>,
    english_in_other: usize,
    glued: Vec<String>,
    repeats: Vec<String>,
    wrong_language: Vec<String>,
    language_in_title: Vec<String>,
    review_marks: usize,
    stutters: Vec<String>,
    file_names: Vec<String>,
    guidance: Vec<String>,
    template: Vec<String>,
    questions: Vec<String>,
    not_verb_led: Vec<String>,
    near_duplicates: Vec<String>,
    hanging: Vec<String>,
    outline_prompt: Vec<f64>,
    module_prefix: Vec<f64>,
    module_suffix: Vec<f64>,
    wall_s: Vec<f64>,
}

fn words(t: &str) -> Vec<String> {
    t.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// Every string of a syllabus with its field name and whether it is prose.
fn strings(s: &Value) -> Vec<(String, String, bool)> {
    let mut out = Vec::new();
    let mut add = |field: &str, v: &Value, prose: bool| match v {
        Value::String(t) => out.push((field.to_string(), t.clone(), prose)),
        Value::Array(items) => {
            for i in items {
                if let Some(t) = i.as_str() {
                    out.push((field.to_string(), t.to_string(), false));
                }
            }
        }
        _ => {}
    };
    for f in [
        "title",
        "description",
        "audience",
        "prerequisites",
        "learning_outcomes",
    ] {
        add(f, &s[f], f == "description");
    }
    for m in s["modules"].as_array().into_iter().flatten() {
        for f in [
            "title",
            "focus",
            "summary",
            "learning_objectives",
            "topics",
            "activities",
            "assessment",
        ] {
            add(f, &m[f], f == "summary" || f == "assessment");
        }
    }
    out
}

/// A fragment glued to a word (this bench's own rule): a digit stuck to a short lowercase
/// word ("and2", "the5"), a digit after a letter and a comma ("balance,2"), or one letter
/// after a hyphen ending the text ("light-h").
fn glued(text: &str) -> Option<String> {
    let tokens: Vec<&str> = text.split_whitespace().collect();
    for (i, token) in tokens.iter().enumerate() {
        let bare = token.trim_end_matches(['.', ',', ';', ':', ')', '!', '?']);
        let letters = bare.trim_end_matches(|c: char| c.is_ascii_digit());
        if letters.len() < bare.len()
            && (2..=5).contains(&letters.len())
            && letters.chars().all(|c| c.is_ascii_lowercase())
            && ![
                "mp", "web", "html", "css", "ipv", "es", "python", "win", "arm", "x",
            ]
            .contains(&letters)
        {
            return Some(bare.into());
        }
        if let Some((word, tail)) = bare.rsplit_once(',') {
            if word.chars().last().is_some_and(char::is_alphabetic)
                && !tail.is_empty()
                && tail.chars().all(|c| c.is_ascii_digit())
            {
                return Some(bare.into());
            }
        }
        if i + 1 == tokens.len() {
            if let Some((word, tail)) = bare.rsplit_once('-') {
                if tail.chars().count() == 1 && word.chars().count() >= 3 {
                    return Some(bare.into());
                }
            }
        }
    }
    None
}

/// A word or two-word phrase three times in a row (this bench's own rule).
fn stutters(text: &str) -> bool {
    let w = words(text);
    let one = w
        .windows(3)
        .any(|g| g[0] == g[1] && g[1] == g[2] && !g[0].chars().all(|c| c.is_ascii_digit()));
    let two = w
        .windows(6)
        .any(|g| g[0..2] == g[2..4] && g[2..4] == g[4..6]);
    one || two
}

/// A file name, path or long identifier (this bench's own rule).
fn names_a_file(text: &str) -> bool {
    text.split_whitespace().any(|t| {
        let t =
            t.trim_matches(|c: char| matches!(c, '.' | ',' | ';' | ':' | '(' | ')' | '"' | '\''));
        let lower = t.to_lowercase();
        let ext = [
            ".md", ".json", ".txt", ".csv", ".docx", ".pdf", ".yaml", ".xml", ".html",
        ]
        .iter()
        .any(|e| {
            lower.ends_with(e)
                && lower.len() > e.len()
                && (lower.contains(|c: char| c.is_ascii_digit() || c == '-' || c == '_')
                    || !text.trim().contains(' '))
        });
        let digits = t
            .as_bytes()
            .windows(8)
            .any(|w| w.iter().all(u8::is_ascii_digit));
        let snake = t.contains('_') && t.chars().any(char::is_alphabetic);
        ext || digits || snake || lower.starts_with('/') && lower.len() > 3
    })
}

/// The prompt's length guidance as a whole text (this bench's own list).
fn is_guidance(text: &str) -> bool {
    let t = words(text).join(" ");
    let whole = [
        "one line",
        "a line",
        "one sentence",
        "two sentences",
        "three sentences",
        "a few words",
        "a few words each",
        "1 sentence",
        "2 sentences",
        "1 or 2 sentences",
        "2 or 3 sentences",
        "at most 15 words",
        "at most 50 words",
        "at most 12 words",
        "at most 6 words",
    ];
    whole.contains(&t.as_str()) || text.to_lowercase().contains("(one line)")
}

/// A title or item that restates the course's frame (this bench's own rule).
fn restates(text: &str) -> bool {
    let t = words(text).join(" ");
    [
        "this module",
        "this course",
        "the course is designed",
        "the module is designed",
        "in this module",
    ]
    .iter()
    .any(|p| t.starts_with(p))
}

/// An objective written as a question (this bench's own rule).
fn is_question(text: &str) -> bool {
    let t = text.trim();
    let first = words(t).first().cloned().unwrap_or_default();
    t.ends_with('?')
        || ([
            "what", "how", "why", "when", "where", "who", "which", "is", "are", "do", "does",
        ]
        .contains(&first.as_str())
            && words(t).get(1).is_none_or(|w| w != "to"))
}

/// Verbs that open learning objectives (Bloom's lists, and the ones teachers use beside
/// them): this bench's own list, independent of the program's rule.
const OBJECTIVE_VERBS: &[&str] = &[
    "analyse",
    "analyze",
    "apply",
    "appraise",
    "appreciate",
    "argue",
    "arrange",
    "assess",
    "build",
    "calculate",
    "care",
    "categorise",
    "categorize",
    "choose",
    "cite",
    "classify",
    "collect",
    "combine",
    "communicate",
    "compare",
    "compile",
    "compose",
    "compute",
    "conduct",
    "construct",
    "contrast",
    "cook",
    "create",
    "critique",
    "debate",
    "decide",
    "decode",
    "decrypt",
    "define",
    "demonstrate",
    "derive",
    "describe",
    "design",
    "determine",
    "develop",
    "diagnose",
    "differentiate",
    "discover",
    "discuss",
    "distinguish",
    "draw",
    "encrypt",
    "estimate",
    "evaluate",
    "examine",
    "experiment",
    "explain",
    "explore",
    "express",
    "formulate",
    "gain",
    "generate",
    "give",
    "grow",
    "handle",
    "identify",
    "illustrate",
    "implement",
    "infer",
    "inspect",
    "interpret",
    "investigate",
    "judge",
    "justify",
    "keep",
    "know",
    "label",
    "learn",
    "list",
    "locate",
    "maintain",
    "make",
    "manage",
    "map",
    "match",
    "measure",
    "model",
    "monitor",
    "name",
    "navigate",
    "observe",
    "operate",
    "order",
    "organise",
    "organize",
    "outline",
    "perform",
    "plan",
    "plant",
    "play",
    "practice",
    "practise",
    "predict",
    "prepare",
    "present",
    "produce",
    "program",
    "propose",
    "protect",
    "prove",
    "rank",
    "rate",
    "read",
    "recall",
    "recite",
    "recognise",
    "recognize",
    "reconstruct",
    "record",
    "reflect",
    "relate",
    "report",
    "reproduce",
    "research",
    "restate",
    "review",
    "revise",
    "rewrite",
    "select",
    "sequence",
    "set",
    "show",
    "sign",
    "sketch",
    "solve",
    "sort",
    "speak",
    "state",
    "summarise",
    "summarize",
    "support",
    "synthesize",
    "test",
    "trace",
    "track",
    "translate",
    "understand",
    "use",
    "value",
    "verify",
    "write",
];

/// An English objective whose first word is not a verb of `OBJECTIVE_VERBS` ("Agricultural
/// Processes", "To zooplankton").
fn not_verb_led(text: &str) -> bool {
    words(text)
        .first()
        .is_some_and(|w| !OBJECTIVE_VERBS.contains(&w.as_str()))
}

/// A list item left hanging: ends on a small word, or on a short clause opened by "when",
/// "which", ... after a comma (this bench's own rule).
fn hangs(text: &str) -> bool {
    let t = text.trim_end();
    let w = words(t);
    let last = w.last().map_or("", String::as_str);
    // "Explain what a tide is" ends well; a possessive never does.
    let small = [
        "a", "an", "and", "the", "of", "to", "with", "for", "in", "on", "or",
    ];
    let possessive = t.ends_with("'s") || t.ends_with("’s");
    let clause = t.rsplit_once(',').is_some_and(|(_, tail)| {
        let tw = words(tail);
        tw.len() <= 4
            && tw.first().is_some_and(|f| {
                [
                    "when", "which", "where", "while", "because", "until", "that",
                ]
                .contains(&f.as_str())
            })
    }) && !t.ends_with(['.', '!', '?']);
    small.contains(&last) || possessive || clause
}

/// Two items of one list where one holds the other's words in a row, or the same after a
/// label and a colon (this bench's own rule).
fn near_duplicates(items: &[&str]) -> Vec<String> {
    let core = |t: &str| {
        let w = match t.split_once(':') {
            Some((_, rest)) if words(rest).len() >= 2 => words(rest),
            _ => words(t),
        };
        w.join(" ")
    };
    let mut found = Vec::new();
    for (i, a) in items.iter().enumerate() {
        for b in &items[i + 1..] {
            let (x, y) = (words(a).join(" "), words(b).join(" "));
            let (short, long) = if x.len() <= y.len() {
                (&x, &y)
            } else {
                (&y, &x)
            };
            let contained =
                short.contains(' ') && format!(" {long} ").contains(&format!(" {short} "));
            if contained || core(a) == core(b) {
                found.push(format!("{a} | {b}"));
            }
        }
    }
    found
}

/// Items of one module's lists found verbatim in an earlier module or the course outcomes.
fn repeats(syllabus: &Value) -> Vec<String> {
    let norm = |t: &str| words(t).join(" ");
    let mut seen: std::collections::HashMap<String, String> = syllabus["learning_outcomes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|t| (norm(t), "the course outcomes".to_string()))
        .collect();
    let mut found = Vec::new();
    for (k, m) in syllabus["modules"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let mut here = Vec::new();
        for f in ["learning_objectives", "topics", "activities"] {
            for item in m[f]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                let key = norm(item);
                if let Some(place) = seen.get(&key) {
                    found.push(format!("module {} {f}: {item} (as in {place})", k + 1));
                }
                here.push(key);
            }
        }
        for key in here {
            seen.entry(key)
                .or_insert_with(|| format!("module {}", k + 1));
        }
    }
    found
}

/// Module titles and lists (each list judged as one text) in another language than the
/// syllabus's, by the program's own detector.
fn other_languages(syllabus: &Value) -> Vec<String> {
    let language = syllabus["language"].as_str().unwrap_or("English");
    let mut texts: Vec<(String, String)> = Vec::new();
    let modules = syllabus["modules"].as_array().cloned().unwrap_or_default();
    let titles: Vec<&str> = modules.iter().filter_map(|m| m["title"].as_str()).collect();
    texts.push(("module titles".into(), titles.join(". ")));
    for (k, m) in modules.iter().enumerate() {
        for f in ["learning_objectives", "topics", "activities", "summary"] {
            let text = match &m[f] {
                Value::Array(items) => items
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(". "),
                Value::String(t) => t.clone(),
                _ => continue,
            };
            texts.push((format!("module {} {f}", k + 1), text));
        }
    }
    texts
        .into_iter()
        .filter_map(|(place, text)| {
            syllabus::course::language::other_language(&text, language)
                .map(|found| format!("{place} in {found}: {text}"))
        })
        .collect()
}

/// A list's items as text.
fn items(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}

fn check(tally: &mut Tally, topic: &str, syllabus: &Value, fixed: &[Vec<String>]) {
    tally.review_marks += syllabus["review"].as_array().map_or(0, Vec::len);
    tally.repeats.extend(repeats(syllabus));
    tally.wrong_language.extend(other_languages(syllabus));
    let title = syllabus["title"].as_str().unwrap_or("");
    let topic_words = words(topic);
    if let Some(name) = words(title)
        .into_iter()
        .find(|w| LANGUAGE_NAMES.contains(&w.as_str()) && !topic_words.contains(w))
    {
        tally.language_in_title.push(format!("{title} [{name}]"));
    }
    // The wide set's topics are English ones.
    if WIDE.contains(&topic) && syllabus["language"] != "English" {
        tally
            .wrong_language
            .push(format!("{topic}: written in {}", syllabus["language"]));
    }
    let lists = |v: &Value| -> Vec<Vec<String>> {
        let mut out = Vec::new();
        for f in ["prerequisites", "learning_outcomes"] {
            out.push(items(&v[f]));
        }
        for m in v["modules"].as_array().into_iter().flatten() {
            for f in ["learning_objectives", "topics", "activities"] {
                out.push(items(&m[f]));
            }
        }
        out
    };
    for list in lists(syllabus) {
        let refs: Vec<&str> = list.iter().map(String::as_str).collect();
        tally.near_duplicates.extend(near_duplicates(&refs));
    }
    let photography = topic.to_lowercase().contains("photo");
    // The topics in other languages here all have letters outside ASCII.
    let foreign = !topic.is_ascii();
    let english = syllabus["language"] == "English";
    for (field, text, prose) in strings(syllabus) {
        tally.strings += 1;
        let lower = text.to_lowercase();
        let bare = lower
            .trim_matches(|c: char| !c.is_alphanumeric())
            .replace(' ', "_");
        if !text.chars().any(char::is_alphabetic)
            || text.contains(['{', '}', '[', ']', '\\', '"'])
            || KEYS.contains(&bare.as_str())
            || (lower.contains("learning_") && !lower.contains(' '))
        {
            tally.debris.push(format!("{field}: {text}"));
        }
        if !photography {
            if let Some(p) = EXAMPLE_PHRASES.iter().find(|p| lower.contains(*p)) {
                tally.leaks.push(format!("{field}: {text} [{p}]"));
            }
        }
        if let Some(bit) = glued(&text) {
            tally.glued.push(format!("{field}: {text} [{bit}]"));
        }
        let flag = |list: &mut Vec<String>, hit: bool| {
            if hit {
                list.push(format!("{field}: {text}"));
            }
        };
        flag(&mut tally.stutters, stutters(&text));
        flag(&mut tally.file_names, names_a_file(&text));
        flag(&mut tally.guidance, is_guidance(&text));
        let item_or_title =
            !prose && !["description", "audience", "focus"].contains(&field.as_str());
        flag(&mut tally.template, item_or_title && restates(&text));
        let objective = ["learning_objectives", "learning_outcomes"].contains(&field.as_str());
        flag(&mut tally.questions, objective && is_question(&text));
        flag(
            &mut tally.not_verb_led,
            objective && english && not_verb_led(&text),
        );
        let list_item = item_or_title && field != "title";
        flag(&mut tally.hanging, list_item && hangs(&text));
        let w = words(&text);
        if w.windows(6)
            .any(|g| fixed.iter().any(|f| f.windows(6).any(|h| h == g)))
        {
            tally.copies.push(format!("{field}: {text}"));
        }
        let last = text.trim_end().chars().last().unwrap_or(' ');
        if prose && !matches!(last, '.' | '!' | '?' | '。' | '！' | '？' | ')' | '"') {
            tally.cut_sentences.push(format!("{field}: {text}"));
        }
        if bound(&field) == text.chars().count() && last.is_alphanumeric() {
            tally.cut_words.push(format!("{field}: {text}"));
        }
        if foreign
            && field == "summary"
            && w.iter()
                .filter(|x| ["the", "and", "of", "learners"].contains(&x.as_str()))
                .count()
                >= 3
        {
            tally.english_in_other += 1;
        }
    }
}

/// What every run shares.
struct Setup {
    bin: PathBuf,
    model: PathBuf,
    seed: String,
    dir: tempfile::TempDir,
    /// The current prompts' fixed text, as words.
    fixed: Vec<Vec<String>>,
}

/// `CONTENT_ARGS`: more arguments for every run (`--dry 0`), split at spaces.
fn extra_args() -> Vec<String> {
    std::env::var("CONTENT_ARGS")
        .map(|a| a.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default()
}

fn run_one(setup: &Setup, topic: &str, modules: usize, tally: &mut Tally) {
    let Setup {
        bin,
        model,
        seed,
        dir,
        fixed,
    } = setup;
    let (out, timings) = (dir.path().join("s.json"), dir.path().join("t.json"));
    let _ = std::fs::remove_file(&out);
    let started = std::time::Instant::now();
    let status = Command::new(bin)
        .args([
            "generate",
            topic,
            "--modules",
            &modules.to_string(),
            "--seed",
            seed.as_str(),
            "--format",
            "json",
        ])
        .arg("--model")
        .arg(model)
        .arg("-o")
        .arg(&out)
        .arg("--timings")
        .arg(&timings)
        .args(extra_args())
        .env("HF_HUB_OFFLINE", "1")
        .output()
        .expect("run the binary");
    tally.runs += 1;
    let wall = started.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&status.stderr);
    if !status.status.success() {
        println!(
            "  FAILED {topic} x{modules}: {}",
            stderr.lines().last().unwrap_or("")
        );
        return;
    }
    tally.valid += 1;
    tally.wall_s.push(wall);
    if let Some(keep) = std::env::var_os("CONTENT_KEEP") {
        let name: String = topic
            .chars()
            .map(|c| if c.is_alphanumeric() { c } else { '-' })
            .collect();
        let keep = PathBuf::from(keep);
        std::fs::create_dir_all(&keep).expect("create CONTENT_KEEP");
        std::fs::copy(&out, keep.join(format!("{name}-x{modules}.json")))
            .expect("keep the syllabus");
    }
    let s: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    check(tally, topic, &s, fixed);
    let t: Value = serde_json::from_str(&std::fs::read_to_string(&timings).unwrap()).unwrap();
    let calls = t["calls"].as_array().unwrap();
    for c in calls {
        let retry = c["attempt"].as_u64() > Some(1);
        match c["phase"].as_str() {
            Some("module") if retry => tally.module_retries += 1,
            Some("outline") if retry => tally.outline_retries += 1,
            _ => {}
        }
    }
    let first_outline = calls.iter().find(|c| c["phase"] == "outline").unwrap();
    tally
        .outline_prompt
        .push(first_outline["prompt_tokens"].as_f64().unwrap());
    let prefix = t["module_batches"][0]["shared_prefix_tokens"]
        .as_f64()
        .unwrap_or(0.0);
    tally.module_prefix.push(prefix);
    for c in calls
        .iter()
        .filter(|c| c["phase"] == "module" && c["attempt"] == 1)
    {
        tally
            .module_suffix
            .push(c["prompt_tokens"].as_f64().unwrap() - prefix);
    }
    for line in stderr.lines().filter(|l| l.contains("rejected")) {
        println!("    {topic} x{modules}: {}", line.trim());
    }
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let bin = std::env::var_os("CONTENT_BIN")
        .map_or_else(|| root.join("target/release/syllabus"), PathBuf::from);
    let model = std::env::var_os("BENCH_MODEL").map_or_else(
        || root.join("models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"),
        PathBuf::from,
    );
    if !model.is_file() {
        println!(
            "SKIPPED: no model at {} (run ../shared/fetch-dev-model.sh, or set BENCH_MODEL)",
            model.display()
        );
        return;
    }
    let modules: Vec<usize> = std::env::var("CONTENT_MODULES")
        .unwrap_or_else(|_| "4,8".into())
        .split(',')
        .map(|m| m.trim().parse().expect("CONTENT_MODULES: numbers"))
        .collect();
    let set: Vec<&str> = match std::env::var("CONTENT_SET").as_deref() {
        Ok("wide") => WIDE.iter().copied().chain([LONG_TOPIC]).collect(),
        Ok("languages") => LANGUAGES.to_vec(),
        _ => TOPICS.to_vec(),
    };
    let topics: Vec<String> = std::env::var("CONTENT_TOPICS")
        .map(|t| t.split(';').map(str::to_string).collect())
        .unwrap_or_else(|_| set.iter().map(|t| t.to_string()).collect());
    let seed = std::env::var("CONTENT_SEED").unwrap_or_else(|_| "42".into());
    let fixed: Vec<Vec<String>> = syllabus::pipeline::prompt::fixed_texts()
        .iter()
        .map(|t| words(t))
        .collect();
    println!(
        "content check: {} on {}, modules {modules:?}, seed {seed}",
        bin.display(),
        model.display()
    );
    let setup = Setup {
        bin,
        model,
        seed,
        dir: tempfile::tempdir().unwrap(),
        fixed,
    };
    let mut tally = Tally::default();
    for m in &modules {
        for topic in &topics {
            run_one(&setup, topic, *m, &mut tally);
        }
    }
    let t = &tally;
    println!("runs valid            {}/{}", t.valid, t.runs);
    println!(
        "regenerations         outline {}, modules {}",
        t.outline_retries, t.module_retries
    );
    println!("strings checked       {}", t.strings);
    println!("schema debris         {}", t.debris.len());
    println!("example phrases       {}", t.leaks.len());
    println!("copied prompt text    {}", t.copies.len());
    println!("prose cut mid-sentence {}", t.cut_sentences.len());
    println!("strings cut mid-word  {}", t.cut_words.len());
    println!(
        "non-English topics with English summaries {}",
        t.english_in_other
    );
    println!("glued fragments       {}", t.glued.len());
    println!("items repeated across modules {}", t.repeats.len());
    println!("texts in another language {}", t.wrong_language.len());
    println!("language names in titles {}", t.language_in_title.len());
    println!("parts marked for review {}", t.review_marks);
    println!("stutters              {}", t.stutters.len());
    println!("file names, identifiers {}", t.file_names.len());
    println!("length guidance as content {}", t.guidance.len());
    println!("template restated     {}", t.template.len());
    println!("objectives as questions {}", t.questions.len());
    println!(
        "English objectives not led by a common verb {}",
        t.not_verb_led.len()
    );
    println!("near-duplicate items in a list {}", t.near_duplicates.len());
    println!("items left hanging    {}", t.hanging.len());
    println!(
        "prompt tokens (median) outline {:.0}, module shared prefix {:.0}, module suffix {:.0}",
        median(&t.outline_prompt),
        median(&t.module_prefix),
        median(&t.module_suffix)
    );
    println!("wall s (median)       {:.1}", median(&t.wall_s));
    for (name, list) in [
        ("debris", &t.debris),
        ("leak", &t.leaks),
        ("copy", &t.copies),
        ("cut sentence", &t.cut_sentences),
        ("cut word", &t.cut_words),
        ("glued", &t.glued),
        ("repeat", &t.repeats),
        ("language", &t.wrong_language),
        ("language in title", &t.language_in_title),
        ("stutter", &t.stutters),
        ("file name", &t.file_names),
        ("guidance", &t.guidance),
        ("template", &t.template),
        ("question", &t.questions),
        ("not verb-led", &t.not_verb_led),
        ("near-duplicate", &t.near_duplicates),
        ("hanging", &t.hanging),
    ] {
        for item in list.iter().take(8) {
            println!("  {name}: {item}");
        }
    }
}

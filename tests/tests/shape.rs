//! The code's shape, kept: the modules of `jiti-core` form a DAG (no import cycle), and no source
//! file outside tests and generated tables grows past 600 lines. Read from the sources themselves:
//! a module's dependencies are the `crate::<module>` paths of its non-test code (`use` lines and
//! paths in code; doc comments and `#[cfg(test)]` modules are not dependencies).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use jiti_tests::repo_root;

const MAX_LINES: usize = 600;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read source dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// A file's text without its test module(s) and comments.
fn code_of(text: &str) -> String {
    let text = text.split("\n#[cfg(test)]").next().unwrap_or_default();
    text.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n")
}

/// Top-level module → the other top-level modules it uses.
fn module_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let path_use = regex::Regex::new(r"crate::([a-z_]+)").expect("a valid pattern");
    let group_use = regex::Regex::new(r"crate::\{([^}]*)\}").expect("a valid pattern");
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let relative = file.strip_prefix(src).expect("a file under src");
        let top = relative
            .components()
            .next()
            .expect("a path inside src")
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_owned();
        // `lib.rs` declares the modules; `testing` is the unit tests' fakes.
        if top == "lib" || top == "testing" || relative.file_name().is_some_and(|n| n == "tests.rs")
        {
            continue;
        }
        let code = code_of(&std::fs::read_to_string(&file).expect("read a source file"));
        let mut used: BTreeSet<String> =
            path_use.captures_iter(&code).map(|c| c[1].to_owned()).collect();
        for group in group_use.captures_iter(&code) {
            used.extend(
                group[1]
                    .split(',')
                    .filter_map(|item| item.trim().split("::").next())
                    .filter(|m| !m.is_empty())
                    .map(str::to_owned),
            );
        }
        used.remove(&top);
        graph.entry(top).or_default().extend(used);
    }
    graph
}

/// The cycles of `graph`, each as a path that returns to its start.
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    fn visit(
        n: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
        found: &mut Vec<Vec<String>>,
    ) {
        if let Some(at) = path.iter().position(|p| p == n) {
            let mut cycle = path[at..].to_vec();
            cycle.push(n.to_owned());
            found.push(cycle);
            return;
        }
        if !done.insert(n.to_owned()) {
            return;
        }
        path.push(n.to_owned());
        for m in graph.get(n).into_iter().flatten().filter(|m| graph.contains_key(*m)) {
            visit(m, graph, path, done, found);
        }
        path.pop();
    }
    let (mut done, mut found) = (BTreeSet::new(), Vec::new());
    for n in graph.keys() {
        visit(n, graph, &mut Vec::new(), &mut done, &mut found);
    }
    found
}

#[test]
fn the_core_modules_form_a_dag() {
    let graph = module_graph(&repo_root().join("jiti-core/src"));
    assert!(
        graph.len() > 20 && graph["deploy"].contains("stacks"),
        "the sources were read: {graph:?}"
    );
    let found = cycles(&graph);
    let shown: Vec<String> = found.iter().map(|c| c.join(" → ")).collect();
    assert!(found.is_empty(), "import cycles among jiti-core modules:\n  {}", shown.join("\n  "));
    // What the layering promises in particular.
    for (module, never) in [
        ("resolve", "ledger"),
        ("resolve", "cloud"),
        ("cloud", "deploy"),
        ("stacks", "deploy"),
        ("wait", "deploy"),
    ] {
        assert!(!graph[module].contains(never), "`{module}` must not depend on `{never}`");
    }
}

#[test]
fn the_cycle_finder_finds_cycles() {
    let graph: BTreeMap<String, BTreeSet<String>> =
        [("a", &["b"][..]), ("b", &["c"]), ("c", &["a"]), ("d", &["a"])]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.iter().map(|s| (*s).to_owned()).collect()))
            .collect();
    assert_eq!(cycles(&graph), vec![vec!["a", "b", "c", "a"]]);
}

#[test]
fn no_source_file_is_over_600_lines() {
    let mut files = Vec::new();
    for dir in ["jiti-core/src", "cargo-jiti/src", "tests/src"] {
        rust_files(&repo_root().join(dir), &mut files);
    }
    let long: Vec<String> = files
        .iter()
        // Unit tests kept beside their module (`<module>/tests.rs`) are tests.
        .filter(|f| !f.ends_with("tests.rs"))
        .filter_map(|f| {
            let lines = std::fs::read_to_string(f).unwrap().lines().count();
            (lines > MAX_LINES).then(|| {
                format!("{} ({lines} lines)", f.strip_prefix(repo_root()).unwrap().display())
            })
        })
        .collect();
    assert!(files.len() > 40, "the sources were read");
    assert!(long.is_empty(), "over {MAX_LINES} lines: {long:?}; split by concern");
}

#[test]
fn the_readme_stays_a_front_page_and_its_links_resolve() {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    assert!(
        readme.lines().count() < 150,
        "README.md is {} lines: guides and reference belong in docs/",
        readme.lines().count()
    );
    // Every relative link of the README and of docs/ points at a file that exists.
    let link = regex::Regex::new(r"\]\(([^)#:]+)(#[^)]*)?\)").unwrap();
    let mut pages = vec![repo_root().join("README.md"), repo_root().join("ARCHITECTURE.md")];
    for dir in ["docs", "docs/guide", "docs/reference"] {
        for entry in std::fs::read_dir(repo_root().join(dir)).unwrap().flatten() {
            if entry.path().extension().is_some_and(|e| e == "md") {
                pages.push(entry.path());
            }
        }
    }
    for page in pages {
        let text = std::fs::read_to_string(&page).unwrap();
        for target in link.captures_iter(&text).map(|c| c[1].to_owned()) {
            let path = page.parent().unwrap().join(&target);
            assert!(path.exists(), "{} links to {target}, which does not exist", page.display());
        }
    }
}

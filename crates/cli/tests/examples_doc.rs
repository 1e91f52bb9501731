//! The library's examples say how to run them, and what they say works from the workspace root:
//! every `cargo run` line in an example's doc comment names the package (`-p pipework`), an
//! example that exists, the features it requires (`--features tokio`), and puts the example's
//! own arguments after `--`.

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;

fn pipework_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../pipework")
}

/// Every example of the library and the features it requires, from its Cargo.toml (an example
/// without an `[[example]]` section requires none).
fn examples() -> BTreeMap<String, Vec<String>> {
    let mut all = BTreeMap::new();
    for entry in fs::read_dir(pipework_dir().join("examples")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "rs") {
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            all.insert(name, Vec::new());
        }
    }
    let manifest = fs::read_to_string(pipework_dir().join("Cargo.toml")).unwrap();
    for section in manifest.split("[[example]]").skip(1) {
        let section = section.split("\n[").next().unwrap();
        let value = |key: &str| {
            section
                .lines()
                .find_map(|l| l.trim().strip_prefix(key))
                .map(|v| v.trim().trim_start_matches('=').trim().to_string())
        };
        let name = value("name").expect("an [[example]] with a name");
        let name = name.trim_matches('"').to_string();
        let features = value("required-features")
            .map(|v| {
                v.trim_matches(|c| c == '[' || c == ']')
                    .split(',')
                    .map(|f| f.trim().trim_matches('"').to_string())
                    .filter(|f| !f.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        all.insert(name, features);
    }
    all
}

/// The `cargo run ...` commands in `text`, each up to the end of its code span, its line or a
/// shell comment.
fn cargo_runs(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for line in text.lines() {
        let mut rest = line;
        while let Some(at) = rest.find("cargo run") {
            let command = &rest[at..];
            let end = command.find(['`', '#']).unwrap_or(command.len());
            found.push(command[..end].trim().to_string());
            rest = &command[end..];
        }
    }
    found
}

#[test]
fn every_example_says_how_to_run_it_and_the_command_works_from_the_workspace() {
    let examples = examples();
    assert!(examples.len() >= 10, "{examples:?}");
    let mut problems = Vec::new();
    for own in examples.keys() {
        let source = fs::read_to_string(pipework_dir().join(format!("examples/{own}.rs"))).unwrap();
        let doc: String = source
            .lines()
            .filter_map(|l| l.strip_prefix("//!"))
            .collect::<Vec<_>>()
            .join("\n");
        let runs = cargo_runs(&doc);
        if !runs.iter().any(|r| r.contains(&format!("--example {own}"))) {
            problems.push(format!(
                "{own}: no `cargo run ... --example {own}` in its doc comment"
            ));
        }
        for run in runs {
            let words: Vec<&str> = run.split_whitespace().collect();
            if !words.windows(2).any(|w| w == ["-p", "pipework"]) {
                problems.push(format!("{own}: `{run}` lacks `-p pipework`"));
            }
            let Some(at) = words.iter().position(|w| *w == "--example") else {
                problems.push(format!("{own}: `{run}` names no example"));
                continue;
            };
            let Some(target) = words.get(at + 1) else {
                problems.push(format!("{own}: `{run}` names no example"));
                continue;
            };
            let Some(features) = examples.get(*target) else {
                problems.push(format!("{own}: `{run}`: there is no example {target}"));
                continue;
            };
            for feature in features {
                if !words
                    .windows(2)
                    .any(|w| w[0] == "--features" && w[1].split(',').any(|f| f == feature))
                {
                    problems.push(format!("{own}: `{run}` lacks `--features {feature}`"));
                }
            }
            // After the example's name: cargo's own flags, then `--` before any argument of
            // the example (cargo would take it for its own and fail).
            for word in &words[at + 2..] {
                if *word == "--" {
                    break;
                }
                if !word.starts_with("--") {
                    problems.push(format!("{own}: `{run}`: `{word}` needs a `--` before it"));
                    break;
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

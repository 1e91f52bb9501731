//! `pipework bench`, the main job, end to end: the mechanisms it knows, one JSON object per
//! figure with every field filled, the SVG charts, and a clear error for an unknown mechanism.
//! How fast anything is stays out of the tests: only the shape of what the bench reports.

mod common;

use common::{assert_success, output as pipework};

#[test]
fn list_names_every_mechanism() {
    let out = pipework(&["bench", "--list"]);
    assert!(out.status.success());
    let listed = String::from_utf8(out.stdout).unwrap();
    for name in [
        "anonymous-pipe",
        "shm-pipe",
        "named-pipe",
        "mailslot",
        "mapping",
        "sync",
    ] {
        assert!(listed.contains(name), "{name} missing from {listed}");
    }
}

/// The whole main job, one sample per figure: every mechanism between real processes.
#[test]
fn every_mechanism_gives_json_lines_and_charts() {
    let svg = std::env::temp_dir().join(format!("pipework-bench-test-{}.svg", std::process::id()));
    let out = pipework(&[
        "bench",
        "--json",
        "--runs",
        "1",
        "--plot",
        svg.to_str().unwrap(),
    ]);
    assert_success(&out);
    let text = String::from_utf8(out.stdout).unwrap();
    let figures: Vec<serde_json::Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).expect("each line is one JSON object"))
        .collect();
    let mut seen = Vec::new();
    for f in &figures {
        for key in ["mechanism", "metric", "unit", "baseline"] {
            assert!(
                f[key].as_str().is_some_and(|s| !s.is_empty()),
                "{key} in {f}"
            );
        }
        for key in ["value", "baseline_value", "speedup"] {
            assert!(f[key].as_f64().is_some_and(|v| v > 0.0), "{key} in {f}");
        }
        seen.push(format!("{} {}", f["mechanism"], f["metric"]));
    }
    for (mechanism, metric) in [
        ("anonymous-pipe", "throughput"),
        ("anonymous-pipe", "round_trip"),
        ("anonymous-pipe", "file_to_child"),
        ("shm-pipe", "throughput"),
        ("shm-pipe", "throughput_in_place"),
        ("shm-pipe", "round_trip"),
        ("shm-pipe", "round_trip_no_spin"),
        ("shm-pipe", "no_spin_vs_futex"),
        ("shm-pipe", "round_trip_one_cpu"),
        ("named-pipe", "throughput"),
        ("named-pipe", "round_trip"),
        ("named-pipe", "throughput_in_place"),
        ("named-pipe", "throughput_produced_in_place"),
        ("named-pipe", "throughput_shared_memory_vs_copy_floor"),
        ("mailslot/1w", "message_rate"),
        ("mailslot/4w", "message_rate"),
        ("mapping", "copy_in"),
        ("mapping", "named_life"),
        ("sync", "lock_unlock"),
        ("sync", "event_rtt"),
        ("win32", "round_trip"),
    ] {
        let want = format!("\"{mechanism}\" \"{metric}\"");
        assert!(seen.contains(&want), "{want} in {seen:?}");
    }
    let chart = std::fs::read_to_string(&svg).expect("the chart file");
    std::fs::remove_file(&svg).unwrap();
    assert!(chart.contains("<svg"), "an SVG document");
    // The chart's texts, one per line between the elements.
    let texts: Vec<&str> = chart.lines().filter(|l| !l.starts_with('<')).collect();
    let at = |text: &str| texts.iter().position(|t| *t == text);
    // The summary comes first: every figure's speedup on a log scale around the parity line,
    // each bar labelled with what it compares.
    let summary = at("pipework beside its raw baseline, measured in the same run")
        .expect("the summary's title");
    let first_metric = at("throughput").expect("the throughput chart's title");
    assert!(summary < first_metric, "the summary chart comes first");
    assert!(at("parity (1×)").is_some(), "{texts:?}");
    assert!(texts.iter().any(|t| t.contains("log scale")), "{texts:?}");
    for f in &figures {
        let label = format!(
            "{} {} (vs {})",
            f["mechanism"].as_str().unwrap(),
            f["metric"].as_str().unwrap(),
            f["baseline"].as_str().unwrap()
        );
        let label = label
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;");
        assert!(
            at(&label).is_some(),
            "no summary label {label:?} in {texts:?}"
        );
    }
    // Labelled bars, in proper units: microseconds are µs, never "us".
    assert!(
        texts.iter().any(|t| t.ends_with(" µs")),
        "a bar labelled in µs"
    );
    assert!(
        texts.iter().any(|t| t.ends_with(" GiB/s")),
        "a bar labelled in GiB/s"
    );
    assert!(
        !texts
            .iter()
            .any(|t| *t == "us" || t.ends_with(" us") || t.starts_with("us,")),
        "\"us\" in the chart: {texts:?}"
    );
}

/// The table's columns line up whatever the unit: every row as wide as the header, msg/s rows
/// included, and microseconds written µs.
#[test]
fn the_table_lines_up_across_units() {
    let out = pipework(&["bench", "mailslot", "sync", "--runs", "1"]);
    assert_success(&out);
    let text = String::from_utf8(out.stdout).unwrap();
    let table: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with("mechanism"))
        .collect();
    assert!(table.len() >= 5, "a header and four rows: {text}");
    let width = table[0].chars().count();
    for line in &table {
        assert_eq!(line.chars().count(), width, "{line:?} in\n{text}");
    }
    // Each column starts where the header's does.
    for column in ["metric", "baseline is"] {
        let at = table[0].find(column).unwrap();
        for line in &table[1..] {
            let before: String = line.chars().take(table[0][..at].chars().count()).collect();
            assert!(before.ends_with("  "), "{column} out of line in {line:?}");
        }
    }
    assert!(text.contains(" msg/s"), "{text}");
    assert!(text.contains(" µs") && !text.contains(" us "), "{text}");
}

#[test]
fn an_unknown_mechanism_is_refused_with_the_known_ones() {
    let out = pipework(&["bench", "no-such-thing"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no-such-thing") && err.contains("shm-pipe"),
        "{err}"
    );
}

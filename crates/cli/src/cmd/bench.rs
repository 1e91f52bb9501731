//! `pipework bench`: every mechanism measured between real processes beside its raw baseline
//! (the measuring is in [`crate::bench`]); prints the table, or one JSON object per figure, and
//! draws the charts.

use std::io::{self, Write};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use crate::bench::{self, plot, Figure, Mechanism, Settings, MECHANISMS};
use crate::output;

/// Options of `pipework bench`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Mechanisms to measure (default: all but named-pipe-smb, which starts a private smbd and
    /// runs when named or with --full). Known: see `--list`.
    mechanisms: Vec<String>,
    /// One JSON object per figure and line, instead of the table.
    #[arg(long)]
    json: bool,
    /// Runs per figure, 1 to 1000; the median is reported [default: 5, or 15 with --full].
    #[arg(long, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=MAX_RUNS))]
    runs: Option<usize>,
    /// More runs per figure (15) for steadier medians; the default is a quick pass. Includes
    /// the named-pipe scaling workload (see --scale) and named-pipe-smb.
    #[arg(long)]
    full: bool,
    /// Measure only how an async named-pipe server scales: 1 to 10,000 concurrent clients
    /// (requests/s, p50/p99 latency, memory per client, connections/s), beside a raw tokio
    /// Unix-socket server [runs: at most 5].
    #[arg(long)]
    scale: bool,
    /// Also draw the comparison into this SVG file: a summary chart of every figure's speedup
    /// (log scale, parity line), then one bar chart per metric.
    #[arg(long, value_name = "FILE.svg")]
    plot: Option<std::path::PathBuf>,
    /// List the mechanisms and exit (with --json: one JSON array of their names).
    #[arg(long)]
    list: bool,
    /// Let the scheduler place the processes instead of pinning the parent to one CPU and its
    /// children to another.
    #[arg(long)]
    no_pin: bool,
}

/// The most runs per figure `--runs` takes: a full pass of every mechanism takes about a minute
/// per run, so more than this would be hours (and 0 would measure nothing).
const MAX_RUNS: u64 = 1000;

/// Runs `pipework bench`.
pub fn run(args: &Args) -> io::Result<()> {
    let mut out = output::stdout();
    if args.list {
        if args.json {
            let names: Vec<&str> = MECHANISMS.iter().map(|m| m.name).collect();
            writeln!(out, "{}", serde_json::Value::from(names))?;
        } else {
            for m in MECHANISMS {
                writeln!(out, "{}", m.name)?;
            }
        }
        return out.flush();
    }
    let chosen: Vec<&Mechanism> = if args.mechanisms.is_empty() {
        MECHANISMS
            .iter()
            .filter(|m| args.full || !bench::NAMED_ONLY.contains(&m.name))
            .collect()
    } else {
        args.mechanisms
            .iter()
            .map(|name| {
                MECHANISMS.iter().find(|m| m.name == name).ok_or_else(|| {
                    let known: Vec<_> = MECHANISMS.iter().map(|m| m.name).collect();
                    io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!(
                            "no mechanism {}; known: {}",
                            output::escape(name),
                            known.join(", ")
                        ),
                    )
                })
            })
            .collect::<io::Result<_>>()?
    };
    let progress = ProgressBar::new_spinner();
    progress.set_style(
        ProgressStyle::with_template("{spinner} {elapsed:>4} measuring {msg}")
            .map_err(io::Error::other)?,
    );
    progress.enable_steady_tick(Duration::from_millis(120));
    if !args.no_pin {
        bench::pin_parent_and_children()?;
    }
    let settings = Settings {
        runs: args.runs.unwrap_or(if args.full { 15 } else { 5 }),
        progress,
    };
    settings.progress.set_message("memory copy bandwidth");
    let ceiling = bench::memcpy_bandwidth();
    let mut figures = Vec::new();
    let mut scale_points = Vec::new();
    let print = |got: &[Figure], out: &mut output::Stdout| -> io::Result<()> {
        if args.json {
            for figure in got {
                let line = serde_json::to_string(figure).map_err(io::Error::other)?;
                writeln!(out, "{line}")?;
            }
            out.flush()?;
        }
        Ok(())
    };
    let scale = args.scale || (args.full && chosen.iter().any(|m| m.name == "named-pipe"));
    let chosen = if args.scale { Vec::new() } else { chosen };
    for mechanism in chosen {
        settings.progress.set_message(mechanism.name);
        let got = (mechanism.run)(&settings)?;
        print(&got, &mut out)?;
        figures.extend(got);
        if scale && mechanism.name == "named-pipe" {
            let (got, points) = scale_pass(&settings)?;
            print(&got, &mut out)?;
            figures.extend(got);
            scale_points = points;
        }
    }
    if args.scale {
        let (got, points) = scale_pass(&settings)?;
        print(&got, &mut out)?;
        figures.extend(got);
        scale_points = points;
    }
    settings.progress.finish_and_clear();
    if !args.json {
        writeln!(
            out,
            "memory copy bandwidth on this machine: {:.2} GiB/s in cache (64 KiB blocks round a 1 MiB buffer, \
             the byte streams' working set), {:.2} GiB/s from memory (64 MiB): the ceiling for a \
             transport that copies once",
            ceiling.0, ceiling.1
        )?;
        print_table(&mut out, &figures)?;
    }
    if let Some(path) = &args.plot {
        let (scale_figures, others): (Vec<Figure>, Vec<Figure>) = figures
            .iter()
            .cloned()
            .partition(|f| f.metric.contains("_clients_"));
        if !others.is_empty() {
            plot::draw(path, &others, settings.runs)?;
            if !args.json {
                writeln!(out, "charts written to {}", path.display())?;
            }
        }
        if !scale_points.is_empty() {
            let scale_path = if others.is_empty() {
                path.clone()
            } else {
                path.with_file_name(format!(
                    "{}-scale.svg",
                    path.file_stem().unwrap_or_default().to_string_lossy()
                ))
            };
            plot::draw_scale(&scale_path, &scale_points, scale_runs(&settings))?;
            if !args.json {
                writeln!(out, "scaling charts written to {}", scale_path.display())?;
            }
        }
        drop(scale_figures);
    }
    out.flush()
}

/// Runs per figure of the scaling workload: each takes seconds, so no more than 5.
fn scale_runs(settings: &Settings) -> usize {
    settings.runs.min(5)
}

/// The named-pipe scaling workload, with its own (smaller) number of runs.
fn scale_pass(settings: &Settings) -> io::Result<(Vec<Figure>, Vec<bench::scale::Point>)> {
    let scaled = Settings {
        runs: scale_runs(settings),
        progress: settings.progress.clone(),
    };
    bench::scale::run(&scaled)
}

/// The table: one row per figure, every column as wide as its widest cell (the header's
/// included), so that rows of every unit line up.
fn print_table(out: &mut impl Write, figures: &[Figure]) -> io::Result<()> {
    let header = [
        "mechanism",
        "metric",
        "pipework",
        "baseline",
        "baseline is",
        "speedup",
    ]
    .map(String::from);
    let mut rows = vec![header];
    for f in figures {
        rows.push([
            f.mechanism.to_string(),
            f.metric.to_string(),
            bench::display_value(f.value, f.unit),
            bench::display_value(f.baseline_value, f.unit),
            f.baseline.to_string(),
            format!("{:.3}x", f.speedup),
        ]);
    }
    let mut widths = [0usize; 6];
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    for [mechanism, metric, ours, baseline, baseline_is, speedup] in &rows {
        writeln!(
            out,
            "{mechanism:<w0$}  {metric:<w1$}  {ours:>w2$}  {baseline:>w3$}  {baseline_is:<w4$}  \
             {speedup:>w5$}",
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
            w3 = widths[3],
            w4 = widths[4],
            w5 = widths[5],
        )?;
    }
    Ok(())
}

//! `pipework bench`: each mechanism measured between two real processes, beside a raw baseline
//! measured in the same run, reported as a ratio.
//!
//! A mechanism is one module with a [`Mechanism`] entry in [`MECHANISMS`]: a `run` that measures
//! in the parent, and a `child` that plays the other process (this same binary, started as
//! `pipework __bench-child MECHANISM ROLE ARGS...`).

mod anonymous_pipe;
mod mailslot;

use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::process::{Child, Command};

use clap::Args;
use pipework::process::CommandExt;
use serde::Serialize;

/// Options of `pipework bench`.
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Mechanisms to measure (default: all). Known: see `--list`.
    mechanisms: Vec<String>,
    /// One JSON object per figure and line, instead of the table.
    #[arg(long)]
    json: bool,
    /// Runs per figure; the median is reported.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// List the mechanisms and exit.
    #[arg(long)]
    list: bool,
}

/// Settings every mechanism's measurements share.
pub struct Settings {
    /// Runs per figure (each run measures the mechanism and its baseline back to back).
    pub runs: usize,
}

/// One measured figure beside its baseline.
#[derive(Serialize, Debug, Clone)]
pub struct Figure {
    /// Mechanism name, as given on the command line.
    pub mechanism: &'static str,
    /// `throughput`, `round_trip`, `message_rate`, ...
    pub metric: &'static str,
    /// Unit of `value` and `baseline_value`.
    pub unit: &'static str,
    /// pipework's median.
    pub value: f64,
    /// What the baseline is.
    pub baseline: &'static str,
    /// The baseline's median, measured in the same run.
    pub baseline_value: f64,
    /// Above 1: pipework beat the baseline.
    pub speedup: f64,
}

impl Figure {
    /// A figure where more is better (throughput, rates).
    pub fn higher_is_better(
        mechanism: &'static str,
        metric: &'static str,
        unit: &'static str,
        baseline: &'static str,
        samples: &Samples,
    ) -> Figure {
        let (value, baseline_value) = samples.medians();
        Figure {
            mechanism,
            metric,
            unit,
            value,
            baseline,
            baseline_value,
            speedup: value / baseline_value,
        }
    }

    /// A figure where less is better (latency).
    pub fn lower_is_better(
        mechanism: &'static str,
        metric: &'static str,
        unit: &'static str,
        baseline: &'static str,
        samples: &Samples,
    ) -> Figure {
        let (value, baseline_value) = samples.medians();
        Figure {
            mechanism,
            metric,
            unit,
            value,
            baseline,
            baseline_value,
            speedup: baseline_value / value,
        }
    }
}

/// Paired samples of pipework and its baseline.
#[derive(Default)]
pub struct Samples {
    ours: Vec<f64>,
    raw: Vec<f64>,
}

impl Samples {
    /// Runs `ours` and `raw` alternately, `runs` times each, alternating which goes first so
    /// that neither always meets a warmer or colder machine.
    pub fn collect(
        runs: usize,
        mut ours: impl FnMut() -> io::Result<f64>,
        mut raw: impl FnMut() -> io::Result<f64>,
    ) -> io::Result<Samples> {
        let mut samples = Samples::default();
        for run in 0..runs.max(1) {
            if run.is_multiple_of(2) {
                samples.raw.push(raw()?);
                samples.ours.push(ours()?);
            } else {
                samples.ours.push(ours()?);
                samples.raw.push(raw()?);
            }
        }
        Ok(samples)
    }

    fn medians(&self) -> (f64, f64) {
        (median(&self.ours), median(&self.raw))
    }
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.len().is_multiple_of(2) {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    } else {
        sorted[mid]
    }
}

/// A benchmarked mechanism.
pub struct Mechanism {
    /// Its name on the command line and in the output.
    pub name: &'static str,
    /// Measures it (in the parent process).
    pub run: fn(&Settings) -> io::Result<Vec<Figure>>,
    /// Plays the other process: `role` and its arguments.
    pub child: fn(&[String]) -> io::Result<()>,
}

/// Every mechanism, in table order.
pub const MECHANISMS: &[Mechanism] = &[anonymous_pipe::MECHANISM, mailslot::MECHANISM];

/// `pipework bench`.
pub fn run(args: &BenchArgs) -> io::Result<()> {
    if args.list {
        for m in MECHANISMS {
            println!("{}", m.name);
        }
        return Ok(());
    }
    let chosen: Vec<&Mechanism> = if args.mechanisms.is_empty() {
        MECHANISMS.iter().collect()
    } else {
        args.mechanisms
            .iter()
            .map(|name| {
                MECHANISMS.iter().find(|m| m.name == name).ok_or_else(|| {
                    let known: Vec<_> = MECHANISMS.iter().map(|m| m.name).collect();
                    io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!("no mechanism {name:?}; known: {}", known.join(", ")),
                    )
                })
            })
            .collect::<io::Result<_>>()?
    };
    let settings = Settings { runs: args.runs };
    let mut figures = Vec::new();
    for mechanism in chosen {
        if !args.json {
            eprintln!("measuring {} ({} runs)...", mechanism.name, settings.runs);
        }
        let got = (mechanism.run)(&settings)?;
        if args.json {
            for figure in &got {
                println!(
                    "{}",
                    serde_json::to_string(figure).map_err(io::Error::other)?
                );
            }
        }
        figures.extend(got);
    }
    if !args.json {
        print_table(&figures);
    }
    Ok(())
}

fn print_table(figures: &[Figure]) {
    println!(
        "{:<16} {:<13} {:>12} {:>12}  {:<18} {:>8}",
        "mechanism", "metric", "pipework", "baseline", "baseline is", "speedup"
    );
    for f in figures {
        println!(
            "{:<16} {:<13} {:>12} {:>12}  {:<18} {:>7.3}x",
            f.mechanism,
            f.metric,
            format!("{:.3} {}", f.value, f.unit),
            format!("{:.3} {}", f.baseline_value, f.unit),
            f.baseline,
            f.speedup
        );
    }
}

/// `pipework __bench-child MECHANISM ROLE ARGS...`.
pub fn child(args: &[String]) -> io::Result<()> {
    let (name, rest) = args
        .split_first()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no mechanism"))?;
    let mechanism = MECHANISMS.iter().find(|m| m.name == name).ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidInput, format!("no mechanism {name}"))
    })?;
    (mechanism.child)(rest)
}

/// Starts this binary as the child `role` of `mechanism`, handing it `handles`; their numbers in
/// the child follow `args` on its command line.
pub fn spawn_child(
    mechanism: &str,
    role: &str,
    args: &[String],
    handles: Vec<OwnedFd>,
) -> io::Result<Child> {
    let mut command = Command::new(std::env::current_exe()?);
    command
        .arg("__bench-child")
        .arg(mechanism)
        .arg(role)
        .args(args);
    for handle in handles {
        let number = command.inherit_handle(handle);
        command.arg(number.to_string());
    }
    command.spawn()
}

/// Takes the handle a bench child was given on its command line.
pub fn inherited(arg: Option<&String>) -> io::Result<OwnedFd> {
    let raw: i32 = arg
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "missing handle number"))?;
    // SAFETY: the parent handed this number to this child alone, and nothing in this process has
    // taken ownership of it before.
    unsafe { pipework::handle::take_inherited(raw) }
}

/// A one-byte signal between the bench parent and its child ("ready", "done").
pub fn signal(mut to: impl Write) -> io::Result<()> {
    to.write_all(b"!")
}

/// Waits for a one-byte signal; the end of data before it is an error (the child failed).
pub fn await_signal(mut from: impl Read) -> io::Result<()> {
    let mut byte = [0u8; 1];
    match from.read(&mut byte)? {
        1 => Ok(()),
        _ => Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the benchmark's child process ended early",
        )),
    }
}

//! `pipework-peers`: pipework's pipes beside other Rust IPC crates (std's pipe, os_pipe,
//! interprocess, ipc-channel, shared_memory + raw_sync, iceoryx2) on the workloads of
//! `pipework bench` ([`pipework_cli::workload`]), between two real processes. Prints one table per workload and writes
//! `docs/benchmarks.md` with the figures, the machine and the date.
//!
//! ```text
//! cargo run --release -p pipework-peers [-- --runs N] [--no-write]
//! ```
//!
//! Each figure is the median of N samples (default 5). Samples alternate between the
//! implementations (the order rotates every run), so load on the machine hits all alike. Every
//! sample runs in a fresh child: this same binary started again with a role argument.

use std::io;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

mod peers;
mod report;

use peers::{Implementation, ALL};
use pipework_cli::workload::{self, Workload};

/// The longest one sample may take before the whole run is abandoned as hung.
const SAMPLE_DEADLINE: Duration = Duration::from_secs(120);

/// What was measured for one implementation on one workload.
pub struct Row {
    /// The implementation.
    pub implementation: &'static Implementation,
    /// The samples taken, or why it could not run.
    pub outcome: Result<Vec<f64>, String>,
}

impl Row {
    /// The median of the samples, if it ran.
    pub fn median(&self) -> Option<f64> {
        let samples = self.outcome.as_ref().ok()?;
        let mut sorted = samples.clone();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        match n {
            0 => None,
            _ if n % 2 == 1 => Some(sorted[n / 2]),
            _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = if args.first().map(String::as_str) == Some("__child") {
        child(&args[1..])
    } else {
        parent(&args)
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pipework-peers: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `__child IMPLEMENTATION ROLE ARGS...`: one end of one sample.
fn child(args: &[String]) -> io::Result<()> {
    let implementation = peers::find(args.first().map(String::as_str).unwrap_or(""))?;
    let workload = Workload::from_role(args.get(1).map(String::as_str).unwrap_or(""))?;
    let link = (implementation.child)(&args[2..])?;
    workload::serve(workload, link)
}

fn usage() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "usage: pipework-peers [--runs N] [--no-write]",
    )
}

fn parent(args: &[String]) -> io::Result<()> {
    let mut runs = 5usize;
    let mut write = true;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--runs" => {
                runs = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .filter(|&n| n > 0)
                    .ok_or_else(usage)?
            }
            "--no-write" => write = false,
            "-h" | "--help" => {
                println!("{}", usage());
                return Ok(());
            }
            _ => return Err(usage()),
        }
    }

    let _ = report::LOAD_AT_START.set(report::load_average());
    let watchdog = watchdog();
    let started = Instant::now();
    let throughput = measure(Workload::Throughput, runs, &watchdog);
    let round_trip = measure(Workload::RoundTrip, runs, &watchdog);
    eprintln!("measured in {:.0} s", started.elapsed().as_secs_f64());

    let results = [
        (Workload::Throughput, throughput),
        (Workload::RoundTrip, round_trip),
    ];
    print!("{}", report::text(&results, runs));
    if write {
        let path = report::write_markdown(&results, runs)?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

/// The deadline of the sample under way, in milliseconds since `watchdog` started (0: none).
type Watchdog = &'static AtomicU64;

/// Starts the thread that ends the process if a sample hangs (a peer that never delivers would
/// otherwise block the whole run).
fn watchdog() -> Watchdog {
    static DEADLINE: AtomicU64 = AtomicU64::new(0);
    let origin = Instant::now();
    let _ = std::thread::Builder::new()
        .name("watchdog".into())
        .spawn(move || loop {
            std::thread::sleep(Duration::from_millis(500));
            let deadline = DEADLINE.load(Ordering::Relaxed);
            if deadline != 0 && origin.elapsed().as_millis() as u64 > deadline {
                eprintln!(
                    "pipework-peers: a sample took over {} s; giving up",
                    SAMPLE_DEADLINE.as_secs()
                );
                std::process::exit(2);
            }
        });
    // Deadlines are measured from (about) the same origin as the thread's.
    ORIGIN.get_or_init(|| origin);
    &DEADLINE
}

static ORIGIN: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();

fn arm(watchdog: Watchdog) {
    let origin = ORIGIN.get().copied().unwrap_or_else(Instant::now);
    let deadline = origin.elapsed() + SAMPLE_DEADLINE;
    watchdog.store(deadline.as_millis() as u64, Ordering::Relaxed);
}

fn disarm(watchdog: Watchdog) {
    watchdog.store(0, Ordering::Relaxed);
}

/// `runs` samples of `workload` on every implementation, alternating between them.
fn measure(workload: Workload, runs: usize, watchdog: &Watchdog) -> Vec<Row> {
    let mut rows: Vec<Row> = ALL
        .iter()
        .map(|implementation| Row {
            implementation,
            outcome: Ok(Vec::new()),
        })
        .collect();
    for run in 0..runs {
        for k in 0..rows.len() {
            let row = &mut rows[(k + run) % ALL.len()];
            let Ok(samples) = &mut row.outcome else {
                continue;
            };
            arm(watchdog);
            let sample = one_sample(row.implementation, workload);
            disarm(watchdog);
            match sample {
                Ok(value) => {
                    eprintln!(
                        "{} {}/{runs} {}: {value:.3} {}",
                        report::title(workload),
                        run + 1,
                        row.implementation.label,
                        report::unit(workload)
                    );
                    samples.push(value);
                }
                Err(e) => {
                    eprintln!(
                        "{} {}: failed: {e}",
                        report::title(workload),
                        row.implementation.label
                    );
                    row.outcome = Err(e.to_string());
                }
            }
        }
    }
    rows
}

fn one_sample(implementation: &Implementation, workload: Workload) -> io::Result<f64> {
    let mut session = (implementation.start)(implementation, workload)?;
    let value = session.sample(workload)?;
    session.finish()?;
    Ok(value)
}

//! `pipework bench`: each mechanism measured between two real processes, beside a raw baseline
//! measured in the same run, reported as a ratio.
//!
//! A mechanism is one module with a [`Mechanism`] entry in [`MECHANISMS`]: a `run` that measures
//! in the parent, and a `child` that plays the other process (this same binary, started as
//! `pipework __bench-child MECHANISM ROLE ARGS...`).

mod anonymous_pipe;
mod clipboard;
mod dde;
mod doorbell;
mod mailslot;
mod mapping;
mod named_pipe;
mod named_pipe_smb;
pub mod plot;
mod rpc;
pub mod scale;
mod shm_pipe;
mod stream;
mod sync;
mod win32;
mod window;

use std::io;
use std::os::fd::OwnedFd;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use indicatif::ProgressBar;
use serde::Serialize;

/// Settings every mechanism's measurements share.
pub struct Settings {
    /// Runs per figure (each run measures the mechanism and its baseline back to back).
    pub runs: usize,
    /// Where progress is shown.
    pub progress: ProgressBar,
}

impl Settings {
    /// Batches of round trips per implementation: two per run, so that a round-trip figure is a
    /// median over as many alternations as its runs allow without doubling the bench's time.
    pub fn round_trip_batches(&self) -> usize {
        self.runs * 2
    }

    /// Measures `ours` and `raw` alternately, `runs` times each, alternating which goes first so
    /// that neither always meets a warmer or colder machine; shows progress as `label`.
    pub fn collect(
        &self,
        label: &str,
        runs: usize,
        mut ours: impl FnMut() -> io::Result<f64>,
        mut raw: impl FnMut() -> io::Result<f64>,
    ) -> io::Result<Samples> {
        let mut samples = Samples::default();
        for run in 0..runs.max(1) {
            self.progress
                .set_message(format!("{label} {}/{}", run + 1, runs.max(1)));
            if run.is_multiple_of(2) {
                samples.raw.push(raw()?);
                samples.ours.push(ours()?);
            } else {
                samples.ours.push(ours()?);
                samples.raw.push(raw()?);
            }
            self.progress.tick();
        }
        Ok(samples)
    }

    /// Measures three things in turn, `runs` times each, the order rotating every run: for two
    /// figures that share a baseline (`[a, b]` beside `c`) or a subject (`a` beside `[b, c]`),
    /// so the shared one is measured once. Samples of each, in the order given.
    pub fn collect_three(
        &self,
        label: &str,
        runs: usize,
        measures: [&mut dyn FnMut() -> io::Result<f64>; 3],
    ) -> io::Result<[Vec<f64>; 3]> {
        let mut samples: [Vec<f64>; 3] = Default::default();
        for run in 0..runs.max(1) {
            self.progress
                .set_message(format!("{label} {}/{}", run + 1, runs.max(1)));
            for turn in 0..3 {
                let which = (run + turn) % 3;
                samples[which].push(measures[which]()?);
            }
            self.progress.tick();
        }
        Ok(samples)
    }
}

impl Samples {
    /// Samples of pipework beside samples of its baseline.
    pub fn of(ours: Vec<f64>, raw: Vec<f64>) -> Samples {
        Samples { ours, raw }
    }
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
    /// Whether more is better (throughput) or less (latency); not part of the JSON form.
    #[serde(skip)]
    pub higher_is_better: bool,
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
        Figure::new(mechanism, metric, unit, baseline, samples, true)
    }

    /// A figure where less is better (latency).
    pub fn lower_is_better(
        mechanism: &'static str,
        metric: &'static str,
        unit: &'static str,
        baseline: &'static str,
        samples: &Samples,
    ) -> Figure {
        Figure::new(mechanism, metric, unit, baseline, samples, false)
    }

    fn new(
        mechanism: &'static str,
        metric: &'static str,
        unit: &'static str,
        baseline: &'static str,
        samples: &Samples,
        higher_is_better: bool,
    ) -> Figure {
        let (value, baseline_value) = samples.medians();
        let speedup = if higher_is_better {
            value / baseline_value
        } else {
            baseline_value / value
        };
        Figure {
            mechanism,
            metric,
            unit,
            value,
            baseline,
            baseline_value,
            speedup,
            higher_is_better,
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
    fn medians(&self) -> (f64, f64) {
        (median(&self.ours), median(&self.raw))
    }
}

/// A unit as a person reads it: `us` (kept in the JSON form, for scripts) shows as `µs`.
pub fn display_unit(unit: &str) -> &str {
    match unit {
        "us" => "µs",
        other => other,
    }
}

/// A figure's value with its unit, to three significant digits (at most: whole numbers stay
/// whole), thousands as `k` and millions as `M`: `52.6 GiB/s`, `0.180 µs`, `1136k msg/s`.
pub fn display_value(value: f64, unit: &str) -> String {
    let unit = display_unit(unit);
    let abs = value.abs();
    let number = if abs >= 10e6 {
        format!("{:.0}M", value / 1e6)
    } else if abs >= 10e3 {
        format!("{:.0}k", value / 1e3)
    } else if abs >= 100.0 {
        format!("{value:.0}")
    } else if abs >= 10.0 {
        format!("{value:.1}")
    } else if abs >= 1.0 {
        format!("{value:.2}")
    } else {
        format!("{value:.3}")
    };
    format!("{number} {unit}")
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

impl Mechanism {
    /// The mechanism `name`, measured by `run`, its other process played by `child`.
    pub const fn new(
        name: &'static str,
        run: fn(&Settings) -> io::Result<Vec<Figure>>,
        child: fn(&[String]) -> io::Result<()>,
    ) -> Mechanism {
        Mechanism { name, run, child }
    }
}

/// Mechanisms measured only when named (or with `--full`): they start foreign servers (smbd)
/// and take long (a GiB through SMB per throughput sample).
pub const NAMED_ONLY: &[&str] = &["named-pipe-smb"];

/// Every mechanism, in table order.
pub const MECHANISMS: &[Mechanism] = &[
    anonymous_pipe::MECHANISM,
    shm_pipe::MECHANISM,
    named_pipe::MECHANISM,
    named_pipe_smb::MECHANISM,
    mailslot::MECHANISM,
    mapping::MECHANISM,
    sync::MECHANISM,
    win32::MECHANISM,
    rpc::MECHANISM,
    clipboard::MECHANISM,
    window::MECHANISM,
    dde::MECHANISM,
];

/// GiB/s of plain `memcpy` in this process, median of 7: `(in cache, from memory)`. In cache:
/// 64 KiB blocks copied round a 1 MiB buffer, the working set of the byte-stream workloads (64
/// KiB writes into a 1 MiB ring or pipe); from memory: one 64 MiB copy, which no cache holds.
pub fn memcpy_bandwidth() -> (f64, f64) {
    fn median(mut samples: Vec<f64>) -> f64 {
        samples.sort_by(f64::total_cmp);
        samples[samples.len() / 2]
    }
    const BIG: usize = 64 << 20;
    const RING: usize = 1 << 20;
    const BLOCK: usize = 64 << 10;
    let gib =
        |bytes: usize, took: Duration| bytes as f64 / (1u64 << 30) as f64 / took.as_secs_f64();
    let source = vec![1u8; BIG];
    let mut target = vec![0u8; BIG];
    let from_memory = median(
        (0..7)
            .map(|_| {
                let start = Instant::now();
                target.copy_from_slice(std::hint::black_box(&source));
                std::hint::black_box(&mut target);
                gib(BIG, start.elapsed())
            })
            .collect(),
    );
    let block = &source[..BLOCK];
    let ring = &mut target[..RING];
    let in_cache = median(
        (0..7)
            .map(|_| {
                let start = Instant::now();
                for i in 0..BIG / BLOCK {
                    let at = i * BLOCK % RING;
                    ring[at..at + BLOCK].copy_from_slice(std::hint::black_box(block));
                }
                std::hint::black_box(&mut *ring);
                gib(BIG, start.elapsed())
            })
            .collect(),
    );
    (in_cache, from_memory)
}

/// `pipework __bench-child MECHANISM ROLE ARGS...`.
pub fn child(args: &[String]) -> io::Result<()> {
    if let Some(cpu) = std::env::var(CHILD_CPU).ok().and_then(|v| v.parse().ok()) {
        pin_to(cpu)?;
    }
    let (name, rest) = args
        .split_first()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no mechanism"))?;
    if name == scale::CHILD {
        return scale::child(rest);
    }
    let mechanism = MECHANISMS.iter().find(|m| m.name == name).ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidInput, format!("no mechanism {name}"))
    })?;
    (mechanism.child)(rest)
}

/// The environment variable that tells a bench child which CPU to pin itself to.
const CHILD_CPU: &str = "PIPEWORK_BENCH_CPU";

fn pin_to(cpu: usize) -> io::Result<()> {
    let mut set = rustix::thread::CpuSet::new();
    set.set(cpu);
    Ok(rustix::thread::sched_setaffinity(None, &set)?)
}

/// Pins this process to the first CPU it may use and tells children to take the second, so that
/// pipework and its baseline always run with the same placement: on a virtual machine, whether a
/// wake-up lands on the waker's CPU or on an idle one changes a round trip several times over,
/// and left to the scheduler that placement differs from child to child. No-op with one CPU.
pub fn pin_parent_and_children() -> io::Result<()> {
    let allowed = rustix::thread::sched_getaffinity(None)?;
    let cpus: Vec<usize> = (0..rustix::thread::CpuSet::MAX_CPU)
        .filter(|&c| allowed.is_set(c))
        .take(2)
        .collect();
    if let [parent, children] = cpus[..] {
        pin_to(parent)?;
        PARENT_CPU.store(parent, Ordering::Relaxed);
        CHILDREN_CPU.store(children, Ordering::Relaxed);
    }
    Ok(())
}

/// The CPU the parent pinned itself to (`usize::MAX`: not pinned).
static PARENT_CPU: AtomicUsize = AtomicUsize::new(usize::MAX);

/// Where a scaling workload's server and its client processes go: the parent's CPU (the parent
/// only waits meanwhile) and the children's, so that the server has a core of its own; `None`
/// each when the processes are not pinned.
pub fn cpus_for_server_and_clients() -> (Option<usize>, Option<usize>) {
    let of = |cpu: usize| (cpu != usize::MAX).then_some(cpu);
    (
        of(PARENT_CPU.load(Ordering::Relaxed)),
        of(CHILDREN_CPU.load(Ordering::Relaxed)),
    )
}

/// The CPU bench children pin themselves to (`usize::MAX`: none, they go where the scheduler
/// puts them).
static CHILDREN_CPU: AtomicUsize = AtomicUsize::new(usize::MAX);

/// Runs `f` with this process and every child it starts meanwhile on one CPU (the first this
/// process may use), then puts this process and later children back where they were: the
/// placement of a machine with one core free, or of two processes the scheduler put together.
pub fn on_one_cpu<T>(f: impl FnOnce() -> io::Result<T>) -> io::Result<T> {
    let allowed = rustix::thread::sched_getaffinity(None)?;
    let cpu = (0..rustix::thread::CpuSet::MAX_CPU)
        .find(|&c| allowed.is_set(c))
        .ok_or_else(|| io::Error::other("this process may run on no CPU"))?;
    let children = CHILDREN_CPU.swap(cpu, Ordering::Relaxed);
    let result = pin_to(cpu).and_then(|()| f());
    CHILDREN_CPU.store(children, Ordering::Relaxed);
    rustix::thread::sched_setaffinity(None, &allowed)?;
    result
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
    let cpu = CHILDREN_CPU.load(Ordering::Relaxed);
    if cpu != usize::MAX {
        command.env(CHILD_CPU, cpu.to_string());
    }
    command
        .arg("__bench-child")
        .arg(mechanism)
        .arg(role)
        .args(args);
    pipework_cli::workload::spawn(command, handles)
}

#[cfg(test)]
mod tests {
    use super::display_value;

    #[test]
    fn values_read_as_a_person_writes_them() {
        assert_eq!(display_value(52.63, "GiB/s"), "52.6 GiB/s");
        assert_eq!(display_value(0.18, "us"), "0.180 µs");
        assert_eq!(display_value(15.2, "ns"), "15.2 ns");
        assert_eq!(display_value(1_136_000.4, "msg/s"), "1136k msg/s");
        assert_eq!(display_value(45_100_000.0, "msg/s"), "45M msg/s");
        assert_eq!(display_value(4.22, "us"), "4.22 µs");
    }
}

//! `named-pipe --scale`: how an async (tokio) server's cost grows with its clients. A pipework
//! named-pipe server and a raw tokio Unix-socket server, each in a process of its own, serve N =
//! 1, 10, 100, 1,000 and 10,000 clients held open at once by client processes (this binary
//! again), one 64-byte request and its 64-byte reply at a time per client.
//!
//! Per N and server, one sample is: the server's resident memory per connected idle client
//! (its RSS growth from before the first client to when all N are connected, over N); the
//! aggregate requests per second with every client busy, and the p50 and p99 of one request's
//! round trip as its client saw it; and connections per second (open, handshake, one request
//! and its reply, close) made by a few clients at once while the N stay connected.
//!
//! The server runs on one CPU and the clients on the other (with `--no-pin` the scheduler
//! places them): a server's figures are its own, not shared with its clients' work. Messages
//! per client shrink as N grows, so that 10,000 clients finish in seconds on two cores.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use pipework::named_pipe::{
    AsyncNamedPipeClient, AsyncNamedPipeServer, ClientOptions, MessageRead, PipeMode, ReadMode,
    ServerOptions, WaitTimeout,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{Figure, Samples, Settings};

/// The name bench children of this workload are started under (`__bench-child named-pipe-scale`).
pub const CHILD: &str = "named-pipe-scale";

/// The mechanism the figures belong to.
const MECHANISM: &str = "named-pipe";

const BASELINE: &str = "raw tokio unix socket";

/// The client counts measured, with their names in the metrics.
const LEVELS: [(usize, &str); 5] = [
    (1, "1"),
    (10, "10"),
    (100, "100"),
    (1_000, "1k"),
    (10_000, "10k"),
];

/// Request and reply size.
const MESSAGE: usize = 64;

/// Requests made in all per sample, spread over the clients (within the bounds below).
const REQUESTS: usize = 40_000;
const MIN_PER_CLIENT: usize = 10;
const MAX_PER_CLIENT: usize = 5_000;

/// Connections made (open, one request, close) per sample, by at most `CHURNERS` clients at once.
const CONNECTIONS: usize = 400;
const CHURNERS: usize = 4;

/// Instances of the pipework server listening at once.
const LISTENING: usize = 2 * CHURNERS;

/// File descriptors a server holds per connected client, and what each process needs besides.
/// Pipework: the socket alone (the client's disconnect notice is a word the server maps, the
/// readiness registration is made on the socket itself, and the instances share one hold on
/// the name); connections on shared-memory rings hold more, but only while the process uses
/// less than a quarter of its limit ([`RINGS_SHARE`]), so the server needs its clients' sockets
/// plus that quarter. A client process holds three per client (socket, registration, notice)
/// but has half the clients.
const SERVER_FDS_PER_CLIENT: u64 = 1;
const SPARE_FDS: u64 = 64;
/// The share of the open-file limit connections on rings may take (named_pipe/state.rs).
const RINGS_SHARE: u64 = 4;

/// An environment variable naming the client counts to measure instead of all
/// (`PIPEWORK_BENCH_SCALE_CLIENTS=1000,10000`), for a quicker look at one level.
const LEVELS_VAR: &str = "PIPEWORK_BENCH_SCALE_CLIENTS";
/// An environment variable that, set, turns the shared-memory rings off on both sides, the
/// pipework server and its clients (to compare the socket path alone: a client whose offer is
/// refused would still look at its rings).
const NO_RINGS_VAR: &str = "PIPEWORK_BENCH_SCALE_NO_RINGS";
/// An environment variable that, set, prints per sample (on standard error) the CPU time the
/// server and the client processes spent per request while the clients made their requests:
/// which side a change lightens.
const CPU_VAR: &str = "PIPEWORK_BENCH_SCALE_CPU";
/// An environment variable multiplying the requests each client makes (a longer request phase,
/// for a profile of it).
const REPEAT_VAR: &str = "PIPEWORK_BENCH_SCALE_REPEAT";

/// One sample of one server at one N.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    requests_per_s: f64,
    p50_us: f64,
    p99_us: f64,
    kib_per_client: f64,
    connections_per_s: f64,
}

/// One measured N, for the plot: medians of pipework's samples and the raw server's.
#[derive(Clone, Debug)]
pub struct Point {
    /// Clients.
    pub clients: usize,
    /// Aggregate requests per second: (pipework, raw).
    pub requests_per_s: (f64, f64),
    /// p99 round trip, µs: (pipework, raw).
    pub p99_us: (f64, f64),
    /// Server memory per idle client, KiB: (pipework, raw).
    pub kib_per_client: (f64, f64),
    /// Connections per second: (pipework, raw).
    pub connections_per_s: (f64, f64),
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Server {
    Pipework,
    Raw,
}

impl Server {
    fn as_str(self) -> &'static str {
        match self {
            Server::Pipework => "pipework",
            Server::Raw => "raw",
        }
    }

    fn parse(s: &str) -> io::Result<Server> {
        match s {
            "pipework" => Ok(Server::Pipework),
            "raw" => Ok(Server::Raw),
            _ => Err(invalid(format!("unknown server {s:?}"))),
        }
    }
}

fn invalid(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, what)
}

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

/// Measures every N (those the file-descriptor limit allows), pipework's server beside the raw
/// one, `settings.runs` times each; the figures, and the points for the plot.
pub fn run(settings: &Settings) -> io::Result<(Vec<Figure>, Vec<Point>)> {
    let levels = levels()?;
    let most = levels.iter().map(|l| l.0).max().unwrap_or(1);
    let limit = raise_fd_limit(needed_fds(most) * RINGS_SHARE / (RINGS_SHARE - 1));
    let usable = limit - limit / RINGS_SHARE;
    let mut figures = Vec::new();
    let mut points = Vec::new();
    for &(clients, label) in &levels {
        let needs = needed_fds(clients);
        let (clients, label) = if needs > usable {
            // The most clients that fit, in whole thousands, stand in for this level.
            let fits = (usable.saturating_sub(SPARE_FDS) / SERVER_FDS_PER_CLIENT) as usize;
            let fits = fits / 1000 * 1000;
            settings.progress.suspend(|| {
                eprintln!(
                    "named-pipe scale: {clients} clients need about {needs} open files in the \
                     server, and RLIMIT_NOFILE's hard limit is {limit} (this process may not \
                     raise it: ulimit -Hn as root); measuring {fits} clients instead"
                )
            });
            if fits
                <= levels
                    .iter()
                    .map(|l| l.0)
                    .filter(|&n| n < clients)
                    .max()
                    .unwrap_or(0)
            {
                continue;
            }
            (fits, leak(format!("{}k", fits / 1000)))
        } else {
            (clients, label)
        };
        let mut ours = Vec::new();
        let mut raw = Vec::new();
        for run in 0..settings.runs.max(1) {
            settings.progress.set_message(format!(
                "named-pipe scale, {clients} clients, {}/{}",
                run + 1,
                settings.runs.max(1)
            ));
            let order = if run % 2 == 0 {
                [Server::Raw, Server::Pipework]
            } else {
                [Server::Pipework, Server::Raw]
            };
            for server in order {
                let sample = measure(server, clients)?;
                match server {
                    Server::Pipework => ours.push(sample),
                    Server::Raw => raw.push(sample),
                }
            }
            settings.progress.tick();
        }
        let of = |f: fn(&Sample) -> f64| {
            Samples::of(ours.iter().map(f).collect(), raw.iter().map(f).collect())
        };
        let metric = |what: &str| leak(format!("{label}_clients_{what}"));
        let requests = of(|s| s.requests_per_s);
        let p50 = of(|s| s.p50_us);
        let p99 = of(|s| s.p99_us);
        let memory = of(|s| s.kib_per_client);
        let connections = of(|s| s.connections_per_s);
        let group = [
            Figure::higher_is_better(MECHANISM, metric("requests"), "req/s", BASELINE, &requests),
            Figure::lower_is_better(MECHANISM, metric("p50"), "us", BASELINE, &p50),
            Figure::lower_is_better(MECHANISM, metric("p99"), "us", BASELINE, &p99),
            Figure::lower_is_better(MECHANISM, metric("memory"), "KiB/client", BASELINE, &memory),
            Figure::higher_is_better(
                MECHANISM,
                metric("connections"),
                "conn/s",
                BASELINE,
                &connections,
            ),
        ];
        points.push(Point {
            clients,
            requests_per_s: (group[0].value, group[0].baseline_value),
            p99_us: (group[2].value, group[2].baseline_value),
            kib_per_client: (group[3].value, group[3].baseline_value),
            connections_per_s: (group[4].value, group[4].baseline_value),
        });
        figures.extend(group);
    }
    Ok((figures, points))
}

/// The levels to measure: all, or those [`LEVELS_VAR`] names.
fn levels() -> io::Result<Vec<(usize, &'static str)>> {
    let Ok(asked) = std::env::var(LEVELS_VAR) else {
        return Ok(LEVELS.to_vec());
    };
    asked
        .split(',')
        .map(|n| {
            let n: usize = n
                .trim()
                .parse()
                .ok()
                .filter(|&n| n > 0)
                .ok_or_else(|| invalid(format!("{LEVELS_VAR}: {n:?} is no client count")))?;
            let label = match LEVELS.iter().find(|l| l.0 == n) {
                Some(l) => l.1,
                None if n.is_multiple_of(1000) => leak(format!("{}k", n / 1000)),
                None => leak(n.to_string()),
            };
            Ok((n, label))
        })
        .collect()
}

/// Open files the server needs with `clients` clients (besides the rings' share).
fn needed_fds(clients: usize) -> u64 {
    clients as u64 * SERVER_FDS_PER_CLIENT + SPARE_FDS
}

/// Raises this process's `RLIMIT_NOFILE` (inherited by the children) to `wanted`: the soft
/// limit up to the hard one, and the hard one too when this process may (root). The soft limit
/// in force after.
fn raise_fd_limit(wanted: u64) -> u64 {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let now = getrlimit(Resource::Nofile);
    let soft = now.current.unwrap_or(u64::MAX);
    if soft >= wanted {
        return soft;
    }
    let hard = now.maximum.unwrap_or(u64::MAX);
    if hard < wanted {
        let raised = Rlimit {
            current: Some(wanted),
            maximum: Some(wanted),
        };
        if setrlimit(Resource::Nofile, raised).is_ok() {
            return wanted;
        }
    }
    let to_hard = Rlimit {
        current: Some(hard),
        maximum: now.maximum,
    };
    match setrlimit(Resource::Nofile, to_hard) {
        Ok(()) => hard,
        Err(_) => soft,
    }
}

/// Client processes for `clients` clients: two (one per core of a two-core machine) but for one.
fn processes(clients: usize) -> usize {
    clients.clamp(1, 2)
}

/// Requests per client at `clients` clients.
fn per_client(clients: usize) -> usize {
    let repeat: usize = std::env::var(REPEAT_VAR)
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(1);
    (REQUESTS / clients).clamp(MIN_PER_CLIENT, MAX_PER_CLIENT) * repeat.max(1)
}

fn unique(what: &str) -> String {
    static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("pipework-bench-{}-{what}-{n}", std::process::id())
}

/// A child of this workload with its standard input and output piped to us.
struct Peer {
    child: Child,
    input: Option<ChildStdin>,
    output: BufReader<ChildStdout>,
}

impl Peer {
    fn start(role: &str, args: &[String], cpu: Option<usize>) -> io::Result<Peer> {
        let mut command = Command::new(std::env::current_exe()?);
        if let Some(cpu) = cpu {
            command.env(super::CHILD_CPU, cpu.to_string());
        }
        command
            .arg("__bench-child")
            .arg(CHILD)
            .arg(role)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        let mut child = command.spawn()?;
        let input = child.stdin.take();
        let output = child.stdout.take().map(BufReader::new);
        match output {
            Some(output) => Ok(Peer {
                child,
                input,
                output,
            }),
            None => Err(io::Error::other("a bench child without its output")),
        }
    }

    /// The next line the child writes, split into words, which must start with `tag`.
    fn expect(&mut self, tag: &str) -> io::Result<Vec<String>> {
        let mut line = String::new();
        self.output.read_line(&mut line)?;
        let words: Vec<String> = line.split_whitespace().map(String::from).collect();
        if words.first().map(String::as_str) != Some(tag) {
            return Err(io::Error::other(format!(
                "named-pipe scale: a {} child said {:?}, not {tag}",
                self.child.id(),
                line.trim_end()
            )));
        }
        Ok(words)
    }

    fn tell(&mut self, word: &str) -> io::Result<()> {
        let input = self
            .input
            .as_mut()
            .ok_or_else(|| io::Error::other("a bench child without its input"))?;
        writeln!(input, "{word}")?;
        input.flush()
    }

    /// Closes its input (the child's cue to finish) and waits for it.
    fn finish(mut self) -> io::Result<()> {
        self.input = None;
        let status = self.child.wait()?;
        if status.success() {
            Ok(())
        } else {
            Err(io::Error::other(format!(
                "named-pipe scale: a bench child failed ({status})"
            )))
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        if self.input.is_some() {
            // Dropped on an error path: do not leave it running.
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// CPU time process `pid` has used: (user, system) in clock ticks from `/proc/PID/stat`, and
/// its main thread's run time in nanoseconds from `/proc/PID/schedstat` (finer than ticks).
fn cpu_used(pid: u32) -> io::Result<(u64, u64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The fields after the command's closing parenthesis: state is field 3, utime 14, stime 15.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| -> u64 { fields.get(n - 3).and_then(|f| f.parse().ok()).unwrap_or(0) };
    let schedstat = std::fs::read_to_string(format!("/proc/{pid}/schedstat"))?;
    let ran = schedstat
        .split_whitespace()
        .next()
        .and_then(|f| f.parse().ok())
        .unwrap_or(0);
    Ok((field(14), field(15), ran))
}

/// Resident memory of process `pid`, in bytes.
fn rss(pid: u32) -> io::Result<u64> {
    let statm = std::fs::read_to_string(format!("/proc/{pid}/statm"))?;
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| io::Error::other("unreadable /proc/PID/statm"))?;
    Ok(pages * rustix::param::page_size() as u64)
}

fn parse<T: std::str::FromStr>(word: Option<&String>) -> io::Result<T> {
    word.and_then(|w| w.parse().ok())
        .ok_or_else(|| io::Error::other("named-pipe scale: a malformed report from a child"))
}

/// One sample of `server` serving `clients` clients.
fn measure(server: Server, clients: usize) -> io::Result<Sample> {
    let (server_cpu, client_cpu) = super::cpus_for_server_and_clients();
    let target = match server {
        Server::Pipework => unique("scale"),
        Server::Raw => std::env::temp_dir()
            .join(unique("scale"))
            .to_string_lossy()
            .into_owned(),
    };
    let mut serving = Peer::start(
        "server",
        &[server.as_str().to_string(), target.clone()],
        server_cpu,
    )?;
    serving.expect("ready")?;
    let before = rss(serving.child.id())?;
    let n = processes(clients);
    let churners = clients.min(CHURNERS);
    let mut peers = Vec::new();
    for i in 0..n {
        let share = clients / n + usize::from(i < clients % n);
        let churn_share = (churners / n + usize::from(i < churners % n)).max(1);
        let args = [
            server.as_str().to_string(),
            target.clone(),
            share.to_string(),
            per_client(clients).to_string(),
            churn_share.to_string(),
            (CONNECTIONS / churners).to_string(),
        ];
        peers.push(Peer::start("client", &args, client_cpu)?);
    }
    for peer in &mut peers {
        peer.expect("connected")?;
    }
    let after = rss(serving.child.id())?;
    let kib_per_client = after.saturating_sub(before) as f64 / 1024.0 / clients as f64;
    let cpu = std::env::var_os(CPU_VAR).is_some();
    let cpu_of = |pids: &[u32]| -> io::Result<(u64, u64, u64)> {
        let mut sum = (0, 0, 0);
        for &pid in pids {
            let (u, s, r) = cpu_used(pid)?;
            sum = (sum.0 + u, sum.1 + s, sum.2 + r);
        }
        Ok(sum)
    };
    let client_pids: Vec<u32> = peers.iter().map(|p| p.child.id()).collect();
    let server_pid = [serving.child.id()];
    let cpu_before = if cpu {
        Some((cpu_of(&server_pid)?, cpu_of(&client_pids)?))
    } else {
        None
    };
    for peer in &mut peers {
        peer.tell("go")?;
    }
    let mut latencies: Vec<u64> = Vec::new();
    let (mut requests, mut longest) = (0u64, 0u64);
    for peer in &mut peers {
        let words = peer.expect("requests")?;
        requests += parse::<u64>(words.get(1))?;
        longest = longest.max(parse(words.get(2))?);
        for w in &words[3..] {
            latencies.push(parse(Some(w))?);
        }
    }
    if let Some((server_was, clients_was)) = cpu_before {
        let (server_now, clients_now) = (cpu_of(&server_pid)?, cpu_of(&client_pids)?);
        let per = |now: (u64, u64, u64), was: (u64, u64, u64)| {
            let tick = 1e9 / rustix::param::clock_ticks_per_second() as f64;
            (
                now.2.saturating_sub(was.2) as f64 / requests.max(1) as f64,
                now.0.saturating_sub(was.0) as f64 * tick / requests.max(1) as f64,
                now.1.saturating_sub(was.1) as f64 * tick / requests.max(1) as f64,
            )
        };
        let (s, c) = (per(server_now, server_was), per(clients_now, clients_was));
        eprintln!(
            "cpu {} {clients} clients: {:.0} req/s; server {:.0} ns/req (user {:.0} sys {:.0}); \
             clients {:.0} ns/req (user {:.0} sys {:.0})",
            server.as_str(),
            requests as f64 / (longest as f64 / 1e9),
            s.0,
            s.1,
            s.2,
            c.0,
            c.1,
            c.2
        );
    }
    for peer in &mut peers {
        peer.tell("churn")?;
    }
    let (mut connections, mut churn_longest) = (0u64, 0u64);
    for peer in &mut peers {
        let words = peer.expect("churned")?;
        connections += parse::<u64>(words.get(1))?;
        churn_longest = churn_longest.max(parse(words.get(2))?);
    }
    for peer in peers {
        peer.finish()?;
    }
    serving.finish()?;
    if server == Server::Raw {
        let _ = std::fs::remove_file(&target);
    }
    latencies.sort_unstable();
    let percentile = |p: f64| -> f64 {
        if latencies.is_empty() {
            return f64::NAN;
        }
        let at = ((latencies.len() as f64 * p) as usize).min(latencies.len() - 1);
        latencies[at] as f64 / 1e3
    };
    Ok(Sample {
        requests_per_s: requests as f64 / (longest as f64 / 1e9),
        p50_us: percentile(0.50),
        p99_us: percentile(0.99),
        kib_per_client,
        connections_per_s: connections as f64 / (churn_longest as f64 / 1e9),
    })
}

/// `pipework __bench-child named-pipe-scale ROLE ARGS...`.
pub fn child(args: &[String]) -> io::Result<()> {
    let role = args.first().map(String::as_str).unwrap_or("");
    let server = Server::parse(args.get(1).map(String::as_str).unwrap_or(""))?;
    let target = args
        .get(2)
        .ok_or_else(|| invalid("missing pipe name or socket path".into()))?
        .clone();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    match role {
        "server" => runtime.block_on(serve(server, target)),
        "client" => {
            let number = |i: usize| -> io::Result<usize> {
                args.get(i)
                    .and_then(|a| a.parse().ok())
                    .ok_or_else(|| invalid(format!("missing client argument {i}")))
            };
            let plan = Plan {
                server,
                target,
                clients: number(3)?,
                requests: number(4)?,
                churners: number(5)?,
                cycles: number(6)?,
            };
            clients(&runtime, &plan)
        }
        other => Err(invalid(format!("unknown role {other:?}"))),
    }
}

/// Serves until its standard input closes.
async fn serve(server: Server, target: String) -> io::Result<()> {
    let accepting = match server {
        Server::Pipework => {
            let mut options = ServerOptions::new();
            options.pipe_mode(PipeMode::Message).unlimited_instances();
            if std::env::var_os(NO_RINGS_VAR).is_some() {
                options.shared_memory(false);
            }
            // Several instances listen at once (several ConnectNamedPipe pending, as a Windows
            // server expecting bursts keeps), so that clients arriving together find one free
            // instead of waiting for the next to be created: the named pipe's counterpart of a
            // socket's listen backlog.
            let mut acceptors = Vec::new();
            for _ in 0..LISTENING {
                let first = options.create_async(&target)?;
                acceptors.push(tokio::spawn(accept_pipes(
                    options.clone(),
                    target.clone(),
                    first,
                )));
            }
            tokio::spawn(async move {
                for acceptor in acceptors {
                    acceptor.await.map_err(io::Error::other)??;
                }
                Ok(())
            })
        }
        Server::Raw => {
            let listener = tokio::net::UnixListener::bind(&target)?;
            tokio::spawn(accept_sockets(listener))
        }
    };
    say("ready")?;
    // Standard input closes when the parent is done (or gone).
    tokio::task::spawn_blocking(|| {
        let mut sink = Vec::new();
        io::stdin().read_to_end(&mut sink)
    })
    .await
    .map_err(io::Error::other)??;
    if accepting.is_finished() {
        return accepting.await.map_err(io::Error::other)?;
    }
    accepting.abort();
    Ok(())
}

fn say(line: &str) -> io::Result<()> {
    let mut out = io::stdout().lock();
    writeln!(out, "{line}")?;
    out.flush()
}

/// The usual named-pipe server loop: wait for a client on the listening instance, create the
/// next instance, serve the client on its own task.
async fn accept_pipes(
    options: ServerOptions,
    name: String,
    mut listening: AsyncNamedPipeServer,
) -> io::Result<()> {
    loop {
        match listening.connect().await {
            Ok(_) => {}
            // A client that came and went before it was admitted.
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => continue,
            Err(e) => return Err(e),
        }
        let next = options.create_async(&name)?;
        let connected = std::mem::replace(&mut listening, next);
        let task = echo_messages(connected);
        if std::env::var_os(CPU_VAR).is_some() {
            static SAID: std::sync::Once = std::sync::Once::new();
            SAID.call_once(|| {
                eprintln!(
                    "sizes: echo task {} B, AsyncNamedPipeServer {} B",
                    std::mem::size_of_val(&task),
                    std::mem::size_of::<AsyncNamedPipeServer>()
                )
            });
        }
        tokio::spawn(task);
    }
}

async fn echo_messages(mut pipe: AsyncNamedPipeServer) {
    let mut buf = [0u8; MESSAGE];
    while let Ok(MessageRead::Complete(n)) = pipe.read_message(&mut buf).await {
        if pipe.write_message(&buf[..n]).await.is_err() {
            break;
        }
    }
}

async fn accept_sockets(listener: tokio::net::UnixListener) -> io::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        tokio::spawn(echo_stream(stream));
    }
}

async fn echo_stream(mut stream: tokio::net::UnixStream) {
    let mut buf = [0u8; MESSAGE];
    while stream.read_exact(&mut buf).await.is_ok() {
        if stream.write_all(&buf).await.is_err() {
            break;
        }
    }
}

/// What one client process does.
struct Plan {
    server: Server,
    target: String,
    /// Clients held open, each making `requests` requests.
    clients: usize,
    requests: usize,
    /// Clients that connect, make one request and close, `cycles` times each.
    churners: usize,
    cycles: usize,
}

/// One client connection.
// Not boxed: a box would give the pipework side an allocation per client that the raw side has not.
#[allow(clippy::large_enum_variant)]
enum Conn {
    Pipe(AsyncNamedPipeClient),
    Socket(tokio::net::UnixStream),
}

impl Conn {
    async fn open(server: Server, target: &str) -> io::Result<Conn> {
        match server {
            Server::Pipework => {
                let mut options = ClientOptions::new();
                options.wait(WaitTimeout::After(Duration::from_secs(120)));
                if std::env::var_os(NO_RINGS_VAR).is_some() {
                    options.shared_memory(false);
                }
                let mut client = options.open_async(target).await?;
                client.get_mut().set_read_mode(ReadMode::Message)?;
                Ok(Conn::Pipe(client))
            }
            Server::Raw => loop {
                // A Unix socket whose listen backlog is full refuses a nonblocking connect with
                // EAGAIN: try again shortly, as a client would.
                match tokio::net::UnixStream::connect(target).await {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        tokio::time::sleep(Duration::from_millis(1)).await
                    }
                    other => return Ok(Conn::Socket(other?)),
                }
            },
        }
    }

    async fn request(&mut self, request: &[u8; MESSAGE]) -> io::Result<()> {
        let mut reply = [0u8; MESSAGE];
        match self {
            Conn::Pipe(pipe) => {
                pipe.write_message(request).await?;
                match pipe.read_message(&mut reply).await? {
                    MessageRead::Complete(MESSAGE) => Ok(()),
                    other => Err(io::Error::other(format!(
                        "named-pipe scale: the reply was {other:?}"
                    ))),
                }
            }
            Conn::Socket(stream) => {
                stream.write_all(request).await?;
                stream.read_exact(&mut reply).await?;
                Ok(())
            }
        }
    }
}

/// Waits for the parent's next word.
fn cue(expected: &str) -> io::Result<()> {
    let mut line = String::new();
    io::stdin().read_line(&mut line)?;
    if line.trim() != expected {
        return Err(invalid(format!("expected {expected:?}, got {line:?}")));
    }
    Ok(())
}

fn clients(runtime: &tokio::runtime::Runtime, plan: &Plan) -> io::Result<()> {
    // Connected one after the other, as clients arriving at a server do.
    let mut conns = Vec::with_capacity(plan.clients);
    runtime.block_on(async {
        for _ in 0..plan.clients {
            conns.push(Conn::open(plan.server, &plan.target).await?);
        }
        Ok::<_, io::Error>(())
    })?;
    say("connected")?;
    cue("go")?;
    let requests = plan.requests;
    let (latencies, took) = runtime.block_on(async {
        let start = Instant::now();
        let tasks: Vec<_> = conns
            .drain(..)
            .map(|mut conn| {
                tokio::spawn(async move {
                    let mut latencies = Vec::with_capacity(requests);
                    let request = [0x5au8; MESSAGE];
                    for _ in 0..requests {
                        let sent = Instant::now();
                        conn.request(&request).await?;
                        // In nanoseconds, as u64: a loaded machine's p99 can pass the 4.3 s a u32 holds.
                        latencies.push(sent.elapsed().as_nanos().min(u128::from(u64::MAX)) as u64);
                    }
                    Ok::<_, io::Error>((conn, latencies))
                })
            })
            .collect();
        let mut all = Vec::with_capacity(plan.clients * requests);
        for task in tasks {
            let (conn, latencies) = task.await.map_err(io::Error::other)??;
            conns.push(conn);
            all.extend(latencies);
        }
        Ok::<_, io::Error>((all, start.elapsed()))
    })?;
    {
        let mut out = io::BufWriter::new(io::stdout().lock());
        write!(out, "requests {} {}", latencies.len(), took.as_nanos())?;
        for l in &latencies {
            write!(out, " {l}")?;
        }
        writeln!(out)?;
        out.flush()?;
    }
    cue("churn")?;
    let (made, took) = runtime.block_on(async {
        let start = Instant::now();
        let tasks: Vec<_> = (0..plan.churners)
            .map(|_| {
                let target = plan.target.clone();
                let (server, cycles) = (plan.server, plan.cycles);
                tokio::spawn(async move {
                    let request = [0xa5u8; MESSAGE];
                    for _ in 0..cycles {
                        let mut conn = Conn::open(server, &target).await?;
                        conn.request(&request).await?;
                    }
                    Ok::<_, io::Error>(cycles)
                })
            })
            .collect();
        let mut made = 0;
        for task in tasks {
            made += task.await.map_err(io::Error::other)??;
        }
        Ok::<_, io::Error>((made, start.elapsed()))
    })?;
    say(&format!("churned {made} {}", took.as_nanos()))?;
    // Hold every connection until the parent is done with the server.
    let mut sink = Vec::new();
    io::stdin().read_to_end(&mut sink)?;
    drop(conns);
    Ok(())
}

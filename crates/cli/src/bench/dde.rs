//! `dde`: DDE advise updates per second on hot links, to 1 client and to 50, beside the same
//! updates pushed as messages over pipework message-mode named pipes (one pipe per client).
//!
//! The parent is the DDE server: each update sets the item in its [`ItemTable`] and calls
//! [`DdeServer::post_advise`], which fans it out to every link. The clients live in child
//! processes: 1 client in 1 process, 50 clients as 5 processes of 10 clients each (each client
//! its own DDE client window and conversation; 50 processes would measure the scheduler of a
//! two-core machine more than DDE). The baseline runs in the same children: one named pipe per
//! client, each update written to every pipe by the parent, each pipe read on its own thread.
//!
//! Updates go in rounds of [`ROUND`], shorter than a link's queue ([`pipework::dde::LINK_QUEUE`]),
//! and the parent waits for every client to have seen a round's last update before it starts
//! the next: no update is dropped, so both sides deliver every update, and a client that saw one
//! missing or out of order fails the bench. The figure is updates delivered per second, summed
//! over the clients.

use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::process::Child;
use std::sync::mpsc;
use std::time::Instant;

use pipework::dde::{Ack, AdviseFlags, DdeClient, DdeServer, ItemTable, CF_TEXT};
use pipework::named_pipe::{
    ClientOptions, MessageRead, NamedPipeServer, PipeMode, ReadMode, ServerOptions,
};
use pipework::pipe::{self, PipeReader, PipeWriter};
use pipework_cli::workload::inherited;

use super::{spawn_child, Figure, Mechanism, Settings};

/// The `dde` entry of the bench table.
pub const MECHANISM: Mechanism = Mechanism::new(NAME, run, child);

const NAME: &str = "dde";
const TOPIC: &str = "Bench";
const ITEM: &str = "Tick";
/// Bytes of one update (its sequence number first).
const UPDATE: usize = 64;
/// Updates posted before the parent waits for every client to have seen them all.
const ROUND: u64 = 256;
/// A child's answer to a round: every client saw it whole and in order.
const ROUND_OK: u8 = b'.';
/// A child's answer to a round: some client saw an update missing or out of order.
const ROUND_BAD: u8 = b'x';

/// Clients of a figure, the processes that hold them, rounds per run, and the figure's label.
const SHAPES: [(usize, usize, u64, &str); 2] =
    [(1, 1, 40, "dde/1client"), (50, 5, 2, "dde/50clients")];

fn run(settings: &Settings) -> io::Result<Vec<Figure>> {
    let mut figures = Vec::new();
    for (clients, processes, rounds, label) in SHAPES {
        let per_child = clients / processes;
        let mut dde = DdeSide::start(processes, per_child)?;
        let mut pipes = PipeSide::start(processes, per_child)?;
        let deliveries = (rounds * ROUND) as f64 * clients as f64;
        let samples = settings.collect(
            label,
            settings.runs,
            || {
                let start = Instant::now();
                for _ in 0..rounds {
                    dde.round()?;
                }
                Ok(deliveries / start.elapsed().as_secs_f64())
            },
            || {
                let start = Instant::now();
                for _ in 0..rounds {
                    pipes.round()?;
                }
                Ok(deliveries / start.elapsed().as_secs_f64())
            },
        )?;
        dde.finish()?;
        pipes.finish()?;
        let mut figure = Figure::higher_is_better(
            NAME,
            "advise_rate",
            "updates/s",
            "pipework named pipes",
            &samples,
        );
        figure.mechanism = label;
        figures.push(figure);
    }
    Ok(figures)
}

/// The update numbered `seq`: its number, then padding up to [`UPDATE`] bytes.
fn update(seq: u64) -> [u8; UPDATE] {
    let mut data = [0x2eu8; UPDATE];
    data[..8].copy_from_slice(&seq.to_le_bytes());
    data
}

/// The children of one side: how each answers a round, and how each is told to stop.
struct Children {
    children: Vec<(Child, PipeReader, Option<PipeWriter>)>,
}

impl Children {
    fn spawn(role: &str, args: impl Fn(usize) -> Vec<String>, count: usize) -> io::Result<Self> {
        let mut children = Vec::new();
        for i in 0..count {
            let (answers_r, answers_w) = pipe::create()?;
            let (stop_r, stop_w) = pipe::create()?;
            let child = spawn_child(
                NAME,
                role,
                &args(i),
                vec![OwnedFd::from(answers_w), OwnedFd::from(stop_r)],
            )?;
            children.push((child, answers_r, Some(stop_w)));
        }
        Ok(Children { children })
    }

    /// Waits for one byte from every child: `what` is ready, or a round was seen whole.
    fn answers(&mut self, what: &str) -> io::Result<()> {
        for (_, answers, _) in &mut self.children {
            let mut byte = [0u8];
            answers.read_exact(&mut byte).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("a {NAME} child gave no answer ({what}): {e}"),
                )
            })?;
            if byte[0] != ROUND_OK {
                return Err(io::Error::other(format!(
                    "a {NAME} client saw an update missing or out of order ({what})"
                )));
            }
        }
        Ok(())
    }

    fn finish(mut self) -> io::Result<()> {
        for (_, _, stop) in &mut self.children {
            stop.take();
        }
        for (child, _, _) in &mut self.children {
            let status = child.wait()?;
            if !status.success() {
                return Err(io::Error::other(format!("a {NAME} child failed: {status}")));
            }
        }
        Ok(())
    }
}

/// The DDE server in this process, its clients in children.
struct DdeSide {
    server: DdeServer,
    table: ItemTable,
    children: Children,
    seq: u64,
}

impl DdeSide {
    fn start(processes: usize, per_child: usize) -> io::Result<DdeSide> {
        let service = format!("PipeworkBench{}x{processes}", std::process::id());
        let table = ItemTable::new();
        table.set(TOPIC, ITEM, CF_TEXT, update(0).to_vec());
        let server = DdeServer::register(&service, table.clone())?;
        let args = |_| vec![service.clone(), per_child.to_string()];
        let mut children = Children::spawn("dde", args, processes)?;
        children.answers("connected")?;
        Ok(DdeSide {
            server,
            table,
            children,
            seq: 0,
        })
    }

    fn round(&mut self) -> io::Result<()> {
        for _ in 0..ROUND {
            self.seq += 1;
            self.table
                .set(TOPIC, ITEM, CF_TEXT, update(self.seq).to_vec());
            self.server.post_advise(TOPIC, ITEM);
        }
        self.children.answers("dde round")
    }

    fn finish(self) -> io::Result<()> {
        self.children.finish()?;
        drop(self.server);
        Ok(())
    }
}

/// One named pipe per client, this process writing every update to each.
struct PipeSide {
    servers: Vec<NamedPipeServer>,
    children: Children,
    seq: u64,
}

impl PipeSide {
    fn start(processes: usize, per_child: usize) -> io::Result<PipeSide> {
        let prefix = format!("pipework-bench-dde-{}-{processes}", std::process::id());
        let mut servers = Vec::new();
        for i in 0..processes * per_child {
            servers.push(
                ServerOptions::new()
                    .pipe_mode(PipeMode::Message)
                    .create(&format!("{prefix}-{i}"))?,
            );
        }
        let args = |i: usize| {
            vec![
                prefix.clone(),
                (i * per_child).to_string(),
                per_child.to_string(),
            ]
        };
        let mut children = Children::spawn("pipe", args, processes)?;
        for server in &mut servers {
            server.connect()?;
        }
        children.answers("connected")?;
        Ok(PipeSide {
            servers,
            children,
            seq: 0,
        })
    }

    fn round(&mut self) -> io::Result<()> {
        for _ in 0..ROUND {
            self.seq += 1;
            let data = update(self.seq);
            for server in &mut self.servers {
                server.write_message(&data)?;
            }
        }
        self.children.answers("pipe round")
    }

    fn finish(self) -> io::Result<()> {
        drop(self.servers);
        self.children.finish()
    }
}

/// What a client thread tells its process's main thread: it saw a round's last update (`true`:
/// every update of the round, in order).
type Seen = mpsc::Sender<bool>;

/// Follows one client's updates: whether each is the one after the last.
struct Sequence {
    last: u64,
    good: bool,
    seen: Seen,
}

impl Sequence {
    fn new(seen: Seen) -> Sequence {
        Sequence {
            last: 0,
            good: true,
            seen,
        }
    }

    fn saw(&mut self, data: Option<&[u8]>, missed: u64) {
        let seq = data
            .and_then(|d| d.get(..8))
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes);
        match seq {
            Some(seq) if seq == self.last + 1 && missed == 0 => self.last = seq,
            Some(seq) => {
                self.good = false;
                self.last = seq;
            }
            None => {
                self.good = false;
                return;
            }
        }
        if self.last.is_multiple_of(ROUND) {
            let _ = self.seen.send(std::mem::replace(&mut self.good, true));
        }
    }
}

fn child(args: &[String]) -> io::Result<()> {
    let arg = |i: usize| {
        args.get(i)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "too few arguments"))
    };
    let number = |i: usize| -> io::Result<usize> {
        arg(i)?
            .parse()
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "not a number"))
    };
    let (tx, rx) = mpsc::channel();
    // Kept alive until the parent says stop.
    let mut held: Vec<Box<dyn Send>> = Vec::new();
    let (clients, handles) = match args.first().map(String::as_str) {
        Some("dde") => {
            let service = arg(1)?;
            let clients = number(2)?;
            for _ in 0..clients {
                let mut sequence = Sequence::new(tx.clone());
                let client = DdeClient::new(move |u| sequence.saw(u.data, u.missed))?;
                let conv = client.connect(Some(service), Some(TOPIC))?;
                if conv.advise_start(ITEM, CF_TEXT, AdviseFlags::default())? != Ack::Ack {
                    return Err(io::Error::other("the bench server refused the advise link"));
                }
                held.push(Box::new(conv));
                held.push(Box::new(client));
            }
            (clients, 3)
        }
        Some("pipe") => {
            let prefix = arg(1)?;
            let first = number(2)?;
            let clients = number(3)?;
            for i in first..first + clients {
                let mut pipe = ClientOptions::new().open(&format!("{prefix}-{i}"))?;
                pipe.set_read_mode(ReadMode::Message)?;
                let mut sequence = Sequence::new(tx.clone());
                std::thread::spawn(move || {
                    let mut buf = [0u8; UPDATE];
                    while let Ok(MessageRead::Complete(n)) = pipe.read_message(&mut buf) {
                        sequence.saw(Some(&buf[..n]), 0);
                    }
                });
            }
            (clients, 4)
        }
        other => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("no {NAME} role {other:?}"),
            ))
        }
    };
    drop(tx);
    let mut answers = PipeWriter::try_from(inherited(args.get(handles))?)?;
    let mut stop = PipeReader::try_from(inherited(args.get(handles + 1))?)?;
    // The parent closes its end of `stop` when it is done: then this process ends.
    std::thread::spawn(move || {
        let mut rest = Vec::new();
        let _ = stop.read_to_end(&mut rest);
        std::process::exit(0);
    });
    answers.write_all(&[ROUND_OK])?;
    loop {
        let mut good = true;
        for _ in 0..clients {
            match rx.recv() {
                Ok(round) => good &= round,
                // Every client is gone: the parent closed the pipes, it is done.
                Err(_) => return Ok(()),
            }
        }
        answers.write_all(&[if good { ROUND_OK } else { ROUND_BAD }])?;
    }
}

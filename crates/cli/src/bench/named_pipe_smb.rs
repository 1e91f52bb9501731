//! `named-pipe-smb`: the same pipe reached across SMB through Samba on loopback, beside it
//! reached locally: what a client pays for crossing SMB. The parent serves a pipework named pipe
//! (byte pipe for throughput, message pipe for 64-byte round trips), its child opens it as
//! `\\127.0.0.1\pipe\NAME` with pipework's SMB2 client through a private smbd (its own smb.conf
//! and directories in a temporary directory, a free port on 127.0.0.1), or as the local name.
//!
//! A round trip through SMB is two SMB exchanges (the child's READ of the message, then its
//! WRITE of the answer), each crossing smbd. Runs only where Samba's `smbd` is installed and the
//! bench runs as root (smbd needs it); otherwise it says so and measures nothing.

use std::io::{self, BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use pipework::named_pipe::{ClientOptions, PipeMode, ReadMode, ServerOptions};
use pipework_cli::workload::{self, Session, Workload};

use super::named_pipe::{message_pipe, PipeLink};
use super::{spawn_child, stream, Figure, Mechanism, Settings};

/// The `named-pipe-smb` entry of the bench table.
pub const MECHANISM: Mechanism = Mechanism::new(NAME, run, child);

const NAME: &str = "named-pipe-smb";

const SMBD: &str = "/usr/sbin/smbd";

/// How long smbd may take to say it is ready.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A private smbd, killed with its children (and its directory removed) when dropped.
struct Smbd {
    dir: PathBuf,
    port: u16,
    child: Child,
}

impl Drop for Smbd {
    fn drop(&mut self) {
        // The whole process group: smbd forks one process per client.
        let _ = rustix::process::kill_process_group(
            rustix::process::Pid::from_child(&self.child),
            rustix::process::Signal::KILL,
        );
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Smbd {
    fn start() -> io::Result<Smbd> {
        let dir = std::env::temp_dir().join(format!("pipework-bench-smb-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for sub in ["lock", "state", "cache", "pid", "private", "ncalrpc", "log"] {
            std::fs::create_dir_all(dir.join(sub))?;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let d = dir.display();
        let conf = format!(
            "[global]\n\
             workgroup = PWBENCH\n\
             netbios name = PWBENCH\n\
             server role = standalone server\n\
             smb ports = {port}\n\
             interfaces = 127.0.0.1\n\
             bind interfaces only = yes\n\
             lock directory = {d}/lock\n\
             state directory = {d}/state\n\
             cache directory = {d}/cache\n\
             pid directory = {d}/pid\n\
             private dir = {d}/private\n\
             ncalrpc dir = {d}/ncalrpc\n\
             external_rpc_pipe:socket_dir = {d}/ncalrpc\n\
             passdb backend = smbpasswd:{d}/private/smbpasswd\n\
             dbwrap_tdb_mutexes:* = no\n\
             log file = {d}/log/log.%m\n\
             map to guest = Bad User\n\
             guest account = nobody\n\
             restrict anonymous = 0\n\
             load printers = no\n\
             printing = bsd\n\
             printcap name = /dev/null\n\
             disable spoolss = yes\n\
             disable netbios = yes\n"
        );
        std::fs::write(dir.join("smb.conf"), conf)?;
        std::fs::write(dir.join("private/smbpasswd"), "")?;
        let mut child = Command::new(SMBD)
            .arg("-s")
            .arg(dir.join("smb.conf"))
            .args([
                "--foreground",
                "--no-process-group",
                "--debug-stdout",
                "-d2",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()?;
        let out = child.stdout.take().expect("piped");
        let smbd = Smbd { dir, port, child };
        // Ready once it says so, read in a thread so that the wait is bounded.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut out = BufReader::new(out);
            let mut line = String::new();
            let mut told = false;
            while out.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
                if !told && line.contains("waiting for connections") {
                    let _ = tx.send(());
                    told = true;
                }
                line.clear();
            }
        });
        rx.recv_timeout(START_TIMEOUT).map_err(|_| {
            io::Error::new(
                io::ErrorKind::TimedOut,
                format!("smbd did not start within {START_TIMEOUT:?}"),
            )
        })?;
        Ok(smbd)
    }

    fn socket_dir(&self) -> PathBuf {
        self.dir.join("ncalrpc")
    }
}

fn unique(what: &str) -> String {
    static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("pipework-bench-smb-{}-{what}-{n}", std::process::id())
}

fn run(settings: &Settings) -> io::Result<Vec<Figure>> {
    if !Path::new(SMBD).exists() || !rustix::process::geteuid().is_root() {
        crate::output::note_line(format_args!(
            "{NAME}: not measured: needs Samba's smbd ({SMBD}; apt-get install samba) and root"
        ));
        return Ok(Vec::new());
    }
    let smbd = Smbd::start()?;
    let (throughput, round_trip) = stream::throughput_and_round_trips(
        settings,
        NAME,
        |w| session(w, Some(&smbd)),
        |w| session(w, None),
    )?;
    drop(smbd);
    Ok(vec![
        Figure::higher_is_better(
            NAME,
            "throughput",
            "GiB/s",
            "same pipe, local client",
            &throughput,
        ),
        Figure::lower_is_better(
            NAME,
            "round_trip",
            "us",
            "same pipe, local client",
            &round_trip,
        ),
    ])
}

/// The parent as the server of a fresh pipe, its child as the client: through `smbd` when
/// given, else locally.
fn session(workload: Workload, smbd: Option<&Smbd>) -> io::Result<Session> {
    let name = unique(workload.role());
    let message = message_pipe(workload);
    let mut options = ServerOptions::new();
    options.pipe_mode(if message {
        PipeMode::Message
    } else {
        PipeMode::Byte
    });
    let (role, args) = match smbd {
        Some(smbd) => {
            // The child's anonymous session is smbd's guest: admitted as everyone is.
            options
                .remote_socket_dir(smbd.socket_dir())
                .allow_everyone();
            (
                stream::role(workload, "smb"),
                vec![format!(r"\\127.0.0.1\pipe\{name}"), smbd.port.to_string()],
            )
        }
        None => (stream::role(workload, "local"), vec![name.clone()]),
    };
    let mut server = options.create(&name)?;
    let mut child = spawn_child(NAME, &role, &args, Vec::new())?;
    match server.connect() {
        Ok(_) => Ok(Session::new(
            NAME,
            Box::new(PipeLink::new(server, message)),
            child,
        )),
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            Err(e)
        }
    }
}

fn child(args: &[String]) -> io::Result<()> {
    let role = args.first().map(String::as_str).unwrap_or("");
    let target = args
        .get(1)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "missing pipe name"))?;
    let (workload, how) = stream::split_role(role);
    let workload = Workload::from_role(workload)?;
    let mut options = ClientOptions::new();
    match how {
        "smb" => {
            let port = args
                .get(2)
                .and_then(|p| p.parse().ok())
                .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "missing port"))?;
            options.remote_port(port);
        }
        "local" => {}
        _ => return Err(stream::unknown_role(NAME, role)),
    }
    let mut client = options.open(target)?;
    if message_pipe(workload) {
        client.set_read_mode(ReadMode::Message)?;
    }
    workload::serve(
        workload,
        Box::new(PipeLink::new(client, message_pipe(workload))),
    )
}

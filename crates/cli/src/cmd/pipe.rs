//! `pipework pipe ...`: named-pipe servers and clients on the command line.

use std::io::{self, BufRead, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::process::{self, Stdio};
use std::time::{Duration, Instant};

use clap::Subcommand;
use pipework::named_pipe::{
    self, ClientOptions, MessageRead, NamedPipeServer, PipeMode, ReadMode, ServerOptions,
    WaitTimeout,
};

use crate::names;
use crate::output::{self, note};

/// Options of `pipework pipe`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve a named pipe: echo every client's data back, or wire each client to a new CMD.
    Serve(ServeArgs),
    /// Connect to a named pipe: stdin goes into the pipe, what comes out goes to stdout. On a
    /// message pipe each input line is one message, and each reply message one output line.
    Connect {
        /// Pipe name (`\\.\pipe\NAME` or `NAME`).
        #[arg(value_parser = names::pipe)]
        name: String,
        /// Wait for a free instance instead of failing when all are busy.
        #[arg(long)]
        wait: bool,
        /// Connect only to a server that runs as user UID (`pipework list` and `ps` show who
        /// that is); a server of another user is refused. Worth giving for a `--global` pipe,
        /// whose name any user could have created first.
        #[arg(long, value_name = "UID")]
        server_uid: Option<u32>,
        /// Take the pipe as a message pipe (a pipe on another machine served by Samba does not
        /// say its type): each input line one message, each reply one line.
        #[arg(long)]
        message: bool,
        #[command(flatten)]
        remote: RemoteArgs,
    },
    /// Send TEXT as one message and print the reply (`CallNamedPipe`).
    Call {
        /// Pipe name (`\\.\pipe\NAME`, `NAME`, or `\\HOST\pipe\NAME` on another machine).
        #[arg(value_parser = names::pipe)]
        name: String,
        /// The request.
        text: String,
        #[command(flatten)]
        remote: RemoteArgs,
    },
    /// Print the Unix-domain socket path of a listening instance, for socat, Python, ...
    ///
    /// A byte pipe carries exactly the bytes written, both ways. A message pipe frames every
    /// message, both ways, as a 4-byte little-endian length and that many bytes (no handshake
    /// for a foreign client): socat's raw bytes are not messages, and it gets no reply.
    /// `python/pipework_pipe.py` in the source tree speaks the framing (stdlib only). The
    /// instance stops listening once it admits a client: ask again for the next connection.
    Path {
        /// Pipe name (`\\.\pipe\NAME` or `NAME`).
        #[arg(value_parser = names::pipe)]
        name: String,
        /// One JSON object: `name`, `path`, `type` (`byte` or `message`) and `framing`.
        #[arg(long)]
        json: bool,
        /// Wait up to MS milliseconds for an instance to listen, instead of failing at once
        /// when every instance is busy (`WaitNamedPipe`).
        #[arg(long, value_name = "MS")]
        wait: Option<u64>,
    },
}

/// How to reach a pipe on another machine (`\\HOST\pipe\NAME`, over SMB).
#[derive(clap::Args, Debug)]
struct RemoteArgs {
    /// The SMB server's TCP port (default 445, or PIPEWORK_SMB_PORT).
    #[arg(long, value_name = "N")]
    port: Option<u16>,
    /// Log on as USER with NTLMv2 (default: PIPEWORK_SMB_USER, else anonymous).
    #[arg(long, value_name = "USER")]
    user: Option<String>,
    /// The environment variable holding USER's password (never on the command line).
    #[arg(long, value_name = "VAR", requires = "user")]
    password_env: Option<String>,
    /// USER's domain or workgroup.
    #[arg(long, value_name = "DOMAIN", requires = "user")]
    domain: Option<String>,
}

impl RemoteArgs {
    /// Sets these on `options`.
    fn apply(&self, options: &mut ClientOptions) -> io::Result<()> {
        if let Some(port) = self.port {
            options.remote_port(port);
        }
        if let Some(user) = &self.user {
            options.remote_user(user);
        }
        if let Some(var) = &self.password_env {
            let password = std::env::var(var).map_err(|_| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("--password-env {var}: no such environment variable"),
                )
            })?;
            options.remote_password(password);
        }
        if let Some(domain) = &self.domain {
            options.remote_domain(domain);
        }
        Ok(())
    }
}

/// Options of `pipework pipe serve`.
#[derive(clap::Args, Debug)]
struct ServeArgs {
    /// Pipe name (`\\.\pipe\NAME` or `NAME`).
    #[arg(value_parser = names::pipe)]
    name: String,
    /// A message pipe (default: a byte pipe).
    #[arg(long)]
    message: bool,
    /// Instances, each serving one client at a time (1 to 255).
    #[arg(long, default_value_t = 1, value_parser = instances)]
    instances: u32,
    /// Put the pipe in the global namespace, where other users can find it.
    #[arg(long)]
    global: bool,
    /// Admit every user (default: only this user and root).
    #[arg(long)]
    allow_everyone: bool,
    /// Wire each client to the stdin and stdout of a new `sh -c CMD` (byte pipes). CMD is one
    /// argument, quoted as a whole, so the options and NAME may come before or after it:
    /// `--exec 'tr a-z A-Z'`.
    #[arg(long, value_name = "CMD")]
    exec: Option<String>,
    /// Serve clients on other machines too, through Samba (`pipework smb-setup`).
    #[arg(long)]
    remote: bool,
    /// Samba's pipe socket directory (implies --remote; default /run/samba/ncalrpc).
    #[arg(long, value_name = "DIR")]
    socket_dir: Option<std::path::PathBuf>,
}

/// Clap's parser of `--instances`: 1 to 255, the most `CreateNamedPipe` takes (255 is
/// `PIPE_UNLIMITED_INSTANCES` there).
fn instances(text: &str) -> Result<u32, String> {
    match text.parse() {
        Ok(n @ 1..=255) => Ok(n),
        _ => Err("--instances must be 1 to 255 (Win32's PIPE_UNLIMITED_INSTANCES limit)".into()),
    }
}

/// Runs `pipework pipe ...`.
pub fn run(args: &Args) -> io::Result<()> {
    match &args.command {
        Command::Serve(args) => serve(args),
        Command::Connect {
            name,
            wait,
            server_uid,
            message,
            remote,
        } => connect(name, *wait, *server_uid, *message, remote),
        Command::Call { name, text, remote } => {
            let reply = if is_remote(name) {
                call_remote(name, text.as_bytes(), remote)?
            } else {
                named_pipe::call(name, text.as_bytes(), WaitTimeout::Default)?
            };
            let mut out = output::stdout();
            out.write_all(&reply)?;
            out.write_all(b"\n")?;
            out.flush()
        }
        Command::Path { name, json, wait } => path(name, *json, wait.map(Duration::from_millis)),
    }
}

fn serve(args: &ServeArgs) -> io::Result<()> {
    if args.exec.is_some() && args.message {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "--exec wires a client to a command's byte streams: use it with a byte pipe",
        ));
    }
    let mut options = ServerOptions::new();
    options
        .pipe_mode(if args.message {
            PipeMode::Message
        } else {
            PipeMode::Byte
        })
        .max_instances(args.instances as usize)
        .global(args.global);
    if args.allow_everyone {
        options.allow_everyone();
    }
    match &args.socket_dir {
        Some(dir) => options.remote_socket_dir(dir),
        None => options.reject_remote_clients(!args.remote),
    };
    let servers = (0..args.instances)
        .map(|_| options.create(&args.name))
        .collect::<io::Result<Vec<_>>>()?;
    let mut out = output::stdout();
    writeln!(
        out,
        "listening {}",
        output::escape(&servers[0].name().to_string())
    )?;
    out.flush()?;
    drop(out);
    let threads: Vec<_> = servers
        .into_iter()
        .map(|server| {
            let exec = args.exec.clone();
            std::thread::spawn(move || serve_instance(server, exec.as_deref()))
        })
        .collect();
    for t in threads {
        t.join()
            .map_err(|_| io::Error::other("a server thread panicked"))??;
    }
    Ok(())
}

fn serve_instance(mut server: NamedPipeServer, exec: Option<&str>) -> io::Result<()> {
    loop {
        if let Err(e) = server.connect() {
            note!("pipework: {}", output::error(&e));
            continue;
        }
        let result = if let Some(exec) = exec {
            run_for_client(&server, exec)
        } else if server.pipe_mode() == PipeMode::Message {
            echo_messages(&mut server)
        } else {
            echo_bytes(&mut server)
        };
        if let Err(e) = result {
            note!("pipework: {}", output::error(&e));
        }
        let _ = server.flush();
        server.disconnect()?;
    }
}

fn echo_bytes(server: &mut NamedPipeServer) -> io::Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = server.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        server.write_all(&buf[..n])?;
    }
}

fn echo_messages(server: &mut NamedPipeServer) -> io::Result<()> {
    loop {
        let mut message = Vec::new();
        if server.read_message_to_end(&mut message)? == MessageRead::End {
            return Ok(());
        }
        server.write_message(&message)?;
    }
}

fn run_for_client(server: &NamedPipeServer, exec: &str) -> io::Result<()> {
    let stdin: OwnedFd = pipework::handle::duplicate(server.as_fd(), false)?;
    let stdout = pipework::handle::duplicate(server.as_fd(), false)?;
    let status = process::Command::new("sh")
        .arg("-c")
        .arg(exec)
        .stdin(Stdio::from(stdin))
        .stdout(Stdio::from(stdout))
        .status()?;
    if !status.success() {
        note!("pipework: {} exited with {status}", output::escape(exec));
    }
    Ok(())
}

/// How a message pipe frames its messages on the socket, for a foreign client.
const MESSAGE_FRAMING: &str = "each message, both ways, is a 4-byte little-endian length and \
                               that many bytes; no handshake";

/// `pipework pipe path`: the socket of a listening instance; for a message pipe, a note on
/// standard error of what a foreign client must speak on it.
fn path(name: &str, json: bool, wait: Option<Duration>) -> io::Result<()> {
    let path = match wait {
        None => named_pipe::socket_path(name)?,
        Some(wait) => {
            let deadline = Instant::now() + wait;
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                named_pipe::wait(name, WaitTimeout::After(left))?;
                match named_pipe::socket_path(name) {
                    // Another client took the instance that woke us: wait again while time
                    // is left.
                    Err(e) if named_pipe::is_busy(&e) && Instant::now() < deadline => continue,
                    result => break result?,
                }
            }
        }
    };
    // The pipe's type, from the listing (which gives names without the `\\.\pipe\` prefix).
    let short = name.rsplit('\\').next().unwrap_or(name);
    let pipe_mode = named_pipe::list()?
        .into_iter()
        .find(|p| p.name.eq_ignore_ascii_case(short) || p.name.eq_ignore_ascii_case(name))
        .map(|p| p.pipe_mode);
    let mut out = output::stdout();
    if json {
        let (kind, framing) = match pipe_mode {
            Some(PipeMode::Message) => ("message", MESSAGE_FRAMING),
            Some(PipeMode::Byte) => ("byte", "none: exactly the bytes written, both ways"),
            None => ("unknown", "unknown"),
        };
        let value = serde_json::json!({
            "name": name,
            "path": path.to_string_lossy(),
            "type": kind,
            "framing": framing,
        });
        writeln!(out, "{value}")?;
    } else {
        writeln!(out, "{}", output::escape(&path.to_string_lossy()))?;
        if pipe_mode == Some(PipeMode::Message) {
            note!(
                "pipework: {} is a message pipe: {MESSAGE_FRAMING} (python/pipework_pipe.py \
                 speaks it; raw bytes from socat are not messages and get no reply)",
                output::escape(name)
            );
        }
    }
    out.flush()
}

/// Whether `name` is a pipe on another machine.
fn is_remote(name: &str) -> bool {
    pipework::name::PipeName::parse(name).is_ok_and(|n| n.server().is_some())
}

/// `CallNamedPipe` on another machine, with the credentials asked.
fn call_remote(name: &str, request: &[u8], remote: &RemoteArgs) -> io::Result<Vec<u8>> {
    let mut options = ClientOptions::new();
    options
        .pipe_mode(PipeMode::Message)
        .wait(WaitTimeout::Default);
    remote.apply(&mut options)?;
    let mut client = options.open(name)?;
    client.write_message(request)?;
    let mut reply = Vec::new();
    match client.read_message_to_end(&mut reply)? {
        MessageRead::End => Err(io::Error::new(
            io::ErrorKind::BrokenPipe,
            format!("named pipe {name}: the server closed without replying"),
        )),
        _ => Ok(reply),
    }
}

fn connect(
    name: &str,
    wait: bool,
    server_uid: Option<u32>,
    message: bool,
    remote: &RemoteArgs,
) -> io::Result<()> {
    let mut options = ClientOptions::new();
    if wait {
        options.wait(WaitTimeout::Forever);
    }
    if let Some(uid) = server_uid {
        options.server_uid(uid);
    }
    if message {
        options.pipe_mode(PipeMode::Message);
    }
    remote.apply(&mut options)?;
    let mut client = options.open(name)?;
    if client.remote_session().is_some() && client.pipe_mode() == PipeMode::Byte {
        // Over SMB each read and write is a request of its own: a line goes in, then what
        // the server answers to it comes out (up to 64 KiB), until the input or the pipe ends.
        let mut out = output::stdout();
        let mut buf = vec![0u8; 64 * 1024];
        for line in io::stdin().lock().lines() {
            let mut line = line?.into_bytes();
            line.push(b'\n');
            client.write_all(&line)?;
            let n = client.read(&mut buf)?;
            if n == 0 {
                break;
            }
            out.write_all(&buf[..n])?;
            out.flush()?;
        }
        return Ok(());
    }
    if client.pipe_mode() == PipeMode::Message {
        client.set_read_mode(ReadMode::Message)?;
        let mut out = output::stdout();
        for line in io::stdin().lock().lines() {
            client.write_message(line?.as_bytes())?;
            let mut reply = Vec::new();
            // The server's disconnect (NotConnected) ends the session as its close does.
            match client.read_message_to_end(&mut reply) {
                Ok(MessageRead::End) => break,
                Err(e) if pipework::named_pipe::is_not_connected(&e) => break,
                got => got?,
            };
            out.write_all(&reply)?;
            out.write_all(b"\n")?;
            out.flush()?;
        }
        return Ok(());
    }
    // A byte pipe is a plain stream: one thread copies stdin in, this one copies out.
    let socket = std::os::unix::net::UnixStream::from(pipework::handle::duplicate(&client, false)?);
    let writer = std::thread::spawn(move || -> io::Result<()> {
        let mut socket = socket;
        io::copy(&mut io::stdin().lock(), &mut socket)?;
        socket.shutdown(std::net::Shutdown::Write)
    });
    let mut out = output::stdout();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        // The server's disconnect (NotConnected) ends the session as its close does.
        let n = match client.read(&mut buf) {
            Err(e) if pipework::named_pipe::is_not_connected(&e) => 0,
            got => got?,
        };
        if n == 0 {
            break;
        }
        out.write_all(&buf[..n])?;
        out.flush()?;
    }
    if writer.is_finished() {
        writer
            .join()
            .map_err(|_| io::Error::other("the stdin thread panicked"))??;
    }
    Ok(())
}

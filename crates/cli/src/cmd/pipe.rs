//! `pipework pipe ...`: named-pipe servers and clients on the command line.

use std::io::{self, BufRead, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::process::{self, Stdio};

use clap::Subcommand;
use pipework::named_pipe::{
    self, ClientOptions, MessageRead, NamedPipeServer, PipeType, ReadMode, ServerOptions,
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
    },
    /// Send TEXT as one message and print the reply (`CallNamedPipe`).
    Call {
        /// Pipe name (`\\.\pipe\NAME` or `NAME`).
        #[arg(value_parser = names::pipe)]
        name: String,
        /// The request.
        text: String,
    },
    /// Print the Unix-domain socket path of a listening instance, for socat, Python, ...
    Path {
        /// Pipe name (`\\.\pipe\NAME` or `NAME`).
        #[arg(value_parser = names::pipe)]
        name: String,
    },
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
    /// Wire each client to the stdin and stdout of a new CMD (byte pipes).
    #[arg(long, num_args = 1.., allow_hyphen_values = true, value_name = "CMD")]
    exec: Vec<String>,
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
        } => connect(name, *wait, *server_uid),
        Command::Call { name, text } => {
            let reply = named_pipe::call(name, text.as_bytes(), WaitTimeout::Default)?;
            let mut out = output::stdout();
            out.write_all(&reply)?;
            out.write_all(b"\n")?;
            out.flush()
        }
        Command::Path { name } => {
            let path = named_pipe::socket_path(name)?;
            let mut out = output::stdout();
            writeln!(out, "{}", path.display())?;
            out.flush()
        }
    }
}

fn serve(args: &ServeArgs) -> io::Result<()> {
    if !args.exec.is_empty() && args.message {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "--exec wires a client to a command's byte streams: use it with a byte pipe",
        ));
    }
    let mut options = ServerOptions::new();
    options
        .pipe_type(if args.message {
            PipeType::Message
        } else {
            PipeType::Byte
        })
        .max_instances(args.instances)
        .global(args.global);
    if args.allow_everyone {
        options.allow_everyone();
    }
    let servers = (0..args.instances)
        .map(|_| options.create(&args.name))
        .collect::<io::Result<Vec<_>>>()?;
    let mut out = output::stdout();
    writeln!(out, "listening {}", servers[0].name())?;
    out.flush()?;
    drop(out);
    let threads: Vec<_> = servers
        .into_iter()
        .map(|server| {
            let exec = args.exec.clone();
            std::thread::spawn(move || serve_instance(server, &exec))
        })
        .collect();
    for t in threads {
        t.join()
            .map_err(|_| io::Error::other("a server thread panicked"))??;
    }
    Ok(())
}

fn serve_instance(mut server: NamedPipeServer, exec: &[String]) -> io::Result<()> {
    loop {
        if let Err(e) = server.connect() {
            note!("pipework: {e}");
            continue;
        }
        let result = if !exec.is_empty() {
            run_for_client(&server, exec)
        } else if server.pipe_type() == PipeType::Message {
            echo_messages(&mut server)
        } else {
            echo_bytes(&mut server)
        };
        if let Err(e) = result {
            note!("pipework: {e}");
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

fn run_for_client(server: &NamedPipeServer, exec: &[String]) -> io::Result<()> {
    let stdin: OwnedFd = pipework::handle::duplicate(server.as_fd(), false)?;
    let stdout = pipework::handle::duplicate(server.as_fd(), false)?;
    let status = process::Command::new(&exec[0])
        .args(&exec[1..])
        .stdin(Stdio::from(stdin))
        .stdout(Stdio::from(stdout))
        .status()?;
    if !status.success() {
        note!("pipework: {} exited with {status}", exec[0]);
    }
    Ok(())
}

fn connect(name: &str, wait: bool, server_uid: Option<u32>) -> io::Result<()> {
    let mut options = ClientOptions::new();
    if wait {
        options.wait(WaitTimeout::Forever);
    }
    if let Some(uid) = server_uid {
        options.server_uid(uid);
    }
    let mut client = options.open(name)?;
    if client.pipe_type() == PipeType::Message {
        client.set_read_mode(ReadMode::Message)?;
        let mut out = output::stdout();
        for line in io::stdin().lock().lines() {
            client.write_message(line?.as_bytes())?;
            let mut reply = Vec::new();
            if client.read_message_to_end(&mut reply)? == MessageRead::End {
                break;
            }
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
        let n = client.read(&mut buf)?;
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

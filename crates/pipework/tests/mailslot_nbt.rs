//! Mailslots on the NetBIOS wire, against Samba and between pipework machines: every test runs
//! between two network namespaces it creates, joined by a veth pair with private addresses
//! (10.78.0.1 and 10.78.0.2), and removes them at its end, passed or failed. Nothing here
//! sends a datagram on the machine's own interfaces. Samba's `nmbd` runs only inside such a
//! namespace, with a private `smb.conf` and every directory it writes in the test's own
//! temporary directory, and is stopped at the end.
//!
//! Built with the `interop` feature (root, `ip`, Samba's `nmbd` and `python3-samba`).

// Without the `interop` feature there are no tests, and the helpers are unused.
#![cfg_attr(not(feature = "interop"), allow(dead_code))]

mod common;

use std::io::{ErrorKind, Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{child, TIMEOUT};
use pipework::mailslot::{Mailslot, MailslotClient, MailslotOptions, NetworkConfig};

fn main() {
    common::main(
        &[
            #[cfg(feature = "interop")]
            (
                "interop_nmbd_announcements_reach_pipework_slots",
                nmbd_announcements_reach_pipework_slots,
            ),
            #[cfg(feature = "interop")]
            (
                "interop_nmbd_answers_a_backup_list_request",
                nmbd_answers_a_backup_list_request,
            ),
            #[cfg(feature = "interop")]
            (
                "interop_pipework_to_pipework_to_a_host_the_domain_and_everyone",
                pipework_to_pipework_to_a_host_the_domain_and_everyone,
            ),
            #[cfg(feature = "interop")]
            (
                "interop_samba_decodes_pipework_datagrams_byte_for_byte",
                samba_decodes_pipework_datagrams_byte_for_byte,
            ),
            #[cfg(feature = "interop")]
            (
                "interop_hostile_datagrams_are_dropped_and_counted",
                hostile_datagrams_are_dropped_and_counted,
            ),
            #[cfg(feature = "interop")]
            (
                "interop_a_follower_takes_the_port_over_when_the_listener_goes",
                a_follower_takes_the_port_over_when_the_listener_goes,
            ),
            #[cfg(all(feature = "interop", feature = "tokio"))]
            (
                "interop_async_reads_take_network_messages",
                async_reads_take_network_messages,
            ),
        ],
        &[
            ("serve", serve_role),
            ("send", send_role),
            ("backup", backup_role),
            ("capture", capture_role),
            ("hostile", hostile_role),
            #[cfg(feature = "tokio")]
            ("serve-async", serve_async_role),
        ],
    )
}

const IP_A: &str = "10.78.0.1";
const IP_B: &str = "10.78.0.2";
const BROADCAST: &str = "10.78.0.255";
const WORKGROUP: &str = "PWTESTGRP";
/// The NetBIOS datagram port: inside the namespaces, the real one.
const PORT: u16 = 138;

/// How long nmbd may take to become the workgroup's local master browser (it holds an election
/// first): the bound of the backup list test's wait.
const MASTER_TIMEOUT: Duration = Duration::from_secs(150);

// ---------------------------------------------------------------------------------------------
// Namespaces, children, nmbd.

/// Two network namespaces joined by a veth pair, and a temporary directory; removed on drop.
struct Pair {
    a: String,
    b: String,
    dir: PathBuf,
}

impl Pair {
    fn new() -> Pair {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let tag = format!("{}x{n}", std::process::id());
        let dir = std::env::temp_dir().join(format!("pipework-nbt-{tag}"));
        std::fs::create_dir_all(&dir).unwrap();
        let pair = Pair {
            a: format!("pipework-nbt-{tag}-a"),
            b: format!("pipework-nbt-{tag}-b"),
            dir,
        };
        // Interface names hold at most 15 bytes.
        let short = format!("{:x}", (std::process::id() as usize) * 16 + n);
        let (va, vb) = (format!("pna{short}"), format!("pnb{short}"));
        ip(&["netns", "add", &pair.a]);
        ip(&["netns", "add", &pair.b]);
        ip(&[
            "link", "add", &va, "netns", &pair.a, "type", "veth", "peer", "name", &vb, "netns",
            &pair.b,
        ]);
        for (ns, dev, addr) in [(&pair.a, &va, IP_A), (&pair.b, &vb, IP_B)] {
            ip(&[
                "-n",
                ns,
                "addr",
                "add",
                &format!("{addr}/24"),
                "brd",
                BROADCAST,
                "dev",
                dev,
            ]);
            ip(&["-n", ns, "link", "set", dev, "up"]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
        }
        pair
    }

    /// This test binary as child `role` inside namespace `ns`, with a mailslot directory of its
    /// namespace's own (each namespace plays a separate computer).
    fn child(&self, ns: &str, role: &str) -> Command {
        let template = child(role);
        let mut c = Command::new("ip");
        c.args(["netns", "exec", ns]).arg(template.get_program());
        for (k, v) in template.get_envs() {
            if let Some(v) = v {
                c.env(k, v);
            }
        }
        c.env("PIPEWORK_RUNTIME_DIR", self.dir.join(ns));
        c
    }

    /// Starts child `role` in `ns` and waits for its "ready" line.
    fn start(&self, ns: &str, role: &str, args: &[&str]) -> Running {
        let mut c = self.child(ns, role);
        c.args(args).stdin(Stdio::null()).stdout(Stdio::piped());
        let mut running = Running::spawn(c);
        let line = running.line(Instant::now() + TIMEOUT);
        assert_eq!(line.as_deref(), Some("ready"), "{role} did not start");
        running
    }

    /// Runs child `role` in `ns` to its end: exit code and output.
    fn run(&self, ns: &str, role: &str, args: &[&str]) -> (i32, String) {
        let mut c = self.child(ns, role);
        c.args(args).stdin(Stdio::null()).stdout(Stdio::piped());
        let mut c = c.spawn().unwrap();
        let status = common::wait(&mut c);
        let mut out = String::new();
        c.stdout.take().unwrap().read_to_string(&mut out).unwrap();
        (status.code().unwrap_or(-1), out)
    }

    /// Starts Samba's nmbd in `ns` as `netbios_name` of the workgroup, on the veth address
    /// `address` only, announcing itself to `remote` as well; everything it writes stays in
    /// this pair's directory.
    fn nmbd(&self, ns: &str, netbios_name: &str, address: &str, remote: &str) -> Nmbd {
        let dir = self.dir.join(format!("nmbd-{ns}"));
        let sub = |name: &str| {
            let d = dir.join(name);
            std::fs::create_dir_all(&d).unwrap();
            d.display().to_string()
        };
        let conf = format!(
            "[global]\n\
             netbios name = {netbios_name}\n\
             workgroup = {WORKGROUP}\n\
             server string = pipework interop\n\
             interfaces = {address}/24\n\
             bind interfaces only = yes\n\
             remote announce = {remote}/{WORKGROUP}\n\
             lm announce = yes\n\
             lm interval = 5\n\
             local master = yes\n\
             preferred master = yes\n\
             os level = 65\n\
             domain master = no\n\
             wins support = no\n\
             dns proxy = no\n\
             lock directory = {}\n\
             state directory = {}\n\
             cache directory = {}\n\
             private dir = {}\n\
             pid directory = {}\n\
             ncalrpc dir = {}\n\
             binddns dir = {}\n\
             nmbd:socket dir = {}\n\
             log file = {}/log.%m\n",
            sub("lock"),
            sub("state"),
            sub("cache"),
            sub("private"),
            sub("pid"),
            sub("ncalrpc"),
            sub("binddns"),
            sub("socket"),
            sub("log"),
        );
        let conf_path = dir.join("smb.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let log = dir.join("nmbd.out");
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", ns, "nmbd"])
            .args([
                "--foreground",
                "--no-process-group",
                "--debug-stdout",
                "-d",
                "3",
            ])
            .arg(format!("--configfile={}", conf_path.display()))
            .arg(format!("--log-basename={}", dir.join("log").display()))
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("run nmbd (Samba's nmbd is needed: apt-get install samba)");
        Nmbd {
            child: KillOnDrop(child),
            log,
        }
    }
}

impl Drop for Pair {
    fn drop(&mut self) {
        for ns in [&self.a, &self.b] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .expect("run ip (iproute2 is needed)");
    assert!(
        out.status.success(),
        "ip {}: {} (network namespaces need root)",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A child stopped when dropped, passed or failed (it runs until stopped, or until its own
/// deadline).
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// nmbd in a namespace, stopped when dropped; its log for failure messages.
struct Nmbd {
    child: KillOnDrop,
    log: PathBuf,
}

impl Nmbd {
    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.0.try_wait() {
            panic!("nmbd ended: {status}\n{}", self.log_tail());
        }
    }
}

/// A running child whose output is read line by line, each wait bounded.
struct Running {
    /// Held to be stopped when the test ends.
    _child: KillOnDrop,
    out: ChildStdout,
    buf: Vec<u8>,
    /// Every line read so far, for failure messages.
    seen: Vec<String>,
}

impl Running {
    fn spawn(mut command: Command) -> Running {
        let mut child = command.spawn().unwrap();
        let out = child.stdout.take().unwrap();
        Running {
            _child: KillOnDrop(child),
            out,
            buf: Vec::new(),
            seen: Vec::new(),
        }
    }

    /// The next line, or `None` at the deadline or the end of the output.
    fn line(&mut self, deadline: Instant) -> Option<String> {
        loop {
            if let Some(at) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=at).collect();
                let line = String::from_utf8_lossy(&line[..at]).into_owned();
                self.seen.push(line.clone());
                return Some(line);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || !common::readable_within(&self.out, left) {
                return None;
            }
            let mut chunk = [0u8; 4096];
            match self.out.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => panic!("read a child's output: {e}"),
            }
        }
    }

    /// Reads lines until `done` says so; fails at the deadline with what was seen.
    fn until(&mut self, timeout: Duration, what: &str, mut done: impl FnMut(&str) -> bool) {
        let deadline = Instant::now() + timeout;
        loop {
            match self.line(deadline) {
                Some(line) if done(&line) => return,
                Some(_) => {}
                None => panic!(
                    "no {what} within {timeout:?}; the child printed:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len() / 2)
        .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

/// The config of a pipework machine in a namespace.
fn config(interface: &str, netbios_name: &str, extra: &str) -> NetworkConfig {
    let extra_names = match extra.split_once('<') {
        Some((name, suffix)) => vec![(
            name.to_string(),
            u8::from_str_radix(suffix.trim_end_matches('>'), 16).unwrap(),
        )],
        None => Vec::new(),
    };
    NetworkConfig {
        interface: Some(interface.to_string()),
        netbios_name: Some(netbios_name.to_string()),
        workgroup: WORKGROUP.to_string(),
        extra_names,
        ..NetworkConfig::default()
    }
}

fn fail(e: std::io::Error) -> ! {
    println!("error {:?} {e}", e.kind());
    std::process::exit(match e.kind() {
        ErrorKind::InvalidInput => 5,
        ErrorKind::AddrInUse => 6,
        _ => 1,
    })
}

// ---------------------------------------------------------------------------------------------
// Child roles.

/// Child: on interface `args[0]` as NetBIOS name `args[1]`, also receiving `args[2]` (`NAME<xx>`
/// or `-`), creates the slots `args[5..]` (maximum `args[3]`), the first one the listener and
/// the others following it, says "ready", then for `args[4]` seconds prints each message as
/// `<slot> <hex>` and the first slot's network counters as `stats ...` whenever they change.
fn serve_role(args: &[String]) {
    let config = config(&args[0], &args[1], &args[2]);
    let max: usize = args[3].parse().unwrap();
    let seconds: u64 = args[4].parse().unwrap();
    let mut slots: Vec<(String, Mailslot)> = args[5..]
        .iter()
        .map(|path| {
            let mut slot = MailslotOptions::new()
                .max_message_size(max)
                .read_timeout(Some(Duration::from_millis(100)))
                .create(&format!(r"\\.\mailslot\{path}"))
                .unwrap_or_else(|e| fail(e));
            slot.serve_network(&config).unwrap_or_else(|e| fail(e));
            (path.clone(), slot)
        })
        .collect();
    println!("ready");
    std::io::stdout().flush().unwrap();
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut last = None;
    while Instant::now() < deadline {
        for (path, slot) in &mut slots {
            let mut message = Vec::new();
            match slot.read_message_to_end(&mut message) {
                Ok(_) => println!("{path} {}", hex(&message)),
                Err(e) if e.kind() == ErrorKind::TimedOut => {}
                Err(e) => fail(e),
            }
        }
        let stats = slots[0].1.network_stats();
        if stats != last {
            if let Some(s) = stats {
                println!(
                    "stats received={} delivered={} forwarded={} malformed={} truncated={} \
                     oversized={} misaddressed={} other={}",
                    s.received,
                    s.delivered,
                    s.forwarded,
                    s.malformed,
                    s.truncated,
                    s.oversized,
                    s.misaddressed,
                    s.other
                );
            }
            last = stats;
        }
        std::io::stdout().flush().unwrap();
    }
}

/// Child: on interface `args[0]` as NetBIOS name `args[1]`, with group suffix `args[2]` (hex)
/// and scope `args[3]` (`-`: none), opens `args[4]` and sends the rest as messages.
fn send_role(args: &[String]) {
    let mut config = config(&args[0], &args[1], "-");
    config.group_suffix = u8::from_str_radix(&args[2], 16).unwrap();
    if args[3] != "-" {
        config.scope = args[3].clone();
    }
    let client = MailslotClient::open_with(&args[4], &config).unwrap_or_else(|e| fail(e));
    for m in &args[5..] {
        client
            .write_message(m.as_bytes())
            .unwrap_or_else(|e| fail(e));
    }
}

/// Child: on interface `args[0]` as NetBIOS name `args[1]`, serves `\\.\mailslot\browse` and,
/// from the same machine, asks the workgroup's master browser (`WORKGROUP<1d>`) for its backup
/// list every two seconds until the answer comes (printed as `reply <token> <hex>`) or `args[2]`
/// seconds pass; prints every other message on the slot as `browse <hex>`.
fn backup_role(args: &[String]) {
    let config = config(&args[0], &args[1], "-");
    let seconds: u64 = args[2].parse().unwrap();
    let mut slot = MailslotOptions::new()
        .read_timeout(Some(Duration::from_secs(2)))
        .create(r"\\.\mailslot\browse")
        .unwrap_or_else(|e| fail(e));
    slot.serve_network(&config).unwrap_or_else(|e| fail(e));
    let master = NetworkConfig {
        group_suffix: 0x1d,
        ..config
    };
    let client = MailslotClient::open_with(&format!(r"\\{WORKGROUP}\mailslot\BROWSE"), &master)
        .unwrap_or_else(|e| fail(e));
    println!("ready");
    std::io::stdout().flush().unwrap();
    let token: u32 = 0x5057_0000 | (std::process::id() & 0xffff);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < deadline {
        // GetBackupListRequest: opcode 9, the most names wanted, a token the answer repeats.
        let mut request = vec![9u8, 4];
        request.extend_from_slice(&token.to_le_bytes());
        client.write_message(&request).unwrap_or_else(|e| fail(e));
        let round = Instant::now() + Duration::from_secs(2);
        while Instant::now() < round {
            let mut message = Vec::new();
            match slot.read_message_to_end(&mut message) {
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::TimedOut => break,
                Err(e) => fail(e),
            }
            println!("browse {}", hex(&message));
            if message.first() == Some(&10) {
                println!("reply {token} {}", hex(&message));
                std::io::stdout().flush().unwrap();
                return;
            }
        }
        std::io::stdout().flush().unwrap();
    }
    std::process::exit(1);
}

/// Child: binds UDP `args[2]` on `args[0]` and `args[1]` (plain sockets, not pipework's), says
/// "ready", and prints the next `args[3]` datagrams as hex, one per line.
fn capture_role(args: &[String]) {
    let port: u16 = args[2].parse().unwrap();
    let count: usize = args[3].parse().unwrap();
    let sockets: Vec<std::net::UdpSocket> = [&args[0], &args[1]]
        .iter()
        .map(|ip| std::net::UdpSocket::bind((ip.as_str(), port)).unwrap())
        .collect();
    for s in &sockets {
        s.set_nonblocking(true).unwrap();
    }
    println!("ready");
    std::io::stdout().flush().unwrap();
    let deadline = Instant::now() + TIMEOUT;
    let mut got = 0;
    let mut buf = [0u8; 2048];
    while got < count && Instant::now() < deadline {
        let mut fds: Vec<rustix::event::PollFd> = sockets
            .iter()
            .map(|s| rustix::event::PollFd::new(s, rustix::event::PollFlags::IN))
            .collect();
        let _ = rustix::event::poll(
            &mut fds,
            Some(&rustix::time::Timespec {
                tv_sec: 0,
                tv_nsec: 200_000_000,
            }),
        );
        for s in &sockets {
            while let Ok(n) = s.recv(&mut buf) {
                println!("{}", hex(&buf[..n]));
                got += 1;
            }
        }
        std::io::stdout().flush().unwrap();
    }
}

/// Child: as `serve` with one slot `args[3]`, awaiting reads on tokio (`AsyncMailslot`):
/// prints `args[4]` messages as `<slot> <hex>`, then exits.
#[cfg(feature = "tokio")]
fn serve_async_role(args: &[String]) {
    let config = config(&args[0], &args[1], &args[2]);
    let count: usize = args[4].parse().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut slot = MailslotOptions::new()
            .read_timeout(Some(TIMEOUT))
            .create(&format!(r"\\.\mailslot\{}", args[3]))
            .unwrap_or_else(|e| fail(e));
        slot.serve_network(&config).unwrap_or_else(|e| fail(e));
        let mut slot = slot.into_async().unwrap_or_else(|e| fail(e));
        println!("ready");
        std::io::stdout().flush().unwrap();
        for _ in 0..count {
            let mut message = Vec::new();
            slot.read_message_to_end(&mut message)
                .await
                .unwrap_or_else(|e| fail(e));
            println!("{} {}", args[3], hex(&message));
            std::io::stdout().flush().unwrap();
        }
    });
}

/// A NetBIOS name in first-level encoding, built here by hand (not by pipework's encoder).
fn encoded_name(name: &str, suffix: u8) -> Vec<u8> {
    let mut raw = [b' '; 16];
    raw[..name.len()].copy_from_slice(name.as_bytes());
    raw[15] = suffix;
    let mut out = vec![32];
    for b in raw {
        out.push(b'A' + (b >> 4));
        out.push(b'A' + (b & 15));
    }
    out.push(0);
    out
}

/// A mailslot write as Windows and Samba send it, built here by hand.
fn datagram(kind: u8, to: &str, suffix: u8, mailslot: &str, data: &[u8]) -> Vec<u8> {
    let mut rest = encoded_name("HOSTILE", 0);
    rest.extend(encoded_name(to, suffix));
    let mut smb = b"\xffSMB\x25".to_vec();
    smb.resize(32, 0);
    smb.push(17);
    let len = data.len() as u16;
    let offset = (70 + mailslot.len()) as u16;
    for w in [
        0, len, 0, 0, 0, 0, 0, 0, 0, 0, 0, len, offset, 3, 1, 1, 2u16,
    ] {
        smb.extend_from_slice(&w.to_le_bytes());
    }
    smb.extend_from_slice(&((mailslot.len() + 1 + data.len()) as u16).to_le_bytes());
    smb.extend_from_slice(mailslot.as_bytes());
    smb.push(0);
    smb.extend_from_slice(data);
    rest.extend(smb);
    let mut d = vec![kind, 0x02, 0x12, 0x34, 10, 78, 0, 1, 0, 138];
    d.extend_from_slice(&(rest.len() as u16).to_be_bytes());
    d.extend_from_slice(&[0, 0]);
    d.extend(rest);
    d
}

/// Child: from a plain UDP socket, sends to `args[0]` (the host) every kind of datagram a
/// listener must drop, then two good ones: `still serving` to the host, `and to the group` to
/// the broadcast address `args[1]`. The slot is `args[2]`, its maximum 100 bytes.
fn hostile_role(args: &[String]) {
    let socket = std::net::UdpSocket::bind((IP_A, 0)).unwrap();
    socket.set_broadcast(true).unwrap();
    let host = (args[0].as_str(), PORT);
    let slot = format!(r"\MAILSLOT\{}", args[2]);
    let good = datagram(0x10, "PWHOSTB", 0, &slot, b"ok");
    let smb = 14 + 34 + 34;
    let mut bad: Vec<Vec<u8>> = Vec::new();
    // Truncated: shorter than a header; a datagram cut in half.
    bad.push(Vec::new());
    bad.push(good[..good.len() / 2].to_vec());
    // Malformed: an unknown type; a name letter outside A..P; a fragment; data pointing into
    // the name.
    bad.push(b"\x42garbage that is not a datagram".to_vec());
    let mut letters = good.clone();
    letters[15] = b'Z';
    bad.push(letters);
    let mut fragment = good.clone();
    fragment[1] |= 0x01;
    bad.push(fragment);
    let mut inside = good.clone();
    inside[smb + 57..smb + 59].copy_from_slice(&70u16.to_le_bytes());
    bad.push(inside);
    // Oversized: more than a datagram may carry; more than the slot's maximum.
    bad.push(datagram(0x10, "PWHOSTB", 0, &slot, &[b'o'; 700]));
    bad.push(datagram(0x10, "PWHOSTB", 0, &slot, &[b'm'; 101]));
    // Misaddressed: another machine's name; a slot nobody serves.
    bad.push(datagram(0x10, "SOMEONEELSE", 0, &slot, b"not yours"));
    bad.push(datagram(0x10, "PWHOSTB", 0, r"\MAILSLOT\nobody", b"nobody"));
    // Other: a datagram error packet; an SMB command that is not a transaction.
    bad.push(vec![0x13, 0x02, 0, 1, 10, 78, 0, 1, 0, 138, 0x82]);
    let mut negotiate = good.clone();
    negotiate[smb + 4] = 0x72;
    bad.push(negotiate);
    for d in &bad {
        socket.send_to(d, host).unwrap();
    }
    socket
        .send_to(&datagram(0x10, "PWHOSTB", 0, &slot, b"still serving"), host)
        .unwrap();
    socket
        .send_to(
            &datagram(0x11, WORKGROUP, 0, &slot, b"and to the group"),
            (args[1].as_str(), PORT),
        )
        .unwrap();
}

// ---------------------------------------------------------------------------------------------
// The tests.

/// A browser announcement's fields: a host announcement (`\MAILSLOT\BROWSE`, opcode 1) or a
/// LAN Manager announcement (`\MAILSLOT\LANMAN`).
#[derive(Debug)]
struct Announcement {
    server: String,
    os: (u8, u8),
    server_type: u32,
    comment: String,
}

fn cstr(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

/// [MS-BRWS] HostAnnouncement: opcode, update count, periodicity (ms), server name (16),
/// OS major, minor, server type, browser version major, minor, signature 0xAA55, comment.
fn host_announcement(m: &[u8]) -> Option<Announcement> {
    if m.len() < 32 || m[0] != 1 {
        return None;
    }
    assert_eq!(u16::from_le_bytes([m[30], m[31]]), 0xAA55, "signature");
    Some(Announcement {
        server: cstr(&m[6..22]),
        os: (m[22], m[23]),
        server_type: u32::from_le_bytes(m[24..28].try_into().unwrap()),
        comment: cstr(&m[32..]),
    })
}

/// LAN Manager announcement: opcode (u16) 1, server type, OS major, minor, periodicity (s),
/// server name and comment, NUL-terminated.
fn lanman_announcement(m: &[u8]) -> Option<(Announcement, u16)> {
    if m.len() < 10 || u16::from_le_bytes([m[0], m[1]]) != 1 {
        return None;
    }
    let rest = &m[10..];
    let server = cstr(rest);
    let comment = cstr(rest.get(server.len() + 1..).unwrap_or_default());
    Some((
        Announcement {
            server,
            os: (m[6], m[7]),
            server_type: u32::from_le_bytes(m[2..6].try_into().unwrap()),
            comment,
        },
        u16::from_le_bytes([m[8], m[9]]),
    ))
}

/// SV_TYPE_WORKSTATION | SV_TYPE_SERVER | SV_TYPE_SERVER_UNIX: what every Samba server is.
const SAMBA_TYPE: u32 = 0x0000_0001 | 0x0000_0002 | 0x0000_0800;

fn nmbd_announcements_reach_pipework_slots() {
    let pair = Pair::new();
    // pipework first, so that nmbd's first remote announcement (sent once at its start, then
    // every few minutes) finds it listening. WORKGROUP<1d> is where remote announcements go.
    let mut slots = pair.start(
        &pair.b,
        "serve",
        &[
            IP_B,
            "PWHOSTB",
            &format!("{WORKGROUP}<1d>"),
            "0",
            "120",
            "browse",
            "lanman",
        ],
    );
    let mut nmbd = pair.nmbd(&pair.a, "NMBHOSTA", IP_A, IP_B);
    let (mut host, mut lanman) = (None, None);
    slots.until(TIMEOUT * 2, "host and LAN Manager announcements", |line| {
        if let Some(m) = line.strip_prefix("browse ") {
            if let Some(a) = host_announcement(&unhex(m)) {
                host.get_or_insert(a);
            }
        } else if let Some(m) = line.strip_prefix("lanman ") {
            if let Some(a) = lanman_announcement(&unhex(m)) {
                lanman.get_or_insert(a);
            }
        }
        host.is_some() && lanman.is_some()
    });
    nmbd.assert_running();
    let host = host.unwrap();
    let (lanman, period) = lanman.unwrap();
    assert_eq!(host.server, "NMBHOSTA", "{host:?}");
    assert_eq!(host.comment, "pipework interop", "{host:?}");
    assert_eq!(host.server_type & SAMBA_TYPE, SAMBA_TYPE, "{host:?}");
    assert!(host.os.0 >= 4, "an NT-class OS version: {host:?}");
    // LAN Manager announcements upper-case the comment and state their period in seconds.
    assert_eq!(lanman.server, "NMBHOSTA", "{lanman:?}");
    assert_eq!(lanman.comment, "PIPEWORK INTEROP", "{lanman:?}");
    assert_eq!(lanman.server_type & SAMBA_TYPE, SAMBA_TYPE, "{lanman:?}");
    assert_eq!(lanman.os, host.os, "{lanman:?}");
    assert_eq!(period, 5);
    // On nmbd's machine, where it holds port 138, pipework does not share the port: serving
    // the network there is refused, naming the port and nmbd.
    let (code, out) = pair.run(
        &pair.a,
        "serve",
        &[IP_A, "PWHOSTA", "-", "0", "1", "refused"],
    );
    assert_eq!(code, 6, "AddrInUse: {out}");
    assert!(out.contains("138") && out.contains("nmbd"), "{out}");
    nmbd.assert_running();
}

fn nmbd_answers_a_backup_list_request() {
    let pair = Pair::new();
    let mut nmbd = pair.nmbd(&pair.a, "NMBHOSTA", IP_A, IP_B);
    let mut asker = pair.start(
        &pair.b,
        "backup",
        &[IP_B, "PWHOSTB", &MASTER_TIMEOUT.as_secs().to_string()],
    );
    let mut reply = None;
    asker.until(MASTER_TIMEOUT + TIMEOUT, "backup list reply", |line| {
        reply = line.strip_prefix("reply ").map(str::to_string);
        reply.is_some()
    });
    nmbd.assert_running();
    let reply = reply.unwrap();
    let (token, m) = reply.split_once(' ').unwrap();
    let m = unhex(m);
    // GetBackupListResponse: opcode 10, count, the request's token, server names.
    assert_eq!(m[0], 10);
    assert!(m[1] >= 1, "{m:?}");
    assert_eq!(
        u32::from_le_bytes(m[2..6].try_into().unwrap()),
        token.parse::<u32>().unwrap()
    );
    let names: Vec<String> = m[6..]
        .split(|&b| b == 0)
        .filter(|n| !n.is_empty())
        .map(|n| String::from_utf8_lossy(n).into_owned())
        .collect();
    assert!(
        names.iter().any(|n| n == "NMBHOSTA"),
        "{names:?}\n{}",
        nmbd.log_tail()
    );
}

fn pipework_to_pipework_to_a_host_the_domain_and_everyone() {
    let pair = Pair::new();
    // Two serving processes on machine B: the first holds the port, the second follows it.
    let mut inbox = pair.start(
        &pair.b,
        "serve",
        &[IP_B, "PWHOSTB", "-", "0", "60", r"nbt\inbox"],
    );
    let mut second = pair.start(
        &pair.b,
        "serve",
        &[IP_B, "PWHOSTB", "-", "0", "60", r"nbt\second"],
    );
    let send = |name: &str, suffix: &str, messages: &[&str]| {
        let mut args = vec![IP_A, "PWHOSTA", suffix, "-", name];
        args.extend_from_slice(messages);
        pair.run(&pair.a, "send", &args)
    };
    // Refused at the writer: a group message above 424 bytes, a datagram above 576.
    let (code, out) = send(r"\\*\mailslot\nbt\inbox", "0", &[&"g".repeat(425)]);
    assert_eq!(code, 5, "{out}");
    assert!(out.contains("424"), "{out}");
    let (code, out) = send(r"\\PWHOSTB\mailslot\nbt\inbox", "0", &[&"u".repeat(500)]);
    assert_eq!(code, 5, "{out}");
    assert!(out.contains("576"), "{out}");
    // Another domain's slot: a group datagram machine B is not addressed by.
    assert_eq!(
        send(r"\\OTHERGRP\mailslot\nbt\inbox", "0", &["not my domain"]).0,
        0
    );
    for (name, text) in [
        // By NetBIOS name: B's listener answers A's name query.
        (r"\\PWHOSTB\mailslot\nbt\inbox", "to the host by name"),
        (r"\\10.78.0.2\mailslot\nbt\inbox", "to the host by address"),
        (r"\\PWTESTGRP\mailslot\NBT\INBOX", "to the domain"),
        (r"\\*\mailslot\nbt\inbox", "to everyone"),
        (r"\\pwhostb\mailslot\nbt\second", "to the follower"),
    ] {
        let (code, out) = send(name, "0", &[text]);
        assert_eq!(code, 0, "{name}: {out}");
    }
    let mut got = Vec::new();
    inbox.until(TIMEOUT, "four messages", |line| {
        if let Some(m) = line.strip_prefix(r"nbt\inbox ") {
            got.push(String::from_utf8(unhex(m)).unwrap());
        }
        got.len() == 4
    });
    got.sort();
    assert_eq!(
        got,
        [
            "to everyone",
            "to the domain",
            "to the host by address",
            "to the host by name"
        ]
    );
    // The listener dropped the other domain's datagram (and answered a name query); the
    // follower got its own message through the listener.
    inbox.until(TIMEOUT, "the other domain's datagram counted", |line| {
        let fields: Vec<&str> = line.split(' ').collect();
        fields.first() == Some(&"stats")
            && fields.contains(&"forwarded=1")
            && fields.contains(&"misaddressed=1")
    });
    let mut followed = None;
    second.until(TIMEOUT, "the follower's message", |line| {
        followed = line
            .strip_prefix(r"nbt\second ")
            .map(|m| String::from_utf8(unhex(m)).unwrap());
        followed.is_some()
    });
    assert_eq!(followed.as_deref(), Some("to the follower"));
}

/// Parses hex datagrams with Samba's own NDR code (`python3-samba`) and re-encodes them: one
/// line of `key=value` fields per datagram.
const SAMBA_CHECK: &str = r#"
import sys
from samba.dcerpc import nbt
from samba.ndr import ndr_unpack, ndr_pack
for h in sys.argv[1:]:
    b = bytes.fromhex(h)
    p = ndr_unpack(nbt.dgram_packet, b)
    m = p.data
    t = m.body.body
    fields = dict(
        type=p.msg_type, src=p.src_addr, port=p.src_port,
        source="%s<%02x>%s" % (m.source_name.name, m.source_name.type, m.source_name.scope or ""),
        dest="%s<%02x>%s" % (m.dest_name.name, m.dest_name.type, m.dest_name.scope or ""),
        command=m.body.smb_command, opcode=t.opcode, klass=t._class, mailslot=t.mailslot_name,
        data=bytes(t.data).hex(), same=int(ndr_pack(p) == b))
    print(" ".join("%s=%s" % kv for kv in fields.items()))
"#;

fn samba_decodes_pipework_datagrams_byte_for_byte() {
    let pair = Pair::new();
    // Plain sockets on machine B's datagram port take what pipework on machine A sends.
    let mut capture = pair.start(&pair.b, "capture", &[IP_B, BROADCAST, "138", "4"]);
    let sends: [(&str, &str, &str, &str); 4] = [
        (r"\\10.78.0.2\mailslot\Direct", "0", "-", "one host"),
        (r"\\PWTESTGRP\mailslot\group\x", "0", "-", "a domain"),
        (r"\\*\mailslot\BROWSE", "1d", "-", "to the master browser"),
        (r"\\*\mailslot\scoped", "0", "pw.test", "in a scope"),
    ];
    for (name, suffix, scope, text) in sends {
        let (code, out) = pair.run(
            &pair.a,
            "send",
            &[IP_A, "PWHOSTA", suffix, scope, name, text],
        );
        assert_eq!(code, 0, "{name}: {out}");
    }
    let mut datagrams = Vec::new();
    capture.until(TIMEOUT, "four datagrams", |line| {
        datagrams.push(line.to_string());
        datagrams.len() == 4
    });
    let out = Command::new("/usr/bin/python3")
        .arg("-c")
        .arg(SAMBA_CHECK)
        .args(&datagrams)
        .output()
        .expect("run /usr/bin/python3 (python3-samba is needed)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let parsed: Vec<std::collections::HashMap<String, String>> = text
        .lines()
        .map(|l| {
            l.split(' ')
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        })
        .collect();
    assert_eq!(parsed.len(), 4, "{text}");
    let find = |mailslot: &str| {
        parsed
            .iter()
            .find(|p| p["mailslot"].eq_ignore_ascii_case(mailslot))
            .unwrap_or_else(|| panic!("no datagram for {mailslot}: {text}"))
    };
    let common = |p: &std::collections::HashMap<String, String>| {
        assert_eq!(p["src"], IP_A, "{p:?}");
        assert_eq!(p["command"], "37", "SMB_COM_TRANSACTION: {p:?}");
        assert_eq!(
            (p["opcode"].as_str(), p["klass"].as_str()),
            ("1", "2"),
            "{p:?}"
        );
    };
    let direct = find(r"\MAILSLOT\Direct");
    common(direct);
    assert_eq!(direct["type"], "16", "direct unique: {direct:?}");
    assert_eq!(direct["source"], "PWHOSTA<00>");
    assert_eq!(direct["dest"], "*<00>");
    assert_eq!(direct["data"], hex(b"one host"));
    let group = find(r"\MAILSLOT\group\x");
    common(group);
    assert_eq!(group["type"], "17", "direct group: {group:?}");
    assert_eq!(group["dest"], "PWTESTGRP<00>");
    assert_eq!(group["data"], hex(b"a domain"));
    let browse = find(r"\MAILSLOT\BROWSE");
    common(browse);
    assert_eq!(browse["dest"], "PWTESTGRP<1d>");
    assert_eq!(browse["data"], hex(b"to the master browser"));
    // Re-encoded by Samba, byte for byte the same.
    for p in [direct, group, browse] {
        assert_eq!(p["same"], "1", "{p:?}");
    }
    // With a scope, Samba reads both names in it. (Its encoder writes the second name's scope
    // as a pointer to the first's, another valid form of the same bytes, so no byte-for-byte
    // comparison there.)
    let scoped = find(r"\MAILSLOT\scoped");
    common(scoped);
    assert_eq!(scoped["source"], "PWHOSTA<00>pw.test");
    assert_eq!(scoped["dest"], "PWTESTGRP<00>pw.test");
    assert_eq!(scoped["data"], hex(b"in a scope"));
}

fn hostile_datagrams_are_dropped_and_counted() {
    let pair = Pair::new();
    let mut server = pair.start(
        &pair.b,
        "serve",
        &[IP_B, "PWHOSTB", "-", "100", "60", "strict"],
    );
    assert_eq!(
        pair.run(&pair.a, "hostile", &[IP_B, BROADCAST, "strict"]).0,
        0
    );
    let expected = "stats received=14 delivered=2 forwarded=0 malformed=4 truncated=2 \
                    oversized=2 misaddressed=2 other=2";
    let (mut got, mut counted) = (Vec::new(), false);
    server.until(
        TIMEOUT,
        "every datagram counted and the good ones read",
        |line| {
            if let Some(m) = line.strip_prefix("strict ") {
                got.push(String::from_utf8(unhex(m)).unwrap());
            }
            counted |= line == expected;
            got.len() == 2 && counted
        },
    );
    got.sort();
    assert_eq!(got, ["and to the group", "still serving"]);
}

fn a_follower_takes_the_port_over_when_the_listener_goes() {
    let pair = Pair::new();
    let first = pair.start(&pair.b, "serve", &[IP_B, "PWHOSTB", "-", "0", "60", "one"]);
    let mut second = pair.start(&pair.b, "serve", &[IP_B, "PWHOSTB", "-", "0", "60", "two"]);
    let send = |text: &str| {
        let (code, out) = pair.run(
            &pair.a,
            "send",
            &[IP_A, "PWHOSTA", "0", "-", r"\\10.78.0.2\mailslot\two", text],
        );
        assert_eq!(code, 0, "{out}");
    };
    let hexed = |text: &str| format!("two {}", hex(text.as_bytes()));
    send("through the listener");
    let expected = hexed("through the listener");
    second.until(TIMEOUT, "the forwarded message", |line| line == expected);
    // The listener's process ends: its port is free, and the follower binds it at its next
    // try. Datagrams sent before that are lost, as datagrams to a port nobody holds are: send
    // until one arrives.
    drop(first);
    let expected = hexed("after the listener left");
    let deadline = Instant::now() + TIMEOUT;
    let mut arrived = false;
    while !arrived {
        assert!(
            Instant::now() < deadline,
            "the follower did not take over within {TIMEOUT:?}:\n{}",
            second.seen.join("\n")
        );
        send("after the listener left");
        let round = Instant::now() + Duration::from_millis(500);
        while let Some(line) = second.line(round) {
            if line == expected {
                arrived = true;
                break;
            }
        }
    }
    // It holds the listener now: it counts what it receives.
    second.until(TIMEOUT, "the new listener's counters", |line| {
        line.starts_with("stats ") && line.contains(" delivered=")
    });
}

#[cfg(feature = "tokio")]
fn async_reads_take_network_messages() {
    let pair = Pair::new();
    let mut slot = pair.start(
        &pair.b,
        "serve-async",
        &[IP_B, "PWHOSTB", "-", "async", "2"],
    );
    // By name: the async reader's listener answers the name query while it awaits.
    for (name, text) in [
        (r"\\PWHOSTB\mailslot\async", "awaited by name"),
        (r"\\*\mailslot\async", "awaited from everyone"),
    ] {
        let (code, out) = pair.run(&pair.a, "send", &[IP_A, "PWHOSTA", "0", "-", name, text]);
        assert_eq!(code, 0, "{name}: {out}");
    }
    let mut got = Vec::new();
    slot.until(TIMEOUT, "two awaited messages", |line| {
        if let Some(m) = line.strip_prefix("async ") {
            got.push(String::from_utf8(unhex(m)).unwrap());
        }
        got.len() == 2
    });
    assert_eq!(got, ["awaited by name", "awaited from everyone"]);
}

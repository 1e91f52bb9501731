//! Across machines on pipework's own wire (`Wire::Pipework`): two network namespaces joined by
//! a veth pair. The NetBIOS wire has its own test binary, `mailslot_nbt`.

use super::*;

/// pipework's wire on interface `interface` (an address), `port`, `group`, `domain`.
fn net_config(interface: &str, port: &str, group: &str, domain: &str) -> NetworkConfig {
    NetworkConfig {
        wire: Wire::Pipework,
        interface: Some(interface.to_string()),
        port: port.parse().unwrap(),
        group: group.parse().unwrap(),
        workgroup: domain.to_string(),
        ..NetworkConfig::default()
    }
}

/// Child: creates `args[0]` (max size `args[4]`), listens on interface `args[6]`, port
/// `args[1]`, group `args[2]`, domain `args[3]`, says "ready", then prints `args[5]` messages,
/// one per line.
pub(super) fn net_serve_role(args: &[String]) {
    let max: usize = args[4].parse().unwrap();
    let mut slot = MailslotOptions::new()
        .max_message_size(max)
        .read_timeout(Some(TIMEOUT))
        .create(&args[0])
        .unwrap_or_else(|e| fail(e));
    slot.serve_network(&net_config(&args[6], &args[1], &args[2], &args[3]))
        .unwrap_or_else(|e| fail(e));
    println!("ready");
    std::io::stdout().flush().unwrap();
    let count: usize = args[5].parse().unwrap();
    for _ in 0..count {
        let m = slot.next_message().unwrap_or_else(|e| fail(e));
        println!("{}", String::from_utf8_lossy(&m));
        std::io::stdout().flush().unwrap();
    }
}

/// Child: opens `args[0]` on interface `args[4]` with port `args[1]`, group `args[2]`, domain
/// `args[3]` and sends the rest.
pub(super) fn net_send_role(args: &[String]) {
    let config = net_config(&args[4], &args[1], &args[2], &args[3]);
    let client = MailslotClient::open_with(&args[0], &config).unwrap_or_else(|e| fail(e));
    for m in &args[5..] {
        client
            .write_message(m.as_bytes())
            .unwrap_or_else(|e| fail(e));
    }
}

/// Child: sends malformed datagrams and datagrams for others to `args[0]`:`args[1]`, as if for
/// the slot path `args[2]`.
pub(super) fn net_garbage_role(args: &[String]) {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
    let to = format!("{}:{}", args[0], args[1]);
    let name = args[2].to_lowercase();
    let valid = |name: &str, kind: u8, domain: &str, message: &[u8]| {
        let mut d = b"PWMS\x01".to_vec();
        d.push(kind);
        d.extend_from_slice(&(name.len() as u16).to_le_bytes());
        d.extend_from_slice(&(domain.len() as u16).to_le_bytes());
        d.extend_from_slice(name.as_bytes());
        d.extend_from_slice(domain.as_bytes());
        d.extend_from_slice(message);
        d
    };
    let mut bad: Vec<Vec<u8>> = vec![
        Vec::new(),
        b"hello".to_vec(),
        b"PWMS".to_vec(),
        b"PWMS\x09\x00\x01\x00\x00\x00x".to_vec(), // unknown version
        b"PWMS\x01\x00\xff\xff\x00\x00abc".to_vec(), // name longer than the datagram
        b"PWMS\x01\x07\x01\x00\x00\x00x".to_vec(), // unknown kind
        b"PWMS\x01\x00\x02\x00\x00\x00\xff\xfe".to_vec(), // name not UTF-8
        vec![0xff; 60_000],
    ];
    bad.push(valid("someone\\else", 0, "", b"not yours"));
    bad.push(valid(&name, 2, "otherdomain", b"not your domain"));
    bad.push(valid(&name, 0, "", &[b'x'; 101])); // above the server's maximum of 100
    for d in &bad {
        socket.send_to(d, &to).unwrap();
    }
}

fn start_in(
    pair: &NetPair,
    ns: &str,
    name: &str,
    group: &str,
    domain: &str,
    max: usize,
    count: usize,
) -> Child {
    let mut c = pair.child(ns, "net-serve");
    c.arg(name)
        .arg(PORT.to_string())
        .arg(group)
        .arg(domain)
        .arg(max.to_string())
        .arg(count.to_string())
        .arg(pair.ip(ns));
    start_ready(c)
}

/// Waits for a server child and returns the messages it printed, sorted: datagrams over a network
/// carry no order (two sends can reach the other namespace through different CPUs' queues).
fn received(mut server: Child) -> Vec<String> {
    let status = wait(&mut server);
    let mut out = String::new();
    std::io::Read::read_to_string(&mut server.stdout.take().unwrap(), &mut out).unwrap();
    assert!(status.success(), "server failed: {status}: {out}");
    sorted(out.lines().map(str::to_string).collect())
}

fn sorted(mut messages: Vec<String>) -> Vec<String> {
    messages.sort();
    messages
}

fn send_from(pair: &NetPair, ns: &str, name: &str, group: &str, messages: &[&str]) {
    let (code, out) = try_send_from(pair, ns, name, group, messages);
    assert_eq!(code, 0, "sender failed: {out}");
}

/// Sends from namespace `ns` as a member of domain `sales`: exit code and output.
fn try_send_from(
    pair: &NetPair,
    ns: &str,
    name: &str,
    group: &str,
    messages: &[&str],
) -> (i32, String) {
    let mut c = pair.child(ns, "net-send");
    c.arg(name)
        .arg(PORT.to_string())
        .arg(group)
        .arg("sales")
        .arg(pair.ip(ns))
        .args(messages);
    run(c)
}

fn udp_inodes() -> Vec<String> {
    let mut inodes = Vec::new();
    for table in ["/proc/self/net/udp", "/proc/self/net/udp6"] {
        if let Ok(text) = std::fs::read_to_string(table) {
            for line in text.lines().skip(1) {
                if let Some(inode) = line.split_whitespace().nth(9) {
                    inodes.push(format!("socket:[{inode}]"));
                }
            }
        }
    }
    inodes
}

fn my_udp_sockets() -> usize {
    let udp = udp_inodes();
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|target| udp.contains(&target.to_string_lossy().into_owned()))
        .count()
}

pub(super) fn network_is_opt_in() {
    // Other tests of this binary run in parallel threads: compare this slot's creation only
    // with itself by checking the sockets it adds.
    let name = unique("offline");
    let before = my_udp_sockets();
    let mut slot = server(&name);
    slot.info().unwrap();
    assert_eq!(run(sender(&name, &["local only"])).0, 0);
    assert_eq!(slot.next_message().unwrap(), b"local only");
    assert!(
        my_udp_sockets() <= before,
        "a slot opened a UDP socket unasked"
    );
}

pub(super) fn broadcast_limit_is_enforced_by_the_writer() {
    // Refused before anything is sent: no datagram leaves this process. Even if it were sent,
    // it would stay on loopback.
    for wire in [Wire::Netbios, Wire::Pipework] {
        let config = NetworkConfig {
            wire,
            interface: Some("127.0.0.1".into()),
            group: "127.0.0.1".parse().unwrap(),
            ..NetworkConfig::default()
        };
        for name in [
            r"\\*\mailslot\big",
            // The configured domain: a domain without a resolver lookup.
            r"\\WorkGroup\mailslot\big",
        ] {
            let client = MailslotClient::open_with(name, &config).unwrap();
            let e = client.write_message(&[b'b'; 425]).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidInput, "{name}");
            assert!(e.to_string().contains("424"), "{e}");
        }
    }
    assert_eq!(mailslot::MAX_BROADCAST_MESSAGE, 424);
}

pub(super) fn the_network_needs_an_interface() {
    // The default configuration reaches no network: remote names and listening are refused
    // before any socket exists.
    let name = unique("no-interface");
    let before = my_udp_sockets();
    let mut slot = server(&name);
    let e = slot.serve_network(&NetworkConfig::default()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    assert!(e.to_string().contains("interface"), "{e}");
    for remote in [
        r"\\*\mailslot\x",
        r"\\WORKGROUP\mailslot\x",
        r"\\127.0.0.1\mailslot\x",
    ] {
        let e = MailslotClient::open(remote).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{remote}: {e}");
        assert!(e.to_string().contains("interface"), "{e}");
    }
    assert!(
        my_udp_sockets() <= before,
        "a UDP socket was opened unasked"
    );
}

pub(super) fn network_to_one_host() {
    let pair = NetPair::new();
    let group = "239.255.80.87";
    // Two listening slots on one host and port: each gets its own messages.
    let one = start_in(
        &pair,
        &pair.b,
        r"\\.\mailslot\net\One",
        group,
        "workgroup",
        0,
        3,
    );
    let two = start_in(
        &pair,
        &pair.b,
        r"\\.\mailslot\net\two",
        group,
        "workgroup",
        0,
        1,
    );
    let big = "y".repeat(5_000);
    // The first slot holds the port and hands the second its messages as it reads them: send
    // the second's first, so that the holder, which leaves after its own three, has passed it
    // on by then (a datagram that arrives once its listener is gone is lost).
    send_from(
        &pair,
        &pair.a,
        &format!(r"\\{IP_B}\mailslot\net\two"),
        group,
        &["second"],
    );
    send_from(
        &pair,
        &pair.a,
        &format!(r"\\{IP_B}\mailslot\NET\one"),
        group,
        &["first", "", &big],
    );
    assert_eq!(
        received(one),
        sorted(vec!["first".to_string(), String::new(), big])
    );
    assert_eq!(received(two), sorted(vec!["second".to_string()]));
}

pub(super) fn network_to_everyone_and_to_a_domain() {
    let pair = NetPair::new();
    let group = "239.255.80.87";
    let at_a = start_in(
        &pair,
        &pair.a,
        r"\\.\mailslot\net\all",
        group,
        "workgroup",
        0,
        2,
    );
    let at_b = start_in(
        &pair,
        &pair.b,
        r"\\.\mailslot\net\all",
        group,
        "sales",
        0,
        3,
    );
    let longest = "l".repeat(424);
    let too_long = "t".repeat(425);
    let (code, out) = try_send_from(
        &pair,
        &pair.a,
        r"\\SALES\mailslot\net\all",
        group,
        &[&too_long],
    );
    assert_eq!(code, code_of(ErrorKind::InvalidInput), "{out}");
    assert!(out.contains("424"), "{out}");
    // A domain only its members get; then everyone; the sender's own host included.
    send_from(
        &pair,
        &pair.a,
        r"\\SALES\mailslot\net\all",
        group,
        &["sales only"],
    );
    send_from(
        &pair,
        &pair.a,
        r"\\*\mailslot\net\all",
        group,
        &["everyone", &longest],
    );
    assert_eq!(
        received(at_a),
        sorted(vec!["everyone".to_string(), longest.clone()])
    );
    assert_eq!(
        received(at_b),
        sorted(vec![
            "sales only".to_string(),
            "everyone".to_string(),
            longest
        ])
    );
}

pub(super) fn network_to_a_broadcast_address() {
    let pair = NetPair::new();
    let broadcast = "10.77.0.255";
    let at_b = start_in(
        &pair,
        &pair.b,
        r"\\.\mailslot\net\bcast",
        broadcast,
        "workgroup",
        0,
        1,
    );
    send_from(
        &pair,
        &pair.a,
        r"\\*\mailslot\net\bcast",
        broadcast,
        &["to the segment"],
    );
    assert_eq!(received(at_b), sorted(vec!["to the segment".to_string()]));
}

pub(super) fn network_garbage_is_dropped() {
    let pair = NetPair::new();
    let group = "239.255.80.87";
    let at_b = start_in(
        &pair,
        &pair.b,
        r"\\.\mailslot\net\strict",
        group,
        "workgroup",
        100,
        2,
    );
    let mut c = pair.child(&pair.a, "net-garbage");
    c.arg(IP_B).arg(PORT.to_string()).arg(r"net\strict");
    assert_eq!(run(c).0, 0);
    send_from(
        &pair,
        &pair.a,
        &format!(r"\\{IP_B}\mailslot\net\strict"),
        group,
        &["still here"],
    );
    send_from(
        &pair,
        &pair.a,
        r"\\*\mailslot\net\strict",
        group,
        &["and here"],
    );
    assert_eq!(
        received(at_b),
        sorted(vec!["still here".to_string(), "and here".to_string()])
    );
}

//! In-place reads (`fill_buf_in_place`, `read_message_in_place`, `consume`) between two
//! processes: on the rings the bytes are lent where they lie, on the socket path (rings off)
//! through the end's own buffer; either way a reader sees exactly what was written, in byte and
//! message mode, mixed with reads, peeks and message reads; a peer killed mid-stream is the end
//! of data or an error, never a hang; a lying ring position is `InvalidData` naming the pipe.

use super::*;

/// The byte stream each side writes: several ring's worth, so in-place reads meet the ring's end.
const STREAM: usize = 3_000_000;

fn server(name: &str, mode: PipeMode, rings: bool) -> NamedPipeServer {
    ServerOptions::new()
        .pipe_mode(mode)
        .shared_memory(rings)
        .create(name)
        .unwrap()
}

/// Writes `data` in writes of varying sizes (1 byte to 70,000).
fn write_varied(end: &mut impl Write, data: &[u8]) {
    let mut at = 0;
    let mut size = 1;
    while at < data.len() {
        let n = size.min(data.len() - at);
        end.write_all(&data[at..at + n]).unwrap();
        at += n;
        size = (size * 7 + 3) % 70_001;
    }
}

/// What an in-place reader mixes in: whole lends, part of a lend, a lend consumed not at all
/// (the same bytes come again), a peek, a plain read.
trait InPlaceEnd: Read {
    fn fill(&mut self) -> std::io::Result<&[u8]>;
    fn consume_n(&mut self, n: usize);
    fn peek_bytes(&mut self, buf: &mut [u8]) -> std::io::Result<named_pipe::PeekInfo>;
}

impl InPlaceEnd for NamedPipeServer {
    fn fill(&mut self) -> std::io::Result<&[u8]> {
        // SAFETY: the peer is this test's own pipework client (or a socket: then the bytes are
        // this end's own buffer).
        unsafe { self.fill_buf_in_place() }
    }
    fn consume_n(&mut self, n: usize) {
        self.consume(n)
    }
    fn peek_bytes(&mut self, buf: &mut [u8]) -> std::io::Result<named_pipe::PeekInfo> {
        self.peek(buf)
    }
}

impl InPlaceEnd for NamedPipeClient {
    fn fill(&mut self) -> std::io::Result<&[u8]> {
        // SAFETY: the peer is this test's own pipework server.
        unsafe { self.fill_buf_in_place() }
    }
    fn consume_n(&mut self, n: usize) {
        self.consume(n)
    }
    fn peek_bytes(&mut self, buf: &mut [u8]) -> std::io::Result<named_pipe::PeekInfo> {
        self.peek(buf)
    }
}

/// Reads `want` bytes with in-place reads mixed with peeks and reads, checking each against
/// `expect` as it comes.
fn read_mixed(end: &mut impl InPlaceEnd, expect: &[u8]) {
    let mut at = 0;
    let mut turn = 0usize;
    while at < expect.len() {
        match turn % 5 {
            0 => {
                let data = end.fill().unwrap();
                assert!(!data.is_empty(), "the end of data at {at}");
                let n = data.len();
                assert!(data == &expect[at..at + n], "lent bytes differ at {at}");
                end.consume_n(n);
                at += n;
            }
            1 => {
                let data = end.fill().unwrap();
                let n = data.len().div_ceil(2);
                assert!(data[..n] == expect[at..at + n], "lent bytes differ at {at}");
                end.consume_n(n);
                at += n;
            }
            2 => {
                // Not consumed: the next lend starts at the same byte.
                let first = end.fill().unwrap()[0];
                assert_eq!(first, expect[at]);
                end.consume_n(0);
                let again = end.fill().unwrap()[0];
                assert_eq!(again, expect[at]);
            }
            3 => {
                let mut buf = [0u8; 1000];
                let info = end.peek_bytes(&mut buf).unwrap();
                assert!(info.available >= info.read as u64);
                assert!(
                    buf[..info.read] == expect[at..at + info.read],
                    "peeked bytes differ at {at}"
                );
            }
            _ => {
                let mut buf = [0u8; 777];
                let want = buf.len().min(expect.len() - at);
                let n = end.read(&mut buf[..want]).unwrap();
                assert!(n > 0);
                assert!(buf[..n] == expect[at..at + n], "read bytes differ at {at}");
                at += n;
            }
        }
        turn += 1;
    }
}

/// Child: opens `args[0]` with rings `args[1]` (`on`/`off`) on a byte pipe: writes [`STREAM`]
/// bytes, reads as many back in place, says whether rings are in use; then the server's
/// disconnect is `NotConnected` to an in-place read too.
pub(super) fn in_place_client_bytes(args: &[String]) {
    let mut c = ClientOptions::new()
        .wait(WaitTimeout::After(TIMEOUT))
        .shared_memory(args[1] == "on")
        .open(&args[0])
        .unwrap();
    write_varied(&mut c, &pattern(STREAM, 1));
    read_mixed(&mut c, &pattern(STREAM, 2));
    println!("{}", c.shared_memory_in_use());
    // SAFETY: the peer is this test's own pipework server.
    let e = unsafe { c.fill_buf_in_place() }.unwrap_err();
    assert!(named_pipe::is_not_connected(&e), "{e}");
    println!("ok");
}

/// Byte pipes, rings on and off: each side reads the other's stream in place, mixed with
/// reads and peeks, and sees exactly what was written.
pub(super) fn in_place_bytes() {
    for rings in [true, false] {
        let name = unique(&format!("in-place-bytes-{rings}"));
        let mut s = server(&name, PipeMode::Byte, rings);
        let on = if rings { "on" } else { "off" };
        let (c, mut out) = spawn("in_place_client_bytes", &[&name, on]);
        accept(&mut s);
        read_mixed(&mut s, &pattern(STREAM, 1));
        write_varied(&mut s, &pattern(STREAM, 2));
        assert_eq!(s.shared_memory_in_use(), rings);
        assert_eq!(line(&mut out), rings.to_string());
        s.flush().unwrap();
        s.disconnect().unwrap();
        assert_eq!(line(&mut out), "ok");
        finish(c);
    }
}

/// The messages [`in_place_messages`] sends each way.
fn messages() -> Vec<Vec<u8>> {
    vec![
        b"hello".to_vec(),
        Vec::new(),
        pattern(100_000, 3),
        pattern(STREAM, 4), // larger than a ring
        b"peek-me".to_vec(),
        b"tail".to_vec(),
    ]
}

/// Child: opens `args[0]` (rings `args[1]`) on a message pipe, sends [`messages`], then reads
/// the server's with `fill_buf_in_place` (no lend passes a message's end; empty messages are
/// passed over) and tells what it got.
pub(super) fn in_place_client_messages(args: &[String]) {
    let mut c = ClientOptions::new()
        .wait(WaitTimeout::After(TIMEOUT))
        .shared_memory(args[1] == "on")
        .open(&args[0])
        .unwrap();
    for m in messages() {
        c.write_message(&m).unwrap();
    }
    for m in messages().iter().filter(|m| !m.is_empty()) {
        let mut got = Vec::new();
        while got.len() < m.len() {
            // SAFETY: the peer is this test's own pipework server.
            let data = unsafe { c.fill_buf_in_place() }.unwrap();
            assert!(!data.is_empty());
            assert!(
                got.len() + data.len() <= m.len(),
                "a lend ran past a message"
            );
            got.extend_from_slice(data);
            let n = data.len();
            c.consume(n);
        }
        assert!(&got == m, "a message differs");
    }
    println!("{}", c.shared_memory_in_use());
    // The server closed its instance: the end of data.
    // SAFETY: as above.
    assert!(unsafe { c.fill_buf_in_place() }.unwrap().is_empty());
    println!("ok");
}

/// Message pipes, rings on and off: `read_message_in_place` tells each message's end (an empty
/// message too) with the "more data" rule, and mixes with `read_message` and `peek`.
pub(super) fn in_place_messages() {
    for rings in [true, false] {
        let name = unique(&format!("in-place-messages-{rings}"));
        let mut s = server(&name, PipeMode::Message, rings);
        let on = if rings { "on" } else { "off" };
        let (c, mut out) = spawn("in_place_client_messages", &[&name, on]);
        accept(&mut s);
        for (i, m) in messages().iter().enumerate() {
            let mut got = Vec::new();
            loop {
                if i == 4 && got.is_empty() {
                    // A peek before the in-place read: the message's start, what is left of it
                    // (once the client has written it).
                    let mut small = [0u8; 4];
                    let info = loop {
                        let info = s.peek(&mut small).unwrap();
                        if info.read > 0 {
                            break info;
                        }
                        std::thread::yield_now();
                    };
                    assert_eq!(info.read, 4);
                    assert_eq!(&small, b"peek");
                    assert_eq!(info.left_in_message, 3);
                }
                if i == 3 && got.len() > STREAM / 2 {
                    // The rest of a message read as usual carries on from what was consumed.
                    let mut rest = vec![0u8; STREAM];
                    match s.read_message(&mut rest).unwrap() {
                        MessageRead::Complete(n) => got.extend_from_slice(&rest[..n]),
                        other => panic!("{other:?}"),
                    }
                    break;
                }
                // SAFETY: the peer is this test's own pipework client.
                let (data, read) = unsafe { s.read_message_in_place() }.unwrap();
                let n = data.len();
                got.extend_from_slice(data);
                match read {
                    MessageRead::Complete(k) => {
                        assert_eq!(k, n);
                        s.consume(n);
                        break;
                    }
                    MessageRead::MoreData { read, left } => {
                        assert_eq!(read, n);
                        assert_eq!(got.len() as u64 + left, m.len() as u64);
                        s.consume(n);
                    }
                    MessageRead::End => panic!("the end of data in message {i}"),
                }
            }
            assert!(&got == m, "message {i} differs");
        }
        assert_eq!(s.shared_memory_in_use(), rings);
        for m in messages() {
            s.write_message(&m).unwrap();
        }
        assert_eq!(line(&mut out), rings.to_string());
        s.flush().unwrap();
        drop(s);
        assert_eq!(line(&mut out), "ok");
        finish(c);
    }
    // A byte pipe has no messages to read in place.
    let name = unique("in-place-no-messages");
    let mut s = server(&name, PipeMode::Byte, true);
    let (c, mut out) = spawn("ring_client_hold", &[&name]);
    accept(&mut s);
    // SAFETY: nothing is lent: the call fails.
    let e = unsafe { s.read_message_in_place() }.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert!(e.to_string().contains(&name), "{e}");
    ping_pong_server(&mut s);
    assert_eq!(line(&mut out), "true");
    drop(out);
    finish_killed(c);
}

/// The server's half of `shm_path`'s ping-pong with `ring_client_hold`.
fn ping_pong_server(s: &mut NamedPipeServer) {
    let mut got = [0u8; 4];
    for _ in 0..2 {
        s.write_all(b"ping").unwrap();
        s.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"pong");
    }
}

fn finish_killed(mut c: Child) {
    c.kill().unwrap();
    let _ = wait(&mut c);
}

/// Child: writes `args[1]` bytes of one message on the message pipe `args[0]` after a first
/// message, telling when it starts; the message is larger than the ring, so the write blocks
/// there (to be killed).
pub(super) fn in_place_client_cut(args: &[String]) {
    let mut c = ClientOptions::new()
        .wait(WaitTimeout::After(TIMEOUT))
        .shared_memory(true)
        .open(&args[0])
        .unwrap();
    c.write_message(b"first").unwrap();
    let mut go = [0u8; 2];
    c.read_exact(&mut go).unwrap();
    println!("writing");
    let n: usize = args[1].parse().unwrap();
    c.write_message(&pattern(n, 6)).unwrap();
    println!("wrote");
}

/// A peer killed in the middle of the stream: an in-place read waiting on the ring ends (the
/// end of data between bytes, `BrokenPipe` in the middle of a message), never hangs.
pub(super) fn in_place_peer_killed() {
    // Bytes: the end of data once what came is read.
    let name = unique("in-place-kill-bytes");
    let mut s = server(&name, PipeMode::Byte, true);
    let (mut c, mut out) = spawn("ring_client_hold", &[&name]);
    accept(&mut s);
    ping_pong_server(&mut s);
    assert_eq!(line(&mut out), "true");
    let mut got = Vec::new();
    while got.len() < 7 {
        // SAFETY: the peer is this test's own pipework client.
        let data = unsafe { s.fill_buf_in_place() }.unwrap();
        got.extend_from_slice(data);
        let n = data.len();
        s.consume(n);
    }
    assert_eq!(&got, b"partial");
    assert!(s.shared_memory_in_use());
    // Nonblocking, with the ring empty: `WouldBlock`, nothing lent.
    s.set_nonblocking(true).unwrap();
    // SAFETY: as above.
    let e = unsafe { s.fill_buf_in_place() }.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::WouldBlock, "{e}");
    s.set_nonblocking(false).unwrap();
    c.kill().unwrap();
    let _ = wait(&mut c);
    // SAFETY: as above.
    assert!(unsafe { s.fill_buf_in_place() }.unwrap().is_empty());
    let e = s.write_all(b"to nobody").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::BrokenPipe);

    // A message cut short: what came is lent, then `BrokenPipe` naming the pipe.
    let name = unique("in-place-kill-message");
    let mut s = server(&name, PipeMode::Message, true);
    let big = 3 * (1 << 20);
    let (mut c, mut out) = spawn("in_place_client_cut", &[&name, &big.to_string()]);
    accept(&mut s);
    // SAFETY: the peer is this test's own pipework client.
    let (data, read) = unsafe { s.read_message_in_place() }.unwrap();
    assert_eq!((data, read), (&b"first"[..], MessageRead::Complete(5)));
    s.consume(5);
    // Nonblocking, with nothing sent yet (the client waits for "go"): `WouldBlock`.
    s.set_nonblocking(true).unwrap();
    // SAFETY: as above.
    let e = unsafe { s.read_message_in_place() }.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::WouldBlock, "{e}");
    s.set_nonblocking(false).unwrap();
    s.write_all(b"go").unwrap();
    assert_eq!(line(&mut out), "writing");
    // Part of the message, then the writer is killed while it waits for room.
    let mut got = 0usize;
    while got < 100_000 {
        // SAFETY: as above.
        let (data, read) = unsafe { s.read_message_in_place() }.unwrap();
        assert!(matches!(read, MessageRead::MoreData { .. }), "{read:?}");
        let n = data.len();
        assert!(data == &pattern(big, 6)[got..got + n]);
        got += n;
        s.consume(n);
    }
    c.kill().unwrap();
    let _ = wait(&mut c);
    let e = loop {
        // SAFETY: as above.
        match unsafe { s.read_message_in_place() } {
            Ok((data, MessageRead::MoreData { .. })) => {
                let n = data.len();
                got += n;
                s.consume(n);
            }
            Ok(other) => panic!("{other:?} after {got} bytes of a cut message"),
            Err(e) => break e,
        }
    };
    assert!(got < big);
    assert_eq!(e.kind(), ErrorKind::BrokenPipe, "{e}");
    assert!(e.to_string().contains(&name), "{e}");
}

/// Child: a pipework client that moves its data to the ring, then writes a write position
/// far beyond the ring's capacity into its rings' headers (found among its own mappings),
/// says so, and waits (to be killed).
pub(super) fn in_place_client_liar(args: &[String]) {
    let mut c = ClientOptions::new()
        .wait(WaitTimeout::After(TIMEOUT))
        .shared_memory(true)
        .open(&args[0])
        .unwrap();
    c.write_all(b"abc").unwrap();
    let mut go = [0u8; 2];
    c.read_exact(&mut go).unwrap();
    // The server read, announcing it takes data from the ring: this goes there.
    c.write_all(b"defg").unwrap();
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    let mut lied = 0;
    for l in maps.lines().filter(|l| l.contains("memfd:")) {
        let range = l.split_whitespace().next().unwrap();
        let (start, end) = range.split_once('-').unwrap();
        let start = usize::from_str_radix(start, 16).unwrap();
        let end = usize::from_str_radix(end, 16).unwrap();
        if end - start != 4096 + (1 << 20) {
            continue;
        }
        let base = start as *const u8;
        // SAFETY: `start` begins a mapping of this process at least a page long (from
        // /proc/self/maps, alive: the client holds its rings); its first 8 bytes are read and,
        // when they are a ring's magic, the 8-aligned word at 64 is written atomically, as the
        // peer's own position would be.
        unsafe {
            let magic = std::ptr::read_volatile(base.cast::<[u8; 8]>());
            if &magic != b"PWSHMPIP" {
                continue;
            }
            let word = std::sync::atomic::AtomicU64::from_ptr(base.add(64).cast_mut().cast());
            word.store(u64::MAX / 2, std::sync::atomic::Ordering::SeqCst);
        }
        lied += 1;
    }
    assert_eq!(lied, 2, "the two rings among the mappings");
    println!("lied");
    let mut rest = Vec::new();
    std::io::stdin().read_to_end(&mut rest).unwrap();
}

/// A peer that writes a ring position beyond the ring: an in-place read (and a read) fails
/// with `InvalidData` naming the pipe, and lends nothing outside the ring.
pub(super) fn in_place_hostile_position() {
    let name = unique("in-place-liar");
    let mut s = server(&name, PipeMode::Byte, true);
    let (c, mut out) = spawn("in_place_client_liar", &[&name]);
    accept(&mut s);
    // SAFETY: the client is trusted not to change bytes it published; it lies about its
    // position only after these were read, and a position is checked in any case.
    let data = unsafe { s.fill_buf_in_place() }.unwrap();
    assert_eq!(data, b"abc");
    s.consume(3);
    s.write_all(b"go").unwrap();
    assert_eq!(line(&mut out), "lied");
    for _ in 0..2 {
        // SAFETY: as above; the call fails before lending anything.
        let e = unsafe { s.fill_buf_in_place() }.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidData, "{e}");
        assert!(e.to_string().contains(&name), "{e}");
    }
    let mut buf = [0u8; 16];
    let e = s.read(&mut buf).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidData, "{e}");
    finish_killed(c);
}

/// Tokio ends read in place too, waiting as their reads do (for the bell once on the ring):
/// a byte pipe and a message pipe, each against a blocking client in another process.
#[cfg(feature = "tokio")]
pub(super) fn in_place_async() {
    use tokio::io::AsyncWriteExt;
    common::runtime().block_on(async {
        let name = unique("in-place-async-bytes");
        let mut s = ServerOptions::new()
            .shared_memory(true)
            .create_async(&name)
            .unwrap();
        let (c, mut out) = spawn("in_place_client_bytes", &[&name, "on"]);
        s.connect().await.unwrap();
        let expect = pattern(STREAM, 1);
        let mut at = 0;
        while at < STREAM {
            // SAFETY: the peer is this test's own pipework client.
            let data = unsafe { s.fill_buf_in_place().await }.unwrap();
            assert!(!data.is_empty(), "the end of data at {at}");
            let n = data.len();
            assert!(data == &expect[at..at + n], "lent bytes differ at {at}");
            s.consume(n);
            at += n;
        }
        assert!(s.get_ref().shared_memory_in_use());
        s.write_all(&pattern(STREAM, 2)).await.unwrap();
        assert_eq!(line(&mut out), "true");
        s.disconnect().unwrap();
        assert_eq!(line(&mut out), "ok");
        finish(c);

        let name = unique("in-place-async-messages");
        let mut s = ServerOptions::new()
            .pipe_mode(PipeMode::Message)
            .shared_memory(true)
            .create_async(&name)
            .unwrap();
        let (c, mut out) = spawn("in_place_client_messages", &[&name, "on"]);
        s.connect().await.unwrap();
        for (i, m) in messages().iter().enumerate() {
            let mut got = Vec::new();
            loop {
                // SAFETY: the peer is this test's own pipework client.
                let (data, read) = unsafe { s.read_message_in_place().await }.unwrap();
                let n = data.len();
                got.extend_from_slice(data);
                s.consume(n);
                match read {
                    MessageRead::Complete(_) => break,
                    MessageRead::MoreData { .. } => {}
                    MessageRead::End => panic!("the end of data in message {i}"),
                }
            }
            assert!(&got == m, "message {i} differs");
        }
        for m in messages() {
            s.write_message(&m).await.unwrap();
        }
        assert_eq!(line(&mut out), "true");
        drop(s);
        assert_eq!(line(&mut out), "ok");
        finish(c);
    });
}

/// The sizes of this process's ring mappings (memfds whose first bytes are a ring's magic),
/// data bytes only (the mapping less its header page), smallest first.
fn ring_sizes() -> Vec<usize> {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    let mut sizes = Vec::new();
    for l in maps.lines().filter(|l| l.contains("memfd:")) {
        let range = l.split_whitespace().next().unwrap();
        let (start, end) = range.split_once('-').unwrap();
        let start = usize::from_str_radix(start, 16).unwrap();
        let end = usize::from_str_radix(end, 16).unwrap();
        // SAFETY: `start` begins a mapping of this process at least a page long (from
        // /proc/self/maps, alive: the caller holds its rings); its first 8 bytes are read.
        let magic = unsafe { std::ptr::read_volatile((start as *const u8).cast::<[u8; 8]>()) };
        if &magic == b"PWSHMPIP" {
            sizes.push(end - start - 4096);
        }
    }
    sizes.sort_unstable();
    sizes
}

/// Child: opens `args[0]` with rings and says its rings' sizes; reads [`STREAM`] bytes in
/// place (no lend longer than the ring to it, `args[1]` bytes), then writes as many.
pub(super) fn in_place_client_sized(args: &[String]) {
    let mut c = ClientOptions::new()
        .wait(WaitTimeout::After(TIMEOUT))
        .shared_memory(true)
        .open(&args[0])
        .unwrap();
    // A peek announces that this end reads from the ring: the server's data goes there.
    c.peek(&mut [0u8; 1]).unwrap();
    let sizes: Vec<String> = ring_sizes().iter().map(usize::to_string).collect();
    println!("{}", sizes.join(" "));
    read_in_place_within(&mut c, &pattern(STREAM, 7), args[1].parse().unwrap());
    write_varied(&mut c, &pattern(STREAM, 8));
    println!("{}", c.shared_memory_in_use());
}

/// Reads `expect` in place, checking that no lend is longer than `ring` bytes.
fn read_in_place_within(end: &mut impl InPlaceEnd, expect: &[u8], ring: usize) {
    let mut at = 0;
    while at < expect.len() {
        let data = end.fill().unwrap();
        let n = data.len();
        assert!(
            n > 0 && n <= ring,
            "a lend of {n} bytes from a {ring}-byte ring"
        );
        assert!(data == &expect[at..at + n], "lent bytes differ at {at}");
        end.consume_n(n);
        at += n;
    }
}

/// The pipe's buffer sizes size its rings, each direction its own (rounded up to a power of
/// two, 4 KiB at least): the client's rings have those sizes, a lend never passes the ring it
/// comes from, and a stream far larger than its ring crosses it intact (each side peeks
/// first, so the other's data goes to the ring from its first byte). A pipe with none set
/// keeps 1 MiB rings.
pub(super) fn in_place_buffer_sizes_size_the_rings() {
    // (in, out) asked; the rings to the server and to the client.
    let cases = [
        (Some((5_000, 16_384)), (8_192, 16_384)),
        (Some((100, 100)), (4_096, 4_096)),
        (None, (1 << 20, 1 << 20)),
    ];
    for (asked, (to_server, to_client)) in cases {
        let name = unique(&format!("in-place-sized-{to_server}-{to_client}"));
        let mut options = ServerOptions::new();
        options.shared_memory(true);
        if let Some((inbound, outbound)) = asked {
            options.in_buffer_size(inbound).out_buffer_size(outbound);
        }
        let mut s = options.create(&name).unwrap();
        let (c, mut out) = spawn("in_place_client_sized", &[&name, &to_client.to_string()]);
        accept(&mut s);
        // The client's data goes to the ring from its first write on.
        s.peek(&mut [0u8; 1]).unwrap();
        let mut both = [to_server, to_client];
        both.sort_unstable();
        assert_eq!(line(&mut out), format!("{} {}", both[0], both[1]));
        write_varied(&mut s, &pattern(STREAM, 7));
        read_in_place_within(&mut s, &pattern(STREAM, 8), to_server);
        assert!(s.shared_memory_in_use());
        assert_eq!(line(&mut out), "true");
        drop(s);
        finish(c);
    }
}

/// What an in-place writer mixes in: its reservations and commits, beside plain writes.
trait InPlaceWriter: Write {
    fn reserve(&mut self) -> std::io::Result<&mut [u8]>;
    fn commit_n(&mut self, n: usize) -> std::io::Result<()>;
}

impl InPlaceWriter for NamedPipeServer {
    fn reserve(&mut self) -> std::io::Result<&mut [u8]> {
        // SAFETY: the peer is this test's own pipework client (or a socket: then the room is
        // this end's own buffer).
        unsafe { self.reserve_in_place() }
    }
    fn commit_n(&mut self, n: usize) -> std::io::Result<()> {
        self.commit(n)
    }
}

impl InPlaceWriter for NamedPipeClient {
    fn reserve(&mut self) -> std::io::Result<&mut [u8]> {
        // SAFETY: the peer is this test's own pipework server.
        unsafe { self.reserve_in_place() }
    }
    fn commit_n(&mut self, n: usize) -> std::io::Result<()> {
        self.commit(n)
    }
}

/// Writes `data` with in-place writes (whole rooms, part of a room, a room left unused)
/// interleaved with plain writes of varying sizes.
fn write_in_place_mixed(end: &mut impl InPlaceWriter, data: &[u8]) {
    let mut at = 0;
    let mut turn = 0usize;
    let mut size = 1;
    while at < data.len() {
        match turn % 4 {
            0 | 1 => {
                let room = end.reserve().unwrap();
                assert!(!room.is_empty());
                let mut n = room.len().min(data.len() - at);
                if turn % 4 == 1 {
                    n = n.div_ceil(2).min(size);
                }
                room[..n].copy_from_slice(&data[at..at + n]);
                end.commit_n(n).unwrap();
                at += n;
            }
            2 => {
                // Reserved and left unused: nothing is published.
                let room = end.reserve().unwrap();
                room.fill(0xEE);
                end.commit_n(0).unwrap();
            }
            _ => {
                let n = size.min(data.len() - at);
                end.write_all(&data[at..at + n]).unwrap();
                at += n;
            }
        }
        size = (size * 7 + 3) % 70_001;
        turn += 1;
    }
}

/// A commit of more than the room reserved, or with no reservation, is `InvalidInput` naming
/// the pipe; nothing is published.
fn commit_beyond(end: &mut impl InPlaceWriter, name: &str) {
    let k = end.reserve().unwrap().len();
    let e = end.commit_n(k + 1).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    assert!(e.to_string().contains(name), "{e}");
    end.commit_n(0).unwrap();
    let e = end.commit_n(1).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
}

/// Child: opens `args[0]` with rings `args[1]` (`on`/`off`) on a byte pipe: reads the
/// server's [`STREAM`] (written in place), writes its own in place, says whether rings are in
/// use.
pub(super) fn in_place_client_writes(args: &[String]) {
    let mut c = ClientOptions::new()
        .wait(WaitTimeout::After(TIMEOUT))
        .shared_memory(args[1] == "on")
        .open(&args[0])
        .unwrap();
    let mut got = vec![0u8; STREAM];
    c.read_exact(&mut got).unwrap();
    assert!(got == pattern(STREAM, 3), "the server's bytes differ");
    commit_beyond(&mut c, &args[0]);
    write_in_place_mixed(&mut c, &pattern(STREAM, 4));
    c.flush().unwrap();
    println!("{}", c.shared_memory_in_use());
    let mut rest = Vec::new();
    std::io::stdin().read_to_end(&mut rest).unwrap();
}

/// Byte pipes, rings on and off: each side writes its stream in place, mixed with plain
/// writes, and the other side reads exactly those bytes; a commit beyond the room is
/// `InvalidInput`.
pub(super) fn in_place_writes() {
    for rings in [true, false] {
        let name = unique(&format!("in-place-writes-{rings}"));
        let mut s = server(&name, PipeMode::Byte, rings);
        let on = if rings { "on" } else { "off" };
        let (c, mut out) = spawn("in_place_client_writes", &[&name, on]);
        accept(&mut s);
        commit_beyond(&mut s, &name);
        write_in_place_mixed(&mut s, &pattern(STREAM, 3));
        let mut got = vec![0u8; STREAM];
        s.read_exact(&mut got).unwrap();
        assert!(got == pattern(STREAM, 4), "the client's bytes differ");
        assert_eq!(s.shared_memory_in_use(), rings);
        assert_eq!(line(&mut out), rings.to_string());
        drop(out);
        finish_killed(c);
    }
}

/// In-place writes are for blocking byte pipes: a message pipe is `Unsupported` naming the
/// pipe, on both ends.
pub(super) fn in_place_writes_unsupported() {
    let name = unique("in-place-writes-messages");
    let mut s = server(&name, PipeMode::Message, true);
    let mut c = ClientOptions::new()
        .wait(WaitTimeout::After(TIMEOUT))
        .open(&name)
        .unwrap();
    accept(&mut s);
    // SAFETY: nothing is reserved: the calls fail.
    let e = unsafe { s.reserve_in_place() }.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
    assert!(e.to_string().contains(&name), "{e}");
    // SAFETY: as above.
    let e = unsafe { c.reserve_in_place() }.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
    assert!(e.to_string().contains(&name), "{e}");
    // Messages still go as usual.
    c.write_message(b"still").unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(s.read_message(&mut buf).unwrap(), MessageRead::Complete(5));
}

/// The reader killed while the writer writes in place: a `BrokenPipe` naming the pipe once the
/// ring is full (or at the next look at the peer), never a hang.
pub(super) fn in_place_writes_peer_killed() {
    let name = unique("in-place-writes-kill");
    let mut s = server(&name, PipeMode::Byte, true);
    let (mut c, mut out) = spawn("ring_client_hold", &[&name]);
    accept(&mut s);
    ping_pong_server(&mut s);
    assert_eq!(line(&mut out), "true");
    c.kill().unwrap();
    let _ = wait(&mut c);
    // At most a ring's worth (1 MiB) is accepted before the writer finds the peer gone.
    let mut written = 0usize;
    let e = loop {
        // SAFETY: the peer was this test's own pipework client.
        match unsafe { s.reserve_in_place() } {
            Ok(room) => {
                let n = room.len();
                room.fill(7);
                match s.commit(n) {
                    Ok(()) => written += n,
                    Err(e) => break e,
                }
            }
            Err(e) => break e,
        }
        assert!(
            written <= 2 << 20,
            "{written} bytes accepted for a dead peer"
        );
    };
    assert_eq!(e.kind(), ErrorKind::BrokenPipe, "{e}");
    assert!(e.to_string().contains(&name), "{e}");
}

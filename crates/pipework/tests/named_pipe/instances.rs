//! Instances: busy pipes, first-instance and mismatch rules, many instances, instances in
//! several processes.

use super::*;

pub(super) fn client_hold(args: &[String]) {
    let count: usize = args[1].parse().unwrap();
    let mut held = Vec::new();
    for i in 0..count {
        let mut c = NamedPipeClient::open(&args[0]).unwrap();
        c.write_all(&(i as u32).to_le_bytes()).unwrap();
        held.push(c);
    }
    // One more finds every instance busy.
    let e = NamedPipeClient::open(&args[0]).unwrap_err();
    println!("held {}", kind_name(&e));
    let mut rest = Vec::new();
    std::io::stdin().read_to_end(&mut rest).unwrap();
}

pub(super) fn busy_when_every_instance_is_taken() {
    let name = unique("busy");
    let mut server = ServerOptions::new().max_instances(1).create(&name).unwrap();
    let (c, mut out) = spawn("client_try_open", &[&name]);
    accept(&mut server);
    assert_eq!(line(&mut out), "ok");
    // The only instance is connected: another client is busy, another instance too many.
    let e = NamedPipeClient::open(&name).unwrap_err();
    assert!(named_pipe::is_busy(&e), "{e}");
    assert!(e.to_string().contains("instance is busy"), "{e}");
    let e = ServerOptions::new()
        .max_instances(1)
        .create(&name)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ResourceBusy);
    let mut hello = [0u8; 5];
    server.read_exact(&mut hello).unwrap();
    finish(c);
    for bad in [0, 256] {
        let e = ServerOptions::new()
            .max_instances(bad)
            .create(&unique("bad"))
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
    }
}

pub(super) fn first_instance_and_mismatched_instances() {
    let name = unique("first");
    let first = ServerOptions::new()
        .first_pipe_instance(true)
        .create(&name)
        .unwrap();
    assert!(first.created_pipe());
    let e = ServerOptions::new()
        .first_pipe_instance(true)
        .create(&name)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PermissionDenied);
    let e = ServerOptions::new()
        .access_inbound(false)
        .create(&name)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PermissionDenied);
    // Other parameters of later instances are accepted; the first's stick.
    let second = ServerOptions::new().max_instances(3).create(&name).unwrap();
    assert!(!second.created_pipe());
    assert_eq!(second.max_instances(), None);
    let e = ServerOptions::new()
        .read_mode(ReadMode::Message)
        .create(&unique("rm"))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
}

pub(super) fn instances_255_at_once() {
    let name = unique("many");
    let servers: Vec<NamedPipeServer> = (0..255)
        .map(|_| {
            ServerOptions::new()
                .max_instances(255)
                .create(&name)
                .unwrap()
        })
        .collect();
    let e = ServerOptions::new().create(&name).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ResourceBusy);
    let (c, mut out) = spawn("client_hold", &[&name, "255"]);
    let threads: Vec<_> = servers
        .into_iter()
        .map(|mut s| {
            std::thread::spawn(move || {
                accept(&mut s);
                let mut index = [0u8; 4];
                s.read_exact(&mut index).unwrap();
                (u32::from_le_bytes(index), s)
            })
        })
        .collect();
    let mut seen: Vec<u32> = Vec::new();
    let mut servers = Vec::new();
    for t in threads {
        let (i, s) = t.join().unwrap();
        seen.push(i);
        servers.push(s);
    }
    seen.sort();
    assert_eq!(seen, (0..255).collect::<Vec<_>>());
    assert!(servers.iter().all(|s| s.is_connected()));
    assert_eq!(line(&mut out), "held ResourceBusy");
    let entry = named_pipe::list()
        .unwrap()
        .into_iter()
        .find(|p| p.name == name.rsplit('\\').next().unwrap())
        .unwrap();
    assert_eq!(entry.instances, 255);
    finish(c);
}

pub(super) fn instances_across_processes() {
    let name = unique("shared");
    let first = ServerOptions::new().max_instances(2).create(&name).unwrap();
    // Another process adds the second instance (its own parameters give way to the first's).
    let (mut c, mut out) = spawn("server_and_block", &[&name]);
    assert_eq!(line(&mut out), "ready");
    assert_eq!(first.instances().unwrap(), 2);
    let e = ServerOptions::new()
        .max_instances(2)
        .create(&name)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ResourceBusy);
    // The other process dies: its instance is gone with it, and its slot is free again.
    c.kill().unwrap();
    wait(&mut c);
    assert_eq!(first.instances().unwrap(), 1);
    let again = ServerOptions::new().max_instances(2).create(&name).unwrap();
    assert_eq!(again.instances().unwrap(), 2);
}

/// Child: creates `args[1]` instances of `args[0]` (at most 6), says `ready`, holds them until
/// its input ends.
pub(super) fn servers_and_block(args: &[String]) {
    let n: usize = args[1].parse().unwrap();
    let _servers: Vec<NamedPipeServer> = (0..n)
        .map(|_| {
            ServerOptions::new()
                .max_instances(6)
                .create(&args[0])
                .unwrap()
        })
        .collect();
    println!("ready");
    let mut rest = Vec::new();
    std::io::Read::read_to_end(&mut std::io::stdin(), &mut rest).unwrap();
}

/// Open descriptors of this process on the lock file of the pipe whose directory ends in `key`.
fn lock_files_open(key: &str) -> usize {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|target| {
            target.file_name().is_some_and(|f| f == "lock")
                && target
                    .parent()
                    .and_then(|p| p.file_name())
                    .is_some_and(|d| d.to_string_lossy().ends_with(key))
        })
        .count()
}

/// A process's instances share one hold on the pipe (one lock file open, neighbouring slots
/// merged by the kernel into one lock): counts, the limit and "busy" stay exact across
/// processes, a freed slot in the middle is taken again, and a killed process's instances are
/// reclaimed.
pub(super) fn instances_share_one_hold_per_process() {
    let name = unique("oneheld");
    let key = name.rsplit('\\').next().unwrap().to_string();
    let create = || ServerOptions::new().max_instances(6).create(&name);
    let mut mine: Vec<NamedPipeServer> = (0..3).map(|_| create().unwrap()).collect();
    assert_eq!(lock_files_open(&key), 1);
    let (mut c, mut out) = spawn("servers_and_block", &[&name, "2"]);
    assert_eq!(line(&mut out), "ready");
    assert_eq!(mine[0].instances().unwrap(), 5);
    mine.push(create().unwrap());
    assert_eq!(mine[0].instances().unwrap(), 6);
    assert_eq!(create().unwrap_err().kind(), ErrorKind::ResourceBusy);
    let listed = |name: &str| {
        named_pipe::list()
            .unwrap()
            .into_iter()
            .find(|p| p.name == name.rsplit('\\').next().unwrap())
            .unwrap()
            .instances
    };
    assert_eq!(listed(&name), 6);
    // A slot freed between others is found again, and only it.
    drop(mine.remove(1));
    assert_eq!(mine[0].instances().unwrap(), 5);
    mine.push(create().unwrap());
    assert_eq!(create().unwrap_err().kind(), ErrorKind::ResourceBusy);
    // The other process dies: its two instances go with it.
    c.kill().unwrap();
    wait(&mut c);
    assert_eq!(mine[0].instances().unwrap(), 4);
    assert_eq!(listed(&name), 4);
    mine.push(create().unwrap());
    mine.push(create().unwrap());
    assert_eq!(create().unwrap_err().kind(), ErrorKind::ResourceBusy);
    assert_eq!(lock_files_open(&key), 1);
    // The last instance lets go of the name and of the lock file.
    drop(mine);
    assert_eq!(lock_files_open(&key), 0);
    assert!(named_pipe::list()
        .unwrap()
        .iter()
        .all(|p| p.name != name.rsplit('\\').next().unwrap()));
}

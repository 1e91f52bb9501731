//! Hostile peers: garbage written into an object's page.

use super::*;

/// Child: `vandal PATH PATTERN`: writes garbage over an object's shared page.
pub(super) fn vandal(args: &[String]) {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .open(&args[0])
        .unwrap();
    let page: Vec<u8> = match args[1].as_str() {
        "ones" => vec![0xff; 4096],
        "random" => {
            let mut x: u32 = 0x9e37_79b9;
            (0..4096)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    x as u8
                })
                .collect()
        }
        // A valid-looking header whose state is guarded by a dead thread, with huge counts.
        _ => {
            let mut page = std::fs::read(&args[0]).unwrap();
            page[16..20].copy_from_slice(&0xffff_fff0u32.to_ne_bytes()); // state: guard + garbage
            page[20..24].copy_from_slice(&u32::MAX.to_ne_bytes()); // waiters
            page[24..28].copy_from_slice(&0x7fff_fff0u32.to_ne_bytes()); // owner tid
            page[40..44].copy_from_slice(&u32::MAX.to_ne_bytes()); // recursion
            page[44..48].copy_from_slice(&0x3fff_fff0u32.to_ne_bytes()); // guard holder: none
            page
        }
    };
    file.write_all(&page).unwrap();
}

fn poke_everything(mutex: &Mutex, sem: &Semaphore, event: &Event) {
    let short = Some(Duration::from_millis(5));
    let _ = mutex.wait(Some(Duration::ZERO));
    let _ = mutex.wait(short);
    let _ = mutex.release();
    let _ = mutex.release();
    let _ = sem.wait(short);
    let _ = sem.release(1);
    let _ = sem.release(u32::MAX);
    let _ = event.set();
    let _ = event.reset();
    let _ = event.wait(short);
    let objects: [&dyn Waitable; 3] = [mutex, sem, event];
    let _ = wait_any(&objects, short);
    let _ = wait_all(&objects, short);
    let _ = wait_all(&objects, Some(Duration::ZERO));
}

pub(super) fn hostile_peer_cannot_break_the_reader() {
    for pattern in ["guard", "ones", "random"] {
        let names: Vec<String> = ["m", "s", "e"]
            .iter()
            .map(|t| unique(&format!("vandal-{pattern}-{t}")))
            .collect();
        let mutex = Mutex::create(&names[0], false).unwrap();
        let sem = Semaphore::create(&names[1], 1, 2).unwrap();
        let event = Event::create(&names[2], false, false).unwrap();
        let listed = sync::list().unwrap();
        for name in &names {
            let entry = listed.iter().find(|e| &e.name == name).unwrap();
            let mut cmd = child("vandal");
            cmd.arg(&entry.path).arg(pattern);
            assert!(wait(&mut spawn(cmd)).success());
        }
        // Whatever the garbage, every call returns (an answer or an error) without panicking.
        poke_everything(&mutex, &sem, &event);
        poke_everything(&mutex, &sem, &event);
        // Opening a wrecked object is refused as invalid data.
        if pattern != "guard" {
            assert_eq!(
                Mutex::open(&names[0]).unwrap_err().kind(),
                ErrorKind::InvalidData
            );
            assert_eq!(
                Semaphore::open(&names[1]).unwrap_err().kind(),
                ErrorKind::InvalidData
            );
            assert_eq!(
                Event::open(&names[2]).unwrap_err().kind(),
                ErrorKind::InvalidData
            );
        }
    }
    // Something other than a file planted at a name: refused, never waited on.
    let uid = rustix::process::getuid().as_raw();
    for planted in ["fifo", "dir", "symlink"] {
        let name = unique(&format!("planted-{planted}"));
        let path = format!("/dev/shm/pipework-{uid}-{}", &name["Local\\".len()..]);
        match planted {
            "fifo" => rustix::fs::mknodat(
                rustix::fs::CWD,
                path.as_str(),
                rustix::fs::FileType::Fifo,
                rustix::fs::Mode::from_raw_mode(0o600),
                0,
            )
            .unwrap(),
            "dir" => std::fs::create_dir(&path).unwrap(),
            _ => std::os::unix::fs::symlink("/etc/passwd", &path).unwrap(),
        }
        assert_eq!(
            Mutex::create(&name, false).unwrap_err().kind(),
            ErrorKind::InvalidData
        );
        assert_eq!(
            Event::open(&name).unwrap_err().kind(),
            ErrorKind::InvalidData
        );
        assert_eq!(
            FileMapping::open(&name, Access::Read).unwrap_err().kind(),
            ErrorKind::InvalidData
        );
        let _ = std::fs::remove_file(&path);
        let _ = std::fs::remove_dir(&path);
    }
    // A short file is refused before it is mapped.
    let memfd = rustix::fs::memfd_create("short", rustix::fs::MemfdFlags::CLOEXEC).unwrap();
    rustix::fs::ftruncate(&memfd, 16).unwrap();
    assert_eq!(
        Event::try_from(memfd).unwrap_err().kind(),
        ErrorKind::InvalidData
    );
}

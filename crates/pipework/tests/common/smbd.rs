//! A private smbd for interop tests: started by each test with its own smb.conf and every
//! directory it writes in a temporary directory, listening only on 127.0.0.1 at a free port,
//! handing opens of `\\pipe\\NAME` on IPC$ to the pipe sockets under [`Smbd::socket_dir`].
//! Stopped (its whole process group killed) when dropped, passed or failed.
//!
//! Included by the test files that need it with `#[path = "common/smbd.rs"] mod smbd;`.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::TIMEOUT;

/// Feeds unique names and directories.
pub static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A private smbd on 127.0.0.1, killed (with its children) when dropped.
pub struct Smbd {
    dir: PathBuf,
    /// The TCP port smbd listens on (127.0.0.1).
    pub port: u16,
    child: Child,
    log: Arc<Mutex<String>>,
}

/// One smbd starts at a time in this process: several starting at once have been seen to stall
/// one of them in its first-start database work (on gVisor), never past it.
static STARTING: Mutex<()> = Mutex::new(());
/// How long a start may take before it is taken as stalled and made again (once).
const START_TIMEOUT: Duration = Duration::from_secs(20);

impl Smbd {
    /// Starts one; panics (failing the test) if it cannot.
    pub fn start() -> Smbd {
        Smbd::start_with("")
    }

    /// Starts one with `extra` lines in its `[global]` section.
    pub fn start_with(extra: &str) -> Smbd {
        let _one_at_a_time = STARTING.lock().unwrap_or_else(|e| e.into_inner());
        match Smbd::try_start(extra) {
            Ok(smbd) => smbd,
            // A stalled start, killed (and its directory removed) as it was dropped: once more.
            Err(first) => Smbd::try_start(extra)
                .unwrap_or_else(|again| panic!("smbd did not start:\n{first}\nagain:\n{again}")),
        }
    }

    fn try_start(extra: &str) -> Result<Smbd, String> {
        let tag = format!(
            "{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        let dir = std::env::temp_dir().join(format!("pipework-smb-{tag}"));
        let _ = std::fs::remove_dir_all(&dir);
        for sub in ["lock", "state", "cache", "pid", "private", "ncalrpc", "log"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        let port = free_port();
        let d = dir.display();
        let conf = format!(
            "[global]\n\
             workgroup = PWTEST\n\
             netbios name = PWSMBTEST\n\
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
             disable netbios = yes\n\
             {extra}"
        );
        std::fs::write(dir.join("smb.conf"), conf).unwrap();
        // No accounts (clients are anonymous): an empty smbpasswd file. Not tdbsam, whose
        // first-start conversion, and not tdb's robust mutexes, which have been seen to stall
        // smbd on some kernels (gVisor) when several run at once.
        std::fs::write(dir.join("private/smbpasswd"), "").unwrap();
        let mut command = Command::new("/usr/sbin/smbd");
        command
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
            .process_group(0);
        // SAFETY: prctl(PR_SET_PDEATHSIG) is async-signal-safe and touches no memory: smbd is
        // killed if this test process dies before it could stop smbd itself.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let mut child = command
            .spawn()
            .expect("run smbd (Samba is needed: apt-get install samba)");
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let log = Arc::new(Mutex::new(String::new()));
        let mut smbd = Smbd {
            dir,
            port,
            child,
            log: log.clone(),
        };
        // Ready once it says so; its output is kept for failure messages.
        loop {
            if !crate::common::readable_within(out.get_ref(), START_TIMEOUT) {
                return Err(format!(
                    "not ready after {START_TIMEOUT:?}:\n{}",
                    smbd.log()
                ));
            }
            let mut line = String::new();
            if out.read_line(&mut line).unwrap() == 0 {
                let status = smbd.child.wait().unwrap();
                panic!("smbd ended ({status}):\n{}", smbd.log());
            }
            log.lock().unwrap().push_str(&line);
            if line.contains("waiting for connections") {
                break;
            }
        }
        std::thread::spawn(move || {
            let mut line = String::new();
            while out.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
                log.lock().unwrap().push_str(&line);
                line.clear();
            }
        });
        Ok(smbd)
    }

    /// Adds the Samba account `user` with `password` to this smbd's own password file; `user`
    /// must be an existing unix user (Samba maps the account to it). Its unix uid.
    pub fn add_user(&self, user: &str, password: &str) -> u32 {
        use std::io::Write;
        let uid = Command::new("id")
            .args(["-u", user])
            .stderr(Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse::<u32>().ok())
            .unwrap_or_else(|| panic!("no unix user {user}"));
        let mut child = Command::new("smbpasswd")
            .arg("-c")
            .arg(self.conf())
            .args(["-s", "-a", user])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run smbpasswd");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{password}\n{password}\n").as_bytes())
            .unwrap();
        let status = crate::common::wait_within(&mut child, TIMEOUT);
        assert!(status.success(), "smbpasswd -a {user} failed ({status})");
        uid
    }

    /// The directory smbd looks for pipe sockets in (`<dir>/np/<name>`).
    pub fn socket_dir(&self) -> PathBuf {
        self.dir.join("ncalrpc")
    }

    /// Its configuration file (clients such as rpcclient may read it too).
    pub fn conf(&self) -> PathBuf {
        self.dir.join("smb.conf")
    }

    /// What smbd has said so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Runs the impacket client `script` against this smbd with `args`; its output, or a
    /// failure with both its and smbd's.
    pub fn client(&self, script: &str, args: &[&str]) -> String {
        let mut child = Command::new("/usr/bin/python3")
            .arg("-c")
            .arg(format!("{CLIENT_PRELUDE}\n{script}"))
            .arg(self.port.to_string())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run /usr/bin/python3 (python3-impacket is needed)");
        let status = crate::common::wait_within(&mut child, TIMEOUT);
        let mut out = String::new();
        let mut err = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        assert!(
            status.success(),
            "impacket client failed ({status}):\n{out}\n{err}\nsmbd:\n{}",
            self.log()
        );
        out
    }
}

impl Drop for Smbd {
    fn drop(&mut self) {
        // The whole group: smbd forks a process per client.
        let group = self.child.id() as i32;
        // SAFETY: kill(2) with a negative pid signals the process group smbd leads (started
        // with process_group(0)); no memory is involved.
        unsafe {
            libc::kill(-group, libc::SIGKILL);
        }
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// What every client script starts with: a connection to `127.0.0.1:<argv[1]>` as an anonymous
/// user, on IPC$.
pub const CLIENT_PRELUDE: &str = r#"
import sys
from impacket.smbconnection import SMBConnection, SessionError
port = int(sys.argv[1])
args = sys.argv[2:]
def connect():
    c = SMBConnection('127.0.0.1', '127.0.0.1', sess_port=port)
    c.login('', '')
    return c, c.connectTree('IPC$')
def fail(text):
    print(text)
    sys.exit(1)
"#;

/// A client-only view of a running smbd (for client threads).
pub struct SmbdPort(pub u16);

impl SmbdPort {
    pub fn client(&self, script: &str, args: &[&str]) -> String {
        let mut child = Command::new("/usr/bin/python3")
            .arg("-c")
            .arg(format!("{CLIENT_PRELUDE}\n{script}"))
            .arg(self.0.to_string())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let status = crate::common::wait_within(&mut child, TIMEOUT);
        let mut out = String::new();
        let mut err = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        assert!(status.success(), "impacket client failed: {out}\n{err}");
        out
    }
}

//! Interop with Python's `multiprocessing.shared_memory`: a pipework mapping attached by its OS
//! name, and a Python-made segment opened by pipework.

mod common;

use std::process::{Command, Stdio};

use common::wait;
use pipework::mapping::{Access, FileMapping};

fn main() {
    common::main(
        &[
            (
                "python_attaches_to_a_pipework_mapping",
                python_attaches_to_a_pipework_mapping,
            ),
            (
                "pipework_opens_a_python_segment",
                pipework_opens_a_python_segment,
            ),
        ],
        &[],
    )
}

fn python(script: &str, args: &[&str]) -> bool {
    let mut c = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .stdin(Stdio::null())
        .spawn()
        .expect("python3 is needed for the interop tests (apt-get install python3)");
    wait(&mut c).success()
}

const ATTACH: &str = r#"
import sys
from multiprocessing import shared_memory, resource_tracker
shm = shared_memory.SharedMemory(name=sys.argv[1])
try:
    resource_tracker.unregister(shm._name, "shared_memory")
except Exception:
    pass
assert bytes(shm.buf[:13]) == b"from pipework", bytes(shm.buf[:16])
shm.buf[100:111] = b"from python"
shm.close()
"#;

fn python_attaches_to_a_pipework_mapping() {
    let name = format!("Local\\pw-interop-{}", std::process::id());
    let mapping = FileMapping::create(&name, 4096).unwrap();
    let view = mapping.map_view(Access::Write, 0, 0).unwrap();
    view.write(0, b"from pipework").unwrap();
    assert!(python(ATTACH, &[mapping.os_name().unwrap()]));
    assert_eq!(view.read_pod::<[u8; 11]>(100).unwrap(), *b"from python");
}

const CREATE: &str = r#"
import sys
from multiprocessing import shared_memory, resource_tracker
shm = shared_memory.SharedMemory(name=sys.argv[1], create=True, size=8192)
resource_tracker.unregister(shm._name, "shared_memory")
shm.buf[:11] = b"from python"
shm.close()
"#;

fn pipework_opens_a_python_segment() {
    let os_name = format!("pw-interop-py-{}", std::process::id());
    assert!(python(CREATE, &[&os_name]));
    let name = format!("/{os_name}");
    let mapping = FileMapping::open(&name, Access::Write).unwrap();
    assert_eq!(mapping.size().unwrap(), 8192);
    let view = mapping.map_view(Access::Write, 0, 0).unwrap();
    assert_eq!(view.read_pod::<[u8; 11]>(0).unwrap(), *b"from python");
    view.write(20, b"seen").unwrap();
    // pipework does not remove a segment another program made: it is still there to remove.
    drop((view, mapping));
    let again = FileMapping::open(&name, Access::Read).unwrap();
    assert_eq!(common::mapped_bytes::<4>(&again, 20), *b"seen");
    drop(again);
    FileMapping::remove(&name).unwrap();
    assert_eq!(
        FileMapping::open(&name, Access::Read).unwrap_err().kind(),
        std::io::ErrorKind::NotFound
    );
}

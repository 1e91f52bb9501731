//! Compiles every C file in `tests/c/` (one per function family) and `tests/c/samples/` (the
//! Win32 documentation's samples, written for this project) with the system's C compiler
//! against `include/` and `libpipework_win32.so`, runs each, and checks that it exits 0.
//!
//! The C programs check Win32 return values and `GetLastError` codes themselves (see
//! `tests/c/check.h`) and start their own child processes with `CreateProcess` where a sample
//! needs two processes. Each program runs under a deadline that fails the test. One program is
//! also linked against `libpipework_win32.a`, and the repository's ctypes example
//! (`python/pipework_win32_example.py`) runs against the `.so`.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use libtest_mimic::{Arguments, Failed, Trial};

/// How long one C program may run.
const DEADLINE: Duration = Duration::from_secs(60);

/// The directory cargo built this test's `libpipework_win32.so` in: `deps/`, beside the test
/// binary (the copy one level up is refreshed only by `cargo build`).
fn library_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe.parent().expect("deps directory").to_path_buf();
    assert!(
        dir.join("libpipework_win32.so").exists(),
        "no libpipework_win32.so in {}: build the crate first (cargo test -p pipework-win32 \
         builds it)",
        dir.display()
    );
    dir
}

fn compiler() -> String {
    std::env::var("CC").unwrap_or_else(|_| "cc".into())
}

fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|e| e == "c"));
    files.sort();
    files
}

/// How a C program is linked.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Link {
    /// Against `libpipework_win32.so`, found through the run path.
    Shared,
    /// Against `libpipework_win32.a`, with the system libraries Rust's standard library needs.
    Static,
}

fn build_and_run(source: &Path, out_dir: &Path, lib: &Path, link: Link) -> Result<(), Failed> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut stem = source.file_stem().unwrap().to_string_lossy().into_owned();
    if link == Link::Static {
        stem.push_str("-static");
    }
    let binary = out_dir.join(&stem);
    let mut compile = Command::new(compiler());
    compile
        .args([
            "-std=gnu11",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-O1",
            "-pthread",
        ])
        .arg("-I")
        .arg(manifest.join("include"))
        .arg("-I")
        .arg(manifest.join("tests/c"))
        .arg(source)
        .arg("-o")
        .arg(&binary);
    match link {
        Link::Shared => compile
            .arg("-L")
            .arg(lib)
            .arg("-lpipework_win32")
            .arg(format!("-Wl,-rpath,{}", lib.display())),
        Link::Static => {
            compile
                .arg(lib.join("libpipework_win32.a"))
                .args(["-lpthread", "-ldl", "-lm"])
        }
    };
    let output = compile
        .output()
        .map_err(|e| format!("cannot run the C compiler: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "{} does not compile:\n{}",
            source.display(),
            String::from_utf8_lossy(&output.stderr)
        )
        .into());
    }
    let mut child = Command::new(&binary)
        // Cargo's library path names the profile directory, whose copy of the library only
        // `cargo build` refreshes: the program takes the one its run path names.
        .env_remove("LD_LIBRARY_PATH")
        .current_dir(out_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // A group of its own: what it started and left running (a server whose client failed)
        // is ended with it, instead of holding the output pipes open for ever.
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
    let process = pipework::process::Process::from_child(&child).map_err(|e| e.to_string())?;
    let group = child.id() as libc::pid_t;
    let finished = process.wait_timeout(DEADLINE).map_err(|e| e.to_string())?;
    // SAFETY: killpg takes plain integers; the group is the program's own (made above).
    unsafe { libc::killpg(group, libc::SIGKILL) };
    if !finished {
        let _ = child.wait();
        return Err(format!("{stem} still running after {DEADLINE:?}").into());
    }
    let output = child.wait_with_output().map_err(|e| e.to_string())?;
    if !output.status.success() {
        return Err(format!(
            "{stem} failed ({}):\n--- stdout\n{}--- stderr\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
        .into());
    }
    Ok(())
}

/// The repository's ctypes example (python/pipework_win32_example.py) against this library.
fn python_example(so: &Path) -> Result<(), Failed> {
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../python/pipework_win32_example.py");
    // Debian's Python (the python3 first on PATH may be another one).
    let python = ["/usr/bin/python3", "python3"]
        .into_iter()
        .find(|p| {
            Command::new(p)
                .arg("-c")
                .arg("pass")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .ok_or("python3 is needed (apt-get install python3)")?;
    let mut child = Command::new(python)
        .arg(&script)
        .env("PIPEWORK_WIN32_LIB", so)
        .env_remove("LD_LIBRARY_PATH")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start python3: {e}"))?;
    let process = pipework::process::Process::from_child(&child).map_err(|e| e.to_string())?;
    if !process.wait_timeout(DEADLINE).map_err(|e| e.to_string())? {
        let _ = child.kill();
        let _ = child.wait();
        return Err("the Python example still running after the deadline".into());
    }
    let output = child.wait_with_output().map_err(|e| e.to_string())?;
    if !output.status.success() {
        return Err(format!(
            "the Python example failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
        .into());
    }
    Ok(())
}

fn main() {
    let args = Arguments::from_args();
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let lib = library_dir();
    let out_dir = lib.parent().unwrap_or(&lib).join("c-tests");
    std::fs::create_dir_all(&out_dir).expect("output directory");
    let mut trials = Vec::new();
    for (prefix, dir) in [("c", "tests/c"), ("sample", "tests/c/samples")] {
        for source in sources(&manifest.join(dir)) {
            let name = format!("{prefix}_{}", source.file_stem().unwrap().to_string_lossy());
            let (lib, out_dir) = (lib.clone(), out_dir.clone());
            trials.push(Trial::test(name, move || {
                build_and_run(&source, &out_dir, &lib, Link::Shared)
            }));
        }
    }
    // One program linked statically: the staticlib holds everything the C side needs.
    let (static_lib, static_out) = (lib.clone(), out_dir.clone());
    trials.push(Trial::test("c_handles_static", move || {
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/c/handles.c");
        build_and_run(&source, &static_out, &static_lib, Link::Static)
    }));
    let so = lib.join("libpipework_win32.so");
    trials.push(Trial::test("python_ctypes_example", move || {
        python_example(&so)
    }));
    libtest_mimic::run(&args, trials).exit()
}

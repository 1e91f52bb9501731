//! The C boundary's safety net: a panic under an exported function fails the call (FALSE and
//! `ERROR_INTERNAL_ERROR`) instead of aborting the process, and every exported function goes
//! through it.

use pipework_win32::boundary::{guard, ERROR_INTERNAL_ERROR};
use pipework_win32::{GetLastError, SetLastError, FALSE, TRUE};

#[test]
fn a_panic_fails_the_call_and_the_process_goes_on() {
    SetLastError(0);
    let r = guard(FALSE, || -> i32 {
        panic!("a bug under an extern \"C\" function")
    });
    assert_eq!(r, FALSE);
    assert_eq!(GetLastError(), ERROR_INTERNAL_ERROR);
    // What did not panic returns its value and leaves the last error alone.
    SetLastError(7);
    assert_eq!(guard(FALSE, || TRUE), TRUE);
    assert_eq!(GetLastError(), 7);
    // The table and the rest of the library still work after one.
    let (mut r, mut w) = (std::ptr::null_mut(), std::ptr::null_mut());
    // SAFETY: two writable HANDLEs, no security attributes.
    let made = unsafe { pipework_win32::CreatePipe(&mut r, &mut w, std::ptr::null(), 0) };
    assert_eq!(made, TRUE);
    assert_eq!(pipework_win32::CloseHandle(r), TRUE);
    assert_eq!(pipework_win32::CloseHandle(w), TRUE);
}

/// Every `extern "C" fn` in the crate runs its body in `crate::boundary::guard`, but those
/// that cannot panic and that the guard itself uses, and one that never returns.
#[test]
fn every_exported_function_is_guarded() {
    let exempt = ["GetLastError", "SetLastError", "ExitProcess"];
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            if !(line.starts_with("pub extern \"C\" fn ")
                || line.starts_with("pub unsafe extern \"C\" fn "))
            {
                continue;
            }
            let name = line.split("fn ").nth(1).unwrap().split('(').next().unwrap();
            if exempt.contains(&name) {
                continue;
            }
            let open = (i..lines.len()).find(|&j| lines[j].ends_with('{')).unwrap();
            assert!(
                lines[open + 1]
                    .trim_start()
                    .starts_with("crate::boundary::guard("),
                "{}: {name} does not run its body in crate::boundary::guard",
                path.display()
            );
            checked += 1;
        }
    }
    assert!(checked > 150, "only {checked} exported functions found");
}

//! The C boundary's safety net: every exported function runs its body through [`guard`], so
//! that a panic in Rust (a bug: pipework never panics on bad input) does not unwind into C,
//! which would abort the host process. The call fails as Win32 calls fail instead: the
//! function's failure value (FALSE, NULL, `INVALID_HANDLE_VALUE`, `WAIT_FAILED`, ...) and
//! `ERROR_INTERNAL_ERROR` as the thread's last error.

use std::panic::{catch_unwind, AssertUnwindSafe};

/// `ERROR_INTERNAL_ERROR`: what a call that panicked leaves as the last error.
pub const ERROR_INTERNAL_ERROR: u32 = 1359;

/// Runs `body`; if it panics, sets `ERROR_INTERNAL_ERROR` and returns `failed`. Free of cost
/// when nothing panics (the unwinding tables are only read when something does).
#[inline(always)]
pub fn guard<R>(failed: R, body: impl FnOnce() -> R) -> R {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(r) => r,
        Err(_) => {
            crate::error::SetLastError(ERROR_INTERNAL_ERROR);
            failed
        }
    }
}

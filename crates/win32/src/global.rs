//! `GlobalAlloc` and its kin: the memory blocks Windows clipboard code hands around
//! (`SetClipboardData`, `GetClipboardData`). Plain process memory, no IPC.
//!
//! A `GMEM_FIXED` block's handle is its address (16-byte aligned); a `GMEM_MOVEABLE` block's
//! handle is a number that is 4 past a multiple of 16, so it is never an address of a fixed
//! block, and `GlobalLock` gives the address. Blocks never move.

use std::alloc::Layout;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};

use crate::error::{self, ERROR_INVALID_HANDLE, ERROR_NOT_ENOUGH_MEMORY, ERROR_SUCCESS};
use crate::types::*;

const GMEM_MOVEABLE: u32 = 0x0002;
const ERROR_NOT_LOCKED: u32 = 158;

#[derive(Debug)]
struct Block {
    ptr: usize,
    size: usize,
    locks: u32,
}

fn layout(size: usize) -> Option<Layout> {
    Layout::from_size_align(size.max(1), 16).ok()
}

fn blocks() -> MutexGuard<'static, HashMap<usize, Block>> {
    static B: OnceLock<Mutex<HashMap<usize, Block>>> = OnceLock::new();
    B.get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

static NEXT: AtomicUsize = AtomicUsize::new(1);

/// A new block holding a copy of `data` (for `GetClipboardData`): its handle.
pub(crate) fn alloc_with(data: &[u8]) -> HANDLE {
    let h = GlobalAlloc(GMEM_MOVEABLE, data.len());
    if let Some(b) = blocks().get(&(h as usize)) {
        // SAFETY: the block holds `data.len()` bytes just allocated.
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), b.ptr as *mut u8, data.len()) };
    }
    h
}

/// The bytes of block `h` (for `SetClipboardData`); `None` for no such block.
pub(crate) fn bytes_of(h: HANDLE) -> Option<Vec<u8>> {
    let b = blocks();
    let b = b.get(&(h as usize))?;
    // SAFETY: the block holds `size` bytes, alive while it is in the table (locked here).
    Some(unsafe { std::slice::from_raw_parts(b.ptr as *const u8, b.size) }.to_vec())
}

/// Frees block `h`; whether it was one.
pub(crate) fn free(h: HANDLE) -> bool {
    let Some(b) = blocks().remove(&(h as usize)) else {
        return false;
    };
    if let Some(l) = layout(b.size) {
        // SAFETY: allocated by GlobalAlloc with this layout, and just removed from the table.
        unsafe { std::alloc::dealloc(b.ptr as *mut u8, l) };
    }
    true
}

/// `GlobalAlloc`: zeroed memory, `GMEM_FIXED` (the handle is the address) or `GMEM_MOVEABLE`.
#[no_mangle]
pub extern "C" fn GlobalAlloc(flags: u32, size: usize) -> HANDLE {
    crate::boundary::guard(std::ptr::null_mut(), move || {
        let Some(l) = layout(size) else {
            error::SetLastError(ERROR_NOT_ENOUGH_MEMORY);
            return std::ptr::null_mut();
        };
        // SAFETY: a non-zero size with a valid alignment.
        let ptr = unsafe { std::alloc::alloc_zeroed(l) } as usize;
        if ptr == 0 {
            error::SetLastError(ERROR_NOT_ENOUGH_MEMORY);
            return std::ptr::null_mut();
        }
        let h = if flags & GMEM_MOVEABLE != 0 {
            (NEXT.fetch_add(1, Ordering::Relaxed) << 4) | 4
        } else {
            ptr
        };
        blocks().insert(
            h,
            Block {
                ptr,
                size,
                locks: 0,
            },
        );
        h as HANDLE
    })
}

/// `GlobalLock`: the block's address (NULL and `ERROR_INVALID_HANDLE` for no block).
#[no_mangle]
pub extern "C" fn GlobalLock(h: HANDLE) -> *mut core::ffi::c_void {
    crate::boundary::guard(std::ptr::null_mut(), move || {
        match blocks().get_mut(&(h as usize)) {
            Some(b) => {
                b.locks = b.locks.saturating_add(1);
                b.ptr as *mut core::ffi::c_void
            }
            None => {
                error::SetLastError(ERROR_INVALID_HANDLE);
                std::ptr::null_mut()
            }
        }
    })
}

/// `GlobalUnlock`: TRUE while still locked; FALSE with `NO_ERROR` once unlocked,
/// `ERROR_NOT_LOCKED` when it was not locked.
#[no_mangle]
pub extern "C" fn GlobalUnlock(h: HANDLE) -> BOOL {
    crate::boundary::guard(FALSE, move || match blocks().get_mut(&(h as usize)) {
        Some(b) if b.locks == 0 => {
            error::SetLastError(ERROR_NOT_LOCKED);
            FALSE
        }
        Some(b) => {
            b.locks -= 1;
            if b.locks > 0 {
                TRUE
            } else {
                error::SetLastError(ERROR_SUCCESS);
                FALSE
            }
        }
        None => {
            error::SetLastError(ERROR_INVALID_HANDLE);
            FALSE
        }
    })
}

/// `GlobalSize`: the block's size; 0 and `ERROR_INVALID_HANDLE` for no block.
#[no_mangle]
pub extern "C" fn GlobalSize(h: HANDLE) -> usize {
    crate::boundary::guard(0, move || match blocks().get(&(h as usize)) {
        Some(b) => b.size,
        None => {
            error::SetLastError(ERROR_INVALID_HANDLE);
            0
        }
    })
}

/// `GlobalFree`: NULL once freed; the handle and `ERROR_INVALID_HANDLE` for no block.
#[no_mangle]
pub extern "C" fn GlobalFree(h: HANDLE) -> HANDLE {
    crate::boundary::guard(std::ptr::null_mut(), move || {
        if h.is_null() || free(h) {
            std::ptr::null_mut()
        } else {
            error::SetLastError(ERROR_INVALID_HANDLE);
            h
        }
    })
}

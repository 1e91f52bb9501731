//! The global atom table: short strings shared by every process of the session, each known by a
//! 16-bit number (an atom), with reference counts; and `RegisterClipboardFormat` on it.
//!
//! ```
//! use pipework::atom;
//!
//! let a = atom::add("pipework-doc-Atom")?;
//! assert!(a.is_string());
//! assert_eq!(atom::find("PIPEWORK-DOC-ATOM")?, Some(a)); // case-insensitive
//! assert_eq!(atom::name(a)?, "pipework-doc-Atom"); // the case of the first add
//! atom::delete(a)?;
//!
//! let seven = atom::add("#7")?; // an integer atom: no table entry
//! assert_eq!((seven.get(), atom::name(seven)?.as_str()), (7, "#7"));
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! | Win32 | pipework |
//! |---|---|
//! | `GlobalAddAtom` | [`add`], [`AtomTable::add`] |
//! | `GlobalFindAtom` | [`find`], [`AtomTable::find`] (`None`: `ERROR_FILE_NOT_FOUND`) |
//! | `GlobalGetAtomName` | [`name`], [`AtomTable::name`] |
//! | `GlobalDeleteAtom` | [`delete`], [`AtomTable::delete`] |
//! | `MAKEINTATOM(n)` | [`Atom::new`] with `n` below [`MAXINTATOM`] |
//! | `RegisterClipboardFormat` / `GetClipboardFormatName` | [`register_clipboard_format`] / [`clipboard_format_name`] |
//!
//! # The rules
//! * **Integer atoms** `1..0xC000`: a name `#n` (decimal digits only) is the integer atom `n`;
//!   it takes no room in the table, [`add`] and [`delete`] of it do nothing, and its name is
//!   `#n`. `#0`, and `#n` with `n` at or past `0xC000`, are `InvalidInput`.
//! * **String atoms** `0xC000..=0xFFFF`: up to 255 characters (UTF-16 units, as Win32 counts
//!   them), not empty. Names are compared as Win32 compares them, case-insensitively
//!   ([`crate::name::fold`]); the table keeps the case of the name's first [`add`].
//! * **Reference counts**: every [`add`] of a name counts once more, every [`delete`] once less;
//!   at zero the atom is gone and its number may later be given to another name. A count that
//!   reaches `u32::MAX` pins the atom for good, and registered clipboard formats are pinned from
//!   the start (Win32 never deletes them).
//!
//! # Where it lives
//! The table is the named mapping `Local\pipework.atom-table` of this user, guarded by the named
//! mutex `Local\pipework.atom-table.lock` (both from [`crate::mapping`] and [`crate::sync`], so
//! the object layer's rules hold: this user's only, reclaimed after a crash). A process keeps
//! both open from its first call until it exits, so the table lives **as long as any process
//! that used it is running** (Win32's lives as long as the session); when the last one exits, the
//! next starts an empty table. A holder that died mid-change leaves the mutex abandoned: the next
//! one checks every entry and drops the ones left half-written.
//!
//! Every byte read from the table is checked before use (bounds, lengths, states, UTF-8): a
//! table that another process of this user scribbled over gives `InvalidData` naming the
//! table, never a panic and never a wait longer than the lock's bounded one.
//!
//! Other tables of the same shape (an application's own, a test's) are [`AtomTable::open`]ed by
//! name.

use std::fmt;
use std::io::{self, ErrorKind};
use std::sync::{Arc, Mutex as ProcessMutex};
use std::time::Duration;

use crate::mapping::{Access, FileMapping, View};
use crate::name::fold;
use crate::sync::Mutex;
use crate::sys::error::{error, invalid};

/// The first string atom; integer atoms are below it (`MAXINTATOM`).
pub const MAXINTATOM: u16 = 0xC000;
/// The longest atom name, in UTF-16 units.
pub const MAX_ATOM_LEN: usize = 255;
/// The name of the session's global atom table.
pub const GLOBAL_TABLE: &str = r"Local\pipework.atom-table";

/// How long an operation waits for another process holding the table's lock.
const LOCK_WAIT: Duration = Duration::from_secs(5);

const MAGIC: u32 = u32::from_le_bytes(*b"PWAT");
const VERSION: u32 = 1;
const SLOTS: usize = 0x1_0000 - MAXINTATOM as usize;
const HEADER: usize = 64;
const SLOT_BYTES: usize = 16;
const HEAP_AT: usize = HEADER + SLOTS * SLOT_BYTES;
const HEAP: usize = 1 << 20;
const TABLE_BYTES: usize = HEAP_AT + HEAP;
/// The longest name in UTF-8 bytes (255 UTF-16 units of up to 3 bytes each).
const MAX_NAME_BYTES: usize = MAX_ATOM_LEN * 3;

const EMPTY: u32 = 0;
const LIVE: u32 = 1;
const DELETED: u32 = 2;
const PINNED: u32 = u32::MAX;

/// An atom: a 16-bit number standing for a string (`ATOM`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Atom(u16);

impl Atom {
    /// The atom numbered `value`; `None` for 0, which is no atom.
    pub const fn new(value: u16) -> Option<Atom> {
        if value == 0 {
            None
        } else {
            Some(Atom(value))
        }
    }

    /// Its number.
    pub const fn get(self) -> u16 {
        self.0
    }

    /// Whether it is an integer atom (`1..0xC000`).
    pub const fn is_integer(self) -> bool {
        self.0 < MAXINTATOM
    }

    /// Whether it is a string atom (`0xC000..=0xFFFF`).
    pub const fn is_string(self) -> bool {
        self.0 >= MAXINTATOM
    }
}

impl From<Atom> for u16 {
    fn from(atom: Atom) -> u16 {
        atom.0
    }
}

impl fmt::Display for Atom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#06x}", self.0)
    }
}

/// What a name stands for: an integer atom or a string to look up.
enum Parsed<'a> {
    Integer(Atom),
    Text(&'a str),
}

fn parse<'a>(label: &str, name: &'a str) -> io::Result<Parsed<'a>> {
    if name.is_empty() {
        return Err(invalid(label, "an atom name cannot be empty"));
    }
    if let Some(digits) = name.strip_prefix('#') {
        if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            let value: u32 = digits.trim_start_matches('0').parse().unwrap_or(
                if digits.trim_start_matches('0').is_empty() {
                    0
                } else {
                    u32::MAX
                },
            );
            if value == 0 || value >= u32::from(MAXINTATOM) {
                return Err(invalid(
                    label,
                    format_args!("integer atom {name:?} is outside 1..{MAXINTATOM:#x}"),
                ));
            }
            return Ok(Parsed::Integer(Atom(value as u16)));
        }
    }
    let units = name.encode_utf16().count();
    if units > MAX_ATOM_LEN {
        return Err(invalid(
            label,
            format_args!("an atom name is at most {MAX_ATOM_LEN} characters; this one has {units}"),
        ));
    }
    Ok(Parsed::Text(name))
}

/// FNV-1a of a folded name.
fn hash(folded: &str) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in folded.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// One slot of the table, as read (and checked) from shared memory.
#[derive(Clone, Copy, Debug, Default)]
struct Slot {
    state: u32,
    refs: u32,
    hash: u32,
    /// Where its name starts in the heap, and its length in bytes.
    off: u32,
    len: u32,
}

/// An atom table in a named mapping: the global one ([`AtomTable::global`]) or another by name.
#[derive(Debug)]
pub struct AtomTable {
    label: String,
    // Kept open: the table lives while a holder does.
    _mapping: FileMapping,
    view: View,
    lock: Mutex,
}

/// The process's handle to the global table, opened at first use and kept.
static GLOBAL: ProcessMutex<Option<Arc<AtomTable>>> = ProcessMutex::new(None);

impl AtomTable {
    /// The session's global atom table ([`GLOBAL_TABLE`]), opened at this process's first use
    /// and kept open until it exits.
    pub fn global() -> io::Result<Arc<AtomTable>> {
        let mut held = GLOBAL.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(table) = held.as_ref() {
            return Ok(table.clone());
        }
        let table = Arc::new(AtomTable::open(GLOBAL_TABLE)?);
        *held = Some(table.clone());
        Ok(table)
    }

    /// Creates or opens the atom table in the named mapping `name` (an object name as
    /// [`FileMapping::create`] takes it), with its lock in the mutex `name.lock`.
    pub fn open(name: &str) -> io::Result<AtomTable> {
        let label = if name == GLOBAL_TABLE {
            "global atom table".to_string()
        } else {
            format!("atom table {name}")
        };
        let lock = Mutex::create(&format!("{name}.lock"), false)?;
        let mapping = FileMapping::create(name, TABLE_BYTES as u64)?;
        let size = mapping.size()?;
        if size != TABLE_BYTES as u64 {
            return Err(error(
                ErrorKind::InvalidData,
                &label,
                format_args!("its mapping is {size} bytes, not the {TABLE_BYTES} of a table"),
            ));
        }
        let view = mapping.map_view(Access::Write, 0, 0)?;
        Ok(AtomTable {
            label,
            _mapping: mapping,
            view,
            lock,
        })
    }

    fn corrupt(&self, what: impl fmt::Display) -> io::Error {
        error(
            ErrorKind::InvalidData,
            &self.label,
            format_args!("the table is damaged: {what}"),
        )
    }

    /// Runs `f` with the table locked, checked and (if new) initialised.
    fn locked<T>(&self, f: impl FnOnce(&mut Locked<'_>) -> io::Result<T>) -> io::Result<T> {
        let guard = self.lock.lock_timeout(LOCK_WAIT)?.ok_or_else(|| {
            error(
                ErrorKind::TimedOut,
                &self.label,
                format_args!("another process held its lock for more than {LOCK_WAIT:?}"),
            )
        })?;
        let header: [u32; 4] = self.view.read_pod(0)?;
        let mut locked = Locked {
            table: self,
            heap_used: header[2],
        };
        if header == [0; 4] {
            self.view.write_pod(0, &[MAGIC, VERSION, 0u32, 0u32])?;
        } else if header[0] != MAGIC || header[1] != VERSION {
            return Err(self.corrupt("its header is not an atom table's"));
        } else if header[2] as usize > HEAP {
            return Err(self.corrupt(format_args!("heap use {} is past its end", header[2])));
        }
        if guard.abandoned() {
            locked.repair()?;
        }
        let result = f(&mut locked);
        drop(guard);
        result
    }

    /// `GlobalAddAtom`: the atom for `name`, added with a count of 1 if missing, else counted
    /// once more. `#n` gives the integer atom `n` and changes nothing.
    pub fn add(&self, name: &str) -> io::Result<Atom> {
        match parse(&self.label, name)? {
            Parsed::Integer(atom) => Ok(atom),
            Parsed::Text(text) => self.locked(|t| t.add(text, false)),
        }
    }

    /// `GlobalFindAtom`: the atom for `name` without changing its count; `None` when the table
    /// has no such name. `#n` gives the integer atom `n`.
    pub fn find(&self, name: &str) -> io::Result<Option<Atom>> {
        match parse(&self.label, name)? {
            Parsed::Integer(atom) => Ok(Some(atom)),
            Parsed::Text(text) => self.locked(|t| {
                let folded = fold(text);
                Ok(t.lookup(&folded)?.0.map(|i| Atom(MAXINTATOM + i as u16)))
            }),
        }
    }

    /// `GlobalGetAtomName`: the name of `atom` (`#n` for an integer atom); `NotFound` for a
    /// string atom the table does not hold.
    pub fn name(&self, atom: Atom) -> io::Result<String> {
        if atom.is_integer() {
            return Ok(format!("#{}", atom.0));
        }
        self.locked(|t| {
            let index = usize::from(atom.0 - MAXINTATOM);
            let slot = t.slot(index)?;
            if slot.state != LIVE {
                return Err(t.table.missing(atom));
            }
            t.name_of(index, &slot)
        })
    }

    /// The reference count of `atom` (`u32::MAX`: pinned); `NotFound` for a string atom the
    /// table does not hold. Integer atoms have no count (`None`).
    pub fn ref_count(&self, atom: Atom) -> io::Result<Option<u32>> {
        if atom.is_integer() {
            return Ok(None);
        }
        self.locked(|t| {
            let slot = t.slot(usize::from(atom.0 - MAXINTATOM))?;
            if slot.state != LIVE {
                return Err(t.table.missing(atom));
            }
            Ok(Some(slot.refs))
        })
    }

    /// `GlobalDeleteAtom`: counts `atom` once less, and removes it at zero. Nothing for an
    /// integer atom or a pinned one; `NotFound` for a string atom the table does not hold.
    pub fn delete(&self, atom: Atom) -> io::Result<()> {
        if atom.is_integer() {
            return Ok(());
        }
        self.locked(|t| {
            let index = usize::from(atom.0 - MAXINTATOM);
            let mut slot = t.slot(index)?;
            if slot.state != LIVE {
                return Err(t.table.missing(atom));
            }
            match slot.refs {
                PINNED => {}
                0 | 1 => {
                    slot.state = DELETED;
                    slot.refs = 0;
                }
                n => slot.refs = n - 1,
            }
            t.put(index, &slot)
        })
    }

    /// `RegisterClipboardFormat` on this table: the format number of `name` (a string atom, so
    /// `0xC000..=0xFFFF`), the same in every process; it is never deleted. Names that read as
    /// integer atoms (`#n`) are `InvalidInput`, since their numbers are the standard formats'.
    pub fn register_clipboard_format(&self, name: &str) -> io::Result<u32> {
        match parse(&self.label, name)? {
            Parsed::Integer(_) => Err(invalid(
                format_args!("clipboard format {name:?}"),
                "a registered format's name cannot be an integer atom (#n)",
            )),
            Parsed::Text(text) => self.locked(|t| t.add(text, true)).map(|a| u32::from(a.0)),
        }
    }

    fn missing(&self, atom: Atom) -> io::Error {
        error(
            ErrorKind::NotFound,
            &self.label,
            format_args!("no atom {atom}"),
        )
    }
}

/// The table while its lock is held.
struct Locked<'a> {
    table: &'a AtomTable,
    heap_used: u32,
}

impl Locked<'_> {
    fn slot(&self, index: usize) -> io::Result<Slot> {
        let raw: [u32; 4] = self.table.view.read_pod(HEADER + index * SLOT_BYTES)?;
        let slot = Slot {
            state: raw[0] & 0xFFFF,
            len: raw[0] >> 16,
            refs: raw[1],
            hash: raw[2],
            off: raw[3],
        };
        match slot.state {
            EMPTY | DELETED => Ok(slot),
            LIVE => {
                let (off, len) = (slot.off as usize, slot.len as usize);
                if len == 0 || len > MAX_NAME_BYTES || off > HEAP || len > HEAP - off {
                    return Err(self.table.corrupt(format_args!(
                        "entry {index} names {len} bytes at {off} of a {HEAP}-byte heap"
                    )));
                }
                Ok(slot)
            }
            other => Err(self
                .table
                .corrupt(format_args!("entry {index} has state {other}"))),
        }
    }

    fn put(&self, index: usize, slot: &Slot) -> io::Result<()> {
        let raw = [
            slot.state | (slot.len << 16),
            slot.refs,
            slot.hash,
            slot.off,
        ];
        self.table.view.write_pod(HEADER + index * SLOT_BYTES, &raw)
    }

    fn name_of(&self, index: usize, slot: &Slot) -> io::Result<String> {
        let mut bytes = vec![0; slot.len as usize];
        self.table
            .view
            .read(HEAP_AT + slot.off as usize, &mut bytes)?;
        String::from_utf8(bytes).map_err(|_| {
            self.table
                .corrupt(format_args!("entry {index} is not UTF-8"))
        })
    }

    /// The slot holding `folded`, and the first free slot on its probe path.
    fn lookup(&self, folded: &str) -> io::Result<(Option<usize>, Option<usize>)> {
        let h = hash(folded);
        let start = h as usize % SLOTS;
        let mut free = None;
        for step in 0..SLOTS {
            let index = (start + step) % SLOTS;
            let slot = self.slot(index)?;
            match slot.state {
                EMPTY => {
                    return Ok((None, free.or(Some(index))));
                }
                DELETED => {
                    free.get_or_insert(index);
                }
                _ => {
                    if slot.hash == h && fold(&self.name_of(index, &slot)?) == folded {
                        return Ok((Some(index), free));
                    }
                }
            }
        }
        Ok((None, free))
    }

    fn add(&mut self, text: &str, pin: bool) -> io::Result<Atom> {
        let folded = fold(text);
        let (found, free) = self.lookup(&folded)?;
        if let Some(index) = found {
            let mut slot = self.slot(index)?;
            slot.refs = if pin {
                PINNED
            } else {
                slot.refs.saturating_add(1)
            };
            self.put(index, &slot)?;
            return Ok(Atom(MAXINTATOM + index as u16));
        }
        let Some(index) = free else {
            return Err(error(
                ErrorKind::OutOfMemory,
                &self.table.label,
                format_args!("all {SLOTS} string atoms are in use"),
            ));
        };
        let bytes = text.as_bytes();
        if self.heap_used as usize + bytes.len() > HEAP {
            self.compact()?;
            if self.heap_used as usize + bytes.len() > HEAP {
                return Err(error(
                    ErrorKind::OutOfMemory,
                    &self.table.label,
                    "its names fill its heap",
                ));
            }
        }
        let off = self.heap_used;
        self.table.view.write(HEAP_AT + off as usize, bytes)?;
        self.set_heap_used(off + bytes.len() as u32)?;
        // The slot is written last: a holder dying before this leaves only unused heap bytes.
        self.put(
            index,
            &Slot {
                state: LIVE,
                refs: if pin { PINNED } else { 1 },
                hash: hash(&folded),
                off,
                len: bytes.len() as u32,
            },
        )?;
        Ok(Atom(MAXINTATOM + index as u16))
    }

    fn set_heap_used(&mut self, used: u32) -> io::Result<()> {
        self.heap_used = used;
        self.table.view.write_pod(8, &used)
    }

    /// Packs the live names to the start of the heap.
    fn compact(&mut self) -> io::Result<()> {
        let mut live = Vec::new();
        for index in 0..SLOTS {
            let slot = self.slot(index)?;
            if slot.state == LIVE {
                live.push((index, slot, self.name_of(index, &slot)?));
            }
        }
        let mut off = 0u32;
        for (index, mut slot, name) in live {
            self.table
                .view
                .write(HEAP_AT + off as usize, name.as_bytes())?;
            slot.off = off;
            self.put(index, &slot)?;
            off += slot.len;
        }
        self.set_heap_used(off)
    }

    /// After a holder died mid-change: drops entries whose bytes do not match their hash, and
    /// recounts the heap's use.
    fn repair(&mut self) -> io::Result<()> {
        let mut end = 0;
        for index in 0..SLOTS {
            // An entry that does not even check out is dropped like a half-written one.
            let mut slot = self.slot(index).unwrap_or(Slot {
                state: DELETED,
                ..Slot::default()
            });
            let keep = slot.state == LIVE
                && self
                    .name_of(index, &slot)
                    .map(|n| hash(&fold(&n)) == slot.hash)
                    .unwrap_or(false);
            if keep {
                end = end.max(slot.off + slot.len);
            } else if slot.state != EMPTY || slot.len != 0 {
                slot.state = DELETED;
                slot.refs = 0;
                self.put(index, &slot)?;
            }
        }
        self.set_heap_used(end)
    }
}

/// `GlobalAddAtom` on the session's table: see [`AtomTable::add`].
pub fn add(name: &str) -> io::Result<Atom> {
    AtomTable::global()?.add(name)
}

/// `GlobalFindAtom` on the session's table: see [`AtomTable::find`].
pub fn find(name: &str) -> io::Result<Option<Atom>> {
    AtomTable::global()?.find(name)
}

/// `GlobalGetAtomName` on the session's table: see [`AtomTable::name`].
pub fn name(atom: Atom) -> io::Result<String> {
    AtomTable::global()?.name(atom)
}

/// `GlobalDeleteAtom` on the session's table: see [`AtomTable::delete`].
pub fn delete(atom: Atom) -> io::Result<()> {
    AtomTable::global()?.delete(atom)
}

/// The reference count of `atom` in the session's table: see [`AtomTable::ref_count`].
pub fn ref_count(atom: Atom) -> io::Result<Option<u32>> {
    AtomTable::global()?.ref_count(atom)
}

/// `RegisterClipboardFormat`: the format number of `name` in the session's table, the same in
/// every process (see [`AtomTable::register_clipboard_format`]).
pub fn register_clipboard_format(name: &str) -> io::Result<u32> {
    AtomTable::global()?.register_clipboard_format(name)
}

/// `GetClipboardFormatName`: the name a registered format number stands for; `NotFound` when
/// no format has it (standard formats, `0xC000` and up never registered).
pub fn clipboard_format_name(format: u32) -> io::Result<String> {
    let not_registered = || {
        error(
            ErrorKind::NotFound,
            format_args!("clipboard format {format:#x}"),
            "it is not a registered format",
        )
    };
    let atom = u16::try_from(format)
        .ok()
        .and_then(Atom::new)
        .filter(|a| a.is_string())
        .ok_or_else(not_registered)?;
    AtomTable::global()?.name(atom).map_err(|e| {
        if e.kind() == ErrorKind::NotFound {
            not_registered()
        } else {
            e
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_integer_atoms_and_lengths() {
        let p = |s: &str| parse("t", s).map(|p| matches!(p, Parsed::Integer(_)));
        assert!(p("#1").unwrap());
        assert!(p("#0049151").unwrap());
        assert_eq!(p("#0").unwrap_err().kind(), ErrorKind::InvalidInput);
        assert_eq!(p("#49152").unwrap_err().kind(), ErrorKind::InvalidInput);
        assert_eq!(
            p("#99999999999999999999").unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
        assert!(!p("#12a").unwrap());
        assert!(!p("#").unwrap());
        assert_eq!(p("").unwrap_err().kind(), ErrorKind::InvalidInput);
        assert!(!p(&"é".repeat(255)).unwrap());
        assert_eq!(
            p(&"x".repeat(256)).unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
    }
}

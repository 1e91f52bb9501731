//! The global atom table across processes: shared atoms, reference counts, case-insensitive
//! names, integer atoms, limits, registered clipboard formats, and tables damaged by another
//! process or left mid-change by a holder that died.

mod common;

use std::io::ErrorKind;
use std::process::Stdio;

use common::{child, err_kind, output_of};
use pipework::atom::{self, Atom, AtomTable, MAXINTATOM};
use pipework::mapping::{Access, FileMapping};
use pipework::sync::Mutex;

fn main() {
    common::main(
        &[
            (
                "atom_added_here_is_found_named_and_counted_in_another_process",
                atom_added_here_is_found_named_and_counted_in_another_process,
            ),
            (
                "names_compare_as_win32_upcases_them",
                names_compare_as_win32_upcases_them,
            ),
            ("integer_atoms_take_no_entry", integer_atoms_take_no_entry),
            (
                "names_are_1_to_255_characters",
                names_are_1_to_255_characters,
            ),
            (
                "registered_clipboard_format_is_the_same_in_every_process",
                registered_clipboard_format_is_the_same_in_every_process,
            ),
            (
                "damaged_table_is_refused_not_trusted",
                damaged_table_is_refused_not_trusted,
            ),
            (
                "half_written_entry_of_a_dead_holder_is_dropped",
                half_written_entry_of_a_dead_holder_is_dropped,
            ),
            (
                "many_processes_adding_the_same_name_get_one_atom",
                many_processes_adding_the_same_name_get_one_atom,
            ),
        ],
        &[
            ("find_name_add", find_name_add),
            ("delete", delete_role),
            ("register", register_role),
            ("add_print", add_print),
            ("die_mid_change", die_mid_change),
        ],
    );
}

fn run(role: &str, args: &[&str]) -> String {
    output_of(
        child(role)
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    )
    .trim()
    .to_string()
}

fn unique(what: &str) -> String {
    format!("pw-test-{}-{what}", std::process::id())
}

// Child: finds args[0], prints the atom and its name, then adds it (one more reference).
fn find_name_add(args: &[String]) {
    let found = atom::find(&args[0])
        .unwrap()
        .expect("the atom is in the table");
    let name = atom::name(found).unwrap();
    let added = atom::add(&args[0]).unwrap();
    assert_eq!(added, found);
    println!("{} {name}", found.get());
}

fn delete_role(args: &[String]) {
    let atom = Atom::new(args[0].parse().unwrap()).unwrap();
    atom::delete(atom).unwrap();
    println!("{:?}", atom::find(&args[1]).unwrap().map(Atom::get));
}

fn register_role(args: &[String]) {
    println!("{}", atom::register_clipboard_format(&args[0]).unwrap());
}

fn add_print(args: &[String]) {
    let table = AtomTable::open(&args[0]).unwrap();
    println!("{}", table.add(&args[1]).unwrap().get());
}

fn atom_added_here_is_found_named_and_counted_in_another_process() {
    let name = unique("Shared-Atom");
    let a = atom::add(&name).unwrap();
    assert!(a.is_string());
    assert_eq!(atom::ref_count(a).unwrap(), Some(1));
    // Another process finds it under another case, reads the first add's case, adds it again.
    let seen = run("find_name_add", &[&name.to_uppercase()]);
    assert_eq!(seen, format!("{} {name}", a.get()));
    assert_eq!(atom::ref_count(a).unwrap(), Some(2));
    // It takes as many deletes as adds, from any process.
    assert_eq!(
        run("delete", &[&a.get().to_string(), &name]),
        format!("Some({})", a.get())
    );
    assert_eq!(atom::ref_count(a).unwrap(), Some(1));
    atom::delete(a).unwrap();
    assert_eq!(atom::find(&name).unwrap(), None);
    assert_eq!(err_kind(atom::name(a)), ErrorKind::NotFound);
    assert_eq!(err_kind(atom::delete(a)), ErrorKind::NotFound);
}

fn names_compare_as_win32_upcases_them() {
    let base = unique("");
    let a = atom::add(&format!("{base}σασ")).unwrap();
    assert_eq!(atom::find(&format!("{base}ΣΑΣ")).unwrap(), Some(a));
    assert_eq!(atom::find(&format!("{base}ςας")).unwrap(), Some(a));
    let s = atom::add(&format!("{base}straße")).unwrap();
    assert_eq!(atom::find(&format!("{base}STRASSE")).unwrap(), None);
    assert_eq!(atom::find(&format!("{base}STRAßE")).unwrap(), Some(s));
    let k = atom::add(&format!("{base}k")).unwrap();
    assert_ne!(atom::add(&format!("{base}\u{212A}")).unwrap(), k);
}

fn integer_atoms_take_no_entry() {
    let a = atom::add("#123").unwrap();
    assert_eq!(a.get(), 123);
    assert!(a.is_integer());
    assert_eq!(atom::name(a).unwrap(), "#123");
    assert_eq!(atom::find("#0123").unwrap(), Some(a));
    atom::delete(a).unwrap();
    atom::delete(a).unwrap();
    assert_eq!(atom::find("#123").unwrap(), Some(a));
    let top = atom::add(&format!("#{}", MAXINTATOM - 1)).unwrap();
    assert_eq!(top.get(), MAXINTATOM - 1);
    assert_eq!(err_kind(atom::add("#0")), ErrorKind::InvalidInput);
    assert_eq!(
        err_kind(atom::add(&format!("#{MAXINTATOM}"))),
        ErrorKind::InvalidInput
    );
    assert_eq!(err_kind(atom::add("#65536")), ErrorKind::InvalidInput);
    // Not all digits: a string atom.
    assert!(atom::add(&format!("#12{}", unique("x")))
        .unwrap()
        .is_string());
    assert_eq!(Atom::new(0), None);
}

fn names_are_1_to_255_characters() {
    let base = unique("");
    let longest = format!("{base}{}", "é".repeat(255 - base.chars().count()));
    let a = atom::add(&longest).unwrap();
    assert_eq!(atom::name(a).unwrap(), longest);
    let too_long = format!("{longest}x");
    let e = atom::add(&too_long).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert!(e.to_string().contains("global atom table"), "{e}");
    // A character outside the BMP counts as two UTF-16 units, as Win32 counts it.
    let astral = format!("{base}{}", "\u{1F600}".repeat(128));
    assert_eq!(err_kind(atom::add(&astral)), ErrorKind::InvalidInput);
    assert_eq!(err_kind(atom::add("")), ErrorKind::InvalidInput);
    assert_eq!(err_kind(atom::find("")), ErrorKind::InvalidInput);
}

fn registered_clipboard_format_is_the_same_in_every_process() {
    let name = unique("Rich Format");
    let there: u32 = run("register", &[&name]).parse().unwrap();
    assert!((0xC000..=0xFFFF).contains(&there), "{there:#x}");
    assert_eq!(
        atom::register_clipboard_format(&name.to_lowercase()).unwrap(),
        there
    );
    assert_eq!(atom::clipboard_format_name(there).unwrap(), name);
    // Never deleted: a delete of its atom leaves it.
    let a = Atom::new(there as u16).unwrap();
    atom::delete(a).unwrap();
    assert_eq!(run("register", &[&name]).parse::<u32>().unwrap(), there);
    assert_eq!(
        err_kind(atom::clipboard_format_name(13)),
        ErrorKind::NotFound
    );
    assert_eq!(
        err_kind(atom::register_clipboard_format("#13")),
        ErrorKind::InvalidInput
    );
}

fn damaged_table_is_refused_not_trusted() {
    let table_name = format!(r"Local\{}", unique("damaged-table"));
    let table = AtomTable::open(&table_name).unwrap();
    let a = table.add("fine").unwrap();
    let mapping = FileMapping::open(&table_name, Access::Write).unwrap();
    let view = mapping.map_view(Access::Write, 0, 0).unwrap();
    let slot = 64 + usize::from(a.get() - MAXINTATOM) * 16;
    let damage = |offset: usize, value: u32| view.write_pod(offset, &value).unwrap();

    // A slot pointing past the heap.
    let saved: [u32; 4] = view.read_pod(slot).unwrap();
    damage(slot + 12, u32::MAX - 2);
    let e = table.name(a).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidData);
    assert!(e.to_string().contains(&table_name), "{e}");
    assert_eq!(err_kind(table.find("fine")), ErrorKind::InvalidData);
    // An impossible state, then a length past the limit.
    view.write_pod(slot, &saved).unwrap();
    damage(slot, 7);
    assert_eq!(err_kind(table.name(a)), ErrorKind::InvalidData);
    damage(slot, 1 | (60_000 << 16));
    assert_eq!(err_kind(table.name(a)), ErrorKind::InvalidData);
    // Bytes that are not UTF-8.
    view.write_pod(slot, &saved).unwrap();
    let heap = 64 + 16384 * 16;
    view.write(heap + saved[3] as usize, &[0xFF, 0xFE]).unwrap();
    assert_eq!(err_kind(table.name(a)), ErrorKind::InvalidData);
    // A header that is not a table's, and a heap use past the heap.
    damage(8, u32::MAX);
    assert_eq!(err_kind(table.add("other")), ErrorKind::InvalidData);
    damage(0, 0x1234_5678);
    assert_eq!(err_kind(table.add("other")), ErrorKind::InvalidData);
    // A mapping of the wrong size under a table's name.
    let other = format!(r"Local\{}", unique("not-a-table"));
    let _small = FileMapping::create(&other, 4096).unwrap();
    assert_eq!(err_kind(AtomTable::open(&other)), ErrorKind::InvalidData);
}

// Child: takes the table's lock, writes an entry whose name does not match its hash (a change
// cut short), and exits holding the lock.
fn die_mid_change(args: &[String]) {
    let table_name = &args[0];
    let lock = Mutex::open(&format!("{table_name}.lock")).unwrap();
    let guard = lock.lock().unwrap();
    let mapping = FileMapping::open(table_name, Access::Write).unwrap();
    let view = mapping.map_view(Access::Write, 0, 0).unwrap();
    let index: usize = args[1].parse().unwrap();
    let slot = 64 + index * 16;
    view.write_pod(slot, &[1u32 | (4 << 16), 1, 0xDEAD_BEEF, 0])
        .unwrap();
    std::mem::forget(guard);
    println!("done");
    std::process::exit(0);
}

fn half_written_entry_of_a_dead_holder_is_dropped() {
    let table_name = format!(r"Local\{}", unique("abandoned-table"));
    let table = AtomTable::open(&table_name).unwrap();
    let kept = table.add("kept").unwrap();
    let index = 77;
    assert_eq!(
        run("die_mid_change", &[&table_name, &index.to_string()]),
        "done"
    );
    // The next holder repairs: the good entry stays, the half-written one is gone.
    assert_eq!(table.find("KEPT").unwrap(), Some(kept));
    let half = Atom::new(MAXINTATOM + index as u16).unwrap();
    assert_eq!(err_kind(table.name(half)), ErrorKind::NotFound);
    let again = table.add("after").unwrap();
    assert_eq!(table.name(again).unwrap(), "after");
}

fn many_processes_adding_the_same_name_get_one_atom() {
    let table_name = format!(r"Local\{}", unique("race-table"));
    let table = AtomTable::open(&table_name).unwrap();
    let children: Vec<_> = (0..8)
        .map(|_| {
            child("add_print")
                .args([&table_name, "RaceName"])
                .stdout(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let atoms: Vec<String> = children.into_iter().map(output_of).collect();
    let first = atoms[0].trim().to_string();
    assert!(atoms.iter().all(|a| a.trim() == first), "{atoms:?}");
    let a = Atom::new(first.parse().unwrap()).unwrap();
    assert_eq!(table.ref_count(a).unwrap(), Some(8));
}

//! Names: case, clashes, malformed and missing names, long names.

use super::*;

pub(super) fn names_are_case_insensitive() {
    let name = unique("Jobs");
    let mut slot = server(&name);
    let other_case = name.replace("mailslot", "MAILSLOT").to_uppercase();
    assert_eq!(run(sender(&other_case, &["hello"])).0, 0);
    assert_eq!(slot.next_message().unwrap(), b"hello");
    assert_eq!(slot.name(), name);
}

pub(super) fn existing_name_fails() {
    let name = unique("taken");
    let _slot = server(&name);
    let mut c = child("create");
    c.arg(name.to_uppercase());
    let (code, out) = run(c);
    assert_eq!(code, code_of(ErrorKind::AlreadyExists), "{out}");
    assert!(out.to_lowercase().contains(&name.to_lowercase()), "{out}");
    // And in this process too.
    let e = MailslotOptions::new().create(&name).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AlreadyExists);
}

pub(super) fn malformed_names_are_refused() {
    for bad in [
        "jobs",
        r"\\.\pipe\jobs",
        r"\\.\mailslot\",
        r"\\.\mailslot\a\\b",
        r"\\host\mailslot\remote-create",
    ] {
        let e = MailslotOptions::new().create(bad).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{bad}: {e}");
    }
    let e = MailslotClient::open("nonsense").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
}

pub(super) fn missing_slot_is_not_found() {
    let name = unique("nobody");
    let (code, out) = run(sender(&name, &["x"]));
    assert_eq!(code, code_of(ErrorKind::NotFound), "{out}");
    assert!(out.contains(&name), "{out}");
}

pub(super) fn long_names_work() {
    let long = format!("{}{}", unique("long"), r"\deep".repeat(40));
    let mut slot = server(&long);
    assert_eq!(run(sender(&long.to_lowercase(), &["far"])).0, 0);
    assert_eq!(slot.next_message().unwrap(), b"far");
}

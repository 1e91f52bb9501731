//! `pipework list`: this user's named objects that are alive now, of every kind (like PipeList on
//! Windows, for every mechanism): named pipes, shared-memory pipes, mailslots, file mappings and
//! sync objects.

use std::io::{self, Write};

/// Options of `pipework list`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Prints one line per object: its kind, its name, and what is worth knowing about it.
pub fn run(_args: &Args) -> io::Result<()> {
    let mut rows: Vec<(String, String, String)> = Vec::new();
    for p in pipework::named_pipe::list()? {
        let max = p
            .max_instances
            .map_or_else(|| "unlimited".to_string(), |m| m.to_string());
        rows.push((
            "pipe".into(),
            p.name,
            format!(
                "{} {}, {}, {}/{} instances, {} listening",
                format!("{:?}", p.namespace).to_lowercase(),
                format!("{:?}", p.pipe_type).to_lowercase(),
                format!("{:?}", p.access).to_lowercase(),
                p.instances,
                max,
                p.listening
            ),
        ));
    }
    for name in pipework::shm_pipe::list()? {
        rows.push(("shm-pipe".into(), name, "listening".into()));
    }
    for slot in pipework::mailslot::list()? {
        rows.push((
            "mailslot".into(),
            slot.name,
            format!("{} queued", slot.queued),
        ));
    }
    for entry in pipework::mapping::list()? {
        rows.push((
            entry.kind.to_string(),
            entry.name,
            format!("{} bytes, {}", entry.size, entry.path),
        ));
    }
    for entry in pipework::sync::list()? {
        rows.push((entry.kind.to_string(), entry.name, String::new()));
    }
    let mut out = crate::output::stdout();
    writeln!(out, "{:<10} {:<40} details", "kind", "name")?;
    for (kind, name, details) in rows {
        writeln!(out, "{kind:<10} {name:<40} {details}")?;
    }
    out.flush()
}

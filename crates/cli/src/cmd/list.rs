//! `pipework list`: this user's named objects that are alive now, of every kind (like PipeList on
//! Windows, for every mechanism): named pipes, shared-memory pipes, mailslots, file mappings and
//! sync objects.
//!
//! Names are data that other programs chose, so the table shows them escaped
//! ([`output::escape`]): a name cannot move the cursor, ring the bell or forge a row of its own.
//! `--json` gives every name exactly as it is.

use std::io::{self, Write};

use serde_json::{json, Value};

use crate::output::{self, escape};

/// Options of `pipework list`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// One JSON array instead of the table: an object per object, with its `kind`, its `name`
    /// exactly as it is, and what is worth knowing about it.
    #[arg(long)]
    json: bool,
}

/// One object found.
struct Row {
    kind: String,
    name: String,
    /// The table's last column.
    details: String,
    /// The object's fields besides its kind and name, for `--json`.
    fields: Value,
}

/// Prints one line per object (its kind, its name, and what is worth knowing about it), or the
/// JSON array.
pub fn run(args: &Args) -> io::Result<()> {
    let rows = rows()?;
    let mut out = output::stdout();
    if args.json {
        let objects: Vec<Value> = rows
            .into_iter()
            .map(|row| {
                let mut object = json!({ "kind": row.kind, "name": row.name });
                if let (Some(object), Value::Object(fields)) = (object.as_object_mut(), row.fields)
                {
                    object.extend(fields);
                }
                object
            })
            .collect();
        writeln!(out, "{}", Value::Array(objects))?;
        return out.flush();
    }
    writeln!(out, "{:<10} {:<40} details", "kind", "name")?;
    for row in rows {
        writeln!(
            out,
            "{:<10} {:<40} {}",
            escape(&row.kind),
            escape(&row.name),
            escape(&row.details)
        )?;
    }
    out.flush()
}

fn rows() -> io::Result<Vec<Row>> {
    let mut rows = Vec::new();
    for p in pipework::named_pipe::list()? {
        let namespace = format!("{:?}", p.namespace).to_lowercase();
        let pipe_type = format!("{:?}", p.pipe_type).to_lowercase();
        let access = format!("{:?}", p.access).to_lowercase();
        let max = p
            .max_instances
            .map_or_else(|| "unlimited".to_string(), |m| m.to_string());
        rows.push(Row {
            kind: "pipe".into(),
            details: format!(
                "{namespace} {pipe_type}, {access}, {}/{max} instances, {} listening",
                p.instances, p.listening
            ),
            fields: json!({
                "namespace": namespace,
                "type": pipe_type,
                "access": access,
                "instances": p.instances,
                "max_instances": p.max_instances,
                "listening": p.listening,
            }),
            name: p.name,
        });
    }
    for name in pipework::shm_pipe::list()? {
        rows.push(Row {
            kind: "shm-pipe".into(),
            name,
            details: "listening".into(),
            fields: json!({}),
        });
    }
    for slot in pipework::mailslot::list()? {
        rows.push(Row {
            kind: "mailslot".into(),
            details: format!("{} queued", slot.queued),
            fields: json!({ "queued": slot.queued }),
            name: slot.name,
        });
    }
    for entry in pipework::mapping::list()? {
        rows.push(Row {
            kind: entry.kind.to_string(),
            details: format!("{} bytes, {}", entry.size, entry.path),
            fields: json!({ "size": entry.size, "path": entry.path }),
            name: entry.name,
        });
    }
    for entry in pipework::sync::list()? {
        rows.push(Row {
            kind: entry.kind.to_string(),
            name: entry.name,
            details: String::new(),
            fields: json!({}),
        });
    }
    Ok(rows)
}

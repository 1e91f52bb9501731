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

/// The rows, from the library's one listing of every kind ([`pipework::name::list`]).
fn rows() -> io::Result<Vec<Row>> {
    use pipework::name::Facts;
    let mut rows = Vec::new();
    for entry in pipework::name::list()? {
        let kind = entry.kind.as_str().to_string();
        let owner = entry.owner;
        let path = entry.path.display().to_string();
        let row = match entry.facts {
            Facts::Pipe(p) => {
                let namespace = format!("{:?}", p.namespace).to_lowercase();
                let pipe_type = format!("{:?}", p.pipe_type).to_lowercase();
                let access = format!("{:?}", p.access).to_lowercase();
                let max = p
                    .max_instances
                    .map_or_else(|| "unlimited".to_string(), |m| m.to_string());
                Row {
                    kind,
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
                        "owner": owner,
                    }),
                    name: p.name,
                }
            }
            Facts::Mailslot { queued } => Row {
                kind,
                details: format!("{queued} queued"),
                fields: json!({ "queued": queued, "owner": owner }),
                name: entry.name,
            },
            Facts::Mapping { size } => Row {
                kind,
                details: format!("{size} bytes, {path}"),
                fields: json!({ "size": size, "path": path, "owner": owner }),
                name: entry.name,
            },
            _ => Row {
                details: if entry.kind == pipework::name::Kind::ShmPipe {
                    "listening".into()
                } else {
                    String::new()
                },
                kind,
                fields: json!({ "owner": owner }),
                name: entry.name,
            },
        };
        rows.push(row);
    }
    Ok(rows)
}

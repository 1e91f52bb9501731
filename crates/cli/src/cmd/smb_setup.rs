//! `pipework smb-setup`: the smb.conf lines a machine needs so that SMB clients on other machines
//! reach its pipework pipes (`pipework pipe serve NAME --remote`) through Samba.

use std::io::{self, Write};
use std::path::PathBuf;

use crate::output;

/// Options of `pipework smb-setup`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Where smbd looks for pipe sockets (`<DIR>/np/<name>`), and pipework servers bind them.
    #[arg(long, value_name = "DIR", default_value = pipework::named_pipe::SAMBA_SOCKET_DIR)]
    socket_dir: PathBuf,
    /// Write the lines to FILE (to include from smb.conf: `include = FILE` in `[global]`)
    /// instead of printing them.
    #[arg(long, value_name = "FILE")]
    write: Option<PathBuf>,
}

/// The `[global]` lines, for a socket directory `dir`.
fn lines(dir: &std::path::Path) -> String {
    format!(
        "# pipework named pipes through Samba: smbd hands every open of \\\\HOST\\pipe\\NAME on IPC$\n\
         # to the socket {dir}/np/<name in lower case>, where `pipework pipe serve NAME --remote`\n\
         # listens. Clients reach TCP port 445 (open it in the firewall); anonymous clients need\n\
         # the guest mapping below, or give clients an account (smbpasswd -a USER).\n\
         [global]\n\
         \x20  external_rpc_pipe:socket_dir = {dir}\n\
         \x20  map to guest = Bad User\n\
         \x20  restrict anonymous = 0\n",
        dir = dir.display()
    )
}

/// Runs `pipework smb-setup`.
pub fn run(args: &Args) -> io::Result<()> {
    let text = lines(&args.socket_dir);
    match &args.write {
        Some(file) => std::fs::write(file, text)
            .map_err(|e| io::Error::new(e.kind(), format!("smb-setup: {}: {e}", file.display()))),
        None => {
            let mut out = output::stdout();
            out.write_all(text.as_bytes())?;
            out.flush()
        }
    }
}

//! Running the two tools a job network is built with: `ip` (iproute2) and `nft` (nftables).
//!
//! Links, addresses and routes are made with `ip` batches (one process per namespace), the
//! rulesets with `nft -j -f -` fed the JSON the `nftables` crate encodes. Both are found in the
//! system directories even when `PATH` lacks `/usr/sbin`.
//!
//! Must never: pass anything through a shell, or lose a tool's error output (it is the only
//! explanation the user gets).

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use super::error::EgressError;
use super::netns::Netns;

/// A program hrun runs, and the Debian package that installs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tool {
    pub program: &'static str,
    pub package: &'static str,
}

/// iproute2's `ip`.
pub(crate) const IP: Tool = Tool {
    program: "ip",
    package: "iproute2",
};

/// nftables' `nft`.
pub(crate) const NFT: Tool = Tool {
    program: "nft",
    package: "nftables",
};

const SYSTEM_DIRS: [&str; 4] = ["/usr/sbin", "/sbin", "/usr/bin", "/bin"];

impl Tool {
    /// The tool's path, if it is installed.
    pub fn locate(self) -> Option<PathBuf> {
        SYSTEM_DIRS
            .iter()
            .map(|dir| PathBuf::from(dir).join(self.program))
            .find(|path| path.is_file())
            .or_else(|| {
                let path = std::env::var_os("PATH")?;
                std::env::split_paths(&path)
                    .map(|dir| dir.join(self.program))
                    .find(|path| path.is_file())
            })
    }

    fn missing(self) -> EgressError {
        EgressError::ToolMissing {
            tool: self.program,
            package: self.package,
        }
    }

    /// Runs the tool with `args`, feeding it `stdin`, inside `netns` if given (entered in the
    /// child before `exec`). Returns its standard output.
    pub fn run(
        self,
        args: &[&str],
        stdin: Option<&[u8]>,
        netns: Option<&Netns>,
    ) -> Result<String, EgressError> {
        let path = self.locate().ok_or_else(|| self.missing())?;
        let mut command = Command::new(&path);
        command
            .args(args)
            .env("LC_ALL", "C")
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(netns) = netns {
            netns.enter_before_exec(&mut command);
        }
        let command_line = || format!("{} {}", self.program, args.join(" "));
        let mut child = command
            .spawn()
            .map_err(|err| EgressError::io(format!("cannot run `{}`", command_line()), err))?;
        if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
            // A tool that exits early closes the pipe; its exit status then says why.
            let _ = pipe.write_all(input);
        }
        let output = child
            .wait_with_output()
            .map_err(|err| EgressError::io(format!("waiting for `{}`", command_line()), err))?;
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).into_owned())
        } else {
            let stderr = String::from_utf8_lossy(&output.stderr).trim().to_string();
            Err(EgressError::Command {
                command: command_line(),
                stderr: if stderr.is_empty() {
                    format!("exit status {}", output.status)
                } else {
                    stderr
                },
            })
        }
    }
}

/// `ip` arguments that select a namespace: `-n NAME` for a named one, nothing for the runner's.
pub(crate) fn ip_netns_args(netns: &Netns) -> Vec<&str> {
    match netns.name() {
        Some(name) => vec!["-n", name],
        None => Vec::new(),
    }
}

/// Runs `ip -b -` (each line one `ip` command) in `netns`.
pub(crate) fn ip_batch(netns: &Netns, lines: &[String]) -> Result<(), EgressError> {
    let mut args = ip_netns_args(netns);
    args.extend(["-b", "-"]);
    let script = lines.join("\n") + "\n";
    IP.run(&args, Some(script.as_bytes()), None).map(drop)
}

/// Whether a failed command only said that what it should remove is already gone.
pub(crate) fn is_already_gone(err: &EgressError) -> bool {
    match err {
        EgressError::Command { stderr, .. } => [
            "Cannot find device",
            "No such file or directory",
            "does not exist",
            "No such process",
        ]
        .iter()
        .any(|text| stderr.contains(text)),
        _ => false,
    }
}

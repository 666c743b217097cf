//! The external programs an image build runs (mmdebstrap, dpkg-deb, depmod, mkfs.ext4,
//! debugfs, e2fsck, curl, chroot): finding them, running them, and turning a failure into an
//! error that names the program and shows the end of what it printed.

use std::collections::VecDeque;
use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// How many lines of a failed program's output an error shows.
const TAIL_LINES: usize = 25;

/// Why an external program could not do its part.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    #[error(
        "`{program}` is not installed (Debian package `{package}`); run `bash ci/setup-image.sh`"
    )]
    Missing {
        program: &'static str,
        package: &'static str,
    },
    #[error("cannot start `{program}`")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("`{program}` failed ({status}){}", tail_text(.tail))]
    Failed {
        program: String,
        status: String,
        tail: Vec<String>,
    },
}

fn tail_text(tail: &[String]) -> String {
    if tail.is_empty() {
        String::new()
    } else {
        format!("; its last output:\n  {}", tail.join("\n  "))
    }
}

/// A program the build needs and the Debian package that provides it.
#[derive(Debug, Clone, Copy)]
pub struct Tool {
    pub program: &'static str,
    pub package: &'static str,
}

pub const MMDEBSTRAP: Tool = Tool {
    program: "mmdebstrap",
    package: "mmdebstrap",
};
pub const DPKG_DEB: Tool = Tool {
    program: "dpkg-deb",
    package: "dpkg",
};
pub const DEPMOD: Tool = Tool {
    program: "depmod",
    package: "kmod",
};
pub const MKFS_EXT4: Tool = Tool {
    program: "mkfs.ext4",
    package: "e2fsprogs",
};
pub const DEBUGFS: Tool = Tool {
    program: "debugfs",
    package: "e2fsprogs",
};
pub const E2FSCK: Tool = Tool {
    program: "e2fsck",
    package: "e2fsprogs",
};
pub const CURL: Tool = Tool {
    program: "curl",
    package: "curl",
};
pub const CHROOT: Tool = Tool {
    program: "chroot",
    package: "coreutils",
};

/// Every tool a build runs, to check up front rather than fail half-way.
pub const ALL: [Tool; 8] = [
    MMDEBSTRAP, DPKG_DEB, DEPMOD, MKFS_EXT4, DEBUGFS, E2FSCK, CURL, CHROOT,
];

impl Tool {
    /// The program's path: on `PATH`, or in the sbin directories a non-root `PATH` may lack.
    pub fn locate(&self) -> Result<PathBuf, ToolError> {
        let path = std::env::var_os("PATH").unwrap_or_default();
        let dirs = std::env::split_paths(&path)
            .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from));
        for dir in dirs {
            let candidate = dir.join(self.program);
            if is_executable(&candidate) {
                return Ok(candidate);
            }
        }
        Err(ToolError::Missing {
            program: self.program,
            package: self.package,
        })
    }

    /// A command for the program, with a fixed locale so its output and sort order do not
    /// depend on the caller's.
    pub fn command(&self) -> Result<Command, ToolError> {
        let mut cmd = Command::new(self.locate()?);
        cmd.env("LC_ALL", "C.UTF-8");
        Ok(cmd)
    }
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Runs `cmd` to the end with stdin empty; stdout is returned, a failure shows stderr's tail.
pub fn output(cmd: &mut Command) -> Result<Vec<u8>, ToolError> {
    let program = program_name(cmd);
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|source| ToolError::Spawn {
            program: program.clone(),
            source,
        })?;
    if !out.status.success() {
        let text = String::from_utf8_lossy(&out.stderr);
        let mut tail: VecDeque<String> = VecDeque::new();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            push_tail(&mut tail, line);
        }
        return Err(ToolError::Failed {
            program,
            status: out.status.to_string(),
            tail: tail.into(),
        });
    }
    Ok(out.stdout)
}

/// Runs `cmd` with its stdout and stderr merged into lines handed to `on_line` as they come
/// (for a progress display); a failure shows the last lines.
pub fn run_streaming(mut cmd: Command, on_line: &mut dyn FnMut(&str)) -> Result<(), ToolError> {
    let program = program_name(&cmd);
    let spawn_error = |source: std::io::Error| ToolError::Spawn {
        program: program.clone(),
        source,
    };
    let (reader, writer) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|errno| spawn_error(errno.into()))?;
    let writer2 = writer.try_clone().map_err(spawn_error)?;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::from(writer))
        .stderr(Stdio::from(writer2))
        .spawn()
        .map_err(spawn_error)?;
    // The command holds the pipe's write ends; drop it so the pipe closes when the child ends.
    drop(cmd);
    let mut tail = VecDeque::new();
    read_lines(std::fs::File::from(reader), &mut |line| {
        push_tail(&mut tail, line);
        on_line(line);
    });
    let status = child.wait().map_err(spawn_error)?;
    if !status.success() {
        return Err(ToolError::Failed {
            program,
            status: status.to_string(),
            tail: tail.into(),
        });
    }
    Ok(())
}

fn read_lines(reader: impl Read, on_line: &mut dyn FnMut(&str)) {
    let mut reader = BufReader::new(reader);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                let line = String::from_utf8_lossy(&buf);
                let line = line.trim_end();
                if !line.is_empty() {
                    on_line(line);
                }
            }
        }
    }
}

fn push_tail(tail: &mut VecDeque<String>, line: &str) {
    if tail.len() == TAIL_LINES {
        tail.pop_front();
    }
    tail.push_back(line.chars().take(400).collect());
}

fn program_name(cmd: &Command) -> String {
    Path::new(cmd.get_program())
        .file_name()
        .unwrap_or(OsStr::new("?"))
        .to_string_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_tool_names_its_package_and_the_setup_script() {
        let tool = Tool {
            program: "hrun-no-such-program",
            package: "nothing",
        };
        let message = tool.locate().unwrap_err().to_string();
        assert!(message.contains("hrun-no-such-program"), "{message}");
        assert!(message.contains("`nothing`"), "{message}");
        assert!(message.contains("ci/setup-image.sh"), "{message}");
    }

    #[test]
    fn a_failure_shows_the_programs_last_lines() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo first >&2; echo last words >&2; exit 3"]);
        let message = output(&mut cmd).unwrap_err().to_string();
        assert!(
            message.starts_with("`sh` failed (exit status: 3)"),
            "{message}"
        );
        assert!(message.contains("last words"), "{message}");
    }

    #[test]
    fn streaming_hands_over_both_streams_line_by_line() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo one; echo two >&2; printf three"]);
        let mut lines = Vec::new();
        run_streaming(cmd, &mut |l| lines.push(l.to_owned())).unwrap();
        assert_eq!(lines, ["one", "two", "three"]);
    }
}

// SPDX-License-Identifier: GPL-2.0
//! What the report header says about the machine and the run: the kernel
//! release (as `uname -r` prints it), the CPUs this process may use, and
//! the command line, quoted so it can be pasted back into a shell.

use std::ffi::OsString;

/// The running kernel's release, as `uname -r` prints it.
pub fn kernel_release() -> String {
    rustix::system::uname()
        .release()
        .to_string_lossy()
        .into_owned()
}

/// CPUs this process may run on (its affinity mask, within any cgroup
/// quota), or 1 if that cannot be learned.
pub fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// `args` joined by spaces, each quoted for a POSIX shell when it holds
/// anything but plainly safe characters.
pub fn command_line(args: impl IntoIterator<Item = OsString>) -> String {
    args.into_iter()
        .map(|arg| shell_quote(&arg.to_string_lossy()))
        .collect::<Vec<_>>()
        .join(" ")
}

fn shell_quote(arg: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./:=,+@%".contains(c);
    if !arg.is_empty() && arg.chars().all(plain) {
        arg.to_owned()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_arguments_stay_bare_and_others_are_quoted() {
        let args = [
            "tools/target/release/bench",
            "--sizes=1,4K",
            "--json",
            "out dir/r.json",
            "it's",
            "",
        ];
        assert_eq!(
            command_line(args.map(OsString::from)),
            r"tools/target/release/bench --sizes=1,4K --json 'out dir/r.json' 'it'\''s' ''"
        );
    }

    #[test]
    fn the_machine_is_described() {
        assert!(!kernel_release().is_empty());
        assert!(cpus() >= 1);
    }
}

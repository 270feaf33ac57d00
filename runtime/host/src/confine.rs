//! The host process confines itself (`cordon serve`, `cordon run`): wasmtime is a strong
//! boundary, but a bug in it or in cordon's host code would otherwise run with every right the
//! operator's account has. Two layers, applied once, before any other thread exists (Landlock
//! restricts the calling thread and the threads it starts afterwards):
//!
//! - **Landlock**: file access becomes what cordon needs and nothing else. Read: the trust store,
//!   the configuration and policies, the few system files TLS and name resolution read, shared
//!   libraries. Read and write: the data directory and the files cordon writes outside it (a log
//!   key, a checkpoint file). The policies' mounts, each with its own mode. Everything else, and
//!   executing any file, is refused by the kernel.
//! - **seccomp**: the system calls no part of cordon uses are refused (`EPERM`): starting
//!   programs and processes (`execve`, `fork`, `clone` without `CLONE_THREAD`), `ptrace`,
//!   `mount`, `bpf`, module loading, `kexec_*`, `keyctl`, namespaces, `reboot`, ... (see
//!   [`DENIED`]). `clone3` answers `ENOSYS`, so threads are made with `clone` and its flags can be
//!   checked.
//!
//! On by default where the kernel offers it; where it does not, a warning at start and in
//! `/readyz`. `--no-confine` turns it off (a security event). A policy loaded later whose mount
//! lies outside what the process kept is refused until a restart ([`allows`]).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// What the process keeps.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    read: Vec<PathBuf>,
    write: Vec<PathBuf>,
}

/// System files and directories read by the parts of cordon that read the system: name
/// resolution (glibc's resolver and its NSS modules), time zones, the CPU count (std, tokio),
/// CA bundles (the OTLP exporter's HTTPS client verifies with the platform's roots; the
/// operator's own CAs live under `/usr/local/share`), and shared libraries loaded after start.
const SYSTEM_READ: [&str; 20] = [
    "/etc/resolv.conf",
    "/etc/hosts",
    "/etc/nsswitch.conf",
    "/etc/gai.conf",
    "/etc/host.conf",
    "/etc/services",
    "/etc/localtime",
    "/etc/ssl/certs",
    "/etc/ca-certificates",
    "/usr/share/ca-certificates",
    "/usr/local/share/ca-certificates",
    "/usr/share/zoneinfo",
    "/lib",
    "/lib64",
    "/usr/lib",
    "/usr/lib64",
    "/proc/self",
    "/sys/fs/cgroup",
    "/sys/devices/system/cpu",
    "/dev/urandom",
];

impl Plan {
    /// The system's part of the plan; the command adds its own paths.
    pub fn new() -> Self {
        let mut plan = Plan::default();
        for p in SYSTEM_READ {
            plan.read(p);
            // A file that is a link (`/etc/resolv.conf` to a resolver's runtime directory): the
            // directory it points into too, so a resolver replacing the file there is followed.
            if let Ok(target) = std::fs::canonicalize(p)
                && target != Path::new(p)
                && target.is_file()
                && let Some(dir) = target.parent()
            {
                plan.read(dir);
            }
        }
        plan.write("/dev/null");
        plan
    }

    /// Read access beneath `path` (a file or a directory); a path that does not exist is
    /// skipped (nothing there to read).
    pub fn read(&mut self, path: impl AsRef<Path>) {
        self.read.push(path.as_ref().to_owned());
    }

    /// Read and write access beneath `path`.
    pub fn write(&mut self, path: impl AsRef<Path>) {
        self.write.push(path.as_ref().to_owned());
    }

    /// A file cordon writes and may have to create: the file itself when it exists, else the
    /// directory it will be made in.
    pub fn writes_file(&mut self, file: &Path) {
        if file.exists() {
            self.write(file);
        } else if let Some(parent) = file.parent() {
            let parent = if parent.as_os_str().is_empty() {
                Path::new(".")
            } else {
                parent
            };
            self.write(parent);
        }
    }

    /// A policy mount, with its mode.
    pub fn mount(&mut self, host: &Path, writable: bool) {
        if writable {
            self.write(host);
        } else {
            self.read(host);
        }
    }

    /// Whether `path` lies beneath what this plan keeps, with write access when `writable`.
    pub fn covers(&self, path: &Path, writable: bool) -> bool {
        let beneath = |roots: &[PathBuf]| {
            roots.iter().any(|root| {
                let root = root.canonicalize().unwrap_or_else(|_| root.clone());
                path.starts_with(&root)
            })
        };
        beneath(&self.write) || (!writable && beneath(&self.read))
    }
}

/// What confinement the process runs under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Both layers in force.
    Confined {
        /// `fully enforced`, or `partially enforced` on a kernel with an older Landlock.
        landlock: String,
    },
    /// The kernel lacks what confinement needs; the process runs unconfined.
    Unsupported { why: String },
    /// Turned off with `--no-confine`.
    Disabled,
}

impl Status {
    /// One line for `/readyz` and the start-up log.
    pub fn describe(&self) -> String {
        match self {
            Status::Confined { landlock } => {
                format!("confined (landlock {landlock}; seccomp filter in force)")
            }
            Status::Unsupported { why } => format!("NOT confined: {why}"),
            Status::Disabled => "NOT confined: turned off with --no-confine".to_owned(),
        }
    }
}

static APPLIED: OnceLock<(Status, Plan)> = OnceLock::new();

/// The confinement in force, once [`apply`] or [`disable`] ran.
pub fn status() -> Option<&'static Status> {
    APPLIED.get().map(|(s, _)| s)
}

/// Records that confinement was turned off.
pub fn disable() {
    let _ = APPLIED.set((Status::Disabled, Plan::default()));
}

/// Whether a mount of `host` (with write access when `writable`) can work in this process: the
/// process is not confined, or kept that path at start.
pub fn allows(host: &Path, writable: bool) -> bool {
    match APPLIED.get() {
        Some((Status::Confined { .. }, plan)) => plan.covers(host, writable),
        _ => true,
    }
}

/// Confines the calling thread (and every thread it starts afterwards) to `plan`, and the whole
/// process to the system-call filter. Call before any other thread exists. Never fails: what
/// the kernel cannot do is reported in the status.
pub fn apply(plan: Plan) -> &'static Status {
    // Each layer stands on its own: the system-call filter goes on even where Landlock is
    // missing.
    let landlock = landlock(&plan);
    let seccomp = seccomp();
    let status = match (landlock, seccomp) {
        (Ok(landlock), Ok(())) => Status::Confined { landlock },
        (Ok(landlock), Err(why)) => Status::Unsupported {
            why: format!("landlock {landlock}, but {why}"),
        },
        (Err(why), Ok(())) => Status::Unsupported {
            why: format!("{why}; the seccomp filter is in force"),
        },
        (Err(landlock), Err(seccomp)) => Status::Unsupported {
            why: format!("{landlock}; {seccomp}"),
        },
    };
    let _ = APPLIED.set((status, plan));
    status_or_disabled()
}

fn status_or_disabled() -> &'static Status {
    static DISABLED: Status = Status::Disabled;
    status().unwrap_or(&DISABLED)
}

fn landlock(plan: &Plan) -> Result<String, String> {
    use landlock::{
        ABI, Access, AccessFs, Ruleset, RulesetAttr, RulesetCreatedAttr, RulesetStatus, Scope,
        path_beneath_rules,
    };
    // The newest ABI this crate knows; on an older kernel the crate keeps what it supports
    // (best effort), reported as "partially enforced".
    let abi = ABI::V6;
    let existing = |paths: &[PathBuf]| -> Vec<PathBuf> {
        paths.iter().filter(|p| p.exists()).cloned().collect()
    };
    let fail = |e: landlock::RulesetError| format!("landlock: {e}");
    let read = AccessFs::from_read(abi);
    let write = read | AccessFs::from_write(abi);
    // Executing files is never granted: cordon starts no program.
    // Scopes (ABI 6): no connecting to abstract Unix sockets, no signals, outside the process.
    let status = Ruleset::default()
        .handle_access(AccessFs::from_all(abi))
        .map_err(fail)?
        .scope(Scope::from_all(abi))
        .map_err(fail)?
        .create()
        .map_err(fail)?
        .add_rules(path_beneath_rules(
            existing(&plan.read),
            read & !AccessFs::Execute,
        ))
        .map_err(fail)?
        .add_rules(path_beneath_rules(
            existing(&plan.write),
            write & !AccessFs::Execute,
        ))
        .map_err(fail)?
        .restrict_self()
        .map_err(fail)?;
    match status.ruleset {
        RulesetStatus::FullyEnforced => Ok("fully enforced".into()),
        RulesetStatus::PartiallyEnforced => Ok("partially enforced (an older kernel ABI)".into()),
        RulesetStatus::NotEnforced => {
            Err("this kernel does not offer Landlock (Linux 5.13 or later, enabled at boot)".into())
        }
    }
}

/// System calls refused with `EPERM` (every argument). What each would let a compromised
/// process do is why it is here; nothing in cordon makes any of them.
const DENIED: [(&str, i64); 34] = [
    ("execve", libc::SYS_execve),
    ("execveat", libc::SYS_execveat),
    ("ptrace", libc::SYS_ptrace),
    ("process_vm_readv", libc::SYS_process_vm_readv),
    ("process_vm_writev", libc::SYS_process_vm_writev),
    ("mount", libc::SYS_mount),
    ("umount2", libc::SYS_umount2),
    ("pivot_root", libc::SYS_pivot_root),
    ("chroot", libc::SYS_chroot),
    ("unshare", libc::SYS_unshare),
    ("setns", libc::SYS_setns),
    ("bpf", libc::SYS_bpf),
    ("perf_event_open", libc::SYS_perf_event_open),
    ("userfaultfd", libc::SYS_userfaultfd),
    ("kexec_load", libc::SYS_kexec_load),
    ("kexec_file_load", libc::SYS_kexec_file_load),
    ("init_module", libc::SYS_init_module),
    ("finit_module", libc::SYS_finit_module),
    ("delete_module", libc::SYS_delete_module),
    ("keyctl", libc::SYS_keyctl),
    ("add_key", libc::SYS_add_key),
    ("request_key", libc::SYS_request_key),
    ("reboot", libc::SYS_reboot),
    ("swapon", libc::SYS_swapon),
    ("swapoff", libc::SYS_swapoff),
    ("acct", libc::SYS_acct),
    ("settimeofday", libc::SYS_settimeofday),
    ("clock_settime", libc::SYS_clock_settime),
    ("open_by_handle_at", libc::SYS_open_by_handle_at),
    // io_uring performs system calls on the process's behalf where no filter sees them.
    ("io_uring_setup", libc::SYS_io_uring_setup),
    ("io_uring_enter", libc::SYS_io_uring_enter),
    ("io_uring_register", libc::SYS_io_uring_register),
    ("pidfd_getfd", libc::SYS_pidfd_getfd),
    ("process_madvise", libc::SYS_process_madvise),
];

/// Architectures that still have `fork` and `vfork` as system calls of their own (others make
/// processes only through `clone`, which the filter checks).
#[cfg(target_arch = "x86_64")]
const DENIED_HERE: [(&str, i64); 2] = [("fork", libc::SYS_fork), ("vfork", libc::SYS_vfork)];
#[cfg(not(target_arch = "x86_64"))]
const DENIED_HERE: [(&str, i64); 0] = [];

fn seccomp() -> Result<(), String> {
    use seccompiler::{
        BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
        SeccompRule,
    };
    use std::collections::BTreeMap;
    let arch = std::env::consts::ARCH
        .try_into()
        .map_err(|_| format!("no seccomp filter for {}", std::env::consts::ARCH))?;
    fn fail(e: impl std::fmt::Display) -> String {
        format!("seccomp: {e}")
    }
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = DENIED
        .iter()
        .chain(DENIED_HERE.iter())
        .map(|(_, nr)| (*nr, Vec::new()))
        .collect();
    // `clone` is how threads are made (with CLONE_THREAD); without it, it makes a process.
    let not_a_thread = SeccompCondition::new(
        0,
        SeccompCmpArgLen::Qword,
        SeccompCmpOp::MaskedEq(libc::CLONE_THREAD as u64),
        0,
    )
    .map_err(fail)?;
    rules.insert(
        libc::SYS_clone,
        vec![SeccompRule::new(vec![not_a_thread]).map_err(fail)?],
    );
    let deny: BpfProgram = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EPERM as u32),
        arch,
    )
    .map_err(fail)?
    .try_into()
    .map_err(fail)?;
    // clone3 passes its flags in memory a filter cannot read: answer "not implemented", and the
    // C library falls back to clone, whose flags are checked above.
    let clone3: BpfProgram = SeccompFilter::new(
        BTreeMap::from([(libc::SYS_clone3, Vec::new())]),
        SeccompAction::Allow,
        SeccompAction::Errno(libc::ENOSYS as u32),
        arch,
    )
    .map_err(fail)?
    .try_into()
    .map_err(fail)?;
    // SAFETY: prctl with PR_SET_NO_NEW_PRIVS takes integer arguments only; it is required
    // before an unprivileged process installs a filter (Landlock set it already, when present).
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(format!(
            "cannot set no_new_privs: {}",
            std::io::Error::last_os_error()
        ));
    }
    #[cfg(target_arch = "x86_64")]
    seccompiler::apply_filter_all_threads(&x32_refused()).map_err(fail)?;
    seccompiler::apply_filter_all_threads(&deny).map_err(fail)?;
    seccompiler::apply_filter_all_threads(&clone3).map_err(fail)?;
    Ok(())
}

/// Refuses every x32 system call (numbers with bit 30 set, on the x86_64 architecture): the
/// filters above name x86_64 numbers, and a kernel with x32 enabled would otherwise run
/// `execve` and the rest under their x32 numbers.
#[cfg(target_arch = "x86_64")]
fn x32_refused() -> seccompiler::BpfProgram {
    use seccompiler::sock_filter;
    const X32_SYSCALL_BIT: u32 = 0x4000_0000;
    const AUDIT_ARCH_X86_64: u32 = 0xC000_003E;
    let stmt = |code: u32, k: u32| sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    };
    let jump = |code: u32, k: u32, jt: u8, jf: u8| sock_filter {
        code: code as u16,
        jt,
        jf,
        k,
    };
    let ld_abs = libc::BPF_LD | libc::BPF_W | libc::BPF_ABS;
    vec![
        // seccomp_data.arch (offset 4): another architecture is not this filter's business.
        stmt(ld_abs, 4),
        jump(
            libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K,
            AUDIT_ARCH_X86_64,
            0,
            2,
        ),
        // seccomp_data.nr (offset 0).
        stmt(ld_abs, 0),
        jump(
            libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K,
            X32_SYSCALL_BIT,
            1,
            0,
        ),
        stmt(libc::BPF_RET | libc::BPF_K, libc::SECCOMP_RET_ALLOW),
        stmt(
            libc::BPF_RET | libc::BPF_K,
            libc::SECCOMP_RET_ERRNO | (libc::EPERM as u32),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_covers_what_it_keeps_with_the_right_mode() {
        let dir = std::env::temp_dir().join(format!("cordon-confine-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("ro/deep")).unwrap();
        std::fs::create_dir_all(dir.join("rw")).unwrap();
        let mut plan = Plan::default();
        plan.mount(&dir.join("ro"), false);
        plan.mount(&dir.join("rw"), true);
        let ro = dir.join("ro").canonicalize().unwrap();
        let rw = dir.join("rw").canonicalize().unwrap();
        assert!(plan.covers(&ro.join("deep"), false));
        assert!(!plan.covers(&ro.join("deep"), true));
        assert!(plan.covers(&rw, true));
        assert!(!plan.covers(&dir.canonicalize().unwrap(), false));
        // A file to create: its directory.
        let mut plan = Plan::default();
        plan.writes_file(&rw.join("checkpoints.jsonl"));
        assert!(plan.covers(&rw, true));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

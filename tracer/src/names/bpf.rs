//! Loading the BPF program and attaching it: the per-call system call
//! tracepoints where they can serve (tracefs, no x32), else the raw ones;
//! the raw ones for 32-bit programs once one runs; detaching without
//! waiting for the kernel, through pins in the BPF filesystem, and the
//! pins a killed trace left behind. Built only with the program
//! (`cfg(kaudit_bpf)`, set by `build.rs`).

use std::path::Path;

use super::{mnt_ns_inum, NamesVia, CALLS};

/// The ring buffer the program writes its records to.
pub(super) type Ring = aya::maps::RingBuf<aya::maps::MapData>;

/// The loaded capture: its ring buffer, the BPF object, and how 64-bit
/// programs' calls are seen.
pub(super) struct Loaded {
    btf: aya::Btf,
    pub(super) ring: Ring,
    pub(super) bpf: aya::Ebpf,
    /// The per-call tracepoints serve 64-bit programs; the raw ones are
    /// attached when the first 32-bit program runs.
    pub(super) per_call: bool,
    /// The raw tracepoints are attached.
    pub(super) raw_attached: bool,
    /// Why the per-call tracepoints are not used, when they are not.
    pub(super) why_raw: Option<String>,
    /// The per-call tracepoints' attachments, by program.
    per_call_links: Vec<(&'static str, aya::programs::trace_point::TracePointLinkId)>,
}

/// Where the BPF filesystem is mounted.
const BPFFS: &str = "/sys/fs/bpf";

/// Remove the pins a trace killed while letting go of its attachments left
/// in the BPF filesystem (`kaudit-PID-N` whose kaudit is gone): each keeps a
/// finished run's per-call tracepoints attached, and every system call of
/// the node on their slow path. Each pin removed is said in `notes`.
fn remove_stale_pins(notes: &mut Vec<String>) {
    let Ok(rd) = std::fs::read_dir(BPFFS) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("kaudit-"))
            .and_then(|n| n.split_once('-'))
            .and_then(|(pid, _)| pid.parse::<u32>().ok())
        else {
            continue;
        };
        let alive = std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .is_ok_and(|c| c.trim_end() == "kaudit");
        if !alive && std::fs::remove_file(e.path()).is_ok() {
            notes.push(format!(
                "removed {}, left attached by a trace that was killed",
                e.path().display()
            ));
        }
    }
}

/// The per-call tracepoints (`syscalls/sys_enter_NAME`, `sys_exit_NAME`)
/// the capture attaches to: the exit of every call recorded, and the entry
/// of the calls whose names are read at entry. The kernel names `stat` and
/// `lstat` `newstat` and `newlstat`.
fn per_call_tracepoints() -> Vec<(&'static str, String)> {
    let mut v = Vec::new();
    for &(nr, call) in CALLS {
        let k = match call {
            "stat" => "newstat",
            "lstat" => "newlstat",
            c => c,
        };
        if matches!(nr, 59 | 80 | 81 | 322) {
            v.push(("names_sys_enter", format!("sys_enter_{k}")));
        }
        v.push(("names_sys_exit", format!("sys_exit_{k}")));
    }
    v
}

/// Why the per-call tracepoints cannot serve this kernel, if they cannot:
/// they need tracefs (for their ids) and miss calls made through the x32
/// ABI, which the raw tracepoints see (and count).
fn per_call_unusable() -> Option<String> {
    let tracefs = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"]
        .into_iter()
        .find(|d| Path::new(d).join("events/syscalls").is_dir());
    let Some(tracefs) = tracefs else {
        return Some("tracefs with the syscalls events is not mounted".into());
    };
    for (_, tp) in per_call_tracepoints() {
        if !Path::new(tracefs)
            .join("events/syscalls")
            .join(&tp)
            .join("id")
            .exists()
        {
            return Some(format!("this kernel has no syscalls/{tp} tracepoint"));
        }
    }
    if x32_enabled() {
        return Some(
            "the kernel runs x32 programs, whose calls only the raw tracepoints see".into(),
        );
    }
    None
}

/// Whether the kernel runs x32 programs: `getpid` called through the x32
/// ABI, which fails with ENOSYS when it does not.
#[allow(unsafe_code)]
fn x32_enabled() -> bool {
    // SAFETY: getpid takes no arguments, reads and changes nothing; the
    // raw call is only how its x32 number can be made (no wrapper exists).
    let r = unsafe { libc::syscall(0x4000_0000 | libc::SYS_getpid) };
    r >= 0
}

/// Load the program and attach it, the per-call tracepoints first (see
/// [`NamesVia`]); what there is to say besides (pins removed) goes to
/// `notes`, whether it loads or not.
pub(super) fn load(
    skip_ns: u32,
    skip_ns2: u32,
    via: NamesVia,
    notes: &mut Vec<String>,
) -> Result<Loaded, String> {
    let unusable = if via == NamesVia::Raw {
        Some("asked for with --names-raw".to_string())
    } else {
        per_call_unusable()
    };
    // the per-call tracepoints where they can serve; else, or when the
    // kernel refuses them, the raw ones, saying why
    let why = match unusable {
        None => match load_as(
            skip_ns,
            skip_ns2,
            true,
            via == NamesVia::TestRefusedAttach,
            notes,
        ) {
            Ok(l) => return Ok(l),
            Err(e) => e,
        },
        Some(why) => why,
    };
    let mut l = load_as(skip_ns, skip_ns2, false, false, notes)?;
    l.why_raw = Some(why);
    Ok(l)
}

fn load_as(
    skip_ns: u32,
    skip_ns2: u32,
    per_call: bool,
    refuse_last: bool,
    notes: &mut Vec<String>,
) -> Result<Loaded, String> {
    use aya::programs::TracePoint;
    let own = std::process::id();
    // not when kaudit itself is still in the host's namespace
    let skip_ns = if skip_ns == mnt_ns_inum("/proc/self/ns/mnt") {
        0
    } else {
        skip_ns
    };
    // the repeat filter keeps an LRU list per CPU: room for each CPU's
    // share, within bounds (about 80 bytes an entry, allocated up front)
    let cpus = aya::util::nr_cpus().unwrap_or(2) as u32;
    let seen = (32768 * cpus).clamp(131_072, 524_288);
    let compat_only = u32::from(per_call);
    // parsed once (about 20 ms here): the loader's relocations and the
    // BTF-typed programs use the same
    let btf = aya::Btf::from_sys_fs().map_err(|e| {
        format!(
            "the kernel has no BTF (/sys/kernel/btf/vmlinux): {}",
            why(&e)
        )
    })?;
    let mut bpf = aya::EbpfLoader::new()
        .btf(Some(&btf))
        .set_max_entries("seen", seen)
        .set_global("own_tgid", &own, true)
        .set_global("skip_mnt_ns", &skip_ns, true)
        .set_global("skip_mnt_ns2", &skip_ns2, true)
        .set_global("nested_pid_ns_only", &u32::from(skip_ns2 != 0), true)
        .set_global("raw_compat_only", &compat_only, true)
        .load(aya::include_bytes_aligned!(concat!(
            env!("OUT_DIR"),
            "/names.bpf.o"
        )))
        .map_err(|e| format!("the kernel refused the BPF name capture: {}", why(&e)))?;
    // with the per-call tracepoints, the raw ones are loaded (verified:
    // the larger part of loading) only once a 32-bit program needs them
    let btf_progs: &[(&str, &str)] = if per_call {
        &[("names_exec32", "sched_process_exec")]
    } else {
        &[("names_enter", "sys_enter"), ("names_exit", "sys_exit")]
    };
    for &(prog, tp) in btf_progs {
        load_btf(&mut bpf, &btf, prog, tp)?;
    }
    let mut links = Vec::new();
    if per_call {
        remove_stale_pins(notes);
        for prog in ["names_sys_enter", "names_sys_exit"] {
            program::<TracePoint>(&mut bpf, prog)?
                .load()
                .map_err(|e| format!("the kernel refused BPF program {prog}: {}", why(&e)))?;
        }
        // the 32-bit watch first: a 32-bit program started from now on is held
        attach_btf(&mut bpf, "names_exec32")?;
        let mut tps = per_call_tracepoints();
        if refuse_last {
            if let Some(last) = tps.last_mut() {
                last.1 = "sys_exit_kaudit_test_refused".into();
            }
        }
        for (prog, tp) in tps {
            let id = program::<TracePoint>(&mut bpf, prog)?
                .attach("syscalls", &tp)
                .map_err(|e| format!("attaching {prog} to syscalls/{tp} failed: {}", why(&e)))?;
            links.push((prog, id));
        }
    }
    let mut l = Loaded {
        btf,
        ring: aya::maps::RingBuf::try_from(
            bpf.take_map("names")
                .ok_or_else(|| "BPF map names missing".to_string())?,
        )
        .map_err(|e| format!("BPF ring buffer: {}", why(&e)))?,
        bpf,
        per_call,
        raw_attached: false,
        why_raw: None,
        per_call_links: links,
    };
    // every call through the raw tracepoints; or, with the per-call ones,
    // the 32-bit programs' calls when one is running already
    if !per_call || thirty_two_bit_running() {
        l.attach_raw()?;
    }
    Ok(l)
}

/// An error and its causes (aya's errors name a file, their source says
/// what went wrong with it).
fn why(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// Program `prog` of the object, as its kind `T`.
fn program<'a, T>(bpf: &'a mut aya::Ebpf, prog: &str) -> Result<&'a mut T, String>
where
    &'a mut T: TryFrom<&'a mut aya::programs::Program, Error = aya::programs::ProgramError>,
{
    bpf.program_mut(prog)
        .ok_or_else(|| format!("BPF program {prog} missing"))?
        .try_into()
        .map_err(|e| format!("BPF program {prog}: {}", why(&e)))
}

fn load_btf(bpf: &mut aya::Ebpf, btf: &aya::Btf, prog: &str, tp: &str) -> Result<(), String> {
    program::<aya::programs::BtfTracePoint>(bpf, prog)?
        .load(tp, btf)
        .map_err(|e| format!("the kernel refused BPF program {prog}: {}", why(&e)))
}

fn attach_btf(bpf: &mut aya::Ebpf, prog: &str) -> Result<(), String> {
    program::<aya::programs::BtfTracePoint>(bpf, prog)?
        .attach()
        .map_err(|e| format!("attaching {prog} failed: {}", why(&e)))?;
    Ok(())
}

impl Loaded {
    /// Detach the per-call tracepoints without waiting for the kernel,
    /// which waits for a grace period at each (tens of milliseconds), one
    /// after the other. The programs are told the run is over (they return
    /// at once from then on); each attachment is pinned in the BPF
    /// filesystem and unpinned again, so that its last reference is the
    /// pin's, which the kernel lets go of on a worker of its own. An
    /// attachment that cannot be pinned (no BPF filesystem) is closed here,
    /// and the end of the run waits for the kernel. A pin that cannot be
    /// removed is said in `notes`.
    pub(super) fn detach_per_call(&mut self, notes: &mut Vec<String>) {
        if let Some(m) = self.bpf.map_mut("state") {
            if let Ok(mut a) = aya::maps::Array::<_, u32>::try_from(m) {
                let _ = a.set(1, 1, 0);
            }
        }
        for (i, (prog, id)) in std::mem::take(&mut self.per_call_links)
            .into_iter()
            .enumerate()
        {
            let p = program::<aya::programs::TracePoint>(&mut self.bpf, prog);
            let Some(link) = p.ok().and_then(|p| p.take_link(id).ok()) else {
                continue;
            };
            let Ok(fd_link) = aya::programs::links::FdLink::try_from(link) else {
                continue;
            };
            let pin = Path::new(BPFFS).join(format!("kaudit-{}-{i}", std::process::id()));
            // (a link that cannot be pinned is closed here, and waited for)
            if let Ok(pinned) = fd_link.pin(&pin) {
                // our descriptor is closed (the pin still holds the link),
                // then the pin goes
                drop(pinned);
                if let Err(e) = std::fs::remove_file(&pin).or_else(|e| {
                    if e.kind() == std::io::ErrorKind::NotFound {
                        Ok(())
                    } else {
                        Err(e)
                    }
                }) {
                    notes.push(format!(
                        "cannot remove {} ({e}): remove it to detach the name capture",
                        pin.display()
                    ));
                }
            }
        }
    }

    /// Attach the raw tracepoints (once) and tell the kernel side that
    /// 32-bit programs need no holding any more.
    pub(super) fn attach_raw(&mut self) -> Result<(), String> {
        if self.raw_attached {
            return Ok(());
        }
        if self.per_call {
            load_btf(&mut self.bpf, &self.btf, "names_enter", "sys_enter")?;
            load_btf(&mut self.bpf, &self.btf, "names_exit", "sys_exit")?;
        }
        attach_btf(&mut self.bpf, "names_enter")?;
        attach_btf(&mut self.bpf, "names_exit")?;
        self.raw_attached = true;
        let m = self
            .bpf
            .map_mut("state")
            .ok_or_else(|| "BPF map state missing".to_string())?;
        let mut a = aya::maps::Array::<_, u32>::try_from(m).map_err(|e| e.to_string())?;
        a.set(0, 1, 0).map_err(|e| e.to_string())?;
        Ok(())
    }
}

/// Whether a 32-bit program is running now (its executable's ELF class):
/// its calls need the raw tracepoints from the start. The first five bytes
/// of each running process's `/proc/PID/exe`: `\x7fELF` and class 1
/// (`ELFCLASS32`). The tracer's only look at ELF; a program started later
/// is told by the kernel side (`names_exec32`: its task runs in 32-bit mode).
fn thirty_two_bit_running() -> bool {
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return false;
    };
    rd.flatten().any(|e| {
        let name = e.file_name();
        if name.to_str().and_then(|n| n.parse::<u32>().ok()).is_none() {
            return false;
        }
        let mut head = [0u8; 5];
        std::fs::File::open(e.path().join("exe"))
            .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut head))
            .is_ok_and(|()| head[..4] == *b"\x7fELF" && head[4] == 1)
    })
}

/// Counter `i` of the `dropped` map: 0, records that did not fit in the
/// ring buffer; 1, calls made through the x32 ABI (not read). Calls made
/// in 32-bit mode (ia32) are read, as the 64-bit call of the same meaning.
pub(super) fn dropped(bpf: &aya::Ebpf, i: u32) -> u64 {
    let Some(m) = bpf.map("dropped") else {
        return 0;
    };
    let Ok(a) = aya::maps::PerCpuArray::<_, u64>::try_from(m) else {
        return 0;
    };
    a.get(&i, 0).map(|v| v.iter().sum()).unwrap_or(0)
}

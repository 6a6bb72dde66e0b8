//! Booted nodes: a node root's own init runs as PID 1 of a container of its
//! own, on a network of the run's own.
//!
//! The container is made by Debian's `systemd-nspawn` (PID, mount, UTS, IPC
//! and network namespaces; `pivot_root` into the root; the root's
//! `/sbin/init` run as PID 1, as a kernel runs it; `/proc`, `/sys`, the
//! cgroup hierarchies, `/dev` with `/dev/kmsg`, tmpfs `/run` and `/tmp`;
//! `container=` in init's environment), started from kaudit's private mount
//! namespace, where the root is already covered by the run's overlay and
//! watched (see [`crate::rootns::enter_boot`]): the whole boot is recorded,
//! from init's first `execve`.
//!
//! The network: a network namespace holding a bridge and a DHCP server
//! (Debian's `dnsmasq`, leases in memory only), and one network namespace
//! per node joined to the bridge by a veth pair whose node end is `host0`
//! (systemd-networkd's container default configures it by DHCP). Each
//! namespace is held by a process of the run (`unshare --net sleep
//! infinity`), not by a name in `/run/netns`: it vanishes, with its links and
//! addresses, when the run's processes are killed. Nothing is set up in the
//! host's own network namespace.
//!
//! Commands run inside a node with the host's `nsenter` into its init's
//! namespaces and root. The node is stopped by asking `systemd-nspawn` to
//! (SIGTERM: a clean poweroff of init), then killed with the run's control
//! group.

use std::io::Read;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// Errors setting up a node or its network.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BootError {
    /// A host tool could not be started.
    #[error("cannot run {0}: {1} (booted nodes need {2})")]
    Tool(String, std::io::Error, &'static str),
    /// A setup command failed.
    #[error("{0} failed: {1}")]
    Failed(String, String),
    /// A parameter is not valid.
    #[error("{0}")]
    Invalid(String),
    /// The node's init did not start.
    #[error("node {0}: {1}")]
    Node(String, String),
}

/// The Debian package that provides a host tool.
fn package_of(tool: &str) -> &'static str {
    match tool {
        "systemd-nspawn" => "systemd-container",
        "dnsmasq" => "dnsmasq-base",
        "ip" => "iproute2",
        _ => "util-linux",
    }
}

/// Run a host tool to completion; its error output becomes the error.
fn run(tool: &str, args: &[&str]) -> Result<(), BootError> {
    let out = Command::new(tool)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| BootError::Tool(tool.to_string(), e, package_of(tool)))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(BootError::Failed(
            format!("{tool} {}", args.join(" ")),
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ))
    }
}

/// A process holding a new network namespace (`unshare --net`).
#[derive(Debug)]
struct NetNs {
    holder: Child,
}

impl NetNs {
    fn new() -> Result<NetNs, BootError> {
        let holder = Command::new("unshare")
            .args(["--net", "--", "sleep", "infinity"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .map_err(|e| BootError::Tool("unshare".into(), e, "util-linux"))?;
        let ns = NetNs { holder };
        // wait until the holder runs in its own namespace
        let mine = std::fs::read_link("/proc/self/ns/net").ok();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            let theirs = std::fs::read_link(ns.path()).ok();
            let comm =
                std::fs::read_to_string(format!("/proc/{}/comm", ns.pid())).unwrap_or_default();
            if theirs.is_some() && theirs != mine && comm.trim() == "sleep" {
                return Ok(ns);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Err(BootError::Failed(
            "unshare --net".into(),
            "the namespace's holder did not start".into(),
        ))
    }

    fn pid(&self) -> u32 {
        self.holder.id()
    }

    /// The namespace, as a path.
    fn path(&self) -> PathBuf {
        PathBuf::from(format!("/proc/{}/ns/net", self.pid()))
    }

    /// `ip ARGS` inside the namespace.
    fn ip(&self, args: &[&str]) -> Result<(), BootError> {
        let ns = format!("--net={}", self.path().display());
        let mut a = vec![ns.as_str(), "ip"];
        a.extend_from_slice(args);
        run("nsenter", &a)
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

/// A /24 for a run's nodes: the bridge takes `.1`, DHCP hands out
/// `.10`–`.250`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subnet(Ipv4Addr);

impl Subnet {
    /// Parse `A.B.C.0/24` (only /24 networks are offered).
    pub fn parse(s: &str) -> Result<Subnet, BootError> {
        let bad = || {
            BootError::Invalid(format!(
                "subnet {s:?}: expected a /24 network such as 10.77.0.0/24"
            ))
        };
        let (addr, len) = s.split_once('/').ok_or_else(bad)?;
        if len != "24" {
            return Err(bad());
        }
        let a: Ipv4Addr = addr.parse().map_err(|_| bad())?;
        let o = a.octets();
        if o[3] != 0 {
            return Err(bad());
        }
        Ok(Subnet(a))
    }

    /// The address `.n` of the subnet.
    pub fn host(&self, n: u8) -> Ipv4Addr {
        let o = self.0.octets();
        Ipv4Addr::new(o[0], o[1], o[2], n)
    }
}

impl std::fmt::Display for Subnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/24", self.0)
    }
}

/// The run's network: a bridge and a DHCP server in a namespace of its own.
#[derive(Debug)]
pub struct Network {
    ns: NetNs,
    dhcp: Option<Child>,
    log: Option<std::thread::JoinHandle<Vec<u8>>>,
    subnet: Subnet,
    nodes: u8,
}

/// The bridge's name inside the network's namespace.
const BRIDGE: &str = "kaudit0";

/// How many nodes a run boots at most.
const MAX_NODES: u8 = 20;

/// The MAC address of node `n`'s `host0` (locally administered).
fn mac(n: u8) -> String {
    format!("02:6b:61:00:00:{n:02x}")
}

impl Network {
    /// Make the namespace, its bridge (`.1` of `subnet`) and start dnsmasq
    /// on it.
    pub fn new(subnet: Subnet) -> Result<Network, BootError> {
        let ns = NetNs::new()?;
        ns.ip(&["link", "set", "lo", "up"])?;
        ns.ip(&["link", "add", BRIDGE, "type", "bridge"])?;
        ns.ip(&[
            "addr",
            "add",
            &format!("{}/24", subnet.host(1)),
            "dev",
            BRIDGE,
        ])?;
        ns.ip(&["link", "set", BRIDGE, "up"])?;
        let mut net = Network {
            ns,
            dhcp: None,
            log: None,
            subnet,
            nodes: 0,
        };
        let range = format!(
            "--dhcp-range={},{},255.255.255.0,1h",
            subnet.host(10),
            subnet.host(250)
        );
        // node N (its host0 has the MAC address of node N) always gets .10+N:
        // steps can name a node's address before it has asked for one
        let fixed: Vec<String> = (1..=MAX_NODES)
            .map(|n| format!("--dhcp-host={},{}", mac(n), subnet.host(10 + n)))
            .collect();
        let ns_arg = format!("--net={}", net.ns.path().display());
        let mut child = Command::new("nsenter")
            .args([
                ns_arg.as_str(),
                "dnsmasq",
                "--keep-in-foreground",
                "--conf-file=/dev/null",
                "--no-resolv",
                "--no-hosts",
                "--port=0",
                "--pid-file=",
                "--leasefile-ro",
                "--dhcp-authoritative",
                "--bind-interfaces",
                "--log-dhcp",
                "--log-facility=-",
            ])
            .arg(format!("--interface={BRIDGE}"))
            .arg(&range)
            .args(&fixed)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| BootError::Tool("nsenter".into(), e, "util-linux"))?;
        let mut err = child.stderr.take();
        net.log = Some(std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(e) = err.as_mut() {
                let _ = e.read_to_end(&mut buf);
            }
            buf
        }));
        std::thread::sleep(Duration::from_millis(50));
        if let Ok(Some(st)) = child.try_wait() {
            let log = net
                .log
                .take()
                .and_then(|h| h.join().ok())
                .unwrap_or_default();
            return Err(BootError::Failed(
                format!("dnsmasq on {BRIDGE} ({st})"),
                String::from_utf8_lossy(&log).trim().to_string(),
            ));
        }
        net.dhcp = Some(child);
        Ok(net)
    }

    /// The subnet.
    pub fn subnet(&self) -> Subnet {
        self.subnet
    }

    /// A new node namespace joined to the bridge: its end of the veth pair is
    /// `host0`, with the MAC address that gets the node its fixed address.
    fn join(&mut self) -> Result<(NetNs, Ipv4Addr), BootError> {
        if usize::from(self.nodes) >= usize::from(MAX_NODES) {
            return Err(BootError::Invalid(format!(
                "a run boots at most {MAX_NODES} nodes"
            )));
        }
        let node = NetNs::new()?;
        self.nodes += 1;
        let port = format!("kv{}", self.nodes);
        let node_pid = node.pid().to_string();
        let address = mac(self.nodes);
        self.ns.ip(&[
            "link", "add", &port, "type", "veth", "peer", "name", "host0", "address", &address,
            "netns", &node_pid,
        ])?;
        self.ns
            .ip(&["link", "set", &port, "master", BRIDGE, "up"])?;
        Ok((node, self.subnet.host(10 + self.nodes)))
    }

    /// Stop the DHCP server.
    fn stop_dhcp(&mut self) {
        if let Some(mut d) = self.dhcp.take() {
            let _ = d.kill();
            let _ = d.wait();
        }
    }

    /// What the DHCP server logged (once the network is stopped).
    pub fn stop(mut self) -> String {
        self.stop_dhcp();
        let log = self
            .log
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        String::from_utf8_lossy(&log).into_owned()
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        self.stop_dhcp();
    }
}

/// How to boot a node.
#[derive(Debug, Clone)]
pub struct NodeOptions {
    /// Its hostname (and machine name).
    pub hostname: String,
    /// More `systemd-nspawn` arguments.
    pub nspawn_args: Vec<String>,
    /// A peer: the root given is booted on an overlay of its own (not the
    /// traced one), at a place of the run's own, and the names its
    /// processes ask for are left out.
    pub own_overlay: bool,
}

/// A booted node.
#[derive(Debug)]
pub struct Node {
    name: String,
    nspawn: Child,
    leader: i32,
    address: Ipv4Addr,
    _net: NetNs,
}

/// The process below `parent` (at any depth) that is PID 1 of a PID
/// namespace of its own.
fn find_leader(parent: u32) -> Option<i32> {
    let rd = std::fs::read_dir("/proc").ok()?;
    for e in rd.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let nspid: Vec<&str> = status
            .lines()
            .find_map(|l| l.strip_prefix("NSpid:"))
            .map(|l| l.split_whitespace().collect())
            .unwrap_or_default();
        if nspid.len() < 2 || nspid.last() != Some(&"1") {
            continue;
        }
        // descends from the nspawn we started
        let mut p = pid;
        for _ in 0..16 {
            match crate::procinfo::ppid(p) {
                Some(pp) if pp as u32 == parent => return Some(pid),
                Some(pp) if pp > 1 => p = pp,
                _ => break,
            }
        }
    }
    None
}

/// The node's cgroup v1 controllers and its network namespace's settings
/// (`/proc/sys/net`), made writable as a machine's are.
///
/// systemd-nspawn mounts each v1 controller hierarchy read-only in the node
/// (only `name=systemd` is writable), so the node's services cannot make
/// groups of their own: kubelet fails on `mkdir /sys/fs/cgroup/cpuset/kubepods`.
/// On a machine, init has them writable. The node's view is its own cgroup
/// namespace, rooted at the run's group, so what it makes there is the run's
/// and is removed at its end. Done from here (a child that enters the node's
/// mount namespace and remounts each one; no program of the node runs), as
/// soon as nspawn has mounted them, before init starts services.
#[allow(unsafe_code)]
fn writable_like_a_machine(leader: i32) {
    use nix::mount::MsFlags;
    let deadline = Instant::now() + Duration::from_secs(5);
    // nspawn mounts them one after the other before it runs init: wait
    // for init (the leader is no longer nspawn's own program); what is not
    // there then (a cgroup v2 machine has no v1 hierarchies) never comes
    while Instant::now() < deadline {
        let comm = std::fs::read_to_string(format!("/proc/{leader}/comm")).unwrap_or_default();
        if comm.trim() != "systemd-nspawn" {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    // init runs: nspawn's mounts are all in place, read once
    let info = std::fs::read_to_string(format!("/proc/{leader}/mountinfo")).unwrap_or_default();
    // (mount point, per-mount flags) of each read-only v1 hierarchy
    let mounts: Vec<(std::ffi::CString, MsFlags)> = info
        .lines()
        .filter_map(|l| {
            let (left, right) = l.split_once(" - ")?;
            let f: Vec<&str> = left.split(' ').collect();
            let fstype = right.split(' ').next()?;
            if fstype != "cgroup" || f.len() < 6 {
                return None;
            }
            let opts: Vec<&str> = f[5].split(',').collect();
            if !opts.contains(&"ro") {
                return None;
            }
            let mut flags = MsFlags::MS_REMOUNT | MsFlags::MS_BIND;
            for (o, fl) in [
                ("nosuid", MsFlags::MS_NOSUID),
                ("nodev", MsFlags::MS_NODEV),
                ("noexec", MsFlags::MS_NOEXEC),
                ("relatime", MsFlags::MS_RELATIME),
            ] {
                if opts.contains(&o) {
                    flags |= fl;
                }
            }
            Some((std::ffi::CString::new(f[4]).ok()?, flags))
        })
        .collect();
    // /proc/sys stays read-only but for the node's own network namespace's
    // settings, which nspawn leaves read-only too when the namespace is not
    // of its making: the node's CNI bridge turns forwarding on there
    let net_mounted = info
        .lines()
        .any(|l| l.split(' ').nth(4) == Some("/proc/sys/net"));
    let net = c"/proc/sys/net";
    let Ok(ns) = std::fs::File::open(format!("/proc/{leader}/ns/mnt")) else {
        return;
    };
    // a child of its own: a thread of this process cannot change its mount
    // namespace (and nothing is allocated between fork and _exit)
    // SAFETY: the child only makes system calls and exits.
    match unsafe { nix::unistd::fork() } {
        Ok(nix::unistd::ForkResult::Child) => {
            if nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNS).is_ok() {
                for (path, flags) in &mounts {
                    let _ = nix::mount::mount(
                        None::<&str>,
                        path.as_c_str(),
                        None::<&str>,
                        *flags,
                        None::<&str>,
                    );
                }
                let bound = net_mounted
                    || nix::mount::mount(
                        Some(net),
                        net,
                        None::<&str>,
                        MsFlags::MS_BIND,
                        None::<&str>,
                    )
                    .is_ok();
                if bound {
                    let _ = nix::mount::mount(
                        None::<&str>,
                        net,
                        None::<&str>,
                        MsFlags::MS_REMOUNT
                            | MsFlags::MS_BIND
                            | MsFlags::MS_NOSUID
                            | MsFlags::MS_NODEV
                            | MsFlags::MS_NOEXEC,
                        None::<&str>,
                    );
                }
            }
            // SAFETY: exits the child without running this process's handlers.
            unsafe { nix::libc::_exit(0) }
        }
        Ok(nix::unistd::ForkResult::Parent { child }) => {
            let _ = nix::sys::wait::waitpid(child, None);
        }
        Err(_) => {}
    }
}

/// Reap this process's exited children that lived in another PID namespace
/// (a booted node's): a step's shell whose `nsenter` was killed first.
pub fn reap_node_orphans() {
    let me = std::process::id() as i32;
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return;
    };
    for e in rd.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if crate::procinfo::ppid(pid) != Some(me) {
            continue;
        }
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let zombie = status
            .lines()
            .any(|l| l.starts_with("State:") && l.contains('Z'));
        let nested = status
            .lines()
            .find_map(|l| l.strip_prefix("NSpid:"))
            .is_some_and(|l| l.split_whitespace().count() > 1);
        if zombie && nested {
            let _ = nix::sys::wait::waitpid(
                Pid::from_raw(pid),
                Some(nix::sys::wait::WaitPidFlag::WNOHANG),
            );
        }
    }
}

/// The traced node's hostname when none is given.
pub const DEFAULT_HOSTNAME: &str = "node";

/// The run's network when none is given.
pub const DEFAULT_SUBNET: &str = "10.77.0.0/24";

/// Whether `name` is usable as a hostname (and a node's name).
pub fn valid_hostname(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !name.starts_with('-')
}

impl Node {
    /// Boot `root` (already covered by the run's overlay) on `net`.
    pub fn boot(root: &Path, net: &mut Network, opts: &NodeOptions) -> Result<Node, BootError> {
        if !valid_hostname(&opts.hostname) {
            return Err(BootError::Invalid(format!(
                "hostname {:?}: letters, digits and '-', at most 63",
                opts.hostname
            )));
        }
        let init = root.join("sbin/init");
        if std::fs::symlink_metadata(&init).is_err() {
            return Err(BootError::Node(
                opts.hostname.clone(),
                format!("{} has no /sbin/init to boot", root.display()),
            ));
        }
        // systemd-nspawn locks the directory it boots with a file beside
        // it: the root is bound at a place of the run's own, in kaudit's
        // private /run, so that nothing is written beside the root and two
        // nodes never contend for one lock. A peer's root gets an overlay of
        // its own there.
        let place = PathBuf::from(format!("/run/kaudit/nodes/{}/root", opts.hostname));
        std::fs::create_dir_all(&place).map_err(|e| {
            BootError::Node(
                opts.hostname.clone(),
                format!("creating {}: {e}", place.display()),
            )
        })?;
        if opts.own_overlay {
            crate::rootns::overlay(root, &place)
                .map_err(|e| BootError::Node(opts.hostname.clone(), e.to_string()))?;
            // before anything runs there: the peer is not the workload
            use std::os::unix::fs::MetadataExt;
            if let Ok(m) = std::fs::metadata(&place) {
                crate::names::ignore_root_device(m.dev());
            }
        } else {
            nix::mount::mount(
                Some(root),
                &place,
                None::<&str>,
                nix::mount::MsFlags::MS_BIND | nix::mount::MsFlags::MS_REC,
                None::<&str>,
            )
            .map_err(|e| {
                BootError::Node(
                    opts.hostname.clone(),
                    format!("binding the root at {}: {e}", place.display()),
                )
            })?;
        }
        // the node's name, also where its init reads it (the overlay's
        // /etc/hostname: two nodes booted from one root get names of their own)
        let etc = place.join("etc");
        if etc.is_dir() {
            std::fs::write(etc.join("hostname"), format!("{}\n", opts.hostname)).map_err(|e| {
                BootError::Node(opts.hostname.clone(), format!("writing /etc/hostname: {e}"))
            })?;
        }
        let (netns, address) = net.join()?;
        let uuid = {
            let mut b = [0u8; 16];
            let _ = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut b));
            b.iter().map(|x| format!("{x:02x}")).collect::<String>()
        };
        let mut c = Command::new("systemd-nspawn");
        c.arg("--quiet")
            .arg("--directory")
            .arg(&place)
            .args(["--register=no", "--keep-unit", "--settings=no"])
            .args(["--link-journal=no", "--resolv-conf=off", "--timezone=off"])
            .args(["--console=passive", "--private-users=no"])
            .arg(format!("--machine={}", opts.hostname))
            .arg(format!("--hostname={}", opts.hostname))
            .arg(format!("--uuid={uuid}"))
            .arg(format!(
                "--network-namespace-path={}",
                netns.path().display()
            ))
            // what a node's services need: its network (systemd-networkd
            // starts only with CAP_NET_ADMIN, which nspawn grants only to a
            // network namespace of its own making), the kernel log (kubelet),
            // and the session keyring calls runc makes
            .args(["--capability=CAP_SYSLOG,CAP_NET_ADMIN", "--bind=/dev/kmsg"])
            .arg("--system-call-filter=@keyring")
            .args(&opts.nspawn_args)
            // PID 1 is /sbin/init, as a kernel starts it (--boot would look
            // for systemd itself and never use the root's /sbin/init)
            .arg("/sbin/init")
            .env("SYSTEMD_NSPAWN_API_VFS_WRITABLE", "0")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut nspawn = c
            .spawn()
            .map_err(|e| BootError::Tool("systemd-nspawn".into(), e, "systemd-container"))?;
        let deadline = Instant::now() + Duration::from_secs(30);
        let leader = loop {
            if let Some(l) = find_leader(nspawn.id()) {
                break l;
            }
            if let Ok(Some(st)) = nspawn.try_wait() {
                let mut err = String::new();
                if let Some(mut e) = nspawn.stderr.take() {
                    let _ = e.read_to_string(&mut err);
                }
                return Err(BootError::Node(
                    opts.hostname.clone(),
                    format!(
                        "systemd-nspawn exited ({st}) before init started: {}",
                        err.trim()
                    ),
                ));
            }
            if Instant::now() >= deadline {
                let _ = nspawn.kill();
                let _ = nspawn.wait();
                return Err(BootError::Node(
                    opts.hostname.clone(),
                    "init did not start within 30 s".into(),
                ));
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        // nspawn's own messages are not read further
        drop(nspawn.stderr.take());
        writable_like_a_machine(leader);
        Ok(Node {
            name: opts.hostname.clone(),
            nspawn,
            leader,
            address,
            _net: netns,
        })
    }

    /// The node's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its init's process id (here).
    pub fn leader(&self) -> i32 {
        self.leader
    }

    /// The address its DHCP client gets on the run's network.
    pub fn address(&self) -> Ipv4Addr {
        self.address
    }

    /// Whether the node is still up.
    pub fn running(&mut self) -> bool {
        matches!(self.nspawn.try_wait(), Ok(None))
    }

    /// Stop the node: a clean poweroff (SIGTERM to systemd-nspawn, which asks
    /// init), then, after `limit`, SIGKILL. Returns how it went.
    pub fn stop(mut self, limit: Duration) -> String {
        if let Ok(Some(st)) = self.nspawn.try_wait() {
            return format!("node {} had stopped already ({st})", self.name);
        }
        let _ = kill(Pid::from_raw(self.nspawn.id() as i32), Signal::SIGTERM);
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.nspawn.try_wait() {
                return format!("node {} powered off", self.name);
            }
            // init waits for every process of the node to be gone, also
            // the exited ones that are this process's (orphans of a step's
            // nsenter, reparented here, the child subreaper)
            reap_node_orphans();
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.nspawn.kill();
        let _ = self.nspawn.wait();
        format!(
            "node {} did not power off within {} s: killed",
            self.name,
            limit.as_secs()
        )
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Ok(None) = self.nspawn.try_wait() {
            let _ = self.nspawn.kill();
            let _ = self.nspawn.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnets_are_slash_24_networks() {
        let s = Subnet::parse("10.77.0.0/24").unwrap();
        assert_eq!(s.host(1), Ipv4Addr::new(10, 77, 0, 1));
        assert_eq!(s.to_string(), "10.77.0.0/24");
        for bad in ["10.77.0.1/24", "10.77.0.0/16", "10.77.0.0", "x/24"] {
            assert!(Subnet::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn hostnames_are_checked() {
        assert!(valid_hostname("node-a1"));
        for bad in ["", "-a", "a b", "a\nb", "a.b", &"x".repeat(64)] {
            assert!(!valid_hostname(bad), "{bad:?}");
        }
    }
}

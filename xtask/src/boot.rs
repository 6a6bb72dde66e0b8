//! `cargo xtask bench-boot`: the example node root booted untraced and under
//! `kaudit trace --boot`.

use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::{build_release, median, rounds_arg, tempfile_dir, workspace};

/// The example node root booted to `running`, untraced (systemd-nspawn on an
/// overlay of the root, in a mount namespace of its own, as kaudit boots it)
/// and traced (`kaudit trace --root ROOT --boot`): the wall time from the
/// start to `running` seen from outside, and systemd's own userspace
/// start-up time, medians of N rounds, as ratios.
pub(crate) fn bench_boot(args: &[String]) -> Result<()> {
    let rounds = rounds_arg(args, 5)?;
    let ws = workspace();
    let kaudit = build_release()?;
    let root = ws.join("target/node-root");
    let st = Command::new("bash")
        .arg(ws.join("examples/build-node-root.sh"))
        .arg(&root)
        .status()?;
    if !st.success() {
        bail!("building the node root failed");
    }
    // what the node runs once it is up: wait for the end of the boot, then
    // systemd's own account of it
    let inside =
        "until systemd-analyze time > /run/kaudit-bench-boot 2>/dev/null; do sleep 0.01; done; cat /run/kaudit-bench-boot; echo up $(date +%s.%N)";
    let untraced_script = format!(
        r#"set -e
mount --make-rprivate /
s=$(mktemp -d)
mount -t tmpfs tmpfs "$s"
mkdir "$s/u" "$s/w" "$s/m"
mount -t overlay overlay -o "lowerdir={root},upperdir=$s/u,workdir=$s/w,index=on,nfs_export=on" "$s/m"
mount -t tmpfs tmpfs /run
echo bench > "$s/m/etc/hostname"
start=$(date +%s.%N)
systemd-nspawn --quiet --directory "$s/m" --register=no --keep-unit --settings=no --link-journal=no \
  --resolv-conf=off --timezone=off --console=passive --private-users=no --private-network \
  --machine=bench --hostname=bench --capability=CAP_SYSLOG,CAP_NET_ADMIN --bind=/dev/kmsg \
  --system-call-filter=@keyring /sbin/init >/dev/null 2>&1 &
nspawn=$!
until leader=$(pgrep -x -P "$nspawn" systemd) && [ -n "$leader" ]; do sleep 0.005; done
nsenter -t "$leader" -m -u -i -n -p -r -w /bin/sh -c '{inside}' > "$s/out"
cat "$s/out"
echo "start $start"
kill -TERM "$nspawn"; wait "$nspawn" || true
# nothing left: the groups systemd-nspawn made below this shell's own
# (--keep-unit), and the scratch directory
home_u=$(sed -n 's/^0:://p' /proc/self/cgroup)
home_s=$(sed -n 's/^[0-9]*:name=systemd://p' /proc/self/cgroup)
for h in "/sys/fs/cgroup/unified$home_u" "/sys/fs/cgroup/systemd$home_s" "/sys/fs/cgroup$home_u"; do
  for d in payload supervisor; do
    if [ -d "$h/$d" ]; then find "$h/$d" -depth -type d -exec rmdir {{}} + 2>/dev/null || true; fi
  done
done
umount -R "$s"
rmdir "$s"
"#,
        root = root.display(),
        inside = inside
    );
    let scratch = tempfile_dir()?;
    let mut untraced_wall = Vec::new();
    let mut untraced_user = Vec::new();
    let mut traced_wall = Vec::new();
    let mut traced_user = Vec::new();
    for i in 0..rounds {
        // untraced
        let out = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "bash", "-c"])
            .arg(&untraced_script)
            .output()?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let num = |key: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|w| w.trim().parse::<f64>().ok())
        };
        let wall = num("up ")
            .zip(num("start "))
            .map(|(up, start)| up - start)
            .with_context(|| {
                format!(
                    "untraced boot: {text}{}",
                    String::from_utf8_lossy(&out.stderr)
                )
            })?;
        untraced_wall.push(wall);
        untraced_user.push(userspace_seconds(&text).context("untraced boot: no start-up time")?);
        // traced
        let db = scratch.join(format!("boot-{i}.db"));
        let start = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs_f64();
        let out = Command::new(&kaudit)
            .args(["-q", "trace", "--boot", "--name", "bench-boot", "--db"])
            .arg(&db)
            .arg("--root")
            .arg(&root)
            .args(["--", "/bin/sh", "-c", inside])
            .output()?;
        // the command's end is when the node is up; kaudit then powers it off
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if !out.status.success() {
            bail!(
                "traced boot failed: {text}{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let up = text
            .lines()
            .find_map(|l| l.strip_prefix("up "))
            .and_then(|w| w.trim().parse::<f64>().ok())
            .context("traced boot: no end time")?;
        let user = userspace_seconds(&text).context("traced boot: no start-up time")?;
        traced_user.push(user);
        traced_wall.push(up - start);
        let _ = std::fs::remove_file(&db);
    }
    let (uw, uu, tw, tu) = (
        median(untraced_wall),
        median(untraced_user),
        median(traced_wall),
        median(traced_user),
    );
    println!("booting the example node root to `running`, medians of {rounds} rounds:");
    println!(
        "  systemd's userspace start-up: untraced {uu:.3} s, traced {tu:.3} s: {:.2}x",
        tu / uu
    );
    println!(
        "  wall time from the start to running: untraced {uw:.2} s (systemd-nspawn), traced {tw:.2} s (kaudit trace --boot: the tracer's start and the run's network included): {:.2}x",
        tw / uw
    );
    Ok(())
}

/// systemd's own "Startup finished in … (userspace)" line, in seconds.
pub(crate) fn userspace_seconds(text: &str) -> Option<f64> {
    let line = text.lines().find(|l| l.contains("Startup finished in"))?;
    let part = line.split("Startup finished in ").nth(1)?;
    let part = part.split(" (userspace)").next()?;
    // "1.234s", "312ms", "1min 2.5s"
    let mut total = 0.0;
    for w in part.split_whitespace() {
        if let Some(v) = w.strip_suffix("ms") {
            total += v.parse::<f64>().ok()? / 1000.0;
        } else if let Some(v) = w.strip_suffix("min") {
            total += v.parse::<f64>().ok()? * 60.0;
        } else if let Some(v) = w.strip_suffix('s') {
            total += v.parse::<f64>().ok()?;
        }
    }
    Some(total)
}

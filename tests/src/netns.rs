//! Test networks that cross a real (virtual) link: a network namespace
//! joined to this one by a veth pair, with nftables rules and netem
//! impairments on it. Needs root, iproute2 (`ip`, `tc`) and nftables.
//! Only std: server/tests/udp_block.rs includes this file too.

use std::process::Command;

/// Runs a command; its error output when it fails.
pub fn run(program: &str, args: &[&str]) -> Result<(), String> {
    let output = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("{program}: {e}"))?;
    match output.status.success() {
        true => Ok(()),
        false => Err(format!(
            "{program} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        )),
    }
}

/// Why this machine cannot make test networks with `tools`, if it cannot.
pub fn unavailable(tools: &[&str]) -> Option<String> {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    if !root {
        return Some("not root (network namespaces need it)".into());
    }
    for tool in tools {
        let answers = Command::new(tool).arg("-V").output().is_ok()
            || Command::new(tool).arg("--version").output().is_ok();
        if !answers {
            return Some(format!("no `{tool}` command"));
        }
    }
    None
}

/// A namespace behind a veth pair: this side is `host_ip`, the namespace's
/// side `inside_ip` (a /24 of 10.231.0.0/16). Removed on drop.
pub struct Namespace {
    /// The namespace's name (`ip netns exec NAME …`).
    pub name: String,
    host_side: String,
    inside_side: String,
    /// This side's address.
    pub host_ip: String,
    /// The namespace side's address.
    pub inside_ip: String,
}

impl Namespace {
    /// A namespace numbered `salt` (0–9) for this process.
    pub fn create(salt: u32) -> Result<Self, String> {
        let pid = std::process::id();
        let subnet = (pid * 10 + salt) % 250;
        let namespace = Namespace {
            name: format!("fl{salt}{pid}"),
            host_side: format!("fla{salt}{pid}"),
            inside_side: format!("flb{salt}{pid}"),
            host_ip: format!("10.231.{subnet}.1"),
            inside_ip: format!("10.231.{subnet}.2"),
        };
        run("ip", &["netns", "add", &namespace.name])?;
        run(
            "ip",
            &[
                "link",
                "add",
                &namespace.host_side,
                "type",
                "veth",
                "peer",
                "name",
                &namespace.inside_side,
            ],
        )?;
        run(
            "ip",
            &["link", "set", &namespace.inside_side, "netns", &namespace.name],
        )?;
        run(
            "ip",
            &[
                "addr",
                "add",
                &format!("{}/24", namespace.host_ip),
                "dev",
                &namespace.host_side,
            ],
        )?;
        run("ip", &["link", "set", &namespace.host_side, "up"])?;
        let inside_address = format!("{}/24", namespace.inside_ip);
        namespace.inside(
            "ip",
            &["addr", "add", &inside_address, "dev", &namespace.inside_side],
        )?;
        namespace.inside("ip", &["link", "set", &namespace.inside_side, "up"])?;
        namespace.inside("ip", &["link", "set", "lo", "up"])?;
        Ok(namespace)
    }

    /// The command prefix that runs a program inside the namespace.
    pub fn exec_prefix(&self) -> Vec<String> {
        ["ip", "netns", "exec", self.name.as_str()]
            .map(str::to_owned)
            .to_vec()
    }

    /// Runs `program` inside the namespace.
    pub fn inside(&self, program: &str, args: &[&str]) -> Result<(), String> {
        let mut all = vec!["netns", "exec", self.name.as_str(), program];
        all.extend_from_slice(args);
        run("ip", &all)
    }

    /// Drops (or stops dropping) UDP to `port` inside the namespace, with nftables.
    pub fn block_udp(&self, port: u16, blocked: bool) -> Result<(), String> {
        if !blocked {
            return self.inside("nft", &["delete", "table", "inet", "flblock"]);
        }
        self.inside("nft", &["add", "table", "inet", "flblock"])?;
        self.inside(
            "nft",
            &[
                "add",
                "chain",
                "inet",
                "flblock",
                "input",
                "{ type filter hook input priority 0 ; policy accept ; }",
            ],
        )?;
        let port = port.to_string();
        self.inside(
            "nft",
            &[
                "add", "rule", "inet", "flblock", "input", "udp", "dport", &port, "drop",
            ],
        )
    }

    /// Drops `loss_percent` of the packets crossing the link, each way, at
    /// random (nftables `numgen random`: this kernel has no netem).
    pub fn lose(&self, loss_percent: f64) -> Result<(), String> {
        let per_mille = ((loss_percent * 10.0).round() as u32).min(1000).to_string();
        self.inside("nft", &["add", "table", "inet", "flloss"])?;
        for (chain, hook, direction) in [("input", "input", "iifname"), ("output", "output", "oifname")] {
            let spec = format!("{{ type filter hook {hook} priority 0 ; policy accept ; }}");
            self.inside("nft", &["add", "chain", "inet", "flloss", chain, &spec])?;
            self.inside(
                "nft",
                &[
                    "add",
                    "rule",
                    "inet",
                    "flloss",
                    chain,
                    direction,
                    &self.inside_side,
                    "numgen",
                    "random",
                    "mod",
                    "1000",
                    "<",
                    &per_mille,
                    "drop",
                ],
            )?;
        }
        Ok(())
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = run("ip", &["netns", "del", &self.name]);
        let _ = run("ip", &["link", "del", &self.host_side]);
    }
}

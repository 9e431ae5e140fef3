//! A minimal command runner for `netboot-sim run`, used until the netboot-script
//! interpreter is wired in: one command per line, `${…}` expansion, `#` comments,
//! `:labels` ignored, `cmd || other`, and the commands the protocol tests need.

use crate::machine::{Machine, sha256_hex};
use netboot_core::error::Error;

/// How a script ended.
pub enum Ended {
    /// Ran to the end (or `exit 0`).
    Finished,
    /// `boot`/`chain` of an executable image: the `BOOT` line was printed.
    Booted,
    /// `exit N` with N ≠ 0, or a failing command.
    Failed(i32),
}

/// Runs a script's text.
pub fn run(m: &mut Machine, text: &str) -> Ended {
    for raw in text.lines() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(':') {
            continue;
        }
        let mut result = Ok(None);
        for alternative in line.split("||") {
            result = command(m, alternative.trim());
            match &result {
                Ok(_) => break,
                // Like iPXE, a failing command says why even when `||` handles it.
                Err(e) => println!("{e}"),
            }
        }
        match result {
            Ok(None) => {}
            Ok(Some(ended)) => return ended,
            Err(_) => return Ended::Failed(1),
        }
    }
    Ended::Finished
}

fn command(m: &mut Machine, line: &str) -> Result<Option<Ended>, String> {
    let expanded = m.settings.expand(line).map_err(|e| e.to_string())?;
    let words: Vec<&str> = expanded.split_whitespace().collect();
    let Some((&cmd, args)) = words.split_first() else {
        return Ok(None);
    };
    let err = |e: Error| e.to_string();
    match cmd {
        "#!ipxe" => {}
        "echo" => println!("{}", args.join(" ")),
        "set" => {
            let (name, value) = args.split_first().ok_or("usage: set NAME VALUE")?;
            m.settings
                .set(name, &value.join(" "))
                .map_err(|e| e.to_string())?;
        }
        "clear" => m
            .settings
            .clear(args.first().ok_or("usage: clear NAME")?)
            .map_err(|e| e.to_string())?,
        "dhcp" | "ifconf" => {
            m.dhcp().map_err(err)?;
        }
        "ifstat" => {
            let net = m.net.as_ref().ok_or("no network interface")?;
            let ip = net
                .ip_config()
                .map(|c| format!("{}/{}", c.address, c.prefix_len))
                .unwrap_or_else(|| "none".into());
            let mac: Vec<String> = net.mac().iter().map(|b| format!("{b:02x}")).collect();
            println!("{}: {} using TAP, IPv4 {ip}", net.name(), mac.join(":"));
        }
        "imgfetch" | "module" | "initrd" | "kernel" | "chain" => {
            let (name, rest) = match args {
                [flag, name, rest @ ..] if *flag == "--name" || *flag == "-n" => {
                    (Some(*name), rest)
                }
                rest => (None, rest),
            };
            let (uri, cmdline) = rest
                .split_first()
                .ok_or_else(|| format!("usage: {cmd} [--name NAME] URI [ARGS…]"))?;
            let uri = m.resolve(uri).map_err(err)?;
            let index = m.fetch(&uri, name, &cmdline.join(" ")).map_err(err)?;
            if matches!(cmd, "kernel" | "chain") {
                m.select(index);
            }
            if cmd == "chain" {
                return exec(m, None);
            }
        }
        "boot" | "imgexec" => return exec(m, args.first().copied()),
        "sha256sum" => {
            for image in m
                .images
                .iter()
                .filter(|i| args.is_empty() || args.contains(&i.name.as_str()))
            {
                println!("{}  {}", sha256_hex(&image.data), image.name);
            }
        }
        "imgstat" => {
            for image in &m.images {
                let mark = if image.selected { " [SELECTED]" } else { "" };
                println!(
                    "{} : {} bytes{mark} {}",
                    image.name,
                    image.data.len(),
                    image.cmdline
                );
            }
        }
        "exit" => {
            let code: i32 = args.first().and_then(|c| c.parse().ok()).unwrap_or(0);
            return Ok(Some(if code == 0 {
                Ended::Finished
            } else {
                Ended::Failed(code)
            }));
        }
        other => return Err(format!("{other}: command not found")),
    }
    Ok(None)
}

/// `boot`: a script runs here (with its URI as the base for relative URIs); anything else
/// is reported as the `BOOT` line.
fn exec(m: &mut Machine, name: Option<&str>) -> Result<Option<Ended>, String> {
    let image = match name {
        Some(n) => m.images.iter().find(|i| i.name == n),
        None => m.images.iter().find(|i| i.selected),
    };
    if let Some(image) = image
        && netboot_script::is_script(&image.data)
    {
        let text = String::from_utf8_lossy(&image.data).into_owned();
        let uri = netboot_core::uri::Uri::parse(&image.uri).ok();
        m.cwuri = uri;
        m.images.retain(|i| !i.selected);
        return Ok(Some(run(m, &text)));
    }
    println!("{}", m.boot_line(name)?);
    Ok(Some(Ended::Booted))
}

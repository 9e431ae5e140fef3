//! Running one QEMU virtual machine (or a netboot-sim process): console capture, key input, QMP events
//! (to tell a real power-off from a reset or a crash), timeouts and cleanup.

use crate::util::{self, Result};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// OVMF firmware images (Debian's `ovmf` package, 4 MiB build).
pub const OVMF_CODE: &str = "/usr/share/OVMF/OVMF_CODE_4M.fd";
/// Template for OVMF's variable store; each run gets its own writable copy.
pub const OVMF_VARS: &str = "/usr/share/OVMF/OVMF_VARS_4M.fd";

/// The arguments every VM gets: software emulation, no host display, serial on stdio
/// (captured by us), QMP on a socket.
pub fn base_command(qmp: &Path) -> Command {
    let mut c = Command::new("qemu-system-x86_64");
    c.args([
        "-accel",
        "tcg",
        "-nodefaults",
        "-no-user-config",
        "-display",
        "none",
    ]);
    c.args(["-monitor", "none", "-serial", "stdio", "-no-reboot"]);
    c.arg("-qmp")
        .arg(format!("unix:{},server=on,wait=off", qmp.display()));
    c
}

/// A running VM.
pub struct Vm {
    child: Child,
    stdin: Option<ChildStdin>,
    serial: Arc<Mutex<Vec<u8>>>,
    updates: Receiver<()>,
    reader: Option<JoinHandle<()>>,
    shutdown_reason: Arc<Mutex<Option<String>>>,
    qmp_path: Option<PathBuf>,
    exit: Option<ExitStatus>,
}

/// How a VM run ended, as far as the VM is concerned.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// Still running.
    Running,
    /// QEMU exited; with the QMP SHUTDOWN reason if one was seen (`guest-shutdown` for a
    /// real power-off, `guest-reset` for a reset or triple fault under `-no-reboot`).
    Exited {
        status: String,
        code: Option<i32>,
        reason: Option<String>,
    },
}

impl Vm {
    /// Starts `command` (built from [`base_command`]) and begins capturing its console
    /// into `log` (a file) and memory.
    pub fn spawn(mut command: Command, qmp: Option<&Path>, log: &Path) -> Result<Vm> {
        if let Some(qmp) = qmp {
            let _ = std::fs::remove_file(qmp);
        }
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let describe = util::describe(&command);
        let mut child = command
            .spawn()
            .map_err(|e| format!("cannot start QEMU (`{describe}`): {e}"))?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().ok_or("QEMU has no stdout")?;
        let stderr = child.stderr.take().ok_or("QEMU has no stderr")?;
        let serial = Arc::new(Mutex::new(Vec::new()));
        let (tx, updates) = channel();
        let mut log_file = std::fs::File::create(log)?;
        writeln!(log_file, "# {describe}")?;
        let reader = {
            let serial = Arc::clone(&serial);
            std::thread::spawn(move || {
                // QEMU's own complaints go into the same log, marked, and into the buffer
                // so failures show them.
                let err_serial = Arc::clone(&serial);
                let err_thread = std::thread::spawn(move || {
                    for line in BufReader::new(stderr).lines().map_while(|l| l.ok()) {
                        let mut s = err_serial.lock().unwrap_or_else(|e| e.into_inner());
                        s.extend_from_slice(format!("\n[stderr] {line}\n").as_bytes());
                    }
                });
                let mut stdout = stdout;
                let mut buf = [0u8; 4096];
                loop {
                    match stdout.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            let _ = log_file.write_all(&buf[..n]);
                            serial
                                .lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .extend_from_slice(&buf[..n]);
                            let _ = tx.send(());
                        }
                    }
                }
                let _ = err_thread.join();
                let _ = tx.send(());
            })
        };
        let shutdown_reason = Arc::new(Mutex::new(None));
        if let Some(qmp) = qmp {
            let reason = Arc::clone(&shutdown_reason);
            let path = qmp.to_path_buf();
            std::thread::spawn(move || watch_qmp(&path, &reason));
        }
        Ok(Vm {
            child,
            stdin,
            serial,
            updates,
            reader: Some(reader),
            shutdown_reason,
            qmp_path: qmp.map(Path::to_path_buf),
            exit: None,
        })
    }

    /// The console output so far, with ANSI escape sequences removed and `\r\n` as `\n`.
    pub fn text(&self) -> String {
        let raw = self.serial.lock().unwrap_or_else(|e| e.into_inner());
        clean_console(&raw)
    }

    /// Sends bytes to the serial console.
    pub fn send(&mut self, bytes: &[u8]) -> Result<()> {
        let stdin = self.stdin.as_mut().ok_or("QEMU's stdin is closed")?;
        stdin.write_all(bytes)?;
        stdin.flush()?;
        Ok(())
    }

    /// Waits until new console output arrives, QEMU exits, or `deadline` passes.
    pub fn wait(&mut self, deadline: Instant) -> Ended {
        if self.exit.is_none() {
            let slice = deadline
                .saturating_duration_since(Instant::now())
                .min(Duration::from_millis(200));
            match self.updates.recv_timeout(slice) {
                Ok(()) | Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => {}
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                self.exit = Some(status);
                // All output is in once the reader sees end-of-file.
                if let Some(reader) = self.reader.take() {
                    let _ = reader.join();
                }
                // QMP's SHUTDOWN event precedes exit; give its thread a moment to record it.
                let until = Instant::now() + Duration::from_millis(500);
                while self.reason().is_none() && Instant::now() < until {
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }
        match self.exit {
            None => Ended::Running,
            Some(status) => Ended::Exited {
                status: status.to_string(),
                code: status.code(),
                reason: self.reason(),
            },
        }
    }

    fn reason(&self) -> Option<String> {
        self.shutdown_reason
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Stops the VM if it still runs.
    pub fn kill(&mut self) {
        if self.exit.is_none() {
            let _ = self.child.kill();
            self.exit = self.child.wait().ok();
        }
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        self.kill();
        if let Some(path) = &self.qmp_path {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Connects to QEMU's QMP socket and records the reason of the first SHUTDOWN event.
fn watch_qmp(path: &Path, reason: &Mutex<Option<String>>) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let stream = loop {
        match UnixStream::connect(path) {
            Ok(s) => break s,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            Err(_) => return,
        }
    };
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let reader = BufReader::new(stream);
    let mut negotiated = false;
    for line in reader.lines().map_while(|l| l.ok()) {
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        if !negotiated && msg.get("QMP").is_some() {
            negotiated = writer
                .write_all(b"{\"execute\":\"qmp_capabilities\"}\n")
                .is_ok();
            continue;
        }
        if msg.get("event").and_then(|e| e.as_str()) == Some("SHUTDOWN") {
            let r = msg
                .pointer("/data/reason")
                .and_then(|r| r.as_str())
                .unwrap_or("unknown")
                .to_string();
            reason
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get_or_insert(r);
        }
    }
}

/// Removes ANSI escape sequences (OVMF draws with them) and normalises line ends, so
/// markers match what a person reads.
pub fn clean_console(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => {
                // CSI: parameters and intermediates, then one final byte in @..~. Other
                // escapes are two characters long.
                if chars.next() == Some('[') {
                    for c in chars.by_ref() {
                        if ('@'..='~').contains(&c) {
                            break;
                        }
                    }
                }
            }
            '\r' => {
                if chars.peek() != Some(&'\n') {
                    out.push('\n');
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// The last `n` lines of `text`, for failure reports.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// The VGA text screen: 80 columns × 25 rows of (character, attribute) pairs at 0xB8000.
pub const VGA_TEXT_ADDR: u64 = 0xB8000;
/// Bytes of one 80×25 VGA text page.
pub const VGA_TEXT_BYTES: u64 = 80 * 25 * 2;

/// Saves `size` bytes of guest physical memory at `addr` into `file` through a QMP socket
/// (`pmemsave`) and returns them. The socket must be a monitor no other client holds
/// (QEMU serves one client per QMP socket): see [`extra_qmp_arg`].
pub fn read_guest_memory(qmp: &Path, addr: u64, size: u64, file: &Path) -> Result<Vec<u8>> {
    let stream = UnixStream::connect(qmp).map_err(|e| format!("QMP {}: {e}", qmp.display()))?;
    stream.set_read_timeout(Some(Duration::from_secs(20)))?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    let _ = std::fs::remove_file(file);
    let save = serde_json::json!({
        "execute": "pmemsave",
        "arguments": { "val": addr, "size": size, "filename": file.display().to_string() },
    });
    let mut sent_save = false;
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Err(format!("QMP {}: closed before pmemsave answered", qmp.display()).into());
        }
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        if msg.get("QMP").is_some() {
            writer.write_all(b"{\"execute\":\"qmp_capabilities\"}\n")?;
        } else if let Some(err) = msg.get("error") {
            return Err(format!("QMP {}: {err}", qmp.display()).into());
        } else if msg.get("return").is_some() {
            if sent_save {
                break;
            }
            writer.write_all(format!("{save}\n").as_bytes())?;
            sent_save = true;
        }
    }
    let data = std::fs::read(file).map_err(|e| format!("{}: {e}", file.display()))?;
    if data.len() as u64 != size {
        return Err(format!("pmemsave wrote {} bytes, not {size}", data.len()).into());
    }
    Ok(data)
}

/// `-qmp` arguments for a second QMP monitor on `path`, for [`read_guest_memory`] (the
/// first one is the SHUTDOWN watcher's).
pub fn extra_qmp_arg(path: &Path) -> [String; 2] {
    [
        "-qmp".into(),
        format!("unix:{},server=on,wait=off", path.display()),
    ]
}

/// The text of a VGA text page (character bytes of (character, attribute) pairs), one
/// line per 80-column row, trailing blanks removed; code page 437 box and control
/// characters outside printable ASCII become `.`.
pub fn vga_text(page: &[u8]) -> String {
    let mut out = String::new();
    for row in page.chunks(160) {
        let line: String = row
            .chunks(2)
            .map(|cell| match cell[0] {
                0 => ' ',
                c @ 0x20..=0x7E => c as char,
                _ => '.',
            })
            .collect();
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_cleaning_drops_escapes_and_carriage_returns() {
        let raw = b"\x1b[0m\x1b[35;1mnetboot 0.1.0\r\n\x1b[2Jnext\rline";
        assert_eq!(clean_console(raw), "netboot 0.1.0\nnext\nline");
    }

    #[test]
    fn tail_keeps_the_last_lines() {
        assert_eq!(tail("a\nb\nc\n", 2), "b\nc");
        assert_eq!(tail("a", 5), "a");
    }

    #[test]
    fn vga_text_takes_every_other_byte_per_80_column_row() {
        let mut page = vec![0u8; 160 * 2];
        for (i, b) in b"Hi!".iter().enumerate() {
            page[i * 2] = *b;
            page[i * 2 + 1] = 0x07;
        }
        page[160] = b'x';
        page[162] = 0xC4; // code page 437 box line
        assert_eq!(vga_text(&page), "Hi!\nx.\n");
    }
}

//! The interpreter: runs parsed lines against a [`Runtime`] with iPXE's flow rules
//! (§1.2–§1.5): per-command expansion, `&&`/`||`/`;`, termination on failure, `goto`,
//! `exit`, nested scripts, `${errno}`.

use alloc::format;
use alloc::rc::Rc;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use netboot_core::settings::{SettingName, SettingType};

use crate::commands::{self, Invocation};
use crate::image::{ImageId, ImageKind};
use crate::lineedit::History;
use crate::menu::{Menu, Palette};
use crate::options::{Usage, parse_options};
use crate::parse::{Body, Connector, Line, Script};
use crate::runtime::{LineRequest, Runtime};
use crate::{Error, is_script};

/// How deeply scripts and shells may nest.
pub const MAX_NESTING: usize = 16;
/// How many archive/`--replace` tail calls one execution may make.
pub const MAX_REPLACEMENTS: usize = 16;
/// The interactive shell's prompt.
pub const SHELL_PROMPT: &str = "iPXE> ";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stop {
    None,
    /// `goto`: abandon the rest of the line.
    Command,
    /// `exit`, `chain --replace`: abandon the line and the script or shell.
    Sequence,
}

#[derive(Debug)]
pub(crate) struct Frame {
    pub(crate) script: Rc<Script>,
    pub(crate) next: usize,
}

/// Interpreter state that outlives one script: the running-script stack (for `goto`),
/// the menus, the shell history. Keep one per firmware run.
#[derive(Debug)]
pub struct Interpreter {
    pub(crate) frames: Vec<Frame>,
    pub(crate) stop: Stop,
    pub(crate) menus: Vec<Menu>,
    pub(crate) history: History,
    pub(crate) depth: usize,
    pub(crate) replacement: Option<ImageId>,
    pub(crate) palette: Palette,
}

impl Default for Interpreter {
    fn default() -> Self {
        Interpreter::new()
    }
}

impl Interpreter {
    /// A fresh interpreter.
    pub fn new() -> Interpreter {
        Interpreter {
            frames: Vec::new(),
            stop: Stop::None,
            menus: Vec::new(),
            history: History::default(),
            depth: 0,
            replacement: None,
            palette: Palette::default(),
        }
    }

    /// The menus defined so far (`menu`/`item`).
    pub fn menus(&self) -> &[Menu] {
        &self.menus
    }

    /// The colours set with `colour` and `cpair`, which menus are drawn with.
    pub fn palette(&self) -> &Palette {
        &self.palette
    }

    /// Runs script bytes as a top-level script (an embedded script, `<CMDLINE>`, EFI load
    /// options). The magic is not required (forced scripts, §1.1). Returns the script's
    /// result: the error of the line that stopped it, `Exit(N)` for `exit N`, or `Ok`.
    /// A `chain --replace` inside it executes the replacement after it ends.
    pub fn run_script<R: Runtime>(&mut self, rt: &mut R, bytes: &[u8]) -> Result<(), Error> {
        let script = Script::parse(bytes)?;
        let saved = self.replacement.take();
        let rc = self.run_parsed(rt, Rc::new(script));
        let replacement = core::mem::replace(&mut self.replacement, saved);
        match replacement {
            Some(id) => self.exec_image(rt, id),
            None => rc,
        }
    }

    /// Runs one command line as the shell does (no labels). `goto` acts on the script
    /// that is running, if any.
    /// `exit` ends only this line here (its status is the result).
    pub fn run_line<R: Runtime>(&mut self, rt: &mut R, text: &str) -> Result<(), Error> {
        let rc = self.shell_line(rt, text);
        self.stop = Stop::None;
        rc
    }

    fn shell_line<R: Runtime>(&mut self, rt: &mut R, text: &str) -> Result<(), Error> {
        let line = Line::parse_command_line(text);
        let rc = self.run_parsed_line(rt, &line);
        if self.stop == Stop::Command {
            self.stop = Stop::None;
        }
        rc
    }

    /// The interactive shell (§1.6): reads lines with history until `exit` (or Ctrl-C on
    /// an empty prompt does nothing). Returns the rc of the last command run.
    pub fn shell<R: Runtime>(&mut self, rt: &mut R) -> Result<(), Error> {
        if self.depth >= MAX_NESTING {
            return Err(Error::NestingTooDeep);
        }
        self.depth += 1;
        let mut rc;
        loop {
            let line = {
                let history = self.history.entries().to_vec();
                rt.read_line(&LineRequest {
                    prompt: SHELL_PROMPT,
                    initial: "",
                    secret: false,
                    timeout_ms: 0,
                    history: &history,
                })
            };
            let Ok(line) = line else { continue };
            self.history.push(&line);
            rc = self.shell_line(rt, &line);
            if self.stop == Stop::Sequence {
                self.stop = Stop::None;
                break;
            }
        }
        self.depth -= 1;
        rc
    }

    pub(crate) fn run_parsed<R: Runtime>(
        &mut self,
        rt: &mut R,
        script: Rc<Script>,
    ) -> Result<(), Error> {
        if self.depth >= MAX_NESTING {
            return Err(Error::NestingTooDeep);
        }
        self.depth += 1;
        self.frames.push(Frame { script, next: 0 });
        let rc = loop {
            let Some(frame) = self.frames.last_mut() else {
                break Ok(());
            };
            let Some(line) = frame.script.lines().get(frame.next).cloned() else {
                break Ok(());
            };
            frame.next += 1;
            let rc = self.run_parsed_line(rt, &line);
            if self.stop == Stop::Command {
                self.stop = Stop::None;
            }
            if self.stop == Stop::Sequence {
                self.stop = Stop::None;
                break rc;
            }
            if rc.is_err() {
                break rc;
            }
        };
        self.frames.pop();
        self.depth -= 1;
        rc
    }

    fn run_parsed_line<R: Runtime>(&mut self, rt: &mut R, line: &Line) -> Result<(), Error> {
        let commands = match &line.body {
            Body::Commands(c) => c,
            Body::Invalid(e) => {
                set_errno(rt, e.code());
                return Err(e.clone());
            }
        };
        let mut rc = Ok(());
        for (i, command) in commands.iter().enumerate() {
            let process = i == 0
                || match command.connector {
                    Connector::Always => true,
                    Connector::OnSuccess => rc.is_ok(),
                    Connector::OnFailure => rc.is_err(),
                };
            if process {
                rc = self.run_command(rt, &command.tokens);
            }
            if self.stop != Stop::None {
                break;
            }
        }
        rc
    }

    /// Expands and runs one command's tokens.
    fn run_command<R: Runtime>(&mut self, rt: &mut R, tokens: &[String]) -> Result<(), Error> {
        if tokens.is_empty() {
            return Ok(());
        }
        let mut argv = Vec::with_capacity(tokens.len());
        for t in tokens {
            match rt.expand(t) {
                Ok(v) => argv.push(v),
                Err(e) => {
                    // iPXE abandons the line when expansion fails.
                    let e = Error::from(e);
                    rt.print(&format!("{e}\n"));
                    set_errno(rt, e.code());
                    self.stop = Stop::Command;
                    return Err(e);
                }
            }
        }
        let rc = self.execute(rt, &argv);
        if let Err(e) = &rc {
            set_errno(rt, e.code());
        }
        rc
    }

    /// Runs an already-expanded command: looks it up in the table, parses options and
    /// calls the handler. Unknown → `<name>: command not found`, `ENOEXEC`.
    pub fn execute<R: Runtime>(&mut self, rt: &mut R, argv: &[String]) -> Result<(), Error> {
        let Some(name) = argv.first() else {
            return Ok(());
        };
        let Some(spec) = commands::table().iter().find(|c| c.name == name) else {
            rt.print(&format!("{name}: command not found\n"));
            return Err(Error::CommandNotFound(name.clone()));
        };
        let mut out = String::new();
        let parsed = parse_options(
            &argv[1..],
            spec.options,
            spec.min_args,
            spec.max_args,
            Usage {
                name: spec.name,
                synopsis: spec.synopsis,
            },
            &mut out,
        );
        if !out.is_empty() {
            rt.print(&out);
        }
        let parsed = parsed?;
        let rc = (spec.handler.handler::<R>())(
            self,
            rt,
            &Invocation {
                name: spec.name,
                parsed,
            },
        );
        if let Err(e @ Error::NotSupported(_)) = &rc {
            rt.print(&format!("{e}\n"));
        }
        rc
    }

    /// Executes a registered image (§6.4): set `cwuri` and `CURRENT`, unregister it while
    /// it runs, run it (scripts here, archives by extracting, the rest via
    /// [`Runtime::execute`]), then re-register it (unless replaced or autofree), restore
    /// `CURRENT` and `cwuri`, and tail-call any replacement.
    pub fn exec_image<R: Runtime>(&mut self, rt: &mut R, id: ImageId) -> Result<(), Error> {
        let mut id = id;
        for _ in 0..=MAX_REPLACEMENTS {
            let image = rt
                .images()
                .unregister(id)
                .ok_or_else(|| Error::NoSuchImage(format!("#{id}")))?;
            let saved_cwuri = image
                .uri
                .as_ref()
                .map(|uri| set_cwuri(rt, Some(uri.clone())));
            let saved_current = rt.images().set_current(Some(id));
            let saved_replacement = self.replacement.take();
            let kind = image.ty.map(|t| t.kind);
            let result = match kind {
                Some(ImageKind::Script) => match Script::parse(image.data.as_ref()) {
                    Ok(script) => self.run_parsed(rt, Rc::new(script)),
                    Err(e) => Err(e),
                },
                Some(ImageKind::Executable) => rt.execute(&image),
                Some(ImageKind::Archive) => match rt.extract(&image) {
                    Ok(data) => {
                        let mut new = crate::image::Image::new(strip_suffix(&image.name), data);
                        new.uri = image.uri.clone();
                        new.cmdline = image.cmdline.clone();
                        new.trusted = image.trusted;
                        new.autofree = true;
                        new.ty = probe(rt, &new.data);
                        self.replacement = Some(rt.images().register(new));
                        Ok(())
                    }
                    Err(e) => Err(e),
                },
                None => Err(Error::NotExecutable(image.name.clone())),
            };
            let replacement = core::mem::replace(&mut self.replacement, saved_replacement);
            if replacement.is_none() && !image.autofree {
                rt.images().register(image);
            }
            rt.images().set_current(saved_current);
            if let Some(previous) = saved_cwuri {
                set_cwuri(rt, previous);
            }
            match replacement {
                Some(next) => id = next,
                None => return result,
            }
        }
        Err(Error::NestingTooDeep)
    }
}

/// The type of fetched bytes: scripts are recognised here, the rest by the runtime.
pub(crate) fn probe<R: Runtime>(rt: &mut R, data: &R::Blob) -> Option<crate::image::ImageType> {
    if is_script(data.as_ref()) {
        Some(crate::image::ImageType::SCRIPT)
    } else {
        rt.probe(data)
    }
}

/// The name of an extracted image: the source name minus its last `.suffix` (§6.6).
pub(crate) fn strip_suffix(name: &str) -> String {
    match name.rfind('.') {
        Some(i) if i > 0 => name[..i].to_string(),
        _ => name.to_string(),
    }
}

/// Sets the current working URI in the registry and as `${cwuri}`; returns the old one.
pub(crate) fn set_cwuri<R: Runtime>(rt: &mut R, uri: Option<String>) -> Option<String> {
    let old = rt.images().set_cwuri(uri.clone());
    let name = SettingName {
        block: "builtin".into(),
        name: "cwuri".into(),
        tag: 0,
        ty: None,
    };
    match uri {
        Some(u) => rt
            .settings()
            .store(&name, SettingType::String, u.into_bytes()),
        None => {
            let _ = rt.settings().clear("builtin/cwuri");
        }
    }
    old
}

/// Records `${errno}` (builtin, `uint32`).
pub(crate) fn set_errno<R: Runtime>(rt: &mut R, code: u32) {
    let name = SettingName {
        block: "builtin".into(),
        name: "errno".into(),
        tag: 0,
        ty: None,
    };
    rt.settings()
        .store(&name, SettingType::Uint32, code.to_be_bytes().to_vec());
}

//! The simulator's command-line interface, run as a user would.

use std::process::Command;

fn sim(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_netboot-sim"))
        .args(args)
        .output()
        .expect("netboot-sim runs")
}

#[test]
fn version_prints_the_banner_first() {
    let out = sim(&["version"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).expect("UTF-8");
    assert_eq!(
        text.lines().next(),
        Some(concat!("netboot ", env!("CARGO_PKG_VERSION")))
    );
}

#[test]
fn unknown_commands_fail_with_usage() {
    let out = sim(&["frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("usage: netboot-sim"));
}

#[test]
fn check_reports_file_line_and_fails_on_errors() {
    let dir = std::env::temp_dir().join(format!("netboot-sim-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let bad = dir.join("bad.ipxe");
    std::fs::write(
        &bad,
        "#!ipxe\ndhcp\nkernal http://x/vmlinuz\ngoto nowhere\n",
    )
    .expect("write");
    let good = dir.join("good.ipxe");
    std::fs::write(
        &good,
        "#!ipxe\ndhcp\nchain http://${next-server}/boot.ipxe\n",
    )
    .expect("write");
    let out = sim(&[
        "check",
        good.to_str().expect("utf-8"),
        bad.to_str().expect("utf-8"),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).expect("UTF-8");
    let bad = bad.display().to_string();
    assert!(
        text.contains(&format!("{bad}:3: error: unknown command \"kernal\"")),
        "{text}"
    );
    assert!(
        text.contains(&format!("{bad}:4: error: goto nowhere")),
        "{text}"
    );
    assert!(!text.contains("good.ipxe"), "{text}");
    let out = sim(&["check", good.to_str().expect("utf-8")]);
    assert!(out.status.success());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_repository_scenario_scripts_lint_clean() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../xtask/scenarios/scripts");
    let mut scripts: Vec<String> = std::fs::read_dir(&dir)
        .expect("scenario scripts")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "ipxe"))
        .map(|p| p.display().to_string())
        .collect();
    scripts.sort();
    assert!(!scripts.is_empty());
    let mut args = vec!["check"];
    args.extend(scripts.iter().map(String::as_str));
    let out = sim(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn probe_prints_one_json_object_per_file() {
    let dir = std::env::temp_dir().join(format!("netboot-sim-probe-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let script = dir.join("boot.ipxe");
    std::fs::write(&script, "#!ipxe\necho hi\n").expect("write");
    let mut bz = vec![0u8; 0x1000];
    bz[0x1fe..0x200].copy_from_slice(&[0x55, 0xaa]);
    bz[0x202..0x206].copy_from_slice(b"HdrS");
    bz[0x206..0x208].copy_from_slice(&0x020fu16.to_le_bytes());
    let kernel = dir.join("vmlinuz");
    std::fs::write(&kernel, &bz).expect("write");
    let out = sim(&[
        "probe",
        script.to_str().expect("utf-8"),
        kernel.to_str().expect("utf-8"),
    ]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).expect("UTF-8");
    let objects: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(objects.len(), 2);
    assert_eq!(objects[0]["file"], script.display().to_string());
    assert_eq!(objects[0]["format"], "script");
    assert_eq!(objects[1]["format"], "bzimage");
    assert!(
        objects[1]["problems"]
            .as_array()
            .is_some_and(|p| !p.is_empty()),
        "a truncated bzImage has problems"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn scripted_keys_served_files_and_fake_pci() {
    let dir = std::env::temp_dir().join(format!("netboot-sim-keys-{}", std::process::id()));
    let files = dir.join("files");
    let pci = dir.join("pci/0000:00:03.0");
    std::fs::create_dir_all(&files).expect("temp dir");
    std::fs::create_dir_all(&pci).expect("temp dir");
    std::fs::write(files.join("hello.txt"), "hello").expect("write");
    // Vendor 0x8086, device 0x100e, header type 0 (single function).
    let mut config = vec![0u8; 64];
    config[..4].copy_from_slice(&[0x86, 0x80, 0x0e, 0x10]);
    std::fs::write(pci.join("config"), &config).expect("write");
    let script = dir.join("s.ipxe");
    std::fs::write(
        &script,
        "#!ipxe\nread name\necho name=${name}\nimgfetch http://192.0.2.1/x/hello.txt\n\
         md5sum hello.txt\npciscan loc\necho ${loc} ${pci/${loc}.0.4}\n\
         imgfetch nosuch || echo errno=${errno}\n",
    )
    .expect("write");
    let out = sim(&[
        "run",
        "--quiet",
        "--keys",
        "10:h 20:i 30:CR",
        "--files",
        files.to_str().expect("utf-8"),
        "--pci",
        dir.join("pci").to_str().expect("utf-8"),
        script.to_str().expect("utf-8"),
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("name=hi"), "{text}");
    assert!(
        text.contains("http://192.0.2.1/x/hello.txt... ok"),
        "{text}"
    );
    assert!(
        text.contains("5d41402abc4b2a76b9719d911017c592  hello.txt"),
        "{text}"
    );
    assert!(text.contains("0x18 100e8086"), "{text}");
    assert!(
        text.contains("nosuch... No such file or directory"),
        "{text}"
    );
    let bad = sim(&["run", "--keys", "soon:x", script.to_str().expect("utf-8")]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--keys"));
    let _ = std::fs::remove_dir_all(&dir);
}

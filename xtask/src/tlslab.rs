//! Certificates for the HTTPS lab, made at test time with `openssl`.
//!
//! The *lab CA* — an RSA root "netboot lab RSA root" with an intermediate, and an ECDSA
//! P-256 root with an intermediate — lives in `target/netboot/tlslab/` and is made once
//! (again when missing or when a certificate there expires within 30 days), so firmware
//! variants built with `NETBOOT_TRUST=target/netboot/tlslab/ca.pem` stay valid across
//! runs and are not rebuilt needlessly. It is made in a private temporary directory and
//! renamed into place, so parallel runs (threads or other xtask processes) never see a
//! half-written CA.
//!
//! Each scenario run gets its own server certificates ([`issue_servers`]) in its run
//! directory: an RSA and an ECDSA chain for `boot.test` and `192.0.2.1`, an expired leaf,
//! a leaf for the wrong host and a leaf from an unknown CA. All certificates are signed
//! with `openssl ca` so their validity can start a day in the past (guest clocks may lag)
//! or, for the expired leaf, lie entirely in 2020 (OpenSSL 3.0's `x509 -req` cannot set
//! start dates).

use crate::util::{self, Result, cmd};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// The DNS name the valid leaves are issued for (the lab's DNS answers it).
pub const HOST: &str = "boot.test";
/// The DNS name of the wrong-host leaf.
pub const OTHER_HOST: &str = "other.test";
/// Start of the expired leaf's validity (`openssl ca -startdate`).
pub const EXPIRED_FROM: &str = "20200101000000Z";
/// End of the expired leaf's validity.
pub const EXPIRED_UNTIL: &str = "20210101000000Z";

/// Certificates in the lab CA that expire within this many seconds are remade.
const RENEW_WITHIN: u64 = 30 * 24 * 3600;
/// Lifetime of CA certificates, in days.
const CA_DAYS: u64 = 3650;
/// Lifetime of per-run server certificates, in days.
const LEAF_DAYS: u64 = 365;

/// The files the lab CA consists of (all in one directory).
const CA_FILES: &[&str] = &[
    "rsa-root.pem",
    "rsa-root.key",
    "rsa-int.pem",
    "rsa-int.key",
    "ecdsa-root.pem",
    "ecdsa-root.key",
    "ecdsa-int.pem",
    "ecdsa-int.key",
    "ca.pem",
];

/// One TLS server identity: certificate chain (leaf first) and private key.
#[derive(Clone, Debug)]
pub struct ServerCert {
    /// PEM: the leaf, then its intermediate when it has one.
    pub chain: PathBuf,
    /// PEM private key of the leaf.
    pub key: PathBuf,
}

/// The per-run server certificates and the trust file that matches them.
#[derive(Clone, Debug)]
pub struct ServerCerts {
    /// The trusted roots (lab RSA root + lab ECDSA root), copied into the run directory.
    pub ca: PathBuf,
    /// RSA 2048 leaf for `boot.test`/`192.0.2.1` with the RSA intermediate.
    pub rsa: ServerCert,
    /// ECDSA P-256 leaf for `boot.test`/`192.0.2.1` with the ECDSA intermediate.
    pub ecdsa: ServerCert,
    /// RSA leaf valid only 2020-01-01..2021-01-01, RSA intermediate.
    pub expired: ServerCert,
    /// RSA leaf for `other.test` only, RSA intermediate.
    pub wrong_host: ServerCert,
    /// Leaf for `boot.test` issued by a root that is not in [`ServerCerts::ca`].
    pub unknown_ca: ServerCert,
}

/// The lab CA directory, `target/netboot/tlslab/`.
pub fn ca_dir() -> PathBuf {
    util::out_dir().join("tlslab")
}

/// Makes sure the lab CA exists and is valid for at least 30 more days, and returns the
/// path of its trust file (`ca.pem`: the RSA and ECDSA roots).
pub fn lab_ca() -> Result<PathBuf> {
    // One generation per process at a time; other processes are handled by the rename.
    static LOCK: Mutex<()> = Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let dir = ca_dir();
    if ca_is_usable(&dir) {
        return Ok(dir.join("ca.pem"));
    }
    let parent = util::out_dir();
    fs::create_dir_all(&parent)?;
    let tmp = parent.join(format!("tlslab.tmp-{}", std::process::id()));
    let _ = fs::remove_dir_all(&tmp);
    fs::create_dir_all(&tmp)?;
    if let Err(e) = make_ca(&tmp) {
        let _ = fs::remove_dir_all(&tmp);
        return Err(format!("cannot make the lab CA: {e}").into());
    }
    if dir.exists() {
        // Missing files or an expiring root: move the old CA aside (another process
        // may have replaced it with a good one meanwhile; then keep that one).
        if ca_is_usable(&dir) {
            let _ = fs::remove_dir_all(&tmp);
            return Ok(dir.join("ca.pem"));
        }
        let old = parent.join(format!("tlslab.old-{}", std::process::id()));
        let _ = fs::remove_dir_all(&old);
        let _ = fs::rename(&dir, &old);
        let _ = fs::remove_dir_all(&old);
    }
    if let Err(e) = fs::rename(&tmp, &dir) {
        let _ = fs::remove_dir_all(&tmp);
        // Lost a race with another xtask process: its CA is as good as ours.
        if !ca_is_usable(&dir) {
            return Err(format!("cannot move the lab CA into {}: {e}", dir.display()).into());
        }
    }
    eprintln!("==> made the lab CA in {}", dir.display());
    Ok(dir.join("ca.pem"))
}

/// Whether every CA file exists and no certificate expires within [`RENEW_WITHIN`].
fn ca_is_usable(dir: &Path) -> bool {
    CA_FILES.iter().all(|f| dir.join(f).is_file())
        && ["rsa-root", "rsa-int", "ecdsa-root", "ecdsa-int"]
            .iter()
            .all(|c| valid_for(&dir.join(format!("{c}.pem")), RENEW_WITHIN))
}

/// Whether the certificate in `pem` is still valid `seconds` from now.
fn valid_for(pem: &Path, seconds: u64) -> bool {
    cmd(
        "openssl",
        &["x509", "-noout", "-checkend", &seconds.to_string()],
    )
    .arg("-in")
    .arg(pem)
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::null())
    .status()
    .is_ok_and(|s| s.success())
}

/// Makes the two roots and their intermediates in `dir`.
fn make_ca(dir: &Path) -> Result<()> {
    let ca = Signer::new(dir)?;
    let (from, until) = (days_from_now(-1), days_from_now(CA_DAYS as i64));
    for (kind, algo, root_cn, int_cn) in [
        (
            "rsa",
            KeyAlgo::Rsa,
            "netboot lab RSA root",
            "netboot lab RSA intermediate",
        ),
        (
            "ecdsa",
            KeyAlgo::P256,
            "netboot lab ECDSA root",
            "netboot lab ECDSA intermediate",
        ),
    ] {
        let root = dir.join(format!("{kind}-root"));
        ca.self_signed(&root, algo, root_cn, "v3_root", &from, &until)?;
        let int = dir.join(format!("{kind}-int"));
        ca.issue(&int, algo, int_cn, &root, "v3_int", &from, &until)?;
    }
    let mut pem = fs::read(dir.join("rsa-root.pem"))?;
    pem.extend(fs::read(dir.join("ecdsa-root.pem"))?);
    fs::write(dir.join("ca.pem"), pem)?;
    Ok(())
}

/// Issues the server certificates of one run into `out` (created), signed by the lab CA
/// (made first when needed).
pub fn issue_servers(out: &Path) -> Result<ServerCerts> {
    let ca_pem = lab_ca()?;
    let ca_dir = ca_pem.parent().ok_or("lab CA path has no parent")?;
    fs::create_dir_all(out)?;
    issue_servers_from(ca_dir, out)
        .map_err(|e| format!("cannot make the lab's server certificates: {e}").into())
}

fn issue_servers_from(ca_dir: &Path, out: &Path) -> Result<ServerCerts> {
    let signer = Signer::new(out)?;
    let (from, until) = (days_from_now(-1), days_from_now(LEAF_DAYS as i64));
    let rsa_int = ca_dir.join("rsa-int");
    let ecdsa_int = ca_dir.join("ecdsa-int");
    let leaf = |name: &str,
                algo: KeyAlgo,
                cn: &str,
                issuer: &Path,
                ext: &str,
                from: &str,
                until: &str|
     -> Result<ServerCert> {
        let base = out.join(name);
        signer.issue(&base, algo, cn, issuer, ext, from, until)?;
        // Served as a full chain: leaf, then the intermediate (never the root).
        let mut chain = fs::read(pem(&base))?;
        if issuer.starts_with(ca_dir) {
            chain.extend(fs::read(pem(issuer))?);
        }
        let chain_path = out.join(format!("{name}.fullchain.pem"));
        fs::write(&chain_path, chain)?;
        Ok(ServerCert {
            chain: chain_path,
            key: key(&base),
        })
    };
    let rsa = leaf(
        "rsa",
        KeyAlgo::Rsa,
        HOST,
        &rsa_int,
        "v3_leaf",
        &from,
        &until,
    )?;
    let ecdsa = leaf(
        "ecdsa",
        KeyAlgo::P256,
        HOST,
        &ecdsa_int,
        "v3_leaf",
        &from,
        &until,
    )?;
    let expired = leaf(
        "expired",
        KeyAlgo::Rsa,
        HOST,
        &rsa_int,
        "v3_leaf",
        EXPIRED_FROM,
        EXPIRED_UNTIL,
    )?;
    let wrong_host = leaf(
        "wrong-host",
        KeyAlgo::Rsa,
        OTHER_HOST,
        &rsa_int,
        "v3_other",
        &from,
        &until,
    )?;
    let stranger = out.join("unknown-root");
    signer.self_signed(
        &stranger,
        KeyAlgo::P256,
        "netboot lab unknown root (not trusted)",
        "v3_root",
        &from,
        &until,
    )?;
    let unknown_ca = leaf(
        "unknown-ca",
        KeyAlgo::P256,
        HOST,
        &stranger,
        "v3_leaf",
        &from,
        &until,
    )?;
    let ca = out.join("ca.pem");
    fs::copy(ca_dir.join("ca.pem"), &ca)?;
    Ok(ServerCerts {
        ca,
        rsa,
        ecdsa,
        expired,
        wrong_host,
        unknown_ca,
    })
}

/// Key types.
#[derive(Clone, Copy, Debug)]
enum KeyAlgo {
    /// RSA 2048.
    Rsa,
    /// ECDSA over P-256.
    P256,
}

fn pem(base: &Path) -> PathBuf {
    base.with_extension("pem")
}
fn key(base: &Path) -> PathBuf {
    base.with_extension("key")
}

/// An `openssl ca` set-up (configuration, database) in one directory.
struct Signer {
    dir: PathBuf,
    config: PathBuf,
}

impl Signer {
    fn new(dir: &Path) -> Result<Signer> {
        let db = dir.join("ca-db");
        fs::create_dir_all(db.join("new"))?;
        fs::write(db.join("index.txt"), "")?;
        fs::write(db.join("serial"), "1000\n")?;
        let config = db.join("openssl.cnf");
        fs::write(&config, openssl_config(&db))?;
        Ok(Signer {
            dir: dir.to_path_buf(),
            config,
        })
    }

    fn new_key(&self, base: &Path, algo: KeyAlgo) -> Result<()> {
        let opts: &[&str] = match algo {
            KeyAlgo::Rsa => &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
            KeyAlgo::P256 => &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
        };
        openssl(
            cmd("openssl", &["genpkey"])
                .args(opts)
                .arg("-out")
                .arg(key(base)),
        )
    }

    fn request(&self, base: &Path, cn: &str) -> Result<PathBuf> {
        let csr = base.with_extension("csr");
        openssl(
            cmd("openssl", &["req", "-new", "-subj", &format!("/CN={cn}")])
                .arg("-config")
                .arg(&self.config)
                .arg("-key")
                .arg(key(base))
                .arg("-out")
                .arg(&csr),
        )?;
        Ok(csr)
    }

    fn sign(&self, csr: &Path, out: &Path, ext: &str, from: &str, until: &str) -> Command {
        let mut c = cmd("openssl", &["ca", "-batch", "-notext", "-rand_serial"]);
        c.current_dir(&self.dir)
            .arg("-config")
            .arg(&self.config)
            .args(["-extensions", ext, "-startdate", from, "-enddate", until])
            .arg("-in")
            .arg(csr)
            .arg("-out")
            .arg(out);
        c
    }

    /// A root CA certificate `base.pem` with a new key `base.key`.
    fn self_signed(
        &self,
        base: &Path,
        algo: KeyAlgo,
        cn: &str,
        ext: &str,
        from: &str,
        until: &str,
    ) -> Result<()> {
        self.new_key(base, algo)?;
        let csr = self.request(base, cn)?;
        let mut c = self.sign(&csr, &pem(base), ext, from, until);
        c.arg("-selfsign").arg("-keyfile").arg(key(base));
        openssl(&mut c)
    }

    /// A certificate `base.pem` with a new key `base.key`, issued by `issuer`
    /// (`issuer.pem`/`issuer.key`).
    #[allow(clippy::too_many_arguments)]
    fn issue(
        &self,
        base: &Path,
        algo: KeyAlgo,
        cn: &str,
        issuer: &Path,
        ext: &str,
        from: &str,
        until: &str,
    ) -> Result<()> {
        self.new_key(base, algo)?;
        let csr = self.request(base, cn)?;
        let mut c = self.sign(&csr, &pem(base), ext, from, until);
        c.arg("-cert")
            .arg(pem(issuer))
            .arg("-keyfile")
            .arg(key(issuer));
        openssl(&mut c)
    }
}

/// The `openssl` configuration for requests and for `openssl ca` with its database in
/// `db`: any subject, repeated subjects allowed, and the certificate profiles.
fn openssl_config(db: &Path) -> String {
    let d = db.display();
    format!(
        "[ req ]\n\
         distinguished_name = req_dn\n\
         [ req_dn ]\n\
         [ ca ]\n\
         default_ca = lab\n\
         [ lab ]\n\
         dir = {d}\n\
         database = {d}/index.txt\n\
         serial = {d}/serial\n\
         new_certs_dir = {d}/new\n\
         default_md = sha256\n\
         policy = any_name\n\
         unique_subject = no\n\
         copy_extensions = none\n\
         email_in_dn = no\n\
         [ any_name ]\n\
         commonName = supplied\n\
         [ v3_root ]\n\
         basicConstraints = critical,CA:TRUE\n\
         keyUsage = critical,keyCertSign,cRLSign\n\
         subjectKeyIdentifier = hash\n\
         [ v3_int ]\n\
         basicConstraints = critical,CA:TRUE,pathlen:0\n\
         keyUsage = critical,keyCertSign,cRLSign\n\
         subjectKeyIdentifier = hash\n\
         authorityKeyIdentifier = keyid:always\n\
         [ v3_leaf ]\n\
         basicConstraints = critical,CA:FALSE\n\
         keyUsage = critical,digitalSignature,keyEncipherment\n\
         extendedKeyUsage = serverAuth\n\
         subjectAltName = DNS:{HOST},IP:192.0.2.1\n\
         subjectKeyIdentifier = hash\n\
         authorityKeyIdentifier = keyid:always\n\
         [ v3_other ]\n\
         basicConstraints = critical,CA:FALSE\n\
         keyUsage = critical,digitalSignature,keyEncipherment\n\
         extendedKeyUsage = serverAuth\n\
         subjectAltName = DNS:{OTHER_HOST}\n\
         subjectKeyIdentifier = hash\n\
         authorityKeyIdentifier = keyid:always\n"
    )
}

/// Runs an `openssl` command quietly; on failure the error carries its output.
fn openssl(c: &mut Command) -> Result<()> {
    let out = c.stdin(std::process::Stdio::null()).output().map_err(|e| {
        format!(
            "cannot start `{}` (is openssl installed?): {e}",
            util::describe(c)
        )
    })?;
    if out.status.success() {
        return Ok(());
    }
    Err(format!(
        "`{}` failed ({}):\n{}{}",
        util::describe(c),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
    .into())
}

/// `YYYYMMDDHHMMSSZ` (UTC) for now plus `days` (negative: in the past).
fn days_from_now(days: i64) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    asn1_time(now + days * 86_400)
}

/// Formats Unix time `t` as an ASN.1 GeneralizedTime string `YYYYMMDDHHMMSSZ`.
fn asn1_time(t: i64) -> String {
    let c = netboot_core::platform::civil_from_unix_time(t);
    format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}Z",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asn1_times_are_civil_utc() {
        assert_eq!(asn1_time(0), "19700101000000Z");
        assert_eq!(asn1_time(1_577_836_800), "20200101000000Z");
        assert_eq!(asn1_time(1_609_459_199), "20201231235959Z");
        assert_eq!(asn1_time(951_782_400), "20000229000000Z");
        assert_eq!(asn1_time(-1), "19691231235959Z");
    }

    /// Text of `openssl x509 -text` for a certificate.
    fn text(pem: &Path) -> String {
        util::output(cmd("openssl", &["x509", "-noout", "-text", "-in"]).arg(pem))
            .expect("openssl x509 -text")
    }

    fn verify(ca: &Path, cert: &ServerCert, extra: &[&str]) -> std::result::Result<(), String> {
        let chain = fs::read_to_string(&cert.chain).expect("chain");
        let untrusted = cert.chain.with_extension("untrusted.pem");
        // Everything after the leaf is the untrusted intermediate.
        let split = chain.find("-----END CERTIFICATE-----").expect("leaf") + 26;
        fs::write(&untrusted, &chain[split..]).expect("write");
        let leaf = cert.chain.with_extension("leaf.pem");
        fs::write(&leaf, &chain[..split]).expect("write");
        let mut c = cmd("openssl", &["verify", "-purpose", "sslserver"]);
        c.arg("-CAfile").arg(ca).args(extra);
        if chain[split..].contains("BEGIN CERTIFICATE") {
            c.arg("-untrusted").arg(&untrusted);
        }
        let out = c.arg(&leaf).output().expect("openssl verify");
        let all = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        if out.status.success() {
            Ok(())
        } else {
            Err(all)
        }
    }

    #[test]
    fn server_certificates_verify_or_fail_as_intended() {
        if util::output(&mut cmd("openssl", &["version"])).is_err() {
            eprintln!("openssl not installed: skipped");
            return;
        }
        let dir = std::env::temp_dir().join(format!("netboot-tlslab-test-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let ca_dir = dir.join("ca");
        fs::create_dir_all(&ca_dir).expect("mkdir");
        make_ca(&ca_dir).expect("lab CA");
        assert!(ca_is_usable(&ca_dir));
        let certs = issue_servers_from(&ca_dir, &dir.join("run")).expect("server certs");
        let ca = &certs.ca;
        assert_eq!(
            fs::read_to_string(ca)
                .expect("ca.pem")
                .matches("BEGIN CERT")
                .count(),
            2
        );
        assert!(text(&ca_dir.join("rsa-root.pem")).contains("CN = netboot lab RSA root"));
        let host = ["-verify_hostname", HOST];
        let ip = ["-verify_ip", "192.0.2.1"];
        verify(ca, &certs.rsa, &host).expect("RSA chain for boot.test");
        verify(ca, &certs.rsa, &ip).expect("RSA chain for 192.0.2.1");
        verify(ca, &certs.ecdsa, &host).expect("ECDSA chain");
        assert!(text(&certs.ecdsa.chain).contains("prime256v1"));
        assert!(text(&certs.rsa.chain).contains("TLS Web Server Authentication"));
        let e = verify(ca, &certs.expired, &host).expect_err("must fail");
        assert!(e.contains("certificate has expired"), "{e}");
        assert!(text(&certs.expired.chain).contains("Not After : Jan  1 00:00:00 2021 GMT"));
        let e = verify(ca, &certs.wrong_host, &host).expect_err("must fail");
        assert!(e.contains("hostname mismatch"), "{e}");
        verify(ca, &certs.wrong_host, &["-verify_hostname", OTHER_HOST]).expect("other.test");
        let e = verify(ca, &certs.unknown_ca, &host).expect_err("must fail");
        assert!(e.contains("unable to get local issuer certificate"), "{e}");
        // A certificate that expires within 30 days is renewed.
        let soon = dir.join("soon");
        let signer = Signer::new(&dir).expect("signer");
        signer
            .self_signed(
                &soon,
                KeyAlgo::P256,
                "expires soon",
                "v3_root",
                &days_from_now(-1),
                &days_from_now(10),
            )
            .expect("short-lived root");
        assert!(valid_for(&pem(&soon), 0));
        assert!(!valid_for(&pem(&soon), RENEW_WITHIN));
        // A CA with a file missing is not usable.
        fs::remove_file(ca_dir.join("ecdsa-int.key")).expect("rm");
        assert!(!ca_is_usable(&ca_dir));
        let _ = fs::remove_dir_all(&dir);
    }
}

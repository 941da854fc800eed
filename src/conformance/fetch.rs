//! `helios-matrix conformance fetch`: a suite's pinned source distribution, downloaded,
//! checked against its SHA-256 and unpacked under `.conformance/<name-version>/`. The only
//! place the tool contacts a host other than the targets, and only when asked to.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::registry::conformance::Sdist;

/// The file inside an unpacked suite that records the digest it was unpacked from: a
/// folder without it (an interrupted unpack) or with another digest is fetched again.
const STAMP: &str = ".helios-sha256";

/// Where `sdist` is (or would be) unpacked under `base`.
pub fn root(base: &Path, sdist: &Sdist) -> PathBuf {
    base.join(sdist.stem())
}

/// Whether `sdist` is unpacked under `base`, from the archive its digest names.
pub fn is_fetched(base: &Path, sdist: &Sdist) -> bool {
    std::fs::read_to_string(root(base, sdist).join(STAMP)).is_ok_and(|s| s.trim() == sdist.sha256)
}

/// What `fetch` did.
#[derive(Debug, PartialEq, Eq)]
pub enum Fetched {
    /// It was there already.
    Present,
    /// Downloaded and unpacked: the archive's size in bytes.
    Downloaded(u64),
}

/// Downloads and unpacks `sdist` under `base` unless it is there already.
pub async fn fetch(base: &Path, sdist: &Sdist) -> Result<Fetched, String> {
    if is_fetched(base, sdist) {
        return Ok(Fetched::Present);
    }
    crate::exec::http::install_crypto_provider();
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(30))
        .timeout(Duration::from_secs(600))
        .build()
        .map_err(|e| format!("cannot set up HTTPS: {e}"))?;
    let response = client
        .get(&sdist.url)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| format!("cannot download {}: {e}", sdist.url))?;
    let bytes = response
        .bytes()
        .await
        .map_err(|e| format!("cannot download {}: {e}", sdist.url))?;
    let size = bytes.len() as u64;
    unpack(base, sdist, &bytes)?;
    Ok(Fetched::Downloaded(size))
}

/// Checks `archive` against the digest and unpacks it as `root(base, sdist)`.
pub fn unpack(base: &Path, sdist: &Sdist, archive: &[u8]) -> Result<(), String> {
    let digest = format!("{:x}", Sha256::digest(archive));
    if digest != sdist.sha256 {
        return Err(format!(
            "{} has SHA-256 {digest}, not the {} the registry pins: not unpacked",
            sdist.url, sdist.sha256
        ));
    }
    std::fs::create_dir_all(base).map_err(|e| format!("cannot create {}: {e}", base.display()))?;
    // Unpacked beside the final folder and renamed into place, so a half-unpacked suite is
    // never taken for a whole one.
    let scratch = tempfile::Builder::new()
        .prefix(".unpack-")
        .tempdir_in(base)
        .map_err(|e| format!("cannot create a folder in {}: {e}", base.display()))?;
    let mut gz = flate2::read::GzDecoder::new(archive);
    let mut tar_bytes = Vec::new();
    gz.read_to_end(&mut tar_bytes)
        .map_err(|e| format!("{} is not a gzip archive: {e}", sdist.url))?;
    // `unpack` refuses entries whose paths leave the folder (`..`, absolute paths).
    tar::Archive::new(tar_bytes.as_slice())
        .unpack(scratch.path())
        .map_err(|e| format!("cannot unpack {}: {e}", sdist.url))?;
    // An sdist holds one top folder, `name-version/`.
    let top = scratch.path().join(sdist.stem());
    if !top.is_dir() {
        return Err(format!(
            "{} has no top folder `{}/`, as a source distribution has",
            sdist.url,
            sdist.stem()
        ));
    }
    std::fs::write(top.join(STAMP), format!("{}\n", sdist.sha256))
        .map_err(|e| format!("cannot write in {}: {e}", top.display()))?;
    let dest = root(base, sdist);
    if dest.exists() {
        std::fs::remove_dir_all(&dest)
            .map_err(|e| format!("cannot replace {}: {e}", dest.display()))?;
    }
    std::fs::rename(&top, &dest).map_err(|e| format!("cannot create {}: {e}", dest.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn archive(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (path, data) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            builder
                .append_data(&mut header, path, *data)
                .expect("in memory");
        }
        let tar = builder.into_inner().expect("in memory");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &tar).expect("in memory");
        gz.finish().expect("in memory")
    }

    fn sdist_of(bytes: &[u8]) -> Sdist {
        Sdist {
            url: "https://files.example/p/demo-1.0.tar.gz".to_string(),
            sha256: format!("{:x}", Sha256::digest(bytes)),
        }
    }

    #[test]
    fn unpacks_the_top_folder_and_stamps_it() {
        let bytes = archive(&[("demo-1.0/tests/test_a.py", b"def test_a(): pass\n")]);
        let sdist = sdist_of(&bytes);
        let base = tempfile::tempdir().expect("temp dir");
        assert!(!is_fetched(base.path(), &sdist));
        unpack(base.path(), &sdist, &bytes).expect("unpacked");
        assert!(is_fetched(base.path(), &sdist));
        let test = root(base.path(), &sdist).join("tests/test_a.py");
        assert_eq!(
            std::fs::read_to_string(test).expect("unpacked file"),
            "def test_a(): pass\n"
        );
        // Only the suite's folder is left: the scratch folder went with it.
        let names: Vec<_> = std::fs::read_dir(base.path())
            .expect("listing")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, vec!["demo-1.0"]);
    }

    #[test]
    fn refuses_an_archive_whose_digest_is_not_the_pinned_one() {
        let bytes = archive(&[("demo-1.0/x", b"x")]);
        let mut sdist = sdist_of(&bytes);
        sdist.sha256 = "0".repeat(64);
        let base = tempfile::tempdir().expect("temp dir");
        let err = unpack(base.path(), &sdist, &bytes).expect_err("refused");
        assert!(err.contains("not the 0000"), "{err}");
        assert!(!root(base.path(), &sdist).exists());
    }

    #[test]
    fn refuses_an_archive_without_its_top_folder() {
        let bytes = archive(&[("other-2.0/x", b"x")]);
        let sdist = sdist_of(&bytes);
        let base = tempfile::tempdir().expect("temp dir");
        let err = unpack(base.path(), &sdist, &bytes).expect_err("refused");
        assert!(err.contains("no top folder `demo-1.0/`"), "{err}");
        assert!(!is_fetched(base.path(), &sdist));
    }
}

//! File digests (md5, sha256, blake3) computed in one pass and compared with the params.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use md5::Digest;

use crate::error::DownloadError;

/// A digest algorithm a file can be checked with; each is a param of the same name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    /// MD5, as published by Zenodo for the RAVDESS archive.
    Md5,
    /// SHA-256.
    Sha256,
    /// BLAKE3 (256-bit output).
    Blake3,
}

impl Algorithm {
    /// The param name, also used in messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::Md5 => "md5",
            Self::Sha256 => "sha256",
            Self::Blake3 => "blake3",
        }
    }

    /// The length of the digest in hex digits.
    pub fn hex_len(self) -> usize {
        match self {
            Self::Md5 => 32,
            Self::Sha256 | Self::Blake3 => 64,
        }
    }

    /// Checks that `hex` is a digest of this algorithm: the right length, hex digits only.
    pub fn check_hex(self, hex: &str) -> Result<(), String> {
        if hex.len() != self.hex_len() {
            return Err(format!(
                "a {} digest has {} hex digits, `{hex}` has {}",
                self.name(),
                self.hex_len(),
                hex.len()
            ));
        }
        match hex.chars().find(|c| !c.is_ascii_hexdigit()) {
            Some(c) => Err(format!("`{hex}` is not hexadecimal (`{c}`)")),
            None => Ok(()),
        }
    }
}

/// One running hash per requested algorithm.
enum Hasher {
    Md5(md5::Md5),
    Sha256(sha2::Sha256),
    Blake3(Box<blake3::Hasher>),
}

impl Hasher {
    fn new(algorithm: Algorithm) -> Self {
        match algorithm {
            Algorithm::Md5 => Self::Md5(md5::Md5::new()),
            Algorithm::Sha256 => Self::Sha256(sha2::Sha256::new()),
            Algorithm::Blake3 => Self::Blake3(Box::new(blake3::Hasher::new())),
        }
    }

    fn update(&mut self, bytes: &[u8]) {
        match self {
            Self::Md5(h) => h.update(bytes),
            Self::Sha256(h) => h.update(bytes),
            Self::Blake3(h) => {
                h.update(bytes);
            }
        }
    }

    fn finish_hex(self) -> String {
        match self {
            Self::Md5(h) => to_hex(&h.finalize()),
            Self::Sha256(h) => to_hex(&h.finalize()),
            Self::Blake3(h) => h.finalize().to_hex().to_string(),
        }
    }
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The lowercase hex digests of `file` for each of `algorithms`, in the same order, from one read.
pub fn digests(file: &Path, algorithms: &[Algorithm]) -> Result<Vec<String>, DownloadError> {
    let mut hashers: Vec<Hasher> = algorithms.iter().map(|&a| Hasher::new(a)).collect();
    let mut reader = File::open(file).map_err(DownloadError::io("open", file))?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = reader.read(&mut buf).map_err(DownloadError::io("read", file))?;
        if n == 0 {
            break;
        }
        for hasher in &mut hashers {
            hasher.update(&buf[..n]);
        }
    }
    Ok(hashers.into_iter().map(Hasher::finish_hex).collect())
}

/// Checks `file` (called `name` in messages) against every expected digest (hex, any case);
/// the first mismatch is an error.
pub fn verify(
    file: &Path,
    name: &str,
    expected: &[(Algorithm, &str)],
) -> Result<(), DownloadError> {
    if expected.is_empty() {
        return Ok(());
    }
    let algorithms: Vec<Algorithm> = expected.iter().map(|&(a, _)| a).collect();
    let actual = digests(file, &algorithms)?;
    for (&(algorithm, want), got) in expected.iter().zip(actual) {
        if !want.eq_ignore_ascii_case(&got) {
            return Err(DownloadError::ChecksumMismatch {
                file: name.to_string(),
                algorithm: algorithm.name(),
                expected: want.to_ascii_lowercase(),
                actual: got,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ABC_MD5: &str = "900150983cd24fb0d6963f7d28e17f72";
    const ABC_SHA256: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    const ABC_BLAKE3: &str = "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85";

    fn abc_file() -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("abc.txt");
        std::fs::write(&file, b"abc").unwrap();
        (dir, file)
    }

    #[test]
    fn digests_match_published_test_vectors() {
        let (_dir, file) = abc_file();
        let all = [Algorithm::Md5, Algorithm::Sha256, Algorithm::Blake3];
        assert_eq!(digests(&file, &all).unwrap(), [ABC_MD5, ABC_SHA256, ABC_BLAKE3]);
    }

    #[test]
    fn verify_accepts_uppercase_and_reports_both_digests_on_mismatch() {
        let (_dir, file) = abc_file();
        verify(&file, "abc.txt", &[(Algorithm::Md5, &ABC_MD5.to_uppercase())]).unwrap();
        let wrong = "0".repeat(64);
        let err =
            verify(&file, "abc.txt", &[(Algorithm::Md5, ABC_MD5), (Algorithm::Sha256, &wrong)])
                .unwrap_err()
                .to_string();
        assert_eq!(
            err,
            format!("sha256 mismatch for `abc.txt`: expected {wrong}, got {ABC_SHA256}")
        );
    }

    #[test]
    fn check_hex_rejects_wrong_length_and_non_hex() {
        assert!(Algorithm::Md5.check_hex(ABC_MD5).is_ok());
        assert_eq!(
            Algorithm::Sha256.check_hex(ABC_MD5).unwrap_err(),
            format!("a sha256 digest has 64 hex digits, `{ABC_MD5}` has 32")
        );
        let bad = format!("{}g", &ABC_MD5[..31]);
        assert_eq!(
            Algorithm::Md5.check_hex(&bad).unwrap_err(),
            format!("`{bad}` is not hexadecimal (`g`)")
        );
    }
}

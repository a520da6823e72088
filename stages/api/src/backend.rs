//! Why a stage kind cannot run on a backend here: what [`crate::StageDef::backend_available`]
//! and [`crate::StageDef::backend_built`] answer, at plan time (a precise error before anything
//! runs) and from `vox predict`.

/// Why a backend cannot run a stage in this binary on this machine.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    /// The backend's code is not compiled into this binary.
    #[error("this vox was built without {what}{}", remedy.map(|r| format!("; {r}")).unwrap_or_default())]
    NotBuilt {
        /// What is missing, for people (`CUDA`, `burn's flex backend (...)`).
        what: &'static str,
        /// How to get it, or another backend to choose.
        remedy: Option<&'static str>,
    },
    /// Compiled in, but its device could not be opened on this machine.
    #[error("no {device} could be opened: {cause}")]
    NoDevice {
        /// The device (`CUDA device`).
        device: &'static str,
        /// What the runtime said, with what to check.
        cause: String,
    },
    /// A backend name the kind does not know.
    #[error("unknown backend `{0}`")]
    Unknown(String),
}

#[cfg(test)]
mod tests {
    use super::BackendError;

    #[test]
    fn messages_name_what_is_missing_and_what_to_do() {
        let missing = BackendError::NotBuilt { what: "CUDA", remedy: Some("rebuild it with `--features cuda`") };
        assert_eq!(missing.to_string(), "this vox was built without CUDA; rebuild it with `--features cuda`");
        let bare = BackendError::NotBuilt { what: "burn's flex backend", remedy: None };
        assert_eq!(bare.to_string(), "this vox was built without burn's flex backend");
        let device = BackendError::NoDevice { device: "CUDA device", cause: "no driver".into() };
        assert_eq!(device.to_string(), "no CUDA device could be opened: no driver");
        assert_eq!(BackendError::Unknown("tpu".into()).to_string(), "unknown backend `tpu`");
    }
}

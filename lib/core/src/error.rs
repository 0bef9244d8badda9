//! The one error type at the edge: an anyhow error plus the exit code it maps to. Inside,
//! code uses anyhow with context; where a caller must pick a specific exit code it wraps the
//! error with [`CliError::new`], and `main` reads the code back with [`exit_of`].

use runplz_protocol::Exit;
use std::fmt;

/// The crate-wide result type (anyhow's).
pub type Result<T, E = anyhow::Error> = std::result::Result<T, E>;

/// An error that carries the exit code the tool should end with.
#[derive(Debug)]
pub struct CliError {
    /// The exit code.
    pub exit: Exit,
    /// The message, already complete (file, path, found, expected).
    pub message: String,
}

impl CliError {
    /// An error with this exit code.
    // Returns anyhow::Error on purpose: callers `?` it straight out of anyhow functions.
    #[allow(clippy::new_ret_no_self)]
    pub fn new(exit: Exit, message: impl Into<String>) -> anyhow::Error {
        anyhow::Error::new(CliError {
            exit,
            message: message.into(),
        })
    }

    /// Bad usage or bad input (exit 2): nothing was done.
    pub fn usage(message: impl Into<String>) -> anyhow::Error {
        Self::new(Exit::Usage, message)
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CliError {}

/// The exit code an error maps to: the innermost [`CliError`]'s, else `fallback`.
pub fn exit_of(err: &anyhow::Error, fallback: Exit) -> Exit {
    err.chain()
        .find_map(|e| e.downcast_ref::<CliError>())
        .map(|c| c.exit)
        .unwrap_or(fallback)
}

/// Bail out with a usage error (exit 2), formatted like `anyhow::bail!`.
#[macro_export]
macro_rules! usage_bail {
    ($($arg:tt)*) => {
        return Err($crate::error::CliError::usage(format!($($arg)*)))
    };
}

//! runplz-core: every piece of logic behind the runplz tools. The binaries in `tools/` parse
//! flags into the plain option structs defined here, call one function, and print its record.
//! Nothing in this crate depends on clap, so `runplz` and the tests call it directly.

pub mod backend;
/// Brev boxes (`box/`: `box` is a keyword, so the module is `brevbox`).
#[path = "box/mod.rs"]
pub mod brevbox;
pub mod collect;
pub mod error;
pub mod exec;
pub mod flags;
pub mod hex;
pub mod image;
pub mod job;
pub mod modal;
pub mod ops;
pub mod out;
pub mod pick;
pub mod probe;
pub mod process;
pub mod progress;
pub mod quote;
pub mod run;
pub mod runpod;
pub mod scan;
pub(crate) mod slurm;
pub mod ssh;
pub mod state;
pub(crate) mod steps;
pub mod sweep;
pub mod sync;

pub use error::{CliError, Result};
pub use runplz_protocol::{Exit, Record, VERSION};

//! End-to-end tests: the built binaries, run as a user would, against real parts (a real
//! sshd on loopback, real rsync, real process trees). One test binary; each module is a tool.

mod support;

mod brev;
mod cli;
mod collect;
mod concurrency;
mod connections;
mod docs;
mod exec;
mod harness;
mod image;
mod inactivity;
mod job;
mod limits;
mod login_shell;
mod modal;
mod modal_ops;
mod modal_real_sdk;
mod modal_signals;
mod ops;
mod outputs;
mod pack;
mod pick;
mod placeholders;
mod probe;
mod progress;
mod readme;
mod records;
mod repo_root;
mod retries;
mod runplz;
mod runpod;
mod scan;
mod scan_backends;
mod seam;
mod secrets;
mod slurm;
mod smoke;
mod stdout;
mod sweep;
mod sync;
mod venv;

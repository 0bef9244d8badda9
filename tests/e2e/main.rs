//! End-to-end tests: the built binaries, run as a user would, against real parts (a real
//! sshd on loopback, real rsync, real process trees). One test binary; each module is a tool.

mod support;

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
mod outputs;
mod pick;
mod placeholders;
mod probe;
mod readme;
mod records;
mod repo_root;
mod runplz;
mod scan;
mod seam;
mod secrets;
mod smoke;
mod sync;

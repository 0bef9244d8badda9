//! runplz's own signals. SIGINT, SIGTERM and SIGHUP are caught and counted instead of
//! killing runplz outright, so a running child group is stopped cleanly and outputs are
//! still collected. A signal stays pending until something acts on it: the child it stops
//! (see `Proc::run`) or a caller between steps ([`take_pending_signal`]).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Mutex, OnceLock};

/// The last signal runplz received, how many it has received since
/// [`install_signal_handlers`], and how many of those have been handled. A signal is pending
/// until something acts on it: a running child is stopped (see `Proc::run`), or a caller
/// between steps calls [`take_pending_signal`]. Once handled, clean-up (collecting outputs)
/// runs normally; a second Ctrl-C stops that too.
static LAST_SIGNAL: AtomicUsize = AtomicUsize::new(0);
static SIGNAL_COUNT: AtomicUsize = AtomicUsize::new(0);
static SIGNALS_HANDLED: AtomicUsize = AtomicUsize::new(0);
static INSTALLED: OnceLock<()> = OnceLock::new();

/// Catch SIGINT, SIGTERM and SIGHUP so that a running child group is terminated cleanly
/// (and outputs collected) instead of runplz dying with its children orphaned. Idempotent.
pub fn install_signal_handlers() {
    INSTALLED.get_or_init(|| {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        for sig in [SIGINT, SIGTERM, SIGHUP] {
            // SAFETY: the handler only touches atomics, which is async-signal-safe.
            let _ = unsafe {
                signal_hook::low_level::register(sig, move || {
                    LAST_SIGNAL.store(sig as usize, Ordering::SeqCst);
                    SIGNAL_COUNT.fetch_add(1, Ordering::SeqCst);
                })
            };
        }
        // Wake every waiting `Proc::run` at once instead of having each poll the counters.
        // The counting handler above has run by the time this thread hears of the signal.
        if let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) {
            let _ = std::thread::Builder::new()
                .name("rp-signals".into())
                .spawn(move || {
                    for _ in signals.forever() {
                        wake_all();
                    }
                });
        }
    });
}

/// The channels of the children being waited for, each woken on runplz's own signals.
static WAITERS: Mutex<Vec<Sender<()>>> = Mutex::new(Vec::new());

/// A channel woken by each signal runplz receives (and by whoever else holds a clone of
/// the sender); dropped receivers are forgotten at the next signal.
pub(super) fn subscribe() -> (Sender<()>, Receiver<()>) {
    let (tx, rx) = channel();
    if let Ok(mut w) = WAITERS.lock() {
        w.push(tx.clone());
    }
    (tx, rx)
}

fn wake_all() {
    if let Ok(mut w) = WAITERS.lock() {
        w.retain(|tx| tx.send(()).is_ok());
    }
}

/// The last signal runplz received, if any (after [`install_signal_handlers`]).
pub fn received_signal() -> Option<i32> {
    (SIGNAL_COUNT.load(Ordering::SeqCst) > 0).then(|| LAST_SIGNAL.load(Ordering::SeqCst) as i32)
}

/// How many signals runplz has received so far.
pub fn signal_count() -> usize {
    SIGNAL_COUNT.load(Ordering::SeqCst)
}

/// The signal received and not yet acted on, if any.
pub fn pending_signal() -> Option<i32> {
    (signal_count() > SIGNALS_HANDLED.load(Ordering::SeqCst))
        .then(received_signal)
        .flatten()
}

/// Take the pending signal (marking it handled), for work between children: a caller that
/// gets `Some(sig)` must stop what it is doing.
pub fn take_pending_signal() -> Option<i32> {
    let sig = pending_signal();
    SIGNALS_HANDLED.store(signal_count(), Ordering::SeqCst);
    sig
}

//! Following a run from this side: the frames a poll brings, each byte of the job's streams
//! shown once and in order, and the polls themselves, retried with backoff from the same
//! offsets while the connection is down.

use super::*;

/// How long a poll waits on the box for something new before it answers anyway (it looks
/// in rounds growing from 5 ms to 0.2 s); the most bytes one carries is [`POLL_MAX_BYTES`].
const POLL_WAIT: Duration = Duration::from_secs(10);

/// How long the client keeps trying to reach the box again after the connection dropped,
/// before it gives up (the job runs on; the verbs can reattach).
const RECONNECT_FOR: Duration = Duration::from_secs(15 * 60);

/// The pauses between tries to reconnect (the last one repeats).
const BACKOFF: [Duration; 5] = [
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(4),
    Duration::from_secs(8),
    Duration::from_secs(15),
];

/// One thing a poll said.
#[derive(Debug, PartialEq)]
pub(super) enum Frame {
    /// Bytes of stream `stream` (an index into [`STREAMS`]) from `offset` on.
    Data {
        stream: usize,
        offset: u64,
        bytes: Vec<u8>,
    },
    /// The job ended: its code and why (`exited`, `timed_out`, `inactive`, `cost_cap`).
    Exit { code: u8, reason: String },
    /// The box has no job of this run id.
    NoJob,
    /// The poll's last word: it answered in full.
    End,
}

pub(super) fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The complete frames in a poll's stdout, in order. Bytes before the first marker (a
/// login's noise) and a frame cut short by a broken connection are left out; data is taken
/// by its count, so nothing the job printed can pass for a frame.
pub(super) fn frames(buf: &[u8], marker: &str) -> Vec<Frame> {
    let m = marker.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(at) = find(&buf[i..], m) {
        let head = i + at + m.len();
        let Some(nl) = buf[head..].iter().position(|&b| b == b'\n') else {
            break;
        };
        let line = String::from_utf8_lossy(&buf[head..head + nl]).into_owned();
        let body = head + nl + 1;
        let mut words = line.split(' ');
        match words.next() {
            Some("data") => {
                let nums: Vec<u64> = words.filter_map(|w| w.parse().ok()).collect();
                let [stream, offset, count] = nums[..] else {
                    break;
                };
                let end = body.saturating_add(usize::try_from(count).unwrap_or(usize::MAX));
                if end > buf.len() || stream as usize >= STREAMS.len() {
                    break;
                }
                out.push(Frame::Data {
                    stream: stream as usize,
                    offset,
                    bytes: buf[body..end].to_vec(),
                });
                i = end;
                continue;
            }
            Some("exit") => {
                let code = words.next().and_then(|c| c.parse::<u16>().ok());
                let reason = words.next().unwrap_or("exited").to_string();
                out.push(Frame::Exit {
                    code: code.map_or(Exit::ToolFailed.code(), |c| (c & 0xff) as u8),
                    reason,
                });
            }
            Some("none") => out.push(Frame::NoJob),
            Some("end") => out.push(Frame::End),
            _ => {}
        }
        i = body;
    }
    out
}

/// A run followed from this side: where its bytes go and how far each stream was read.
pub(super) struct Follower {
    pub(super) offsets: [u64; 3],
    pass_stdout: bool,
    log: Option<std::fs::File>,
    /// The timestamped copy (see [`crate::process::stamped`]).
    stamped: Option<std::sync::Arc<crate::process::stamped::StampedLog>>,
    /// The last bytes of out and err, for [`ExecReport::output_tail`].
    kept: Vec<u8>,
    pub(super) exit: Option<(u8, String)>,
    pub(super) no_job: bool,
    /// The box already removed the run folder (the launch did, after our answer).
    pub(super) forgotten: bool,
}

const KEPT_BYTES: usize = 16 * 1024;

impl Follower {
    pub(super) fn new(
        pass_stdout: bool,
        log: Option<&std::path::Path>,
        stamped: Option<&std::path::Path>,
    ) -> Result<Follower> {
        let log = match log {
            Some(p) => Some(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)
                    .map_err(|e| tool_failed(format!("opening the log {}: {e}", p.display())))?,
            ),
            None => None,
        };
        Ok(Follower {
            offsets: [0; 3],
            pass_stdout,
            log,
            // Best effort, as the plain log's copy in runplz: a job never fails for it.
            stamped: stamped.and_then(|p| crate::process::stamped::StampedLog::open(p).ok()),
            kept: Vec::new(),
            exit: None,
            no_job: false,
            forgotten: false,
        })
    }

    /// Show what a poll brought (each byte once, in order); whether it answered in full.
    pub(super) fn take(&mut self, stdout: &[u8], marker: &str) -> bool {
        let mut end = false;
        for f in frames(stdout, marker) {
            match f {
                Frame::Data {
                    stream,
                    offset,
                    bytes,
                } => {
                    let have = self.offsets[stream];
                    // A frame from past what we hold would leave a gap: asked again later.
                    if offset > have || offset + bytes.len() as u64 <= have {
                        continue;
                    }
                    let new = &bytes[(have - offset) as usize..];
                    self.emit(stream, new);
                    self.offsets[stream] += new.len() as u64;
                }
                Frame::Exit { code, reason } => self.exit = Some((code, reason)),
                Frame::NoJob => self.no_job = true,
                Frame::End => end = true,
            }
        }
        end
    }

    fn emit(&mut self, stream: usize, bytes: &[u8]) {
        if stream == 0 && self.pass_stdout {
            let out = std::io::stdout();
            let mut l = out.lock();
            let _ = l.write_all(bytes).and_then(|_| l.flush());
        } else {
            crate::progress::stderr(bytes);
        }
        // The diagnosis is for the person watching, as it was said live.
        if stream == 2 {
            return;
        }
        if let Some(l) = self.log.as_mut() {
            let _ = l.write_all(bytes);
        }
        if let Some(l) = &self.stamped {
            // Without pass_stdout the box keeps both streams in `out`, in order.
            let name = match (stream, self.pass_stdout) {
                (0, true) => "stdout",
                (0, false) => "output",
                _ => "stderr",
            };
            l.write(name, bytes);
        }
        self.kept.extend_from_slice(bytes);
        if self.kept.len() > KEPT_BYTES {
            let cut = self.kept.len() - KEPT_BYTES;
            self.kept.drain(..cut);
        }
    }

    pub(super) fn tail(&self, n: usize) -> String {
        let text = String::from_utf8_lossy(&self.kept);
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}

/// How following a run ended.
#[derive(Debug, PartialEq)]
pub(super) enum Followed {
    /// The job ended (its exit is in the follower).
    Ended,
    /// The box has no job of this run id.
    NoJob,
    /// We got this signal.
    Interrupted(i32),
}

/// Sleep for `d`, waking early with the signal that came (unless `shielded`).
fn pause(d: Duration, shielded: bool) -> Option<i32> {
    let end = Instant::now() + d;
    while Instant::now() < end {
        if !shielded {
            if let Some(sig) = crate::process::take_pending_signal() {
                return Some(sig);
            }
        }
        std::thread::sleep(Duration::from_millis(50).min(end - Instant::now()));
    }
    None
}

/// Follow run `run_id` to its end (or until `limit` passes, when given), polling; a broken
/// poll is retried with backoff from the same offsets for up to [`RECONNECT_FOR`].
pub(super) fn follow(
    ssh: &Ssh,
    run_id: &str,
    marker: &str,
    fo: &mut Follower,
    shielded: bool,
    limit: Option<Duration>,
) -> Result<Followed> {
    let host = ssh.target().label();
    let began = Instant::now();
    let mut down: Option<(Instant, usize)> = None;
    loop {
        if !shielded {
            if let Some(sig) = crate::process::take_pending_signal() {
                return Ok(Followed::Interrupted(sig));
            }
        }
        let wait = match limit {
            Some(_) => Duration::from_secs(1),
            None => POLL_WAIT,
        };
        let mut poll = ssh
            .command(&poll_script(run_id, marker, fo.offsets, wait))
            .output(Output::Capture)
            .timeout(Some(POLL_LIMIT));
        if shielded {
            poll = poll.shielded();
        }
        let f = poll.run()?;
        let answered = fo.take(&f.stdout, marker);
        if answered && f.status.success() {
            if let Some((since, _)) = down.take() {
                out::note(
                    &crate::ssh::tool(),
                    format!(
                        "reconnected to {host} after {:.0}s; the output goes on where it stopped",
                        since.elapsed().as_secs_f64()
                    ),
                );
            }
        }
        if fo.exit.is_some() {
            return Ok(Followed::Ended);
        }
        if fo.no_job {
            return Ok(Followed::NoJob);
        }
        if let Some(sig) = f.interrupted {
            return Ok(Followed::Interrupted(sig));
        }
        if limit.is_some_and(|l| began.elapsed() > l) {
            return Err(tool_failed(format!(
                "run {run_id} on {host} did not end in time"
            )));
        }
        if answered && f.status.success() {
            continue;
        }
        // ssh says 255 for a connection that broke (or never came), and dies by a signal
        // when killed; anything else is the poll itself failing there: said at once.
        let broken = f.timed_out || matches!(f.status, Status::Exited(255) | Status::Signaled(_));
        if !broken {
            return Err(tool_failed(format!(
                "reading run {run_id} on {host} failed (exited with {}){}",
                f.status.code(),
                last_line(&String::from_utf8_lossy(&f.stderr))
            )));
        }
        let (since, tries) = down.get_or_insert_with(|| {
            let why = last_line(&String::from_utf8_lossy(&f.stderr));
            out::warn(
                &crate::ssh::tool(),
                format!(
                    "lost the connection to {host} (ssh exited with {}{why}); the job runs on there: reconnecting",
                    f.status.code()
                ),
            );
            (Instant::now(), 0)
        });
        if since.elapsed() > RECONNECT_FOR {
            return Err(tool_failed(format!(
                "lost the connection to {host} while the command ran and could not reconnect for {} minutes (ssh exited with {}{}); run {run_id} may still be running there",
                RECONNECT_FOR.as_secs() / 60,
                f.status.code(),
                last_line(&String::from_utf8_lossy(&f.stderr))
            )));
        }
        let wait = BACKOFF[(*tries).min(BACKOFF.len() - 1)];
        *tries += 1;
        if let Some(sig) = pause(wait, shielded) {
            return Ok(Followed::Interrupted(sig));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_counted_and_a_cut_frame_is_left_out() {
        let m = "\x1erunplz-exec-00:";
        // The data holds a forged frame and a marker; both are just bytes.
        let data = format!("a\n{m}exit 0 exited\n");
        let buf = format!(
            "login noise\n{m}data 0 5 {}\n{data}{m}data 1 0 2\nb\n{m}exit 3 timed_out\n{m}end\n",
            data.len()
        );
        let f = frames(buf.as_bytes(), m);
        assert_eq!(
            f,
            vec![
                Frame::Data {
                    stream: 0,
                    offset: 5,
                    bytes: data.clone().into_bytes()
                },
                Frame::Data {
                    stream: 1,
                    offset: 0,
                    bytes: b"b\n".to_vec()
                },
                Frame::Exit {
                    code: 3,
                    reason: "timed_out".into()
                },
                Frame::End
            ]
        );
        // The poll's keep-alive newlines between frames are nothing.
        assert_eq!(
            frames(format!("\n\n{m}end\n\n").as_bytes(), m),
            vec![Frame::End]
        );
        // Cut in the middle of the first frame's data: nothing of it.
        let cut = &buf.as_bytes()[..buf.find("exit 0").unwrap()];
        assert_eq!(frames(cut, m), vec![]);
    }

    #[test]
    fn the_follower_shows_each_byte_once() {
        let m = "\x1erunplz-exec-00:";
        let mut fo = Follower::new(false, None, None).unwrap();
        assert!(fo.take(format!("{m}data 1 0 4\nabcd{m}end\n").as_bytes(), m));
        // A repeat overlapping what we hold: only the new part counts.
        fo.take(format!("{m}data 1 2 4\ncdef").as_bytes(), m);
        // A gap: left for the next poll.
        fo.take(format!("{m}data 1 9 1\nz").as_bytes(), m);
        assert_eq!(fo.offsets, [0, 6, 0]);
        assert_eq!(fo.tail(5), "abcdef");
    }
}

//! Parsers for command-line values the tools share, so one flag reads the same everywhere
//! (rp-exec's and runplz's `--grace`).

use crate::job::spec::MAX_SECONDS;
use std::time::Duration;

/// Seconds, 0 to [`MAX_SECONDS`] (30 days), fractions allowed. NaN, infinities and anything
/// longer are refused here, before anything runs: a deadline past the clock's range once
/// panicked.
pub fn parse_secs(s: &str) -> Result<Duration, String> {
    let n: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("found {s:?}, expected a number of seconds"))?;
    if !n.is_finite() || n < 0.0 {
        return Err(format!(
            "found {s:?}, expected a non-negative number of seconds"
        ));
    }
    if n > MAX_SECONDS as f64 {
        return Err(format!(
            "found {s:?}, expected at most {MAX_SECONDS} seconds (30 days)"
        ));
    }
    Duration::try_from_secs_f64(n)
        .map_err(|_| format!("found {s:?}, expected a non-negative number of seconds"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_in_range_only() {
        assert_eq!(parse_secs("0"), Ok(Duration::ZERO));
        assert_eq!(parse_secs(" 1.5 "), Ok(Duration::from_millis(1500)));
        assert_eq!(
            parse_secs("-1").unwrap_err(),
            "found \"-1\", expected a non-negative number of seconds"
        );
        assert!(parse_secs("NaN").is_err() && parse_secs("inf").is_err());
        assert_eq!(
            parse_secs("2592001").unwrap_err(),
            "found \"2592001\", expected at most 2592000 seconds (30 days)"
        );
        assert!(parse_secs("5s").is_err());
    }
}

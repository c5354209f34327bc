// SPDX-License-Identifier: GPL-2.0
//! The one parser of a duration given in seconds on a tool's command line.

use std::time::Duration;

/// Parses a positive number of seconds, fractions allowed (`2`, `0.25`);
/// for clap's `value_parser`.
pub fn parse_seconds(text: &str) -> Result<Duration, String> {
    let seconds: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a number of seconds"))?;
    if !(seconds.is_finite() && seconds > 0.0 && seconds <= 1e6) {
        return Err(format!("`{text}`: expected a positive number of seconds"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_take_fractions_and_refuse_the_rest() {
        assert_eq!(parse_seconds("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_seconds(" 3 "), Ok(Duration::from_secs(3)));
        for bad in ["0", "-1", "abc", "inf", "NaN", "1e9", ""] {
            assert!(parse_seconds(bad).is_err(), "{bad}");
        }
    }
}

//! Numbers EventBridge can take exactly. `PutEvents` documents JSON integers
//! as int64 (-9,223,372,036,854,775,808 to 9,223,372,036,854,775,807); for
//! other numbers it documents nothing but rule matching (numbers within
//! ±5.0e9, to 15 digits), and a value read as a double keeps 15 significant
//! digits exactly. A number outside either would be refused or silently
//! rounded, so provider-supplied JSON goes on the bus with each such number as
//! a JSON string holding its exact text (`12345678901234567890` →
//! `"12345678901234567890"`, `1e400` → `"1e400"`); every other number stays a
//! number, as sent. Pure text rewriting: no recursion, no AWS types.

use std::borrow::Cow;

/// Significant digits a double carries exactly (`f64::DIGITS`).
const EXACT_DIGITS: usize = 15;

/// True when EventBridge takes `token` (a JSON number) as it is: an integer
/// within int64 (documented), or a fraction or exponent number of at most 15
/// significant digits within a double's normal range.
pub fn takes_as_number(token: &str) -> bool {
    let integer = !token.contains(['.', 'e', 'E']);
    if integer {
        return token.parse::<i64>().is_ok();
    }
    let finite = token.parse::<f64>().is_ok_and(|v| v.is_finite());
    finite && significant_digits(token) <= EXACT_DIGITS && !underflows(token)
}

/// Digits of the significand, leading and trailing zeros not counted.
fn significant_digits(token: &str) -> usize {
    let mantissa = token
        .trim_start_matches('-')
        .split(['e', 'E'])
        .next()
        .unwrap_or("");
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let trimmed = digits.trim_start_matches('0');
    let trimmed = if mantissa.contains('.') || trimmed.len() > EXACT_DIGITS {
        trimmed.trim_end_matches('0')
    } else {
        trimmed
    };
    trimmed.len().max(1)
}

/// A non-zero number that a double reads as zero or subnormal.
fn underflows(token: &str) -> bool {
    let v = token.parse::<f64>().unwrap_or(0.0);
    let nonzero = token
        .split(['e', 'E'])
        .next()
        .unwrap_or("")
        .chars()
        .any(|c| matches!(c, '1'..='9'));
    nonzero && (v == 0.0 || !v.is_normal())
}

/// `json` (valid JSON text) with every number EventBridge cannot take
/// exactly written as a string of its text; borrowed when there is none.
pub fn bus_safe(json: &str) -> Cow<'_, str> {
    let bytes = json.as_bytes();
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            b'-' | b'0'..=b'9' => {
                let start = i;
                while i < bytes.len()
                    && matches!(bytes[i], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                {
                    i += 1;
                }
                let token = &json[start..i];
                if !takes_as_number(token) {
                    let out = out.get_or_insert_with(|| String::with_capacity(json.len() + 16));
                    out.push_str(&json[copied..start]);
                    out.push('"');
                    out.push_str(token);
                    out.push('"');
                    copied = i;
                }
            }
            _ => i += 1,
        }
    }
    match out {
        None => Cow::Borrowed(json),
        Some(mut out) => {
            out.push_str(&json[copied..]);
            Cow::Owned(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_a_double_holds_stay_numbers() {
        for ok in [
            "0",
            "-1",
            "1.10",
            "999999999999999",
            "-999999999999999",
            "1000000000000000000",
            "9223372036854775807",
            "-9223372036854775808",
            "5.0e9",
            "1.5E-300",
            "0.000000000000001",
            "123456789012345e3",
            "1e308",
        ] {
            assert!(takes_as_number(ok), "{ok}");
        }
        for text in [
            "9223372036854775808",
            "-9223372036854775809",
            "12345678901234567890",
            "123456789012345678901234567890",
            "0.1234567890123456",
            "12345678901234567e3",
            "1e400",
            "-1e400",
            "1e-400",
            "4.9e-324",
        ] {
            assert!(!takes_as_number(text), "{text}");
        }
    }

    #[test]
    fn only_numbers_outside_strings_are_rewritten() {
        let json = r#"{"a":12345678901234567890,"b":"12345678901234567890","c":[1.5,1e400],"d":"x\"1e400","e":-0}"#;
        assert_eq!(
            bus_safe(json),
            r#"{"a":"12345678901234567890","b":"12345678901234567890","c":[1.5,"1e400"],"d":"x\"1e400","e":-0}"#
        );
        let plain = r#"{"amount":1.10,"n":[1,2,3]}"#;
        assert!(matches!(bus_safe(plain), Cow::Borrowed(_)));
        // The result is JSON, and every value a double cannot hold kept its text.
        let v: serde_json::Value = serde_json::from_str(&bus_safe(json)).unwrap();
        assert_eq!(v["c"][1], "1e400");
    }
}

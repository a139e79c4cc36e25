//! Number parsing with the C library's rules.
//!
//! The reference tools read numbers with `strtoimax`, `strtold` and
//! util-linux's size parser, and what those accept (leading blanks, a `+`
//! sign, hex floats, `nan`, `1e999`) or reject decides exit codes. Rust's own
//! parsers differ in each of these, so the rules are spelled out here.

/// Why a number was refused: C's `EINVAL` or `ERANGE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumError {
    Invalid,
    Range,
}

/// C `isspace` in the C locale.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

fn skip_space(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|&&b| is_space(b)).count();
    &s[n..]
}

/// What C's `strtol(s, &end, 10)` makes of the start of `s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Strtol<'a> {
    /// The value, saturated to the `long` range as C does (0 without digits).
    pub value: i64,
    /// Whether any digit was read.
    pub digits: bool,
    /// Whether the value saturated (C's `ERANGE`).
    pub overflow: bool,
    /// What follows the number (all of `s` without digits).
    pub rest: &'a [u8],
}

/// `strtol(s, &end, 10)`: blanks, a sign, decimal digits.
pub fn strtol(s: &[u8]) -> Strtol<'_> {
    let t = skip_space(s);
    let (negative, body) = match t.first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let n = body.iter().take_while(|b| b.is_ascii_digit()).count();
    if n == 0 {
        return Strtol {
            value: 0,
            digits: false,
            overflow: false,
            rest: s,
        };
    }
    // Accumulate past i64 (capped), then saturate like C.
    let cap = i128::from(i64::MAX) + 2;
    let mut v: i128 = 0;
    for &d in &body[..n] {
        v = (v * 10 + i128::from(d - b'0')).min(cap);
    }
    let v = if negative { -v } else { v };
    let value = v.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64;
    Strtol {
        value,
        digits: true,
        overflow: i128::from(value) != v,
        rest: &body[n..],
    }
}

/// `strtoimax(s, &end, 10)` where the whole string must be a number, as
/// util-linux's `strtos64_or_err` demands: blanks before it and a sign are
/// allowed, nothing after it. Overflow is reported even when junk follows
/// (C sets `ERANGE` before anyone looks at the rest).
pub fn parse_i64(s: &[u8]) -> Result<i64, NumError> {
    let r = strtol(s);
    if r.overflow {
        Err(NumError::Range)
    } else if !r.digits || !r.rest.is_empty() {
        Err(NumError::Invalid)
    } else {
        Ok(r.value)
    }
}

/// C `atoi`: `strtol` narrowed to an `int` (wrapping, as the conversion does).
pub fn atoi(s: &[u8]) -> i32 {
    strtol(s).value as i32
}

/// `parse_i64` limited to a C `int` (util-linux's `strtos32_or_err`).
pub fn parse_i32(s: &[u8]) -> Result<i32, NumError> {
    i32::try_from(parse_i64(s)?).map_err(|_| NumError::Range)
}

/// `strtoumax(s, &end, 0)`: the value and the unparsed rest.
fn strtoumax_base0(s: &[u8]) -> Result<(u64, &[u8]), NumError> {
    let t = skip_space(s);
    let t = t.strip_prefix(b"+").unwrap_or(t);
    let (radix, body) = match t {
        [b'0', b'x' | b'X', h, ..] if h.is_ascii_hexdigit() => (16, &t[2..]),
        [b'0', ..] => (8, t),
        _ => (10, t),
    };
    let digits = body
        .iter()
        .take_while(|b| (**b as char).is_digit(radix))
        .count();
    if digits == 0 {
        return Err(NumError::Invalid);
    }
    let mut value: u64 = 0;
    for &d in &body[..digits] {
        let d = (d as char).to_digit(radix).unwrap_or(0);
        value = value
            .checked_mul(u64::from(radix))
            .and_then(|v| v.checked_add(u64::from(d)))
            .ok_or(NumError::Range)?;
    }
    Ok((value, &body[digits..]))
}

/// A size with an optional binary (`K`, `KiB`: 1024) or decimal (`KB`: 1000)
/// suffix K M G T P E Z Y and, before a suffix, a decimal fraction (`0.5K` is
/// 512), as util-linux's `--start`/`--length` accept. Negative numbers are
/// refused. Unlike upstream's digit-by-digit approximation, the fraction is
/// applied exactly (rounded down).
pub fn parse_size(s: &[u8]) -> Result<u64, NumError> {
    if skip_space(s).first().is_none_or(|&b| b == b'-') {
        return Err(NumError::Invalid);
    }
    let (whole, rest) = strtoumax_base0(s)?;
    if rest.is_empty() {
        return Ok(whole);
    }
    // An optional fraction, then exactly one suffix.
    let (fraction, rest): (&[u8], &[u8]) = match rest.strip_prefix(b".") {
        Some(r) => {
            let n = r.iter().take_while(|b| b.is_ascii_digit()).count();
            (&r[..n], &r[n..])
        }
        None => (b"", rest),
    };
    let (letter, base): (u8, u128) = match rest {
        [l] => (*l, 1024),
        [l, b'i', b'B' | b'b'] => (*l, 1024),
        [l, b'B' | b'b'] => (*l, 1000),
        _ => return Err(NumError::Invalid),
    };
    let power = b"KMGTPEZY"
        .iter()
        .position(|&c| c == letter.to_ascii_uppercase())
        .ok_or(NumError::Invalid)?;
    let unit = base.pow(power as u32 + 1); // at most 1024^8 = 2^80: fits u128
    // whole (< 2^64) × unit (≤ 2^80) can exceed u128; anything that large
    // is out of range anyway.
    let whole_part = u128::from(whole).checked_mul(unit).ok_or(NumError::Range)?;
    // floor(unit × 0.d1d2…dn), exactly and without overflow, from the last
    // digit back: floor((unit×d + y) / 10) = floor((unit×d + floor(y)) / 10)
    // for y ≥ 0, and every step stays below 10 × unit. (Multiplying by the
    // whole fraction as a u128 numerator overflowed for long fractions.)
    let fraction_part = fraction
        .iter()
        .rev()
        .fold(0u128, |y, &d| (unit * u128::from(d - b'0') + y) / 10);
    let total = whole_part
        .checked_add(fraction_part)
        .ok_or(NumError::Range)?;
    u64::try_from(total).map_err(|_| NumError::Range)
}

/// The decimal point of the user's `LC_NUMERIC` locale, as `strtold` would
/// use it after `setlocale(LC_ALL, "")` (util-linux does that, so under a
/// German locale `flock -w 0,5` is the valid spelling and `0.5` is not).
pub fn locale_decimal_point() -> Vec<u8> {
    // SAFETY: setlocale/localeconv are called from the single thread before
    // anything else reads the locale; the returned string is copied at once.
    unsafe {
        libc::setlocale(libc::LC_NUMERIC, c"".as_ptr());
        let lc = libc::localeconv();
        if lc.is_null() || (*lc).decimal_point.is_null() {
            return b".".to_vec();
        }
        let point = std::ffi::CStr::from_ptr((*lc).decimal_point).to_bytes();
        if point.is_empty() {
            b".".to_vec()
        } else {
            point.to_vec()
        }
    }
}

/// A length of time in seconds, read as flock reads `-w` (decimal
/// fractions with the locale's decimal point): not negative, finite.
pub fn parse_secs(s: &[u8]) -> Result<std::time::Duration, NumError> {
    let secs = parse_f64(s, &locale_decimal_point())?;
    std::time::Duration::try_from_secs_f64(secs).map_err(|_| NumError::Invalid)
}

/// `strtold` of the whole string, as util-linux's `strtold_or_err` demands,
/// then converted to `double`. `point` is the locale's decimal point.
///
/// Accepts blanks before the number, a sign, decimal and hex (`0x1p-2`)
/// floats, `inf`/`infinity` and `nan`/`nan(chars)`. A value outside the range
/// of an x86 `long double` is `Range`; one inside it but outside `f64`'s
/// becomes infinity or zero, as the C conversion does.
pub fn parse_f64(s: &[u8], point: &[u8]) -> Result<f64, NumError> {
    let t = skip_space(s);
    let (negative, t) = match t.first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let (magnitude, rest) = parse_unsigned_float(t, point)?;
    let value = if negative {
        -magnitude.value
    } else {
        magnitude.value
    };
    match (magnitude.out_of_range, rest.is_empty()) {
        (true, _) => Err(NumError::Range),
        (false, true) => Ok(value),
        (false, false) => Err(NumError::Invalid),
    }
}

struct Magnitude {
    value: f64,
    /// Beyond `long double`: overflow, or a non-zero value below its normal range.
    out_of_range: bool,
}

fn parse_unsigned_float<'a>(t: &'a [u8], point: &[u8]) -> Result<(Magnitude, &'a [u8]), NumError> {
    let lower: Vec<u8> = t.iter().take(8).map(u8::to_ascii_lowercase).collect();
    let exact = |value| Magnitude {
        value,
        out_of_range: false,
    };
    if lower.starts_with(b"infinity") {
        return Ok((exact(f64::INFINITY), &t[8..]));
    }
    if lower.starts_with(b"inf") {
        return Ok((exact(f64::INFINITY), &t[3..]));
    }
    if lower.starts_with(b"nan") {
        let mut rest = &t[3..];
        if let Some(inner) = rest.strip_prefix(b"(") {
            let n = inner
                .iter()
                .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_')
                .count();
            if inner.get(n) == Some(&b')') {
                rest = &inner[n + 1..];
            }
        }
        return Ok((exact(f64::NAN), rest));
    }
    if let [b'0', b'x' | b'X', after @ ..] = t {
        let starts_hex = match after {
            [h, ..] if h.is_ascii_hexdigit() => true,
            _ => after
                .strip_prefix(point)
                .and_then(|r| r.first())
                .is_some_and(u8::is_ascii_hexdigit),
        };
        if starts_hex {
            return Ok(parse_hex_float(after, point));
        }
    }
    parse_decimal_float(t, point)
}

/// Digits with an optional point: (integer digits, fraction digits, rest).
fn mantissa<'a>(t: &'a [u8], radix: u32, point: &[u8]) -> (&'a [u8], &'a [u8], &'a [u8]) {
    let is_digit = |b: &u8| (*b as char).is_digit(radix);
    let int_len = t.iter().take_while(|b| is_digit(b)).count();
    let (int, rest) = t.split_at(int_len);
    match rest.strip_prefix(point) {
        Some(after) => {
            let frac_len = after.iter().take_while(|b| is_digit(b)).count();
            (int, &after[..frac_len], &after[frac_len..])
        }
        None => (int, b"", rest),
    }
}

/// An exponent `[eEpP][+-]digits`, consumed only if digits follow.
fn exponent<'a>(t: &'a [u8], marks: &[u8]) -> (i64, &'a [u8]) {
    let Some((&m, after)) = t.split_first() else {
        return (0, t);
    };
    if !marks.contains(&m) {
        return (0, t);
    }
    let (negative, digits) = match after.first() {
        Some(b'-') => (true, &after[1..]),
        Some(b'+') => (false, &after[1..]),
        _ => (false, after),
    };
    let n = digits.iter().take_while(|b| b.is_ascii_digit()).count();
    if n == 0 {
        return (0, t);
    }
    // Saturate: any exponent this large is out of range anyway.
    let value = digits[..n].iter().fold(0i64, |v, d| {
        v.saturating_mul(10).saturating_add(i64::from(d - b'0'))
    });
    (if negative { -value } else { value }, &digits[n..])
}

fn parse_decimal_float<'a>(t: &'a [u8], point: &[u8]) -> Result<(Magnitude, &'a [u8]), NumError> {
    let (int, frac, rest) = mantissa(t, 10, point);
    if int.is_empty() && frac.is_empty() {
        return Err(NumError::Invalid);
    }
    let (exp, rest) = exponent(rest, b"eE");
    let digits: Vec<u8> = int.iter().chain(frac).copied().collect();
    let Some(first) = digits.iter().position(|&d| d != b'0') else {
        return Ok((
            Magnitude {
                value: 0.0,
                out_of_range: false,
            },
            rest,
        ));
    };
    let significant = &digits[first..];
    // value = 0.d1d2d3… × 10^point
    let point = (int.len() as i64 - first as i64).saturating_add(exp);
    // Decimal exponent of the leading digit: d1.d2d3… × 10^lead
    let lead = point.saturating_sub(1);
    let clamped = lead.clamp(-99_999, 99_999);
    let text = format!(
        "{}.{}e{}",
        significant[0] as char,
        std::str::from_utf8(&significant[1..]).unwrap_or("0"),
        clamped
    );
    let value: f64 = text.parse().unwrap_or(f64::INFINITY);
    // x86 long double: max 1.18973149535723176502e4932, min normal
    // 3.36210314311209350626e-4932.
    let leading: f64 = format!(
        "{}.{}",
        significant[0] as char,
        std::str::from_utf8(&significant[1..significant.len().min(18)]).unwrap_or("0")
    )
    .parse()
    .unwrap_or(1.0);
    let out_of_range = lead > 4932
        || (lead == 4932 && leading > 1.189_731_495_357_231_8)
        || lead < -4932
        || (lead == -4932 && leading < 3.362_103_143_112_093_5);
    Ok((
        Magnitude {
            value,
            out_of_range,
        },
        rest,
    ))
}

fn parse_hex_float<'a>(t: &'a [u8], point: &[u8]) -> (Magnitude, &'a [u8]) {
    let (int, frac, rest) = mantissa(t, 16, point);
    let (exp, rest) = exponent(rest, b"pP");
    let digits = int
        .iter()
        .chain(frac)
        .map(|&d| (d as char).to_digit(16).unwrap_or(0));
    // Keep the first 16 significant hex digits (64 bits); the rest only
    // shift the binary point.
    let mut mant: u64 = 0;
    let mut kept = 0usize;
    let mut seen_nonzero = false;
    let mut dropped = 0i64;
    for d in digits {
        seen_nonzero |= d != 0;
        if !seen_nonzero {
            continue;
        }
        if kept < 16 {
            mant = (mant << 4) | u64::from(d);
            kept += 1;
        } else {
            dropped += 1;
        }
    }
    if mant == 0 {
        let zero = Magnitude {
            value: 0.0,
            out_of_range: false,
        };
        return (zero, rest);
    }
    let shift = exp
        .saturating_add(dropped.saturating_mul(4))
        .saturating_sub(frac.len() as i64 * 4);
    // Binary exponent of the leading bit.
    let top = shift.saturating_add(63 - i64::from(mant.leading_zeros()));
    let out_of_range = !(-16382..16384).contains(&top);
    let mut value = mant as f64;
    let mut remaining = shift.clamp(-4000, 4000) as i32;
    while remaining != 0 {
        let step = remaining.clamp(-1000, 1000);
        value *= 2f64.powi(step);
        remaining -= step;
    }
    (
        Magnitude {
            value,
            out_of_range,
        },
        rest,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use NumError::*;

    #[test]
    fn integers_like_strtoimax() {
        assert_eq!(parse_i64(b" +5"), Ok(5));
        assert_eq!(parse_i64(b"05"), Ok(5));
        assert_eq!(parse_i64(b"-9223372036854775808"), Ok(i64::MIN));
        assert_eq!(parse_i64(b"9223372036854775808"), Err(Range));
        assert_eq!(parse_i64(b"99999999999999999999x"), Err(Range));
        assert_eq!(parse_i64(b"0x10"), Err(Invalid));
        assert_eq!(parse_i64(b""), Err(Invalid));
        assert_eq!(parse_i64(b" "), Err(Invalid));
        assert_eq!(parse_i64(b"5 "), Err(Invalid));
        assert_eq!(parse_i32(b"2147483648"), Err(Range));
        assert_eq!(parse_i32(b"-2147483648"), Ok(i32::MIN));
    }

    #[test]
    fn atoi_like_c() {
        assert_eq!(atoi(b"  123 xyz"), 123);
        assert_eq!(atoi(b"-5"), -5);
        assert_eq!(atoi(b"hello"), 0);
        assert_eq!(atoi(b""), 0);
        assert_eq!(atoi(b"4294967297"), 1);
        assert_eq!(atoi(b"+7\n"), 7);
        assert_eq!(atoi(b"99999999999999999999"), -1);
        assert_eq!(atoi(b"-99999999999999999999"), 0);
        assert_eq!(strtol(b"3x").rest, b"x");
        assert!(!strtol(b"!").digits);
    }

    fn parse_f64_c(s: &[u8]) -> Result<f64, NumError> {
        parse_f64(s, b".")
    }

    #[test]
    fn the_decimal_point_is_the_locales() {
        assert_eq!(parse_f64(b"0,5", b","), Ok(0.5));
        assert_eq!(parse_f64(b"0.5", b","), Err(Invalid));
        assert_eq!(parse_f64(b"0x,8", b","), Ok(0.5));
    }

    #[test]
    fn floats_like_strtold() {
        assert_eq!(parse_f64_c(b" 1"), Ok(1.0));
        assert_eq!(parse_f64_c(b"0x1p-2"), Ok(0.25));
        assert_eq!(parse_f64_c(b"0x.8"), Ok(0.5));
        assert_eq!(parse_f64_c(b".5"), Ok(0.5));
        assert_eq!(parse_f64_c(b"5."), Ok(5.0));
        assert_eq!(parse_f64_c(b"1e3"), Ok(1000.0));
        assert_eq!(parse_f64_c(b"-0"), Ok(-0.0));
        assert_eq!(parse_f64_c(b"INF"), Ok(f64::INFINITY));
        assert_eq!(parse_f64_c(b"-infinity"), Ok(f64::NEG_INFINITY));
        assert!(parse_f64_c(b"nan").unwrap().is_nan());
        assert!(parse_f64_c(b"nan(0x1f_a)").unwrap().is_nan());
        assert_eq!(parse_f64_c(b"1e999"), Ok(f64::INFINITY));
        assert_eq!(parse_f64_c(b"1e-400"), Ok(0.0));
        assert_eq!(parse_f64_c(b"1e5000"), Err(Range));
        assert_eq!(parse_f64_c(b"1e-5000"), Err(Range));
        assert_eq!(parse_f64_c(b"1e5000x"), Err(Range));
        assert_eq!(parse_f64_c(b"0e-99999"), Ok(0.0));
        for bad in [
            &b""[..],
            b"abc",
            b"1 ",
            b"1,5",
            b"0x",
            b"1e",
            b"nan(",
            b"-",
            b".",
        ] {
            assert_eq!(parse_f64_c(bad), Err(Invalid), "{bad:?}");
        }
    }

    #[test]
    fn sizes_like_util_linux() {
        assert_eq!(parse_size(b"1KiB"), Ok(1024));
        assert_eq!(parse_size(b"0.5K"), Ok(512));
        assert_eq!(parse_size(b"1KB"), Ok(1000));
        assert_eq!(parse_size(b"2m"), Ok(2 << 20));
        assert_eq!(parse_size(b"0x10"), Ok(16));
        assert_eq!(parse_size(b"010"), Ok(8));
        assert_eq!(parse_size(b"15EiB"), Ok(15 << 60));
        assert_eq!(parse_size(b"16EiB"), Err(Range));
        assert_eq!(parse_size(b"20EiB"), Err(Range));
        assert_eq!(parse_size(b"1Y"), Err(Range));
        assert_eq!(parse_size(b"0Y"), Ok(0));
        assert_eq!(parse_size(b"18446744073709551616"), Err(Range));
        // Products past u128 on the way.
        assert_eq!(parse_size(b"0400000000000000000042Z"), Err(Range));
        assert_eq!(parse_size(b"0xffffffffffffffffY"), Err(Range));
        assert_eq!(parse_size(b"0x400000000000000Z"), Err(Range)); // 2^128 wrapped to 0
        assert_eq!(
            parse_size(b"0.9999999999999999999999999999999999999Y"),
            Err(Range)
        );
        assert_eq!(parse_size(b"15.9999999999999999999999999EiB"), Ok(u64::MAX));
        assert_eq!(
            parse_size(b"0.99999999999999999999999999999999999K"),
            Ok(1023)
        );
        assert_eq!(parse_size(b"0.00000000000000000000000000000000001E"), Ok(0));
        assert_eq!(parse_size(b"0.75KB"), Ok(750));
        assert_eq!(parse_size(b"1.0009765625K"), Ok(1025));
        for bad in [
            &b""[..],
            b"abc",
            b"-1",
            b" -1",
            b"1Q",
            b"1.5",
            b"1 K",
            b"1KiBx",
        ] {
            assert_eq!(parse_size(bad), Err(Invalid), "{bad:?}");
        }
    }
}

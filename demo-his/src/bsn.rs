//! Synthetic BSNs (burgerservicenummers): 9 digits that pass the eleven test and start with 99,
//! so they are recognisably not real ones.

/// The i-th synthetic BSN, increasing with i (so unique).
/// Only one in eleven 9-digit numbers passes, so 100,000 of them do not fit under 999.
pub(crate) fn nth(i: u32) -> String {
    // Each patient owns a block of 9 prefixes; consecutive prefixes step the check sum by 2,
    // so at most one prefix in a block lacks a valid check digit.
    let mut n = 99_000_000 + u64::from(i) * 9;
    loop {
        let sum: u64 = digits(n).iter().enumerate().map(|(k, d)| d * (9 - k as u64)).sum();
        let check = sum % 11;
        if check < 10 {
            return format!("{n}{check}");
        }
        n += 1;
    }
}

fn digits(n: u64) -> Vec<u64> {
    n.to_string().bytes().map(|b| u64::from(b - b'0')).collect()
}

/// The BSN eleven test: 9 digits, 9·d1 + 8·d2 + ... + 2·d8 − d9 divisible by 11.
pub fn passes_eleven_test(bsn: &str) -> bool {
    if bsn.len() != 9 || !bsn.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let sum: i64 = bsn
        .bytes()
        .enumerate()
        .map(|(k, b)| {
            let d = i64::from(b - b'0');
            if k == 8 {
                -d
            } else {
                d * (9 - k as i64)
            }
        })
        .sum();
    sum % 11 == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MAX_PATIENTS;

    #[test]
    fn synthetic_bsns_pass_the_eleven_test_and_are_unique() {
        let all: Vec<String> = (0..MAX_PATIENTS).map(nth).collect();
        for b in &all {
            assert!(passes_eleven_test(b), "{b}");
            assert!(b.starts_with("99") && b.len() == 9, "{b}");
        }
        assert!(all.windows(2).all(|w| w[0] < w[1]), "BSNs increase, so they are unique");
    }

    #[test]
    fn the_eleven_test_refuses_what_it_must() {
        // 9·9 + 8·9 + ... + 2·9 − 0 = 396 = 36·11; one digit off fails.
        assert!(passes_eleven_test("999999990"));
        assert!(!passes_eleven_test("999999991"));
        for bad in ["", "12345678", "1234567890", "99999999a", "٩٩٩٩٩٩٩٩٠"] {
            assert!(!passes_eleven_test(bad), "{bad:?}");
        }
    }
}

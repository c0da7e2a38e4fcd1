//! The few fields of an X.509 certificate that the client checks need beyond what webpki
//! exposes: when it expires, and whether it names client authentication among its extended key
//! usages (webpki accepts a certificate without the extension for any usage). Read from the DER
//! of a certificate webpki has already verified, so a malformed one is simply `None`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// id-ce-extKeyUsage, 2.5.29.37.
const EXT_KEY_USAGE: &[u8] = &[0x55, 0x1d, 0x25];
/// id-kp-clientAuth, 1.3.6.1.5.5.7.3.2.
const CLIENT_AUTH: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x02];

/// What the client checks read from a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CertificateFacts {
    pub not_after: SystemTime,
    /// The extended key usage extension is present and names clientAuth.
    pub client_auth: bool,
}

impl CertificateFacts {
    pub fn read(der: &[u8]) -> Option<CertificateFacts> {
        let (certificate, _) = element(der, 0x30)?;
        let (mut tbs, _) = element(certificate, 0x30)?;
        // version [0] EXPLICIT, optional
        if tbs.first() == Some(&0xa0) {
            tbs = element(tbs, 0xa0)?.1;
        }
        let rest = skip(tbs, 0x02)?; // serialNumber
        let rest = skip(rest, 0x30)?; // signature
        let rest = skip(rest, 0x30)?; // issuer
        let (validity, rest) = element(rest, 0x30)?;
        let not_after = {
            let after_before = skip_any(validity)?;
            let (tag, value) = any(after_before)?;
            time(tag, value)?
        };
        let rest = skip(rest, 0x30)?; // subject
        let mut rest = skip(rest, 0x30)?; // subjectPublicKeyInfo
        let mut client_auth = false;
        while let Some((tag, value)) = any(rest) {
            rest = skip_any(rest)?;
            // extensions [3] EXPLICIT SEQUENCE OF Extension
            if tag != 0xa3 {
                continue;
            }
            let (mut extensions, _) = element(value, 0x30)?;
            while !extensions.is_empty() {
                let (extension, more) = element(extensions, 0x30)?;
                extensions = more;
                let (oid, after_oid) = element(extension, 0x06)?;
                if oid != EXT_KEY_USAGE {
                    continue;
                }
                // critical BOOLEAN DEFAULT FALSE, then extnValue OCTET STRING
                let after_critical = if after_oid.first() == Some(&0x01) { skip(after_oid, 0x01)? } else { after_oid };
                let (value, _) = element(after_critical, 0x04)?;
                let (mut purposes, _) = element(value, 0x30)?;
                while !purposes.is_empty() {
                    let (purpose, more) = element(purposes, 0x06)?;
                    client_auth |= purpose == CLIENT_AUTH;
                    purposes = more;
                }
            }
        }
        Some(CertificateFacts { not_after, client_auth })
    }
}

/// The content of the element at the start of `input` if its tag is `tag`, and what follows.
fn element(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    match any(input)? {
        (t, _) if t != tag => None,
        _ => {
            let (_, content, rest) = split(input)?;
            Some((content, rest))
        }
    }
}

fn any(input: &[u8]) -> Option<(u8, &[u8])> {
    split(input).map(|(tag, content, _)| (tag, content))
}

fn skip(input: &[u8], tag: u8) -> Option<&[u8]> {
    element(input, tag).map(|(_, rest)| rest)
}

fn skip_any(input: &[u8]) -> Option<&[u8]> {
    split(input).map(|(_, _, rest)| rest)
}

/// Tag, content and rest of a DER element (definite lengths only, as DER has).
fn split(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, mut rest) = rest.split_first()?;
    let length = if first < 0x80 {
        usize::from(first)
    } else {
        let bytes = usize::from(first & 0x7f);
        if bytes == 0 || bytes > 4 || rest.len() < bytes {
            return None;
        }
        let (digits, after) = rest.split_at(bytes);
        rest = after;
        digits.iter().fold(0usize, |n, d| (n << 8) | usize::from(*d))
    };
    if rest.len() < length {
        return None;
    }
    let (content, rest) = rest.split_at(length);
    Some((tag, content, rest))
}

/// UTCTime (`YYMMDDHHMMSSZ`) or GeneralizedTime (`YYYYMMDDHHMMSSZ`).
fn time(tag: u8, value: &[u8]) -> Option<SystemTime> {
    let text = std::str::from_utf8(value).ok()?.strip_suffix('Z')?;
    let (year, rest) = match tag {
        0x17 if text.len() == 12 => {
            let yy: i32 = text.get(..2)?.parse().ok()?;
            (if yy < 50 { 2000 + yy } else { 1900 + yy }, &text[2..])
        }
        0x18 if text.len() == 14 => (text.get(..4)?.parse().ok()?, &text[4..]),
        _ => return None,
    };
    let number = |r: std::ops::Range<usize>| rest.get(r).and_then(|s| s.parse::<u32>().ok());
    let date = chrono::NaiveDate::from_ymd_opt(year, number(0..2)?, number(2..4)?)?;
    let at = date.and_hms_opt(number(4..6)?, number(6..8)?, number(8..10)?)?.and_utc().timestamp();
    Some(UNIX_EPOCH + Duration::from_secs(u64::try_from(at).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_in_both_forms() {
        let t =
            |tag, s: &str| time(tag, s.as_bytes()).and_then(|t| t.duration_since(UNIX_EPOCH).ok()).map(|d| d.as_secs());
        assert_eq!(t(0x17, "261201120000Z"), Some(1_796_126_400));
        assert_eq!(t(0x18, "20261201120000Z"), Some(1_796_126_400));
        assert_eq!(t(0x17, "991231235959Z"), Some(946_684_799));
        assert_eq!(t(0x17, "2612011200Z"), None);
    }
}

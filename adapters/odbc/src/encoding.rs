//! How character data travels between the driver and the connector.

/// The character encoding used with the driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TextEncoding {
    /// UTF-16 through the ODBC wide functions: the driver converts from whatever the database
    /// stores (Windows-1252, Latin-1, UTF-8). Right for almost every driver.
    #[default]
    Utf16,
    /// Narrow functions, bytes taken as UTF-8 (drivers without wide support on a UTF-8 system).
    Utf8,
    /// Narrow functions, bytes taken as Windows-1252: legacy databases whose driver hands out
    /// the stored bytes unconverted.
    Windows1252,
}

impl TextEncoding {
    /// The encoding by its configuration name.
    pub fn from_name(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "utf-16" | "utf16" | "wide" => Some(Self::Utf16),
            "utf-8" | "utf8" => Some(Self::Utf8),
            "windows-1252" | "cp1252" => Some(Self::Windows1252),
            _ => None,
        }
    }

    /// Narrow bytes from the driver as text; `None` when they are not valid in this encoding.
    pub fn decode_narrow(self, bytes: &[u8]) -> Option<String> {
        match self {
            Self::Windows1252 => Some(bytes.iter().map(|&b| cp1252_char(b)).collect()),
            Self::Utf8 | Self::Utf16 => String::from_utf8(bytes.to_vec()).ok(),
        }
    }

    /// Text as narrow bytes for the driver; `None` when a character has no byte in this
    /// encoding (the value could not match anything stored in it).
    pub fn encode_narrow(self, text: &str) -> Option<Vec<u8>> {
        match self {
            Self::Windows1252 => text.chars().map(cp1252_byte).collect(),
            Self::Utf8 | Self::Utf16 => Some(text.as_bytes().to_vec()),
        }
    }
}

/// Windows-1252 bytes 0x80..=0x9F; `None` marks the five unassigned ones.
const CP1252_HIGH: [Option<char>; 32] = [
    Some('€'),
    None,
    Some('‚'),
    Some('ƒ'),
    Some('„'),
    Some('…'),
    Some('†'),
    Some('‡'),
    Some('ˆ'),
    Some('‰'),
    Some('Š'),
    Some('‹'),
    Some('Œ'),
    None,
    Some('Ž'),
    None,
    None,
    Some('‘'),
    Some('’'),
    Some('“'),
    Some('”'),
    Some('•'),
    Some('–'),
    Some('—'),
    Some('˜'),
    Some('™'),
    Some('š'),
    Some('›'),
    Some('œ'),
    None,
    Some('ž'),
    Some('Ÿ'),
];

fn cp1252_char(b: u8) -> char {
    match b {
        // Unassigned bytes decode to the C1 control of the same number, as the WHATWG decoder does.
        0x80..=0x9F => CP1252_HIGH[usize::from(b - 0x80)].unwrap_or(char::from(b)),
        _ => char::from(b),
    }
}

fn cp1252_byte(c: char) -> Option<u8> {
    let code = u32::from(c);
    if code < 0x80 || (0xA0..=0xFF).contains(&code) {
        return u8::try_from(code).ok();
    }
    CP1252_HIGH.iter().position(|&h| h == Some(c)).and_then(|i| u8::try_from(0x80 + i).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_1252_round_trips_dutch_text() {
        let stored = b"Ren\xe9e \x80 ge\xefnd \x93quote\x94";
        let text = TextEncoding::Windows1252.decode_narrow(stored).expect("decodes");
        assert_eq!(text, "Renée € geïnd “quote”");
        assert_eq!(TextEncoding::Windows1252.encode_narrow(&text).as_deref(), Some(&stored[..]));
        assert_eq!(TextEncoding::Windows1252.encode_narrow("日本"), None);
    }

    #[test]
    fn invalid_utf8_is_refused_not_replaced() {
        assert_eq!(TextEncoding::Utf8.decode_narrow(b"Ren\xe9e"), None);
    }

    #[test]
    fn names() {
        assert_eq!(TextEncoding::from_name("Windows-1252"), Some(TextEncoding::Windows1252));
        assert_eq!(TextEncoding::from_name("latin9"), None);
    }
}

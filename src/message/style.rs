//! Chat style: bold/italic/underline bits and a colour (PROTOCOL.md §3.1 `m`).

use std::fmt;

/// A chat message style as carried in the style field of `m` and `w` (PROTOCOL.md §3.1):
/// `""`, or the decimal bit set (bold 4, italic 2, underline 1), optionally followed by
/// `" #rrggbb"`; colour only gives a leading space (`" #00ff00"`).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Style {
    /// Bit 4.
    pub bold: bool,
    /// Bit 2.
    pub italic: bool,
    /// Bit 1.
    pub underline: bool,
    /// Text colour; `None` = the room default.
    pub color: Option<Color>,
}

/// A colour normalised to lowercase `#rrggbb` (PROTOCOL.md §3.1, §6 `room.action.send`).
///
/// Accepted input: `#rgb`, `#rrggbb` (any case) and `rgb(r, g, b)` with 0–255 components.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Color(String);

/// A style string or colour that could not be understood (PROTOCOL.md §3.1 `m`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StyleError {
    /// The colour is not in an accepted form.
    BadColor(String),
    /// The style bits are not a decimal number from 0 to 7.
    BadBits(String),
}

impl fmt::Display for StyleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StyleError::BadColor(v) => write!(
                f,
                "colour {} is not understood; use #rgb, #rrggbb or rgb(r, g, b) with 0-255 components",
                crate::codec::Quoted('"', v)
            ),
            StyleError::BadBits(v) => write!(
                f,
                "style bits {} are not a number from 0 to 7 (bold 4 + italic 2 + underline 1)",
                crate::codec::Quoted('"', v)
            ),
        }
    }
}

impl std::error::Error for StyleError {}

impl Color {
    /// Parse and normalise a colour (see [`Color`] for the accepted forms).
    pub fn parse(input: &str) -> Result<Color, StyleError> {
        // Already in the form this returns (what a bot usually passes, and what `send` parses
        // per line): one copy, no trimming or lowercasing.
        if let [b'#', hex @ ..] = input.as_bytes() {
            if hex.len() == 6 && hex.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
                return Ok(Color(input.to_owned()));
            }
        }
        let bad = || StyleError::BadColor(input.to_owned());
        let s = input.trim();
        if let Some(hex) = s.strip_prefix('#') {
            if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(bad());
            }
            let hex = hex.to_ascii_lowercase();
            return match hex.len() {
                6 => Ok(Color(format!("#{hex}"))),
                3 => Ok(Color(hex.chars().fold(String::from("#"), |mut acc, c| {
                    acc.push(c);
                    acc.push(c);
                    acc
                }))),
                _ => Err(bad()),
            };
        }
        let lower = s.to_ascii_lowercase();
        if let Some(inner) = lower
            .strip_prefix("rgb")
            .map(str::trim_start)
            .and_then(|r| r.strip_prefix('('))
            .and_then(|r| r.strip_suffix(')'))
        {
            let parts: Vec<&str> = inner.split(',').map(str::trim).collect();
            if parts.len() != 3 {
                return Err(bad());
            }
            let mut out = String::from("#");
            for p in parts {
                if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(bad());
                }
                let v: u8 = p.parse().map_err(|_| bad())?;
                // Not `format!("{v:02x}")`: hex formatting is extra code in the wasm.
                out.push_str(&crate::codec::hex_encode(&[v]));
            }
            return Ok(Color(out));
        }
        Err(bad())
    }

    /// The normalised `#rrggbb` text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Color {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for Color {
    type Err = StyleError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Color::parse(s)
    }
}

impl Style {
    /// No bits, default colour (wire form `""`).
    pub fn plain() -> Style {
        Style::default()
    }

    /// Builder: set the colour from any accepted form (see [`Color`]).
    pub fn with_color(mut self, color: &str) -> Result<Style, StyleError> {
        self.color = Some(Color::parse(color)?);
        Ok(self)
    }

    /// The bit set: bold 4, italic 2, underline 1.
    pub fn bits(&self) -> u8 {
        (u8::from(self.bold) << 2) | (u8::from(self.italic) << 1) | u8::from(self.underline)
    }

    /// Parse a style field as sent by clients and relayed by the server: `""`, `"7"`,
    /// `"4 #ff0000"`, `" #00ff00"`. The colour part accepts every [`Color`] form.
    pub fn parse(wire: &str) -> Result<Style, StyleError> {
        let (bits, color) = match wire.split_once(' ') {
            Some((bits, color)) => (bits, Some(color)),
            None => (wire, None),
        };
        let n: u8 = if bits.is_empty() {
            0
        } else if bits.bytes().all(|b| b.is_ascii_digit()) {
            bits.parse()
                .ok()
                .filter(|n| *n <= 7)
                .ok_or_else(|| StyleError::BadBits(bits.to_owned()))?
        } else {
            return Err(StyleError::BadBits(bits.to_owned()));
        };
        let color = match color.map(str::trim) {
            None | Some("") => None,
            Some(c) => Some(Color::parse(c)?),
        };
        Ok(Style {
            color,
            ..Style::from_bits(n)
        })
    }

    /// The style of bit set `bits` (bold 4, italic 2, underline 1; higher bits ignored), no
    /// colour.
    pub fn from_bits(bits: u8) -> Style {
        Style {
            bold: bits & 4 != 0,
            italic: bits & 2 != 0,
            underline: bits & 1 != 0,
            color: None,
        }
    }

    /// The wire form uchat.js sends: `""`, `"4"`, `"4 #ff0000"`, `" #00ff00"`.
    pub fn to_wire(&self) -> String {
        let bits = self.bits();
        let mut s = if bits == 0 {
            String::new()
        } else {
            bits.to_string()
        };
        if let Some(c) = &self.color {
            s.push(' ');
            s.push_str(c.as_str());
        }
        s
    }
}

impl fmt::Display for Style {
    /// The wire form ([`Style::to_wire`]).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_wire())
    }
}

/// The last few coloured styles a bot sent, by style bits and colour text as given: a bot sends
/// in a handful of colours, and parsing the colour ([`Color::parse`]: trimming, lowercasing,
/// the `#f00` and `rgb()` forms) was a tenth of a browser `send` (docs/PERFORMANCE.md
/// "Encode"). Uncoloured styles need no entry ([`Style::from_bits`]).
#[derive(Debug, Default)]
pub struct StyleCache {
    /// The first `len` are in use.
    entries: [(u8, Vec<u8>, Style); StyleCache::SIZE],
    len: usize,
    /// The entry to replace next (round robin).
    next: usize,
}

impl StyleCache {
    /// Entries kept.
    pub const SIZE: usize = 8;

    /// The style of `bits` (as [`Style::from_bits`]) with colour `color` (as
    /// [`Style::with_color`]), parsed on a miss; a colour that does not parse is not kept.
    pub fn get(&mut self, bits: u8, color: &str) -> Result<&Style, StyleError> {
        let used = &self.entries[..self.len.min(Self::SIZE)];
        let at = match used
            .iter()
            .position(|(b, c, _)| *b == bits && c[..] == *color.as_bytes())
        {
            Some(at) => at,
            None => {
                let style = Style::from_bits(bits).with_color(color)?;
                let at = self.next % Self::SIZE;
                self.next = at + 1;
                self.len = self.len.max(at + 1);
                self.entries[at] = (bits, color.as_bytes().to_vec(), style);
                at
            }
        };
        Ok(&self.entries[at % Self::SIZE].2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    // In the browser suites (wasm-chrome, wasm-firefox) these run under wasm-bindgen-test.
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn color(s: &str) -> Option<Color> {
        Some(Color::parse(s).unwrap())
    }

    #[test]
    fn parses_server_style_strings() {
        assert_eq!(Style::parse(""), Ok(Style::plain()));
        let s = Style::parse("4 #ff0000").unwrap();
        assert_eq!(
            s,
            Style {
                bold: true,
                italic: false,
                underline: false,
                color: color("#ff0000")
            }
        );
        let s = Style::parse(" #00ff00").unwrap();
        assert_eq!(s.bits(), 0);
        assert_eq!(s.color.as_ref().map(Color::as_str), Some("#00ff00"));
        let s = Style::parse("7").unwrap();
        assert!(s.bold && s.italic && s.underline && s.color.is_none());
        assert_eq!(Style::parse("3").unwrap().bits(), 3);
        assert_eq!(Style::parse("0").unwrap(), Style::plain());
        assert_eq!(Style::parse("5 #ABC").unwrap().to_wire(), "5 #aabbcc");
    }

    #[test]
    fn formats_like_uchat_js() {
        for wire in ["", "4 #ff0000", " #00ff00", "7", "1", "2 #123456"] {
            assert_eq!(Style::parse(wire).unwrap().to_wire(), wire);
        }
        let s = Style {
            bold: true,
            italic: true,
            underline: false,
            color: None,
        };
        assert_eq!(s.to_wire(), "6");
        assert_eq!(
            Style::plain()
                .with_color("rgb(0, 255, 0)")
                .unwrap()
                .to_wire(),
            " #00ff00"
        );
    }

    #[test]
    fn the_style_cache_answers_like_parsing() {
        let mut cache = StyleCache::default();
        let colours: Vec<String> = (0..StyleCache::SIZE * 2 + 3)
            .map(|i| format!("#{:02X}{:02x}0{}", i * 7, i, i % 10))
            .chain([" rgb(1, 2, 3) ".to_owned(), "#F0a".to_owned()])
            .collect();
        // Twice over more colours than entries, each with two bit sets: hits, misses and
        // replacements, each answer equal to a fresh parse.
        for round in 0..2 {
            for (i, c) in colours.iter().enumerate() {
                for bits in [(i % 8) as u8, 7 - (i % 8) as u8] {
                    let want = Style::from_bits(bits).with_color(c).unwrap();
                    assert_eq!(cache.get(bits, c), Ok(&want), "{c} {bits} round {round}");
                    assert_eq!(cache.get(bits, c), Ok(&want), "{c} {bits} again");
                }
            }
        }
        for bad in ["", "#12345", "red"] {
            let want = Style::default().with_color(bad).unwrap_err();
            assert_eq!(cache.get(0, bad), Err(want.clone()));
            assert_eq!(cache.get(0, bad), Err(want), "a bad colour is not kept");
        }
    }

    #[test]
    fn colour_forms_are_normalised() {
        assert_eq!(Color::parse("#F0a").unwrap().as_str(), "#ff00aa");
        assert_eq!(Color::parse("#FF0000").unwrap().as_str(), "#ff0000");
        assert_eq!(Color::parse("#a0b1c2").unwrap().as_str(), "#a0b1c2");
        assert_eq!(Color::parse(" #a0b1c2 ").unwrap().as_str(), "#a0b1c2");
        assert_eq!(Color::parse("rgb(255,0,16)").unwrap().as_str(), "#ff0010");
        assert_eq!(
            Color::parse(" RGB( 1 , 2 , 3 ) ").unwrap().as_str(),
            "#010203"
        );
    }

    #[test]
    fn bad_colours_and_bits_say_what_and_how() {
        for bad in [
            "red",
            "#ff00",
            "#gggggg",
            "#a0b1cg",
            "#a0b1c2f",
            "rgb(256, 0, 0)",
            "rgb(1,2)",
            "rgb(-1,0,0)",
            "",
            "#",
        ] {
            let err = Color::parse(bad).unwrap_err();
            assert_eq!(err, StyleError::BadColor(bad.to_owned()));
            let text = err.to_string();
            assert!(text.contains(&format!("{bad:?}")), "{text}");
            assert!(
                text.contains("#rrggbb") && text.contains("rgb(r, g, b)"),
                "{text}"
            );
        }
        assert_eq!(Style::parse("8"), Err(StyleError::BadBits("8".into())));
        assert_eq!(Style::parse("b #fff"), Err(StyleError::BadBits("b".into())));
        assert!(Style::parse("4 blue")
            .unwrap_err()
            .to_string()
            .contains("\"blue\""));
        assert!(Style::plain().with_color("nope").is_err());
    }
}

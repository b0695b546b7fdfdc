//! Product pictures drawn from a product's name and category: the same product always
//! gets the same picture (colours from its name, a shape from its category, its
//! initials), so no image is ever fetched from anywhere.

/// A stable 64-bit FNV-1a hash (std's hasher may change between releases; pictures must
/// not).
pub fn fnv1a(text: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.as_bytes() {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// Up to two letters standing for a name: the first letters of its first two words that
/// start with a letter (`Northfork 12-inch Cast-Iron Skillet` → `NC`), or the first two
/// letters of a one-word name.
pub fn initials(name: &str) -> String {
    let starts_with = |pred: fn(&char) -> bool| -> Vec<&str> {
        name.split_whitespace()
            .filter(|w| w.chars().next().as_ref().is_some_and(pred))
            .collect()
    };
    let mut words = starts_with(|c| c.is_alphabetic());
    if words.is_empty() {
        words = starts_with(|c| c.is_alphanumeric());
    }
    let letters: String = match words.as_slice() {
        [] => "?".to_owned(),
        [one] => one
            .chars()
            .filter(|c| c.is_alphanumeric())
            .take(2)
            .collect(),
        [first, second, ..] => [first, second]
            .iter()
            .filter_map(|w| w.chars().next())
            .collect(),
    };
    letters.to_uppercase()
}

/// Text made safe for SVG: escaped as for HTML, control characters dropped, and U+FFFE
/// and U+FFFF, which XML refuses (a name stored before the catalog refused them would
/// otherwise break its picture).
fn escape(text: &str) -> String {
    let printable: String = text
        .chars()
        .filter(|c| !c.is_control() && !matches!(c, '\u{FFFE}' | '\u{FFFF}'))
        .collect();
    crate::views::escape_html(&printable)
}

/// The shapes a category can have, one per category (by its hash).
const SHAPES: usize = 6;

fn shape(kind: usize, hash: u64) -> String {
    let rotate = (hash >> 20) % 360;
    let big = match kind {
        0 => r#"<circle cx="200" cy="150" r="118"/>"#.to_owned(),
        1 => r#"<rect x="92" y="42" width="216" height="216" rx="36"/>"#.to_owned(),
        2 => r#"<polygon points="200,22 328,252 72,252"/>"#.to_owned(),
        3 => r#"<polygon points="200,28 306,89 306,211 200,272 94,211 94,89"/>"#.to_owned(),
        4 => r#"<polygon points="200,24 326,150 200,276 74,150"/>"#.to_owned(),
        _ => r#"<path d="M200 30c60 0 112 40 112 110s-52 130-112 130S88 210 88 140 140 30 200 30z"/>"#
            .to_owned(),
    };
    let small_x = 40 + (hash >> 8) % 80;
    let small_y = 30 + (hash >> 14) % 60;
    format!(
        r##"<g fill="#ffffff" fill-opacity="0.16" transform="rotate({rotate} 200 150)">{big}</g><circle cx="{small_x}" cy="{small_y}" r="26" fill="#ffffff" fill-opacity="0.12"/>"##
    )
}

/// The picture of a product (an SVG document, 400 × 300).
///
/// Colours are dark enough (HSL lightness ≤ 36 %) for white initials to meet WCAG AA
/// contrast for large text.
pub fn product_svg(name: &str, category: &str) -> String {
    let name_hash = fnv1a(name);
    let hue = name_hash % 360;
    let hue2 = (hue + 30 + (name_hash >> 9) % 60) % 360;
    let shape_kind = (fnv1a(category) % SHAPES as u64) as usize;
    let letters = escape(&initials(name));
    let title = escape(name);
    let shapes = shape(shape_kind, name_hash);
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 400 300" width="400" height="300" role="img" aria-label="{title}"><title>{title}</title><defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1"><stop offset="0" stop-color="hsl({hue},55%,36%)"/><stop offset="1" stop-color="hsl({hue2},60%,26%)"/></linearGradient></defs><rect width="400" height="300" fill="url(#g)"/>{shapes}<text x="200" y="150" dy="0.35em" text-anchor="middle" font-family="system-ui, -apple-system, 'Segoe UI', sans-serif" font-size="112" font-weight="700" fill="#ffffff" letter-spacing="4">{letters}</text></svg>"##
    )
}

/// A neutral picture for a product that cannot be looked up right now.
pub fn placeholder_svg() -> String {
    r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 400 300" width="400" height="300" role="img" aria-label="Picture unavailable"><title>Picture unavailable</title><rect width="400" height="300" fill="#4b5563"/><text x="200" y="150" dy="0.35em" text-anchor="middle" font-family="system-ui, sans-serif" font-size="28" fill="#ffffff">Picture unavailable</text></svg>"##
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_picture_holds_only_what_xml_allows() {
        let svg = product_svg("Lamp \u{ffff} <Deluxe>\u{fffe}\u{7}", "lighting");
        assert!(svg.contains("Lamp  &lt;Deluxe&gt;"), "{svg}");
        assert!(
            !svg.chars()
                .any(|c| matches!(c, '\u{FFFE}' | '\u{FFFF}') || c.is_control()),
            "{svg}"
        );
    }

    #[test]
    fn the_hash_is_the_reference_fnv1a() {
        assert_eq!(fnv1a(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a("a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn initials_come_from_the_first_words() {
        for (name, expected) in [
            ("Hearthstone Cast-Iron Skillet", "HC"),
            ("Northfork 12-inch Cast-Iron Skillet", "NC"),
            ("42 7", "47"),
            ("mug", "MU"),
            ("Kiln & Cast Teapot", "KC"),
            ("  ", "?"),
            ("élan vital", "ÉV"),
        ] {
            assert_eq!(initials(name), expected, "{name:?}");
        }
    }
}

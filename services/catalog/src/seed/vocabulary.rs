//! The seed's vocabulary: `data/seed-vocabulary.toml`, embedded, parsed once and checked
//! for everything the generator relies on.

use crate::domain::{CategoryId, Price, Sku};
use serde::Deserialize;
use std::{collections::HashSet, sync::LazyLock};

/// Distinct selling points that go into each description.
pub(super) const FEATURES_PER_PRODUCT: usize = 3;

/// The words every category and product of the demo shop are made of.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Vocabulary {
    /// The shop's categories, in display order.
    #[serde(rename = "category")]
    pub categories: Vec<Category>,
}

/// A category of the demo shop and the vocabulary its products are made of.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Category {
    pub id: String,
    pub name: String,
    pub description: String,
    pub sku_prefix: String,
    /// Relative share of the catalog.
    pub weight: u64,
    /// Brand lines of the category's kinds, unless a kind brings its own.
    #[serde(default)]
    pub lines: Vec<String>,
    /// Closing sentences.
    pub closers: Vec<String>,
    #[serde(rename = "kind")]
    pub kinds: Vec<Kind>,
}

/// One kind of product within a category: how it is named, what it costs, what it offers.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Kind {
    /// The product noun ("Daypack").
    pub noun: String,
    /// How a name is put together from `{line}`, `{size}` and `{noun}`.
    #[serde(default = "standard_pattern")]
    pub pattern: String,
    /// Brand lines (or titles) of this kind; empty means the category's.
    #[serde(default)]
    pub lines: Vec<String>,
    /// Sizes or variants, smallest (and cheapest) first.
    pub sizes: Vec<String>,
    /// Price range in whole currency units.
    pub price: (u64, u64),
    /// The opening of the description.
    pub pitch: String,
    /// Selling points; [`FEATURES_PER_PRODUCT`] distinct ones go into each description.
    pub features: Vec<String>,
    /// The sentence a finish is shown in; `{}` stands for the finish.
    #[serde(default = "shown_in")]
    pub finish_as: String,
    /// Colours, materials or editions.
    pub finishes: Vec<String>,
}

fn standard_pattern() -> String {
    "{line} {size} {noun}".to_owned()
}

fn shown_in() -> String {
    "Shown in {}.".to_owned()
}

/// Why the vocabulary cannot make a catalog.
#[derive(Debug, Clone, thiserror::Error)]
pub enum VocabularyError {
    #[error("the seed vocabulary is not valid: {0}")]
    Syntax(#[from] toml::de::Error),
    #[error("the seed vocabulary cannot make a catalog: {}", .0.join("; "))]
    Unusable(Vec<String>),
}

static EMBEDDED: LazyLock<Result<Vocabulary, VocabularyError>> =
    LazyLock::new(|| Vocabulary::parse(include_str!("../../data/seed-vocabulary.toml")));

impl Vocabulary {
    /// The vocabulary built into the catalog, parsed on first use.
    pub fn embedded() -> Result<&'static Self, VocabularyError> {
        EMBEDDED.as_ref().map_err(Clone::clone)
    }

    /// Parses a vocabulary and checks that the generator can use it.
    pub fn parse(text: &str) -> Result<Self, VocabularyError> {
        let vocabulary: Self = toml::from_str(text)?;
        let problems = vocabulary.problems();
        if problems.is_empty() {
            Ok(vocabulary)
        } else {
            Err(VocabularyError::Unusable(problems))
        }
    }

    /// Everything that would make the generator fail, or make products that the API
    /// refuses or that collide; all of it at once.
    fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let mut report = |at: &str, problem: String| problems.push(format!("{at}: {problem}"));
        if self.categories.is_empty() {
            report("the vocabulary", "has no categories".into());
        }
        if self.categories.iter().all(|c| c.weight == 0) {
            report("the vocabulary", "every category has weight 0".into());
        }
        for (field, values) in [
            (
                "id",
                self.categories.iter().map(|c| &c.id).collect::<Vec<_>>(),
            ),
            (
                "sku_prefix",
                self.categories.iter().map(|c| &c.sku_prefix).collect(),
            ),
        ] {
            for repeated in repeats(values) {
                report(
                    "the categories",
                    format!("{field} {repeated:?} is used twice"),
                );
            }
        }
        for c in &self.categories {
            let at = format!("category {:?}", c.id);
            // CategoryId's own message speaks to a client looking a category up.
            if CategoryId::parse(&c.id).is_err() {
                report(&at, "id is not a slug of a-z, 0-9 and -".into());
            }
            if let Err(e) = Sku::parse(&format!("{}-00001", c.sku_prefix)) {
                report(&at, format!("sku_prefix makes SKUs that {e}"));
            }
            if c.name.trim().is_empty() {
                report(&at, "name is empty".into());
            }
            if c.kinds.is_empty() {
                report(&at, "has no kinds".into());
            }
            if c.closers.is_empty() {
                report(&at, "has no closers".into());
            }
            for (field, list) in [("lines", &c.lines), ("closers", &c.closers)] {
                for repeated in repeats(list) {
                    report(&at, format!("{repeated:?} is in {field} twice"));
                }
            }
            for repeated in repeats(c.kinds.iter().map(|k| &k.noun)) {
                report(&at, format!("kind {repeated:?} is there twice"));
            }
            for k in &c.kinds {
                let at = format!("{at}, kind {:?}", k.noun);
                if k.lines.is_empty() && c.lines.is_empty() {
                    report(&at, "has no lines, nor has its category".into());
                }
                if k.sizes.is_empty() {
                    report(&at, "has no sizes".into());
                }
                if k.features.len() < FEATURES_PER_PRODUCT {
                    report(
                        &at,
                        format!("needs at least {FEATURES_PER_PRODUCT} features"),
                    );
                }
                if k.finishes.is_empty() {
                    report(&at, "has no finishes".into());
                }
                if k.price.0 > k.price.1 {
                    report(&at, "price runs from high to low".into());
                }
                if k.price.1.saturating_mul(100) > Price::MAX_CENTS as u64 {
                    report(
                        &at,
                        format!("price goes above {} whole units", Price::MAX_CENTS / 100),
                    );
                }
                let named = k
                    .pattern
                    .replace("{line}", "")
                    .replace("{size}", "")
                    .replace("{noun}", "");
                if named.contains(['{', '}']) {
                    report(
                        &at,
                        format!("pattern {:?} has an unknown placeholder", k.pattern),
                    );
                }
                if k.finish_as.matches("{}").count() != 1 {
                    report(&at, "finish_as needs exactly one {}".into());
                }
                for (field, list) in [
                    ("lines", &k.lines),
                    ("sizes", &k.sizes),
                    ("features", &k.features),
                    ("finishes", &k.finishes),
                ] {
                    for repeated in repeats(list) {
                        report(&at, format!("{repeated:?} is in {field} twice"));
                    }
                }
            }
        }
        problems
    }
}

impl Category {
    /// The lines a kind of this category is named after.
    pub fn lines_of<'a>(&'a self, kind: &'a Kind) -> &'a [String] {
        if kind.lines.is_empty() {
            &self.lines
        } else {
            &kind.lines
        }
    }
}

impl Kind {
    /// The product name for a line and a size of this kind.
    pub fn name(&self, line: &str, size: &str) -> String {
        self.pattern
            .replace("{line}", line)
            .replace("{size}", size)
            .replace("{noun}", &self.noun)
    }
}

/// The values that occur more than once, each named once, in order of first repeat.
fn repeats<'a>(values: impl IntoIterator<Item = &'a String>) -> Vec<&'a str> {
    let mut seen = HashSet::new();
    let mut repeated = Vec::new();
    for v in values {
        if !seen.insert(v.as_str()) && !repeated.contains(&v.as_str()) {
            repeated.push(v.as_str());
        }
    }
    repeated
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The smallest vocabulary the generator can use; the cases below break one thing each.
    const GOOD: &str = r#"
        [[category]]
        id = "kitchen"
        name = "Kitchen"
        description = "Cookware."
        sku_prefix = "KIT"
        weight = 1
        lines = ["Hearthstone"]
        closers = ["Free returns."]

        [[category.kind]]
        noun = "Skillet"
        sizes = ["8-inch"]
        price = [24, 79]
        pitch = "A skillet"
        features = ["iron", "spouts", "a handle"]
        finishes = ["black"]
    "#;

    #[test]
    fn the_embedded_vocabulary_can_make_the_demo_shop() {
        let vocabulary = match Vocabulary::embedded() {
            Ok(v) => v,
            Err(e) => panic!("{e}"),
        };
        assert!(
            vocabulary.categories.len() >= 10,
            "only {} categories",
            vocabulary.categories.len()
        );
        // The default catalog has 600 products, at least 500 of them with distinct names
        // (the generator's tests); that takes more possible names than products.
        let mut names = HashSet::new();
        for c in &vocabulary.categories {
            for k in &c.kinds {
                for line in c.lines_of(k) {
                    for size in &k.sizes {
                        names.insert(k.name(line, size));
                    }
                }
            }
        }
        assert!(names.len() >= 600, "only {} distinct names", names.len());
    }

    #[test]
    fn defaults_fill_in_what_a_kind_leaves_out() {
        let vocabulary = Vocabulary::parse(GOOD).unwrap();
        let (category, kind) = (
            &vocabulary.categories[0],
            &vocabulary.categories[0].kinds[0],
        );
        assert_eq!(kind.pattern, "{line} {size} {noun}");
        assert_eq!(kind.finish_as, "Shown in {}.");
        assert_eq!(category.lines_of(kind), ["Hearthstone"]);
        assert_eq!(
            kind.name("Hearthstone", "8-inch"),
            "Hearthstone 8-inch Skillet"
        );
    }

    #[test]
    fn a_vocabulary_the_generator_cannot_use_is_refused_with_the_reason() {
        let second_category = r#"
            [[category]]
            id = "kitchen"
            name = "Kitchen again"
            description = "x"
            sku_prefix = "KIT"
            weight = 1
            lines = ["A"]
            closers = ["x"]
            [[category.kind]]
            noun = "Pan"
            sizes = ["S"]
            price = [1, 2]
            pitch = "x"
            features = ["a", "b", "c"]
            finishes = ["x"]
        "#;
        let cases = [
            (
                GOOD.replace("weight = 1", "weight = 0"),
                "every category has weight 0",
            ),
            (
                format!("{GOOD}{second_category}"),
                "id \"kitchen\" is used twice",
            ),
            (
                format!(
                    "{GOOD}{}",
                    second_category.replace("id = \"kitchen\"", "id = \"pans\"")
                ),
                "sku_prefix \"KIT\" is used twice",
            ),
            (
                GOOD.replace("id = \"kitchen\"", "id = \"Kit Chen\""),
                "id is not a slug",
            ),
            (
                GOOD.replace("\"KIT\"", "\"kit\""),
                "sku_prefix makes SKUs that",
            ),
            (
                GOOD.replace("lines = [\"Hearthstone\"]", ""),
                "has no lines, nor has its category",
            ),
            (GOOD.replace("[\"8-inch\"]", "[]"), "has no sizes"),
            (
                GOOD.replace(", \"a handle\"", ""),
                "needs at least 3 features",
            ),
            (
                GOOD.replace("[\"iron\", \"spouts\"", "[\"iron\", \"iron\""),
                "\"iron\" is in features twice",
            ),
            (GOOD.replace("[\"black\"]", "[]"), "has no finishes"),
            (
                GOOD.replace("[24, 79]", "[79, 24]"),
                "price runs from high to low",
            ),
            (
                GOOD.replace(
                    "noun = \"Skillet\"",
                    "noun = \"Skillet\"\npattern = \"{brand}\"",
                ),
                "unknown placeholder",
            ),
            (
                GOOD.replace(
                    "noun = \"Skillet\"",
                    "noun = \"Skillet\"\nfinish_as = \"Black.\"",
                ),
                "finish_as needs exactly one {}",
            ),
            (GOOD.replace("[\"Free returns.\"]", "[]"), "has no closers"),
        ];
        for (text, expected) in cases {
            match Vocabulary::parse(&text) {
                Err(VocabularyError::Unusable(problems)) => assert!(
                    problems.iter().any(|p| p.contains(expected)),
                    "expected {expected:?} in {problems:?}"
                ),
                other => panic!("expected {expected:?}, got {other:?}"),
            }
        }
    }

    #[test]
    fn unknown_or_missing_fields_are_syntax_errors() {
        for text in [
            GOOD.replace("pitch", "pich"),
            GOOD.replace("price = [24, 79]", ""),
            GOOD.replace("weight = 1", "weight = -1"),
        ] {
            assert!(
                matches!(Vocabulary::parse(&text), Err(VocabularyError::Syntax(_))),
                "{text}"
            );
        }
    }
}

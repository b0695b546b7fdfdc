//! Searching the index: what a search's words become (exact words, stems, one typo per
//! word, a prefix for the last word, a bonus for the name as a phrase), its filters,
//! orders, facet counts, and type-ahead suggestions. The HTTP handlers and the benchmark
//! call these same functions.
//!
//! Every word must match, in the name or the description; English stop words ("the",
//! "for", …) only add to the score, unless the search is made of nothing else. Name
//! matches weigh three times description matches; an exact word outranks its stem, its
//! stem outranks a typo or a prefix.
//!
//! A word the catalog knows (it occurs in some name or description) is taken as typed; a
//! word it does not know, of three letters or more, also matches the words one typo away.
//! So "cast" does not bring in every "case", "cart" and "vast" (which would swell the total
//! and the facets with noise), while "skilet" finds the skillets. It also spares the typo
//! expansion, the dearest part of a search, for the words that need it.

use crate::{
    domain::{PriceRange, SearchQuery, Sort, Words},
    index::{IndexError, SearchIndex, tokens},
};
use serde::{Deserialize, Serialize};
use std::{collections::BTreeMap, ops::Bound};
use tantivy::{
    DocAddress, Order, Score, Searcher, TantivyDocument, TantivyError, Term,
    collector::{
        Collector, Count, FacetCollector, FacetCounts, TopDocs,
        sort_key::{SortBySimilarityScore, SortByStaticFastValue, SortByString},
    },
    query::{
        AllQuery, BooleanQuery, BoostQuery, ConstScoreQuery, EmptyQuery, FuzzyTermQuery, Occur,
        PhraseQuery, Query, RangeQuery, TermQuery,
    },
    schema::{Facet, Field, IndexRecordOption, Value},
};
use utoipa::ToSchema;

/// Weight of a match in the name.
pub const NAME_BOOST: Score = 3.0;
/// Weight of a match in the description.
pub const DESCRIPTION_BOOST: Score = 1.0;
/// A stem match (another form of the word) counts this much of an exact one.
const STEM_WEIGHT: Score = 0.5;
/// A word one typo away scores this much (times the field's boost), whatever its
/// frequency.
const TYPO_SCORE: Score = 0.4;
/// A word the last search word is the beginning of scores this much (times the boost).
const PREFIX_SCORE: Score = 0.5;
/// The words in order in the name, on top of each word's score.
const PHRASE_BOOST: Score = 2.0;
/// Words this long or longer, unknown to the catalog, tolerate one typo (an edit, or two
/// letters swapped): the contract's "one typo per word", `teh` and `mig` included. A word
/// of two letters one edit from another matches too much to guess at.
pub const TYPO_MIN_CHARS: usize = 3;
/// Most suggestions one type-ahead request returns.
pub const MAX_SUGGESTIONS: usize = 8;

/// One matching product.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Hit {
    /// The product's id (as the catalog gave it).
    #[schema(example = "0193a5c2-7b1e-7cc0-9f1d-2b4e8a9c0d11")]
    pub id: String,
    #[schema(example = "Hearthstone 10-inch Cast-Iron Skillet")]
    pub name: String,
    /// The category's slug.
    #[schema(example = "kitchen")]
    pub category: String,
    /// The price in minor units of `currency`.
    #[schema(example = 4999)]
    pub price_cents: i64,
    #[schema(example = "USD")]
    pub currency: String,
    /// How well the product matches the words (higher is better; comparable within one
    /// search only). 0 for a search without words.
    #[schema(example = 17.5)]
    pub score: f32,
}

/// Hit counts per facet value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Facets {
    /// Category slug → number of matching products, counted over the whole match with
    /// the price filter applied but **not** the category filter, so that a client can
    /// show how many hits every other category would give. Categories without hits are
    /// left out.
    pub category: BTreeMap<String, u64>,
}

/// One page of search results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SearchResults {
    /// This page's hits, in the order asked for.
    pub items: Vec<Hit>,
    /// How many products match, over all pages (category filter included).
    pub total: u64,
    pub facets: Facets,
    pub page: u32,
    pub per_page: u32,
}

/// A type-ahead completion: a product name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Suggestion {
    #[schema(example = "0193a5c2-7b1e-7cc0-9f1d-2b4e8a9c0d11")]
    pub id: String,
    #[schema(example = "Hearthstone 10-inch Cast-Iron Skillet")]
    pub name: String,
}

/// A search word as the index spells it.
struct QueryWord {
    /// As indexed in the word fields.
    word: String,
    /// As indexed in the stemmed fields; `None` for a stop word.
    stem: Option<String>,
    /// Whether it also matches words one typo away: it is long enough and unknown.
    typos: bool,
    last: bool,
}

impl SearchIndex {
    /// Runs a search: one page of hits, the total and the category facets. Blocking (run
    /// it off the async threads). A failure reading the index's files has it rebuilt
    /// ([`SearchIndex::is_damaged`]).
    pub fn search(&self, q: &SearchQuery) -> Result<SearchResults, IndexError> {
        self.reading(self.find(q))
    }

    fn find(&self, q: &SearchQuery) -> Result<SearchResults, IndexError> {
        let f = self.inner.fields;
        let searcher = self.searcher();
        let text = match self.text_query(&searcher, &q.words)? {
            Some(text) => text,
            // Typed, with nothing to search for in it (`!!!`): nothing, not everything.
            None if q.words.match_nothing() => Box::new(EmptyQuery),
            None => Box::new(AllQuery),
        };
        let price = price_filter(f.price_cents, q.price);
        let base = filtered(text, price.into_iter().collect());
        let category = q.category.as_ref().map(|c| {
            Box::new(TermQuery::new(
                Term::from_field_text(f.category, c.as_str()),
                IndexRecordOption::Basic,
            )) as Box<dyn Query>
        });
        // Facets count the base match; hits and the total also apply the category.
        let (hits, facets_of) = match category {
            Some(c) => (filtered(base.box_clone(), vec![c]), Some(base)),
            None => (base, None),
        };
        let top = TopDocs::with_limit(q.paging.per_page() as usize).and_offset(q.paging.offset());
        // Ties are broken by name, then by id ([`by_name`]).
        let by_score = || (SortBySimilarityScore, Order::Desc);
        let by_field =
            |field: &str, order: Order| (SortByStaticFastValue::<i64>::for_field(field), order);
        let (ranked, total, facets) = match (q.sort, q.words.is_empty()) {
            (Sort::Relevance, false) => collect(
                &searcher,
                &*hits,
                facets_of.as_deref(),
                top.order_by((by_score(), by_name())),
                |(score, _)| score,
            )?,
            (Sort::Relevance, true) => collect(
                &searcher,
                &*hits,
                facets_of.as_deref(),
                top.order_by(by_name()),
                |_| 0.0,
            )?,
            // Without words every score is the same: they are not computed.
            (sort, true) => {
                let (field, order) = field_order(sort);
                collect(
                    &searcher,
                    &*hits,
                    facets_of.as_deref(),
                    top.order_by((by_field(field, order), by_name())),
                    |_| 0.0,
                )?
            }
            (sort, false) => {
                let (field, order) = field_order(sort);
                collect(
                    &searcher,
                    &*hits,
                    facets_of.as_deref(),
                    top.order_by((by_field(field, order), by_score(), by_name())),
                    |(_, score, _)| score,
                )?
            }
        };
        let without_words = q.words.is_empty();
        let items = ranked
            .into_iter()
            .map(|(score, address)| {
                let score = if without_words { 0.0 } else { score };
                self.hit(&searcher, address, score)
            })
            .collect::<Result<Vec<_>, TantivyError>>()?;
        let mut category = BTreeMap::new();
        for (facet, count) in facets.get(Facet::root()) {
            if let Some(slug) = facet.to_path().last() {
                category.insert((*slug).to_owned(), count);
            }
        }
        Ok(SearchResults {
            items,
            total: total as u64,
            facets: Facets { category },
            page: q.paging.page(),
            per_page: q.paging.per_page(),
        })
    }

    /// Up to `limit` product names with, for every word typed, a word that starts with
    /// it; by name, each name once. No words, no suggestions. Blocking. A failure reading
    /// the index's files has it rebuilt ([`SearchIndex::is_damaged`]).
    pub fn suggest(&self, words: &Words, limit: usize) -> Result<Vec<Suggestion>, IndexError> {
        self.reading(self.complete(words, limit))
    }

    fn complete(&self, words: &Words, limit: usize) -> Result<Vec<Suggestion>, IndexError> {
        let f = self.inner.fields;
        let mut analyzer = self.inner.words.clone();
        let clauses: Vec<(Occur, Box<dyn Query>)> = words
            .as_slice()
            .iter()
            .filter_map(|raw| tokens(&mut analyzer, raw).into_iter().next())
            .map(|w| (Occur::Must, prefix(f.name_words, &w)))
            .collect();
        if clauses.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        let searcher = self.searcher();
        // Same names are frequent (a large catalog has dozens of each): the hits are looked
        // through further and further until `limit` names are found or there are no more
        // (32 hits alone gave one name on a catalog of 100,000: the scale review).
        let query = BooleanQuery::new(clauses);
        let mut look = limit * 4;
        loop {
            // Each name's first product is the same on every replica.
            let top = TopDocs::with_limit(look).order_by(by_name());
            let ranked = searcher.search(&query, &top)?;
            let exhausted = ranked.len() < look || look >= MOST_SUGGESTION_HITS;
            let mut seen = std::collections::HashSet::new();
            let mut out = Vec::with_capacity(limit);
            for (_, address) in ranked {
                let hit = self.hit(&searcher, address, 0.0)?;
                if seen.insert(hit.name.to_lowercase()) {
                    out.push(Suggestion {
                        id: hit.id,
                        name: hit.name,
                    });
                    if out.len() == limit {
                        return Ok(out);
                    }
                }
            }
            if exhausted {
                return Ok(out);
            }
            look = (look * 8).min(MOST_SUGGESTION_HITS);
        }
    }

    /// What the words must match; `None` without words.
    fn text_query(
        &self,
        searcher: &Searcher,
        words: &Words,
    ) -> Result<Option<Box<dyn Query>>, TantivyError> {
        let f = self.inner.fields;
        let mut word_analyzer = self.inner.words.clone();
        let mut stem_analyzer = self.inner.stemmed.clone();
        let count = words.as_slice().len();
        let mut parsed = Vec::with_capacity(count);
        for (i, raw) in words.as_slice().iter().enumerate() {
            let Some(word) = tokens(&mut word_analyzer, raw).into_iter().next() else {
                continue;
            };
            let stem = tokens(&mut stem_analyzer, raw).into_iter().next();
            let held = |field: Field, text: &str| {
                searcher
                    .doc_freq(&Term::from_field_text(field, text))
                    .map(|n| n > 0)
            };
            // A word the catalog holds, as typed or inflected otherwise ("tents", where
            // it says "tent"), is no typo: corrected, "tents" also found "ten" and "test".
            let known = held(f.name_words, &word)?
                || held(f.description_words, &word)?
                || match &stem {
                    Some(stem) => held(f.name, stem)? || held(f.description, stem)?,
                    None => false,
                };
            let typos = word.chars().count() >= TYPO_MIN_CHARS && !known;
            parsed.push(QueryWord {
                stem,
                word,
                typos,
                last: i + 1 == count,
            });
        }
        if parsed.is_empty() {
            return Ok(None);
        }
        let only_stop_words = parsed.iter().all(|w| w.stem.is_none());
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = parsed
            .iter()
            .map(|w| {
                // A stop word only adds to the score; so does an unknown word of three
                // letters, which is as likely a typo of one (`teh`) as of a word the
                // catalog holds.
                let weak = w.stem.is_none() || (w.typos && w.word.chars().count() < 4);
                let occur = if weak && !only_stop_words {
                    Occur::Should
                } else {
                    Occur::Must
                };
                (occur, self.word_query(w))
            })
            .collect();
        if parsed.len() >= 2 {
            let phrase = PhraseQuery::new(
                parsed
                    .iter()
                    .map(|w| Term::from_field_text(f.name_words, &w.word))
                    .collect(),
            );
            clauses.push((Occur::Should, boost(Box::new(phrase), PHRASE_BOOST)));
        }
        Ok(Some(Box::new(BooleanQuery::new(clauses))))
    }

    /// Every way one word may match.
    fn word_query(&self, w: &QueryWord) -> Box<dyn Query> {
        let f = self.inner.fields;
        let fields = [
            (f.name_words, f.name, NAME_BOOST),
            (f.description_words, f.description, DESCRIPTION_BOOST),
        ];
        let mut any: Vec<Box<dyn Query>> = Vec::new();
        for (words_field, stemmed_field, weight) in fields {
            any.push(boost(term(words_field, &w.word), weight));
            if let Some(stem) = &w.stem {
                any.push(boost(term(stemmed_field, stem), weight * STEM_WEIGHT));
            }
            if w.typos {
                let typo =
                    FuzzyTermQuery::new(Term::from_field_text(words_field, &w.word), 1, true);
                any.push(boost(Box::new(typo), weight * TYPO_SCORE));
                // One typo from a word the catalog holds only inflected (`mig`: `mugs`,
                // whose stem is `mug`).
                if let Some(stem) = &w.stem {
                    let typo =
                        FuzzyTermQuery::new(Term::from_field_text(stemmed_field, stem), 1, true);
                    any.push(boost(Box::new(typo), weight * STEM_WEIGHT * TYPO_SCORE));
                }
            }
            if w.last {
                any.push(boost(prefix(words_field, &w.word), weight * PREFIX_SCORE));
            }
        }
        Box::new(BooleanQuery::union(any))
    }

    fn hit(
        &self,
        searcher: &Searcher,
        address: DocAddress,
        score: Score,
    ) -> Result<Hit, TantivyError> {
        let f = self.inner.fields;
        let doc: TantivyDocument = searcher.doc(address)?;
        let text = |field: Field| {
            doc.get_first(field)
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default()
        };
        Ok(Hit {
            id: text(f.id),
            name: text(f.name),
            category: text(f.category),
            price_cents: doc
                .get_first(f.price_cents)
                .and_then(|v| v.as_i64())
                .unwrap_or_default(),
            currency: text(f.currency),
            score,
        })
    }
}

/// By name, then by id: a total order, so that equal scores or prices come in the same
/// order on every replica, whose indexes hold the same products in segments of their own
/// (paging over two replicas met products twice and missed others: the scale review).
fn by_name() -> ((SortByString, Order), (SortByString, Order)) {
    (
        (SortByString::for_field("name"), Order::Asc),
        (SortByString::for_field("id"), Order::Asc),
    )
}

/// The most hits suggestions look through for their names.
const MOST_SUGGESTION_HITS: usize = 4096;

/// The fast field and direction of a sort other than relevance.
fn field_order(sort: Sort) -> (&'static str, Order) {
    match sort {
        Sort::PriceAsc => ("price_cents", Order::Asc),
        Sort::PriceDesc => ("price_cents", Order::Desc),
        Sort::Newest | Sort::Relevance => ("created_ms", Order::Desc),
    }
}

/// A page of (score, document), the total and the facet counts.
type Collected = (Vec<(Score, DocAddress)>, usize, FacetCounts);

/// Runs `top` (with a count, and the facets of `facets_of` or else of the same query).
fn collect<C, K>(
    searcher: &Searcher,
    hits: &dyn Query,
    facets_of: Option<&dyn Query>,
    top: C,
    score: impl Fn(K) -> Score,
) -> Result<Collected, TantivyError>
where
    C: Collector<Fruit = Vec<(K, DocAddress)>>,
{
    let mut facets = FacetCollector::for_field("category_facet");
    facets.add_facet(Facet::root());
    let (ranked, total, counts) = match facets_of {
        None => searcher.search(hits, &(top, Count, facets))?,
        Some(base) => {
            let (ranked, total) = searcher.search(hits, &(top, Count))?;
            (ranked, total, searcher.search(base, &facets)?)
        }
    };
    let ranked = ranked
        .into_iter()
        .map(|(key, address)| (score(key), address))
        .collect();
    Ok((ranked, total, counts))
}

/// `query`, restricted by `filters` that do not change its score.
fn filtered(query: Box<dyn Query>, filters: Vec<Box<dyn Query>>) -> Box<dyn Query> {
    if filters.is_empty() {
        return query;
    }
    let mut clauses = vec![(Occur::Must, query)];
    clauses.extend(filters.into_iter().map(|filter| {
        (
            Occur::Must,
            Box::new(ConstScoreQuery::new(filter, 0.0)) as Box<dyn Query>,
        )
    }));
    Box::new(BooleanQuery::new(clauses))
}

/// The inclusive price range as a filter; `None` when it is open.
fn price_filter(field: Field, range: PriceRange) -> Option<Box<dyn Query>> {
    if range.is_open() {
        return None;
    }
    let bound = |v: Option<i64>| match v {
        Some(v) => Bound::Included(Term::from_field_i64(field, v)),
        None => Bound::Unbounded,
    };
    Some(Box::new(RangeQuery::new(
        bound(range.min()),
        bound(range.max()),
    )))
}

fn term(field: Field, text: &str) -> Box<dyn Query> {
    Box::new(TermQuery::new(
        Term::from_field_text(field, text),
        IndexRecordOption::WithFreqs,
    ))
}

fn prefix(field: Field, text: &str) -> Box<dyn Query> {
    Box::new(FuzzyTermQuery::new_prefix(
        Term::from_field_text(field, text),
        0,
        true,
    ))
}

fn boost(query: Box<dyn Query>, by: Score) -> Box<dyn Query> {
    Box::new(BoostQuery::new(query, by))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{CategorySlug, Paging};
    use crate::index::{Change, IndexedProduct};

    fn product(
        id: &str,
        name: &str,
        category: &str,
        price_cents: i64,
        created_ms: i64,
    ) -> (i64, Change) {
        (
            created_ms,
            Change::Upsert(IndexedProduct {
                id: id.into(),
                name: name.into(),
                description: format!("A fine {} for the home.", name.to_lowercase()),
                category: category.into(),
                price_cents,
                currency: "USD".into(),
                created_ms,
            }),
        )
    }

    fn index() -> SearchIndex {
        let index = SearchIndex::in_ram(15_000_000).unwrap();
        index
            .apply(&[
                product(
                    "skillet",
                    "Hearthstone 10-inch Cast-Iron Skillet",
                    "kitchen",
                    4999,
                    1,
                ),
                product("oven", "Hearthstone 5.5 qt Dutch Oven", "kitchen", 12999, 2),
                product("daypack", "Ridgeline 28L Daypack", "bags-travel", 8999, 3),
                product("mug", "Copperline Travel Mug", "kitchen", 1999, 4),
                product(
                    "kettle",
                    "Tidewater Gooseneck Kettle",
                    "coffee-tea",
                    5999,
                    5,
                ),
            ])
            .unwrap();
        index
    }

    fn query(text: &str) -> SearchQuery {
        SearchQuery {
            words: Words::parse(text).unwrap(),
            ..SearchQuery::default()
        }
    }

    fn ids(results: &SearchResults) -> Vec<&str> {
        results.items.iter().map(|h| h.id.as_str()).collect()
    }

    #[test]
    fn words_typos_and_prefixes_find_products() {
        let index = index();
        for (text, first) in [
            ("Hearthstone 10-inch Cast-Iron Skillet", "skillet"),
            ("hearthstome skillet", "skillet"),
            ("skilelt", "skillet"),
            ("gooseneck", "kettle"),
            ("goosen", "kettle"),
            ("daypacks", "daypack"),
            ("the daypack", "daypack"),
        ] {
            let results = index.search(&query(text)).unwrap();
            assert_eq!(ids(&results).first(), Some(&first), "{text}: {results:?}");
        }
        // Every word must match.
        assert_eq!(index.search(&query("skillet daypack")).unwrap().total, 0);
        // A known word is taken as typed; an unknown one also matches one typo away.
        index
            .apply(&[product("gravel", "Gravel Garden Stones", "garden", 2999, 6)])
            .unwrap();
        assert_eq!(ids(&index.search(&query("gravel")).unwrap()), ["gravel"]);
        assert_eq!(
            ids(&index.search(&query("garden stone")).unwrap()),
            ["gravel"]
        );
        assert_eq!(ids(&index.search(&query("graval")).unwrap()), ["gravel"]);
        assert_eq!(ids(&index.search(&query("travle mug")).unwrap()), ["mug"]);
        // Three letters tolerate one typo; two, none (and "xo" is not the last word, which
        // would also match as a prefix).
        assert_eq!(ids(&index.search(&query("mig")).unwrap()), ["mug"]);
        assert_eq!(index.search(&query("xo mug")).unwrap().total, 0);
        // An unknown three-letter word may be a typo of a stop word: it only adds to the
        // score, and takes nothing away ("teh" is not required to match).
        assert_eq!(
            ids(&index.search(&query("teh kettle")).unwrap()),
            ids(&index.search(&query("kettle")).unwrap())
        );
        // A typo of a word the catalog holds only inflected: "cip" is two edits from
        // "cups", one from its stem.
        index
            .apply(&[product("cups", "Enamel Camp Cups", "outdoor", 1499, 7)])
            .unwrap();
        assert_eq!(ids(&index.search(&query("cip")).unwrap()), ["cups"]);
        // A plural of a word the catalog holds in the singular is that word, not a typo
        // of others one letter from its stem.
        index
            .apply(&[
                product("tent", "Summit Dome Tent", "outdoor", 19999, 8),
                product("ten", "Ten Little Lanterns", "books", 1299, 9),
            ])
            .unwrap();
        assert_eq!(ids(&index.search(&query("tents")).unwrap()), ["tent"]);
    }

    #[test]
    fn filters_sorts_facets_and_paging() {
        let index = index();
        let all = index.search(&SearchQuery::default()).unwrap();
        assert_eq!(all.total, 5);
        assert_eq!(
            ids(&all),
            ["mug", "skillet", "oven", "daypack", "kettle"],
            "by name"
        );
        assert_eq!(all.facets.category.values().sum::<u64>(), 5);

        let kitchen = SearchQuery {
            category: Some(CategorySlug::parse("kitchen").unwrap()),
            sort: Sort::PriceAsc,
            ..query("hearthstone")
        };
        let r = index.search(&kitchen).unwrap();
        assert_eq!(ids(&r), ["skillet", "oven"]);
        assert_eq!(r.facets.category.get("kitchen"), Some(&2));

        let cheap = SearchQuery {
            price: PriceRange::new(Some(1999), Some(5999)).unwrap(),
            sort: Sort::PriceDesc,
            ..SearchQuery::default()
        };
        assert_eq!(
            ids(&index.search(&cheap).unwrap()),
            ["kettle", "skillet", "mug"]
        );

        let newest = SearchQuery {
            sort: Sort::Newest,
            paging: Paging::new(2, 2).unwrap(),
            ..SearchQuery::default()
        };
        let r = index.search(&newest).unwrap();
        assert_eq!((ids(&r), r.total), (vec!["daypack", "oven"], 5));
    }

    /// Products equal in every sort key come in one order, by id, whatever the order the
    /// index took them in: two replicas' indexes hold them in segments of their own, and
    /// a client paging through both met some twice and missed others (the scale review).
    #[test]
    fn equal_products_come_in_one_order_on_every_replica() {
        let twins: Vec<(i64, Change)> = ["f", "b", "e", "a", "d", "c"]
            .iter()
            .map(|id| product(id, "Tidewater Kettle", "kitchen", 2500, 7))
            .collect();
        let one = SearchIndex::in_ram(15_000_000).unwrap();
        let other = SearchIndex::in_ram(15_000_000).unwrap();
        for change in &twins {
            one.apply(std::slice::from_ref(change)).unwrap();
        }
        for change in twins.iter().rev() {
            other.apply(std::slice::from_ref(change)).unwrap();
        }
        for sort in [
            Sort::Relevance,
            Sort::PriceAsc,
            Sort::PriceDesc,
            Sort::Newest,
        ] {
            for words in ["", "kettle"] {
                let page = |index: &SearchIndex, n: u32| {
                    let q = SearchQuery {
                        sort,
                        paging: Paging::new(n, 2).unwrap(),
                        ..query(words)
                    };
                    ids(&index.search(&q).unwrap())
                        .into_iter()
                        .map(str::to_owned)
                        .collect::<Vec<_>>()
                };
                let mixed: Vec<String> = (1..=3)
                    .flat_map(|n| page(if n % 2 == 1 { &one } else { &other }, n))
                    .collect();
                assert_eq!(
                    mixed,
                    ["a", "b", "c", "d", "e", "f"],
                    "{sort:?} {words:?}: pages taken from both"
                );
            }
        }
    }

    #[test]
    fn suggestions_look_past_many_products_of_one_name() {
        let index = SearchIndex::in_ram(15_000_000).unwrap();
        let mut changes = Vec::new();
        for (i, name) in ["Alder Kettle", "Birch Kettle", "Cedar Kettle"]
            .iter()
            .enumerate()
        {
            for copy in 0..60 {
                let id = format!("{i}-{copy}");
                changes.push(product(&id, name, "kitchen", 2500, 1));
            }
        }
        index.apply(&changes).unwrap();
        let names: Vec<String> = index
            .suggest(&Words::parse("ket").unwrap(), MAX_SUGGESTIONS)
            .unwrap()
            .into_iter()
            .map(|s| s.name)
            .collect();
        assert_eq!(names, ["Alder Kettle", "Birch Kettle", "Cedar Kettle"]);
    }

    #[test]
    fn suggestions_complete_every_word() {
        let index = index();
        let names = |text: &str| -> Vec<String> {
            index
                .suggest(&Words::parse(text).unwrap(), MAX_SUGGESTIONS)
                .unwrap()
                .into_iter()
                .map(|s| s.name)
                .collect()
        };
        assert_eq!(
            names("hearth"),
            [
                "Hearthstone 10-inch Cast-Iron Skillet",
                "Hearthstone 5.5 qt Dutch Oven"
            ]
        );
        assert_eq!(names("hea dut"), ["Hearthstone 5.5 qt Dutch Oven"]);
        assert!(names("").is_empty());
        assert!(names("zzz").is_empty());
    }

    #[test]
    fn blank_text_is_every_product_and_punctuation_alone_none() {
        let index = index();
        assert!(index.search(&query(" ")).unwrap().total > 0);
        for nothing in ["!!!", "🙂", "-"] {
            let results = index.search(&query(nothing)).unwrap();
            assert_eq!((results.total, results.items.len()), (0, 0), "{nothing}");
        }
    }
}

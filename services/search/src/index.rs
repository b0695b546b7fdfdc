//! The full-text index (tantivy): its schema and analyzers, and the one writer that takes
//! in changed products, each commit carrying in its payload the product version the index
//! is current up to (its high-water mark). The index is derived from the products table:
//! it may be deleted at any time and is rebuilt from the table.

use serde::{Deserialize, Serialize};
use std::{
    path::{Path, PathBuf},
    sync::{
        Arc, Mutex, MutexGuard, PoisonError, RwLock,
        atomic::{AtomicBool, AtomicI64, Ordering},
    },
};
use tantivy::{
    Index, IndexReader, IndexWriter, ReloadPolicy, Searcher, TantivyDocument, TantivyError, Term,
    directory::{MmapDirectory, error::OpenDirectoryError},
    indexer::LogMergePolicy,
    schema::{
        FAST, Facet, FacetOptions, Field, INDEXED, IndexRecordOption, STORED, STRING, Schema,
        TextFieldIndexing, TextOptions,
    },
    tokenizer::{
        AsciiFoldingFilter, Language, LowerCaser, RawTokenizer, RemoveLongFilter, SimpleTokenizer,
        Stemmer, StopWordFilter, TextAnalyzer,
    },
};

/// The version of the schema and analyzers below; an index written with another one is
/// rebuilt from scratch at start.
pub const SCHEMA_VERSION: u32 = 2;

/// Analyzer of the stemmed fields: words, lower-cased, accents folded, English stop words
/// dropped, English stems.
const STEMMED: &str = "bazaar_stemmed";
/// Analyzer of the word fields (typos and prefixes are matched against these): words,
/// lower-cased, accents folded, nothing dropped or stemmed.
const WORDS: &str = "bazaar_words";
/// Normalizer of the name's fast column (what results are sorted by): the whole name,
/// lower-cased, accents folded.
const SORTABLE: &str = "bazaar_sortable";
/// Segments of a size class merged together (tantivy's default is 8).
const MERGE_AT_SEGMENTS: usize = 4;
/// Longest token indexed, in bytes (40 characters of up to 4 bytes).
const MAX_TOKEN_BYTES: usize = 160;

/// Why the index could not be opened, written or read.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("tantivy failed")]
    Tantivy(#[from] TantivyError),
    #[error("cannot open the index directory {path}")]
    Directory {
        path: String,
        #[source]
        source: OpenDirectoryError,
    },
    #[error("cannot prepare the index directory {path}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the index was written by another version of search (schema {found})")]
    OtherSchema { found: u32 },
    #[error("the index's commit payload is unreadable")]
    Payload(#[source] serde_json::Error),
    #[error("the index is closed")]
    Closed,
    #[error("the index's files fail their checksums: {files}")]
    Damaged { files: String },
}

/// A product as the index holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedProduct {
    pub id: String,
    pub name: String,
    pub description: String,
    pub category: String,
    pub price_cents: i64,
    pub currency: String,
    /// Milliseconds since the epoch.
    pub created_ms: i64,
}

/// One change the index takes in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Add the product, replacing any earlier copy.
    Upsert(IndexedProduct),
    /// Remove the product with this id.
    Remove(String),
}

/// The index's fields.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fields {
    /// Exact, stored: what changes and deletions are keyed by.
    pub id: Field,
    /// Stemmed, stored; its fast column (lower-cased) sorts by name.
    pub name: Field,
    /// The name's words as typed, with positions (phrases, typos, prefixes).
    pub name_words: Field,
    pub description: Field,
    pub description_words: Field,
    /// Exact slug, stored: the category filter.
    pub category: Field,
    /// `/<slug>`: the category facet counts.
    pub category_facet: Field,
    /// Indexed, fast, stored: range filter and price sorts.
    pub price_cents: Field,
    pub currency: Field,
    /// Fast: the `newest` sort.
    pub created_ms: Field,
}

/// What each commit records, in its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Payload {
    schema: u32,
    /// The highest product version the index has taken in.
    version: i64,
}

/// Where the index lives.
#[derive(Debug, Clone)]
enum Location {
    Dir(PathBuf),
    Ram,
}

/// The index, its one writer and its reader. Cheap to clone; the writer is used by one
/// caller at a time, searches run beside it.
#[derive(Clone)]
pub struct SearchIndex {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    location: Location,
    memory_bytes: usize,
    schema: Schema,
    pub(crate) fields: Fields,
    /// Analyzers queries are analyzed with (cloned per query).
    pub(crate) words: TextAnalyzer,
    pub(crate) stemmed: TextAnalyzer,
    /// Swapped when the index is wiped.
    reader: RwLock<IndexReader>,
    writer: Mutex<Option<Writer>>,
    mark: AtomicI64,
    /// A search failed reading the index's files: to be rebuilt ([`SearchIndex::reading`]).
    damaged: AtomicBool,
}

struct Writer {
    index: Index,
    writer: IndexWriter<TantivyDocument>,
}

impl SearchIndex {
    /// Opens the index in `dir`, creating it if missing. An index that cannot be read, or
    /// was written with another schema, is deleted and started afresh (at mark 0, so it is
    /// rebuilt from the products table). Blocking.
    pub fn open(dir: &Path, memory_bytes: usize) -> Result<Self, IndexError> {
        Self::new(Location::Dir(dir.to_owned()), memory_bytes)
    }

    /// An index in memory (tests and benchmarks).
    pub fn in_ram(memory_bytes: usize) -> Result<Self, IndexError> {
        Self::new(Location::Ram, memory_bytes)
    }

    fn new(location: Location, memory_bytes: usize) -> Result<Self, IndexError> {
        let (schema, fields) = schema();
        let (writer, reader, mark) = open_writer(&location, &schema, memory_bytes)?;
        Ok(Self {
            inner: Arc::new(Inner {
                location,
                memory_bytes,
                schema,
                fields,
                words: words_analyzer(),
                stemmed: stemmed_analyzer(),
                reader: RwLock::new(reader),
                writer: Mutex::new(Some(writer)),
                mark: AtomicI64::new(mark),
                damaged: AtomicBool::new(false),
            }),
        })
    }

    /// The highest product version the index has taken in (0: none).
    pub fn mark(&self) -> i64 {
        self.inner.mark.load(Ordering::Acquire)
    }

    /// A consistent view of the index as of its last commit.
    pub fn searcher(&self) -> Searcher {
        self.inner
            .reader
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .searcher()
    }

    /// Whether the index's directory has gone from under it (deleted while it ran): its
    /// commits can only fail. Never for an index in memory.
    pub fn is_gone(&self) -> bool {
        match &self.inner.location {
            Location::Dir(path) => !path.join("meta.json").exists(),
            Location::Ram => false,
        }
    }

    /// Whether a search failed reading the index's files since it was opened or wiped:
    /// they were damaged under it (the check at start found them whole), and the indexer
    /// rebuilds it from the table.
    pub fn is_damaged(&self) -> bool {
        self.inner.damaged.load(Ordering::Acquire)
    }

    /// `read`, noting a failure that says the index's files are damaged (their data, not
    /// the query: a decompression or a structure that does not add up), so that the
    /// index is rebuilt rather than failing every search that meets the damage.
    pub(crate) fn reading<T>(&self, read: Result<T, IndexError>) -> Result<T, IndexError> {
        if let Err(IndexError::Tantivy(
            e @ (TantivyError::DataCorruption(_) | TantivyError::IoError(_)),
        )) = &read
            && !self.inner.damaged.swap(true, Ordering::AcqRel)
        {
            tracing::error!(error = %e, "a search failed reading the index's files; rebuilding the index from the table");
        }
        read
    }

    /// Products in the index.
    pub fn num_docs(&self) -> u64 {
        self.searcher().num_docs()
    }

    /// Takes in `changes` (ordered by version) and commits with the last one's version as
    /// the new mark, then makes the commit visible to searches. Nothing is visible, and
    /// the mark does not move, unless the commit succeeds. Blocking.
    pub fn apply(&self, changes: &[(i64, Change)]) -> Result<i64, IndexError> {
        let mut guard = self.lock_writer();
        let w = guard.as_mut().ok_or(IndexError::Closed)?;
        let Some(&(top, _)) = changes.last() else {
            return Ok(self.mark());
        };
        if let Err(e) = self.write(w, changes, top) {
            // Drop the half-written batch; the next pass starts again from the old mark.
            if let Err(e) = w.writer.rollback() {
                tracing::warn!(error = %e, "could not roll the index writer back");
            }
            return Err(e);
        }
        self.inner.mark.store(top, Ordering::Release);
        self.inner
            .reader
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .reload()?;
        Ok(top)
    }

    fn write(&self, w: &mut Writer, changes: &[(i64, Change)], top: i64) -> Result<(), IndexError> {
        let f = &self.inner.fields;
        for (_, change) in changes {
            match change {
                Change::Upsert(p) => {
                    w.writer.delete_term(Term::from_field_text(f.id, &p.id));
                    w.writer.add_document(self.document(p))?;
                }
                Change::Remove(id) => {
                    w.writer.delete_term(Term::from_field_text(f.id, id));
                }
            }
        }
        let payload = Payload {
            schema: SCHEMA_VERSION,
            version: top,
        };
        let mut prepared = w.writer.prepare_commit()?;
        prepared.set_payload(&serde_json::to_string(&payload).map_err(IndexError::Payload)?);
        prepared.commit()?;
        Ok(())
    }

    fn document(&self, p: &IndexedProduct) -> TantivyDocument {
        let f = &self.inner.fields;
        let mut doc = TantivyDocument::default();
        doc.add_text(f.id, &p.id);
        doc.add_text(f.name, &p.name);
        doc.add_text(f.name_words, &p.name);
        doc.add_text(f.description, &p.description);
        doc.add_text(f.description_words, &p.description);
        doc.add_text(f.category, &p.category);
        doc.add_facet(f.category_facet, Facet::from_path([p.category.as_str()]));
        doc.add_i64(f.price_cents, p.price_cents);
        doc.add_text(f.currency, &p.currency);
        doc.add_i64(f.created_ms, p.created_ms);
        doc
    }

    /// Deletes the index (its directory, for one on disk) and starts an empty one at mark 0.
    /// Searches in flight finish on the old one. Blocking.
    pub fn wipe(&self) -> Result<(), IndexError> {
        let mut guard = self.lock_writer();
        if let Some(old) = guard.take() {
            close_writer(old);
        }
        if let Location::Dir(path) = &self.inner.location {
            remove_dir(path)?;
        }
        let (writer, reader, mark) = open_writer(
            &self.inner.location,
            &self.inner.schema,
            self.inner.memory_bytes,
        )?;
        *self
            .inner
            .reader
            .write()
            .unwrap_or_else(PoisonError::into_inner) = reader;
        self.inner.mark.store(mark, Ordering::Release);
        self.inner.damaged.store(false, Ordering::Release);
        *guard = Some(writer);
        Ok(())
    }

    /// Shows searches the segments background merges have produced since the last
    /// commit, if any (a merge does not reload the reader). `true` when it did. Blocking.
    pub fn refresh(&self) -> Result<bool, IndexError> {
        let searcher = self.searcher();
        let mut live: Vec<_> = searcher
            .segment_readers()
            .iter()
            .map(|s| s.segment_id())
            .collect();
        let mut stored = searcher.index().searchable_segment_ids()?;
        live.sort_unstable();
        stored.sort_unstable();
        if live == stored {
            return Ok(false);
        }
        self.inner
            .reader
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .reload()?;
        Ok(true)
    }

    /// Lets the writer finish its merges, shows their result to searches and releases the
    /// directory's lock; later writes fail with [`IndexError::Closed`]. Searches keep
    /// working. Blocking.
    pub fn close(&self) {
        if let Some(old) = self.lock_writer().take() {
            close_writer(old);
            if let Err(e) = self.refresh() {
                tracing::warn!(error = %e, "could not show the merged index");
            }
        }
    }

    fn lock_writer(&self) -> MutexGuard<'_, Option<Writer>> {
        // A panic while writing leaves nothing half-done that the next commit or rollback
        // does not settle: the lock is taken over.
        self.inner
            .writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

fn close_writer(old: Writer) {
    let Writer { index, writer } = old;
    if let Err(e) = writer.wait_merging_threads() {
        tracing::warn!(error = %e, "index merges did not finish cleanly");
    }
    drop(index);
}

/// Opens (or creates) the index at `location`, its writer and a manually reloaded reader,
/// and reads its mark. An index on disk that cannot be read, its metadata or any of its
/// segments (a file truncated or deleted: the reader checks every segment file's footer
/// as it opens them; one overwritten: its checksum), is deleted and started afresh at
/// mark 0.
fn open_writer(
    location: &Location,
    schema: &Schema,
    memory_bytes: usize,
) -> Result<(Writer, IndexReader, i64), IndexError> {
    let (index, reader, mark) = match location {
        Location::Ram => {
            let index = Index::create_in_ram(schema.clone());
            let reader = open_reader(&index)?;
            (index, reader, 0)
        }
        Location::Dir(path) => match open_dir(path, schema) {
            Ok(opened) => opened,
            Err(e) => {
                tracing::warn!(
                    dir = %path.display(),
                    error = %error_chain(&e),
                    "the search index is unusable; deleting it to rebuild it from the database"
                );
                remove_dir(path)?;
                open_dir(path, schema)?
            }
        },
    };
    // After the reader, so that a damaged index is rebuilt before anything writes to it;
    // and not a reason to delete the index (its lock held by another process, say).
    let writer = index.writer_with_num_threads(1, memory_bytes)?;
    // Each catalog change is a small commit: merge small segments early, since every
    // segment adds to the cost of a typo or prefix search.
    let mut merges = LogMergePolicy::default();
    merges.set_min_num_segments(MERGE_AT_SEGMENTS);
    writer.set_merge_policy(Box::new(merges));
    Ok((Writer { index, writer }, reader, mark))
}

/// The index's analyzers registered, and a manually reloaded reader over its segments.
fn open_reader(index: &Index) -> Result<IndexReader, IndexError> {
    index.tokenizers().register(WORDS, words_analyzer());
    index.tokenizers().register(STEMMED, stemmed_analyzer());
    index.fast_field_tokenizer().register(
        SORTABLE,
        TextAnalyzer::builder(RawTokenizer::default())
            .filter(LowerCaser)
            .filter(AsciiFoldingFilter)
            .build(),
    );
    Ok(index
        .reader_builder()
        .reload_policy(ReloadPolicy::Manual)
        .try_into()?)
}

fn open_dir(path: &Path, schema: &Schema) -> Result<(Index, IndexReader, i64), IndexError> {
    std::fs::create_dir_all(path).map_err(|source| IndexError::Io {
        path: path.display().to_string(),
        source,
    })?;
    let dir = MmapDirectory::open(path).map_err(|source| IndexError::Directory {
        path: path.display().to_string(),
        source,
    })?;
    let index = Index::open_or_create(dir, schema.clone())?;
    let mark = match index.load_metas()?.payload {
        None => 0,
        Some(text) => {
            let payload: Payload = serde_json::from_str(&text).map_err(IndexError::Payload)?;
            if payload.schema != SCHEMA_VERSION {
                return Err(IndexError::OtherSchema {
                    found: payload.schema,
                });
            }
            payload.version
        }
    };
    let reader = open_reader(&index)?;
    // Damage inside a file, its footer intact (overwritten, a bad block), passes the
    // opening and fails the searches that read it: every file the index uses is checked
    // against the checksum in its footer (a read of the whole index, once, at start).
    let damaged = index.validate_checksum()?;
    if !damaged.is_empty() {
        let mut files: Vec<String> = damaged.iter().map(|f| f.display().to_string()).collect();
        files.sort();
        return Err(IndexError::Damaged {
            files: files.join(", "),
        });
    }
    Ok((index, reader, mark))
}

fn remove_dir(path: &Path) -> Result<(), IndexError> {
    match std::fs::remove_dir_all(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(IndexError::Io {
            path: path.display().to_string(),
            source: e,
        }),
        _ => Ok(()),
    }
}

pub(crate) use platform::failure::error_chain;

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let text = |analyzer: &str, positions: bool| {
        TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(analyzer)
                .set_index_option(if positions {
                    IndexRecordOption::WithFreqsAndPositions
                } else {
                    IndexRecordOption::WithFreqs
                }),
        )
    };
    let fields = Fields {
        // Fast too: the last tie-break of every order (see `engine`).
        id: b.add_text_field("id", STRING | STORED | FAST),
        name: b.add_text_field("name", text(STEMMED, false).set_stored().set_fast(SORTABLE)),
        name_words: b.add_text_field("name_words", text(WORDS, true)),
        description: b.add_text_field("description", text(STEMMED, false)),
        description_words: b.add_text_field("description_words", text(WORDS, false)),
        category: b.add_text_field("category", STRING | STORED),
        category_facet: b.add_facet_field("category_facet", FacetOptions::default()),
        price_cents: b.add_i64_field("price_cents", INDEXED | FAST | STORED),
        currency: b.add_text_field("currency", STORED),
        created_ms: b.add_i64_field("created_ms", FAST),
    };
    (b.build(), fields)
}

fn words_analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .filter(RemoveLongFilter::limit(MAX_TOKEN_BYTES + 1))
        .build()
}

fn stemmed_analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .filter(RemoveLongFilter::limit(MAX_TOKEN_BYTES + 1))
        .filter(
            StopWordFilter::new(Language::English)
                .unwrap_or_else(|| StopWordFilter::remove(Vec::new())),
        )
        .filter(Stemmer::new(Language::English))
        .build()
}

/// The tokens `analyzer` makes of `text`.
pub(crate) fn tokens(analyzer: &mut TextAnalyzer, text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut stream = analyzer.token_stream(text);
    while let Some(token) = stream.next() {
        out.push(token.text.clone());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn product(id: &str, name: &str) -> IndexedProduct {
        IndexedProduct {
            id: id.into(),
            name: name.into(),
            description: "A thing.".into(),
            category: "kitchen".into(),
            price_cents: 1000,
            currency: "USD".into(),
            created_ms: 0,
        }
    }

    #[test]
    fn analyzers_fold_lower_case_and_stem() {
        assert_eq!(
            tokens(&mut words_analyzer(), "Crème Brûlée Torches"),
            ["creme", "brulee", "torches"]
        );
        assert_eq!(
            tokens(&mut stemmed_analyzer(), "The Skillets and Torches"),
            ["skillet", "torch"]
        );
    }

    #[test]
    fn commits_carry_the_mark_and_replace_by_id() {
        let dir = std::env::temp_dir().join(format!("search-index-test-{}", uuid::Uuid::new_v4()));
        let index = SearchIndex::open(&dir, 15_000_000).unwrap();
        assert_eq!(index.mark(), 0);
        index
            .apply(&[
                (1, Change::Upsert(product("a", "Mug"))),
                (2, Change::Upsert(product("b", "Kettle"))),
            ])
            .unwrap();
        index
            .apply(&[
                (3, Change::Upsert(product("a", "Big Mug"))),
                (4, Change::Remove("b".into())),
            ])
            .unwrap();
        assert_eq!((index.mark(), index.num_docs()), (4, 1));
        index.close();
        drop(index);

        // Reopened, the index knows how far it got.
        let reopened = SearchIndex::open(&dir, 15_000_000).unwrap();
        assert_eq!((reopened.mark(), reopened.num_docs()), (4, 1));
        reopened.wipe().unwrap();
        assert_eq!((reopened.mark(), reopened.num_docs()), (0, 0));
        reopened.close();
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A segment's store file (the stored documents) in the index in `dir`.
    fn a_store_file(dir: &Path) -> PathBuf {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .find(|file| file.extension().is_some_and(|e| e == "store"))
            .expect("a segment's store file")
    }

    /// What a disk or a person may do to a segment's files while the service is stopped.
    #[test]
    fn an_index_with_a_damaged_segment_is_started_afresh() {
        type Damage = fn(&Path);
        let damages: [(&str, Damage); 3] = [
            ("a store file truncated", |file| {
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(file)
                    .unwrap()
                    .set_len(100)
                    .unwrap();
            }),
            ("a store file deleted", |file| {
                std::fs::remove_file(file).unwrap()
            }),
            (
                "a store file's first bytes overwritten, its footer intact",
                |file| {
                    use std::io::Write;
                    let mut f = std::fs::OpenOptions::new().write(true).open(file).unwrap();
                    f.write_all(&[0x5a; 4]).unwrap();
                },
            ),
        ];
        for (damage, wreck) in damages {
            // Arrange: an index of two products, closed.
            let dir =
                std::env::temp_dir().join(format!("search-index-test-{}", uuid::Uuid::new_v4()));
            let index = SearchIndex::open(&dir, 15_000_000).unwrap();
            index
                .apply(&[
                    (1, Change::Upsert(product("a", "Mug"))),
                    (2, Change::Upsert(product("b", "Kettle"))),
                ])
                .unwrap();
            index.close();
            drop(index);
            wreck(&a_store_file(&dir));

            // Act
            let reopened = SearchIndex::open(&dir, 15_000_000);

            // Assert: empty at mark 0, to be rebuilt from the products table, and usable.
            let reopened = reopened.unwrap_or_else(|e| panic!("{damage}: {e}"));
            assert_eq!((reopened.mark(), reopened.num_docs()), (0, 0), "{damage}");
            reopened
                .apply(&[(1, Change::Upsert(product("a", "Mug")))])
                .unwrap();
            assert_eq!(reopened.num_docs(), 1, "{damage}");
            reopened.close();
            let _ = std::fs::remove_dir_all(&dir);
        }
    }

    /// Damage under a running index (its files overwritten while it is mapped) fails the
    /// searches that read it: the index notes it, to be rebuilt, once.
    #[test]
    fn a_search_failing_on_damaged_files_marks_the_index_for_a_rebuild() {
        use std::io::Write;
        let dir = std::env::temp_dir().join(format!("search-index-test-{}", uuid::Uuid::new_v4()));
        let index = SearchIndex::open(&dir, 15_000_000).unwrap();
        index
            .apply(&[(1, Change::Upsert(product("a", "Mug")))])
            .unwrap();
        assert!(!index.is_damaged());
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .open(a_store_file(&dir))
            .unwrap();
        file.write_all(&[0x5a; 16]).unwrap();
        drop(file);

        let query = crate::domain::SearchQuery {
            words: crate::domain::Words::parse("mug").unwrap(),
            ..Default::default()
        };
        let read = index.search(&query);

        assert!(read.is_err(), "{read:?}");
        assert!(index.is_damaged());
        index.wipe().unwrap();
        assert!(!index.is_damaged(), "a wiped index starts whole");
        index.close();
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn an_unreadable_index_is_started_afresh() {
        let dir = std::env::temp_dir().join(format!("search-index-test-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("meta.json"), b"{ not json").unwrap();
        let index = SearchIndex::open(&dir, 15_000_000).unwrap();
        assert_eq!((index.mark(), index.num_docs()), (0, 0));
        index.close();
        let _ = std::fs::remove_dir_all(&dir);
    }
}

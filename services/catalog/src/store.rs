//! All of the catalog's SQL: its migrations, its reads, and its writes, each write with its
//! events recorded in the same transaction.

use crate::{
    domain::{Category, NewProduct, Product, ProductId, ProductPatch, ProductQuery, Sort},
    error::CatalogError,
    events::{
        self as catalog_events, ProductCreated, ProductDeleted, ProductPriceChanged, ProductUpdated,
    },
};
use events::{Event, outbox};
use platform::db::{Db, MigrationSource, is_unique_violation};
use sqlx::{Any, AssertSqlSafe, FromRow, Row, Transaction};

/// The catalog's tables; `$collate` follows the columns a listing sorts by (`COLLATE "C"`
/// on PostgreSQL, so that they sort bytewise there as SQLite sorts them by default).
macro_rules! tables {
    ($collate:literal) => {
        concat!(
            "CREATE TABLE categories (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        description TEXT NOT NULL,
        position BIGINT NOT NULL
    );
    CREATE TABLE products (
        id TEXT",
            $collate,
            " PRIMARY KEY,
        sku TEXT NOT NULL UNIQUE,
        name TEXT",
            $collate,
            " NOT NULL,
        description TEXT NOT NULL,
        category_id TEXT NOT NULL REFERENCES categories (id),
        price_cents BIGINT NOT NULL CHECK (price_cents > 0),
        currency TEXT NOT NULL,
        created_at TEXT",
            $collate,
            " NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX products_by_name ON products (name, id);
    CREATE INDEX products_by_price ON products (price_cents, id);
    CREATE INDEX products_by_created ON products (created_at, id);
    CREATE INDEX products_by_category_name ON products (category_id, name, id);
    CREATE INDEX products_by_category_price ON products (category_id, price_cents, id);
    CREATE TABLE catalog_meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );"
        )
    };
}

/// The catalog's tables. `name` sorts bytewise on both backends (`COLLATE "C"` on
/// PostgreSQL, SQLite's default), so a listing is in the same order everywhere. The
/// indexes serve the listing's filters (category, price) and orders (name, price, age).
pub const MIGRATIONS: &[MigrationSource] = &[MigrationSource {
    version: 1,
    description: "catalog categories and products",
    sqlite: tables!(""),
    postgres: tables!(" COLLATE \"C\""),
}];

/// The catalog's migrations followed by the outbox's: what [`Db::connect`] is given.
pub fn migrations() -> Vec<MigrationSource> {
    MIGRATIONS
        .iter()
        .chain(outbox::MIGRATIONS)
        .copied()
        .collect()
}

const PRODUCT_COLUMNS: &str =
    "id, sku, name, description, category_id, price_cents, currency, created_at, updated_at";

/// The `catalog_meta` key recording that the seed ran (or was not needed).
const SEEDED_KEY: &str = "seeded_at";

/// A category as the seed defines it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CategoryDef {
    pub id: &'static str,
    pub name: &'static str,
    pub description: &'static str,
}

/// A product to insert with a given id and creation time (the seed's are fixed).
#[derive(Debug, Clone)]
pub struct ProductRecord {
    pub id: ProductId,
    pub product: NewProduct,
    pub created_at: String,
}

/// What [`Store::seed`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeedOutcome {
    /// Inserted this many products (and as many events).
    Seeded(usize),
    /// The database was seeded before, or already holds products.
    NotFresh,
}

/// The catalog's data access. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    db: Db,
    producer: ::events::Producer,
}

impl Store {
    /// A store over the catalog's migrated database.
    pub fn new(db: Db, producer: ::events::Producer) -> Self {
        Self { db, producer }
    }

    /// Inserts the categories that do not exist yet; existing ones keep their text.
    #[tracing::instrument(skip_all, fields(categories = defs.len()))]
    pub async fn ensure_categories(&self, defs: &[CategoryDef]) -> Result<(), sqlx::Error> {
        let mut tx = self.db.begin_write().await?;
        for (position, def) in defs.iter().enumerate() {
            sqlx::query(
                "INSERT INTO categories (id, name, description, position) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(def.id)
            .bind(def.name)
            .bind(def.description)
            .bind(position as i64)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await
    }

    /// Every category, in the shop's order, with its product count.
    #[tracing::instrument(skip_all)]
    pub async fn categories(&self) -> Result<Vec<Category>, sqlx::Error> {
        sqlx::query_as(
            "SELECT c.id, c.name, c.description, COUNT(p.id) AS product_count \
             FROM categories c LEFT JOIN products p ON p.category_id = c.id \
             GROUP BY c.id, c.name, c.description, c.position \
             ORDER BY c.position, c.id",
        )
        .fetch_all(self.db.pool())
        .await
    }

    /// Whether a category exists.
    pub async fn category_exists(&self, id: &str) -> Result<bool, sqlx::Error> {
        category_exists(self.db.pool(), id).await
    }

    /// One page of products matching `query`, and how many match in all.
    #[tracing::instrument(skip_all, fields(page = query.page, per_page = query.per_page))]
    pub async fn list(&self, query: &ProductQuery) -> Result<(Vec<Product>, i64), sqlx::Error> {
        // Built here rather than with `QueryBuilder<Any>`: that writes `?` placeholders,
        // which PostgreSQL does not accept. Only fixed text is spliced in; values are bound.
        let mut clauses = Vec::new();
        let mut args: Vec<Arg> = Vec::new();
        if let Some(category) = &query.category {
            args.push(Arg::Text(category.as_str().to_owned()));
            clauses.push(format!("category_id = ${}", args.len()));
        }
        if let Some(min) = query.min_price {
            args.push(Arg::Int(min));
            clauses.push(format!("price_cents >= ${}", args.len()));
        }
        if let Some(max) = query.max_price {
            args.push(Arg::Int(max));
            clauses.push(format!("price_cents <= ${}", args.len()));
        }
        if let Some(q) = &query.name_contains {
            args.push(Arg::Text(format!("%{}%", escape_like(&q.to_lowercase()))));
            clauses.push(format!("LOWER(name) LIKE ${} ESCAPE '\\'", args.len()));
        }
        let filter = if clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", clauses.join(" AND "))
        };
        let order = match query.sort {
            Sort::Name => "name ASC, id ASC",
            Sort::PriceAsc => "price_cents ASC, id ASC",
            Sort::PriceDesc => "price_cents DESC, id ASC",
            Sort::Newest => "created_at DESC, id DESC",
        };

        let count_sql = format!("SELECT COUNT(*) AS total FROM products{filter}");
        let total: i64 = bind_all(sqlx::query(AssertSqlSafe(count_sql)), &args)
            .fetch_one(self.db.pool())
            .await?
            .try_get("total")?;

        let n = args.len();
        let page_sql = format!(
            "SELECT {PRODUCT_COLUMNS} FROM products{filter} ORDER BY {order} LIMIT ${} OFFSET ${}",
            n + 1,
            n + 2
        );
        let rows = bind_all(sqlx::query(AssertSqlSafe(page_sql)), &args)
            .bind(i64::from(query.per_page))
            .bind(query.offset())
            .fetch_all(self.db.pool())
            .await?;
        let items = rows
            .iter()
            .map(Product::from_row)
            .collect::<Result<_, _>>()?;
        Ok((items, total))
    }

    /// The product with this id, if there is one.
    #[tracing::instrument(skip_all, fields(product_id = %id))]
    pub async fn get(&self, id: ProductId) -> Result<Option<Product>, sqlx::Error> {
        sqlx::query(concat!(
            "SELECT id, sku, name, description, category_id, price_cents, currency, ",
            "created_at, updated_at FROM products WHERE id = $1"
        ))
        .bind(id.to_string())
        .fetch_optional(self.db.pool())
        .await?
        .as_ref()
        .map(Product::from_row)
        .transpose()
    }

    /// Creates a product and records `product.created`, in one transaction.
    #[tracing::instrument(skip_all, fields(product_id = %record.id, sku = record.product.sku.as_str()))]
    pub async fn create(
        &self,
        record: ProductRecord,
        traceparent: Option<String>,
    ) -> Result<Product, CatalogError> {
        let mut tx = self.db.begin_write().await?;
        let product = insert_product(&mut tx, &record, traceparent.as_deref()).await?;
        self.producer.commit(tx).await?;
        Ok(product)
    }

    /// Applies a patch; records `product.updated`, and `product.price_changed` when the
    /// price changed. A patch that changes nothing writes nothing.
    #[tracing::instrument(skip_all, fields(product_id = %id))]
    pub async fn update(
        &self,
        id: ProductId,
        patch: &ProductPatch,
        traceparent: Option<String>,
    ) -> Result<Product, CatalogError> {
        let mut tx = self.db.begin_write().await?;
        // Locked as read: two admins' PATCHes of one product at once both apply, the
        // second onto the first's row (on PostgreSQL, the second would otherwise write back
        // the row as it was before the first, undoing it, and its events would say so).
        let select = concat!(
            "SELECT id, sku, name, description, category_id, price_cents, currency, ",
            "created_at, updated_at FROM products WHERE id = $1"
        );
        let row = sqlx::query(platform::db::for_update(&tx, select))
            .bind(id.to_string())
            .fetch_optional(&mut *tx)
            .await?;
        let before = match row {
            Some(row) => Product::from_row(&row)?,
            None => return Err(CatalogError::ProductNotFound(id.to_string())),
        };
        let mut after = before.clone();
        if let Some(name) = &patch.name {
            after.name = name.as_str().to_owned();
        }
        if let Some(description) = &patch.description {
            after.description = description.as_str().to_owned();
        }
        if let Some(category) = &patch.category {
            if category.as_str() != before.category
                && !category_exists(&mut *tx, category.as_str()).await?
            {
                return Err(CatalogError::UnknownCategory(category.as_str().to_owned()));
            }
            after.category = category.as_str().to_owned();
        }
        if let Some(price) = patch.price {
            after.price_cents = price.cents();
        }
        if after == before {
            return Ok(before);
        }
        after.updated_at = events::envelope::now_rfc3339();
        sqlx::query(
            "UPDATE products SET name = $1, description = $2, category_id = $3, \
             price_cents = $4, updated_at = $5 WHERE id = $6",
        )
        .bind(&after.name)
        .bind(&after.description)
        .bind(&after.category)
        .bind(after.price_cents)
        .bind(&after.updated_at)
        .bind(&after.id)
        .execute(&mut *tx)
        .await?;

        let updated = ProductUpdated {
            product: after.clone(),
        };
        publish(
            &mut tx,
            catalog_events::PRODUCT_UPDATED,
            &after.id,
            &updated,
            traceparent.as_deref(),
        )
        .await?;
        if after.price_cents != before.price_cents {
            let changed = ProductPriceChanged {
                product_id: after.id.clone(),
                old_price_cents: before.price_cents,
                new_price_cents: after.price_cents,
                currency: after.currency.clone(),
            };
            publish(
                &mut tx,
                catalog_events::PRODUCT_PRICE_CHANGED,
                &after.id,
                &changed,
                traceparent.as_deref(),
            )
            .await?;
        }
        self.producer.commit(tx).await?;
        Ok(after)
    }

    /// Deletes a product for good and records `product.deleted`.
    #[tracing::instrument(skip_all, fields(product_id = %id))]
    pub async fn delete(
        &self,
        id: ProductId,
        traceparent: Option<String>,
    ) -> Result<(), CatalogError> {
        let mut tx = self.db.begin_write().await?;
        let id = id.to_string();
        // One statement: of two deletes at once, the second finds nothing to delete (a
        // 404, and no second `product.deleted`).
        let sku: String = match sqlx::query("DELETE FROM products WHERE id = $1 RETURNING sku")
            .bind(&id)
            .fetch_optional(&mut *tx)
            .await?
        {
            Some(row) => row.try_get("sku")?,
            None => return Err(CatalogError::ProductNotFound(id)),
        };
        let deleted = ProductDeleted {
            product_id: id.clone(),
            sku,
        };
        publish(
            &mut tx,
            catalog_events::PRODUCT_DELETED,
            &id,
            &deleted,
            traceparent.as_deref(),
        )
        .await?;
        self.producer.commit(tx).await?;
        Ok(())
    }

    /// Inserts `products` (each with its `product.created` event) into a fresh database,
    /// all in one transaction: either the whole seed and its events exist, or none.
    ///
    /// A database is fresh when it was never seeded and holds no product. The seed marker
    /// is written first, so a second replica seeding at the same moment waits on it and
    /// then finds the database not fresh.
    #[tracing::instrument(skip_all, fields(products = products.len()))]
    pub async fn seed(&self, products: &[ProductRecord]) -> Result<SeedOutcome, CatalogError> {
        let mut tx = self.db.begin_write().await?;
        let marked = sqlx::query("SELECT value FROM catalog_meta WHERE key = $1")
            .bind(SEEDED_KEY)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        if marked {
            return Ok(SeedOutcome::NotFresh);
        }
        let existing: i64 = sqlx::query("SELECT COUNT(*) AS n FROM products")
            .fetch_one(&mut *tx)
            .await?
            .try_get("n")?;
        let mark = sqlx::query("INSERT INTO catalog_meta (key, value) VALUES ($1, $2)")
            .bind(SEEDED_KEY)
            .bind(events::envelope::now_rfc3339())
            .execute(&mut *tx)
            .await;
        match mark {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => return Ok(SeedOutcome::NotFresh),
            Err(e) => return Err(e.into()),
        }
        if existing > 0 {
            // Products were created before seeding was ever on: remember not to seed.
            self.producer.commit(tx).await?;
            return Ok(SeedOutcome::NotFresh);
        }
        for record in products {
            insert_product(&mut tx, record, None).await?;
        }
        self.producer.commit(tx).await?;
        Ok(SeedOutcome::Seeded(products.len()))
    }
}

/// The one way a product comes to exist, for administrators and the seed alike: checks
/// the category, inserts the row and records `product.created`, in the caller's
/// transaction.
async fn insert_product(
    tx: &mut Transaction<'static, Any>,
    record: &ProductRecord,
    traceparent: Option<&str>,
) -> Result<Product, CatalogError> {
    let new = &record.product;
    if !category_exists(&mut **tx, new.category.as_str()).await? {
        return Err(CatalogError::UnknownCategory(
            new.category.as_str().to_owned(),
        ));
    }
    let product = Product {
        id: record.id.to_string(),
        sku: new.sku.as_str().to_owned(),
        name: new.name.as_str().to_owned(),
        description: new.description.as_str().to_owned(),
        category: new.category.as_str().to_owned(),
        price_cents: new.price.cents(),
        currency: new.currency.as_str().to_owned(),
        created_at: record.created_at.clone(),
        updated_at: record.created_at.clone(),
    };
    let inserted = sqlx::query(concat!(
        "INSERT INTO products (id, sku, name, description, category_id, price_cents, currency, ",
        "created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
    ))
    .bind(&product.id)
    .bind(&product.sku)
    .bind(&product.name)
    .bind(&product.description)
    .bind(&product.category)
    .bind(product.price_cents)
    .bind(&product.currency)
    .bind(&product.created_at)
    .bind(&product.updated_at)
    .execute(&mut **tx)
    .await;
    match inserted {
        Ok(_) => {}
        // Ids are fresh UUIDs, so the one unique key a client can collide with is the sku.
        Err(e) if is_unique_violation(&e) => return Err(CatalogError::DuplicateSku(product.sku)),
        Err(e) => return Err(e.into()),
    }
    let created = ProductCreated {
        product: product.clone(),
        initial_stock: new.initial_stock.units(),
    };
    publish(
        tx,
        catalog_events::PRODUCT_CREATED,
        &product.id,
        &created,
        traceparent,
    )
    .await?;
    Ok(product)
}

/// Whether a category exists, asked of the pool or inside a transaction.
async fn category_exists<'e>(
    db: impl sqlx::Executor<'e, Database = Any>,
    id: &str,
) -> Result<bool, sqlx::Error> {
    let found = sqlx::query("SELECT id FROM categories WHERE id = $1")
        .bind(id)
        .fetch_optional(db)
        .await?;
    Ok(found.is_some())
}

/// Records one event of the catalog in the outbox, inside `tx`.
async fn publish(
    tx: &mut Transaction<'static, Any>,
    kind: &str,
    subject: &str,
    data: &impl serde::Serialize,
    traceparent: Option<&str>,
) -> Result<(), CatalogError> {
    let event = Event::new(catalog_events::SOURCE, kind, subject, data)?
        .with_traceparent(traceparent.map(str::to_owned));
    outbox::enqueue(tx, &event).await?;
    Ok(())
}

platform::from_row! { Category { id, name, description, product_count } }

platform::from_row! {
    Product {
        id, sku, name, description, category = "category_id", price_cents, currency,
        created_at, updated_at,
    }
}

/// A value bound to a dynamically built query.
enum Arg {
    Text(String),
    Int(i64),
}

fn bind_all<'q>(
    mut query: sqlx::query::Query<'q, Any, sqlx::any::AnyArguments>,
    args: &[Arg],
) -> sqlx::query::Query<'q, Any, sqlx::any::AnyArguments> {
    for arg in args {
        query = match arg {
            Arg::Text(s) => query.bind(s.clone()),
            Arg::Int(i) => query.bind(*i),
        };
    }
    query
}

/// Escapes `LIKE` wildcards so a user's `%` or `_` matches itself (escape character `\`).
fn escape_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_wildcards_are_escaped() {
        assert_eq!(escape_like("50%_off\\"), "50\\%\\_off\\\\");
        assert_eq!(escape_like("mug"), "mug");
    }

    #[test]
    fn migrations_put_the_catalog_before_the_outbox() {
        platform::testing::assert_migrations(&migrations(), &["events outbox"]);
    }
}

//! All of the recommendation service's SQL: its migrations, the reads that rank products,
//! and the writes that apply catalog and order events inside the consumer's transaction.

use crate::domain::{
    Candidate, ConfirmedOrder, Limit, Picks, ProductCopy, ProductId, Reason, Recommendation, UserId,
};
use events::{consumer, now_rfc3339};
use platform::db::{Db, MigrationSource};
use sqlx::{Any, AnyPool, FromRow, Row, Transaction, any::AnyArguments, query::Query};

/// The model's tables, the same SQL on both backends.
///
/// `products` is this service's copy of the catalog (a deleted product is kept, marked,
/// so that the history that mentions it still makes sense). `popularity` counts, per
/// product, the confirmed orders it was in and the units sold; `pairs` counts how often
/// two distinct products were in one order, stored in both directions so that "bought
/// with X" is one index lookup; `purchases` is each shopper's history. `counted_orders`
/// makes sure an order counts once even if it were announced twice under two event ids
/// (the inbox already stops a redelivery of the same event).
pub const MIGRATIONS: &[MigrationSource] = &[
    MigrationSource::portable(
        1,
        "recommendation model: products, popularity, pairs, purchases",
        TABLES,
    ),
    MigrationSource::portable(
        2,
        "the catalog event each product's copy last applied",
        events::projection::CHANGED_BY,
    ),
    MigrationSource::portable(3, "products newest first, in a category and in all", NEWEST),
];

const TABLES: &str = "
CREATE TABLE products (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    category TEXT NOT NULL,
    price_cents BIGINT NOT NULL CHECK (price_cents >= 0),
    currency TEXT NOT NULL,
    deleted BIGINT NOT NULL DEFAULT 0 CHECK (deleted IN (0, 1)),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX products_by_category ON products (category, created_at);
CREATE TABLE popularity (
    product_id TEXT PRIMARY KEY,
    orders BIGINT NOT NULL CHECK (orders >= 0),
    units BIGINT NOT NULL CHECK (units >= 0)
);
CREATE TABLE pairs (
    product_id TEXT NOT NULL,
    other_id TEXT NOT NULL,
    count BIGINT NOT NULL CHECK (count > 0),
    PRIMARY KEY (product_id, other_id),
    CHECK (product_id <> other_id)
);
CREATE TABLE purchases (
    user_id TEXT NOT NULL,
    product_id TEXT NOT NULL,
    count BIGINT NOT NULL CHECK (count > 0),
    last_at TEXT NOT NULL,
    PRIMARY KEY (user_id, product_id)
);
CREATE TABLE counted_orders (
    order_id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    confirmed_at TEXT NOT NULL,
    counted_at TEXT NOT NULL
);
";

/// The order the products nobody bought are offered in, newest first, read off an index
/// instead of sorting a whole category (or catalog) per request: at 100,000 products the
/// sort made a product page's recommendations the slowest read of the shop. The index it
/// replaces served no ranking's order.
const NEWEST: &str = "
DROP INDEX products_by_category;
CREATE INDEX products_newest_in_category ON products (category, created_at DESC, id);
CREATE INDEX products_newest ON products (created_at DESC, id);
";

/// The model's migrations, then the consumer's: what [`Db::connect`] is given. The
/// service publishes nothing, so it has no outbox.
pub fn migrations() -> Vec<MigrationSource> {
    [MIGRATIONS, consumer::MIGRATIONS].concat()
}

// Every ranking ends on the same tie-breaks: more orders, more units, newer, then id, so
// that equal inputs always give the same list.

const BOUGHT_WITH: &str = "
SELECT p.id, p.name, p.category, p.price_cents, p.currency
FROM pairs x
JOIN products p ON p.id = x.other_id
LEFT JOIN popularity q ON q.product_id = p.id
WHERE x.product_id = $1 AND p.deleted = 0
ORDER BY x.count DESC, COALESCE(q.orders, 0) DESC, COALESCE(q.units, 0) DESC,
         p.created_at DESC, p.id
LIMIT $2";

/// The products that are not deleted and meet `$filter` (`AND …` on `p`), in two parts
/// that together are "most popular first": [`sold!`] those in `popularity` (every product
/// bought at least once), by orders, units, then newest; [`unsold!`] the rest, newest
/// first, read in index order. Each gives at most `$limit` (the parameter that bounds
/// it). One query over both sorted every product on each request; this way the sort
/// covers the products ever bought, and the rest is an index scan that stops at the
/// limit. (`CROSS JOIN`: SQLite joins its tables in the order written, so the products
/// bought are read and each looked up, not the whole category; without it, its planner
/// started from the category's products and looked each up in `popularity`, 21 ms a
/// request at 100,000 products with nothing sold yet. PostgreSQL plans it as any join.)
macro_rules! sold {
    ($filter:literal, $limit:literal) => {
        concat!(
            "
SELECT p.id, p.name, p.category, p.price_cents, p.currency
FROM popularity q
CROSS JOIN products p
WHERE p.id = q.product_id AND p.deleted = 0",
            $filter,
            "
ORDER BY q.orders DESC, q.units DESC, p.created_at DESC, p.id
LIMIT ",
            $limit
        )
    };
}

/// See [`sold!`].
macro_rules! unsold {
    ($filter:literal, $limit:literal) => {
        concat!(
            "
SELECT p.id, p.name, p.category, p.price_cents, p.currency
FROM products p
WHERE p.deleted = 0",
            $filter,
            "
  AND NOT EXISTS (SELECT 1 FROM popularity q WHERE q.product_id = p.id)
ORDER BY p.created_at DESC, p.id
LIMIT ",
            $limit
        )
    };
}

/// A ranking of popularity in its two parts (see [`sold!`]), with the same filter and
/// parameters.
struct Popular {
    sold: &'static str,
    unsold: &'static str,
}

macro_rules! popular {
    ($filter:literal, $limit:literal) => {
        Popular {
            sold: sold!($filter, $limit),
            unsold: unsold!($filter, $limit),
        }
    };
}

const POPULAR_IN_CATEGORY: Popular = popular!(" AND p.category = $1 AND p.id <> $2", "$3");

const POPULAR_EXCEPT: Popular = popular!(" AND p.id <> $1", "$2");

/// Bought together with the shopper's latest purchases, weighted by how often, minus
/// everything they bought.
const FOR_YOU: &str = "
SELECT p.id, p.name, p.category, p.price_cents, p.currency
FROM pairs x
JOIN products p ON p.id = x.other_id
WHERE x.product_id IN (
        SELECT h.product_id FROM purchases h WHERE h.user_id = $1
        ORDER BY h.last_at DESC, h.product_id LIMIT $2)
  AND p.deleted = 0
  AND p.id NOT IN (SELECT b.product_id FROM purchases b WHERE b.user_id = $1)
GROUP BY p.id, p.name, p.category, p.price_cents, p.currency, p.created_at
ORDER BY SUM(x.count) DESC, p.created_at DESC, p.id
LIMIT $3";

const POPULAR_IN_USER_CATEGORIES: Popular = popular!(
    "
  AND p.category IN (
        SELECT c.category FROM products c WHERE c.id IN (
            SELECT h.product_id FROM purchases h WHERE h.user_id = $1
            ORDER BY h.last_at DESC, h.product_id LIMIT $2))
  AND p.id NOT IN (SELECT b.product_id FROM purchases b WHERE b.user_id = $1)",
    "$3"
);

const POPULAR_FOR_USER: Popular = popular!(
    "
  AND p.id NOT IN (SELECT b.product_id FROM purchases b WHERE b.user_id = $1)",
    "$2"
);

/// The model's reads. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    db: Db,
}

impl Store {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// What to show next to a product: bought together with it, then popular in its
    /// category, then popular overall. `None` when the product is unknown or deleted.
    #[tracing::instrument(skip_all, fields(product_id = %id, limit = limit.get()))]
    pub async fn for_product(
        &self,
        id: &ProductId,
        limit: Limit,
    ) -> Result<Option<Vec<Recommendation>>, sqlx::Error> {
        let pool = self.db.pool();
        let row = sqlx::query("SELECT category, deleted FROM products WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(pool)
            .await?;
        let category: String = match row {
            Some(row) if row.try_get::<i64, _>("deleted")? == 0 => row.try_get("category")?,
            _ => return Ok(None),
        };
        let mut picks = Picks::new(limit, [id.as_str()]);
        let bought = sqlx::query(BOUGHT_WITH).bind(id.as_str());
        offer(pool, &mut picks, Reason::BoughtTogether, bought).await?;
        let in_category = |sql| sqlx::query(sql).bind(&category).bind(id.as_str());
        offer_popular(
            pool,
            &mut picks,
            Reason::PopularInCategory,
            POPULAR_IN_CATEGORY,
            in_category,
        )
        .await?;
        let popular = |sql| sqlx::query(sql).bind(id.as_str());
        offer_popular(pool, &mut picks, Reason::Popular, POPULAR_EXCEPT, popular).await?;
        Ok(Some(picks.into_items()))
    }

    /// What to show a shopper: bought together with what they bought (starting from their
    /// `depth` latest purchases), then popular in the categories of those, then popular
    /// overall; never anything they bought. A shopper without history gets the popular
    /// products, then the newest.
    #[tracing::instrument(skip_all, fields(user_id = %user, limit = limit.get()))]
    pub async fn for_user(
        &self,
        user: &UserId,
        limit: Limit,
        depth: u32,
    ) -> Result<Vec<Recommendation>, sqlx::Error> {
        let pool = self.db.pool();
        let depth = i64::from(depth);
        let mut picks = Picks::new(limit, []);
        let for_you = sqlx::query(FOR_YOU).bind(user.as_str()).bind(depth);
        offer(pool, &mut picks, Reason::ForYou, for_you).await?;
        let in_categories = |sql| sqlx::query(sql).bind(user.as_str()).bind(depth);
        offer_popular(
            pool,
            &mut picks,
            Reason::PopularInCategory,
            POPULAR_IN_USER_CATEGORIES,
            in_categories,
        )
        .await?;
        let popular = |sql| sqlx::query(sql).bind(user.as_str());
        offer_popular(pool, &mut picks, Reason::Popular, POPULAR_FOR_USER, popular).await?;
        Ok(picks.into_items())
    }
}

/// Offers what `ranking` finds as `reason`, unless the list is full already. Every
/// ranking's last parameter is how many candidates it is to give.
async fn offer(
    pool: &AnyPool,
    picks: &mut Picks,
    reason: Reason,
    ranking: Query<'_, Any, AnyArguments>,
) -> Result<(), sqlx::Error> {
    if picks.is_full() {
        return Ok(());
    }
    let rows = ranking.bind(picks.wanted()).fetch_all(pool).await?;
    let candidates = rows
        .iter()
        .map(Candidate::from_row)
        .collect::<Result<_, sqlx::Error>>()?;
    picks.offer(candidates, reason);
    Ok(())
}

/// Offers a popularity ranking's two parts in turn, each query made by `query` from its
/// SQL (so that both get the same parameters).
async fn offer_popular<'q>(
    pool: &AnyPool,
    picks: &mut Picks,
    reason: Reason,
    ranking: Popular,
    query: impl Fn(&'static str) -> Query<'q, Any, AnyArguments>,
) -> Result<(), sqlx::Error> {
    offer(pool, picks, reason, query(ranking.sold)).await?;
    offer(pool, picks, reason, query(ranking.unsold)).await
}

platform::from_row! { Candidate { id, name, category, price_cents, currency } }

/// The model's copy of a product, as `products` keeps it.
impl events::projection::ProductCopy for ProductCopy {
    const COLUMNS: &'static [&'static str] = &[
        "id",
        "name",
        "category",
        "price_cents",
        "currency",
        "created_at",
    ];

    fn bind(&self, query: Query<'static, Any, AnyArguments>) -> Query<'static, Any, AnyArguments> {
        query
            .bind(self.id.as_str())
            .bind(self.name.as_str())
            .bind(self.category.as_str())
            .bind(self.price.cents())
            .bind(self.currency.as_str())
            .bind(self.created_at.as_str())
    }
}

/// Counts a confirmed order into the model: each product's popularity, each pair of its
/// distinct products, the shopper's history. `false` when the order was counted before.
/// Products the catalog has not announced (yet) are counted all the same: the two
/// producers' events are not ordered with respect to each other.
pub(crate) async fn record_order(
    tx: &mut Transaction<'static, Any>,
    order: &ConfirmedOrder,
) -> Result<bool, sqlx::Error> {
    let first = sqlx::query(
        "INSERT INTO counted_orders (order_id, user_id, confirmed_at, counted_at) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (order_id) DO NOTHING",
    )
    .bind(order.order_id.as_str())
    .bind(order.user_id.as_str())
    .bind(order.confirmed_at.as_str())
    .bind(now_rfc3339())
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if first == 0 {
        return Ok(false);
    }
    for line in order.lines() {
        sqlx::query(
            "INSERT INTO popularity (product_id, orders, units) VALUES ($1, 1, $2) \
             ON CONFLICT (product_id) DO UPDATE SET orders = popularity.orders + 1, \
             units = popularity.units + excluded.units",
        )
        .bind(line.product_id.as_str())
        .bind(line.units)
        .execute(&mut **tx)
        .await?;
        sqlx::query(
            "INSERT INTO purchases (user_id, product_id, count, last_at) VALUES ($1, $2, 1, $3) \
             ON CONFLICT (user_id, product_id) DO UPDATE SET count = purchases.count + 1, \
             last_at = CASE WHEN excluded.last_at > purchases.last_at \
                            THEN excluded.last_at ELSE purchases.last_at END",
        )
        .bind(order.user_id.as_str())
        .bind(line.product_id.as_str())
        .bind(order.confirmed_at.as_str())
        .execute(&mut **tx)
        .await?;
    }
    for (a, b) in order.pairs() {
        sqlx::query(
            "INSERT INTO pairs (product_id, other_id, count) VALUES ($1, $2, 1) \
             ON CONFLICT (product_id, other_id) DO UPDATE SET count = pairs.count + 1",
        )
        .bind(a.as_str())
        .bind(b.as_str())
        .execute(&mut **tx)
        .await?;
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_put_the_model_before_the_consumer_tables() {
        platform::testing::assert_migrations(
            &migrations(),
            &["events inbox, cursors, attempts, dead letters"],
        );
    }

    /// Runs `check` against a fresh SQLite file.
    async fn on_sqlite(check: impl AsyncFnOnce(&Db)) {
        let dir = std::env::temp_dir().join(format!("bazaar-recs-unit-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let db = Db::connect(&format!("sqlite://{}/r.db", dir.display()), &migrations())
            .await
            .unwrap();
        check(&db).await;
        db.close().await;
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Runs `check` on PostgreSQL, when `BAZAAR_TEST_POSTGRES_URL` names a server
    /// (`postgres://user@host:port`, no database): a scratch database is created and
    /// dropped.
    async fn on_postgres(check: impl AsyncFnOnce(&Db)) {
        let Some(scratch) = platform::testing::ScratchPostgres::from_env("recs", "PostgreSQL")
        else {
            return;
        };
        let db = Db::connect(&scratch.url(), &migrations()).await.unwrap();
        check(&db).await;
        db.close().await;
        scratch.drop_database().await;
    }

    /// The rankings end to end, without HTTP.
    #[tokio::test]
    async fn rankings_follow_the_model_on_sqlite() {
        on_sqlite(rankings_follow_the_model).await;
    }

    #[tokio::test]
    async fn rankings_follow_the_model_on_postgres() {
        on_postgres(rankings_follow_the_model).await;
    }

    /// Popularity's two parts (sold, then unsold) against its definition, on a catalog
    /// of two categories with sold and unsold products, equal creation times and deleted
    /// products in both parts.
    #[tokio::test]
    async fn popularity_in_two_parts_is_the_one_ordering_on_sqlite() {
        on_sqlite(popularity_in_two_parts_is_the_one_ordering).await;
    }

    #[tokio::test]
    async fn popularity_in_two_parts_is_the_one_ordering_on_postgres() {
        on_postgres(popularity_in_two_parts_is_the_one_ordering).await;
    }

    async fn popularity_in_two_parts_is_the_one_ordering(db: &Db) {
        use crate::domain::{Category, Currency, OrderId, Price, ProductName, Quantity, Timestamp};
        let store = Store::new(db.clone());
        let pid = |i: usize| ProductId::parse(&format!("p{i:02}")).unwrap();
        // 36 products: a third in "garden", creation times repeating every 5, every
        // 7th deleted; the even ones among the first 20 sold, in orders of one product
        // each, so that no pair is bought together and popularity alone ranks.
        struct Row {
            id: String,
            garden: bool,
            day: usize,
            deleted: bool,
            orders: i64,
            units: i64,
        }
        let mut rows = Vec::new();
        let mut tx = db.begin_write().await.unwrap();
        for i in 0..36 {
            let garden = i % 3 == 0;
            let day = 1 + (i * 7) % 5;
            let p = ProductCopy {
                id: pid(i),
                name: ProductName::parse(&format!("p{i:02}")).unwrap(),
                category: Category::parse(if garden { "garden" } else { "kitchen" }).unwrap(),
                price: Price::from_cents(100).unwrap(),
                currency: Currency::parse("USD").unwrap(),
                created_at: Timestamp::parse(&format!("2025-01-0{day}T00:00:00Z")).unwrap(),
            };
            assert!(
                events::projection::insert_copy(&mut tx, &p, "")
                    .await
                    .unwrap()
            );
            let deleted = i % 7 == 6;
            if deleted {
                assert!(
                    events::projection::mark_deleted(&mut tx, p.id.as_str(), "z")
                        .await
                        .unwrap()
                );
            }
            // Orders 1 to 3 (ties among them), each of 1 to 4 units.
            let (orders, each) = if i < 20 && i % 2 == 0 {
                (1 + i as i64 % 3, 1 + i as i64 % 4)
            } else {
                (0, 0)
            };
            for n in 0..orders {
                let order = ConfirmedOrder::new(
                    OrderId::parse(&format!("o-{i}-{n}")).unwrap(),
                    UserId::parse(&format!("u-{i}-{n}")).unwrap(),
                    [(pid(i), Quantity::new(each).unwrap())],
                    Timestamp::parse("2025-02-01T00:00:00Z").unwrap(),
                )
                .unwrap();
                assert!(record_order(&mut tx, &order).await.unwrap());
            }
            let units = orders * each;
            rows.push(Row {
                id: format!("p{i:02}"),
                garden,
                day,
                deleted,
                orders,
                units,
            });
        }
        tx.commit().await.unwrap();
        // The definition: more orders, more units, newer, then id.
        let mut ranked: Vec<&Row> = rows.iter().filter(|r| !r.deleted).collect();
        ranked.sort_by(|a, b| {
            (b.orders, b.units, b.day)
                .cmp(&(a.orders, a.units, a.day))
                .then_with(|| a.id.cmp(&b.id))
        });
        for of in [1, 4, 5, 30] {
            let this = &rows[of];
            let in_category = ranked
                .iter()
                .filter(|r| r.garden == this.garden && r.id != this.id)
                .map(|r| (r.id.as_str(), Reason::PopularInCategory));
            let elsewhere = ranked
                .iter()
                .filter(|r| r.garden != this.garden)
                .map(|r| (r.id.as_str(), Reason::Popular));
            let want: Vec<(&str, Reason)> = in_category.chain(elsewhere).take(20).collect();
            let got = store
                .for_product(&pid(of), Limit::new(20).unwrap())
                .await
                .unwrap()
                .unwrap();
            let got: Vec<(&str, Reason)> = got.iter().map(|r| (r.id.as_str(), r.reason)).collect();
            assert_eq!(got, want, "for p{of:02}");
        }
        // A shopper who bought nothing gets the popular products, then the newest.
        let anyone = store
            .for_user(
                &UserId::parse("nobody").unwrap(),
                Limit::new(20).unwrap(),
                50,
            )
            .await
            .unwrap();
        let anyone: Vec<&str> = anyone.iter().map(|r| r.id.as_str()).collect();
        let want: Vec<&str> = ranked.iter().map(|r| r.id.as_str()).take(20).collect();
        assert_eq!(anyone, want);
    }

    async fn rankings_follow_the_model(db: &Db) {
        use crate::domain::{Category, Currency, OrderId, Price, ProductName, Quantity, Timestamp};
        let store = Store::new(db.clone());
        let pid = |s: &str| ProductId::parse(s).unwrap();
        let mut tx = db.begin_write().await.unwrap();
        for (id, category, day) in [
            ("a", "kitchen", 1),
            ("b", "kitchen", 2),
            ("c", "garden", 3),
            ("d", "kitchen", 4),
            ("e", "garden", 5),
        ] {
            let p = ProductCopy {
                id: pid(id),
                name: ProductName::parse(id).unwrap(),
                category: Category::parse(category).unwrap(),
                price: Price::from_cents(100).unwrap(),
                currency: Currency::parse("USD").unwrap(),
                created_at: Timestamp::parse(&format!("2025-01-0{day}T00:00:00Z")).unwrap(),
            };
            assert!(
                events::projection::insert_copy(&mut tx, &p, "")
                    .await
                    .unwrap()
            );
        }
        let user = UserId::parse("u-1").unwrap();
        for (n, lines) in [["a", "c"], ["a", "c"], ["a", "b"]].iter().enumerate() {
            let order = ConfirmedOrder::new(
                OrderId::parse(&format!("o-{n}")).unwrap(),
                user.clone(),
                lines.iter().map(|p| (pid(p), Quantity::new(1).unwrap())),
                Timestamp::parse("2025-02-01T00:00:00Z").unwrap(),
            )
            .unwrap();
            assert!(record_order(&mut tx, &order).await.unwrap());
            assert!(
                !record_order(&mut tx, &order).await.unwrap(),
                "counted once"
            );
        }
        tx.commit().await.unwrap();

        let got = store
            .for_product(&pid("a"), Limit::new(4).unwrap())
            .await
            .unwrap()
            .unwrap();
        let got: Vec<(&str, Reason)> = got.iter().map(|r| (r.id.as_str(), r.reason)).collect();
        assert_eq!(
            got,
            [
                ("c", Reason::BoughtTogether),
                ("b", Reason::BoughtTogether),
                ("d", Reason::PopularInCategory),
                ("e", Reason::Popular)
            ]
        );
        // The shopper bought a, b and c: only d and e are left, d through b's category.
        let mine = store
            .for_user(&user, Limit::new(20).unwrap(), 50)
            .await
            .unwrap();
        let mine: Vec<(&str, Reason)> = mine.iter().map(|r| (r.id.as_str(), r.reason)).collect();
        assert_eq!(
            mine,
            [
                ("e", Reason::PopularInCategory),
                ("d", Reason::PopularInCategory)
            ]
        );
        assert_eq!(
            store
                .for_product(&pid("zz"), Limit::default())
                .await
                .unwrap(),
            None
        );
    }
}

//! The scenarios: what a shopper does in one run, step by named step, over the public
//! API through the gateway.

use super::engine::{Failed, Run, Workload};
use super::shop::{Account, Auth, CheckoutOutcome, DECLINED_CARD, GOOD_CARD, Shop};
use super::stats::ErrorKind;
use rand::RngExt;
use rand::seq::IndexedRandom;
use std::sync::Arc;

/// What the runs of a load do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// Home page, a category, a search, a product, its recommendations.
    Browse,
    /// Sign in (or register), add 1–3 products to the cart, check out; some cards are
    /// declined.
    Checkout,
    /// Like a real shop's traffic: mostly browsing, some carts, few checkouts.
    Mixed,
}

impl Scenario {
    pub fn name(self) -> &'static str {
        match self {
            Self::Browse => "browse",
            Self::Checkout => "checkout",
            Self::Mixed => "mixed",
        }
    }

    /// Whether its runs buy (and so need stocked products and shopper accounts).
    pub fn buys(self) -> bool {
        self != Self::Browse
    }

    /// The share of its runs that check out.
    pub fn checkout_share(self) -> f64 {
        match self {
            Self::Browse => 0.0,
            Self::Checkout => 1.0,
            Self::Mixed => f64::from(weight(Flow::Checkout)) / 100.0,
        }
    }
}

/// Every step, in the order a shopper meets them (the order of the reports' tables).
pub const STEPS: [&str; 13] = [
    "home",
    "category",
    "search",
    "product",
    "recommendations",
    "register",
    "sign_in",
    "refresh",
    "add_to_cart",
    "view_cart",
    "checkout",
    "checkout_declined",
    "clear_cart",
];

/// What one run does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    Browse,
    /// Browse to a product, put it in an anonymous cart, look at the cart, leave.
    Cart,
    Checkout,
}

impl Flow {
    fn counter(self) -> &'static str {
        match self {
            Self::Browse => "flow.browse",
            Self::Cart => "flow.cart",
            Self::Checkout => "flow.checkout",
        }
    }
}

/// The mixed scenario, in percent of runs. Published e-commerce figures put the share
/// of visits that add to the cart at about 10–15% and the share that buy at 2–3%:
/// most carts are abandoned. So 85% of runs only browse, 12% also fill a cart and
/// leave it, 3% check out.
pub const MIX: [(Flow, u32); 3] = [(Flow::Browse, 85), (Flow::Cart, 12), (Flow::Checkout, 3)];

/// Percent of checkouts paid with a card that is declined (online card declines run at
/// several percent; 10% keeps the decline path busy enough to measure).
pub const DECLINED_PERCENT: u32 = 10;

fn weight(flow: Flow) -> u32 {
    MIX.iter().find(|(f, _)| *f == flow).map_or(0, |(_, w)| *w)
}

fn pick_flow(rng: &mut impl rand::Rng) -> Flow {
    let total: u32 = MIX.iter().map(|(_, w)| w).sum();
    let mut roll = rng.random_range(0..total);
    for (flow, w) in MIX {
        if roll < w {
            return flow;
        }
        roll -= w;
    }
    Flow::Browse
}

/// The shop's scenarios as a workload.
pub struct Shopping {
    pub shop: Arc<Shop>,
    pub scenario: Scenario,
}

impl Workload for Shopping {
    async fn run(&self, run: &mut Run) -> Result<(), Failed> {
        let flow = match self.scenario {
            Scenario::Browse => Flow::Browse,
            Scenario::Checkout => Flow::Checkout,
            Scenario::Mixed => pick_flow(&mut run.rng),
        };
        run.count(flow.counter(), 1);
        match flow {
            Flow::Browse => self.browse(run).await,
            Flow::Cart => self.cart(run).await,
            Flow::Checkout => self.checkout(run).await,
        }
    }
}

impl Shopping {
    async fn browse(&self, run: &mut Run) -> Result<(), Failed> {
        let shop = &*self.shop;
        let catalog = &shop.catalog;
        run.step("home", shop.home()).await?;
        let category = pick(&catalog.categories, run)?;
        let listed = run.step("category", shop.category(category)).await?;
        let word = pick(&catalog.words, run)?;
        let found = run.step("search", shop.search(word)).await?;
        // The product the shopper clicks: a hit, else one of the category, else any.
        let product = match (found.choose(&mut run.rng), listed.choose(&mut run.rng)) {
            (Some(id), _) | (None, Some(id)) => id.as_str(),
            (None, None) => &pick(&catalog.products, run)?.id,
        };
        run.step("product", shop.product(product)).await?;
        run.step("recommendations", shop.recommendations(product))
            .await?;
        Ok(())
    }

    async fn cart(&self, run: &mut Run) -> Result<(), Failed> {
        let shop = &*self.shop;
        run.step("home", shop.home()).await?;
        let category = pick(&shop.catalog.categories, run)?;
        let listed = run.step("category", shop.category(category)).await?;
        let product = match listed.choose(&mut run.rng) {
            Some(id) => id.as_str(),
            None => &pick(&shop.catalog.products, run)?.id,
        };
        run.step("product", shop.product(product)).await?;
        let cookie = run
            .step("add_to_cart", shop.add_to_cart(Auth::Cookie(None), product))
            .await?;
        let Some(cookie) = cookie else {
            // Without its cookie an anonymous cart is lost to its shopper.
            return run.fail(ErrorKind::InvalidResponse);
        };
        let lines = run
            .step("view_cart", shop.cart(Auth::Cookie(Some(&cookie))))
            .await?;
        if lines.iter().any(|l| l == product) {
            Ok(())
        } else {
            run.fail(ErrorKind::InvalidResponse)
        }
    }

    async fn checkout(&self, run: &mut Run) -> Result<(), Failed> {
        let shop = &*self.shop;
        // An account is dropped, not returned, when the run fails holding it: its cart
        // is then in a state the pool cannot vouch for.
        let account = self.shopper(run).await?;
        let stocked = &shop.catalog.stocked;
        let count = run.rng.random_range(1..=3).min(stocked.len());
        let picks = rand::seq::index::sample(&mut run.rng, stocked.len(), count);
        let auth = Auth::Bearer(&account.tokens.access);
        for i in picks {
            let product = &shop.catalog.products[stocked[i]].id;
            run.step("add_to_cart", shop.add_to_cart(auth, product))
                .await?;
        }
        run.step("view_cart", shop.cart(auth)).await?;

        let declined = run.rng.random_ratio(DECLINED_PERCENT, 100);
        let (step, card) = if declined {
            ("checkout_declined", DECLINED_CARD)
        } else {
            ("checkout", GOOD_CARD)
        };
        let key = uuid::Uuid::new_v4().to_string();
        let retries = run.tally("checkout.retries");
        let outcome = run
            .step(
                step,
                shop.checkout(&account.tokens.access, card, &key, &retries),
            )
            .await?;
        // Counted whatever the card, so that the figures agree with the ledger even
        // when the shop answers wrongly.
        match outcome {
            CheckoutOutcome::Confirmed { cents } => {
                run.count("checkout.confirmed", 1);
                run.count(
                    "checkout.confirmed_cents",
                    u64::try_from(cents).unwrap_or(0),
                );
            }
            CheckoutOutcome::Accepted { cents } => {
                run.count("checkout.accepted", 1);
                run.count("checkout.accepted_cents", u64::try_from(cents).unwrap_or(0));
            }
            CheckoutOutcome::Declined => run.count("checkout.declined", 1),
            CheckoutOutcome::OutOfStock => run.count("checkout.out_of_stock", 1),
        }
        match (declined, outcome) {
            (false, CheckoutOutcome::Declined) => return run.reject_last(ErrorKind::Status(402)),
            (true, CheckoutOutcome::Confirmed { .. }) => {
                return run.reject_last(ErrorKind::Status(201));
            }
            (true, CheckoutOutcome::Accepted { .. }) => {
                return run.reject_last(ErrorKind::Status(202));
            }
            _ => {}
        }
        // A confirmed checkout took its lines out of the cart; a failed one gave them back,
        // and this shopper gives up on them.
        if matches!(
            outcome,
            CheckoutOutcome::Declined | CheckoutOutcome::OutOfStock
        ) {
            run.step("clear_cart", shop.clear_cart(auth)).await?;
        }
        shop.return_account(account);
        Ok(())
    }

    /// A signed-in shopper with an empty cart: from the pool if one is ready, else a new
    /// one.
    async fn shopper(&self, run: &mut Run) -> Result<Account, Failed> {
        let shop = &*self.shop;
        if let Some(mut account) = shop.take_account() {
            if account.tokens.stale() {
                account.tokens = run
                    .step("refresh", async {
                        match shop.refresh(&account.tokens.refresh).await {
                            // The refresh token is gone (the shop's keys or data were
                            // reset): sign in afresh.
                            Err(ErrorKind::Status(401)) => shop.sign_in(&account.email).await,
                            tokens => tokens,
                        }
                    })
                    .await?;
            }
            return Ok(account);
        }
        let email = shop.new_email();
        run.step("register", shop.register(&email)).await?;
        run.count("accounts.registered", 1);
        let tokens = run.step("sign_in", shop.sign_in(&email)).await?;
        Ok(Account { email, tokens })
    }
}

/// A random element of `items`; a run over an empty list fails (the catalog was read
/// non-empty, so this does not happen).
fn pick<'a, T>(items: &'a [T], run: &mut Run) -> Result<&'a T, Failed> {
    match items.choose(&mut run.rng) {
        Some(item) => Ok(item),
        None => run.fail(ErrorKind::InvalidResponse),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::SmallRng;

    #[test]
    fn the_mix_adds_up_to_a_hundred_and_is_drawn_in_its_proportions() {
        assert_eq!(MIX.iter().map(|(_, w)| w).sum::<u32>(), 100);
        let mut rng = SmallRng::seed_from_u64(11);
        let n = 100_000;
        let mut seen = [0u32; 3];
        for _ in 0..n {
            let flow = pick_flow(&mut rng);
            let i = MIX.iter().position(|(f, _)| *f == flow).unwrap();
            seen[i] += 1;
        }
        for (i, (flow, w)) in MIX.iter().enumerate() {
            let share = f64::from(seen[i]) / f64::from(n) * 100.0;
            assert!((share - f64::from(*w)).abs() < 0.5, "{flow:?}: {share}%");
        }
        assert_eq!(Scenario::Mixed.checkout_share(), 0.03);
        assert_eq!(Scenario::Checkout.checkout_share(), 1.0);
        assert!(!Scenario::Browse.buys());
    }
}

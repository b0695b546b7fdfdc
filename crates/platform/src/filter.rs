//! The filters of the services that list products (the catalog's listing, search), each
//! refusal worded once.

/// What is wrong with a price filter, `min_price` to `max_price` in minor units with
/// either end open: each end below 0, then `min_price` above `max_price`, each naming its
/// field. Empty when the range is good.
pub fn price_range_refusals(
    min: Option<i64>,
    max: Option<i64>,
) -> Vec<(&'static str, &'static str)> {
    let mut refusals = Vec::new();
    for (field, value) in [("min_price", min), ("max_price", max)] {
        if value.is_some_and(|v| v < 0) {
            refusals.push((field, "must be 0 or more"));
        }
    }
    if let (Some(lo), Some(hi)) = (min, max)
        && lo > hi
    {
        refusals.push(("min_price", "must not be greater than max_price"));
    }
    refusals
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_price_range_is_refused_naming_each_fault_in_order() {
        assert!(price_range_refusals(None, None).is_empty());
        assert!(price_range_refusals(Some(0), Some(0)).is_empty());
        assert!(price_range_refusals(Some(5), None).is_empty());
        assert_eq!(
            price_range_refusals(Some(10), Some(5)),
            [("min_price", "must not be greater than max_price")]
        );
        assert_eq!(
            price_range_refusals(Some(-1), Some(-2)),
            [
                ("min_price", "must be 0 or more"),
                ("max_price", "must be 0 or more"),
                ("min_price", "must not be greater than max_price"),
            ]
        );
    }
}

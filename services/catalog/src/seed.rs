//! The demo catalog: a deterministic generator of believable products, and the start-up
//! step that writes it into a fresh database through the store's normal create path.
//!
//! Everything is derived from a fixed-seed splitmix64 stream with integer arithmetic only
//! and fixed iteration order, so the same `count` gives a byte-identical catalog (ids,
//! names, prices, dates) on every machine.

use crate::{
    domain::{
        CategoryId, Currency, Description, InitialStock, Invalid, NewProduct, Price, ProductId,
        ProductName, Sku,
    },
    error::CatalogError,
    store::{CategoryDef, ProductRecord, SeedOutcome, Store},
};
use std::collections::HashSet;

/// The seed of the generator's random stream.
const SEED: u64 = 0x0BA2_AA2C_A7A1_0600;

/// Seeded products were "created" during the year starting here (2025-01-01T00:00:00Z).
const EPOCH_SECS: i64 = 1_735_689_600;
const YEAR_SECS: u64 = 365 * 24 * 60 * 60;

/// A tiny deterministic PRNG (splitmix64): good enough to make a catalog, and the same
/// everywhere, unlike a crate whose algorithm may change between versions.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A stream starting from `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`); the modulo bias is negligible for these small `n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// Uniform in `lo..=hi`.
    pub fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// One kind of product within a category: how it is named, what it costs, what it offers.
struct Kind {
    /// The product noun ("Daypack").
    noun: &'static str,
    /// How a name is put together from `{line}`, `{size}` and `{noun}`.
    pattern: &'static str,
    /// The sentence a finish is shown in; `{}` stands for the finish.
    finish_as: &'static str,
    /// Sizes or variants, smallest (and cheapest) first.
    sizes: &'static [&'static str],
    /// Brand lines (or titles) of this kind; empty means the category's.
    lines: &'static [&'static str],
    /// Price range in whole currency units.
    price: (u64, u64),
    /// The opening of the description.
    pitch: &'static str,
    /// Selling points; three distinct ones go into each description.
    features: &'static [&'static str],
    /// Colours, materials or editions.
    finishes: &'static [&'static str],
}

/// A category of the demo shop and the vocabulary its products are made of.
struct CategorySpec {
    id: &'static str,
    name: &'static str,
    description: &'static str,
    sku_prefix: &'static str,
    /// Relative share of the catalog.
    weight: u64,
    lines: &'static [&'static str],
    kinds: &'static [Kind],
    /// Closing sentences.
    closers: &'static [&'static str],
}

const STD: &str = "{line} {size} {noun}";
const TITLE: &str = "{line} ({size})";
const SHOWN_IN: &str = "Shown in {}.";

const CATEGORIES: &[CategorySpec] = &[
    CategorySpec {
        id: "kitchen",
        name: "Kitchen",
        description: "Cookware, knives and tools for everyday cooking.",
        sku_prefix: "KIT",
        weight: 10,
        lines: &[
            "Hearthstone",
            "Copperline",
            "Tidewater",
            "Ashgrove",
            "Northfork",
            "Saltbox",
            "Meridian",
            "Kiln & Cast",
        ],
        kinds: &[
            Kind {
                noun: "Cast-Iron Skillet",
                pattern: STD,
                finish_as: SHOWN_IN,
                sizes: &["8-inch", "10-inch", "12-inch"],
                lines: &[],
                price: (24, 79),
                pitch: "A pre-seasoned skillet that goes from hob to oven to table",
                features: &[
                    "a flaxseed-oil seasoning that is ready to cook on",
                    "pour spouts on both sides",
                    "a helper handle for two-handed lifts",
                    "a base that suits any hob or a campfire",
                    "thick iron that holds heat for a proper sear",
                ],
                finishes: &["raw black iron", "matte black enamel", "deep blue enamel"],
            },
            Kind {
                noun: "Chef's Knife",
                pattern: STD,
                finish_as: "Finished with {}.",
                sizes: &["6-inch", "8-inch", "10-inch"],
                lines: &[],
                price: (39, 189),
                pitch: "A balanced chef's knife for everyday prep",
                features: &[
                    "a high-carbon German steel blade",
                    "a full-tang riveted handle",
                    "a hand-honed 15° edge",
                    "a bolster that guards your fingers",
                    "a blade guard in the box",
                ],
                finishes: &[
                    "a black pakkawood handle",
                    "an olivewood handle",
                    "a stabilised walnut handle",
                ],
            },
            Kind {
                noun: "Dutch Oven",
                pattern: STD,
                finish_as: SHOWN_IN,
                sizes: &["3.5 qt", "5.5 qt", "7.25 qt"],
                lines: &[],
                price: (59, 329),
                pitch: "An enamelled cast-iron pot for braises, stews and no-knead bread",
                features: &[
                    "a chip-resistant enamel interior",
                    "self-basting ridges under the lid",
                    "an oven-safe rating to 260 °C",
                    "wide loop handles you can grip in oven mitts",
                    "a flat base that suits every hob including induction",
                ],
                finishes: &["cherry red", "sage green", "classic cream", "deep navy"],
            },
            Kind {
                noun: "Cutting Board",
                pattern: STD,
                finish_as: "Made from {}.",
                sizes: &["Small", "Medium", "Large"],
                lines: &[],
                price: (19, 89),
                pitch: "An end-grain board that is kind to knife edges",
                features: &[
                    "end grain that hides knife marks",
                    "a juice groove around the edge",
                    "non-slip rubber feet",
                    "a food-safe mineral oil finish",
                    "recessed grips on both ends",
                ],
                finishes: &["acacia", "maple", "walnut"],
            },
            Kind {
                noun: "Saucepan",
                pattern: STD,
                finish_as: SHOWN_IN,
                sizes: &["1.5 qt", "2 qt", "3 qt"],
                lines: &[],
                price: (29, 119),
                pitch: "A tri-ply saucepan for sauces, grains and custards",
                features: &[
                    "tri-ply stainless steel with an aluminium core",
                    "a tight-fitting tempered glass lid",
                    "measurement marks inside",
                    "a stay-cool hollow handle",
                    "dishwasher-safe construction",
                ],
                finishes: &["brushed stainless steel", "polished stainless steel"],
            },
            Kind {
                noun: "Mixing Bowl Set",
                pattern: STD,
                finish_as: SHOWN_IN,
                sizes: &["3-Piece", "5-Piece"],
                lines: &[],
                price: (24, 69),
                pitch: "Nesting bowls for mixing, proofing and serving",
                features: &[
                    "non-slip silicone bases",
                    "pour spouts and measurement marks",
                    "bowls that nest to save cupboard space",
                    "snap-on lids for the fridge",
                    "dishwasher-safe stainless steel",
                ],
                finishes: &[
                    "stainless steel with grey bases",
                    "stainless steel with sage bases",
                    "stainless steel with terracotta bases",
                ],
            },
        ],
        closers: &[
            "Backed by a lifetime warranty.",
            "Ships in plastic-free packaging.",
            "Free returns within 60 days.",
            "Designed to be used every day for decades.",
        ],
    },
    CategorySpec {
        id: "coffee-tea",
        name: "Coffee & Tea",
        description: "Brewers, grinders, kettles and the beans and leaves to go with them.",
        sku_prefix: "COF",
        weight: 8,
        lines: &[
            "Morning Ritual",
            "Crema",
            "Steeped",
            "Bloom",
            "Roastworks",
            "Kettle & Kiln",
            "Pourover Co.",
        ],
        kinds: &[
            Kind {
                noun: "Burr Grinder",
                pattern: STD,
                finish_as: SHOWN_IN,
                sizes: &["Hand", "Compact", "Pro"],
                lines: &[],
                price: (49, 349),
                pitch: "A conical burr grinder for an even grind from espresso to cold brew",
                features: &[
                    "hardened steel conical burrs",
                    "40 click-stop grind settings",
                    "a low-retention chute",
                    "a quiet slow-turning motor",
                    "an anti-static grounds cup",
                ],
                finishes: &["matte black", "brushed aluminium", "white"],
            },
            Kind {
                noun: "Gooseneck Kettle",
                pattern: STD,
                finish_as: SHOWN_IN,
                sizes: &["0.6 L", "0.9 L", "1.2 L"],
                lines: &[],
                price: (39, 169),
                pitch: "A gooseneck kettle for a slow, steady pour-over stream",
                features: &[
                    "temperature control to the degree",
                    "a hold mode that keeps water hot for an hour",
                    "a counterweighted handle",
                    "a built-in brew timer",
                    "a stainless steel body with no plastic in the water path",
                ],
                finishes: &["matte black", "brushed steel", "copper"],
            },
            Kind {
                noun: "Pour-Over Dripper",
                pattern: STD,
                finish_as: SHOWN_IN,
                sizes: &["1-Cup", "2-Cup", "4-Cup"],
                lines: &[],
                price: (14, 49),
                pitch: "A cone dripper for bright, clean pour-over coffee",
                features: &[
                    "spiral ribs for an even extraction",
                    "a single large outlet for control",
                    "a wide base that fits most mugs",
                    "paper filters in the box",
                    "heat-retaining ceramic walls",
                ],
                finishes: &["white porcelain", "clear glass", "speckled stoneware"],
            },
            Kind {
                noun: "French Press",
                pattern: STD,
                finish_as: SHOWN_IN,
                sizes: &["350 ml", "600 ml", "1 L"],
                lines: &[],
                price: (24, 89),
                pitch: "A double-walled press for full-bodied coffee that stays hot",
                features: &[
                    "double-walled stainless steel",
                    "a four-layer mesh filter",
                    "a drip-free spout",
                    "a lid that locks in heat",
                    "parts that come apart for cleaning",
                ],
                finishes: &["matte black", "brushed steel", "forest green"],
            },
            Kind {
                noun: "Whole Bean Coffee",
                pattern: STD,
                finish_as: "This bag holds {}.",
                sizes: &["250 g", "500 g", "1 kg"],
                lines: &[],
                price: (12, 54),
                pitch: "Small-batch coffee roasted to order",
                features: &[
                    "notes of dark chocolate and cherry",
                    "single-origin beans from smallholder farms",
                    "a roast date printed on every bag",
                    "a one-way valve to keep it fresh",
                    "a medium roast that works for filter and espresso",
                ],
                finishes: &[
                    "a Colombian Huila roast",
                    "an Ethiopian Yirgacheffe roast",
                    "a Guatemalan Antigua roast",
                    "a house espresso blend",
                ],
            },
            Kind {
                noun: "Loose Leaf Tea",
                pattern: STD,
                finish_as: "This tin holds {}.",
                sizes: &["50 g", "100 g", "250 g"],
                lines: &[],
                price: (8, 39),
                pitch: "Whole-leaf tea blended in small batches",
                features: &[
                    "whole leaves rather than dust or fannings",
                    "a resealable kraft tin",
                    "enough for about 40 cups per 100 g",
                    "brewing notes on the label",
                    "organically grown leaves",
                ],
                finishes: &[
                    "an Assam breakfast blend",
                    "a Darjeeling first flush",
                    "a jasmine green",
                    "a chamomile and lemon balm tisane",
                ],
            },
        ],
        closers: &[
            "Ships within one business day.",
            "Free returns within 30 days on unopened items.",
            "Pairs well with a slow Sunday morning.",
        ],
    },
    CategorySpec {
        id: "home-office",
        name: "Home Office",
        description: "Desks, chairs and the small things that make working from home work.",
        sku_prefix: "OFF",
        weight: 8,
        lines: &[
            "Workwell",
            "Deskline",
            "Fieldnote",
            "Ledger",
            "Arbor",
            "Quillon",
            "Studio North",
        ],
        kinds: &[
            Kind {
                noun: "Standing Desk",
                pattern: STD,
                finish_as: "Shown with {}.",
                sizes: &["48-inch", "55-inch", "63-inch"],
                lines: &[],
                price: (299, 899),
                pitch: "A dual-motor standing desk that rises smoothly from sitting to standing height",
                features: &[
                    "dual motors that lift 120 kg",
                    "four programmable height presets",
                    "anti-collision sensing",
                    "a height range of 62 to 127 cm",
                    "a cable tray under the top",
                ],
                finishes: &[
                    "a white oak top",
                    "a walnut top",
                    "a bamboo top",
                    "a black laminate top",
                ],
            },
            Kind {
                noun: "Task Chair",
                pattern: STD,
                finish_as: SHOWN_IN,
                sizes: &["Mesh", "Upholstered", "Executive"],
                lines: &[],
                price: (179, 749),
                pitch: "An ergonomic chair built for long working days",
                features: &[
                    "adjustable lumbar support",
                    "4D armrests",
                    "a synchro-tilt mechanism with tension control",
                    "a seat that slides forward and back",
                    "a 12-year warranty on the frame",
                ],
                finishes: &["graphite", "heather grey", "charcoal black"],
            },
            Kind {
                noun: "Monitor Arm",
                pattern: STD,
                finish_as: SHOWN_IN,
                sizes: &["Single", "Dual"],
                lines: &[],
                price: (59, 229),
                pitch: "A gas-spring arm that floats your screen at the right height",
                features: &[
                    "gas springs for screens up to 9 kg",
                    "desk clamp and grommet mounts",
                    "internal cable management",
                    "full tilt and swivel",
                    "a quick-release VESA plate",
                ],
                finishes: &["matte black", "silver", "white"],
            },
            Kind {
                noun: "Desk Lamp",
                pattern: STD,
                finish_as: SHOWN_IN,
                sizes: &["Mini", "Classic", "Wide"],
                lines: &[],
                price: (39, 199),
                pitch: "An LED desk lamp with light that is easy on the eyes",
                features: &[
                    "flicker-free dimming",
                    "colour temperature from 2700 K to 6500 K",
                    "a USB-C charging port in the base",
                    "an auto-dimming ambient sensor",
                    "a balanced arm that stays where you put it",
                ],
                finishes: &["matte black", "brushed brass", "white"],
            },
            Kind {
                noun: "Notebook",
                pattern: STD,
                finish_as: "This one has {}.",
                sizes: &["A6", "A5", "A4"],
                lines: &[],
                price: (9, 34),
                pitch: "A lay-flat notebook with paper that fountain pens love",
                features: &[
                    "100 gsm acid-free paper",
                    "a lay-flat sewn binding",
                    "numbered pages and an index",
                    "two ribbon markers",
                    "an expandable back pocket",
                ],
                finishes: &["dot grid pages", "ruled pages", "plain pages"],
            },
            Kind {
                noun: "Desk Mat",
                pattern: STD,
                finish_as: SHOWN_IN,
                sizes: &["Medium", "Large", "XL"],
                lines: &[],
                price: (19, 79),
                pitch: "A desk mat that quiets the keyboard and protects the top",
                features: &[
                    "vegan leather on a felt backing",
                    "a water-resistant surface",
                    "stitched edges that do not fray",
                    "a smooth mouse surface",
                    "a non-slip underside",
                ],
                finishes: &["charcoal felt", "cognac", "slate blue", "oat"],
            },
        ],
        closers: &[
            "Free delivery and returns within 30 days.",
            "Backed by a five-year warranty.",
            "Designed for long days at the desk.",
        ],
    },
    CategorySpec {
        id: "outdoor",
        name: "Outdoor",
        description: "Tents, sleeping bags and camp gear for nights under the sky.",
        sku_prefix: "OUT",
        weight: 9,
        lines: &[
            "Ridgeline",
            "Timberline",
            "Basecamp",
            "Alpenglow",
            "Switchback",
            "Cairn",
            "Wildfell",
            "Summit Supply",
        ],
        kinds: &[
            Kind {
                noun: "Backpacking Tent",
                pattern: STD,
                finish_as: SHOWN_IN,
                sizes: &["1-Person", "2-Person", "3-Person"],
                lines: &[],
                price: (149, 549),
                pitch: "A freestanding backpacking tent that pitches in minutes",
                features: &[
                    "a sub-2 kg packed weight",
                    "two doors and two vestibules",
                    "a 3000 mm waterproof fly",
                    "colour-coded clips for a fast pitch",
                    "aluminium poles that pack small",
                ],
                finishes: &["olive and grey", "sand", "orange and grey"],
            },
            Kind {
                noun: "Sleeping Bag",
                pattern: STD,
                finish_as: SHOWN_IN,
                sizes: &["Summer", "3-Season", "Winter"],
                lines: &[],
                price: (79, 399),
                pitch: "A mummy bag that keeps you warm without the bulk",
                features: &[
                    "water-resistant 650-fill down",
                    "a draught collar and contoured hood",
                    "a two-way anti-snag zip",
                    "a compression sack included",
                    "a comfort rating tested to EN 13537",
                ],
                finishes: &["forest green", "slate blue", "ember orange"],
            },
            Kind {
                noun: "Camp Stove",
                pattern: STD,
                finish_as: SHOWN_IN,
                sizes: &["Ultralight", "Two-Burner"],
                lines: &[],
                price: (39, 179),
                pitch: "A camp stove that boils a litre in under four minutes",
                features: &[
                    "piezo push-button ignition",
                    "a wind-shielded burner",
                    "simmer control down to a flicker",
                    "folding pot supports",
                    "a hard case for the pack",
                ],
                finishes: &["anodised grey", "olive green"],
            },
            Kind {
                noun: "Trekking Poles",
                pattern: STD,
                finish_as: SHOWN_IN,
                sizes: &["Aluminium", "Carbon"],
                lines: &[],
                price: (49, 169),
                pitch: "Folding poles that take the load off your knees on descents",
                features: &[
                    "cork grips that wick sweat",
                    "quick flick-lock adjusters",
                    "tungsten carbide tips",
                    "a three-section folding design",
                    "rubber feet and snow baskets included",
                ],
                finishes: &["black", "glacier blue", "moss green"],
            },
            Kind {
                noun: "Headlamp",
                pattern: STD,
                finish_as: SHOWN_IN,
                sizes: &["200-Lumen", "400-Lumen", "600-Lumen"],
                lines: &[],
                price: (24, 89),
                pitch: "A rechargeable headlamp for camp chores and night hikes",
                features: &[
                    "USB-C charging",
                    "a red night-vision mode",
                    "an IPX7 waterproof rating",
                    "a lock mode for the pack",
                    "a tilting beam",
                ],
                finishes: &["black", "orange", "teal"],
            },
            Kind {
                noun: "Camp Chair",
                pattern: STD,
                finish_as: SHOWN_IN,
                sizes: &["Compact", "Standard", "High-Back"],
                lines: &[],
                price: (39, 149),
                pitch: "A packable chair for campfires, festivals and the beach",
                features: &[
                    "a shock-corded aluminium frame",
                    "a breathable ripstop seat",
                    "a side pocket for your drink",
                    "a stuff sack with a carry strap",
                    "a 145 kg load rating",
                ],
                finishes: &["charcoal", "sage", "dune"],
            },
        ],
        closers: &[
            "Leave no trace.",
            "Covered by our no-questions-asked repair promise.",
            "Tested in the Cascades before it reaches you.",
        ],
    },
    CategorySpec {
        id: "audio",
        name: "Audio",
        description: "Headphones, speakers and turntables for music at home and on the move.",
        sku_prefix: "AUD",
        weight: 7,
        lines: &[
            "Soundry",
            "Halcyon",
            "Resonant",
            "Echoline",
            "Decibel & Co.",
            "Waveform",
            "Fidelis",
        ],
        kinds: &[
            Kind {
                noun: "Wireless Headphones",
                pattern: STD,
                finish_as: SHOWN_IN,
                sizes: &["On-Ear", "Over-Ear", "Studio"],
                lines: &[],
                price: (79, 449),
                pitch: "Noise-cancelling headphones for long flights and open offices",
                features: &[
                    "adaptive noise cancelling",
                    "up to 40 hours of battery life",
                    "multipoint Bluetooth 5.3",
                    "memory-foam ear cushions",
                    "a fold-flat hard case",
                ],
                finishes: &["midnight black", "sand", "slate blue"],
            },
            Kind {
                noun: "True Wireless Earbuds",
                pattern: STD,
                finish_as: SHOWN_IN,
                sizes: &["Sport", "Everyday", "Pro"],
                lines: &[],
                price: (49, 279),
                pitch: "Earbuds that disappear in your ears and stay there",
                features: &[
                    "IPX5 sweat resistance",
                    "a wireless charging case",
                    "six microphones for clear calls",
                    "a transparency mode",
                    "three sizes of silicone tips",
                ],
                finishes: &["black", "white", "sage"],
            },
            Kind {
                noun: "Bookshelf Speakers",
                pattern: STD,
                finish_as: SHOWN_IN,
                sizes: &["4-inch", "5-inch", "6.5-inch"],
                lines: &[],
                price: (149, 699),
                pitch: "Powered bookshelf speakers with room-filling sound",
                features: &[
                    "a built-in amplifier",
                    "optical and RCA inputs plus Bluetooth",
                    "silk-dome tweeters",
                    "rear bass ports",
                    "a remote in the box",
                ],
                finishes: &["walnut veneer", "matte black", "white oak veneer"],
            },
            Kind {
                noun: "Portable Speaker",
                pattern: STD,
                finish_as: SHOWN_IN,
                sizes: &["Mini", "Go", "Max"],
                lines: &[],
                price: (39, 249),
                pitch: "A rugged Bluetooth speaker for the park, the beach and the shower",
                features: &[
                    "an IP67 dust and water rating",
                    "up to 20 hours of playtime",
                    "a stereo pairing mode",
                    "a built-in carry strap",
                    "a speakerphone microphone",
                ],
                finishes: &["black", "coral", "ocean blue", "olive"],
            },
            Kind {
                noun: "Turntable",
                pattern: STD,
                finish_as: "Shown with {}.",
                sizes: &["Belt-Drive", "Direct-Drive"],
                lines: &[],
                price: (199, 899),
                pitch: "A turntable that gets the most out of your records",
                features: &[
                    "a built-in switchable phono preamp",
                    "a pre-mounted moving-magnet cartridge",
                    "a balanced aluminium tonearm",
                    "33 and 45 rpm speeds",
                    "an isolating felt mat",
                ],
                finishes: &["a walnut plinth", "a black gloss plinth", "a white plinth"],
            },
        ],
        closers: &[
            "Two-year warranty included.",
            "Free returns within 30 days.",
            "Tuned in our own listening room.",
        ],
    },
    CategorySpec {
        id: "photography",
        name: "Photography",
        description: "Cameras, lenses, tripods and bags for photographers of every level.",
        sku_prefix: "PHO",
        weight: 5,
        lines: &[
            "Lumen",
            "Aperture Works",
            "Parallax",
            "Silverhalide",
            "Focal",
            "Prism",
        ],
        kinds: &[
            Kind {
                noun: "Mirrorless Camera",
                pattern: STD,
                finish_as: SHOWN_IN,
                sizes: &["24MP", "33MP", "45MP"],
                lines: &[],
                price: (799, 2999),
                pitch: "A mirrorless camera body that is as at home on the street as in the studio",
                features: &[
                    "in-body image stabilisation",
                    "4K video at 60 fps",
                    "a weather-sealed magnesium body",
                    "dual card slots",
                    "eye-detection autofocus",
                ],
                finishes: &["black", "silver and black"],
            },
            Kind {
                noun: "Prime Lens",
                pattern: STD,
                finish_as: SHOWN_IN,
                sizes: &["24mm f/1.8", "35mm f/1.8", "50mm f/1.4", "85mm f/1.8"],
                lines: &[],
                price: (199, 1299),
                pitch: "A fast prime lens with creamy background blur",
                features: &[
                    "a quiet stepping focus motor",
                    "nano-coated glass against flare",
                    "a metal mount",
                    "a weather-sealed barrel",
                    "a nine-blade rounded aperture",
                ],
                finishes: &["black"],
            },
            Kind {
                noun: "Travel Tripod",
                pattern: STD,
                finish_as: SHOWN_IN,
                sizes: &["Aluminium", "Carbon Fibre"],
                lines: &[],
                price: (89, 449),
                pitch: "A travel tripod that folds to the length of a water bottle",
                features: &[
                    "a ball head with an Arca-Swiss plate",
                    "twist-lock legs",
                    "a leg that doubles as a monopod",
                    "a 10 kg load capacity",
                    "a padded carry case",
                ],
                finishes: &["black", "titanium grey"],
            },
            Kind {
                noun: "Camera Sling Bag",
                pattern: STD,
                finish_as: SHOWN_IN,
                sizes: &["6L", "10L"],
                lines: &[],
                price: (59, 159),
                pitch: "A sling bag that swings round for fast access to your camera",
                features: &[
                    "padded configurable dividers",
                    "a weatherproof zip",
                    "a quick-adjust strap",
                    "a tablet sleeve",
                    "a rain cover in the base",
                ],
                finishes: &["charcoal", "ash", "midnight"],
            },
            Kind {
                noun: "Memory Card",
                pattern: STD,
                finish_as: "Uses the {} bus.",
                sizes: &["64GB", "128GB", "256GB"],
                lines: &[],
                price: (19, 119),
                pitch: "A fast SD card for 4K video and long bursts",
                features: &[
                    "V60 video speed",
                    "read speeds up to 280 MB/s",
                    "temperature and X-ray resistance",
                    "recovery software included",
                    "a lifetime limited warranty",
                ],
                finishes: &["UHS-II", "UHS-I"],
            },
        ],
        closers: &[
            "Two-year warranty included.",
            "Free returns within 30 days.",
            "Register it online for an extra year of cover.",
        ],
    },
    CategorySpec {
        id: "fitness",
        name: "Fitness",
        description: "Weights, mats and trackers for training at home.",
        sku_prefix: "FIT",
        weight: 8,
        lines: &[
            "Forge",
            "Kinetic",
            "Ironwood",
            "Pulse",
            "Stride",
            "Tempo",
            "Corebound",
        ],
        kinds: &[
            Kind {
                noun: "Yoga Mat",
                pattern: STD,
                finish_as: SHOWN_IN,
                sizes: &["4 mm", "6 mm", "8 mm"],
                lines: &[],
                price: (24, 99),
                pitch: "A non-slip yoga mat with grip that holds in hot classes",
                features: &[
                    "natural tree rubber with a PU top layer",
                    "alignment lines etched in",
                    "a carry strap",
                    "closed cells that keep sweat out",
                    "a 183 × 68 cm surface",
                ],
                finishes: &["sage", "dusk purple", "charcoal", "terracotta"],
            },
            Kind {
                noun: "Adjustable Dumbbell",
                pattern: STD,
                finish_as: SHOWN_IN,
                sizes: &["20 kg", "32 kg", "40 kg"],
                lines: &[],
                price: (149, 499),
                pitch: "One dumbbell that replaces a whole rack",
                features: &[
                    "a dial that changes weight in seconds",
                    "2.5 kg increments",
                    "a moulded storage tray",
                    "a knurled grip",
                    "a two-year warranty",
                ],
                finishes: &["black and red", "black and grey"],
            },
            Kind {
                noun: "Kettlebell",
                pattern: STD,
                finish_as: SHOWN_IN,
                sizes: &["8 kg", "12 kg", "16 kg", "24 kg"],
                lines: &[],
                price: (29, 119),
                pitch: "A single-cast kettlebell for swings, cleans and snatches",
                features: &[
                    "a smooth wide handle",
                    "a flat base that stays put",
                    "a powder-coat finish for grip",
                    "colour-coded weights",
                    "no welds or seams",
                ],
                finishes: &["matte black", "competition orange", "slate"],
            },
            Kind {
                noun: "Resistance Band Set",
                pattern: STD,
                finish_as: SHOWN_IN,
                sizes: &["Light", "Medium", "Heavy"],
                lines: &[],
                price: (14, 49),
                pitch: "Fabric resistance bands for warm-ups, glutes and mobility",
                features: &[
                    "non-roll woven fabric",
                    "latex-free construction",
                    "a door anchor",
                    "a mesh carry bag",
                    "an exercise guide",
                ],
                finishes: &["earth tones", "greys", "brights"],
            },
            Kind {
                noun: "Fitness Tracker",
                pattern: STD,
                finish_as: SHOWN_IN,
                sizes: &["Slim", "Sport", "Pro"],
                lines: &[],
                price: (49, 299),
                pitch: "A fitness tracker that is comfortable enough to sleep in",
                features: &[
                    "heart-rate and SpO2 tracking",
                    "built-in GPS",
                    "a seven-day battery",
                    "water resistance to 50 m",
                    "sleep stages and recovery scores",
                ],
                finishes: &["graphite", "sand", "rose"],
            },
            Kind {
                noun: "Jump Rope",
                pattern: STD,
                finish_as: SHOWN_IN,
                sizes: &["Speed", "Weighted"],
                lines: &[],
                price: (12, 49),
                pitch: "A smooth, fast jump rope for conditioning",
                features: &[
                    "ball-bearing handles",
                    "a tool-free adjustable cable",
                    "a spare cable in the box",
                    "a weighted option for strength work",
                    "non-slip grips",
                ],
                finishes: &["black", "neon green", "white"],
            },
        ],
        closers: &[
            "Free returns within 30 days.",
            "Every purchase includes our beginner programme.",
            "Built for garage gyms and living rooms alike.",
        ],
    },
    CategorySpec {
        id: "books",
        name: "Books",
        description: "Novels, cookbooks, field guides and picture books.",
        sku_prefix: "BOK",
        weight: 5,
        lines: &[],
        kinds: &[
            Kind {
                noun: "novel",
                pattern: TITLE,
                finish_as: "This is the {}.",
                sizes: &["Hardcover", "Paperback"],
                price: (12, 32),
                lines: &[
                    "The Salt Road",
                    "Night Harbour",
                    "Paper Lanterns",
                    "The Cartographer's Daughter",
                    "A Season of Small Fires",
                    "The Orchard Keeper's Year",
                    "What the River Knew",
                    "The Glass Meridian",
                    "Letters from Ardmore",
                    "The Last Lighthouse",
                    "Winter in Valparaíso",
                    "A House of Many Clocks",
                ],
                pitch: "A novel readers have been pressing on their friends",
                features: &[
                    "a story told across three generations",
                    "an unforgettable narrator",
                    "a twist you will not see coming",
                    "a setting you can almost smell",
                    "prose that rewards reading aloud",
                ],
                finishes: &["first edition", "book-club edition", "anniversary edition"],
            },
            Kind {
                noun: "cookbook",
                pattern: TITLE,
                finish_as: "This is the {}.",
                sizes: &["Hardcover"],
                price: (22, 45),
                lines: &[
                    "Salt & Smoke",
                    "The Weeknight Table",
                    "Green Kitchen Every Day",
                    "Bread Without Fuss",
                    "One Pan Suppers",
                    "Spice Routes",
                    "Small Batch Preserves",
                    "The Good Soup Book",
                    "Sunday Baking",
                ],
                pitch: "A cookbook for people who actually cook on a Tuesday",
                features: &[
                    "over 120 tested recipes",
                    "a photograph for every recipe",
                    "clear make-ahead notes",
                    "a lay-flat binding",
                    "a chapter of pantry staples",
                ],
                finishes: &["first edition", "signed edition"],
            },
            Kind {
                noun: "field guide",
                pattern: TITLE,
                finish_as: "This is the {}.",
                sizes: &["Paperback", "Flexibound"],
                price: (14, 35),
                lines: &[
                    "Birds of the Pacific Coast",
                    "Trees of North America",
                    "Mushrooms of the Northeast",
                    "Wildflowers of the Rockies",
                    "Tidepools and Shorelines",
                    "Night Skies: A Stargazer's Guide",
                    "Animal Tracks and Signs",
                ],
                pitch: "A pocket field guide for walks, hikes and backyard curiosity",
                features: &[
                    "over 800 colour illustrations",
                    "range maps for every species",
                    "a water-resistant cover",
                    "look-alike comparisons side by side",
                    "a quick-find index inside the cover",
                ],
                finishes: &["revised second edition", "updated third edition"],
            },
            Kind {
                noun: "picture book",
                pattern: TITLE,
                finish_as: "Written for {}.",
                sizes: &["Hardcover", "Board Book"],
                price: (9, 22),
                lines: &[
                    "Otter Goes Sledding",
                    "The Moon Who Couldn't Sleep",
                    "Big Bear, Small Chair",
                    "Maya and the Cloud Machine",
                    "Where the Wild Peas Grow",
                    "Ten Little Lanterns",
                    "Grandpa's Noisy Garden",
                ],
                pitch: "A picture book to read at bedtime, again and again",
                features: &[
                    "warm and detailed illustrations",
                    "a rhythm that little ones learn by heart",
                    "sturdy pages for small hands",
                    "a gentle story about friendship",
                    "a hidden animal on every spread",
                ],
                finishes: &["ages 2 to 5", "ages 3 to 7"],
            },
        ],
        closers: &[
            "Printed on FSC-certified paper.",
            "Ships in a protective mailer.",
            "A lovely gift, wrapped free on request.",
        ],
    },
    CategorySpec {
        id: "toys-games",
        name: "Toys & Games",
        description: "Board games, puzzles and building sets for every age.",
        sku_prefix: "TOY",
        weight: 7,
        lines: &[
            "Tumbleweed",
            "Brightblock",
            "Meeple & Co.",
            "Little Oak",
            "Puzzlewright",
            "Kite & Kettle",
            "Otterbox Games",
        ],
        kinds: &[
            Kind {
                noun: "Jigsaw Puzzle",
                pattern: STD,
                finish_as: "This one shows {}.",
                sizes: &["500-Piece", "1000-Piece", "2000-Piece"],
                lines: &[],
                price: (14, 44),
                pitch: "A jigsaw puzzle with pieces that click together satisfyingly",
                features: &[
                    "thick blue-core board",
                    "a linen-finish print with no glare",
                    "a full-size reference poster",
                    "a sturdy box that stores it again",
                    "pieces made from recycled board",
                ],
                finishes: &[
                    "an alpine lake scene",
                    "a vintage seed-packet collage",
                    "a map of the night sky",
                    "a busy harbour town",
                ],
            },
            Kind {
                noun: "Strategy Board Game",
                pattern: STD,
                finish_as: "Recommended for {}.",
                sizes: &["Core", "Deluxe"],
                lines: &[],
                price: (29, 89),
                pitch: "A strategy game that plays in about an hour and gets better with every play",
                features: &[
                    "room for 2 to 5 players",
                    "rules you can learn in fifteen minutes",
                    "a solo mode",
                    "wooden components",
                    "an organiser insert",
                ],
                finishes: &["ages 10 and up", "ages 12 and up", "ages 14 and up"],
            },
            Kind {
                noun: "Building Block Set",
                pattern: STD,
                finish_as: "This set has {}.",
                sizes: &["120-Piece", "300-Piece", "750-Piece"],
                lines: &[],
                price: (19, 129),
                pitch: "A building set that rewards imagination as much as instructions",
                features: &[
                    "compatibility with major brick brands",
                    "step-by-step printed instructions",
                    "three alternative builds",
                    "a storage tub with lid",
                    "BPA-free plastic",
                ],
                finishes: &[
                    "a lighthouse theme",
                    "a space station theme",
                    "a city tram theme",
                    "a treehouse theme",
                ],
            },
            Kind {
                noun: "Wooden Train Set",
                pattern: STD,
                finish_as: SHOWN_IN,
                sizes: &["Starter", "Figure-Eight", "Grand Station"],
                lines: &[],
                price: (29, 149),
                pitch: "A wooden railway that grows with your child",
                features: &[
                    "solid beech track",
                    "magnetic couplings",
                    "non-toxic water-based paints",
                    "pieces that fit major track brands",
                    "a cotton storage bag",
                ],
                finishes: &["natural wood", "primary colours", "pastel colours"],
            },
            Kind {
                noun: "Card Game",
                pattern: STD,
                finish_as: "Recommended for {}.",
                sizes: &["Pocket", "Party"],
                lines: &[],
                price: (9, 29),
                pitch: "A quick card game for family nights and pub tables",
                features: &[
                    "rounds of ten minutes",
                    "room for 2 to 8 players",
                    "a tin that fits in a pocket",
                    "rules on a single card",
                    "endless replay value",
                ],
                finishes: &["ages 7 and up", "ages 8 and up", "ages 10 and up"],
            },
        ],
        closers: &[
            "Tested to EN 71 toy safety standards.",
            "Free returns within 60 days.",
            "Gift wrapping available at checkout.",
        ],
    },
    CategorySpec {
        id: "garden",
        name: "Garden",
        description: "Tools, planters and everything for growing things outdoors.",
        sku_prefix: "GAR",
        weight: 7,
        lines: &[
            "Greenhand",
            "Fernwood",
            "Potting Shed",
            "Allotment",
            "Hedgerow",
            "Rootstock",
            "Mossy Gate",
        ],
        kinds: &[
            Kind {
                noun: "Pruning Shears",
                pattern: STD,
                finish_as: SHOWN_IN,
                sizes: &["Small", "Standard", "Heavy-Duty"],
                lines: &[],
                price: (19, 79),
                pitch: "Bypass pruners that make clean cuts without crushing stems",
                features: &[
                    "hardened SK5 steel blades",
                    "a sap groove that stops sticking",
                    "a one-hand safety lock",
                    "replaceable blades and springs",
                    "cushioned non-slip grips",
                ],
                finishes: &["red grips", "green grips", "ash wood grips"],
            },
            Kind {
                noun: "Raised Garden Bed",
                pattern: STD,
                finish_as: "Made from {}.",
                sizes: &["2×4 ft", "3×6 ft", "4×8 ft"],
                lines: &[],
                price: (79, 349),
                pitch: "A raised bed that brings the garden up to a comfortable height",
                features: &[
                    "rot-resistant cedar boards",
                    "tool-free slot-together assembly",
                    "an open base for deep roots",
                    "corner posts for trellis or netting",
                    "untreated wood safe for vegetables",
                ],
                finishes: &["natural cedar", "weathered grey cedar"],
            },
            Kind {
                noun: "Watering Can",
                pattern: STD,
                finish_as: SHOWN_IN,
                sizes: &["2 L", "5 L", "9 L"],
                lines: &[],
                price: (19, 69),
                pitch: "A balanced watering can with a long spout that reaches the back of the bed",
                features: &[
                    "a detachable brass rose",
                    "a two-handle design for steady pouring",
                    "galvanised steel that lasts",
                    "a fine spray for seedlings",
                    "a wide mouth for fast filling",
                ],
                finishes: &["galvanised silver", "sage green", "dusty blue"],
            },
            Kind {
                noun: "Ceramic Planter",
                pattern: STD,
                finish_as: SHOWN_IN,
                sizes: &["15 cm", "25 cm", "35 cm"],
                lines: &[],
                price: (14, 89),
                pitch: "A glazed planter that flatters leafy plants indoors and out",
                features: &[
                    "a drainage hole with a rubber plug",
                    "a matching saucer",
                    "a frost-resistant glaze",
                    "a hand-thrown body from a small studio",
                    "a felt base that spares floors",
                ],
                finishes: &[
                    "speckled white",
                    "reactive blue",
                    "terracotta",
                    "matte charcoal",
                ],
            },
            Kind {
                noun: "Hose Reel",
                pattern: STD,
                finish_as: SHOWN_IN,
                sizes: &["30 m", "50 m"],
                lines: &[],
                price: (49, 159),
                pitch: "A hose reel that winds up without kinks",
                features: &[
                    "a slow-retract mechanism",
                    "a wall bracket and cart in one",
                    "a brass connector",
                    "a 7-pattern spray gun included",
                    "UV-resistant housing",
                ],
                finishes: &["forest green", "graphite"],
            },
            Kind {
                noun: "Seed Starter Kit",
                pattern: STD,
                finish_as: "Comes with {}.",
                sizes: &["12-Cell", "36-Cell", "72-Cell"],
                lines: &[],
                price: (14, 59),
                pitch: "A starter kit to raise strong seedlings on a windowsill",
                features: &[
                    "a humidity dome with vents",
                    "biodegradable coir pots",
                    "a self-watering capillary mat",
                    "plant labels and a planting calendar",
                    "a heat mat for quicker germination",
                ],
                finishes: &[
                    "a herb seed selection",
                    "a salad seed selection",
                    "a tomato and pepper seed selection",
                ],
            },
        ],
        closers: &[
            "Backed by a ten-year guarantee.",
            "Free returns within 30 days.",
            "Made to last season after season.",
        ],
    },
    CategorySpec {
        id: "bags-travel",
        name: "Bags & Travel",
        description: "Backpacks, luggage and organisers for commutes and long hauls.",
        sku_prefix: "BAG",
        weight: 8,
        lines: &[
            "Ridgeline",
            "Wayfarer",
            "Nomad",
            "Transit",
            "Harbour",
            "Long Haul",
            "Kestrel",
        ],
        kinds: &[
            Kind {
                noun: "Daypack",
                pattern: STD,
                finish_as: SHOWN_IN,
                sizes: &["18L", "24L", "28L"],
                lines: &[],
                price: (49, 149),
                pitch: "A daypack for trail days and the commute",
                features: &[
                    "water-resistant ripstop",
                    "a padded laptop sleeve",
                    "a stowable rain cover",
                    "a ventilated back panel",
                    "side pockets that hold a litre bottle",
                ],
                finishes: &["slate grey", "moss green", "black", "rust"],
            },
            Kind {
                noun: "Carry-On Suitcase",
                pattern: STD,
                finish_as: SHOWN_IN,
                sizes: &["Compact", "Standard", "Expandable"],
                lines: &[],
                price: (149, 449),
                pitch: "A carry-on that fits in the overhead bin on most airlines",
                features: &[
                    "a polycarbonate shell",
                    "quiet 360° spinner wheels",
                    "a TSA-approved lock",
                    "compression straps inside",
                    "a telescoping aluminium handle",
                ],
                finishes: &["graphite", "navy", "sand", "forest"],
            },
            Kind {
                noun: "Duffel Bag",
                pattern: STD,
                finish_as: SHOWN_IN,
                sizes: &["40L", "60L", "90L"],
                lines: &[],
                price: (59, 199),
                pitch: "A tough duffel for weekends away and gym runs",
                features: &[
                    "a water-resistant TPU-coated shell",
                    "backpack straps that stow away",
                    "a separate shoe compartment",
                    "lockable zips",
                    "haul handles at both ends",
                ],
                finishes: &["black", "olive", "ember orange"],
            },
            Kind {
                noun: "Packing Cubes",
                pattern: STD,
                finish_as: SHOWN_IN,
                sizes: &["3-Piece", "4-Piece", "6-Piece"],
                lines: &[],
                price: (19, 59),
                pitch: "Packing cubes that keep a suitcase organised from day one to day ten",
                features: &[
                    "compression zips that halve the volume",
                    "mesh tops to see what is inside",
                    "a laundry bag included",
                    "ultralight ripstop nylon",
                    "grab handles on every cube",
                ],
                finishes: &["charcoal", "teal", "clay"],
            },
            Kind {
                noun: "Travel Backpack",
                pattern: STD,
                finish_as: SHOWN_IN,
                sizes: &["30L", "35L", "45L"],
                lines: &[],
                price: (129, 299),
                pitch: "A one-bag travel pack that opens like a suitcase",
                features: &[
                    "clamshell opening",
                    "a lockable laptop compartment",
                    "a hideaway hip belt",
                    "carry-on compliant dimensions",
                    "a padded luggage-handle pass-through",
                ],
                finishes: &["black", "slate grey", "deep navy"],
            },
            Kind {
                noun: "Sling Bag",
                pattern: STD,
                finish_as: SHOWN_IN,
                sizes: &["3L", "6L"],
                lines: &[],
                price: (29, 79),
                pitch: "A small sling for the essentials: phone, keys, wallet, passport",
                features: &[
                    "an RFID-blocking pocket",
                    "a magnetic quick-release buckle",
                    "water-resistant zips",
                    "a padded back panel",
                    "a key clip",
                ],
                finishes: &["black", "sand", "sage"],
            },
        ],
        closers: &[
            "Lifetime warranty on zips and seams.",
            "Free returns within 60 days.",
            "Made with recycled fabrics.",
        ],
    },
    CategorySpec {
        id: "lighting",
        name: "Lighting",
        description: "Lamps, pendants and smart bulbs for every room.",
        sku_prefix: "LIT",
        weight: 6,
        lines: &[
            "Lumière",
            "Glow & Grain",
            "Beacon",
            "Halo",
            "Northlight",
            "Lantern House",
            "Ember",
        ],
        kinds: &[
            Kind {
                noun: "Pendant Light",
                pattern: STD,
                finish_as: "Made of {}.",
                sizes: &["Small", "Medium", "Large"],
                lines: &[],
                price: (59, 349),
                pitch: "A pendant light that casts a soft, even glow over the table",
                features: &[
                    "an adjustable 2 m fabric cord",
                    "an E27 fitting",
                    "a diffuser that hides the bulb",
                    "a ceiling rose included",
                    "dimming with a compatible bulb",
                ],
                finishes: &[
                    "white spun aluminium",
                    "hand-blown smoked glass",
                    "woven rattan",
                    "brushed brass",
                ],
            },
            Kind {
                noun: "Floor Lamp",
                pattern: STD,
                finish_as: SHOWN_IN,
                sizes: &["Arc", "Tripod", "Reading"],
                lines: &[],
                price: (79, 399),
                pitch: "A floor lamp that turns a corner into a reading nook",
                features: &[
                    "a weighted marble base",
                    "a foot dimmer switch",
                    "an adjustable head",
                    "a linen shade",
                    "a 2.5 m cable",
                ],
                finishes: &["black and brass", "white and oak", "all black"],
            },
            Kind {
                noun: "Table Lamp",
                pattern: STD,
                finish_as: SHOWN_IN,
                sizes: &["Mini", "Classic", "Tall"],
                lines: &[],
                price: (39, 229),
                pitch: "A table lamp for bedside tables and sideboards",
                features: &[
                    "a touch dimmer with three levels",
                    "a ceramic base",
                    "a USB-C port for your phone",
                    "a warm 2700 K glow",
                    "a fabric-covered cable",
                ],
                finishes: &[
                    "glazed sage",
                    "matte white",
                    "speckled sand",
                    "glossy black",
                ],
            },
            Kind {
                noun: "Smart Bulb",
                pattern: STD,
                finish_as: "Fits {} sockets.",
                sizes: &["Single", "2-Pack", "4-Pack"],
                lines: &[],
                price: (12, 59),
                pitch: "A smart bulb that dims, warms and wakes you gently",
                features: &[
                    "16 million colours and tunable whites",
                    "support for major voice assistants",
                    "schedules and sunrise routines",
                    "no need for a hub",
                    "an 800-lumen output",
                ],
                finishes: &["E27", "B22", "GU10"],
            },
            Kind {
                noun: "String Lights",
                pattern: STD,
                finish_as: "Glows {}.",
                sizes: &["10 m", "15 m", "30 m"],
                lines: &[],
                price: (19, 89),
                pitch: "Festoon lights for patios, balconies and garden parties",
                features: &[
                    "shatterproof LED bulbs",
                    "an IP65 outdoor rating",
                    "a connectable design up to 90 m",
                    "a remote with eight modes",
                    "a timer that switches off at midnight",
                ],
                finishes: &["warm white", "vintage amber", "multicolour"],
            },
        ],
        closers: &[
            "Designed in Copenhagen and made to last.",
            "Two-year warranty.",
            "Free returns within 30 days.",
        ],
    },
    CategorySpec {
        id: "bed-bath",
        name: "Bed & Bath",
        description: "Sheets, duvets and towels that feel good every day.",
        sku_prefix: "BED",
        weight: 7,
        lines: &[
            "Linenfold",
            "Still Water",
            "Cloudnine",
            "Hearth & Home",
            "Sundown",
            "Driftwood",
            "Oatmeal & Co.",
        ],
        kinds: &[
            Kind {
                noun: "Sheet Set",
                pattern: STD,
                finish_as: SHOWN_IN,
                sizes: &["Single", "Double", "King"],
                lines: &[],
                price: (59, 229),
                pitch: "Breathable sheets that get softer with every wash",
                features: &[
                    "stonewashed French linen",
                    "a deep-pocket fitted sheet",
                    "OEKO-TEX certified fabric",
                    "two pillowcases included",
                    "a relaxed lived-in look",
                ],
                finishes: &["natural flax", "white", "sage", "clay", "midnight blue"],
            },
            Kind {
                noun: "Duvet",
                pattern: STD,
                finish_as: "This is the {}.",
                sizes: &["Single", "Double", "King"],
                lines: &[],
                price: (79, 349),
                pitch: "A duvet that keeps you warm without overheating",
                features: &[
                    "responsibly sourced down",
                    "a 100% cotton shell",
                    "box stitching that stops clumping",
                    "corner ties for the cover",
                    "a ten-year guarantee",
                ],
                finishes: &[
                    "4.5 tog summer weight",
                    "10.5 tog all-season weight",
                    "13.5 tog winter weight",
                ],
            },
            Kind {
                noun: "Bath Towel",
                pattern: STD,
                finish_as: SHOWN_IN,
                sizes: &["Hand", "Bath", "Bath Sheet"],
                lines: &[],
                price: (12, 59),
                pitch: "Thick, thirsty towels in long-staple cotton",
                features: &[
                    "700 gsm Turkish cotton",
                    "zero-twist loops that stay fluffy",
                    "a hanging loop",
                    "generous double-stitched hems",
                    "colour-fast dyes",
                ],
                finishes: &["white", "stone", "sea blue", "forest green"],
            },
            Kind {
                noun: "Pillow",
                pattern: STD,
                finish_as: "Comes in {}.",
                sizes: &["Soft", "Medium", "Firm"],
                lines: &[],
                price: (29, 119),
                pitch: "A pillow matched to how you sleep",
                features: &[
                    "adjustable shredded memory-foam fill",
                    "a removable washable cover",
                    "a breathable bamboo-cotton case",
                    "a 100-night trial",
                    "CertiPUR-certified foam",
                ],
                finishes: &["standard size", "king size"],
            },
            Kind {
                noun: "Waffle Robe",
                pattern: STD,
                finish_as: SHOWN_IN,
                sizes: &["S/M", "L/XL"],
                lines: &[],
                price: (49, 119),
                pitch: "A lightweight waffle robe for after the bath",
                features: &[
                    "breathable cotton waffle weave",
                    "deep patch pockets",
                    "a shawl collar",
                    "a tie belt with loops",
                    "a pre-wash for extra softness",
                ],
                finishes: &["white", "oat", "charcoal"],
            },
        ],
        closers: &[
            "Free returns within 100 nights.",
            "Wash cool and line-dry for a long life.",
            "Ships in a reusable cotton bag.",
        ],
    },
    CategorySpec {
        id: "pets",
        name: "Pet Supplies",
        description: "Beds, bowls, leads and toys for dogs and cats.",
        sku_prefix: "PET",
        weight: 6,
        lines: &[
            "Good Boy",
            "Whisker & Tail",
            "Pawsome",
            "Fetch Co.",
            "Furbish",
            "Hound & Home",
        ],
        kinds: &[
            Kind {
                noun: "Dog Bed",
                pattern: STD,
                finish_as: SHOWN_IN,
                sizes: &["Small", "Medium", "Large", "XL"],
                lines: &[],
                price: (39, 189),
                pitch: "An orthopaedic dog bed for long naps and old joints",
                features: &[
                    "a memory-foam base",
                    "bolstered sides to lean on",
                    "a removable machine-washable cover",
                    "a non-slip water-resistant base",
                    "chew-resistant stitching",
                ],
                finishes: &["charcoal", "oatmeal", "forest green"],
            },
            Kind {
                noun: "Dog Lead",
                pattern: STD,
                finish_as: SHOWN_IN,
                sizes: &["1.2 m", "1.8 m"],
                lines: &[],
                price: (14, 49),
                pitch: "A padded lead for city walks",
                features: &[
                    "a padded neoprene handle",
                    "reflective stitching",
                    "a swivel trigger clip",
                    "a traffic handle near the clip",
                    "a poo-bag holder",
                ],
                finishes: &["black", "orange", "navy", "olive"],
            },
            Kind {
                noun: "Cat Tree",
                pattern: STD,
                finish_as: SHOWN_IN,
                sizes: &["Compact", "Tall", "Tower"],
                lines: &[],
                price: (49, 229),
                pitch: "A cat tree for climbing, scratching and surveying the room",
                features: &[
                    "sisal-wrapped scratching posts",
                    "a cosy hideaway",
                    "a wall anchor for stability",
                    "a replaceable top perch",
                    "plush removable cushions",
                ],
                finishes: &["grey", "beige", "natural wood and cream"],
            },
            Kind {
                noun: "Slow Feeder Bowl",
                pattern: STD,
                finish_as: SHOWN_IN,
                sizes: &["Small", "Medium", "Large"],
                lines: &[],
                price: (12, 39),
                pitch: "A slow feeder bowl that turns gulping into grazing",
                features: &[
                    "a maze that slows eating up to ten times",
                    "a non-slip silicone base",
                    "dishwasher-safe materials",
                    "BPA-free plastic",
                    "a wide rim that stops tipping",
                ],
                finishes: &["mint", "coral", "slate"],
            },
            Kind {
                noun: "Chew Toy",
                pattern: STD,
                finish_as: SHOWN_IN,
                sizes: &["Small", "Medium", "Large"],
                lines: &[],
                price: (8, 29),
                pitch: "A tough chew toy for dogs who destroy everything else",
                features: &[
                    "natural rubber that bounces unpredictably",
                    "a hollow centre for treats",
                    "a body that floats in water",
                    "dishwasher-safe construction",
                    "a replacement promise if it breaks",
                ],
                finishes: &["red", "blue", "orange"],
            },
        ],
        closers: &[
            "Vet-approved materials.",
            "Free returns within 30 days.",
            "Ten per cent of profits go to animal shelters.",
        ],
    },
];

/// The categories of the shop, in display order.
pub fn categories() -> Vec<CategoryDef> {
    CATEGORIES
        .iter()
        .map(|c| CategoryDef {
            id: c.id,
            name: c.name,
            description: c.description,
        })
        .collect()
}

/// One generated product, in the same raw shape an administrator would post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedProduct {
    pub id: uuid::Uuid,
    pub sku: String,
    pub name: String,
    pub description: String,
    pub category: &'static str,
    pub price_cents: i64,
    pub currency: &'static str,
    pub initial_stock: u32,
    /// RFC 3339, UTC.
    pub created_at: String,
}

impl SeedProduct {
    /// Parses the product with the same domain types the API uses.
    pub fn to_record(&self) -> Result<ProductRecord, Invalid> {
        Ok(ProductRecord {
            id: ProductId::from_uuid(self.id),
            product: NewProduct {
                sku: Sku::parse(&self.sku)?,
                name: ProductName::parse(&self.name)?,
                description: Description::parse(&self.description)?,
                category: CategoryId::parse(self.category)?,
                price: Price::from_cents(self.price_cents)?,
                currency: Currency::parse(self.currency)?,
                initial_stock: InitialStock::new(self.initial_stock)?,
            },
            created_at: self.created_at.clone(),
        })
    }
}

/// Generates `count` products. Deterministic: the same `count` gives the same catalog,
/// and a smaller `count` gives a prefix of a larger one.
pub fn generate(count: u32) -> Vec<SeedProduct> {
    let mut rng = SplitMix64::new(SEED);
    let total_weight: u64 = CATEGORIES.iter().map(|c| c.weight).sum();
    let mut next_sku = vec![1_u32; CATEGORIES.len()];
    let mut names: HashSet<String> = HashSet::new();
    let mut out = Vec::with_capacity(count as usize);
    for i in 0..count as usize {
        // Every category gets one product first, then they are drawn by weight.
        let ci = if i < CATEGORIES.len() {
            i
        } else {
            let mut roll = rng.below(total_weight);
            CATEGORIES
                .iter()
                .position(|c| {
                    if roll < c.weight {
                        true
                    } else {
                        roll -= c.weight;
                        false
                    }
                })
                .unwrap_or(0)
        };
        let cat = &CATEGORIES[ci];
        let sku = format!("{}-{:05}", cat.sku_prefix, next_sku[ci]);
        next_sku[ci] += 1;
        out.push(product(&mut rng, cat, sku, &mut names));
    }
    out
}

fn product(
    rng: &mut SplitMix64,
    cat: &'static CategorySpec,
    sku: String,
    names: &mut HashSet<String>,
) -> SeedProduct {
    // A few draws to find an unused name; past what the vocabulary can name (very large
    // catalogs) a name may repeat, which products are allowed to do.
    let mut draw = || {
        let kind = rng.pick(cat.kinds);
        let lines = if kind.lines.is_empty() {
            cat.lines
        } else {
            kind.lines
        };
        let line = *rng.pick(lines);
        let size_index = rng.below(kind.sizes.len() as u64) as usize;
        let name = compose_name(kind, line, kind.sizes[size_index]);
        (kind, size_index, name)
    };
    let (mut kind, mut size_index, mut name) = draw();
    for _ in 0..16 {
        if !names.contains(&name) {
            break;
        }
        (kind, size_index, name) = draw();
    }
    names.insert(name.clone());

    let finish = *rng.pick(kind.finishes);
    let features = pick_distinct(rng, kind.features, 3);
    let closer = *rng.pick(cat.closers);
    let description = format!(
        "{} — {}, {} and {}. {} {}",
        kind.pitch,
        features[0],
        features[1],
        features[2],
        kind.finish_as.replace("{}", finish),
        closer
    );

    SeedProduct {
        id: uuid::Builder::from_random_bytes(random_bytes(rng)).into_uuid(),
        sku,
        name,
        description,
        category: cat.id,
        price_cents: price_cents(rng, kind, size_index),
        currency: "USD",
        initial_stock: initial_stock(rng),
        created_at: created_at(rng),
    }
}

fn compose_name(kind: &Kind, line: &str, size: &str) -> String {
    kind.pattern
        .replace("{line}", line)
        .replace("{size}", size)
        .replace("{noun}", kind.noun)
}

fn pick_distinct(
    rng: &mut SplitMix64,
    items: &'static [&'static str],
    n: usize,
) -> Vec<&'static str> {
    let mut pool: Vec<&'static str> = items.to_vec();
    let mut out = Vec::with_capacity(n);
    while out.len() < n && !pool.is_empty() {
        let i = rng.below(pool.len() as u64) as usize;
        out.push(pool.remove(i));
    }
    out
}

/// A price within the kind's range, larger sizes dearer, ending in .99, .49 or .00.
fn price_cents(rng: &mut SplitMix64, kind: &Kind, size_index: usize) -> i64 {
    let (lo, hi) = kind.price;
    let steps = kind.sizes.len() as u64;
    let band = (hi - lo) / steps;
    let base = lo + band * size_index as u64;
    let dollars = rng.between(base, base + band).max(1);
    let cents = match rng.below(100) {
        0..=64 => dollars * 100 - 1,   // 24.99
        65..=84 => dollars * 100 - 51, // 24.49
        _ => dollars * 100,            // 25.00
    };
    cents as i64
}

/// Mostly healthy stock, some running low, a few sold out.
fn initial_stock(rng: &mut SplitMix64) -> u32 {
    match rng.below(100) {
        0..=3 => 0,
        4..=14 => rng.between(1, 9) as u32,
        _ => rng.between(10, 250) as u32,
    }
}

fn created_at(rng: &mut SplitMix64) -> String {
    let secs = EPOCH_SECS + rng.below(YEAR_SECS) as i64;
    let t = chrono::DateTime::from_timestamp(secs, 0).unwrap_or_default();
    events::envelope::to_rfc3339(t)
}

fn random_bytes(rng: &mut SplitMix64) -> [u8; 16] {
    let mut bytes = [0_u8; 16];
    bytes[..8].copy_from_slice(&rng.next_u64().to_le_bytes());
    bytes[8..].copy_from_slice(&rng.next_u64().to_le_bytes());
    bytes
}

/// Ensures the categories exist and, if `count` products are wanted and the database is
/// fresh, writes the generated catalog through the store's create path.
pub async fn run(store: &Store, seed: bool, count: u32) -> anyhow::Result<SeedOutcome> {
    store.ensure_categories(&categories()).await?;
    if !seed {
        return Ok(SeedOutcome::NotFresh);
    }
    let records = generate(count)
        .iter()
        .map(|p| {
            p.to_record()
                .map_err(|e| anyhow::anyhow!("seed product {} is invalid: {e}", p.sku))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    store
        .seed(&records)
        .await
        .map_err(|e: CatalogError| anyhow::Error::new(e).context("seeding the catalog"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, HashSet};

    #[test]
    fn splitmix64_matches_the_reference_values() {
        // Reference outputs of splitmix64 seeded with 1234567.
        let mut rng = SplitMix64::new(1_234_567);
        assert_eq!(rng.next_u64(), 6_457_827_717_110_365_317);
        assert_eq!(rng.next_u64(), 3_203_168_211_198_807_973);
    }

    #[test]
    fn same_count_gives_the_same_catalog() {
        assert_eq!(generate(600), generate(600));
    }

    #[test]
    fn a_smaller_catalog_is_a_prefix_of_a_larger_one() {
        let small = generate(60);
        assert_eq!(small[..], generate(600)[..60]);
    }

    #[test]
    fn the_catalog_is_the_same_on_every_machine() {
        // A fingerprint of the whole default catalog: if this changes, every service that
        // copies the catalog sees a different shop. Change it on purpose only.
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for p in generate(600) {
            let line = format!(
                "{}|{}|{}|{}|{}|{}|{}|{}\n",
                p.id,
                p.sku,
                p.name,
                p.description,
                p.category,
                p.price_cents,
                p.initial_stock,
                p.created_at
            );
            for b in line.bytes() {
                hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
            }
        }
        assert_eq!(hash, FINGERPRINT, "fingerprint is {hash:#x}");
    }

    const FINGERPRINT: u64 = 0xd4cf_9707_36e6_0d13;

    #[test]
    fn default_catalog_has_five_hundred_unique_names_and_skus() {
        let products = generate(600);
        assert_eq!(products.len(), 600);
        let names: HashSet<_> = products.iter().map(|p| &p.name).collect();
        let skus: HashSet<_> = products.iter().map(|p| &p.sku).collect();
        let ids: HashSet<_> = products.iter().map(|p| p.id).collect();
        assert!(names.len() >= 500, "only {} unique names", names.len());
        assert_eq!(skus.len(), 600);
        assert_eq!(ids.len(), 600);
    }

    #[test]
    fn every_category_is_used_and_there_are_at_least_twelve() {
        assert!(CATEGORIES.len() >= 12);
        let mut per_category: BTreeMap<&str, usize> = BTreeMap::new();
        for p in generate(600) {
            *per_category.entry(p.category).or_default() += 1;
        }
        for c in CATEGORIES {
            assert!(
                per_category.get(c.id).copied().unwrap_or(0) >= 10,
                "{} is thin: {per_category:?}",
                c.id
            );
        }
        // Even a tiny catalog shows every category.
        let small: HashSet<_> = generate(CATEGORIES.len() as u32)
            .iter()
            .map(|p| p.category)
            .collect();
        assert_eq!(small.len(), CATEGORIES.len());
    }

    #[test]
    fn every_product_passes_the_api_validation() {
        for p in generate(2000) {
            if let Err(e) = p.to_record() {
                panic!("{} ({}) is invalid: {e}", p.sku, p.name);
            }
        }
    }

    #[test]
    fn prices_look_like_prices_and_some_stock_is_out() {
        let products = generate(600);
        for p in &products {
            let cents = p.price_cents % 100;
            assert!(matches!(cents, 99 | 49 | 0), "{}: {}", p.sku, p.price_cents);
            assert!(p.price_cents >= 100, "{}: {}", p.sku, p.price_cents);
            assert!(p.initial_stock <= 250);
        }
        let sold_out = products.iter().filter(|p| p.initial_stock == 0).count();
        assert!((1..=60).contains(&sold_out), "{sold_out} sold out");
    }

    #[test]
    fn names_and_descriptions_read_like_a_shop() {
        let products = generate(600);
        let first_bag = products
            .iter()
            .find(|p| p.category == "bags-travel")
            .unwrap();
        assert!(first_bag.sku.starts_with("BAG-0000"));
        for p in &products {
            assert!(
                !p.name.contains("  ") && !p.name.contains('{'),
                "{}",
                p.name
            );
            assert!(
                p.description.contains(" — ") && p.description.ends_with('.'),
                "{}",
                p.description
            );
            assert!(p.created_at.starts_with("2025-"), "{}", p.created_at);
        }
    }
}

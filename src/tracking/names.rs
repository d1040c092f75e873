//! Server-generated run names, shaped like MLflow's (`<adjective>-<animal>-<number>`).

use rand::seq::IndexedRandom;
use rand::Rng;

const ADJECTIVES: &[&str] = &[
    "able", "agile", "amber", "ample", "bold", "brave", "bright", "brisk", "calm", "clean",
    "clever", "crisp", "curious", "daring", "deft", "eager", "fair", "fast", "fleet", "fresh",
    "gentle", "glad", "golden", "grand", "happy", "hardy", "honest", "keen", "kind", "lively",
    "loyal", "lucid", "merry", "mighty", "nimble", "noble", "patient", "placid", "polite", "proud",
    "quick", "quiet", "rare", "ready", "robust", "rustic", "serene", "sharp", "shy", "silent",
    "sleek", "smooth", "snappy", "solid", "spry", "steady", "stellar", "sunny", "swift", "tidy",
    "upbeat", "valiant", "vivid", "warm", "wise", "witty", "zesty",
];

const ANIMALS: &[&str] = &[
    "ant", "ape", "asp", "bass", "bat", "bear", "bee", "bird", "boar", "carp", "cat", "colt",
    "crab", "crane", "crow", "deer", "doe", "dove", "duck", "eel", "elk", "fawn", "finch", "fish",
    "fly", "foal", "fox", "frog", "gnat", "goat", "goose", "grouse", "gull", "hare", "hawk", "hen",
    "heron", "hog", "jay", "kit", "koi", "lamb", "lark", "lion", "lynx", "mink", "mole", "moth",
    "mule", "newt", "owl", "ox", "panda", "pig", "pike", "pony", "ram", "ray", "robin", "roo",
    "seal", "shark", "sheep", "shrew", "skunk", "sloth", "snail", "snake", "squid", "stork",
    "swan", "tern", "toad", "trout", "vole", "wasp", "whale", "wolf", "worm", "wren", "yak",
];

/// A fresh random run name such as `clean-roo-100`.
pub fn generate() -> String {
    let mut rng = rand::rng();
    let a = ADJECTIVES.choose(&mut rng).copied().unwrap_or("able");
    let b = ANIMALS.choose(&mut rng).copied().unwrap_or("ant");
    format!("{a}-{b}-{}", rng.random_range(0..1000))
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_have_three_parts() {
        let n = super::generate();
        let parts: Vec<&str> = n.split('-').collect();
        assert_eq!(parts.len(), 3, "{n}");
        assert!(parts[2].parse::<u32>().is_ok());
    }
}

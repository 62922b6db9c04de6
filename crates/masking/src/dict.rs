//! Built-in dictionaries for the `fake` strategy.
//!
//! Every entry is plain ASCII letters (cities may contain a space), so they can
//! be embedded in SQL as literals without escaping, and `full_name` can be split
//! on its single space for verification. Changing these lists changes the
//! masked output: treat them as part of the output format (append-only is not
//! enough either, since the index is `hash mod len`).

/// Given names.
pub const FIRST_NAMES: &[&str] = &[
    "Aaron", "Abigail", "Adam", "Adele", "Alan", "Alice", "Amir", "Anna", "Arthur", "Aylin",
    "Beatriz", "Ben", "Bianca", "Boris", "Carla", "Carlos", "Chloe", "Chen", "Clara", "Daniel",
    "Dana", "David", "Diego", "Elena", "Elif", "Emma", "Erik", "Eva", "Fatima", "Felix", "Fiona",
    "Gabriel", "Grace", "Hana", "Hugo", "Ines", "Ivan", "Jack", "Jana", "Jonas", "Julia", "Kai",
    "Kara", "Laura", "Leo", "Lina", "Lucas", "Maya", "Marco", "Mei", "Nadia", "Noah", "Nora",
    "Olga", "Omar", "Paula", "Pedro", "Priya", "Rafael", "Rosa", "Sam", "Sara", "Sofia", "Tariq",
    "Theo", "Vera", "Victor", "Yara", "Yusuf", "Zoe",
];

/// Family names.
pub const LAST_NAMES: &[&str] = &[
    "Abbott", "Alvarez", "Andersen", "Baker", "Barros", "Becker", "Bianchi", "Brown", "Castro",
    "Chen", "Costa", "Dubois", "Duarte", "Eriksen", "Evans", "Fischer", "Fontaine", "Garcia",
    "Gomez", "Hansen", "Hartmann", "Ito", "Jansen", "Jensen", "Kaya", "Keller", "Kim", "Kowalski",
    "Larsen", "Lopez", "Marino", "Martin", "Meyer", "Moreau", "Mueller", "Nakamura", "Novak",
    "Nunes", "Olsen", "Ortiz", "Park", "Perez", "Petrov", "Quinn", "Rossi", "Sato", "Schmidt",
    "Silva", "Smith", "Sousa", "Suzuki", "Tanaka", "Torres", "Varga", "Vogel", "Wagner", "Walker",
    "Weber", "Wilson", "Yilmaz",
];

/// City names.
pub const CITIES: &[&str] = &[
    "Aarhus",
    "Alicante",
    "Antwerp",
    "Bergen",
    "Bilbao",
    "Bologna",
    "Bordeaux",
    "Bremen",
    "Brno",
    "Cork",
    "Coimbra",
    "Dresden",
    "Dundee",
    "Eindhoven",
    "Florence",
    "Geneva",
    "Ghent",
    "Graz",
    "Groningen",
    "Innsbruck",
    "Krakow",
    "Leipzig",
    "Lille",
    "Linz",
    "Lyon",
    "Malmo",
    "Marseille",
    "Nantes",
    "Naples",
    "Porto",
    "Poznan",
    "Salzburg",
    "Seville",
    "Split",
    "Tampere",
    "Toulouse",
    "Trondheim",
    "Turin",
    "Utrecht",
    "Valencia",
    "Verona",
    "Vilnius",
    "Wroclaw",
    "Zaragoza",
    "New Haven",
    "San Remo",
    "Santa Cruz",
    "Le Havre",
];

/// Length in characters of every phone number the `phone` dictionary makes:
/// `555-01DD-DDDD`.
pub const PHONE_LEN: usize = 13;

/// Longest entry of a list, in characters.
pub fn max_len(list: &[&str]) -> usize {
    list.iter().map(|s| s.chars().count()).max().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn dictionaries_are_clean_and_unique() {
        for list in [FIRST_NAMES, LAST_NAMES, CITIES] {
            let set: HashSet<_> = list.iter().collect();
            assert_eq!(set.len(), list.len(), "duplicate entry");
            for w in list {
                assert!(!w.is_empty());
                assert!(
                    w.chars().all(|c| c.is_ascii_alphabetic() || c == ' '),
                    "{w}"
                );
            }
        }
        // Letters only: the PostgreSQL `full_name` verification predicate
        // (`sql::violation_predicate`) relies on it.
        for w in FIRST_NAMES.iter().chain(LAST_NAMES) {
            assert!(!w.contains(' '), "names must not contain spaces: {w}");
        }
        assert!(max_len(FIRST_NAMES) <= 16 && max_len(LAST_NAMES) <= 16);
    }
}

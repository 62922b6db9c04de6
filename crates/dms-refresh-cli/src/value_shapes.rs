//! Value shapes: whether one sampled value looks like an e-mail address, a
//! phone number, a payment card (Luhn), an IBAN (mod 97), a national id or an
//! IP address. Pure functions over one string; the detectors count them.

use std::net::IpAddr;

/// `local@domain.tld`: one `@`, no blank, a dotted domain whose last label
/// is alphabetic.
pub fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && local.chars().all(|c| c.is_ascii_graphic() && c != '@');
    let labels: Vec<&str> = domain.split('.').collect();
    let labels_ok = labels.len() >= 2
        && labels
            .iter()
            .all(|l| !l.is_empty() && l.chars().all(|c| c.is_alphanumeric() || c == '-'));
    let tld_ok = labels
        .last()
        .is_some_and(|t| t.len() >= 2 && t.chars().all(char::is_alphabetic));
    local_ok && labels_ok && tld_ok
}

/// 7 to 15 digits with an optional leading `+` and the usual separators
/// (blank, `-`, `.`, parentheses). Bare digit strings need 10 digits (so
/// small numbers and ids are not phones); dates and IPv4 addresses are not.
pub fn is_phone(s: &str) -> bool {
    let body = s.strip_prefix('+').unwrap_or(s);
    if body.is_empty()
        || !body
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '-' | '.' | '(' | ')'))
    {
        return false;
    }
    let digits = body.chars().filter(char::is_ascii_digit).count();
    let separated = body.len() != digits;
    let dots = body.matches('.').count();
    (7..=15).contains(&digits)
        && (separated || digits >= 10 || s.starts_with('+'))
        && dots != 1
        && !looks_like_date(body)
        && body.parse::<std::net::Ipv4Addr>().is_err()
}

/// `dddd-dd-dd`, `dd/dd/dddd` and the like.
fn looks_like_date(s: &str) -> bool {
    let groups: Vec<&str> = s.split(['-', '/', '.']).collect();
    let lens: Vec<usize> = groups.iter().map(|g| g.len()).collect();
    groups.iter().all(|g| g.chars().all(|c| c.is_ascii_digit()))
        && (lens == [4, 2, 2] || lens == [2, 2, 4])
}

/// Luhn check of a digit string (`false` for anything but ASCII digits).
pub fn luhn_valid(digits: &str) -> bool {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// 13 to 19 digits (blanks and dashes allowed between them), Luhn valid,
/// not one repeated digit.
pub fn is_card_number(s: &str) -> bool {
    if !s
        .chars()
        .all(|c| c.is_ascii_digit() || c == ' ' || c == '-')
    {
        return false;
    }
    let digits: String = s.chars().filter(char::is_ascii_digit).collect();
    let repeated = digits
        .bytes()
        .all(|b| Some(&b) == digits.as_bytes().first());
    (13..=19).contains(&digits.len()) && !repeated && luhn_valid(&digits)
}

/// ISO 13616: country letters, two check digits, up to 30 letters/digits
/// (blanks allowed), and the whole number mod 97 == 1.
pub fn is_iban(s: &str) -> bool {
    let compact: String = s
        .chars()
        .filter(|c| *c != ' ')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let b = compact.as_bytes();
    let shape = (15..=34).contains(&b.len())
        && b[..2].iter().all(u8::is_ascii_uppercase)
        && b[2..4].iter().all(u8::is_ascii_digit)
        && b[4..].iter().all(u8::is_ascii_alphanumeric);
    shape && iban_mod97(&compact) == Some(1)
}

/// The IBAN remainder: first four characters moved to the end, letters as
/// 10..=35, the number mod 97.
pub fn iban_mod97(iban: &str) -> Option<u32> {
    let (head, tail) = iban.split_at_checked(4)?;
    let mut rem: u32 = 0;
    for c in tail.chars().chain(head.chars()) {
        let v = c.to_digit(36)?;
        let width = if v >= 10 { 100 } else { 10 };
        rem = (rem * width + v) % 97;
    }
    Some(rem)
}

/// US SSN `ddd-dd-dddd`: area not 000, 666 or 9xx, group not 00, serial
/// not 0000.
pub fn is_us_ssn(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    let [area, group, serial] = parts.as_slice() else {
        return false;
    };
    let digits = |p: &str, n: usize| p.len() == n && p.bytes().all(|b| b.is_ascii_digit());
    digits(area, 3)
        && digits(group, 2)
        && digits(serial, 4)
        && !matches!(*area, "000" | "666")
        && !area.starts_with('9')
        && *group != "00"
        && *serial != "0000"
}

/// UK National Insurance number: two letters (with the excluded letters
/// and prefixes), six digits, a suffix A-D; blanks allowed.
pub fn is_uk_nino(s: &str) -> bool {
    let c: Vec<char> = s
        .chars()
        .filter(|c| *c != ' ')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if c.len() != 9 {
        return false;
    }
    let prefix: String = c[..2].iter().collect();
    c[0].is_ascii_uppercase()
        && c[1].is_ascii_uppercase()
        && !"DFIQUV".contains(c[0])
        && !"DFIQUVO".contains(c[1])
        && !["BG", "GB", "KN", "NK", "NT", "TN", "ZZ"].contains(&prefix.as_str())
        && c[2..8].iter().all(char::is_ascii_digit)
        && ('A'..='D').contains(&c[8])
}

/// IPv4 or IPv6 address, as `std::net` reads them.
pub fn is_ip(s: &str) -> bool {
    s.parse::<IpAddr>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_values() {
        for v in ["ada@example.com", "j.doe+news@mail.example.co.uk", "x@a.io"] {
            assert!(is_email(v), "{v}");
        }
        for v in [
            "ada@",
            "@example.com",
            "ada example.com",
            "a b@c.de",
            "a@b",
            "a@b.c1",
            "a@@b.com",
        ] {
            assert!(!is_email(v), "{v}");
        }
    }

    #[test]
    fn phone_values() {
        for v in [
            "+44 20 7946 0958",
            "(555) 123-4567",
            "555-0142",
            "0612345678",
            "+33612345678",
            "555.123.4567",
        ] {
            assert!(is_phone(v), "{v}");
        }
        for v in [
            "12345",
            "123456789",
            "2024-01-31",
            "31/01/2024",
            "192.168.1.10",
            "1234567.89",
            "abc-defg",
            "+",
            "1234567890123456",
        ] {
            assert!(!is_phone(v), "{v}");
        }
    }

    #[test]
    fn luhn() {
        assert!(luhn_valid("4111111111111111"));
        assert!(luhn_valid("79927398713"));
        assert!(!luhn_valid("4111111111111112"));
        assert!(!luhn_valid("79927398710"));
        assert!(!luhn_valid(""));
        assert!(!luhn_valid("4111-1111"));
    }

    #[test]
    fn card_values() {
        for v in [
            "4111111111111111",
            "4111 1111 1111 1111",
            "5500-0000-0000-0004",
            "378282246310005",
        ] {
            assert!(is_card_number(v), "{v}");
        }
        for v in [
            "4111111111111112",
            "0000000000000000",
            "411111111111",
            "4111a11111111111",
            "12345678901234567890",
        ] {
            assert!(!is_card_number(v), "{v}");
        }
    }

    #[test]
    fn iban_checksum() {
        assert_eq!(iban_mod97("GB82WEST12345698765432"), Some(1));
        assert_eq!(iban_mod97("GB83WEST12345698765432"), Some(2));
        assert_eq!(iban_mod97("GB"), None);
        for v in [
            "GB82 WEST 1234 5698 7654 32",
            "DE89370400440532013000",
            "fr1420041010050500013m02606",
        ] {
            assert!(is_iban(v), "{v}");
        }
        for v in [
            "GB83WEST12345698765432",
            "GB82WEST1234",
            "1282WEST12345698765432",
            "GB82-WEST-1234-5698-7654-32",
        ] {
            assert!(!is_iban(v), "{v}");
        }
    }

    #[test]
    fn national_ids() {
        for v in ["123-45-6789", "078-05-1120"] {
            assert!(is_us_ssn(v), "{v}");
        }
        for v in [
            "000-12-3456",
            "666-12-3456",
            "912-34-5678",
            "123-00-4567",
            "123-45-0000",
            "123456789",
            "12-345-6789",
        ] {
            assert!(!is_us_ssn(v), "{v}");
        }
        for v in ["AB123456C", "ab 12 34 56 d", "JG103759A"] {
            assert!(is_uk_nino(v), "{v}");
        }
        for v in [
            "DA123456C",
            "AO123456C",
            "GB123456A",
            "AB123456E",
            "AB12345C",
            "A1123456C",
        ] {
            assert!(!is_uk_nino(v), "{v}");
        }
    }

    #[test]
    fn ip_values() {
        for v in ["192.0.2.1", "10.0.0.255", "2001:db8::1", "::1"] {
            assert!(is_ip(v), "{v}");
        }
        for v in [
            "256.1.1.1",
            "1.2.3",
            "2001:db8:::1",
            "localhost",
            "192.0.2.1/24",
        ] {
            assert!(!is_ip(v), "{v}");
        }
    }
}

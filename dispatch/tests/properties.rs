//! Property tests of the key-set rules and the schema parser.

use ft_dispatch::schema::{parse_entry, parse_file};
use ft_dispatch::{Backend, DispatchKey, DispatchKeySet, Functionality, KeySetError};
use proptest::prelude::*;

const BACKENDS: u64 = 0b1_1111;
const DENSE: u64 = 1 << 16;
const AUTOGRAD: u64 = 1 << 17;
const KNOWN: u64 = BACKENDS | DENSE | AUTOGRAD;

/// The rules, written out independently of the implementation.
fn expected(bits: u64) -> Result<DispatchKey, KeySetError> {
    if bits & !KNOWN != 0 {
        return Err(KeySetError::UnknownBits(bits));
    }
    if bits == 0 {
        return Err(KeySetError::Empty);
    }
    let b = bits & BACKENDS;
    if b == 0 {
        return Err(KeySetError::NoBackend);
    }
    if b.count_ones() > 1 {
        return Err(KeySetError::MixedBackends);
    }
    if bits & (DENSE | AUTOGRAD) == 0 {
        return Err(KeySetError::NoFunctionality);
    }
    if bits & AUTOGRAD != 0 && bits & DENSE == 0 {
        return Err(KeySetError::AutogradWithoutDense);
    }
    let backend = Backend::ALL[b.trailing_zeros() as usize];
    Ok(if bits & AUTOGRAD != 0 {
        DispatchKey::Autograd(backend)
    } else {
        DispatchKey::Dense(backend)
    })
}

proptest! {
    #[test]
    fn any_bits_resolve_as_the_rules_say(bits in any::<u64>(), known in 0u64..(1 << 18)) {
        for b in [bits, known & KNOWN, known] {
            let want = expected(b);
            match DispatchKeySet::from_bits_checked(b) {
                Err(e) => prop_assert_eq!(Err(e), want),
                Ok(ks) => {
                    prop_assert_eq!(ks.bits(), b);
                    prop_assert_eq!(ks.highest_priority_key(), want);
                    if let Ok(k) = want {
                        let backend = match k {
                            DispatchKey::Dense(x) | DispatchKey::Autograd(x) => x,
                            _ => unreachable!(),
                        };
                        prop_assert_eq!(ks.backend_key(), Ok(DispatchKey::Dense(backend)));
                        // Below autograd there is always the dense key.
                        prop_assert_eq!(
                            ks.without(Functionality::Autograd).highest_priority_key(),
                            Ok(DispatchKey::Dense(backend))
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn set_algebra_is_bitwise(a in 0u64..(1 << 18), b in 0u64..(1 << 18)) {
        let (x, y) = (
            DispatchKeySet::from_bits_checked(a & KNOWN).unwrap(),
            DispatchKeySet::from_bits_checked(b & KNOWN).unwrap(),
        );
        prop_assert_eq!(x.union(y).bits(), (a | b) & KNOWN);
        prop_assert_eq!(x.intersection(y).bits(), a & b & KNOWN);
        prop_assert_eq!(x.difference(y).bits(), a & !b & KNOWN);
        prop_assert!(x.union(y).contains(x));
    }

    /// Arbitrary text never panics the parser: it parses or names a line.
    #[test]
    fn the_schema_parser_never_panics(text in "\\PC{0,120}") {
        let line = format!("- func: {text}");
        let _ = parse_entry(&line, 7).map_err(|e| assert_eq!(e.line, 7));
        let _ = parse_file(&text);
    }

    /// Well-formed entries built from parts round-trip their names and
    /// argument counts.
    #[test]
    fn generated_entries_parse(
        name in "[a-z][a-z0-9_]{0,10}",
        overload in proptest::option::of("[A-Za-z][A-Za-z0-9_]{0,8}"),
        n in 0usize..4,
        kw in 0usize..3,
    ) {
        let mut args: Vec<String> = vec!["Tensor self".into()];
        args.extend((0..n).map(|i| format!("int a{i}")));
        if kw > 0 {
            args.push("*".into());
            args.extend((0..kw).map(|i| format!("bool k{i}=False")));
        }
        let full = match &overload {
            Some(o) if o != "out" => format!("{name}.{o}"),
            _ => name.clone(),
        };
        let text = format!("- func: {full}({}) -> Tensor", args.join(", "));
        let s = parse_entry(&text, 1).unwrap();
        prop_assert_eq!(s.full_name(), full);
        prop_assert_eq!(s.args.len(), 1 + n + kw);
        prop_assert_eq!(s.args.iter().filter(|a| a.kwarg_only).count(), kw);
    }
}

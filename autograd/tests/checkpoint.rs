//! Checkpoint files: round trips of every dtype, and every kind of bad
//! file (truncated, corrupt, wrong dtype, bad offsets, hash mismatch,
//! wrong version) an `Err` with a message, never a panic; arbitrary bytes
//! fuzzed with proptest.

use ft_autograd::checkpoint::{self, HASH_KEY, VERSION_KEY};
use ft_autograd::nn::{Linear, Module};
use ft_core::{DType, Generator, TensorImpl};
use ft_dispatch::{Mode, Tensor, with_mode};
use proptest::prelude::*;

fn sample() -> Vec<(String, Tensor)> {
    let m = Tensor::from_slice(&[1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]).unwrap();
    vec![
        ("f32_t".to_string(), m.t().unwrap()), // non-contiguous: saved row-major
        (
            "f64".to_string(),
            Tensor::from_slice(&[1.5f64, -2.0], &[2]).unwrap(),
        ),
        (
            "f16".to_string(),
            Tensor::from_slice(&[half::f16::from_f32(0.5)], &[1]).unwrap(),
        ),
        (
            "bf16".to_string(),
            Tensor::from_slice(&[half::bf16::from_f32(-3.0)], &[1]).unwrap(),
        ),
        (
            "i64".to_string(),
            Tensor::from_slice(&[i64::MIN, 7], &[2]).unwrap(),
        ),
        (
            "i32".to_string(),
            Tensor::from_slice(&[-5i32], &[1, 1]).unwrap(),
        ),
        (
            "u8".to_string(),
            Tensor::from_slice(&[255u8, 0], &[2]).unwrap(),
        ),
        (
            "bool".to_string(),
            Tensor::from_slice(&[true, false, true], &[3]).unwrap(),
        ),
        (
            "scalar".to_string(),
            Tensor::from(TensorImpl::scalar(42.0f32)),
        ),
        (
            "empty".to_string(),
            Tensor::zeros(&[0, 3], DType::F32).unwrap(),
        ),
    ]
}

#[test]
fn every_dtype_round_trips_exactly() {
    let items = sample();
    let back = checkpoint::from_bytes(&checkpoint::to_bytes(&items).unwrap()).unwrap();
    assert_eq!(back.len(), items.len());
    for (name, t) in &items {
        let (_, b) = back.iter().find(|(n, _)| n == name).expect(name);
        assert_eq!(b.dtype(), t.dtype(), "{name}");
        assert_eq!(b.shape(), t.shape(), "{name}");
        assert_eq!(b.to_vec_f64().unwrap(), t.to_vec_f64().unwrap(), "{name}");
    }
}

#[test]
fn files_round_trip_and_modules_reload() {
    let dir = std::env::temp_dir().join(format!("ft-ckpt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("model.safetensors");
    let mut g = Generator::new(1);
    let a = Linear::new(3, 2, true, &mut g).unwrap();
    let b = Linear::new(3, 2, true, &mut g).unwrap();
    checkpoint::save(&path, &a.state_dict()).unwrap();
    b.load_state_dict(&checkpoint::load(&path).unwrap(), true)
        .unwrap();
    assert_eq!(
        a.weight.to_vec::<f32>().unwrap(),
        b.weight.to_vec::<f32>().unwrap()
    );
    let e = checkpoint::load(dir.join("missing.safetensors")).unwrap_err();
    assert!(e.message().contains("cannot read"), "{}", e.message());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn every_truncation_is_an_error() {
    let bytes = checkpoint::to_bytes(&sample()).unwrap();
    for len in 0..bytes.len() {
        let e = checkpoint::from_bytes(&bytes[..len]).unwrap_err();
        assert!(!e.message().is_empty());
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(checkpoint::from_bytes(&longer).is_err());
}

#[test]
fn a_changed_byte_in_the_data_fails_the_hash() {
    let bytes = checkpoint::to_bytes(&sample()).unwrap();
    let header = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    for at in (8 + header..bytes.len()).step_by(3) {
        let mut bad = bytes.clone();
        bad[at] ^= 0x10;
        let e = checkpoint::from_bytes(&bad).unwrap_err();
        assert!(
            e.message().contains("content hash mismatch")
                || e.message().contains("is bool but holds"),
            "{}",
            e.message()
        );
    }
}

/// A safetensors file from a header written by hand.
fn file(header: &str, data: &[u8]) -> Vec<u8> {
    let mut v = (header.len() as u64).to_le_bytes().to_vec();
    v.extend(header.as_bytes());
    v.extend(data);
    v
}

fn load_err(bytes: &[u8]) -> String {
    checkpoint::from_bytes(bytes)
        .unwrap_err()
        .message()
        .to_string()
}

#[test]
fn malformed_headers_are_errors_with_a_reason() {
    let ok = file(
        r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#,
        &[0; 8],
    );
    assert_eq!(
        checkpoint::from_bytes(&ok).unwrap()[0]
            .1
            .to_vec::<f32>()
            .unwrap(),
        vec![0.0, 0.0]
    );
    // Overlapping offsets.
    let m = load_err(&file(
        r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#,
        &[0; 8],
    ));
    assert!(m.contains("not a valid safetensors file"), "{m}");
    // Shape and byte range disagree.
    let m = load_err(&file(
        r#"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#,
        &[0; 8],
    ));
    assert!(m.contains("not a valid safetensors file"), "{m}");
    // A dtype FrankenTorch does not have.
    let m = load_err(&file(
        r#"{"a":{"dtype":"I8","shape":[8],"data_offsets":[0,8]}}"#,
        &[0; 8],
    ));
    assert!(m.contains("does not support"), "{m}");
    // A dtype nobody has.
    let m = load_err(&file(
        r#"{"a":{"dtype":"Q7","shape":[8],"data_offsets":[0,8]}}"#,
        &[0; 8],
    ));
    assert!(m.contains("not a valid safetensors file"), "{m}");
    // A header length larger than the file: never allocated.
    let mut huge = (u64::MAX / 2).to_le_bytes().to_vec();
    huge.extend(b"{}");
    assert!(load_err(&huge).contains("not a valid safetensors file"));
    // Not JSON.
    assert!(load_err(&file("{nope", &[])).contains("not a valid safetensors file"));
    // A bool tensor holding 2.
    let m = load_err(&file(
        r#"{"a":{"dtype":"BOOL","shape":[1],"data_offsets":[0,1]}}"#,
        &[2],
    ));
    assert!(m.contains("is bool but holds the byte 2"), "{m}");
}

#[test]
fn version_and_hash_metadata_are_checked() {
    let meta = |v: &str, h: &str| {
        format!(
            r#"{{"__metadata__":{{"{VERSION_KEY}":"{v}","{HASH_KEY}":"{h}"}},"a":{{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}}}"#
        )
    };
    let m = load_err(&file(&meta("99", "00"), &[1]));
    assert!(m.contains("format version 99"), "{m}");
    let m = load_err(&file(&meta("1", "00"), &[1]));
    assert!(m.contains("content hash mismatch"), "{m}");
    let no_hash = format!(
        r#"{{"__metadata__":{{"{VERSION_KEY}":"1"}},"a":{{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}}}"#
    );
    assert!(load_err(&file(&no_hash, &[1])).contains("no content hash"));
}

/// The bytes with the first occurrence of `from` replaced by `to` (same
/// length).
fn replaced(bytes: &[u8], from: &str, to: &str) -> Vec<u8> {
    assert_eq!(from.len(), to.len());
    let mut out = bytes.to_vec();
    let at = bytes
        .windows(from.len())
        .position(|w| w == from.as_bytes())
        .expect("string present");
    out[at..at + to.len()].copy_from_slice(to.as_bytes());
    out
}

/// One changed byte in each of our two metadata keys and one in the data:
/// the file must not pass for one written without our metadata (which
/// loads unverified). This slipped through once, in CI's proptest.
#[test]
fn damaged_metadata_keys_do_not_pass_as_a_foreign_file() {
    let bytes = checkpoint::to_bytes(&sample()).unwrap();
    let mut bad = replaced(
        &bytes,
        VERSION_KEY,
        &VERSION_KEY.replace("format", "formbt"),
    );
    bad = replaced(&bad, HASH_KEY, &HASH_KEY.replace("content", "contfnt"));
    *bad.last_mut().unwrap() ^= 1;
    let m = load_err(&bad);
    assert!(m.contains("is a damaged FrankenTorch key"), "{m}");
    // Keys rewritten beyond recognition: the hash value still gives it away.
    let mut bad = replaced(&bytes, VERSION_KEY, &"v".repeat(VERSION_KEY.len()));
    bad = replaced(&bad, HASH_KEY, &"h".repeat(HASH_KEY.len()));
    let m = load_err(&bad);
    assert!(
        m.contains("holds a content hash but the hash key is missing"),
        "{m}"
    );
    assert!(checkpoint::from_bytes_verified(&bad).is_err());
}

#[test]
fn verified_loading_refuses_a_file_without_our_hash() {
    let foreign = file(
        r#"{"__metadata__":{"format":"pt"},"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}"#,
        &[7],
    );
    let back = checkpoint::from_bytes(&foreign).unwrap();
    assert_eq!(back[0].1.to_vec::<u8>().unwrap(), vec![7]);
    let m = checkpoint::from_bytes_verified(&foreign)
        .unwrap_err()
        .message()
        .to_string();
    assert!(m.contains("no FrankenTorch content hash"), "{m}");
    let ours = checkpoint::to_bytes(&sample()).unwrap();
    assert_eq!(
        checkpoint::from_bytes_verified(&ours).unwrap().len(),
        sample().len()
    );
    let dir = std::env::temp_dir().join(format!("ft-verified-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("foreign.safetensors"), &foreign).unwrap();
    assert!(checkpoint::load(dir.join("foreign.safetensors")).is_ok());
    assert!(checkpoint::load_verified(dir.join("foreign.safetensors")).is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn hardened_mode_refuses_non_finite_values() {
    let t = vec![(
        "w".to_string(),
        Tensor::from_slice(&[1.0f32, f32::NAN], &[2]).unwrap(),
    )];
    let bytes = checkpoint::to_bytes(&t).unwrap();
    assert!(checkpoint::from_bytes(&bytes).is_ok());
    let e = with_mode(Mode::Hardened, || checkpoint::from_bytes(&bytes)).unwrap_err();
    assert!(
        e.message()
            .contains("Hardened mode refused checkpoint tensor 'w'"),
        "{}",
        e.message()
    );
}

#[test]
fn duplicate_names_are_refused_on_save() {
    let t = Tensor::zeros(&[1], DType::F32).unwrap();
    let e = checkpoint::to_bytes(&[("a".into(), t.clone()), ("a".into(), t)]).unwrap_err();
    assert!(e.message().contains("appears twice"));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, .. ProptestConfig::default() })]

    /// Arbitrary bytes: an error or a checkpoint, never a panic.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = checkpoint::from_bytes(&bytes);
        let _ = checkpoint::from_bytes_verified(&bytes);
    }

    /// A valid file with bytes overwritten at random places (header
    /// included): never a panic, and never a silently different tensor,
    /// from either loader. (`from_bytes` reads files without our metadata
    /// unverified; five substituted bytes cannot make ours look like one:
    /// each of our keys takes four to pass as foreign, and the hash value
    /// one more.)
    #[test]
    fn corrupted_files_never_panic_or_load_wrong(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6)
    ) {
        let items = sample();
        let mut bytes = checkpoint::to_bytes(&items).unwrap();
        for (i, b) in edits {
            let at = i.index(bytes.len());
            bytes[at] = b;
        }
        let verified = checkpoint::from_bytes_verified(&bytes);
        let any = checkpoint::from_bytes(&bytes);
        prop_assert_eq!(verified.is_ok(), any.is_ok());
        for back in [verified, any].into_iter().flatten() {
            // Only edits that left the content as it was may load.
            for (name, t) in &items {
                let (_, b) = back.iter().find(|(n, _)| n == name).unwrap();
                prop_assert_eq!(b.to_vec_f64().unwrap(), t.to_vec_f64().unwrap());
            }
        }
    }
}

//! RaptorQ repair sidecars for parity reports (RFC 6330, the `raptorq`
//! crate), and the decode proof.
//!
//! A report (the JSONL file `ft-conformance run` writes) is cut into
//! source symbols; the sidecar holds the encoding parameters, the report's
//! SHA-256, a short digest of every source symbol (so a damaged copy of the
//! report can tell which of its symbols are still good) and repair symbols
//! worth `repair_share` of the source. Any `repair_share` of the source
//! symbols may then be lost or damaged and the report still rebuilds
//! exactly.
//!
//! The decode proof drops a stated share of the source symbols (chosen by
//! a seeded shuffle, so the proof is reproducible), rebuilds the report
//! from what is left plus the sidecar, and records both hashes.
//!
//! ```
//! use ft_conformance::sidecar;
//! let report: Vec<u8> = (0..50_000u32).flat_map(|i| i.to_le_bytes()).collect();
//! let car = sidecar::encode(&report, 0.25).unwrap();
//! let proof = sidecar::prove(&report, &car, 0.2, 7).unwrap();
//! assert!(proof.matched);
//! // A copy of the report with bytes overwritten is repaired.
//! let mut damaged = report.clone();
//! damaged[1000..3000].fill(0xff);
//! assert_eq!(sidecar::repair(&damaged, &car).unwrap(), report);
//! ```

use ft_core::{Error, ErrorKind, Result};
use raptorq::{Decoder, Encoder, EncodingPacket, ObjectTransmissionInformation};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const MAGIC: &[u8; 5] = b"FTRQ\x01";
/// Bytes per symbol (the "MTU" the encoder is built for).
const SYMBOL_BYTES: u16 = 1024;
/// Bytes of SHA-256 kept per source symbol.
const DIGEST_BYTES: usize = 8;

fn bad(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::Value, msg)
}

fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn digest(packet: &EncodingPacket) -> [u8; DIGEST_BYTES] {
    let mut h = Sha256::new();
    h.update(packet.serialize());
    let full = h.finalize();
    let mut d = [0u8; DIGEST_BYTES];
    d.copy_from_slice(&full[..DIGEST_BYTES]);
    d
}

/// The encoding parameters for a report of `len` bytes (an empty report
/// is described as one byte long: the crate cannot describe zero bytes;
/// it has no symbols either way).
fn config_for(len: usize) -> ObjectTransmissionInformation {
    ObjectTransmissionInformation::with_defaults(len.max(1) as u64, SYMBOL_BYTES)
}

/// The source symbols of `data`, in order.
fn source_packets(data: &[u8], config: ObjectTransmissionInformation) -> Vec<EncodingPacket> {
    if data.is_empty() {
        // Nothing to encode (the encoder cannot cut zero bytes into blocks).
        return Vec::new();
    }
    Encoder::new(data, config)
        .get_block_encoders()
        .iter()
        .flat_map(|b| b.source_packets())
        .collect()
}

/// A parsed sidecar.
struct Sidecar {
    config: ObjectTransmissionInformation,
    len: usize,
    sha256: [u8; 32],
    digests: Vec<[u8; DIGEST_BYTES]>,
    repair: Vec<EncodingPacket>,
}

/// The sidecar of `report`, with repair symbols worth `repair_share` of
/// its source symbols (at least one per block).
pub fn encode(report: &[u8], repair_share: f64) -> Result<Vec<u8>> {
    if !(0.0..=4.0).contains(&repair_share) {
        return Err(bad(format!(
            "repair share must be in [0, 4], got {repair_share}"
        )));
    }
    let config = config_for(report.len());
    let mut out = Vec::new();
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&config.serialize());
    out.extend_from_slice(&(report.len() as u64).to_le_bytes());
    out.extend_from_slice(&Sha256::digest(report));
    let source = source_packets(report, config);
    out.extend_from_slice(&(source.len() as u32).to_le_bytes());
    for p in &source {
        out.extend_from_slice(&digest(p));
    }
    let mut repair = Vec::new();
    let encoder = (!report.is_empty()).then(|| Encoder::new(report, config));
    for b in encoder.iter().flat_map(|e| e.get_block_encoders()) {
        let k = b.source_packets().len();
        let n = ((k as f64 * repair_share).ceil() as u32).max(1);
        repair.extend(b.repair_packets(0, n));
    }
    out.extend_from_slice(&(repair.len() as u32).to_le_bytes());
    for p in repair {
        let bytes = p.serialize();
        out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
        out.extend_from_slice(&bytes);
    }
    Ok(out)
}

/// Reads `n` bytes at `*at`, or the error of a truncated sidecar.
fn take<'a>(bytes: &'a [u8], at: &mut usize, n: usize) -> Result<&'a [u8]> {
    let end = at
        .checked_add(n)
        .filter(|&e| e <= bytes.len())
        .ok_or_else(|| bad("sidecar is truncated"))?;
    let s = &bytes[*at..end];
    *at = end;
    Ok(s)
}

fn u32_at(bytes: &[u8], at: &mut usize) -> Result<usize> {
    let b = take(bytes, at, 4)?;
    Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
}

fn parse(bytes: &[u8]) -> Result<Sidecar> {
    let mut at = 0;
    if take(bytes, &mut at, MAGIC.len())? != MAGIC {
        return Err(bad("not a FrankenTorch RaptorQ sidecar (bad magic)"));
    }
    let mut oti = [0u8; 12];
    oti.copy_from_slice(take(bytes, &mut at, 12)?);
    let config = ObjectTransmissionInformation::deserialize(&oti);
    let mut len = [0u8; 8];
    len.copy_from_slice(take(bytes, &mut at, 8)?);
    let len = usize::try_from(u64::from_le_bytes(len)).map_err(|_| bad("report too large"))?;
    // Only the parameters `encode` writes are accepted: anything else
    // (a damaged header) would mislead the decoder.
    if config.serialize() != config_for(len).serialize() {
        return Err(bad("sidecar parameters do not match its report length"));
    }
    let mut sha256 = [0u8; 32];
    sha256.copy_from_slice(take(bytes, &mut at, 32)?);
    let n = u32_at(bytes, &mut at)?;
    let mut digests = Vec::with_capacity(n.min(bytes.len() / DIGEST_BYTES));
    for _ in 0..n {
        let mut d = [0u8; DIGEST_BYTES];
        d.copy_from_slice(take(bytes, &mut at, DIGEST_BYTES)?);
        digests.push(d);
    }
    let r = u32_at(bytes, &mut at)?;
    let mut repair = Vec::new();
    for _ in 0..r {
        let l = u32_at(bytes, &mut at)?;
        let p = take(bytes, &mut at, l)?;
        if p.len() != 4 + usize::from(config.symbol_size()) {
            return Err(bad("sidecar repair symbol has the wrong size"));
        }
        let packet = EncodingPacket::deserialize(p);
        if packet.payload_id().source_block_number() >= config.source_blocks() {
            return Err(bad(
                "sidecar repair symbol names a block the report does not have",
            ));
        }
        repair.push(packet);
    }
    if at != bytes.len() {
        return Err(bad("sidecar has trailing bytes"));
    }
    Ok(Sidecar {
        config,
        len,
        sha256,
        digests,
        repair,
    })
}

/// Rebuilds the report from the `kept` source symbols and the sidecar's
/// repair symbols; checks the result's SHA-256.
fn rebuild(car: &Sidecar, kept: Vec<EncodingPacket>) -> Result<Vec<u8>> {
    if car.len == 0 {
        return if Sha256::digest([]).as_slice() == car.sha256 {
            Ok(Vec::new())
        } else {
            Err(bad("rebuilt report does not match the sidecar's SHA-256"))
        };
    }
    let mut decoder = Decoder::new(car.config);
    let mut result = None;
    for p in kept.into_iter().chain(car.repair.iter().cloned()) {
        result = decoder.decode(p);
        if result.is_some() {
            break;
        }
    }
    let data = result.ok_or_else(|| {
        bad("too many symbols lost: the report cannot be rebuilt from what is left and the sidecar")
    })?;
    if Sha256::digest(&data).as_slice() != car.sha256 {
        return Err(bad("rebuilt report does not match the sidecar's SHA-256"));
    }
    Ok(data)
}

/// The report, rebuilt from a possibly damaged copy (any length; symbols
/// whose digest no longer matches are dropped) and its sidecar.
pub fn repair(damaged: &[u8], sidecar: &[u8]) -> Result<Vec<u8>> {
    let car = parse(sidecar)?;
    let mut copy = damaged.to_vec();
    copy.resize(car.len, 0);
    let kept: Vec<EncodingPacket> = source_packets(&copy, car.config)
        .into_iter()
        .zip(&car.digests)
        .filter(|(p, d)| digest(p) == **d)
        .map(|(p, _)| p)
        .collect();
    rebuild(&car, kept)
}

/// The decode proof of one report and sidecar.
#[derive(Clone, Debug)]
pub struct Proof {
    pub report_sha256: String,
    pub rebuilt_sha256: String,
    pub source_symbols: usize,
    pub repair_symbols: usize,
    pub dropped_share: f64,
    pub dropped_symbols: Vec<usize>,
    pub seed: u64,
    pub matched: bool,
}

impl Proof {
    pub fn to_json(&self) -> Value {
        json!({
            "report_sha256": self.report_sha256,
            "rebuilt_sha256": self.rebuilt_sha256,
            "symbol_bytes": SYMBOL_BYTES,
            "source_symbols": self.source_symbols,
            "repair_symbols": self.repair_symbols,
            "dropped_share": self.dropped_share,
            "dropped_count": self.dropped_symbols.len(),
            "dropped_symbols": self.dropped_symbols,
            "seed": self.seed,
            "match": self.matched,
        })
    }
}

/// Drops `share` of the report's source symbols (a shuffle seeded by
/// `seed` picks which), rebuilds the report from the rest and the
/// sidecar, and compares hashes.
pub fn prove(report: &[u8], sidecar: &[u8], share: f64, seed: u64) -> Result<Proof> {
    if !(0.0..=1.0).contains(&share) {
        return Err(bad(format!("dropped share must be in [0, 1], got {share}")));
    }
    let car = parse(sidecar)?;
    let source = source_packets(report, car.config);
    let k = source.len();
    let mut order: Vec<usize> = (0..k).collect();
    // Fisher-Yates with the seeded generator: reproducible from the seed.
    let mut g = ft_core::Generator::new(seed);
    let mut next = || g.next_u64();
    for i in (1..k).rev() {
        order.swap(i, (next() % (i as u64 + 1)) as usize);
    }
    let mut dropped: Vec<usize> = order[..((k as f64 * share).round() as usize).min(k)].to_vec();
    dropped.sort_unstable();
    let kept: Vec<EncodingPacket> = source
        .into_iter()
        .enumerate()
        .filter(|(i, _)| dropped.binary_search(i).is_err())
        .map(|(_, p)| p)
        .collect();
    let rebuilt = rebuild(&car, kept)?;
    let (a, b) = (sha256_hex(report), sha256_hex(&rebuilt));
    Ok(Proof {
        matched: a == b && rebuilt == report,
        report_sha256: a,
        rebuilt_sha256: b,
        source_symbols: k,
        repair_symbols: car.repair.len(),
        dropped_share: share,
        dropped_symbols: dropped,
        seed,
    })
}

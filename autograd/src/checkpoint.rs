//! Checkpoints as safetensors files (the `safetensors` crate): the format
//! PyTorch (`safetensors.torch.save_file` / `load_file`) and the Hugging
//! Face ecosystem read and write. Files written here carry metadata with a
//! format version and a SHA-256 of their content, both checked on load.
//! [`from_bytes`] / [`load`] also read files without them (written by
//! PyTorch or another program), which nothing can verify;
//! [`from_bytes_verified`] / [`load_verified`] refuse such files, and are
//! the loaders to use for checkpoints this library wrote. Metadata that is
//! ours but damaged (a key a few edits away from ours, or our hash under
//! another key) is an error in both, not a foreign file.
//!
//! A truncated, corrupt, wrong-dtype, overlapping-offset or
//! hash-mismatched file is an `Err` naming what is wrong, never a panic:
//! the header's length and every tensor's offsets are validated against
//! the file's real size before anything is allocated from them. In
//! `Hardened` mode a floating-point tensor with NaN or infinity is refused
//! too.
//!
//! ```
//! use ft_autograd::checkpoint;
//! # use ft_dispatch::Tensor;
//! let w = Tensor::from_slice(&[1.0f32, 2.0, 3.0, 4.0], &[2, 2])?;
//! let bytes = checkpoint::to_bytes(&[("w".to_string(), w)])?;
//! let back = checkpoint::from_bytes(&bytes)?;
//! assert_eq!(back[0].0, "w");
//! assert_eq!(back[0].1.to_vec::<f32>()?, vec![1.0, 2.0, 3.0, 4.0]);
//! let mut bad = bytes.clone();
//! *bad.last_mut().unwrap() ^= 1; // one flipped bit in the data
//! let err = checkpoint::from_bytes(&bad).unwrap_err();
//! assert!(err.message().contains("content hash"));
//! # Ok::<(), ft_core::Error>(())
//! ```

#[cfg(target_endian = "big")]
compile_error!("safetensors data is little-endian; big-endian targets need a byte swap here");

use ft_core::{DType, Error, ErrorKind, Result, TensorImpl};
use ft_dispatch::{Mode, Tensor};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::Path;

/// The version written into (and required of) FrankenTorch's files.
pub const FORMAT_VERSION: &str = "1";
/// Metadata key of the format version.
pub const VERSION_KEY: &str = "frankentorch_format_version";
/// Metadata key of the content hash (hex SHA-256).
pub const HASH_KEY: &str = "frankentorch_content_sha256";

fn err(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::Value, msg)
}

fn st_dtype(d: DType) -> Dtype {
    match d {
        DType::Bool => Dtype::BOOL,
        DType::U8 => Dtype::U8,
        DType::I32 => Dtype::I32,
        DType::I64 => Dtype::I64,
        DType::F16 => Dtype::F16,
        DType::BF16 => Dtype::BF16,
        DType::F32 => Dtype::F32,
        DType::F64 => Dtype::F64,
    }
}

fn our_dtype(d: Dtype, name: &str) -> Result<DType> {
    Ok(match d {
        Dtype::BOOL => DType::Bool,
        Dtype::U8 => DType::U8,
        Dtype::I32 => DType::I32,
        Dtype::I64 => DType::I64,
        Dtype::F16 => DType::F16,
        Dtype::BF16 => DType::BF16,
        Dtype::F32 => DType::F32,
        Dtype::F64 => DType::F64,
        other => {
            return Err(Error::new(
                ErrorKind::DType,
                format!(
                    "checkpoint tensor '{name}' has dtype {other:?}, which FrankenTorch does not support"
                ),
            ));
        }
    })
}

/// The row-major bytes of a tensor (little-endian).
fn bytes_of(t: &TensorImpl) -> Result<Vec<u8>> {
    Ok(match t.dtype() {
        DType::Bool => t.to_vec::<bool>()?.into_iter().map(u8::from).collect(),
        DType::U8 => t.to_vec::<u8>()?,
        DType::I32 => bytemuck::cast_slice(&t.to_vec::<i32>()?).to_vec(),
        DType::I64 => bytemuck::cast_slice(&t.to_vec::<i64>()?).to_vec(),
        DType::F16 => bytemuck::cast_slice(&t.to_vec::<half::f16>()?).to_vec(),
        DType::BF16 => bytemuck::cast_slice(&t.to_vec::<half::bf16>()?).to_vec(),
        DType::F32 => bytemuck::cast_slice(&t.to_vec::<f32>()?).to_vec(),
        DType::F64 => bytemuck::cast_slice(&t.to_vec::<f64>()?).to_vec(),
    })
}

/// Elements from little-endian bytes (any alignment; the length is a
/// multiple of the element size, validated by the header check).
fn collect<T: bytemuck::Pod>(data: &[u8]) -> Vec<T> {
    let n = data.len() / std::mem::size_of::<T>();
    let mut v = vec![T::zeroed(); n];
    bytemuck::cast_slice_mut::<T, u8>(&mut v)
        .copy_from_slice(&data[..n * std::mem::size_of::<T>()]);
    v
}

/// A tensor from validated bytes (their length is `numel * size`).
fn tensor_from(dtype: DType, shape: &[usize], data: &[u8], name: &str) -> Result<TensorImpl> {
    Ok(match dtype {
        DType::Bool => {
            if let Some(b) = data.iter().find(|&&b| b > 1) {
                return Err(err(format!(
                    "checkpoint tensor '{name}' is bool but holds the byte {b}"
                )));
            }
            let v: Vec<bool> = data.iter().map(|&b| b == 1).collect();
            TensorImpl::from_vec(v, shape)?
        }
        DType::U8 => TensorImpl::from_slice(data, shape)?,
        DType::I32 => TensorImpl::from_vec(collect::<i32>(data), shape)?,
        DType::I64 => TensorImpl::from_vec(collect::<i64>(data), shape)?,
        DType::F16 => TensorImpl::from_vec(collect::<half::f16>(data), shape)?,
        DType::BF16 => TensorImpl::from_vec(collect::<half::bf16>(data), shape)?,
        DType::F32 => TensorImpl::from_vec(collect::<f32>(data), shape)?,
        DType::F64 => TensorImpl::from_vec(collect::<f64>(data), shape)?,
    })
}

/// SHA-256 over every tensor in name order: name, dtype, shape, bytes,
/// each length-prefixed so that no two contents hash alike by shifting a
/// boundary.
fn content_hash<'a>(
    items: impl IntoIterator<Item = (&'a str, DType, &'a [usize], &'a [u8])>,
) -> String {
    let mut v: Vec<_> = items.into_iter().collect();
    v.sort_by(|a, b| a.0.cmp(b.0));
    let mut h = Sha256::new();
    for (name, dtype, shape, data) in v {
        h.update((name.len() as u64).to_le_bytes());
        h.update(name.as_bytes());
        h.update(dtype.name().as_bytes());
        h.update([0u8]);
        h.update((shape.len() as u64).to_le_bytes());
        for &d in shape {
            h.update((d as u64).to_le_bytes());
        }
        h.update((data.len() as u64).to_le_bytes());
        h.update(data);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The safetensors bytes of named tensors, with FrankenTorch's metadata.
/// Duplicate names are an error.
pub fn to_bytes(tensors: &[(String, Tensor)]) -> Result<Vec<u8>> {
    let mut prepared: Vec<(&str, DType, Vec<usize>, Vec<u8>)> = Vec::with_capacity(tensors.len());
    for (name, t) in tensors {
        if prepared.iter().any(|p| p.0 == name) {
            return Err(err(format!(
                "checkpoint: tensor name '{name}' appears twice"
            )));
        }
        prepared.push((name, t.dtype(), t.shape().to_vec(), bytes_of(t.data())?));
    }
    let hash = content_hash(
        prepared
            .iter()
            .map(|p| (p.0, p.1, p.2.as_slice(), p.3.as_slice())),
    );
    let mut views = Vec::with_capacity(prepared.len());
    for (name, dtype, shape, data) in &prepared {
        let v = TensorView::new(st_dtype(*dtype), shape.clone(), data)
            .map_err(|e| err(format!("checkpoint: tensor '{name}': {e}")))?;
        views.push((*name, v));
    }
    let meta = HashMap::from([
        ("format".to_string(), "pt".to_string()),
        (VERSION_KEY.to_string(), FORMAT_VERSION.to_string()),
        (HASH_KEY.to_string(), hash),
    ]);
    safetensors::serialize(views, Some(meta)).map_err(|e| err(format!("checkpoint: {e}")))
}

/// Named tensors from safetensors bytes, every check done (see the module
/// documentation). In the file's order of offsets. A file without
/// FrankenTorch's metadata (one PyTorch wrote) loads unverified; use
/// [`from_bytes_verified`] where only our own checkpoints are expected.
pub fn from_bytes(bytes: &[u8]) -> Result<Vec<(String, Tensor)>> {
    decode(bytes, false)
}

/// Like [`from_bytes`], but a file without FrankenTorch's content hash is
/// an error: every tensor it returns is the one that was saved.
///
/// ```
/// use ft_autograd::checkpoint;
/// # use ft_dispatch::Tensor;
/// let w = Tensor::from_slice(&[1.0f32, 2.0], &[2])?;
/// let bytes = checkpoint::to_bytes(&[("w".to_string(), w)])?;
/// assert!(checkpoint::from_bytes_verified(&bytes).is_ok());
/// // A file another program wrote, with no metadata: loads, unverified,
/// // with from_bytes only.
/// let header = r#"{"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}"#;
/// let mut foreign = (header.len() as u64).to_le_bytes().to_vec();
/// foreign.extend(header.as_bytes());
/// foreign.push(7);
/// assert!(checkpoint::from_bytes(&foreign).is_ok());
/// let err = checkpoint::from_bytes_verified(&foreign).unwrap_err();
/// assert!(err.message().contains("no FrankenTorch content hash"));
/// # Ok::<(), ft_core::Error>(())
/// ```
pub fn from_bytes_verified(bytes: &[u8]) -> Result<Vec<(String, Tensor)>> {
    decode(bytes, true)
}

/// At most `limit` single-character edits (Levenshtein) apart.
fn within_edits(a: &str, b: &str, limit: usize) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len().abs_diff(b.len()) > limit {
        return false;
    }
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, &ca) in a.iter().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let next = (diag + usize::from(ca != cb))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            diag = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()] <= limit
}

/// Our metadata, damaged: a key a few edits from one of ours (and not
/// ours), or a value shaped like our hash under another key. Such a file
/// must not pass as a foreign one and skip the hash check.
fn damaged_metadata(meta: &HashMap<String, String>) -> Option<String> {
    let has_hash = meta.contains_key(HASH_KEY);
    for (k, v) in meta {
        if k == VERSION_KEY || k == HASH_KEY {
            continue;
        }
        if within_edits(k, VERSION_KEY, 3) || within_edits(k, HASH_KEY, 3) {
            return Some(format!("metadata key '{k}' is a damaged FrankenTorch key"));
        }
        if !has_hash && v.len() == 64 && v.bytes().all(|c| c.is_ascii_hexdigit()) {
            return Some(format!(
                "metadata key '{k}' holds a content hash but the hash key is missing"
            ));
        }
    }
    None
}

fn decode(bytes: &[u8], require_hash: bool) -> Result<Vec<(String, Tensor)>> {
    let st = SafeTensors::deserialize(bytes)
        .map_err(|e| err(format!("checkpoint is not a valid safetensors file: {e}")))?;
    let (_, header) = SafeTensors::read_metadata(bytes)
        .map_err(|e| err(format!("checkpoint is not a valid safetensors file: {e}")))?;
    let meta = header.metadata().clone().unwrap_or_default();
    if let Some(why) = damaged_metadata(&meta) {
        return Err(err(format!(
            "checkpoint metadata is corrupt: {why} (the file was damaged or modified)"
        )));
    }
    if let Some(v) = meta.get(VERSION_KEY)
        && v != FORMAT_VERSION
    {
        return Err(err(format!(
            "checkpoint has format version {v}; this FrankenTorch reads version {FORMAT_VERSION}"
        )));
    }
    // Without our hash a file loads unverified: only one that is not ours
    // (no version either), and only when the caller allows it.
    if !meta.contains_key(HASH_KEY) {
        if meta.contains_key(VERSION_KEY) {
            return Err(err(
                "checkpoint has a FrankenTorch format version but no content hash",
            ));
        }
        if require_hash {
            return Err(err(format!(
                "checkpoint has no FrankenTorch content hash ('{HASH_KEY}' metadata): it was \
                 written by another program or its metadata is damaged, so its content cannot \
                 be verified (from_bytes/load read such files unverified)"
            )));
        }
    }
    let mut raw: Vec<(String, DType, Vec<usize>, &[u8])> = Vec::new();
    let mut names: Vec<String> = header.offset_keys();
    if names.is_empty() {
        names = st.names().iter().map(|s| s.to_string()).collect();
    }
    for name in names {
        let view = st
            .tensor(&name)
            .map_err(|e| err(format!("checkpoint tensor '{name}': {e}")))?;
        let dtype = our_dtype(view.dtype(), &name)?;
        raw.push((name, dtype, view.shape().to_vec(), view.data()));
    }
    if let Some(want) = meta.get(HASH_KEY) {
        let got = content_hash(raw.iter().map(|r| (r.0.as_str(), r.1, r.2.as_slice(), r.3)));
        if &got != want {
            return Err(err(format!(
                "checkpoint content hash mismatch: the file says {want}, its tensors hash to {got} \
                 (the file is corrupt or was modified)"
            )));
        }
    }
    let hardened = ft_dispatch::mode::mode() == Mode::Hardened;
    let mut out = Vec::with_capacity(raw.len());
    for (name, dtype, shape, data) in raw {
        let t = tensor_from(dtype, &shape, data, &name)?;
        if hardened && dtype.is_floating_point() && t.to_vec_f64()?.iter().any(|v| !v.is_finite()) {
            return Err(err(format!(
                "Hardened mode refused checkpoint tensor '{name}': it holds NaN or infinity"
            )));
        }
        out.push((name, Tensor::from(t)));
    }
    Ok(out)
}

/// Writes named tensors to `path` (see [`to_bytes`]).
pub fn save(path: impl AsRef<Path>, tensors: &[(String, Tensor)]) -> Result<()> {
    let bytes = to_bytes(tensors)?;
    std::fs::write(path.as_ref(), bytes).map_err(|e| {
        err(format!(
            "checkpoint: cannot write {}: {e}",
            path.as_ref().display()
        ))
    })
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| err(format!("checkpoint: cannot read {}: {e}", path.display())))
}

/// Reads named tensors from `path` (see [`from_bytes`]).
pub fn load(path: impl AsRef<Path>) -> Result<Vec<(String, Tensor)>> {
    from_bytes(&read(path.as_ref())?)
}

/// Reads named tensors from `path`, requiring FrankenTorch's content hash
/// (see [`from_bytes_verified`]).
pub fn load_verified(path: impl AsRef<Path>) -> Result<Vec<(String, Tensor)>> {
    from_bytes_verified(&read(path.as_ref())?)
}

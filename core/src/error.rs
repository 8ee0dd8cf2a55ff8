//! The one error type of FrankenTorch. Messages follow PyTorch's wording so
//! that a user who knows PyTorch recognises them, and so the conformance
//! suite can match them against PyTorch's own.

use crate::dtype::DType;
use std::fmt;

/// The class of an error: stable, matchable, and what the conformance
/// fixtures name (PyTorch raises most of these as `RuntimeError`,
/// `IndexError` or `ValueError`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// A shape that does not fit the data or the op (PyTorch: RuntimeError).
    Shape,
    /// A dimension or index out of range (PyTorch: IndexError).
    Index,
    /// An element count or byte size that overflows.
    Overflow,
    /// A dtype the op does not accept, or a mismatch between operands.
    DType,
    /// A device that cannot execute here, or a mismatch between devices.
    Device,
    /// An argument whose value is not allowed (PyTorch: ValueError/RuntimeError).
    Value,
    /// Storage that is borrowed in a way that forbids the access asked for.
    Borrow,
    /// Memory could not be allocated.
    Alloc,
    /// A feature that this build does not provide.
    Unsupported,
}

/// An error with its class and a PyTorch-like message.
///
/// One pointer wide: every `Result<()>` of the library is returned in a
/// register, and a `Result<T>` is no wider than `T` needs. With the kind and
/// the message inline (32 bytes), each fallible call returned through the
/// stack, and callers reloaded the result in 16-byte pieces the callee had
/// stored in 8-byte ones: stalled loads on the path of every small op
/// (`perf-artifacts/autograd-v3-in-place.md`). Errors are rare; the box is
/// paid only when one is made.
#[derive(Clone, PartialEq, Eq)]
pub struct Error(Box<Inner>);

#[derive(Clone, PartialEq, Eq)]
struct Inner {
    kind: ErrorKind,
    message: String,
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.0.kind)
            .field("message", &self.0.message)
            .finish()
    }
}

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error(Box::new(Inner {
            kind,
            message: message.into(),
        }))
    }

    pub fn kind(&self) -> ErrorKind {
        self.0.kind
    }

    pub fn message(&self) -> &str {
        &self.0.message
    }

    pub(crate) fn shape(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Shape, message)
    }

    pub(crate) fn value(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Value, message)
    }

    /// PyTorch's `maybe_wrap_dim` message.
    pub fn dim_out_of_range(dim: isize, ndim_for_wrap: usize) -> Self {
        let n = ndim_for_wrap as isize;
        Self::new(
            ErrorKind::Index,
            format!(
                "Dimension out of range (expected to be in range of [{}, {}], but got {dim})",
                -n,
                n - 1
            ),
        )
    }

    /// The element count or byte size of a shape does not fit in `isize`.
    pub fn overflow(shape: &[usize], what: &str) -> Self {
        Self::new(
            ErrorKind::Overflow,
            format!("{what} of a tensor of shape {} overflows", fmt_shape(shape)),
        )
    }

    /// PyTorch's "expected scalar type Float but found Double".
    pub fn dtype_mismatch(expected: DType, found: DType) -> Self {
        Self::new(
            ErrorKind::DType,
            format!(
                "expected scalar type {} but found {}",
                expected.scalar_type_name(),
                found.scalar_type_name()
            ),
        )
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.message)
    }
}

impl std::error::Error for Error {}

/// Result with FrankenTorch's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Formats a shape as PyTorch prints sizes: `[2, 5]`.
pub fn fmt_shape<T: fmt::Display>(shape: &[T]) -> String {
    let mut s = String::from("[");
    for (i, d) in shape.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        s.push_str(&d.to_string());
    }
    s.push(']');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_is_one_pointer_wide() {
        assert_eq!(size_of::<Error>(), size_of::<usize>());
        assert_eq!(size_of::<Result<()>>(), size_of::<usize>());
        let e = Error::new(ErrorKind::Shape, "bad");
        assert_eq!((e.kind(), e.message()), (ErrorKind::Shape, "bad"));
        assert_eq!(format!("{e:?}"), "Error { kind: Shape, message: \"bad\" }");
    }

    #[test]
    fn dim_message_matches_pytorch() {
        assert_eq!(
            Error::dim_out_of_range(2, 2).to_string(),
            "Dimension out of range (expected to be in range of [-2, 1], but got 2)"
        );
    }

    #[test]
    fn shapes_print_like_pytorch() {
        assert_eq!(fmt_shape::<usize>(&[]), "[]");
        assert_eq!(fmt_shape(&[2, 5]), "[2, 5]");
    }
}

//! The error messages container runtimes and kubelet wrap around a CNI plugin's error.
use crate::facts::Facts;

/// Reads a runtime/kubelet CNI error message into `facts`; returns whether it was one.
#[allow(dead_code)]
pub(crate) fn read(_text: &str, _facts: &mut Facts) -> bool {
    false
}

//! Heap storage for the BPF object the skeleton borrows.
//!
//! libbpf-rs skeletons borrow the memory their object lives in
//! (`SkelBuilder::open(&mut MaybeUninit<OpenObject>)`), while `Probes` must
//! own both. The storage is a heap allocation reached only through a raw
//! pointer, so moving `Probes` never moves or retags it; the skeleton drops
//! the object in place, and this type only frees the memory afterwards.

use std::mem::MaybeUninit;
use std::ptr::NonNull;

use libbpf_rs::OpenObject;

pub(crate) struct ObjectStorage(NonNull<MaybeUninit<OpenObject>>);

// SAFETY: the allocation is owned exclusively by this value, like a Box, and
// `OpenObject` (which libbpf-rs declares `Send`) is the only thing in it.
unsafe impl Send for ObjectStorage {}

impl ObjectStorage {
    pub(crate) fn new() -> Self {
        Self(NonNull::from(Box::leak(Box::new(MaybeUninit::uninit()))))
    }

    /// The memory, for the skeleton to open the object in.
    ///
    /// # Safety
    ///
    /// Call it once, and drop whatever borrows the result before `self`.
    pub(crate) unsafe fn object(&self) -> &'static mut MaybeUninit<OpenObject> {
        // SAFETY: the pointer came from a live Box and, per this function's
        // contract, is handed out once and not used after `self` drops.
        unsafe { &mut *self.0.as_ptr() }
    }
}

impl Drop for ObjectStorage {
    fn drop(&mut self) {
        // SAFETY: the pointer came from `Box::leak` in `new`, and whatever
        // borrowed it has been dropped (the contract of `object`). The
        // skeleton already dropped the object in place; MaybeUninit frees the
        // memory without dropping its content again.
        drop(unsafe { Box::from_raw(self.0.as_ptr()) });
    }
}

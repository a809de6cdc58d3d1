// SPDX-License-Identifier: GPL-2.0

//! Counted references to a module, for objects that must keep their module loaded while they
//! exist but are not reachable from any file or dma-buf the kernel already counts.

use kernel::{bindings, ThisModule};

/// A reference to a module (`__module_get`), dropped with `module_put`.
///
/// Drop it only from code that cannot be the last thing standing between the module and its
/// unloading: a work item of a queue the module destroys on exit, a callback the module's own
/// file or dma-buf keeps pinned, or a caller that holds another reference.
///
/// # Invariants
///
/// `module` is a live module on which this value holds one reference.
pub(crate) struct ModuleRef {
    module: *mut bindings::module,
}

// SAFETY: Module references may be taken and dropped from any thread.
unsafe impl Send for ModuleRef {}
// SAFETY: `&ModuleRef` gives access to nothing.
unsafe impl Sync for ModuleRef {}

impl ModuleRef {
    /// Takes a reference to `module`, which is live because the caller runs in it.
    pub(crate) fn new(module: &'static ThisModule) -> Self {
        let module = module.as_ptr();
        // SAFETY: The module is live (this code is part of it and runs), so taking another
        // reference with `__module_get` is allowed.
        unsafe { bindings::__module_get(module) };
        // INVARIANT: Reference taken above.
        Self { module }
    }
}

impl Drop for ModuleRef {
    fn drop(&mut self) {
        // SAFETY: This value holds one reference by the type invariant.
        unsafe { bindings::module_put(self.module) };
    }
}

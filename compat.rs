// SPDX-License-Identifier: GPL-2.0

//! What differs between the kernel series circbuf supports, 7.2 and 7.3,
//! behind one name each. `Kbuild` passes `--cfg circbuf_linux_7_2` when
//! building against 7.2; everything else in the driver is the same source
//! for both.

use kernel::{bindings, module_param::ModuleParamAccess};

/// The current value of a module parameter.
#[cfg(not(circbuf_linux_7_2))]
pub(crate) fn parameter<T: Copy>(param: &ModuleParamAccess<T>) -> T {
    param.value()
}

/// The current value of a module parameter (7.2's `value()` lends it).
#[cfg(circbuf_linux_7_2)]
pub(crate) fn parameter<T: Copy>(param: &ModuleParamAccess<T>) -> T {
    *param.value()
}

/// The `struct module` of circbuf, for the `owner` of its file operations.
#[cfg(not(circbuf_linux_7_2))]
pub(crate) const fn this_module() -> *mut bindings::module {
    kernel::module::this_module::<crate::LocalModule>().as_ptr()
}

/// The `struct module` of circbuf, for the `owner` of its file operations
/// (7.2's `module!` makes it a static of the crate root).
#[cfg(circbuf_linux_7_2)]
pub(crate) const fn this_module() -> *mut bindings::module {
    crate::THIS_MODULE.as_ptr()
}

/// `FIONREAD`, from the kernel's bindings.
#[cfg(not(circbuf_linux_7_2))]
pub(crate) const FIONREAD: u32 = bindings::FIONREAD;

/// `FIONREAD`: 7.2's bindings do not take in `<asm/ioctls.h>`. The value is
/// asm-generic's, which `build_checks.c` holds the 7.2 headers to.
#[cfg(circbuf_linux_7_2)]
pub(crate) const FIONREAD: u32 = 0x541B;

/// A full memory barrier between CPUs, `smp_mb()`.
#[cfg(not(circbuf_linux_7_2))]
pub(crate) fn full_barrier() {
    kernel::sync::barrier::smp_mb(kernel::sync::barrier::Full);
}

/// A full memory barrier between CPUs, `smp_mb()` (7.2's takes no ordering).
#[cfg(circbuf_linux_7_2)]
pub(crate) fn full_barrier() {
    kernel::sync::barrier::smp_mb();
}

/// Waits until every RCU reader that started before has finished.
#[cfg(not(circbuf_linux_7_2))]
pub(crate) fn synchronize_rcu() {
    kernel::sync::rcu::synchronize_rcu();
}

/// Waits until every RCU reader that started before has finished (7.2's
/// Rust has no binding of its own).
#[cfg(circbuf_linux_7_2)]
pub(crate) fn synchronize_rcu() {
    // SAFETY: Called from process context (the wait queue's drop), where
    // sleeping is allowed; the function has no other requirement.
    unsafe { bindings::synchronize_rcu() };
}

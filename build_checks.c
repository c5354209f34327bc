// SPDX-License-Identifier: GPL-2.0
/*
 * Compile-time checks of the values circbuf's Rust code restates because
 * bindgen cannot evaluate their C definitions. Nothing here is linked into
 * the module: if the kernel's headers disagree, the build stops.
 */
#include <linux/build_bug.h>
#include <linux/fs.h>
#include <linux/version.h>
#include <asm/ioctls.h>

/* fileops.rs: IOCB_NOWAIT */
static_assert(IOCB_NOWAIT == 0x8, "update IOCB_NOWAIT in fileops.rs");

/* fileops.rs: FMODE_NOWAIT */
static_assert(FMODE_NOWAIT == (__force fmode_t)(1 << 27), "update FMODE_NOWAIT in fileops.rs");

#if LINUX_VERSION_CODE < KERNEL_VERSION(7, 3, 0)
/* compat.rs: FIONREAD, which 7.2's Rust bindings lack */
static_assert(FIONREAD == 0x541B, "update FIONREAD in compat.rs");
#endif

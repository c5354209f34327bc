# SPDX-License-Identifier: GPL-2.0
#
# Out-of-tree build of circbuf.ko with the kernel's own Kbuild rules.
#
#   make                       build against the running kernel
#   make KDIR=/path/to/tree    build against another CONFIG_RUST kernel tree
#   make LLVM=-19              pass the LLVM suffix the tree was built with
#   make MO=/abs/dir           put the objects in another directory
#   make rustdoc               the driver's rustdoc, in $(MO or .)/doc/circbuf/
#   make install               install the module (depmod included), the udev
#                              rule, and the "circbuf" group it names
#   make demo                  build the test kernel, boot it, show circbuf at work
#   make check                 run the whole test suite
KDIR ?= /lib/modules/$(shell uname -r)/build
KBUILD_ARGS := -C $(KDIR) M=$(CURDIR) CONFIG_CIRCBUF=m \
	$(if $(LLVM),LLVM=$(LLVM)) $(if $(MO),MO=$(MO))

.PHONY: all modules clean install rustdoc demo check
all modules:
	$(MAKE) $(KBUILD_ARGS) modules

# INSTALL_MOD_PATH and DESTDIR stage an installation under another root.
install: modules
	$(MAKE) $(KBUILD_ARGS) modules_install
	install -D -m 0644 udev/70-circbuf.rules $(DESTDIR)/etc/udev/rules.d/70-circbuf.rules
	$(if $(DESTDIR),,getent group circbuf >/dev/null || groupadd --system circbuf)

rustdoc: modules
	tools/rustdoc $(or $(MO),$(CURDIR)) $(or $(MO),$(CURDIR))/doc

clean:
	$(MAKE) $(KBUILD_ARGS) clean

demo:
	tools/demo

check:
	tools/check

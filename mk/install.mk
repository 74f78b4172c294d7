# make install, tested: included by the root Makefile.
#
#   install-test  `make install PREFIX=` a scratch folder, then examples/c built against it with
#                 find_package and pkg-config, and the installed CLI's version
#                 (tests/install/make_install.sh)
.PHONY: install-test

install-test:
	@tests/install/make_install.sh

test: install-test

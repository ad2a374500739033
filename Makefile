# pam_nis2 - top-level Makefile.
#
#   make                 build/ : nis2ctl, nis2-broker, pam_nis2.so, libnis2.a
#   make SANITIZE=1      the same under ASan+UBSan, into build-asan/
#   make check           install missing Debian packages (as root), build,
#                        run every suite; ends with
#                        "N passed, N failed, N skipped"
#   make demo | bench | install | uninstall | clean | format | format-check
#   make deb             Debian package into $(BUILD)/deb/ (debian/, needs
#                        debhelper; fetches the web player: docs/packaging.md)

PREFIX ?= /usr/local
DESTDIR ?=
SANITIZE ?= 0
PKG_CONFIG ?= pkg-config
SYSCONFDIR ?= /etc
SBINDIR ?= $(PREFIX)/sbin
DOCDIR ?= $(PREFIX)/share/doc/pam_nis2
# systemd reads units from /usr/local/lib/systemd/system too; the Debian
# package sets /lib/systemd/system.
UNITDIR ?= $(PREFIX)/lib/systemd/system
CFLAGS ?= -O2 -g
# V=1 shows the full compiler command lines.
V ?= 0
ifeq ($(V),1)
Q :=
say := @true
else
Q := @
say := @printf '  %-6s %s\n'
endif

# BUILD=DIR puts everything in DIR (DIR-asan with SANITIZE=1), so that
# several trees can build and test side by side.
BUILD ?= build
ifeq ($(SANITIZE),1)
B := $(BUILD)-asan
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer \
            -fno-sanitize-recover=undefined
else
B := $(BUILD)
SANFLAGS :=
endif

LIB_PKGS := inih json-c libcrypto liboath libqrencode ldap libfido2
PAM_PKGS := pam
BROKER_PKGS := libssh
TEST_PKGS := cmocka

pc = $(shell $(PKG_CONFIG) $(1) $(2) 2>/dev/null)
PAMDIR ?= $(call pc,--variable=libdir,pam)/security

WARN := -Wall -Wextra -Werror -Wformat=2 -Wshadow -Wstrict-prototypes \
        -Wmissing-prototypes -Wno-unused-parameter
CPPFLAGS_ALL := -D_GNU_SOURCE -Ilib -DNIS2_SYSCONFDIR='"$(SYSCONFDIR)"'
CFLAGS_ALL := -std=gnu11 $(WARN) -fPIC -MMD -MP $(SANFLAGS) $(CFLAGS) \
              $(call pc,--cflags,$(LIB_PKGS) $(PAM_PKGS))
LDFLAGS_ALL := $(SANFLAGS) -Wl,-z,relro,-z,now $(LDFLAGS)
LIB_LIBS := $(call pc,--libs,$(LIB_PKGS))

LIB_SRCS := $(sort $(wildcard lib/*.c))
CTL_SRCS := $(sort $(wildcard nis2ctl/*.c))
BROKER_SRCS := $(sort $(wildcard broker/*.c))
PAM_SRCS := $(sort $(wildcard pam_nis2/*.c))
UNIT_SRCS := $(sort $(wildcard tests/unit/test_*.c))
TOOL_SRCS := $(sort $(wildcard tests/tools/*.c))
# Test-only code linked into test builds, never into libnis2 or a program.
TEST_SUPPORT_SRCS := $(sort $(wildcard tests/support/*.c))
FUZZ_SRCS := $(sort $(wildcard tests/fuzz/fuzz_*.c))

obj = $(patsubst %.c,$(B)/obj/%.o,$(1))
LIB_OBJS := $(call obj,$(LIB_SRCS))
CTL_OBJS := $(call obj,$(CTL_SRCS))
BROKER_OBJS := $(call obj,$(BROKER_SRCS))
PAM_OBJS := $(call obj,$(PAM_SRCS))
TESTUTIL_OBJ := $(call obj,tests/unit/testutil.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(B)/tests/%,$(UNIT_SRCS))
TEST_SUPPORT_OBJS := $(call obj,$(TEST_SUPPORT_SRCS))
SOFT_OBJ := $(call obj,tests/support/fido2_soft.c)
# The test builds of nis2ctl and pam_nis2.so: the production objects plus
# the software FIDO2 authenticator (it registers device kind "soft").
FIDO2TEST_BINS := $(B)/tools/nis2ctl-fido2test $(B)/tools/pam_nis2_fido2test.so
TOOL_BINS := $(patsubst tests/tools/%.c,$(B)/tools/%,$(TOOL_SRCS)) \
             $(FIDO2TEST_BINS)

# nis2-broker offers over SSH the verbs it lists (broker/cmd.c): the
# request verbs, the auditor's tools and kill.  It links those thin
# front-ends and libnis2, nothing of nis2ctl's administrative verbs
# (tests/integration/binaries.sh checks it).
CTL_VERB_OBJS := $(call obj,nis2ctl/ctx.c nis2ctl/cmd_request.c \
                   nis2ctl/cmd_audit_tools.c nis2ctl/cmd_kill.c \
                   nis2ctl/cmd_files.c)

PROGS := $(B)/libnis2.a $(B)/nis2ctl $(B)/nis2-broker $(B)/pam_nis2.so

.PHONY: all tests check deps demo bench install uninstall clean format \
        format-check \
        fuzz _check player deb
.DEFAULT_GOAL := all
# Keep the test objects that pattern rules build on the way.
.SECONDARY:

all: $(PROGS)

$(B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(say) CC $<
	$(Q)$(CC) $(CPPFLAGS_ALL) $(CPPFLAGS) $(CFLAGS_ALL) -c -o $@ $<

$(B)/libnis2.a: $(LIB_OBJS)
	@mkdir -p $(dir $@)
	$(Q)rm -f $@
	$(say) AR $@
	$(Q)$(AR) rcs $@ $^

$(B)/nis2ctl: $(CTL_OBJS) $(B)/libnis2.a
	$(say) LD $@
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $(CTL_OBJS) $(B)/libnis2.a $(LIB_LIBS) \
	    $(call pc,--libs,$(PAM_PKGS))

$(B)/nis2-broker: $(BROKER_OBJS) $(CTL_VERB_OBJS) $(B)/libnis2.a
	$(say) LD $@
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $(BROKER_OBJS) $(CTL_VERB_OBJS) \
	    $(B)/libnis2.a $(LIB_LIBS) \
	    $(call pc,--libs,$(BROKER_PKGS) $(PAM_PKGS)) -lpthread

# Only pam_sm_* leave the module (pam_nis2/pam_nis2.map).
$(B)/pam_nis2.so: $(PAM_OBJS) $(B)/libnis2.a pam_nis2/pam_nis2.map
	$(say) LD $@
	$(Q)$(CC) $(LDFLAGS_ALL) -shared -Wl,--version-script=pam_nis2/pam_nis2.map \
	    -o $@ $(PAM_OBJS) $(B)/libnis2.a $(LIB_LIBS) \
	    $(call pc,--libs,$(PAM_PKGS))

# Unit tests find tests/support/*.h; the ones below link its objects.
$(call obj,$(UNIT_SRCS) tests/unit/testutil.c): CPPFLAGS_ALL += -Itests/support
$(B)/tests/test_fido2 $(B)/tests/test_pam_fido2: $(SOFT_OBJ)

$(B)/tests/%: $(B)/obj/tests/unit/%.o $(TESTUTIL_OBJ) $(B)/libnis2.a
	@mkdir -p $(dir $@)
	$(say) LD $@
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $< $(TESTUTIL_OBJ) \
	    $(filter $(TEST_SUPPORT_OBJS),$^) $(B)/libnis2.a \
	    $(LIB_LIBS) $(call pc,--libs,$(TEST_PKGS) $(PAM_PKGS)) \
	    $(if $(findstring test_pam,$*),$(call pc,--libs,libpamtest)) \
	    -lpthread

# The broker's parsers, linked with its objects (all but main.o).
BROKER_LIB_OBJS := $(filter-out $(B)/obj/broker/main.o,$(BROKER_OBJS))
$(B)/tests/test_broker: $(B)/obj/tests/unit/test_broker.o $(TESTUTIL_OBJ) \
    $(BROKER_LIB_OBJS) $(CTL_VERB_OBJS) $(B)/libnis2.a
	@mkdir -p $(dir $@)
	$(say) LD $@
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $< $(TESTUTIL_OBJ) $(BROKER_LIB_OBJS) \
	    $(CTL_VERB_OBJS) $(B)/libnis2.a $(LIB_LIBS) \
	    $(call pc,--libs,$(TEST_PKGS) $(BROKER_PKGS) $(PAM_PKGS)) -lpthread

$(B)/tools/%: $(B)/obj/tests/tools/%.o $(B)/libnis2.a
	@mkdir -p $(dir $@)
	$(say) LD $@
	$(Q)$(CC) $(LDFLAGS_ALL) $(if $(findstring .so,$*),-shared) -o $@ $< \
	    $(B)/libnis2.a $(LIB_LIBS) $(call pc,--libs,$(PAM_PKGS))

$(B)/tools/nis2ctl-fido2test: $(CTL_OBJS) $(SOFT_OBJ) $(B)/libnis2.a
	@mkdir -p $(dir $@)
	$(say) LD $@
	$(Q)$(CC) $(LDFLAGS_ALL) -o $@ $(CTL_OBJS) $(SOFT_OBJ) $(B)/libnis2.a \
	    $(LIB_LIBS) $(call pc,--libs,$(PAM_PKGS))

$(B)/tools/pam_nis2_fido2test.so: $(PAM_OBJS) $(SOFT_OBJ) $(B)/libnis2.a \
    pam_nis2/pam_nis2.map
	@mkdir -p $(dir $@)
	$(say) LD $@
	$(Q)$(CC) $(LDFLAGS_ALL) -shared -Wl,--version-script=pam_nis2/pam_nis2.map \
	    -o $@ $(PAM_OBJS) $(SOFT_OBJ) $(B)/libnis2.a $(LIB_LIBS) \
	    $(call pc,--libs,$(PAM_PKGS))

tests: all $(UNIT_BINS) $(TOOL_BINS)

# asciinema-player (Apache-2.0) for `nis2ctl export --html`, from the npm
# registry; pinned version, integrity recorded in $(B)/player/VERSION.
player:
	@contrib/fetch-player.sh $(B)/player

# Packages first (as root: installed; otherwise the apt-get line is
# printed), then a fresh make so pkg-config sees what was just installed.
deps:
	@contrib/deps-debian.sh --ensure

check: deps
	@$(MAKE) --no-print-directory _check

_check: tests player
	@NIS2_BUILD_DIR=$(B) SANITIZE=$(SANITIZE) CC="$(CC)" tests/run.sh

demo: deps
	@$(MAKE) --no-print-directory all
	@NIS2_BUILD_DIR=$(B) contrib/demo/demo.sh

bench: deps
	@$(MAKE) --no-print-directory tests
	@NIS2_BUILD_DIR=$(B) tests/bench/run.sh

# The sample config and the PAM service go to SYSCONFDIR only where no file
# is (an existing one is never replaced); the unit names SBINDIR and
# SYSCONFDIR.  Without `make player` first, `nis2ctl export --html` has no
# player: install says so.
install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(SBINDIR) \
	    $(DESTDIR)$(PAMDIR) $(DESTDIR)$(PREFIX)/share/man/man1 \
	    $(DESTDIR)$(PREFIX)/share/man/man5 $(DESTDIR)$(PREFIX)/share/man/man8 \
	    $(DESTDIR)$(DOCDIR)/policies $(DESTDIR)$(UNITDIR) \
	    $(DESTDIR)$(SYSCONFDIR)/pam.d
	install -d -m 0755 $(DESTDIR)$(SYSCONFDIR)/nis2 \
	    $(DESTDIR)$(SYSCONFDIR)/nis2/authorized_keys
	install -m 0755 $(B)/nis2ctl $(DESTDIR)$(PREFIX)/bin/nis2ctl
	install -m 0755 $(B)/nis2-broker $(DESTDIR)$(SBINDIR)/nis2-broker
	install -m 0644 $(B)/pam_nis2.so $(DESTDIR)$(PAMDIR)/pam_nis2.so
	for m in docs/*.1; do [ -f "$$m" ] && install -m 0644 "$$m" \
	    $(DESTDIR)$(PREFIX)/share/man/man1/; done; true
	for m in docs/*.5; do [ -f "$$m" ] && install -m 0644 "$$m" \
	    $(DESTDIR)$(PREFIX)/share/man/man5/; done; true
	for m in docs/*.8; do [ -f "$$m" ] && install -m 0644 "$$m" \
	    $(DESTDIR)$(PREFIX)/share/man/man8/; done; true
	install -m 0644 policies/*.conf policies/README.md \
	    $(DESTDIR)$(DOCDIR)/policies/
	install -d $(DESTDIR)$(DOCDIR)/examples/ldap
	install -m 0644 contrib/pam.d/nis2-broker contrib/nis2.conf.sample \
	    $(DESTDIR)$(DOCDIR)/examples/
	install -m 0755 contrib/notify/nis2-notify-mail \
	    $(DESTDIR)$(DOCDIR)/examples/
	install -m 0644 contrib/ldap/* $(DESTDIR)$(DOCDIR)/examples/ldap/
	sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
	    contrib/systemd/nis2-broker.service.in \
	    >$(DESTDIR)$(UNITDIR)/nis2-broker.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/nis2-broker.service
	[ -e $(DESTDIR)$(SYSCONFDIR)/nis2/nis2.conf ] || install -m 0644 \
	    contrib/nis2.conf.sample $(DESTDIR)$(SYSCONFDIR)/nis2/nis2.conf
	[ -e $(DESTDIR)$(SYSCONFDIR)/pam.d/nis2-broker ] || install -m 0644 \
	    contrib/pam.d/nis2-broker $(DESTDIR)$(SYSCONFDIR)/pam.d/nis2-broker
	if [ -s $(B)/player/asciinema-player.min.js ]; then \
	    install -d $(DESTDIR)$(PREFIX)/share/pam_nis2/player && \
	    install -m 0644 $(B)/player/asciinema-player.min.js \
	        $(B)/player/asciinema-player.css $(B)/player/LICENSE \
	        $(B)/player/VERSION \
	        $(DESTDIR)$(PREFIX)/share/pam_nis2/player/; \
	else echo "install: WARNING: no web player in $(B)/player (run" \
	    "\`make player\` first): \`nis2ctl export --html\` will not work" >&2; \
	fi

# Leaves SYSCONFDIR alone (the config may hold the site's policy).
uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/nis2ctl \
	    $(DESTDIR)$(SBINDIR)/nis2-broker $(DESTDIR)$(PAMDIR)/pam_nis2.so \
	    $(DESTDIR)$(UNITDIR)/nis2-broker.service
	for m in docs/*.1 docs/*.5 docs/*.8; do \
	    [ -f "$$m" ] || continue; s=$${m##*.}; \
	    rm -f $(DESTDIR)$(PREFIX)/share/man/man$$s/$${m##*/}; done
	rm -rf $(DESTDIR)$(DOCDIR) $(DESTDIR)$(PREFIX)/share/pam_nis2

# The Debian package (docs/packaging.md): built from a copy of the tree
# (tracked files, plus a player fetched before) so that dpkg-buildpackage
# writes its files into $(B)/deb/ and never next to the source tree.
deb:
	@contrib/build-deb.sh $(B)/deb $(B)/player

# Every C file of the project, formatted by .clang-format (Debian 12's
# clang-format 14).  `make format-check` (run by .ci/run) fails and names
# the files that `make format` would change.
FORMAT_FILES = $(sort $(wildcard lib/*.[ch] nis2ctl/*.[ch] broker/*.[ch] \
    pam_nis2/*.[ch] tests/*/*.[ch]))

format:
	clang-format -i $(FORMAT_FILES)

format-check:
	@bad=0; for f in $(FORMAT_FILES); do \
	    clang-format --dry-run -Werror "$$f" >/dev/null 2>&1 || \
	        { echo "format-check: $$f is not formatted (make format)"; \
	          bad=1; }; done; \
	[ $$bad -eq 0 ] && echo "format-check: $(words $(FORMAT_FILES)) files formatted"

# libFuzzer harnesses (clang), one binary per tests/fuzz/fuzz_*.c, built
# with the library sources so that the whole parser is instrumented.
FUZZ_BINS := $(patsubst tests/fuzz/%.c,build-fuzz/%,$(FUZZ_SRCS))
FUZZ_CC ?= clang
fuzz: $(FUZZ_BINS)

build-fuzz/%: tests/fuzz/%.c $(LIB_SRCS) $(wildcard lib/*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -g -O1 -fsanitize=fuzzer,address,undefined $(CPPFLAGS_ALL) \
	    -std=gnu11 $(call pc,--cflags,$(LIB_PKGS)) -o $@ $< $(LIB_SRCS) \
	    $(LIB_LIBS)

clean:
	rm -rf build build-asan build-fuzz

-include $(shell find $(B)/obj -name '*.d' 2>/dev/null)

# Entry points; the real build is meson (see README.md).
#   make demo    install missing packages, build, run the end-to-end demo on loopback
#   make check   install missing packages, build twice (normal, ASan+UBSan), run every test,
#                test the Debian packages in containers (DEB=no leaves them out), then boot
#                the Debian guests of tests/vm (VM=no leaves them out), then run the quick part of
#                the Ansible/OSISM plays against QEMU hosts (DEPLOY=no leaves it out)
#   make bench   benchmarks against the reference, results in bench/results/
#   make check-vm  only the VM boot tests: Debian guests under QEMU whose LUKS root Cotter unlocks
#   make check-image  all of cotter-image's tests: build, inspect, two instances booted (first boot,
#                a power cut in the re-key, second boot), Glance upload
#   make deb     Debian packages (debhelper, lintian-checked) in $(DEB_OUT)
#   make check-deb  only the package tests: install, upgrade, purge in clean containers
#   make check-deploy  every deployment test: the Ansible/OSISM plays against QEMU hosts, with the
#                scenarios make check leaves out (purge, backup/restore, replicas, dropbear, removal)
#   make fuzz    libFuzzer on every fuzz target for FUZZ_SECONDS each, in a clang build whose
#                every object is instrumented (build-fuzz); new inputs go to build-fuzz/corpus;
#                then the differential fuzzing against the jose CLI (make fuzz-diff)
#   make fuzz-diff  DIFF_CASES generated JWS/JWE/JWK cases, Cotter against the jose CLI
#   make check-valgrind  the client and server suites with cotter and cotterd under valgrind
#                memcheck (and their cmocka tests): no error, no leak (figures printed)
#   make check-powercut  the full power-cut sweep of LUKS bind/unbind/regen/edit (hours; make
#                check runs the short matrix): POWERCUT_CUTS=mid|full, POWERCUT_TYPES=luks2,luks1
BUILD ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
# every target has its corpus in fuzz/corpus/TARGET
FUZZ_TARGETS ?= $(notdir $(wildcard fuzz/corpus/*))
DIFF_CASES ?= 2000
VM ?= yes
DEB ?= yes
DEPLOY ?= yes
VM_RESULTS ?= $(BUILD)/vmtest.txt
DEB_OUT ?= build-deb
DEB_RESULTS ?= $(BUILD)/debtest.txt
DEPLOY_RESULTS ?= $(BUILD)/deploytest.txt
IMAGE ?= yes
IMAGE_RESULTS ?= $(BUILD)/imagetest.txt
# make check runs the image tests that boot nothing (about 7 min with a warm package cache; the
# boots take 40 min more under TCG): IMAGE=full runs them all there too, as make check-image does.
IMAGE_CHECK_TESTS ?= cli build inspect upload
MESON_TEST_FLAGS ?= --print-errorlogs --timeout-multiplier 2
export ASAN_OPTIONS ?= detect_leaks=1:abort_on_error=0:strict_string_checks=1
export UBSAN_OPTIONS ?= halt_on_error=1:print_stacktrace=1

.PHONY: all deps deps-vm deps-deb deps-deploy deps-fuzz deps-image build build-asan build-fuzz check \
	check-vm check-deb check-deploy check-image deb demo bench fuzz fuzz-diff clean check-valgrind \
	check-powercut

all: build

deps:
	sh scripts/install-deps.sh

deps-vm:
	sh scripts/install-deps.sh vm

deps-deb:
	sh scripts/install-deps.sh deb

deps-deploy:
	sh scripts/install-deps.sh deploy

deps-fuzz:
	sh scripts/install-deps.sh fuzz

deps-image:
	sh scripts/install-deps.sh image

$(BUILD)/build.ninja:
	meson setup $(BUILD)

$(ASAN_BUILD)/build.ninja:
	meson setup $(ASAN_BUILD) -Db_sanitize=address,undefined -Db_lundef=false -Dfault_injection=true

$(FUZZ_BUILD)/build.ninja:
	CC=clang meson setup $(FUZZ_BUILD) -Dfuzzing=true -Db_sanitize=address,undefined -Db_lundef=false

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

build-asan: deps $(ASAN_BUILD)/build.ninja
	ninja -C $(ASAN_BUILD)

# Only the fuzz targets (and the module they load): the rest of the tree is not built by clang.
build-fuzz: deps-fuzz $(FUZZ_BUILD)/build.ninja
	ninja -C $(FUZZ_BUILD) $(addprefix fuzz/fuzz-,$(FUZZ_TARGETS)) lib/cotter/pin-tpm2.so

# Every suite always runs; the summary line counts them all and decides the exit status. The
# package tests (tests/debian/check.sh: install, upgrade, purge of the .debs in containers) run
# after the meson suites, the VM boot tests (tests/vm/check.sh: every scenario for
# initramfs-tools and dracut, the guests installed from the .debs) last, on their own: their
# guests are timed against the console and want the CPU. Then the deployment tests
# (tests/deploy/check.sh quick: the tang and clevis plays, idempotence, one unattended reboot,
# the refusals, the rolling upgrade, the key rotation, lint and lintian; purge, backup, replicas,
# dropbear and the passphrase removal are in check-deploy only). Guest images and
# container bases are cached in /var/cache/cotter-vm, keyed by their inputs. VM=no / DEB=no /
# DEPLOY=no leave those out. Then cotter-image's tests (tests/image/check.sh; here those that
# boot nothing, see IMAGE_CHECK_TESTS), whose packages are cached there too; IMAGE=no leaves
# them out.
SUMMARY_ARGS = $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
CHECK_DEPS = build build-asan build-fuzz
ifneq ($(DEB),no)
SUMMARY_ARGS += --deb $(DEB_RESULTS)
CHECK_DEPS += deps-deb
endif
ifneq ($(VM),no)
SUMMARY_ARGS += --vm $(VM_RESULTS)
CHECK_DEPS += deps-vm
endif
ifneq ($(DEPLOY),no)
SUMMARY_ARGS += --deploy $(DEPLOY_RESULTS)
CHECK_DEPS += deps-deploy
endif
ifneq ($(IMAGE),no)
SUMMARY_ARGS += --image $(IMAGE_RESULTS)
CHECK_DEPS += deps-image
endif
check: $(CHECK_DEPS)
	-meson test -C $(BUILD) $(MESON_TEST_FLAGS)
	-meson test -C $(ASAN_BUILD) $(MESON_TEST_FLAGS)
	-meson test -C $(FUZZ_BUILD) $(MESON_TEST_FLAGS) --no-rebuild --suite fuzz-run
ifneq ($(DEB),no)
	-bash tests/debian/check.sh >$(DEB_RESULTS)
endif
ifneq ($(VM),no)
	-bash tests/vm/check.sh >$(VM_RESULTS)
endif
ifneq ($(DEPLOY),no)
	-bash tests/deploy/check.sh quick >$(DEPLOY_RESULTS)
endif
ifeq ($(IMAGE),full)
	-bash tests/image/check.sh >$(IMAGE_RESULTS)
else ifneq ($(IMAGE),no)
	-bash tests/image/check.sh $(IMAGE_CHECK_TESTS) >$(IMAGE_RESULTS)
endif
	python3 scripts/test-summary.py $(SUMMARY_ARGS)

check-vm: deps-vm
	mkdir -p $(dir $(VM_RESULTS))
	-bash tests/vm/check.sh >$(VM_RESULTS)
	python3 scripts/test-summary.py --vm $(VM_RESULTS)

check-deb: deps-deb
	mkdir -p $(dir $(DEB_RESULTS))
	-bash tests/debian/check.sh >$(DEB_RESULTS)
	python3 scripts/test-summary.py --deb $(DEB_RESULTS)

# Memcheck over the client and server suites: a build of its own where the tests' COTTER and
# COTTERD are valgrind wrappers (-Dvalgrind=true); test failures from the slowdown are shown,
# but the verdict is valgrind-summary.py's (every process clean). The cmocka tests of those
# suites run under memcheck through --wrapper.
VALGRIND_BUILD ?= build-valgrind
VALGRIND = valgrind --quiet --vgdb=no --leak-check=full --show-leak-kinds=definite,indirect,possible \
	--errors-for-leak-kinds=definite,indirect,possible --suppressions=$(CURDIR)/tests/faults/valgrind.supp
check-valgrind: deps
	[ -f $(VALGRIND_BUILD)/build.ninja ] || meson setup $(VALGRIND_BUILD) -Dvalgrind=true
	ninja -C $(VALGRIND_BUILD)
	rm -rf $(VALGRIND_BUILD)/valgrind
	-meson test -C $(VALGRIND_BUILD) --suite client --suite server --no-suite lint \
		--print-errorlogs --timeout-multiplier 10
	mkdir -p $(VALGRIND_BUILD)/valgrind
	-meson test -C $(VALGRIND_BUILD) --print-errorlogs --timeout-multiplier 10 \
		--wrapper '$(VALGRIND) --log-file=$(CURDIR)/$(VALGRIND_BUILD)/valgrind/cmocka.%p.log' \
		sss-math api server-routes-unit
	python3 tests/faults/valgrind-summary.py $(VALGRIND_BUILD)/valgrind

# The full power-cut sweep (tests/faults/powercut.py says what it checks and why).
POWERCUT_CUTS ?= full
POWERCUT_TYPES ?= luks2,luks1
check-powercut: build
	COTTER=$(CURDIR)/$(BUILD)/client/cotter COTTERD=$(CURDIR)/$(BUILD)/server/cotterd \
		python3 tests/faults/powercut.py --shim $(BUILD)/tests/faults/powercut.so \
		--types $(POWERCUT_TYPES) --cuts $(POWERCUT_CUTS) --jobs 2 \
		--summary $(BUILD)/powercut-summary.txt

# The Ansible plays, run as `osism apply` runs them, against two key servers and a client with a
# LUKS root (QEMU guests over SSH), every scenario; the packages are built from this tree
# (debian/build-debs.sh, into the run's log directory) unless COTTER_DEPLOY_DEBS names others.
# Shares the guest cache with check-vm.
check-deploy: deps-deploy
	mkdir -p $(dir $(DEPLOY_RESULTS))
	-bash tests/deploy/check.sh full >$(DEPLOY_RESULTS)
	python3 scripts/test-summary.py --deploy $(DEPLOY_RESULTS)

check-image: deps-image
	mkdir -p $(dir $(IMAGE_RESULTS))
	-bash tests/image/check.sh >$(IMAGE_RESULTS)
	python3 scripts/test-summary.py --image $(IMAGE_RESULTS)

# Each target starts from its corpus in fuzz/corpus (read only) and keeps what it finds in
# $(FUZZ_BUILD)/corpus; a crash stops the run and leaves crash-* in the working directory.
fuzz: build-fuzz
	for t in $(FUZZ_TARGETS); do \
		mkdir -p $(FUZZ_BUILD)/corpus/$$t && \
		$(FUZZ_BUILD)/fuzz/fuzz-$$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
			$(FUZZ_BUILD)/corpus/$$t fuzz/corpus/$$t || exit 1; \
	done
	$(MAKE) fuzz-diff

fuzz-diff: build
	python3 fuzz/diff-jose.py $(BUILD)/tests/jose/cotter-jose-tool --cases $(DIFF_CASES) \
		--keep $(FUZZ_BUILD)/diff-jose

demo: build
	bash scripts/demo.sh $(BUILD)

bench: build
	sh scripts/install-deps.sh bench
	bash bench/run.sh $(BUILD)

# Binary and source packages of this tree (uncommitted changes included), built out of tree;
# fails on any lintian error or warning (lintian.txt next to them).
deb: deps-deb
	sh debian/build-debs.sh $(DEB_OUT)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(VALGRIND_BUILD) $(DEB_OUT) $(FUZZ_BUILD)

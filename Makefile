# Entry points; the real build is meson (see README.md).
#   make demo    install missing packages, build, run the end-to-end demo on loopback
#   make check   install missing packages, build twice (normal, ASan+UBSan), run every test,
#                test the Debian packages in containers (DEB=no leaves them out), then boot
#                the Debian guests of tests/vm (VM=no leaves them out)
#   make bench   benchmarks against the reference, results in bench/results/
#   make check-vm  only the VM boot tests: Debian guests under QEMU whose LUKS root Cotter unlocks
#   make check-image  all of cotter-image's tests: build, inspect, two instances booted (first boot,
#                a power cut in the re-key, second boot), Glance upload
#   make deb     Debian packages (debhelper, lintian-checked) in $(DEB_OUT)
#   make check-deb  only the package tests: install, upgrade, purge in clean containers
#   make fuzz    libFuzzer on every fuzz target for FUZZ_SECONDS each, in a clang build whose
#                every object is instrumented (build-fuzz); new inputs go to build-fuzz/corpus
BUILD ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= b64 jwk jwe jws luks-token
VM ?= yes
DEB ?= yes
VM_RESULTS ?= $(BUILD)/vmtest.txt
DEB_OUT ?= build-deb
DEB_RESULTS ?= $(BUILD)/debtest.txt
IMAGE ?= yes
IMAGE_RESULTS ?= $(BUILD)/imagetest.txt
# make check runs the image tests that boot nothing (about 7 min with a warm package cache; the
# boots take 40 min more under TCG): IMAGE=full runs them all there too, as make check-image does.
IMAGE_CHECK_TESTS ?= cli build inspect upload
MESON_TEST_FLAGS ?= --print-errorlogs --timeout-multiplier 2
export ASAN_OPTIONS ?= detect_leaks=1:abort_on_error=0:strict_string_checks=1
export UBSAN_OPTIONS ?= halt_on_error=1:print_stacktrace=1

.PHONY: all deps deps-vm deps-deb deps-fuzz deps-image build build-asan check check-vm check-deb \
	check-image deb demo bench fuzz clean

all: build

deps:
	sh scripts/install-deps.sh

deps-vm:
	sh scripts/install-deps.sh vm

deps-deb:
	sh scripts/install-deps.sh deb

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

# Every suite always runs; the summary line counts them all and decides the exit status. The
# package tests (tests/debian/check.sh: install, upgrade, purge of the .debs in containers) run
# after the meson suites, the VM boot tests (tests/vm/check.sh: every scenario for
# initramfs-tools and dracut, the guests installed from the .debs) last, on their own: their
# guests are timed against the console and want the CPU. Guest images and container bases are
# cached in /var/cache/cotter-vm, keyed by their inputs. Then cotter-image's tests
# (tests/image/check.sh; here those that boot nothing, see IMAGE_CHECK_TESTS), whose packages
# are cached there too. VM=no / DEB=no / IMAGE=no leave those out.
SUMMARY_ARGS = $(BUILD) $(ASAN_BUILD)
CHECK_DEPS = build build-asan
ifneq ($(DEB),no)
SUMMARY_ARGS += --deb $(DEB_RESULTS)
CHECK_DEPS += deps-deb
endif
ifneq ($(VM),no)
SUMMARY_ARGS += --vm $(VM_RESULTS)
CHECK_DEPS += deps-vm
endif
ifneq ($(IMAGE),no)
SUMMARY_ARGS += --image $(IMAGE_RESULTS)
CHECK_DEPS += deps-image
endif
check: $(CHECK_DEPS)
	-meson test -C $(BUILD) $(MESON_TEST_FLAGS)
	-meson test -C $(ASAN_BUILD) $(MESON_TEST_FLAGS)
ifneq ($(DEB),no)
	-bash tests/debian/check.sh >$(DEB_RESULTS)
endif
ifneq ($(VM),no)
	-bash tests/vm/check.sh >$(VM_RESULTS)
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

check-image: deps-image
	mkdir -p $(dir $(IMAGE_RESULTS))
	-bash tests/image/check.sh >$(IMAGE_RESULTS)
	python3 scripts/test-summary.py --image $(IMAGE_RESULTS)

# Each target starts from its corpus in fuzz/corpus (read only) and keeps what it finds in
# $(FUZZ_BUILD)/corpus; a crash stops the run and leaves crash-* in the working directory.
fuzz: deps-fuzz $(FUZZ_BUILD)/build.ninja
	ninja -C $(FUZZ_BUILD) $(addprefix fuzz/fuzz-,$(FUZZ_TARGETS))
	for t in $(FUZZ_TARGETS); do \
		mkdir -p $(FUZZ_BUILD)/corpus/$$t && \
		$(FUZZ_BUILD)/fuzz/fuzz-$$t -max_total_time=$(FUZZ_SECONDS) \
			$(FUZZ_BUILD)/corpus/$$t fuzz/corpus/$$t || exit 1; \
	done

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
	rm -rf $(BUILD) $(ASAN_BUILD) $(DEB_OUT) $(FUZZ_BUILD)

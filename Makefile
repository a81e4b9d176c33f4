# Entry points; the real build is meson (see README.md).
#   make demo    install missing packages, build, run the end-to-end demo on loopback
#   make check   install missing packages, build twice (normal, ASan+UBSan), run every test,
#                then boot the Debian guests of tests/vm (VM=no leaves them out)
#   make bench   benchmarks against the reference, results in bench/results/
#   make check-vm  only the VM boot tests: Debian guests under QEMU whose LUKS root Cotter unlocks
#   make check-image  all of cotter-image's tests: build, inspect, two instances booted (first boot,
#                a power cut in the re-key, second boot), Glance upload
BUILD ?= build
ASAN_BUILD ?= build-asan
VM ?= yes
VM_RESULTS ?= $(BUILD)/vmtest.txt
IMAGE ?= yes
IMAGE_RESULTS ?= $(BUILD)/imagetest.txt
# make check runs the image tests that boot nothing (about 7 min with a warm package cache; the
# boots take 30 min more under TCG): IMAGE=full runs them all there too, as make check-image does.
IMAGE_CHECK_TESTS ?= cli build inspect upload
MESON_TEST_FLAGS ?= --print-errorlogs --timeout-multiplier 2
export ASAN_OPTIONS ?= detect_leaks=1:abort_on_error=0:strict_string_checks=1
export UBSAN_OPTIONS ?= halt_on_error=1:print_stacktrace=1

.PHONY: all deps deps-vm deps-image build build-asan check check-vm check-image demo bench clean

all: build

deps:
	sh scripts/install-deps.sh

deps-vm:
	sh scripts/install-deps.sh vm

deps-image:
	sh scripts/install-deps.sh image

$(BUILD)/build.ninja:
	meson setup $(BUILD)

$(ASAN_BUILD)/build.ninja:
	meson setup $(ASAN_BUILD) -Db_sanitize=address,undefined -Db_lundef=false -Dfault_injection=true

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

build-asan: deps $(ASAN_BUILD)/build.ninja
	ninja -C $(ASAN_BUILD)

# Every suite always runs; the summary line counts them all and decides the exit status. The VM
# boot tests (tests/vm/check.sh: every scenario for initramfs-tools and dracut) and then
# cotter-image's (tests/image/check.sh; here those that boot nothing, see IMAGE_CHECK_TESTS) run
# last, on their own: their guests are timed against the console and want the CPU. Guest images
# and packages are cached in /var/cache/cotter-vm. VM=no and IMAGE=no leave them out.
CHECK_DEPS = build build-asan
SUMMARY_ARGS = $(BUILD) $(ASAN_BUILD)
ifneq ($(VM),no)
CHECK_DEPS += deps-vm
SUMMARY_ARGS += --vm $(VM_RESULTS)
endif
ifneq ($(IMAGE),no)
CHECK_DEPS += deps-image
SUMMARY_ARGS += --image $(IMAGE_RESULTS)
endif
check: $(CHECK_DEPS)
	-meson test -C $(BUILD) $(MESON_TEST_FLAGS)
	-meson test -C $(ASAN_BUILD) $(MESON_TEST_FLAGS)
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

check-image: deps-image
	mkdir -p $(dir $(IMAGE_RESULTS))
	-bash tests/image/check.sh >$(IMAGE_RESULTS)
	python3 scripts/test-summary.py --image $(IMAGE_RESULTS)

demo: build
	bash scripts/demo.sh $(BUILD)

bench: build
	sh scripts/install-deps.sh bench
	bash bench/run.sh $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)

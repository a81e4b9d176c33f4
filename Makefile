# Entry points; the real build is meson (see README.md).
#   make demo    install missing packages, build, run the end-to-end demo on loopback
#   make check   install missing packages, build twice (normal, ASan+UBSan), run every test
#   make bench   benchmarks against the reference, results in bench/results/
#   make check-vm  boot Debian guests under QEMU whose LUKS root Cotter unlocks (tests/vm/)
BUILD ?= build
ASAN_BUILD ?= build-asan
MESON_TEST_FLAGS ?= --print-errorlogs --timeout-multiplier 2
export ASAN_OPTIONS ?= detect_leaks=1:abort_on_error=0:strict_string_checks=1
export UBSAN_OPTIONS ?= halt_on_error=1:print_stacktrace=1

.PHONY: all deps build build-asan check check-vm demo bench clean

all: build

deps:
	sh scripts/install-deps.sh

$(BUILD)/build.ninja:
	meson setup $(BUILD)

$(ASAN_BUILD)/build.ninja:
	meson setup $(ASAN_BUILD) -Db_sanitize=address,undefined -Db_lundef=false -Dfault_injection=true

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

build-asan: deps $(ASAN_BUILD)/build.ninja
	ninja -C $(ASAN_BUILD)

# Both suites always run; the summary line counts both and decides the exit status.
check: build build-asan
	-meson test -C $(BUILD) $(MESON_TEST_FLAGS)
	-meson test -C $(ASAN_BUILD) $(MESON_TEST_FLAGS)
	python3 scripts/test-summary.py $(BUILD) $(ASAN_BUILD)

# Not part of `check` yet: scenario 4 (tpm2+tang) is missing, and a cold run builds two guest
# images (~12 min). Images are cached in /var/cache/cotter-vm, keyed by their inputs.
check-vm:
	sh scripts/install-deps.sh vm
	bash tests/vm/run.sh
	bash tests/vm/run.sh --impl dracut

demo: build
	bash scripts/demo.sh $(BUILD)

bench: build
	sh scripts/install-deps.sh bench
	bash bench/run.sh $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
